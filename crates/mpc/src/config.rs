//! The controller section of a scenario file, and its check into a typed
//! problem of fixed sizes.

use nalgebra::{SMatrix, SVector};
use recede_model::IntegratorKind;
use serde::{Deserialize, Serialize};

use crate::governor::GovernorConfig;
use crate::osqp_settings::OsqpConfig;
use crate::qp_structure::{QpConfig, QpSolver};
use crate::MpcError;

/// Penalty on a soft constraint's violation `s >= 0`: `l1 * s + l2 * s^2`.
/// An L1 weight above the constraint's multiplier makes the softening exact.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SoftPenalty {
    pub l1: f64,
    pub l2: f64,
}

/// Bounds on one state component over nodes 1..=N (node 0 is the measured
/// state and cannot be constrained).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateBoundConfig {
    pub index: usize,
    #[serde(default)]
    pub min: Option<f64>,
    #[serde(default)]
    pub max: Option<f64>,
    /// Absent: a hard bound.
    #[serde(default)]
    pub soft: Option<SoftPenalty>,
}

/// Default of [`FallbackConfig::accept_primal_residual`]: 5 cm on an
/// obstacle row, 0.05 on an input bound (already clipped before it is
/// applied); docs/performance.md, "Bounded iterations".
pub const DEFAULT_ACCEPT_PRIMAL_RESIDUAL: f64 = 0.05;

/// What the controller does when a step cannot be trusted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FallbackConfig {
    /// After this many failed steps in a row the shifted plan is abandoned
    /// for the safe input.
    pub max_consecutive_failures: usize,
    /// The input applied when no plan can be trusted; zero when absent.
    pub safe_input: Option<Vec<f64>>,
    /// Use a QP iterate that stopped on its iteration or time limit, or was
    /// solved inaccurately, when it is finite. With a condensed QP every
    /// iterate satisfies the dynamics exactly; only inequality residuals
    /// remain, and inputs are clipped to their bounds before they are applied.
    pub accept_inaccurate: bool,
    /// An iterate stopped by `osqp.max_iterations` or the time limit (not
    /// within OSQP's 10x-tolerance check, which makes it "solved
    /// inaccurately") is used only when its primal residual, the largest
    /// violation of a constraint row in that row's units, is at most this;
    /// beyond, the step falls back. Applied iterates are counted
    /// (`FallbackCounts::inaccurate`).
    pub accept_primal_residual: f64,
}

impl Default for FallbackConfig {
    fn default() -> Self {
        Self {
            max_consecutive_failures: 5,
            safe_input: None,
            accept_inaccurate: true,
            accept_primal_residual: DEFAULT_ACCEPT_PRIMAL_RESIDUAL,
        }
    }
}

/// The plan the first step's QP is linearised along (`[controller]
/// initial_guess`): the model is nonconvex, and over a long horizon the
/// real-time iteration keeps what its first linearisation planned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InitialGuess {
    /// The state the controller was built (or reset) at, held at every
    /// node; its input at every stage.
    #[default]
    Measured,
    /// The first measured state at node 0 and the OCP's references (after
    /// the governor) at every later node and stage: an infeasible guess
    /// multiple shooting accepts, which tells the first QP where the plan
    /// should end up (P1 at N = 320 swings up with it and not without,
    /// docs/performance.md "Long horizons: the first guess").
    Reference,
}

impl InitialGuess {
    fn is_measured(&self) -> bool {
        *self == Self::Measured
    }
}

/// The controller section of a scenario (robot-agnostic sizes; checked
/// against the robot by [`MpcConfig::to_spec`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MpcConfig {
    /// Number of shooting intervals N.
    pub horizon_steps: usize,
    /// Length of one interval, s.
    pub dt_secs: f64,
    /// RK4 steps per interval.
    #[serde(default = "one")]
    pub rk4_substeps: usize,
    /// The discretisation: `"rk4"` (default, `rk4_substeps` substeps) or
    /// `"implicit_midpoint"` (one A-stable step per interval, Newton on
    /// the model's tangent; `rk4_substeps` must then be 1).
    #[serde(default, skip_serializing_if = "IntegratorKind::is_rk4")]
    pub integrator: IntegratorKind,
    /// Time between two control steps, s: how far the plan is shifted
    /// after each step. `dt_secs` when absent.
    #[serde(default)]
    pub period_secs: Option<f64>,
    /// Diagonal of the stage state weight Q.
    pub state_weights: Vec<f64>,
    /// Diagonal of the terminal weight; Q when absent.
    #[serde(default)]
    pub terminal_weights: Option<Vec<f64>>,
    /// Diagonal of the input weight R.
    pub input_weights: Vec<f64>,
    #[serde(default)]
    pub input_min: Option<Vec<f64>>,
    #[serde(default)]
    pub input_max: Option<Vec<f64>>,
    #[serde(default)]
    pub state_bounds: Vec<StateBoundConfig>,
    /// SQP iterations per control step: 1 is the real-time iteration.
    #[serde(default = "one")]
    pub sqp_iterations: usize,
    /// The plan the first step starts from ([`InitialGuess`]).
    #[serde(default, skip_serializing_if = "InitialGuess::is_measured")]
    pub initial_guess: InitialGuess,
    #[serde(default)]
    pub osqp: OsqpConfig,
    /// The QP's structure (`[controller.qp]`): how far it is condensed.
    #[serde(default, skip_serializing_if = "QpConfig::is_default")]
    pub qp: QpConfig,
    #[serde(default)]
    pub fallback: FallbackConfig,
    /// Limits how far the reference may lead the measured state
    /// ([`GovernorConfig`]); none when absent (the robot controllers of
    /// `recede-control` supply one per robot then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub governor: Option<GovernorConfig>,
}

