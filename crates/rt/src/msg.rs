//! What the tasks pass each other: inline values, the estimator's and the
//! world's messages, and the loop's never-blocking side of the recorder
//! queue.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender, TrySendError};
use recede_msg::Reading;

use crate::policy::StepStatus;
use crate::sink::{Level, StepLog};

/// Most values the loop passes between tasks: inline, so that the tasks
/// neither allocate nor free per message in steady state (a free of another
/// thread's allocation takes that thread's allocator lock: a priority
/// inversion waiting to happen in real time).
pub const MAX_VALUES: usize = recede_msg::MAX_DIM;

#[derive(Debug, Clone, Copy)]
pub(crate) struct Vals {
    len: usize,
    v: [f64; MAX_VALUES],
}

impl Vals {
    pub(crate) fn of(values: &[f64]) -> Self {
        let mut v = [0.0; MAX_VALUES];
        let len = values.len().min(MAX_VALUES);
        v[..len].copy_from_slice(&values[..len]);
        Self { len, v }
    }

    pub(crate) fn as_slice(&self) -> &[f64] {
        &self.v[..self.len]
    }
}

/// What the world hands the estimator in real time (in lockstep it calls
/// the estimator directly).
pub(crate) enum EstIn {
    /// A reading delivered during a control step.
    Reading(u64, Arc<Reading>),
    Truth(f64, Vals),
    /// A settled command and the time it acts from.
    Command(f64, Vals),
}

pub(crate) struct Cmd {
    pub step: u64,
    pub command: Vals,
    pub late: Vals,
    pub estimate: Vals,
    pub status: StepStatus,
    pub compute_secs: f64,
}

pub(crate) enum LogMsg {
    Reading(u64, Arc<Reading>),
    Truth(u64, f64, Vals),
    /// Pooled ([`ShapePool`]): a rod's nodes outgrow an inline message.
    Shape(Box<ShapeLog>),
    Step(Box<StepLog>),
    /// A controller step that fell back (formatted on the recorder task, so
    /// that the controller does not allocate).
    Fallback(u64, f64, StepStatus),
    Event(u64, f64, Level, String),
}

/// A deformable body's true shape at a control instant.
pub(crate) struct ShapeLog {
    pub step: u64,
    pub t_secs: f64,
    pub points: Vec<[f64; 3]>,
}

/// Shape logs sized at setup, taken by the world and given back by the
/// recorder, so that logging a shape never allocates.
#[derive(Clone)]
pub(crate) struct ShapePool {
    pub take: Receiver<Box<ShapeLog>>,
    pub give: Sender<Box<ShapeLog>>,
}

impl ShapePool {
    /// `count` logs of `points` points each.
    pub(crate) fn new(count: usize, points: usize) -> Self {
        let (give, take) = crossbeam_channel::bounded(count);
        for _ in 0..count {
            let _ = give.try_send(Box::new(ShapeLog {
                step: 0,
                t_secs: 0.0,
                points: Vec::with_capacity(points),
            }));
        }
        Self { take, give }
    }
}

/// The loop's side of the recorder queue: never blocks.
#[derive(Clone)]
pub(crate) struct LogTx {
    pub tx: Option<Sender<LogMsg>>,
    pub dropped: Arc<AtomicU64>,
}

impl LogTx {
    pub(crate) fn on(&self) -> bool {
        self.tx.is_some()
    }

    pub(crate) fn send(&self, make: impl FnOnce() -> LogMsg) {
        let Some(tx) = &self.tx else { return };
        if tx.is_full() {
            self.count_drop();
            return;
        }
        let _ = self.try_send(make());
    }

    /// Queues `msg`, or counts it dropped and hands it back.
    pub(crate) fn try_send(&self, msg: LogMsg) -> Option<LogMsg> {
        let Some(tx) = &self.tx else { return Some(msg) };
        match tx.try_send(msg) {
            Ok(()) => None,
            Err(TrySendError::Full(m) | TrySendError::Disconnected(m)) => {
                self.count_drop();
                Some(m)
            }
        }
    }

    pub(crate) fn count_drop(&self) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn event(&self, step: u64, t: f64, level: Level, text: impl FnOnce() -> String) {
        self.send(|| LogMsg::Event(step, t, level, text()));
    }
}
