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

/// Counts allocations in the unit tests (the plant-step log's world step
/// allocates nothing: `adapters::world`'s tests).
#[cfg(test)]
#[global_allocator]
static GLOBAL: recede_test_support::CountingAllocator = recede_test_support::CountingAllocator;
