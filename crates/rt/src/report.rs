//! What the loop tells its caller: every settled step (through the
//! [`StepHook`]) and, at the end, the [`LoopReport`].

use crate::config::Mode;
use crate::policy::StepStatus;

/// Where the command of a control step came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandSource {
    /// The controller's step, in time.
    Controller,
    /// Deadline missed: the previous plan, shifted by a period.
    ShiftedPlan,
    /// Deadline missed with no usable plan (or twice in a row): the safe input.
    Safe,
}

/// One control step, as the world saw it; given to the [`StepHook`] once
/// the step's command is settled.
#[derive(Debug, Clone, Copy)]
pub struct StepRecord<'a> {
    pub step: u64,
    pub t_secs: f64,
    /// The true state at the control instant (empty when the world does
    /// not know it).
    pub true_state: &'a [f64],
    /// The estimate the controller acted on (empty when the deadline passed).
    pub estimate: &'a [f64],
    /// The command that acts from `t_secs + actuation_delay_secs`.
    pub command: &'a [f64],
    pub source: CommandSource,
    /// The controller's status (none when the deadline passed).
    pub status: Option<StepStatus>,
    /// Wall time of the controller's step, s (0 when it missed).
    pub compute_secs: f64,
    /// Distance from the robot's body origin to the nearest obstacle, m
    /// (infinite without obstacles or when the world does not know it).
    pub clearance_m: f64,
    /// A deformable body's true shape at the control instant, base to tip
    /// ([`crate::World::true_shape`]; empty for a rigid body).
    pub true_shape: &'a [[f64; 3]],
}

/// Sees every control step on the world task.
pub trait StepHook: Send {
    fn on_step(&mut self, record: &StepRecord<'_>);
}

impl<F: FnMut(&StepRecord<'_>) + Send> StepHook for F {
    fn on_step(&mut self, record: &StepRecord<'_>) {
        self(record)
    }
}

/// Per-sensor counts over the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SensorReport {
    pub name: String,
    /// Readings handed to the estimator.
    pub delivered: u64,
    /// Samples lost: dropout in the sensor, or the estimator's queue full.
    pub dropped: u64,
    /// Readings the estimator refused.
    pub rejected: u64,
}

/// What the loop did.
#[derive(Debug, Clone)]
pub struct LoopReport {
    pub mode: Mode,
    pub estimator: &'static str,
    pub sim_secs: f64,
    pub wall_secs: f64,
    /// Control steps whose command was settled (by the controller or a fallback).
    pub control_steps: usize,
    /// Steps that applied a fallback: the MPC's own (failed solve) or a missed deadline.
    pub fallbacks: usize,
    /// Real time: steps whose command was not in by the deadline.
    pub deadline_misses: usize,
    /// Wall time of each controller step, s.
    pub step_secs: Vec<f64>,
    /// Real time: lateness of the controller's wake-up at each period, s.
    pub jitter_secs: Vec<f64>,
    pub qp_iterations_max: u32,
    /// Recorder messages dropped (the loop's queue and the sink's own).
    pub recorder_dropped: u64,
    pub sensors: Vec<SensorReport>,
    /// Smallest clearance at the control instants (None without obstacles).
    pub min_clearance_m: Option<f64>,
    /// Ended early by the stop flag.
    pub stopped: bool,
    /// The true state at the end (empty when the world does not know it).
    pub final_state: Vec<f64>,
}
