use nalgebra::{Isometry3, Quaternion, SVector, Translation3, UnitQuaternion, Vector3};
use recede_model::robots::quadrotor::{
    rotation_from_quaternion, state_quaternion, BODY_RATE, NU, NX, POSITION, VELOCITY,
};
use recede_model::robots::Quadrotor;
use recede_model::Dynamics;

use super::{BodyState, Environment, TrueDynamics};
use recede_model::robots::{QuadrotorParams, Robot};
use serde::{Deserialize, Serialize};

use super::PlantRobot;
use crate::config::check::non_negative_all;
use crate::ConfigError;

/// The quadrotor as the simulator flies it: P2's nominal model plus
/// body-frame drag `F_b = -(D1 v_b + D2 |v_b| v_b)` (element-wise) with
/// `v_b = R(q)^T (v - wind)`, applied in the world frame as `R(q) F_b`, and
/// any external push `F / m`.
#[derive(Debug, Clone, PartialEq)]
pub struct QuadrotorTruth {
    pub nominal: Quadrotor,
    /// `D1`, N s/m per body axis.
    pub drag_linear: Vector3<f64>,
    /// `D2`, N s^2/m^2 per body axis.
    pub drag_quadratic: Vector3<f64>,
}

impl QuadrotorTruth {
    /// P2's true plant: D1 = (0.30, 0.30, 0.10), D2 = (0.025, 0.025, 0.015).
    pub fn p2(nominal: Quadrotor) -> Self {
        Self {
            nominal,
            drag_linear: Vector3::new(0.30, 0.30, 0.10),
            drag_quadratic: Vector3::new(0.025, 0.025, 0.015),
        }
    }
}

impl TrueDynamics<NX, NU> for QuadrotorTruth {
    fn kind(&self) -> &'static str {
        <Quadrotor as Robot<NX, NU>>::KIND
    }

    fn derivative(
        &self,
        x: &SVector<f64, NX>,
        u: &SVector<f64, NU>,
        env: &Environment,
    ) -> SVector<f64, NX> {
        let mut xdot = self.nominal.derivative(x, u);
        let r = rotation_from_quaternion(&state_quaternion(x));
        let v: Vector3<f64> = x.fixed_rows::<3>(VELOCITY).into_owned();
        let v_b = r.transpose() * (v - env.wind_world_mps);
        let f_b = -(self.drag_linear.component_mul(&v_b)
            + self
                .drag_quadratic
                .component_mul(&v_b.abs())
                .component_mul(&v_b));
        let accel = (r * f_b + env.force_world_n) / self.nominal.params.mass_kg;
        for i in 0..3 {
            xdot[VELOCITY + i] += accel[i];
        }
        xdot
    }

    fn project(&self, x: &mut SVector<f64, NX>) {
        self.nominal.project(x);
    }

    fn body(&self, x: &SVector<f64, NX>, xdot: &SVector<f64, NX>) -> BodyState {
        let q = state_quaternion(x);
        let rotation = UnitQuaternion::from_quaternion(Quaternion::new(q[0], q[1], q[2], q[3]));
        let p = x.fixed_rows::<3>(POSITION);
        BodyState {
            world_from_body: Isometry3::from_parts(Translation3::new(p[0], p[1], p[2]), rotation),
            velocity_world_mps: x.fixed_rows::<3>(VELOCITY).into_owned(),
            accel_world_mps2: xdot.fixed_rows::<3>(VELOCITY).into_owned(),
            angular_velocity_body_radps: x.fixed_rows::<3>(BODY_RATE).into_owned(),
            angular_accel_body_radps2: xdot.fixed_rows::<3>(BODY_RATE).into_owned(),
        }
    }

    fn initial_encoder_angles(&self, _x: &SVector<f64, NX>) -> Vec<f64> {
        Vec::new()
    }

    fn update_encoder_angles(&self, _x: &SVector<f64, NX>, _h_secs: f64, _angles: &mut [f64]) {}
}

/// `[plant.robot]` for the quadrotor: its parameters and the body-frame drag
/// its controller does not know (P2's unless given).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuadrotorPlant {
    #[serde(default)]
    pub params: QuadrotorParams,
    #[serde(default = "p2_drag_linear")]
    pub drag_linear_n_s_per_m: [f64; 3],
    #[serde(default = "p2_drag_quadratic")]
    pub drag_quadratic_n_s2_per_m2: [f64; 3],
}

fn p2_drag_linear() -> [f64; 3] {
    [0.30, 0.30, 0.10]
}
fn p2_drag_quadratic() -> [f64; 3] {
    [0.025, 0.025, 0.015]
}

impl PlantRobot<NX, NU> for Quadrotor {
    type Config = QuadrotorPlant;
    type Truth = QuadrotorTruth;
    const FEELS_GUSTS: bool = true;

    fn params(c: &QuadrotorPlant) -> QuadrotorParams {
        c.params
    }
    fn exact(params: QuadrotorParams) -> QuadrotorPlant {
        QuadrotorPlant {
            params,
            drag_linear_n_s_per_m: [0.0; 3],
            drag_quadratic_n_s2_per_m2: [0.0; 3],
        }
    }
    fn validate(c: &QuadrotorPlant, k: &str) -> Result<(), ConfigError> {
        non_negative_all(
            &format!("{k}.drag_linear_n_s_per_m"),
            &c.drag_linear_n_s_per_m,
        )?;
        non_negative_all(
            &format!("{k}.drag_quadratic_n_s2_per_m2"),
            &c.drag_quadratic_n_s2_per_m2,
        )
    }
    fn truth(c: &QuadrotorPlant, nominal: Quadrotor) -> QuadrotorTruth {
        QuadrotorTruth {
            nominal,
            drag_linear: Vector3::from(c.drag_linear_n_s_per_m),
            drag_quadratic: Vector3::from(c.drag_quadratic_n_s2_per_m2),
        }
    }
    fn rest_state() -> SVector<f64, NX> {
        Quadrotor::hover_state([0.0; 3])
    }
}
