//! Online adaptation of the last layer by recursive least squares with a
//! forgetting factor, bounded so that bad data cannot blow the model up.
//!
//! The last layer is linear in its weights: `y = W phi` with
//! `phi = [h; 1]` (`h` the last hidden activation, `1` for the bias) and `y`
//! in normalised output units; with a linear skip term
//! ([`crate::Network::skip`]) `phi = [h; 1; s]`, `s` the unclipped
//! normalised features, and `W = [W_last, b, S]`, so adaptation can follow
//! a residual that keeps growing outside the training box where `h` is
//! frozen by the clip guard. All outputs share one covariance `P`
//! (`dim x dim`, `dim = H + 1 (+ features)`), since they share the
//! regressor. One update:
//!
//! ```text
//! e   = t - W phi                  (innovation, normalised units)
//! k   = P phi / (lambda + phi' P phi)
//! W  += e k'                       (step scaled down to max_step if larger)
//! P   = (P - k phi' P) / lambda    (then its trace clamped to max_trace)
//! ```
//!
//! With `parameters = "bias"` only the last layer's bias `b` is adapted
//! (`phi = [1]`, `P` a scalar): a constant offset on each output, estimated
//! from the prediction error. That is a disturbance estimate carried in the
//! model, so the MPC plans with it: integral action the MPC way, for an
//! unknown force that is nearly constant (a payload, a wind), without the
//! noise of fitting every last-layer weight to it.
//!
//! Samples are rejected, and counted, when `x`, `u` or the target is not
//! finite, when the innovation exceeds `max_innovation` output stds, or (with
//! the fade guard) when a feature is outside the training support: fitting
//! `t / fade` there would amplify noise without bound.

use nalgebra::SVector;
use serde::{Deserialize, Serialize};

use crate::error::LearnError;
use crate::mlp::MlpResidual;
use crate::spec::{Features, Rotations, SupportGuard};
use crate::MAX_WIDTH;

/// Adaptation settings (config; unknown keys rejected, all defaulted).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RlsConfig {
    /// Off: [`Rls::update`] leaves the model alone.
    pub enabled: bool,
    /// lambda in (0, 1]: weight of the past, e.g. 0.995 (a memory of ~200
    /// samples).
    pub forgetting_factor: f64,
    /// Initial `P = initial_covariance * I`.
    pub initial_covariance: f64,
    /// Upper bound on `trace(P)`; forgetting inflates `P` when the data are
    /// not exciting, and this stops it.
    pub max_covariance_trace: f64,
    /// Largest change of any one last-layer weight per update.
    pub max_step: f64,
    /// Reject samples whose innovation exceeds this many output stds.
    pub max_innovation: f64,
    /// What is adapted: the whole last layer (default) or its bias alone.
    pub parameters: AdaptedParameters,
}

/// Which of the model's parameters [`Rls`] adapts (`parameters` in
/// [`RlsConfig`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdaptedParameters {
    /// The last layer's weights and bias (and the skip term, if any).
    #[default]
    LastLayer,
    /// The last layer's bias alone: a constant offset per output, what a
    /// nearly constant unknown force (a payload) looks like.
    Bias,
}

impl Default for RlsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            forgetting_factor: 0.995,
            initial_covariance: 1.0,
            max_covariance_trace: 1e3,
            max_step: 0.1,
            max_innovation: 20.0,
            parameters: AdaptedParameters::LastLayer,
        }
    }
}

impl RlsConfig {
    pub fn validate(&self) -> Result<(), LearnError> {
        let f = self.forgetting_factor;
        if !(f > 0.0 && f <= 1.0) {
            return Err(LearnError::invalid(
                "rls.forgetting_factor",
                format!("{f}, expected a value in (0, 1]"),
            ));
        }
        for (name, v) in [
            ("rls.initial_covariance", self.initial_covariance),
            ("rls.max_covariance_trace", self.max_covariance_trace),
            ("rls.max_step", self.max_step),
            ("rls.max_innovation", self.max_innovation),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(LearnError::invalid(
                    name,
                    format!("{v}, expected a finite value > 0"),
                ));
            }
        }
        Ok(())
    }
}

/// What one [`Rls::update`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RlsOutcome {
    Updated,
    /// The step was larger than `max_step` and was scaled down.
    UpdatedClamped,
    Disabled,
    RejectedNonFinite,
    RejectedInnovation,
    RejectedOutsideSupport,
}

