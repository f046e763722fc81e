//! The `recede` program's library half: scenario files, the run loop's
//! summary, and the reference problems, shared by the binary, the
//! end-to-end tests and the criterion benches.

pub mod adapters;
pub mod bench;
pub mod datalog;
pub mod export_firmware;
pub mod perception_loop;
pub mod record;
pub mod run;
pub mod safety;
pub mod scenario;
pub mod stats;
pub mod train;
pub mod tune;
