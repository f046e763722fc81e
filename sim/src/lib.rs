//! recede-sim: the simulated world the controller is exercised against.
//!
//! - [`plant`]: true plants (nominal model + unmodelled effects), actuators,
//!   disturbances, RK4 at a fixed step;
//! - [`world`]: ground, primitives with colour and temperature, scripted
//!   motion, ray casting, distance queries;
//! - [`sensors`]: IMU, encoders, position fix, RGB / depth / infrared
//!   cameras, 2D lidar, with rate, latency, mounting, noise, dropout and
//!   outliers, each on its own seeded random streams;
//! - [`config`]: the scenario file's `[plant]`, `[world]`, `[[sensors]]`;
//! - [`contact`]: the robot's body against the world (collisions);
//! - [`Simulator`]: what the loop drives.
//!
//! Measurement types live in `recede-msg`, so consumers never depend on
//! this crate. Nothing controller-side may depend on it.

pub mod config;
pub mod contact;
mod error;
pub mod plant;
mod rng;
pub mod sensors;
mod simulator;
pub mod world;

pub use error::{ConfigError, SimError};
pub use rng::stream as random_stream;
pub use simulator::Simulator;
