//! The scenario's controller as the loop's policy.

use std::fmt::Write;

use recede_control::guidance::Guidance;
use recede_control::{Controller, ReferenceConfig};
use recede_mpc::{StepOutcome, StepReport};
use recede_rt::{Estimate, Policy, PolicyError, StepStatus};

/// The scenario's MPC tracking its reference, guided before each step by
/// the world model that came with the estimate (keep-out rows around the
/// perceived obstacles, the approach to the hottest target). Allocates
/// nothing per step.
#[derive(Debug)]
pub struct ControlPolicy {
    pub controller: Controller,
    pub reference: ReferenceConfig,
    guidance: Guidance,
    x_ref: Vec<f64>,
    u_ref: Vec<f64>,
    nx: usize,
    nu: usize,
    /// Each step's split, s: from the state to the command (the QP's solve
    /// included), then the preparation of the next step. Kept up to the
    /// capacity reserved at setup ([`ControlPolicy::keep_split`]), so a
    /// step never allocates.
    split_secs: Vec<[f64; 2]>,
    /// Reference nodes whose computed input (`input = "inverse_dynamics"`)
    /// had no answer and held the safe input instead.
    unsolved_inputs: usize,
    /// The last feedback's time, s, until its preparation is done.
    feedback_secs: f64,
}

impl ControlPolicy {
    pub fn new(controller: Controller, reference: ReferenceConfig, guidance: Guidance) -> Self {
        let (nx, nu, _) = controller.dimensions();
        Self {
            controller,
            reference,
            guidance,
            x_ref: vec![0.0; nx],
            u_ref: vec![0.0; nu],
            nx,
            nu,
            split_secs: Vec::new(),
            unsolved_inputs: 0,
            feedback_secs: 0.0,
        }
    }

    /// Keeps the feedback / prepare split of up to `steps` steps.
    pub fn keep_split(&mut self, steps: usize) {
        self.split_secs.reserve_exact(steps);
    }

    /// The kept steps' `[feedback, prepare]` times, s.
    pub fn split_secs(&self) -> &[[f64; 2]] {
        &self.split_secs
    }

    /// Reference nodes whose computed input reference had no answer (the
    /// safe input held instead), over the run.
    pub fn unsolved_inputs(&self) -> usize {
        self.unsolved_inputs
    }

    /// Whether the reference has become the approach to a target.
    pub fn approaching(&self) -> bool {
        self.guidance.approaching()
    }
}

/// The loop's view of an MPC step; a fallback is described inline.
pub fn status(report: &StepReport) -> StepStatus {
    let mut status = StepStatus {
        fell_back: report.outcome.is_fallback(),
        safe_input: report.outcome == StepOutcome::FallbackSafe,
        iterations: report.qp_iterations,
        solver_nanos: (report.osqp_solve_secs * 1e9).round() as u64,
        ..StepStatus::default()
    };
    if status.fell_back {
        let _ = write!(status.note, "{:?} ({:?})", report.outcome, report.failure);
    }
    status
}

impl Policy for ControlPolicy {
    fn dimensions(&self) -> (usize, usize) {
        (self.nx, self.nu)
    }

    fn step(
        &mut self,
        t_secs: f64,
        estimate: &Estimate,
        command: &mut [f64],
    ) -> Result<StepStatus, PolicyError> {
        let status = self.feedback(t_secs, estimate, command)?;
        self.prepare()?;
        Ok(status)
    }

    // `splits_step` keeps rt's default (not split): on the 2-core machine
    // this project is measured on, the preparation on a helper thread made
    // the flagship 5-7% slower with its recording (the recorder and camera
    // threads already take the second core; docs/performance.md).

    fn feedback(
        &mut self,
        t_secs: f64,
        estimate: &Estimate,
        command: &mut [f64],
    ) -> Result<StepStatus, PolicyError> {
        let x = estimate.state();
        self.guidance.apply(
            &mut self.controller,
            &mut self.reference,
            x,
            &estimate.world,
        );
        self.unsolved_inputs +=
            self.controller
                .track(&self.reference, t_secs, &mut self.x_ref, &mut self.u_ref)?;
        let report = self.controller.feedback(x, command)?;
        self.feedback_secs = report.feedback_secs;
        Ok(status(&report))
    }

    fn prepare(&mut self) -> Result<(), PolicyError> {
        let report = self.controller.prepare();
        if self.split_secs.len() < self.split_secs.capacity() {
            self.split_secs
                .push([self.feedback_secs, report.prepare_secs]);
        }
        Ok(())
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
