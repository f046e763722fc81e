//! recede-rt: the loop that runs a robot scenario.
//!
//! Four tasks: world, estimator, controller and recorder. In real time each
//! has its own thread and they are connected by bounded crossbeam channels:
//!
//! ```text
//!  world (sim: physics 1 kHz, sensors at their rates)
//!    │ readings (Arc), truth ──▶ estimator (on each measurement) ──▶ latest-estimate slot
//!    ▲                                                                   │ (lock-free, never
//!    │ commands (+ shifted-plan fallback)                                ▼  waited on)
//!    └──────────────────────────────────────────────────────────── controller (its period)
//!  every task ── try_send ──▶ recorder task ──▶ Sink (drops and counts when full)
//! ```
//!
//! Two clocks drive it ([`Mode`]):
//! - **lockstep**: simulated time. At each control instant the world hands
//!   the estimator what became available, takes its estimate to the
//!   controller and applies the command; these three run in turn on the
//!   world's thread, since each would only wait for the one before it (the
//!   recorder keeps its thread). Every task sees the same sequence of
//!   inputs whatever the thread timing, so a seed gives the same run bit
//!   for bit (camera rendering may run on extra worker threads, each sensor
//!   on its own random stream).
//! - **real time**: a [`Clock`] (the wall clock unless injected). Physics is
//!   paced to it; the controller wakes at each period, reads the latest
//!   estimate without waiting and has a deadline: a command that is not in
//!   by then is replaced by the previous plan shifted in time (then the safe
//!   input), and the miss is counted.
//!
//! The estimator is a seam ([`Estimator`]): [`TruthEstimator`] hands the
//! true state through (a debugging mode, labelled as such in summaries); the
//! perception pipeline is another implementation. The recorder is a seam too
//! ([`Sink`], with the null [`NullSink`]): this crate does not depend on the
//! viewer, the program passes a rerun-backed sink. A per-control-step
//! [`StepHook`] sees every step on the world task (scoring, data logs).
//!
//! Ctrl-C: the program sets a [`StopFlag`]; every task ends at its next
//! iteration, the recorder task drains its queue, and [`run`] returns the
//! report of the part that ran.

mod clock;
mod config;
mod engine;
mod error;
mod estimator;
mod msg;
mod policy;
mod report;
mod sched;
mod sink;
mod slot;
mod tasks;

pub use clock::{Clock, StopFlag, WallClock};
pub use config::{LoopConfig, Mode};
pub use engine::run;
pub use error::RtError;
pub use estimator::{Estimator, TruthEstimator, Verdict};
pub use policy::{MpcPolicy, Policy};
pub use report::{CommandSource, LoopReport, SensorReport, StepHook, StepRecord};
pub use sched::raise_thread_priority;
pub use sink::{Level, NullSink, Sink, StepLog};
