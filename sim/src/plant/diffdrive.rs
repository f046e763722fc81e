use nalgebra::{Isometry3, SVector, Vector3};
use recede_model::robots::diffdrive::{NU, NX};
use recede_model::robots::DiffDrive;
use recede_model::{Dynamics, GRAVITY};

use super::{BodyState, Environment, TrueDynamics};
use recede_model::robots::{DiffDriveParams, Robot};
use serde::{Deserialize, Serialize};

use super::PlantRobot;
use crate::config::check::{fail, non_negative, number, positive};
use crate::ConfigError;

/// The differential-drive robot as the simulator runs it: the nominal
/// unicycle plus rolling resistance (`c_rr g tanh(v / smoothing)`), viscous
/// drag on speed and yaw rate, and longitudinal wheel slip (the wheels turn
/// `1 / (1 - slip)` times faster than the body moves, so odometry over-reads).
/// A push's component along the heading accelerates the robot by `F / mass`.
/// Actuator lag lives in the plant's [`super::Actuator`].
///
/// Sensors ride on the chassis (origin on the ground between the wheels).
/// Encoder channels: left and right wheel angles.
#[derive(Debug, Clone, PartialEq)]
pub struct DiffDriveTruth {
    pub nominal: DiffDrive,
    /// Dimensionless rolling-resistance coefficient.
    pub rolling_resistance: f64,
    pub coulomb_smoothing_mps: f64,
    /// 1/s on forward speed.
    pub speed_drag_per_sec: f64,
    /// 1/s on yaw rate.
    pub yaw_drag_per_sec: f64,
    /// In [0, 1).
    pub wheel_slip_ratio: f64,
    /// Mass used to turn pushes into accelerations, kg.
    pub mass_kg: f64,
}

impl DiffDriveTruth {
    pub fn without_effects(nominal: DiffDrive) -> Self {
        Self {
            nominal,
            rolling_resistance: 0.0,
            coulomb_smoothing_mps: 0.01,
            speed_drag_per_sec: 0.0,
            yaw_drag_per_sec: 0.0,
            wheel_slip_ratio: 0.0,
            mass_kg: 10.0,
        }
    }
}

impl TrueDynamics<NX, NU> for DiffDriveTruth {
    fn kind(&self) -> &'static str {
        <DiffDrive as Robot<NX, NU>>::KIND
    }

    fn derivative(
        &self,
        x: &SVector<f64, NX>,
        u: &SVector<f64, NU>,
        env: &Environment,
    ) -> SVector<f64, NX> {
        let mut xdot = self.nominal.derivative(x, u);
        let (yaw, v, yaw_rate) = (x[2], x[3], x[4]);
        let push = env.force_world_n.x * yaw.cos() + env.force_world_n.y * yaw.sin();
        xdot[3] += push / self.mass_kg
            - self.rolling_resistance * GRAVITY * (v / self.coulomb_smoothing_mps).tanh()
            - self.speed_drag_per_sec * v;
        xdot[4] -= self.yaw_drag_per_sec * yaw_rate;
        xdot
    }

    fn project(&self, x: &mut SVector<f64, NX>) {
        self.nominal.project(x);
    }

    fn body(&self, x: &SVector<f64, NX>, xdot: &SVector<f64, NX>) -> BodyState {
        let (yaw, v, yaw_rate) = (x[2], x[3], x[4]);
        let (s, c) = yaw.sin_cos();
        BodyState {
            world_from_body: Isometry3::new(Vector3::new(x[0], x[1], 0.0), Vector3::z() * yaw),
            velocity_world_mps: Vector3::new(v * c, v * s, 0.0),
            accel_world_mps2: Vector3::new(
                xdot[3] * c - v * yaw_rate * s,
                xdot[3] * s + v * yaw_rate * c,
                0.0,
            ),
            angular_velocity_body_radps: Vector3::new(0.0, 0.0, yaw_rate),
            angular_accel_body_radps2: Vector3::new(0.0, 0.0, xdot[4]),
        }
    }

    fn initial_encoder_angles(&self, _x: &SVector<f64, NX>) -> Vec<f64> {
        vec![0.0, 0.0]
    }

    fn update_encoder_angles(&self, x: &SVector<f64, NX>, h_secs: f64, angles: &mut [f64]) {
        let (left, right) = self.nominal.wheel_speeds_rad_s(x[3], x[4]);
        let gain = 1.0 / (1.0 - self.wheel_slip_ratio);
        if let [l, r] = angles {
            *l += left * gain * h_secs;
            *r += right * gain * h_secs;
        }
    }
}

/// `[plant.robot]` for the ground robot: its parameters and what its
/// controller does not know (rolling resistance, drag, slip; none unless
/// given).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiffDrivePlant {
    #[serde(default)]
    pub params: DiffDriveParams,
    #[serde(default)]
    pub rolling_resistance_coeff: f64,
    #[serde(default = "default_smoothing")]
    pub coulomb_smoothing_mps: f64,
    #[serde(default)]
    pub speed_drag_per_sec: f64,
    #[serde(default)]
    pub yaw_drag_per_sec: f64,
    #[serde(default)]
    pub wheel_slip_ratio: f64,
    #[serde(default = "default_mass")]
    pub mass_kg: f64,
}

fn default_smoothing() -> f64 {
    0.01
}
fn default_mass() -> f64 {
    10.0
}

impl PlantRobot<NX, NU> for DiffDrive {
    type Config = DiffDrivePlant;
    type Truth = DiffDriveTruth;

    fn params(c: &DiffDrivePlant) -> DiffDriveParams {
        c.params
    }
    fn exact(params: DiffDriveParams) -> DiffDrivePlant {
        DiffDrivePlant {
            params,
            rolling_resistance_coeff: 0.0,
            coulomb_smoothing_mps: default_smoothing(),
            speed_drag_per_sec: 0.0,
            yaw_drag_per_sec: 0.0,
            wheel_slip_ratio: 0.0,
            mass_kg: default_mass(),
        }
    }
    fn validate(c: &DiffDrivePlant, k: &str) -> Result<(), ConfigError> {
        non_negative(
            &format!("{k}.rolling_resistance_coeff"),
            c.rolling_resistance_coeff,
        )?;
        positive(
            &format!("{k}.coulomb_smoothing_mps"),
            c.coulomb_smoothing_mps,
        )?;
        non_negative(&format!("{k}.speed_drag_per_sec"), c.speed_drag_per_sec)?;
        non_negative(&format!("{k}.yaw_drag_per_sec"), c.yaw_drag_per_sec)?;
        positive(&format!("{k}.mass_kg"), c.mass_kg)?;
        if !(0.0..1.0).contains(&c.wheel_slip_ratio) {
            return Err(fail(
                &format!("{k}.wheel_slip_ratio"),
                "a value in [0, 1)",
                number(c.wheel_slip_ratio),
            ));
        }
        Ok(())
    }
    fn truth(c: &DiffDrivePlant, nominal: DiffDrive) -> DiffDriveTruth {
        DiffDriveTruth {
            nominal,
            rolling_resistance: c.rolling_resistance_coeff,
            coulomb_smoothing_mps: c.coulomb_smoothing_mps,
            speed_drag_per_sec: c.speed_drag_per_sec,
            yaw_drag_per_sec: c.yaw_drag_per_sec,
            wheel_slip_ratio: c.wheel_slip_ratio,
            mass_kg: c.mass_kg,
        }
    }
}
