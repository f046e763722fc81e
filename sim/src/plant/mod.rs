//! True plants: each robot's nominal model plus the effects the controller's
//! model lacks, behind actuators that saturate, slew and lag, integrated with
//! RK4 at a fixed step (1 kHz by default), under scripted disturbances.

mod actuator;
mod arm;
mod cartpole;
mod continuum_arm;
mod diffdrive;
mod disturbance;
mod file;
mod quadrotor;
mod robot;
pub mod rod;
mod soft_cartpole;
mod true_plant;

pub use actuator::Actuator;
pub use arm::{ArmPlant, ArmTruth};
pub use cartpole::{CartPolePlant, CartPoleTruth};
pub use continuum_arm::{
    ContinuumArmPlant, ContinuumArmRod, ContinuumArmTruth, PayloadChange, MAX_SUBSTEP_SECS,
};
pub use diffdrive::{DiffDrivePlant, DiffDriveTruth};
pub use disturbance::{Disturbance, Disturbances, Environment};
pub use file::FileTruth;
pub use quadrotor::{QuadrotorPlant, QuadrotorTruth};
pub use robot::PlantRobot;
pub use soft_cartpole::{SoftCartPolePlant, SoftCartPoleTruth, SoftLinkPlant};
pub use true_plant::{TrueDynamics, TruePlant};

use nalgebra::{Isometry3, Vector3};

use crate::SimError;

/// The motion of the frame sensors are mounted on, at one instant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BodyState {
    pub world_from_body: Isometry3<f64>,
    /// Velocity of the body origin, world frame, m/s.
    pub velocity_world_mps: Vector3<f64>,
    /// Acceleration of the body origin, world frame, m/s^2 (gravity not included).
    pub accel_world_mps2: Vector3<f64>,
    /// Angular velocity, body frame, rad/s.
    pub angular_velocity_body_radps: Vector3<f64>,
    /// Angular acceleration, body frame, rad/s^2.
    pub angular_accel_body_radps2: Vector3<f64>,
}

/// A simulated robot as the simulator drives it. Object safe, so a scenario
/// can pick the robot at run time.
pub trait Plant: std::fmt::Debug + Send {
    /// The robot's `kind`, as a scenario's `[robot]` names it.
    fn kind(&self) -> &'static str;
    /// The true state, in the layout of the robot's nominal model.
    fn state(&self) -> &[f64];
    fn set_state(&mut self, x: &[f64]) -> Result<(), SimError>;
    fn input_len(&self) -> usize;
    /// The input the actuators apply now (after saturation, slew and lag).
    fn applied_input(&self) -> &[f64];
    /// The fixed integration step, s.
    fn step_secs(&self) -> f64;
    /// Integrates one step from `t_secs` under `command`.
    fn step(&mut self, t_secs: f64, command: &[f64]) -> Result<(), SimError>;
    /// The sensor-carrying body's motion now.
    fn body(&self) -> BodyState;
    /// Wheel or joint angles, rad, one per encoder channel.
    fn encoder_angles_rad(&self) -> &[f64];
    /// Points along a deformable body now, base to tip, world frame (the
    /// continuum arm's rod nodes), for the recording and the cameras;
    /// empty for a rigid robot. Its length never changes.
    fn shape_points(&self) -> &[[f64; 3]] {
        &[]
    }
    /// The radius of the body through [`Self::shape_points`], m (0 for a
    /// rigid robot): what the contact check and the clearance add to them.
    fn shape_radius_m(&self) -> f64 {
        0.0
    }
}

/// A plant's command as `NU` finite numbers: the length and NaN checks every
/// plant's `step` makes before it touches the actuators.
pub(crate) fn checked_command<const NU: usize>(command: &[f64]) -> Result<[f64; NU], SimError> {
    let cmd: [f64; NU] = command.try_into().map_err(|_| SimError::CommandLength {
        expected: NU,
        got: command.len(),
    })?;
    if let Some((index, &value)) = cmd.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(SimError::NonFiniteCommand { index, value });
    }
    Ok(cmd)
}
