//! The controller a scenario file describes, for any built-in robot.
//!
//! [`recede_mpc::Mpc`] is generic over the robot's sizes; this crate picks
//! the robot at run time ([`Controller`] is an enum over them) and steps it
//! on plain slices, which is what the loop, the CLI and the C interface
//! need. Building it reads only the `[robot]` and `[controller]` tables, so
//! it never pulls in the simulator.
//!
//! Every robot's prediction model is its physics plus a residual
//! ([`ResidualModel`]): none by default, or a learned model file named in
//! `[controller.residual]`, optionally adapted online ([`Adaptation`]).
//!
//! [`guidance`] turns what perception sees (`recede-msg`'s world model:
//! obstacles, targets) into keep-out rows and set points; it reads the
//! percepts, never the perception pipeline.

mod config;
mod controller;
mod file;
pub mod guidance;
mod recovery;
mod reference;
mod residual;

pub use config::ControllerConfig;
pub use controller::{ControlError, Controller, FileController, PositionStates, RobotController};
pub use file::ControllerFile;
pub use recovery::{
    position_governor, quadrotor_recovery, quadrotor_tilt, quadrotor_upset, Governor, Recovery,
};
pub use reference::{
    inverse_dynamics, CircleVariation, Computed, EndEffectorCircle, EndEffectorCircleConfig,
    InputReference, Plane, ReferenceConfig, Sines, Spline, SplineConfig, MAX_KNOTS,
};
pub use residual::{Adaptation, AdaptationStats, ResidualConfig, ResidualModel, ResidualStats};
