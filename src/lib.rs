//! The `recede` program's library half: the reference problems and the
//! tuner, shared by the binary, the end-to-end tests and the criterion
//! benches. Scenario files and runs are `recede-runner`'s.

pub mod bench;
pub mod export_firmware;
pub mod tune;
