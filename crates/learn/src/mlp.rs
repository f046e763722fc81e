//! [`MlpResidual`]: the network behind the [`recede_model::Residual`] seam,
//! with feature extraction, normalisation, the support guard and its
//! counters. Its fast inference is in `inference.rs`.

use std::sync::atomic::{AtomicU64, Ordering};

use nalgebra::SVector;
use recede_model::{c, Scalar};
use serde::{Deserialize, Serialize};

use crate::error::{check_finite, LearnError};
use crate::jacobians::Columns;
use crate::network::{NarrowFirst, Network};
use crate::spec::{Features, ResidualSpec, Rotations, SupportGuard};
use crate::MAX_WIDTH;

/// Affine maps between raw and network units: the network sees
/// `(feature - feature_mean) / feature_std` and produces `y`, and the residual
/// is `output_mean + output_std * y`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Normalization {
    pub feature_mean: Vec<f64>,
    pub feature_std: Vec<f64>,
    pub output_mean: Vec<f64>,
    pub output_std: Vec<f64>,
}

/// The per-feature box of raw feature values seen in training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Support {
    pub feature_min: Vec<f64>,
    pub feature_max: Vec<f64>,
}

impl Normalization {
    /// Identity normalisation (mean 0, std 1).
    pub fn identity(n_features: usize, n_outputs: usize) -> Self {
        Self {
            feature_mean: vec![0.0; n_features],
            feature_std: vec![1.0; n_features],
            output_mean: vec![0.0; n_outputs],
            output_std: vec![1.0; n_outputs],
        }
    }

    fn validate(&self, n_features: usize, n_outputs: usize) -> Result<(), LearnError> {
        for (what, v, n, positive) in [
            (
                "normalization.feature_mean",
                &self.feature_mean,
                n_features,
                false,
            ),
            (
                "normalization.feature_std",
                &self.feature_std,
                n_features,
                true,
            ),
            (
                "normalization.output_mean",
                &self.output_mean,
                n_outputs,
                false,
            ),
            (
                "normalization.output_std",
                &self.output_std,
                n_outputs,
                true,
            ),
        ] {
            if v.len() != n {
                return Err(LearnError::mismatch(what, n, v.len()));
            }
            check_finite(what, v)?;
            if positive {
                if let Some(i) = v.iter().position(|&s| s <= 0.0) {
                    return Err(LearnError::invalid(
                        what,
                        format!("entry {i} is {}, expected > 0", v[i]),
                    ));
                }
            }
        }
        Ok(())
    }
}

impl Support {
    /// The unbounded box (the guard never triggers).
    pub fn unbounded(n_features: usize) -> Self {
        Self {
            feature_min: vec![f64::MIN; n_features],
            feature_max: vec![f64::MAX; n_features],
        }
    }

    fn validate(&self, n_features: usize) -> Result<(), LearnError> {
        for (what, v) in [
            ("support.feature_min", &self.feature_min),
            ("support.feature_max", &self.feature_max),
        ] {
            if v.len() != n_features {
                return Err(LearnError::mismatch(what, n_features, v.len()));
            }
            check_finite(what, v)?;
        }
        if let Some(i) = (0..n_features).find(|&i| self.feature_min[i] > self.feature_max[i]) {
            return Err(LearnError::invalid(
                "support",
                format!(
                    "feature {i}: min {} > max {}",
                    self.feature_min[i], self.feature_max[i]
                ),
            ));
        }
        Ok(())
    }
}

/// How often the guard acted, read after a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GuardStats {
    /// Evaluations of the residual, on any scalar: an RK4 linearisation
    /// evaluates it once per step when it is held over the step, 8 times
    /// (4 stages, 2 passes) when it is evaluated at every stage.
    pub evaluations: u64,
    /// Evaluations where at least one raw feature was outside the training
    /// support (clipped or faded, or only counted with the guard off).
    pub outside_support: u64,
    /// Evaluations with a non-finite feature; they contribute zero.
    pub non_finite: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) evaluations: AtomicU64,
    pub(crate) outside_support: AtomicU64,
    pub(crate) non_finite: AtomicU64,
}

