//! The built-in robots. Each has typed parameters (serde, unknown keys
//! rejected, defaults = the reference problems') and a `validate` pass.

pub mod arm;
pub mod cartpole;
pub mod diffdrive;
pub mod quadrotor;

pub use arm::{Arm, ArmParams};
pub use cartpole::{CartPole, CartPoleParams};
pub use diffdrive::{DiffDrive, DiffDriveParams};
pub use quadrotor::{Quadrotor, QuadrotorParams};
