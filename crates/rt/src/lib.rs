//! recede-rt: the loop that runs a robot.
//!
//! Four tasks: world, estimator, controller and recorder. In real time each
//! has its own thread and they are connected by bounded crossbeam channels:
//!
//! ```text
//!  world (a simulator, a replay, a hardware bridge: its own step, its sensors)
//!    │ readings (Arc), truth,  ──▶ estimator ──▶ latest-estimate slot: state, σ, world model
//!    │ settled commands                              │ (lock-free, never waited on)
//!    ▲                                               ▼
//!    │ commands (+ shifted-plan fallback) ◀─── controller (its period)
//!  every task ── try_send ──▶ recorder task ──▶ Sink (drops and counts when full)
//! ```
//!
//! Two clocks drive it ([`Mode`]):
//! - **lockstep**: the world's time. At each control instant the world
//!   hands the estimator what became available, takes its estimate to the
//!   controller, applies the command and tells the estimator; these run in
//!   turn on the world's thread, since each would only wait for the one
//!   before it (the recorder keeps its thread). Every task sees the same
//!   sequence of inputs whatever the thread timing, so a seed gives the
//!   same run bit for bit.
//! - **real time**: a [`Clock`] (the wall clock unless injected). The world
//!   is paced to it; the controller wakes at each period, reads the latest
//!   estimate without waiting and has a deadline: a command that is not in
//!   by then is replaced by the previous plan shifted in time (then the
//!   safe input), and the miss is counted.
//!
//! Seams, each a small trait the program implements: [`World`] (what is
//! driven: the program adapts the simulator; this crate depends on neither
//! the simulator nor the controller), [`Estimator`] ([`TruthEstimator`]
//! hands the true state through, a debugging mode labelled as such; the
//! perception pipeline is another), [`Policy`] (the controller, reporting
//! a [`StepStatus`]), [`Sink`] (with the null [`NullSink`]; the program
//! passes a rerun-backed one). What the estimator publishes is an
//! [`Estimate`]: the state, its σ and `recede-msg`'s world model
//! (obstacles, targets), inline and fixed in size. A per-control-step
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
mod world;

pub use clock::{Clock, StopFlag, WallClock};
pub use config::{LoopConfig, Mode};
pub use engine::run;
pub use error::RtError;
pub use estimator::{Estimate, Estimator, TruthEstimator, Verdict};
pub use msg::MAX_VALUES;
pub use policy::{Note, Policy, PolicyError, StepStatus};
pub use report::{CommandSource, LoopReport, SensorReport, StepHook, StepRecord};
pub use sched::raise_thread_priority;
pub use sink::{Level, NullSink, Sink, StepLog};
pub use world::{World, WorldError};