/// A learned residual `g(x, u)` for a model with `NX` states and `NU` inputs:
/// features -> normalise -> MLP -> de-normalise -> output map.
///
/// Inference ([`recede_model::Residual`], in `inference.rs`) runs on `f64`
/// with reverse-mode gradients, so the MPC's linearisation differentiates
/// it exactly; it takes `&self` and allocates nothing (buffers on the
/// stack). The guard counters are atomics, so the model stays `Sync`.
#[derive(Debug)]
pub struct MlpResidual<const NX: usize, const NU: usize> {
    pub(crate) spec: ResidualSpec,
    pub(crate) network: Network,
    pub(crate) normalization: Normalization,
    pub(crate) support: Support,
    pub(crate) counters: Counters,
    /// The variables the features and outputs read, for the tangent's
    /// compact rows (`None`: more than `MAX_ACTIVE`, full rows).
    pub(crate) columns: Option<Columns>,
    /// The first layer padded for the narrow network pass (one hidden
    /// layer, at most `NARROW` inputs), made here: RLS moves only the last
    /// layer and the skip term.
    pub(crate) narrow: Option<NarrowFirst>,
}

impl<const NX: usize, const NU: usize> Clone for MlpResidual<NX, NU> {
    /// Clones the model; the clone's counters start at zero.
    fn clone(&self) -> Self {
        Self {
            spec: self.spec.clone(),
            network: self.network.clone(),
            normalization: self.normalization.clone(),
            support: self.support.clone(),
            counters: Counters::default(),
            columns: self.columns.clone(),
            narrow: self.narrow.clone(),
        }
    }
}

impl<const NX: usize, const NU: usize> MlpResidual<NX, NU> {
    /// Assembles a model, checking every dimension and value against the spec
    /// and against `NX`/`NU`.
    pub fn new(
        spec: ResidualSpec,
        network: Network,
        normalization: Normalization,
        support: Support,
    ) -> Result<Self, LearnError> {
        spec.validate(NX, NU)?;
        network.validate()?;
        let sizes = spec.layer_sizes(NU);
        if network.layers.len() + 1 != sizes.len() {
            return Err(LearnError::mismatch(
                "number of layers (hidden + 1)",
                sizes.len() - 1,
                network.layers.len(),
            ));
        }
        for (l, layer) in network.layers.iter().enumerate() {
            if layer.inputs != sizes[l] {
                return Err(LearnError::mismatch(
                    format!("layer {l} inputs"),
                    sizes[l],
                    layer.inputs,
                ));
            }
            if layer.outputs != sizes[l + 1] {
                return Err(LearnError::mismatch(
                    format!("layer {l} outputs"),
                    sizes[l + 1],
                    layer.outputs,
                ));
            }
        }
        if network.activation != spec.activation {
            return Err(LearnError::invalid(
                "network",
                format!(
                    "activation {:?} differs from the spec's {:?}",
                    network.activation, spec.activation
                ),
            ));
        }
        let (nf, no) = (spec.n_features(NU), spec.n_outputs());
        normalization.validate(nf, no)?;
        support.validate(nf)?;
        let columns = Columns::of(&spec, NX, NU);
        let narrow = network.narrow_first_layer();
        Ok(Self {
            spec,
            network,
            normalization,
            support,
            counters: Counters::default(),
            columns,
            narrow,
        })
    }

    /// A model whose output is exactly zero everywhere (all weights zero,
    /// identity normalisation, unbounded support).
    pub fn zero(spec: ResidualSpec) -> Result<Self, LearnError> {
        spec.validate(NX, NU)?;
        let network = Network::zeros(&spec.layer_sizes(NU), spec.activation);
        let (nf, no) = (spec.n_features(NU), spec.n_outputs());
        Self::new(
            spec,
            network,
            Normalization::identity(nf, no),
            Support::unbounded(nf),
        )
    }

