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

use serde::{Deserialize, Serialize};

use crate::ModelError;

/// The `[robot]` table of a scenario: which robot, with its parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RobotConfig {
    CartPole(CartPoleParams),
    Quadrotor(QuadrotorParams),
    DiffDrive(DiffDriveParams),
    Arm(ArmParams),
}

impl RobotConfig {
    /// The robot's name as written in a scenario's `kind`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::CartPole(_) => "cart_pole",
            Self::Quadrotor(_) => "quadrotor",
            Self::DiffDrive(_) => "diff_drive",
            Self::Arm(_) => "arm",
        }
    }

    pub fn validate(&self) -> Result<(), ModelError> {
        match self {
            Self::CartPole(p) => p.validate(),
            Self::Quadrotor(p) => p.validate(),
            Self::DiffDrive(p) => p.validate(),
            Self::Arm(p) => p.validate(),
        }
    }

    /// (states, inputs).
    pub fn dimensions(&self) -> (usize, usize) {
        match self {
            Self::CartPole(_) => (cartpole::NX, cartpole::NU),
            Self::Quadrotor(_) => (quadrotor::NX, quadrotor::NU),
            Self::DiffDrive(_) => (diffdrive::NX, diffdrive::NU),
            Self::Arm(_) => (arm::NX, arm::NU),
        }
    }
}