/// Counts of outcomes since setup or the last reset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RlsStats {
    pub updated: u64,
    pub step_clamped: u64,
    pub trace_clamped: u64,
    pub rejected_non_finite: u64,
    pub rejected_innovation: u64,
    pub rejected_outside_support: u64,
}

/// RLS state for one model; all buffers are allocated in [`Rls::new`].
#[derive(Debug, Clone)]
pub struct Rls {
    config: RlsConfig,
    /// `H + 1`, plus the number of features with a skip term; 1 when only
    /// the bias is adapted.
    dim: usize,
    /// `H`, the last hidden width: `phi[hidden]` is the bias' 1 (0 when
    /// only the bias is adapted).
    hidden: usize,
    n_out: usize,
    /// Row-major `dim x dim`.
    p: Vec<f64>,
    p_phi: Vec<f64>,
    stats: RlsStats,
}

impl Rls {
    /// Sets up adaptation of `model`'s last layer.
    pub fn new<const NX: usize, const NU: usize>(
        model: &MlpResidual<NX, NU>,
        config: RlsConfig,
    ) -> Result<Self, LearnError> {
        config.validate()?;
        let (hidden, skip) = match config.parameters {
            AdaptedParameters::LastLayer => (
                model.network().last_hidden_width(),
                model
                    .network()
                    .skip
                    .as_ref()
                    .map_or(0, |_| model.n_features()),
            ),
            AdaptedParameters::Bias => (0, 0),
        };
        let dim = hidden + 1 + skip;
        if dim > MAX_WIDTH {
            // The regressor lives in a MAX_WIDTH buffer on the stack.
            return Err(LearnError::TooWide {
                what: "RLS regressor (last hidden width + 1 + skip features)".to_string(),
                width: dim,
                max: MAX_WIDTH,
            });
        }
        let mut rls = Self {
            config,
            dim,
            hidden,
            n_out: model.n_outputs(),
            p: vec![0.0; dim * dim],
            p_phi: vec![0.0; dim],
            stats: RlsStats::default(),
        };
        rls.reset_covariance();
        Ok(rls)
    }

    pub fn config(&self) -> &RlsConfig {
        &self.config
    }

    /// Switches adaptation on or off (the covariance is kept).
    pub fn set_enabled(&mut self, enabled: bool) {
        self.config.enabled = enabled;
    }

    pub fn stats(&self) -> RlsStats {
        self.stats
    }

    /// `trace(P)`.
    pub fn covariance_trace(&self) -> f64 {
        (0..self.dim).map(|i| self.p[i * self.dim + i]).sum()
    }

    /// `P = initial_covariance * I`.
    pub fn reset_covariance(&mut self) {
        self.p.fill(0.0);
        for i in 0..self.dim {
            self.p[i * self.dim + i] = self.config.initial_covariance;
        }
    }

