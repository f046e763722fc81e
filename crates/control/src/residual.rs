//! The learned residual inside the controller's model, and its online
//! adaptation.
//!
//! Every robot's prediction model is `Discretized<WithResidual<Robot,
//! ResidualModel>>`. [`ResidualModel::None`] adds nothing (one branch per
//! evaluation), so a controller without a `[controller.residual]` table
//! computes exactly what the nominal controller computes. With a model file
//! it is an [`MlpResidual`], optionally adapted between steps by bounded RLS
//! ([`Adaptation`]) from the measured transitions.

use std::path::{Path, PathBuf};

use nalgebra::SVector;
use recede_learn::{GuardStats, LearnError, MlpResidual, Rls, RlsConfig, RlsOutcome, RlsStats};
use recede_model::{Dynamics, Residual, ResidualEvaluation, Rk4, Scalar, Tangent};
use serde::{Deserialize, Serialize};

use crate::ControlError;

/// `[controller.residual]`: a learned residual model file and, optionally,
/// its online adaptation.
///
/// ```toml
/// [controller.residual]
/// model = "quadrotor_drag.safetensors"
/// evaluation = "once_per_step"     # optional; or "every_stage"
///
/// [controller.residual.adaptation]   # optional; absent = no adaptation
/// enabled = true
/// forgetting_factor = 0.995
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResidualConfig {
    /// The safetensors model file (format in crates/learn/README.md). A
    /// relative path is taken relative to the scenario file's folder by the
    /// program that reads the scenario.
    pub model: PathBuf,
    /// Where the integrator evaluates the residual: `"once_per_step"` (the
    /// default: held over each RK4 step, a quarter of the evaluations) or
    /// `"every_stage"` (the exact sum `f + g` at every RK4 stage).
    #[serde(default)]
    pub evaluation: ResidualEvaluation,
    /// Bounded recursive least squares on the last layer, from the
    /// transitions measured between control steps.
    #[serde(default)]
    pub adaptation: Option<RlsConfig>,
}

impl ResidualConfig {
    /// The same config with a relative model path resolved against `dir`.
    pub fn resolved(&self, dir: &Path) -> Self {
        let mut config = self.clone();
        if config.model.is_relative() {
            config.model = dir.join(&config.model);
        }
        config
    }
}

/// The residual of a controller's prediction model: none (the nominal
/// model), or a learned MLP.
// Not boxed: it lives inside the (boxed) controller, and the hot path should
// not chase a pointer per evaluation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Default)]
pub enum ResidualModel<const NX: usize, const NU: usize> {
    #[default]
    None,
    Mlp(MlpResidual<NX, NU>),
}

impl<const NX: usize, const NU: usize> Residual<NX, NU> for ResidualModel<NX, NU> {
    #[inline]
    fn add_to<T: Scalar>(&self, x: &SVector<T, NX>, u: &SVector<T, NU>, xdot: &mut SVector<T, NX>) {
        match self {
            Self::None => {}
            Self::Mlp(m) => m.add_to(x, u, xdot),
        }
    }

    fn is_zero(&self) -> bool {
        matches!(self, Self::None)
    }

    /// The MLP's own tangent (one `f64` evaluation with reverse-mode rows).
    /// Without this the trait's default differentiated `add_to` on 13- and
    /// 4-wide duals, which the MLP evaluates on the dual-number reference
    /// path: P2's held residual cost ~2.5 us a linearisation that way.
    #[inline]
    fn tangent(&self, x: &SVector<f64, NX>, u: &SVector<f64, NU>) -> Tangent<NX, NU> {
        match self {
            Self::None => Tangent::zeros(),
            Self::Mlp(m) => m.tangent(x, u),
        }
    }

    #[inline]
    fn tangent_into(&self, x: &SVector<f64, NX>, u: &SVector<f64, NU>, t: &mut Tangent<NX, NU>) {
        match self {
            Self::None => *t = Tangent::zeros(),
            Self::Mlp(m) => m.tangent_into(x, u, t),
        }
    }
}

