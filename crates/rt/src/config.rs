//! How to run the loop: the mode and its parameters, checked before a run.

use std::sync::Arc;

use crate::clock::{Clock, StopFlag};
use crate::RtError;

/// Which clock drives the loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Simulated time, as fast as the machine allows; repeatable bit for bit.
    Lockstep,
    /// Paced by a [`Clock`]; the controller has a deadline each period.
    RealTime,
}

/// How to run the loop.
#[derive(Debug, Clone)]
pub struct LoopConfig {
    pub mode: Mode,
    /// Control period, s.
    pub period_secs: f64,
    /// Simulated duration, s (rounded to whole periods).
    pub duration_secs: f64,
    /// From a control instant to the moment its command acts on the plant, s.
    pub actuation_delay_secs: f64,
    /// Real time: a command not in by this long after its control instant
    /// is replaced by the fallback (the period when `None`).
    pub deadline_secs: Option<f64>,
    /// Real time: the clock (when `None`, a fresh [`WallClock`] started once
    /// the tasks are ready; an injected clock's zero is the run's start).
    pub clock: Option<Arc<dyn Clock>>,
    /// Ctrl-C and the like: the loop ends at the next iteration.
    pub stop: StopFlag,
    /// Readings queued from the world to the estimator (real time drops
    /// beyond this; lockstep waits).
    pub estimator_queue: usize,
    /// Messages queued for the recorder task before they are dropped.
    pub recorder_queue: usize,
    /// Real time: run the controller (and, one step lower, the world and
    /// the estimator) under the OS's real-time FIFO policy at this priority
    /// when permitted, so that other processes do not delay them. `None`:
    /// ordinary scheduling.
    pub realtime_priority: Option<i32>,
    /// Lockstep: how much to lower the nice value of the world's thread
    /// (which steps the estimator and the controller too) when permitted,
    /// with the threads it starts (a simulator's renders) left at the
    /// default: the serial chain goes first, the work that overlaps it
    /// fills the rest. 0: unchanged.
    pub lockstep_favour: i32,
}

impl LoopConfig {
    pub fn new(mode: Mode, period_secs: f64, duration_secs: f64) -> Self {
        Self {
            mode,
            period_secs,
            duration_secs,
            actuation_delay_secs: 0.0,
            deadline_secs: None,
            clock: None,
            stop: StopFlag::new(),
            estimator_queue: 1024,
            recorder_queue: 4096,
            realtime_priority: Some(50),
            lockstep_favour: 5,
        }
    }

    pub(crate) fn check(&self) -> Result<(), RtError> {
        let bad = |key, message: String| Err(RtError::Config { key, message });
        if !(self.period_secs.is_finite() && self.period_secs > 0.0) {
            return bad(
                "period_secs",
                format!("expected > 0, found {}", self.period_secs),
            );
        }
        if !(self.duration_secs.is_finite() && self.duration_secs >= 0.0) {
            return bad(
                "duration_secs",
                format!("expected >= 0, found {}", self.duration_secs),
            );
        }
        if !(self.actuation_delay_secs.is_finite() && self.actuation_delay_secs >= 0.0) {
            return bad(
                "actuation_delay_secs",
                format!("expected >= 0, found {}", self.actuation_delay_secs),
            );
        }
        if let Some(d) = self.deadline_secs {
            if !(d.is_finite() && d > 0.0) {
                return bad("deadline_secs", format!("expected > 0, found {d}"));
            }
        }
        if !(0..=20).contains(&self.lockstep_favour) {
            return bad(
                "lockstep_favour",
                format!("expected 0..=20, found {}", self.lockstep_favour),
            );
        }
        if self.estimator_queue == 0 || self.recorder_queue == 0 {
            return bad("queue", "queues need room for at least one message".into());
        }
        Ok(())
    }
}