    pub fn spec(&self) -> &ResidualSpec {
        &self.spec
    }
    pub fn network(&self) -> &Network {
        &self.network
    }
    pub fn normalization(&self) -> &Normalization {
        &self.normalization
    }
    pub fn support(&self) -> &Support {
        &self.support
    }
    pub(crate) fn network_mut(&mut self) -> &mut Network {
        &mut self.network
    }

    /// Changes the guard (e.g. from clip to fade) without retraining.
    pub fn set_guard(&mut self, guard: SupportGuard) -> Result<(), LearnError> {
        let mut spec = self.spec.clone();
        spec.guard = guard;
        spec.validate(NX, NU)?;
        self.spec = spec;
        Ok(())
    }

    /// Counters since construction or the last [`Self::reset_guard_stats`].
    pub fn guard_stats(&self) -> GuardStats {
        GuardStats {
            evaluations: self.counters.evaluations.load(Ordering::Relaxed),
            outside_support: self.counters.outside_support.load(Ordering::Relaxed),
            non_finite: self.counters.non_finite.load(Ordering::Relaxed),
        }
    }

    pub fn reset_guard_stats(&self) {
        self.counters.evaluations.store(0, Ordering::Relaxed);
        self.counters.outside_support.store(0, Ordering::Relaxed);
        self.counters.non_finite.store(0, Ordering::Relaxed);
    }

    pub fn n_features(&self) -> usize {
        self.network.n_inputs()
    }

    pub fn n_outputs(&self) -> usize {
        self.network.n_outputs()
    }

    /// The raw (un-normalised, un-guarded) features at `(x, u)`.
    pub fn raw_features<T: Scalar>(
        &self,
        x: &SVector<T, NX>,
        u: &SVector<T, NU>,
    ) -> [T; MAX_WIDTH] {
        let mut f = Features::new();
        self.raw_features_into(x, u, &mut f, &mut Rotations::new());
        padded(&f)
    }

    pub(crate) fn raw_features_into<T: Scalar>(
        &self,
        x: &SVector<T, NX>,
        u: &SVector<T, NU>,
        f: &mut Features<T>,
        rotations: &mut Rotations<T>,
    ) {
        f.clear();
        for feat in &self.spec.features {
            feat.eval(x, u, f, rotations);
        }
    }

    /// The network's input at `(x, u)` into `f`: raw features, guarded
    /// (clipped if the guard says so), normalised; into `unclipped` the
    /// same normalised but never clipped (the skip term's input). Returns the fade factor
    /// (1 unless fading) and whether a feature was outside the support, or
    /// `None` if a feature is not finite.
    #[inline]
    pub(crate) fn network_input<T: Scalar>(
        &self,
        x: &SVector<T, NX>,
        u: &SVector<T, NU>,
        f: &mut Features<T>,
        unclipped: &mut Features<T>,
        rotations: &mut Rotations<T>,
        count: bool,
    ) -> Option<(T, bool)> {
        self.raw_features_into(x, u, f, rotations);
        unclipped.clear();
        let n = self.n_features();
        let (lo, hi) = (&self.support.feature_min, &self.support.feature_max);
        let (mean, std) = (
            &self.normalization.feature_mean,
            &self.normalization.feature_std,
        );
        let mut outside = false;
        let mut fade = c::<T>(1.0);
        for i in 0..n {
            let v = f[i].re();
            let pushed = unclipped.try_push((f[i] - mean[i]) * (1.0 / std[i]));
            debug_assert!(pushed.is_ok(), "as many as the features");
            if !v.is_finite() {
                if count {
                    self.counters.non_finite.fetch_add(1, Ordering::Relaxed);
                }
                return None;
            }
            let out_lo = v < lo[i];
            let out_hi = v > hi[i];
            outside |= out_lo || out_hi;
            match self.spec.guard {
                SupportGuard::Off => {}
                SupportGuard::Clip => {
                    if out_lo {
                        f[i] = c(lo[i]);
                    } else if out_hi {
                        f[i] = c(hi[i]);
                    }
                }
                SupportGuard::Fade { width_std } => {
                    if out_lo || out_hi {
                        let excess = if out_lo {
                            c::<T>(lo[i]) - f[i]
                        } else {
                            f[i] - hi[i]
                        };
                        let e = excess * (1.0 / (width_std * std[i]));
                        if e.re() >= 1.0 {
                            fade = c(0.0);
                        } else {
                            // 1 - smoothstep(e) = 1 - e^2 (3 - 2e)
                            fade *= c::<T>(1.0) - e * e * (c::<T>(3.0) - e * 2.0);
                        }
                    }
                }
            }
        }
        if count && outside {
            self.counters
                .outside_support
                .fetch_add(1, Ordering::Relaxed);
        }
        for i in 0..n {
            f[i] = (f[i] - mean[i]) * (1.0 / std[i]);
        }
        Some((fade, outside))
    }