    /// One adaptation step from a measured residual of the state derivative,
    /// `residual = xdot_measured - f_nominal(x, u)` (entries the output map
    /// does not write are ignored). `model` must be the one given to
    /// [`Rls::new`] (same shape). No heap allocation.
    pub fn update<const NX: usize, const NU: usize>(
        &mut self,
        model: &mut MlpResidual<NX, NU>,
        x: &SVector<f64, NX>,
        u: &SVector<f64, NU>,
        residual: &SVector<f64, NX>,
    ) -> RlsOutcome {
        if !self.config.enabled {
            return RlsOutcome::Disabled;
        }
        let finite = x.iter().chain(u.iter()).all(|v| v.is_finite());
        let (mut features, mut unclipped) = (Features::new(), Features::new());
        let inputs = if finite {
            model.network_input(
                x,
                u,
                &mut features,
                &mut unclipped,
                &mut Rotations::new(),
                false,
            )
        } else {
            None
        };
        let mut phi = [0.0; MAX_WIDTH];
        phi[..features.len()].copy_from_slice(&features);
        let Some((_, outside)) = inputs else {
            self.stats.rejected_non_finite += 1;
            return RlsOutcome::RejectedNonFinite;
        };
        if outside && matches!(model.spec().guard, SupportGuard::Fade { .. }) {
            self.stats.rejected_outside_support += 1;
            return RlsOutcome::RejectedOutsideSupport;
        }

        // Target in normalised output units.
        let mut target = [0.0; MAX_WIDTH];
        let mut at = 0;
        for out in &model.spec().outputs {
            out.extract(x, residual, &mut target, at);
            at += out.width();
        }
        let norm = model.normalization();
        for o in 0..self.n_out {
            target[o] = (target[o] - norm.output_mean[o]) / norm.output_std[o];
        }
        if !target[..self.n_out].iter().all(|v| v.is_finite()) {
            self.stats.rejected_non_finite += 1;
            return RlsOutcome::RejectedNonFinite;
        }

        // phi = [h; 1 (; s)] and the innovation (of the whole output: with
        // the bias alone, phi = [1] and the rest of the network is fixed).
        model.network().forward_hidden(&mut phi);
        let (d, h) = (self.dim, self.hidden);
        let width = model.network().last_hidden_width();
        let skip = &phi_skip_range(h, d);
        let last = model.network().layers.len() - 1;
        let mut innovation = [0.0; MAX_WIDTH];
        {
            let net = model.network();
            let layer = &net.layers[last];
            for o in 0..self.n_out {
                let row = &layer.weight[o * layer.inputs..(o + 1) * layer.inputs];
                let mut y: f64 = layer.bias[o] + (0..width).map(|i| row[i] * phi[i]).sum::<f64>();
                if net.skip.is_some() {
                    y += net.skip_sum(o, &unclipped[..model.n_features()]);
                }
                innovation[o] = target[o] - y;
            }
        }
        phi[h] = 1.0;
        phi[skip.clone()].copy_from_slice(&unclipped[..skip.len()]);
        let worst = innovation[..self.n_out]
            .iter()
            .fold(0.0_f64, |m, e| m.max(e.abs()));
        if !worst.is_finite() || !phi[..d].iter().all(|v| v.is_finite()) {
            self.stats.rejected_non_finite += 1;
            return RlsOutcome::RejectedNonFinite;
        }
        if worst > self.config.max_innovation {
            self.stats.rejected_innovation += 1;
            return RlsOutcome::RejectedInnovation;
        }

        // P phi and the gain denominator.
        let lambda = self.config.forgetting_factor;
        let mut denom = lambda;
        for i in 0..d {
            let s: f64 = (0..d).map(|j| self.p[i * d + j] * phi[j]).sum();
            self.p_phi[i] = s;
            denom += phi[i] * s;
        }
        if !(denom.is_finite() && denom > 0.0) {
            // P lost positive definiteness numerically: start over.
            self.reset_covariance();
            self.stats.rejected_non_finite += 1;
            return RlsOutcome::RejectedNonFinite;
        }

        // Weight step, scaled so no entry moves more than max_step.
        let mut largest = 0.0_f64;
        for o in 0..self.n_out {
            for i in 0..d {
                largest = largest.max((innovation[o] * self.p_phi[i] / denom).abs());
            }
        }
        let scale = if largest > self.config.max_step {
            self.config.max_step / largest
        } else {
            1.0
        };
        let net = model.network_mut();
        let layer = &mut net.layers[last];
        for o in 0..self.n_out {
            let e = innovation[o] * scale / denom;
            for i in 0..h {
                layer.weight[o * h + i] += e * self.p_phi[i];
            }
            layer.bias[o] += e * self.p_phi[h];
        }
        if let (Some(weights), false) = (&mut net.skip, skip.is_empty()) {
            let n = skip.len();
            for o in 0..self.n_out {
                let e = innovation[o] * scale / denom;
                for (w, p) in weights[o * n..(o + 1) * n]
                    .iter_mut()
                    .zip(&self.p_phi[skip.clone()])
                {
                    *w += e * p;
                }
            }
        }

        // Covariance: P = (P - P phi phi' P / denom) / lambda, kept symmetric.
        for i in 0..d {
            for j in i..d {
                let v = (self.p[i * d + j] - self.p_phi[i] * self.p_phi[j] / denom) / lambda;
                self.p[i * d + j] = v;
                self.p[j * d + i] = v;
            }
        }
        let trace = self.covariance_trace();
        if !trace.is_finite() || trace <= 0.0 {
            self.reset_covariance();
        } else if trace > self.config.max_covariance_trace {
            let s = self.config.max_covariance_trace / trace;
            self.p.iter_mut().for_each(|v| *v *= s);
            self.stats.trace_clamped += 1;
        }
        self.stats.updated += 1;
        if scale < 1.0 {
            self.stats.step_clamped += 1;
            RlsOutcome::UpdatedClamped
        } else {
            RlsOutcome::Updated
        }
    }
}

/// Where the skip term's regressor sits in `phi`: after `[h; 1]`.
fn phi_skip_range(hidden: usize, dim: usize) -> std::ops::Range<usize> {
    hidden + 1..dim
}
