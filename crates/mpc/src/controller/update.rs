//! Changes to a running controller's problem between steps: weights, input
//! bounds, the limits of the configured state bounds. Each is checked as
//! the scenario file's values are, rejects a bad value without changing
//! anything, and allocates nothing (the error is `Copy`). The QP's
//! structure never changes: a bound's hard or soft kind and its state stay
//! as configured.

use nalgebra::{SMatrix, SVector};
use recede_model::DiscreteModel;
use thiserror::Error;

use super::Mpc;
use crate::StageConstraints;

/// A value a runtime update refused; nothing was changed.
#[derive(Debug, Clone, Copy, PartialEq, Error)]
#[error("`{what}`[{index}]: expected {expected}, found {found}")]
pub struct UpdateError {
    pub what: &'static str,
    pub index: usize,
    pub expected: &'static str,
    pub found: f64,
}

fn refuse(what: &'static str, index: usize, expected: &'static str, found: f64) -> UpdateError {
    UpdateError {
        what,
        index,
        expected,
        found,
    }
}

fn check_weights(what: &'static str, values: &[f64]) -> Result<(), UpdateError> {
    match values.iter().position(|w| !(w.is_finite() && *w >= 0.0)) {
        Some(i) => Err(refuse(what, i, "a finite weight >= 0", values[i])),
        None => Ok(()),
    }
}

impl<M, C, const NX: usize, const NU: usize> Mpc<M, C, NX, NU>
where
    M: DiscreteModel<NX, NU>,
    C: StageConstraints<NX>,
{
    /// Replaces the diagonals of the stage, terminal and input weights.
    /// They enter the Hessian at the next preparation
    /// ([`Self::prepare_next`]; `prepare_next(0.0)` to re-prepare now
    /// without shifting the plan).
    pub fn set_weights(
        &mut self,
        state: &SVector<f64, NX>,
        terminal: &SVector<f64, NX>,
        input: &SVector<f64, NU>,
    ) -> Result<(), UpdateError> {
        check_weights("state_weights", state.as_slice())?;
        check_weights("terminal_weights", terminal.as_slice())?;
        check_weights("input_weights", input.as_slice())?;
        if state.iter().chain(input.iter()).all(|w| *w == 0.0) {
            return Err(refuse(
                "state_weights",
                0,
                "at least one positive state or input weight",
                0.0,
            ));
        }
        self.spec.q = SMatrix::from_diagonal(state);
        self.spec.q_terminal = SMatrix::from_diagonal(terminal);
        self.spec.r = SMatrix::from_diagonal(input);
        Ok(())
    }

    /// Replaces the input bounds (`-inf` / `inf` for none). They must keep
    /// the configured safe input feasible. Used from the next feedback on.
    pub fn set_input_bounds(
        &mut self,
        lower: &SVector<f64, NU>,
        upper: &SVector<f64, NU>,
    ) -> Result<(), UpdateError> {
        for i in 0..NU {
            let (lo, hi) = (lower[i], upper[i]);
            if lo.is_nan() || lo == f64::INFINITY {
                return Err(refuse("input_min", i, "a number < inf, not NaN", lo));
            }
            if hi.is_nan() || hi == f64::NEG_INFINITY {
                return Err(refuse("input_max", i, "a number > -inf, not NaN", hi));
            }
            let safe = self.spec.safe_input[i];
            if !(lo <= safe && safe <= hi) {
                return Err(refuse(
                    "input_min",
                    i,
                    "bounds around the safe input (fallback.safe_input)",
                    lo,
                ));
            }
        }
        self.spec.u_min = *lower;
        self.spec.u_max = *upper;
        Ok(())
    }

    /// How many state bounds the problem was configured with: the slots
    /// [`Self::set_state_bound`] can change.
    pub fn state_bound_count(&self) -> usize {
        self.spec.state_bounds.len()
    }

    /// Replaces the limits of configured state bound `slot` (`None` or an
    /// infinite value on the open side; not both open). They enter at the
    /// next preparation.
    pub fn set_state_bound(
        &mut self,
        slot: usize,
        min: Option<f64>,
        max: Option<f64>,
    ) -> Result<(), UpdateError> {
        let count = self.spec.state_bounds.len();
        if slot >= count {
            return Err(refuse(
                "state_bounds",
                slot,
                "a configured slot (state_bounds in the scenario)",
                slot as f64,
            ));
        }
        let min = min.filter(|v| *v != f64::NEG_INFINITY);
        let max = max.filter(|v| *v != f64::INFINITY);
        if let Some(lo) = min.filter(|v| v.is_nan() || *v == f64::INFINITY) {
            return Err(refuse("state_bounds.min", slot, "a number < inf", lo));
        }
        if let Some(hi) = max.filter(|v| v.is_nan() || *v == f64::NEG_INFINITY) {
            return Err(refuse("state_bounds.max", slot, "a number > -inf", hi));
        }
        match (min, max) {
            (None, None) => {
                return Err(refuse(
                    "state_bounds",
                    slot,
                    "a finite min, max or both",
                    f64::INFINITY,
                ))
            }
            (Some(lo), Some(hi)) if lo > hi => {
                return Err(refuse("state_bounds.min", slot, "min <= max", lo))
            }
            _ => {}
        }
        let bound = &mut self.spec.state_bounds[slot];
        bound.min = min;
        bound.max = max;
        Ok(())
    }
}
