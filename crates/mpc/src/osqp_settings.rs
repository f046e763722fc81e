//! OSQP's settings as they appear in a scenario file.
//!
//! Defaults are chosen for the condensed QPs this crate builds, from
//! measurements on P1 and P2 (docs/performance.md, "OSQP settings"):
//! - no Ruiz scaling for a fully condensed QP (blocks need it, see
//!   [`BLOCK_SCALING_ITERATIONS`]): OSQP 0.6 recomputes it after every matrix update,
//!   which cost P1 ~40 us a step (half the step), while the condensed
//!   Hessian mixes Q and R into one block and scaling did not lower the
//!   median iteration count (10 with or without);
//! - termination checked every 5 iterations rather than OSQP's 25: warm
//!   started RTI QPs converge in ~10, so checking every 25 more than
//!   doubles the median iterations;
//! - adaptive rho on, at a fixed interval (off, the iteration-count tail
//!   grows: max 1380 vs 300 on P1 at rho = 0.1);
//! - polishing off: it allocates on every solve;
//! - OSQP's over-relaxation (alpha = 1.6) kept as the default. Problems
//!   whose bounds are mostly inactive at the solution, like P2's
//!   figure-eight, do better with alpha = 1 and a check every 3 iterations
//!   (a warm-started RTI QP is then solved in one or two plain ADMM steps;
//!   relaxation overshoots and needs ~15 to settle), and their configs say
//!   so; with active constraints plain ADMM can be far slower (a soft
//!   constraint test at 1e-10 needed over 200k iterations).

use serde::{Deserialize, Serialize};

use crate::MpcError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OsqpConfig {
    pub rho: f64,
    pub sigma: f64,
    pub alpha: f64,
    /// Ruiz equilibration iterations; 0 disables scaling. When absent,
    /// chosen by the QP's structure ([`OsqpConfig::scaling_for`]).
    pub scaling_iterations: Option<u32>,
    pub adaptive_rho: bool,
    /// Iterations between rho adaptations; 0 lets OSQP choose, from the
    /// wall-clock time its first solve takes relative to its setup (this
    /// build has OSQP's profiling on): the choice, and so every solution
    /// after it, then varies from run to run.
    pub adaptive_rho_interval: u32,
    pub max_iterations: u32,
    pub eps_abs: f64,
    pub eps_rel: f64,
    /// Iterations between termination checks; 0 disables checking.
    pub check_termination_every: u32,
    pub scaled_termination: bool,
    /// OSQP's own time limit per solve; none when absent.
    pub time_limit_secs: Option<f64>,
    /// Start each solve of a fully condensed QP from the last solve's duals
    /// shifted along with the plan (interpolated for a period that is a
    /// fraction of `dt_secs`) instead of unshifted ones; blocks keep theirs
    /// in place. Off by default: it did not lower the iteration counts
    /// (docs/performance.md, "Dual warm starts").
    pub shift_duals: bool,
    /// RTI's advanced step: after each preparation, solve the new QP for
    /// the predicted initial state (the shifted plan's first node), so that
    /// the feedback starts OSQP from that solution and only corrects for
    /// the measured state's difference from the prediction. The feedback
    /// still solves the measured state's QP to the same tolerances; the
    /// preparation takes the extra solve. Worth it only where the two
    /// halves run apart (the C interface's `recede_feedback` /
    /// `recede_prepare`); off by default, since a step that runs both
    /// back to back only pays for it (docs/performance.md, "The C
    /// interface's real-time iteration").
    pub presolve_prediction: bool,
    /// With Ruiz scaling: steps (matrix updates) between recomputations of
    /// the scaling. OSQP 0.6 recomputes it at every `update_P_A` (1); 0
    /// keeps the one computed at the first update after setup. Kept, the
    /// step saves the Ruiz passes and the warm-started iterates (kept in
    /// OSQP's scaled coordinates) stay in the coordinates of the next
    /// solve (docs/performance.md, "Linear in the horizon, session 13").
    pub rescale_every: u32,
}

impl Default for OsqpConfig {
    fn default() -> Self {
        Self {
            rho: 0.1,
            sigma: 1e-6,
            alpha: 1.6,
            scaling_iterations: None,
            adaptive_rho: true,
            // Fixed, so that runs repeat bit for bit (see the field).
            adaptive_rho_interval: 25,
            max_iterations: 4000,
            eps_abs: 1e-3,
            eps_rel: 1e-3,
            check_termination_every: 5,
            scaled_termination: false,
            time_limit_secs: None,
            // Measured not to pay (docs/performance.md, "Dual warm starts").
            shift_duals: false,
            presolve_prediction: false,
            rescale_every: 1,
        }
    }
}

/// Ruiz iterations for a QP condensed in blocks: its state variables carry
/// the state weights directly (P1: 2e3) next to input corrections weighted
/// ~1, and unscaled ADMM stops on its relative tolerance far from the
/// optimum (P1, N = 40, blocks of 16: closed-loop input effort 1045
/// against 718 fully condensed; 706 with 5 iterations, and 3 were not
/// enough at N = 160). docs/performance.md, "Linear in the horizon".
pub const BLOCK_SCALING_ITERATIONS: u32 = 5;

impl OsqpConfig {
    /// The Ruiz iterations used: as configured, else none for a fully
    /// condensed QP (see the module's notes) and
    /// [`BLOCK_SCALING_ITERATIONS`] for one condensed in blocks.
    pub fn scaling_for(&self, fully_condensed: bool) -> u32 {
        self.scaling_iterations.unwrap_or(if fully_condensed {
            0
        } else {
            BLOCK_SCALING_ITERATIONS
        })
    }

    /// OSQP's own defaults (as in its documentation), for reference problems
    /// that prescribe them.
    pub fn osqp_defaults() -> Self {
        Self {
            rho: 0.1,
            sigma: 1e-6,
            alpha: 1.6,
            scaling_iterations: Some(10),
            adaptive_rho: true,
            adaptive_rho_interval: 0,
            max_iterations: 4000,
            eps_abs: 1e-3,
            eps_rel: 1e-3,
            check_termination_every: 25,
            scaled_termination: false,
            time_limit_secs: None,
            shift_duals: false,
            presolve_prediction: false,
            rescale_every: 1,
        }
    }

    pub fn validate(&self) -> Result<(), MpcError> {
        let positive = |key: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(MpcError::Config {
                    key: format!("osqp.{key}"),
                    expected: "a finite value > 0".into(),
                    found: v.to_string(),
                })
            }
        };
        positive("rho", self.rho)?;
        positive("sigma", self.sigma)?;
        positive("eps_abs", self.eps_abs)?;
        if !(self.eps_rel.is_finite() && self.eps_rel >= 0.0) {
            return Err(MpcError::Config {
                key: "osqp.eps_rel".into(),
                expected: "a finite value >= 0".into(),
                found: self.eps_rel.to_string(),
            });
        }
        if !(self.alpha > 0.0 && self.alpha < 2.0) {
            return Err(MpcError::Config {
                key: "osqp.alpha".into(),
                expected: "a value in (0, 2)".into(),
                found: self.alpha.to_string(),
            });
        }
        if self.max_iterations == 0 {
            return Err(MpcError::Config {
                key: "osqp.max_iterations".into(),
                expected: "an integer >= 1".into(),
                found: "0".into(),
            });
        }
        if let Some(t) = self.time_limit_secs {
            positive("time_limit_secs", t)?;
        }
        Ok(())
    }
}
