//! The controller a scenario file describes, for any built-in robot.
//!
//! [`recede_mpc::Mpc`] is generic over the robot's sizes; this crate picks
//! the robot at run time ([`Controller`] is an enum over them) and steps it
//! on plain slices, which is what the loop, the CLI and the C interface
//! need. Building it reads only the `[robot]` and `[controller]` tables, so
//! it never pulls in the simulator.

mod controller;
mod file;
mod reference;

pub use controller::{ControlError, Controller};
pub use file::ControllerFile;
pub use reference::ReferenceConfig;