impl<const NX: usize, const NU: usize> ResidualModel<NX, NU> {
    /// Loads a model file; every error names the file.
    pub fn load(path: &Path) -> Result<Self, ControlError> {
        MlpResidual::load(path)
            .map(Self::Mlp)
            .map_err(|e| ControlError::Residual {
                path: path.display().to_string(),
                message: e.to_string(),
            })
    }
}

/// What the residual did during a run: the support guard's counters and,
/// with adaptation, the RLS outcome counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ResidualStats {
    pub evaluations: u64,
    pub outside_support: u64,
    pub non_finite: u64,
    pub adaptation: Option<AdaptationStats>,
}

/// [`RlsStats`] as plain serialisable counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct AdaptationStats {
    pub enabled: bool,
    pub updated: u64,
    pub step_clamped: u64,
    pub trace_clamped: u64,
    pub rejected_non_finite: u64,
    pub rejected_innovation: u64,
    pub rejected_outside_support: u64,
}

impl ResidualStats {
    pub(crate) fn new(guard: GuardStats, rls: Option<(bool, RlsStats)>) -> Self {
        Self {
            evaluations: guard.evaluations,
            outside_support: guard.outside_support,
            non_finite: guard.non_finite,
            adaptation: rls.map(|(enabled, s)| AdaptationStats {
                enabled,
                updated: s.updated,
                step_clamped: s.step_clamped,
                trace_clamped: s.trace_clamped,
                rejected_non_finite: s.rejected_non_finite,
                rejected_innovation: s.rejected_innovation,
                rejected_outside_support: s.rejected_outside_support,
            }),
        }
    }
}

/// Online adaptation of an [`MlpResidual`]: remembers the last state and
/// command, and when the next state arrives one control period later turns
/// the transition into a residual sample,
/// `(x_next - F_nominal(x, u)) / period`, where `F_nominal` is the nominal
/// model integrated over the period (the discrete counterpart of
/// `xdot - f_nominal(x, u)`, first-order accurate in the period). All
/// memory is allocated at setup.
#[derive(Debug, Clone)]
pub struct Adaptation<const NX: usize, const NU: usize> {
    rls: Rls,
    integrator: Rk4,
    period_secs: f64,
    last: Option<(SVector<f64, NX>, SVector<f64, NU>)>,
}

/// RK4 steps used to predict one control period with the nominal model.
const PREDICTION_SUBSTEPS: usize = 4;

impl<const NX: usize, const NU: usize> Adaptation<NX, NU> {
    pub fn new(
        model: &MlpResidual<NX, NU>,
        config: RlsConfig,
        period_secs: f64,
    ) -> Result<Self, LearnError> {
        Ok(Self {
            rls: Rls::new(model, config)?,
            integrator: Rk4::new(period_secs, PREDICTION_SUBSTEPS),
            period_secs,
            last: None,
        })
    }

    /// Learns from the transition that ended at `x` (if the previous step
    /// was recorded), then remembers nothing until [`Self::record`].
    pub fn observe<D: Dynamics<NX, NU>>(
        &mut self,
        nominal: &D,
        model: &mut MlpResidual<NX, NU>,
        x: &SVector<f64, NX>,
    ) -> Option<RlsOutcome> {
        let (x_prev, u_prev) = self.last.take()?;
        let predicted = self.integrator.step(nominal, &x_prev, &u_prev);
        let residual = (x - predicted) / self.period_secs;
        Some(self.rls.update(model, &x_prev, &u_prev, &residual))
    }

    /// Remembers the state a command was computed from and the command.
    pub fn record(&mut self, x: &SVector<f64, NX>, u: &SVector<f64, NU>) {
        self.last = Some((*x, *u));
    }

    /// Forgets the last transition (after a reset the next state does not
    /// follow from it).
    pub fn forget(&mut self) {
        self.last = None;
    }

    pub fn set_enabled(&mut self, enabled: bool) {
        self.rls.set_enabled(enabled);
    }

    pub fn enabled(&self) -> bool {
        self.rls.config().enabled
    }

    pub fn stats(&self) -> RlsStats {
        self.rls.stats()
    }
}
