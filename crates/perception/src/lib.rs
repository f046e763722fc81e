//! Perception for recede: what the controller knows of the robot and the
//! world, from its sensors only.
//!
//! - State estimation: an extended Kalman filter per robot. The
//!   quadrotor's is error-state over its attitude quaternion, driven by the
//!   IMU and corrected by position fixes; the ground robot's, the
//!   cart-pole's and the arm's are driven by the robot's model and the
//!   applied commands and corrected by position fixes, encoders and the
//!   gyro. A model file or URDF robot's filter is the same on its own
//!   model, measured through its description's mappings. Jacobians are exact (forward-mode AD over the same code that
//!   moves the state). Measurements may arrive late and out of order: the
//!   filter keeps `history_secs` of events and re-propagates from a
//!   measurement's stamp. Every update is gated by its Mahalanobis
//!   distance; an update that is not finite is refused and counted.
//! - Obstacles from depth images and planar lidar scans ([`ObstacleMapper`]).
//! - Hot targets from infrared images, placed with the registered depth
//!   ([`TargetFinder`]).
//! - A continuum arm's shape from a world-fixed depth camera: the pixels
//!   that land in its workspace, back-projected ([`ArmShape`]).
//! - [`Perception`]: the facade the loop calls with every reading; what it
//!   sees comes out as `recede_msg`'s [`WorldModel`](recede_msg::WorldModel).
//!
//! How obstacles and targets steer the MPC (constraint rows, the approach
//! to a target) is the controller's business: `recede-control`'s guidance.
//! Depends on msg and model only, never on the MPC, the simulator, the
//! viewer or the loop.

mod arm_shape;
mod config;
mod error;
mod kalman;
mod model_filter;
mod obstacles;
mod perception;
mod quadrotor;
mod registration;
mod targets;
mod timeline;

pub use arm_shape::ArmShape;
pub use config::{EkfConfig, ObstacleConfig, PerceptionConfig, TargetConfig};
pub use error::PerceptionError;
pub use kalman::Outcome;
pub use obstacles::{Detection, ObstacleMapper};
pub use perception::{Estimate, Perception, SensorStats};
/// The percept types, re-exported from `recede-msg` where they live.
pub use recede_msg::{Obstacle, ObstacleShape, Target, WorldModel};
pub use registration::Registration;
pub use targets::{Blob, TargetFinder};
