//! The recorder seam. The loop hands what happened to a recorder task
//! through a bounded queue (`try_send`: when it is full the data is dropped
//! and counted, the control path never waits); the recorder task calls the
//! [`Sink`]. The program's sink writes rerun; [`NullSink`] records nothing
//! and makes the loop skip the queue altogether.

use recede_msg::{Reading, WorldModel};

use crate::policy::StepStatus;

/// Severity of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Info,
    Warn,
    Error,
}

/// One controller step as the recorder sees it.
#[derive(Debug, Clone)]
pub struct StepLog {
    pub step: u64,
    pub t_secs: f64,
    /// The estimate the step acted on, and its standard deviations.
    pub estimate: Vec<f64>,
    pub estimate_std: Vec<f64>,
    pub command: Vec<f64>,
    pub status: StepStatus,
    /// Wall time of the step, s.
    pub compute_secs: f64,
    /// The plan's predicted states, flattened node by node (may be empty).
    pub predicted_states: Vec<f64>,
    /// What the estimator saw, as the step acted on it (empty for an
    /// estimator that sees nothing).
    pub world: WorldModel,
}

/// Where the recording goes. Called on the recorder task only, so an
/// implementation may take its time (the queue in front of it absorbs and,
/// when full, drops).
pub trait Sink: Send {
    /// False for a sink that records nothing: the loop then does not queue.
    fn enabled(&self) -> bool {
        true
    }
    /// A sensor reading as delivered (images, scans ...); `step` is the
    /// control step during which it became available.
    fn reading(&mut self, _step: u64, _reading: &Reading) {}
    /// The true state at a control instant.
    fn truth(&mut self, _step: u64, _t_secs: f64, _state: &[f64]) {}
    /// The true shape of a deformable body at a control instant
    /// ([`crate::World::true_shape`]).
    fn shape(&mut self, _step: u64, _t_secs: f64, _points: &[[f64; 3]]) {}
    /// A controller step.
    fn step(&mut self, _log: &StepLog) {}
    /// An event for the text log.
    fn event(&mut self, _step: u64, _t_secs: f64, _level: Level, _text: &str) {}
    /// Data the sink itself had to drop (its own queue full), so far.
    fn dropped(&self) -> u64 {
        0
    }
}

/// Records nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NullSink;

impl Sink for NullSink {
    fn enabled(&self) -> bool {
        false
    }
}
