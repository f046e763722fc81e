//! Weights and input bounds read back from a running controller (Python's
//! `Controller.weights`, `input_bounds`); `runtime.rs` changes them.

use super::{copy_checked, ControlError, Controller, FileController};

impl Controller {
    /// The diagonal cost weights now in use, into `state`, `terminal`
    /// (length NX each) and `input` (NU).
    pub fn weights(
        &self,
        state: &mut [f64],
        terminal: &mut [f64],
        input: &mut [f64],
    ) -> Result<(), ControlError> {
        each!(self, m => {
            let spec = m.mpc.spec();
            copy_checked("state weights", spec.q.diagonal().as_slice(), state)?;
            copy_checked("terminal weights", spec.q_terminal.diagonal().as_slice(), terminal)?;
            copy_checked("input weights", spec.r.diagonal().as_slice(), input)
        })
    }

    /// The input bounds now in use (`-inf`/`inf` where there is none).
    pub fn input_bounds(&self, min: &mut [f64], max: &mut [f64]) -> Result<(), ControlError> {
        each!(self, m => {
            let spec = m.mpc.spec();
            copy_checked("input minimum", spec.u_min.as_slice(), min)?;
            copy_checked("input maximum", spec.u_max.as_slice(), max)
        })
    }
}
