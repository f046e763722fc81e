//! Runs scenario files: what `recede run`, `recede check`, the benchmarks,
//! the tuner and the Python extension share. A scenario's loading,
//! overrides and limits ([`scenario`]); the simulator, perception and the
//! controller behind rt's seams ([`adapters`]); the run's assembly
//! ([`run`]), its summary ([`safety`], [`stats`], [`perception_loop`]), its
//! transition logs ([`datalog`], fitted by [`train`]) and its recording
//! ([`record`]).

pub mod adapters;
pub mod datalog;
pub mod perception_loop;
pub mod record;
pub mod run;
pub mod safety;
pub mod scenario;
pub mod stats;
pub mod train;