fn one() -> usize {
    1
}

/// A checked optimal-control problem for a robot with `NX` states, `NU` inputs.
#[derive(Debug, Clone, PartialEq)]
pub struct OcpSpec<const NX: usize, const NU: usize> {
    pub horizon_steps: usize,
    pub dt_secs: f64,
    /// The control period ([`MpcConfig::period_secs`]): how far the
    /// governor's target moves per step.
    pub period_secs: f64,
    pub q: SMatrix<f64, NX, NX>,
    pub q_terminal: SMatrix<f64, NX, NX>,
    pub r: SMatrix<f64, NU, NU>,
    pub u_min: SVector<f64, NU>,
    pub u_max: SVector<f64, NU>,
    pub state_bounds: Vec<StateBoundConfig>,
    pub sqp_iterations: usize,
    pub initial_guess: InitialGuess,
    pub osqp: OsqpConfig,
    pub qp: QpConfig,
    pub max_consecutive_failures: usize,
    pub safe_input: SVector<f64, NU>,
    pub accept_inaccurate: bool,
    pub accept_primal_residual: f64,
    pub governor: Option<GovernorConfig>,
}

fn bad(key: impl Into<String>, expected: impl Into<String>, found: impl Into<String>) -> MpcError {
    MpcError::Config {
        key: key.into(),
        expected: expected.into(),
        found: found.into(),
    }
}

fn vector<const N: usize>(key: &str, values: &[f64]) -> Result<SVector<f64, N>, MpcError> {
    if values.len() != N {
        return Err(bad(
            key,
            format!("a list of {N} numbers"),
            format!("{} numbers", values.len()),
        ));
    }
    if let Some(v) = values.iter().find(|v| v.is_nan()) {
        return Err(bad(key, "numbers, not NaN", v.to_string()));
    }
    Ok(SVector::from_column_slice(values))
}

fn weights<const N: usize>(key: &str, values: &[f64]) -> Result<SMatrix<f64, N, N>, MpcError> {
    let v = vector::<N>(key, values)?;
    if let Some(w) = v.iter().find(|w| !(w.is_finite() && **w >= 0.0)) {
        return Err(bad(key, "finite weights >= 0", w.to_string()));
    }
    Ok(SMatrix::from_diagonal(&v))
}

impl MpcConfig {
    /// The control period: how far the plan is shifted after each step,
    /// `dt_secs` unless given. The one place the default is written; the
    /// loop, the C interface and the scenario checks all ask here.
    pub fn period_secs(&self) -> f64 {
        self.period_secs.unwrap_or(self.dt_secs)
    }

