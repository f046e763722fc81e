//! The controller seam: what the controller task steps each period.

use recede_control::{Controller, ReferenceConfig};
use recede_mpc::StepReport;

use crate::RtError;

/// What the controller task runs each period. [`MpcPolicy`] is the MPC of
/// a scenario; tests inject slow or failing ones.
pub trait Policy: Send {
    /// (states, inputs).
    fn dimensions(&self) -> (usize, usize);
    /// One control step at `t_secs` from the estimate `x`; the command goes
    /// to `command` (length nu).
    fn step(&mut self, t_secs: f64, x: &[f64], command: &mut [f64]) -> Result<StepReport, RtError>;
    /// The command to apply `after_secs` after the last step if the next
    /// step is late: the last plan shifted in time.
    fn late_command(&self, after_secs: f64, out: &mut [f64]);
    /// The command to apply when there is no usable plan.
    fn safe_command(&self, out: &mut [f64]);
    /// The last plan's predicted states, flattened node by node (for the
    /// viewer); left empty when there is none.
    fn predicted_states(&self, _out: &mut Vec<f64>) {}
}

/// The scenario's MPC tracking its reference.
#[derive(Debug)]
pub struct MpcPolicy {
    pub controller: Controller,
    pub reference: ReferenceConfig,
    x_ref: Vec<f64>,
    u_ref: Vec<f64>,
    nx: usize,
    nu: usize,
}

impl MpcPolicy {
    pub fn new(controller: Controller, reference: ReferenceConfig) -> Self {
        let (nx, nu, _) = controller.dimensions();
        Self {
            controller,
            reference,
            x_ref: vec![0.0; nx],
            u_ref: vec![0.0; nu],
            nx,
            nu,
        }
    }
}

impl Policy for MpcPolicy {
    fn dimensions(&self) -> (usize, usize) {
        (self.nx, self.nu)
    }

    fn step(&mut self, t_secs: f64, x: &[f64], command: &mut [f64]) -> Result<StepReport, RtError> {
        self.controller
            .track(&self.reference, t_secs, &mut self.x_ref, &mut self.u_ref)?;
        Ok(self.controller.step(x, command)?)
    }

    fn late_command(&self, after_secs: f64, out: &mut [f64]) {
        if self.controller.planned_input(after_secs, out).is_err() {
            self.safe_command(out);
        }
    }

    fn safe_command(&self, out: &mut [f64]) {
        if self.controller.safe_input(out).is_err() {
            out.fill(0.0);
        }
    }

    fn predicted_states(&self, out: &mut Vec<f64>) {
        let (nx, _, n) = self.controller.dimensions();
        out.resize((n + 1) * nx, 0.0);
        if self.controller.predicted_states(out).is_err() {
            out.clear();
        }
    }
}
