//! Cost weights and input bounds changed on a running controller, without
//! rebuilding it (a notebook sweeping a weight, a supervisor derating an
//! actuator). Not for the hot loop: a weight change re-condenses the QP.

use nalgebra::{SMatrix, SVector};

use super::Mpc;
use crate::{MpcError, StageConstraints};
use recede_model::DiscreteModel;

fn bad(key: &str, expected: &str, found: String) -> MpcError {
    MpcError::Config {
        key: key.into(),
        expected: expected.into(),
        found,
    }
}

fn check_weights<const N: usize>(key: &str, w: &SVector<f64, N>) -> Result<(), MpcError> {
    match w.iter().find(|v| !(v.is_finite() && **v >= 0.0)) {
        Some(v) => Err(bad(key, "finite weights >= 0", v.to_string())),
        None => Ok(()),
    }
}

impl<M, C, const NX: usize, const NU: usize> Mpc<M, C, NX, NU>
where
    M: DiscreteModel<NX, NU>,
    C: StageConstraints<NX>,
{
    /// Replaces the diagonal weights of the stage cost (`state`, `input`)
    /// and the terminal cost, checked as the `[controller]` table's. The
    /// prepared QP is re-condensed at its linearisation, so the next step
    /// already uses them. Allocates nothing.
    pub fn set_weights(
        &mut self,
        state: &SVector<f64, NX>,
        terminal: &SVector<f64, NX>,
        input: &SVector<f64, NU>,
    ) -> Result<(), MpcError> {
        check_weights("state_weights", state)?;
        check_weights("terminal_weights", terminal)?;
        check_weights("input_weights", input)?;
        if state.iter().chain(input.iter()).all(|w| *w == 0.0) {
            return Err(bad(
                "state_weights",
                "at least one positive weight",
                "all zero".into(),
            ));
        }
        self.spec.q = SMatrix::from_diagonal(state);
        self.spec.q_terminal = SMatrix::from_diagonal(terminal);
        self.spec.r = SMatrix::from_diagonal(input);
        // A linear time-invariant model skips condensing once done.
        self.cond.forget_values();
        self.cond.condense(&self.layout, &self.spec);
        self.push_matrices();
        Ok(())
    }

    /// Replaces the input bounds (`-inf`/`inf` for none), checked as
    /// `input_min`/`input_max`; they apply from the next step's QP.
    pub fn set_input_bounds(
        &mut self,
        min: &SVector<f64, NU>,
        max: &SVector<f64, NU>,
    ) -> Result<(), MpcError> {
        for i in 0..NU {
            let (lo, hi) = (min[i], max[i]);
            if lo.is_nan() || lo == f64::INFINITY {
                return Err(bad("input_min", "numbers < inf", lo.to_string()));
            }
            if hi.is_nan() || hi == f64::NEG_INFINITY {
                return Err(bad("input_max", "numbers > -inf", hi.to_string()));
            }
            if lo > hi {
                return Err(bad(
                    "input_min",
                    "bounds <= input_max",
                    format!("{lo} > {hi} at {i}"),
                ));
            }
        }
        self.spec.u_min = *min;
        self.spec.u_max = *max;
        Ok(())
    }
}