    /// Checks every value and the sizes against the robot's.
    pub fn to_spec<const NX: usize, const NU: usize>(&self) -> Result<OcpSpec<NX, NU>, MpcError> {
        if self.horizon_steps == 0 {
            return Err(bad("horizon_steps", "an integer >= 1", "0"));
        }
        if !(self.dt_secs.is_finite() && self.dt_secs > 0.0) {
            return Err(bad("dt_secs", "a duration > 0", self.dt_secs.to_string()));
        }
        let period_secs = self.period_secs();
        if !(period_secs.is_finite() && period_secs > 0.0) {
            return Err(bad(
                "period_secs",
                "a duration > 0",
                period_secs.to_string(),
            ));
        }
        if self.rk4_substeps == 0 {
            return Err(bad("rk4_substeps", "an integer >= 1", "0"));
        }
        if self.integrator == IntegratorKind::ImplicitMidpoint && self.rk4_substeps != 1 {
            return Err(bad(
                "rk4_substeps",
                "1 (or absent) with integrator = \"implicit_midpoint\"",
                self.rk4_substeps.to_string(),
            ));
        }
        if self.sqp_iterations == 0 {
            return Err(bad("sqp_iterations", "an integer >= 1", "0"));
        }
        let q = weights::<NX>("state_weights", &self.state_weights)?;
        let q_terminal = match &self.terminal_weights {
            Some(w) => weights::<NX>("terminal_weights", w)?,
            None => q,
        };
        let r = weights::<NU>("input_weights", &self.input_weights)?;
        if r.diagonal().iter().all(|w| *w == 0.0) && q.diagonal().iter().all(|w| *w == 0.0) {
            return Err(bad(
                "state_weights",
                "at least one positive weight",
                "all zero",
            ));
        }
        let u_min = match &self.input_min {
            Some(v) => vector::<NU>("input_min", v)?,
            None => SVector::repeat(f64::NEG_INFINITY),
        };
        let u_max = match &self.input_max {
            Some(v) => vector::<NU>("input_max", v)?,
            None => SVector::repeat(f64::INFINITY),
        };
        for i in 0..NU {
            // A bound on the wrong side of infinity cannot be met.
            if u_min[i] == f64::INFINITY {
                return Err(bad(format!("input_min[{i}]"), "a number < inf", "inf"));
            }
            if u_max[i] == f64::NEG_INFINITY {
                return Err(bad(format!("input_max[{i}]"), "a number > -inf", "-inf"));
            }
            if u_min[i] > u_max[i] {
                return Err(bad(
                    format!("input_min[{i}]"),
                    format!("<= input_max[{i}] = {}", u_max[i]),
                    u_min[i].to_string(),
                ));
            }
        }
        for (n, b) in self.state_bounds.iter().enumerate() {
            let key = format!("state_bounds[{n}]");
            if b.index >= NX {
                return Err(bad(
                    format!("{key}.index"),
                    format!("a state index < {NX}"),
                    b.index.to_string(),
                ));
            }
            if b.min.is_none() && b.max.is_none() {
                return Err(bad(key, "`min`, `max` or both", "neither"));
            }
            // NaN would pass `min > max` below and then silently disable
            // the bound at run time (as a non-finite row); an infinite
            // bound on the wrong side makes every QP infeasible.
            if let Some(lo) = b.min.filter(|v| v.is_nan() || *v == f64::INFINITY) {
                return Err(bad(
                    format!("{key}.min"),
                    "a number < inf, not NaN",
                    lo.to_string(),
                ));
            }
            if let Some(hi) = b.max.filter(|v| v.is_nan() || *v == f64::NEG_INFINITY) {
                return Err(bad(
                    format!("{key}.max"),
                    "a number > -inf, not NaN",
                    hi.to_string(),
                ));
            }
            if let (Some(lo), Some(hi)) = (b.min, b.max) {
                if lo > hi {
                    return Err(bad(
                        format!("{key}.min"),
                        format!("<= max = {hi}"),
                        lo.to_string(),
                    ));
                }
            }
            if let Some(p) = b.soft {
                if !(p.l1.is_finite() && p.l1 >= 0.0 && p.l2.is_finite() && p.l2 >= 0.0)
                    || p.l1 + p.l2 == 0.0
                {
                    return Err(bad(
                        format!("{key}.soft"),
                        "finite l1, l2 >= 0, not both zero",
                        format!("l1 = {}, l2 = {}", p.l1, p.l2),
                    ));
                }
            }
        }
        let residual = self.fallback.accept_primal_residual;
        if residual.is_nan() || residual < 0.0 {
            return Err(bad(
                "fallback.accept_primal_residual",
                "a value >= 0 (inf accepts any finite iterate)",
                residual.to_string(),
            ));
        }
        let safe_input = match &self.fallback.safe_input {
            Some(v) => vector::<NU>("fallback.safe_input", v)?,
            None => SVector::zeros(),
        };
        for i in 0..NU {
            let clamped = safe_input[i].clamp(u_min[i], u_max[i]);
            if clamped != safe_input[i] || !safe_input[i].is_finite() {
                return Err(bad(
                    format!("fallback.safe_input[{i}]"),
                    format!("a finite input within [{}, {}]", u_min[i], u_max[i]),
                    safe_input[i].to_string(),
                ));
            }
        }
        self.osqp.validate()?;
        self.qp.validate()?;
        let fully_condensed =
            self.qp.stages_per_block(self.horizon_steps, NX, NU) >= self.horizon_steps;
        let scaling = self.osqp.scaling_for(fully_condensed);
        if self.qp.solver == QpSolver::Dense && scaling > 0 {
            return Err(bad(
                "qp.solver",
                format!(
                    "\"osqp\": the dense solver has no Ruiz scaling, and this QP asks for {scaling} \
                     iterations (osqp.scaling_iterations, or 5 for a QP condensed in blocks)"
                ),
                "\"dense\"",
            ));
        }
        if self.qp.solver == QpSolver::Riccati && self.state_bounds.iter().any(|b| b.soft.is_none())
        {
            return Err(bad(
                "qp.solver",
                "another solver: \"riccati\" solves OCPs whose only inequalities are input \
                 bounds and soft state bounds, and this one has hard state_bounds",
                "\"riccati\"",
            ));
        }
        if let Some(g) = &self.governor {
            g.validate(NX)?;
        }
        Ok(OcpSpec {
            horizon_steps: self.horizon_steps,
            dt_secs: self.dt_secs,
            period_secs: self.period_secs(),
            q,
            q_terminal,
            r,
            u_min,
            u_max,
            state_bounds: self.state_bounds.clone(),
            sqp_iterations: self.sqp_iterations,
            initial_guess: self.initial_guess,
            osqp: self.osqp.clone(),
            qp: self.qp.clone(),
            max_consecutive_failures: self.fallback.max_consecutive_failures,
            safe_input,
            accept_inaccurate: self.fallback.accept_inaccurate,
            accept_primal_residual: self.fallback.accept_primal_residual,
            governor: self.governor.clone(),
        })
    }
}
