//! Weights and input bounds read and changed on a running controller
//! (Python's `Controller.set_weights`, `set_input_bounds`), without
//! rebuilding it.

use super::{copy_checked, vector, ControlError, Controller};

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

    /// Replaces the diagonal cost weights (checked as the `[controller]`
    /// table's); the next step uses them.
    pub fn set_weights(
        &mut self,
        state: &[f64],
        terminal: &[f64],
        input: &[f64],
    ) -> Result<(), ControlError> {
        each!(self, m => {
            let (q, qn, r) = (
                vector("state weights", state)?,
                vector("terminal weights", terminal)?,
                vector("input weights", input)?,
            );
            Ok(m.mpc.set_weights(&q, &qn, &r)?)
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

    /// Replaces the input bounds (checked as `input_min`/`input_max`); the
    /// next step's QP uses them.
    pub fn set_input_bounds(&mut self, min: &[f64], max: &[f64]) -> Result<(), ControlError> {
        each!(self, m => {
            let (lo, hi) = (vector("input minimum", min)?, vector("input maximum", max)?);
            Ok(m.mpc.set_input_bounds(&lo, &hi)?)
        })
    }

    /// The current plan's inputs, flattened node by node into `out`
    /// (length N * NU).
    pub fn predicted_inputs(&self, out: &mut [f64]) -> Result<(), ControlError> {
        each!(self, m => {
            let (_, us) = m.mpc.plan();
            let nu = us[0].len();
            if out.len() != us.len() * nu {
                return Err(ControlError::Length { what: "predicted inputs", expected: us.len() * nu, got: out.len() });
            }
            for (chunk, u) in out.chunks_exact_mut(nu).zip(us) {
                chunk.copy_from_slice(u.as_slice());
            }
            Ok(())
        })
    }

    /// Sets the input reference of node `k` (0..N) alone, the state
    /// reference left as it is.
    pub fn set_input_reference(&mut self, node: usize, u: &[f64]) -> Result<(), ControlError> {
        each!(self, m => {
            let (_, ur) = m.mpc.references_mut();
            let n = ur.len();
            let Some(slot) = ur.get_mut(node) else {
                return Err(ControlError::Length { what: "input reference node", expected: n, got: node + 1 });
            };
            copy_checked("input reference", u, slot.as_mut_slice())
        })
    }
}