    /// The residual's outputs in their own frame (before the output map),
    /// for inspection and tests; `None` for non-finite features. Counts like
    /// inference does.
    pub fn outputs<T: Scalar>(
        &self,
        x: &SVector<T, NX>,
        u: &SVector<T, NU>,
    ) -> Option<[T; MAX_WIDTH]> {
        let mut values = Features::new();
        self.evaluate(x, u, &mut values, &mut Rotations::new())
            .then(|| padded(&values))
    }

    /// Features on `T`, the network on `f64` with its input gradients, then
    /// the chain rule back onto `T`: `y + sum_i dy/df_i (f_i - re f_i)` has
    /// the network's value as its real part (the same `f64` operations as
    /// before) and carries exactly the derivative of `y(f(x, u))`. On `f64`
    /// the correction terms are zeros and `y` comes out unchanged.
    #[inline]
    fn evaluate<T: Scalar>(
        &self,
        x: &SVector<T, NX>,
        u: &SVector<T, NU>,
        values: &mut Features<T>,
        rotations: &mut Rotations<T>,
    ) -> bool {
        self.counters.evaluations.fetch_add(1, Ordering::Relaxed);
        let (mut f, mut unclipped) = (Features::new(), Features::new());
        let Some((fade, _)) = self.network_input(x, u, &mut f, &mut unclipped, rotations, true)
        else {
            return false;
        };
        let mut re = [0.0; MAX_WIDTH];
        for (r, fi) in re.iter_mut().zip(f.iter_mut()) {
            *r = fi.re();
            *fi -= c::<T>(*r);
        }
        let (om, os) = (
            &self.normalization.output_mean,
            &self.normalization.output_std,
        );
        values.clear();
        self.network
            .value_and_gradients(&re[..f.len()], |o, y, gradient| {
                let mut v = c::<T>(y);
                for (fi, &g) in f.iter().zip(gradient) {
                    v += *fi * g;
                }
                if self.network.skip.is_some() {
                    v += self.network.skip_sum(o, &unclipped);
                }
                let pushed = values.try_push((v * os[o] + om[o]) * fade);
                debug_assert!(pushed.is_ok(), "output buffer overflow");
            });
        true
    }
}

/// The values followed by zeros, for the public fixed-width views.
fn padded<T: Scalar>(values: &Features<T>) -> [T; MAX_WIDTH] {
    let mut out = [c::<T>(0.0); MAX_WIDTH];
    out[..values.len()].copy_from_slice(values);
    out
}

impl<const NX: usize, const NU: usize> MlpResidual<NX, NU> {
    /// The residual with every operation on `T`: features and the output
    /// map on dual numbers, the network on `f64` with the chain rule. This
    /// was the inference path; it stays as the reference the faster
    /// [`recede_model::Residual::add_to`] is tested against, and serves scalars with
    /// second derivatives (the network's part is exact to first order).
    pub fn add_to_on_scalar<T: Scalar>(
        &self,
        x: &SVector<T, NX>,
        u: &SVector<T, NU>,
        xdot: &mut SVector<T, NX>,
    ) {
        let mut values = Features::new();
        let mut rotations = Rotations::new();
        if !self.evaluate(x, u, &mut values, &mut rotations) {
            return;
        }
        let mut at = 0;
        for out in &self.spec.outputs {
            out.add(x, &values, at, xdot, &mut rotations);
            at += out.width();
        }
    }
}
