use nalgebra::{Isometry3, SVector, Translation3, UnitQuaternion, Vector3};
use recede_model::robots::arm::{NU, NX};
use recede_model::robots::Arm;
use recede_model::Dynamics;

use super::{BodyState, Environment, TrueDynamics};
use recede_model::robots::{ArmParams, Robot};
use serde::{Deserialize, Serialize};

use super::PlantRobot;
use crate::config::check::{finite_all, non_negative, non_negative_all, positive};
use crate::ConfigError;

/// The two-link arm as the simulator runs it: the nominal arm carrying an
/// extra payload at the tip that the controller does not know, plus joint
/// friction (viscous and smoothed Coulomb). A push acts at the tip.
///
/// Placement: the arm plane is the world x-z plane through `base_m` (arm x
/// = world x, arm y = world z, so gravity agrees). Sensors ride on the tip
/// frame: origin at the tip of link 2, x along link 2, y = world y.
/// Encoder channels: the two joint angles.
#[derive(Debug, Clone, PartialEq)]
pub struct ArmTruth {
    pub nominal: Arm,
    /// The arm the world runs: `nominal` with the extra payload added.
    actual: Arm,
    pub extra_payload_kg: f64,
    /// N m s/rad per joint.
    pub joint_viscous_friction: [f64; 2],
    /// N m per joint, applied as `c tanh(dq / smoothing)`.
    pub joint_coulomb_friction: [f64; 2],
    pub coulomb_smoothing_radps: f64,
    pub base_m: Vector3<f64>,
}

impl ArmTruth {
    pub fn new(
        nominal: Arm,
        extra_payload_kg: f64,
        joint_viscous_friction: [f64; 2],
        joint_coulomb_friction: [f64; 2],
        coulomb_smoothing_radps: f64,
        base_m: Vector3<f64>,
    ) -> Self {
        let mut actual = nominal;
        actual.params.payload_mass_kg += extra_payload_kg;
        Self {
            nominal,
            actual,
            extra_payload_kg,
            joint_viscous_friction,
            joint_coulomb_friction,
            coulomb_smoothing_radps,
            base_m,
        }
    }

    pub fn without_effects(nominal: Arm) -> Self {
        Self::new(nominal, 0.0, [0.0; 2], [0.0; 2], 0.01, Vector3::zeros())
    }

    /// Tip position, velocity and acceleration in the arm plane.
    fn tip(&self, x: &SVector<f64, NX>, xdot: &SVector<f64, NX>) -> [[f64; 2]; 3] {
        let p = &self.nominal.params;
        let (l1, l2) = (p.link1_length_m, p.link2_length_m);
        let (q1, q12) = (x[0], x[0] + x[1]);
        let (w1, w12) = (x[2], x[2] + x[3]);
        let (a1, a12) = (xdot[2], xdot[2] + xdot[3]);
        let (s1, c1) = q1.sin_cos();
        let (s12, c12) = q12.sin_cos();
        [
            [l1 * c1 + l2 * c12, l1 * s1 + l2 * s12],
            [
                -l1 * s1 * w1 - l2 * s12 * w12,
                l1 * c1 * w1 + l2 * c12 * w12,
            ],
            [
                -l1 * (c1 * w1 * w1 + s1 * a1) - l2 * (c12 * w12 * w12 + s12 * a12),
                l1 * (-s1 * w1 * w1 + c1 * a1) + l2 * (-s12 * w12 * w12 + c12 * a12),
            ],
        ]
    }
}

impl TrueDynamics<NX, NU> for ArmTruth {
    fn kind(&self) -> &'static str {
        <Arm as Robot<NX, NU>>::KIND
    }

    fn derivative(
        &self,
        x: &SVector<f64, NX>,
        u: &SVector<f64, NU>,
        env: &Environment,
    ) -> SVector<f64, NX> {
        let s = self.coulomb_smoothing_radps;
        let mut tau = *u;
        for j in 0..2 {
            let dq = x[2 + j];
            tau[j] -= self.joint_viscous_friction[j] * dq
                + self.joint_coulomb_friction[j] * (dq / s).tanh();
        }
        let f = env.force_world_n;
        if f.x != 0.0 || f.z != 0.0 {
            // tau += J^T F with F in the arm plane (world x, world z).
            let p = &self.nominal.params;
            let (l1, l2) = (p.link1_length_m, p.link2_length_m);
            let (s1, c1) = x[0].sin_cos();
            let (s12, c12) = (x[0] + x[1]).sin_cos();
            let j2 = [-l2 * s12, l2 * c12];
            let j1 = [-l1 * s1 + j2[0], l1 * c1 + j2[1]];
            tau[0] += j1[0] * f.x + j1[1] * f.z;
            tau[1] += j2[0] * f.x + j2[1] * f.z;
        }
        self.actual.derivative(x, &tau)
    }

    fn project(&self, x: &mut SVector<f64, NX>) {
        self.actual.project(x);
    }

    fn body(&self, x: &SVector<f64, NX>, xdot: &SVector<f64, NX>) -> BodyState {
        let [p, v, a] = self.tip(x, xdot);
        let phi = x[0] + x[1];
        // Turning arm x towards arm y (world z) is a rotation about -y.
        let rotation = UnitQuaternion::from_axis_angle(&-Vector3::y_axis(), phi);
        let plane = |q: [f64; 2]| Vector3::new(q[0], 0.0, q[1]);
        BodyState {
            world_from_body: Isometry3::from_parts(
                Translation3::from(self.base_m + plane(p)),
                rotation,
            ),
            velocity_world_mps: plane(v),
            accel_world_mps2: plane(a),
            angular_velocity_body_radps: Vector3::new(0.0, -(x[2] + x[3]), 0.0),
            angular_accel_body_radps2: Vector3::new(0.0, -(xdot[2] + xdot[3]), 0.0),
        }
    }

    fn initial_encoder_angles(&self, x: &SVector<f64, NX>) -> Vec<f64> {
        vec![x[0], x[1]]
    }

    fn update_encoder_angles(&self, x: &SVector<f64, NX>, _h_secs: f64, angles: &mut [f64]) {
        if let [a, b] = angles {
            *a = x[0];
            *b = x[1];
        }
    }
}

/// `[plant.robot]` for the arm: its parameters, where its base is, and the
/// payload and joint friction its controller does not know (none unless
/// given).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArmPlant {
    #[serde(default)]
    pub params: ArmParams,
    #[serde(default)]
    pub extra_payload_kg: f64,
    #[serde(default)]
    pub joint_viscous_friction_n_m_s_per_rad: [f64; 2],
    #[serde(default)]
    pub joint_coulomb_friction_n_m: [f64; 2],
    #[serde(default = "default_smoothing")]
    pub coulomb_smoothing_radps: f64,
    #[serde(default)]
    pub base_m: [f64; 3],
}

fn default_smoothing() -> f64 {
    0.01
}

impl PlantRobot<NX, NU> for Arm {
    type Config = ArmPlant;
    type Truth = ArmTruth;

    fn params(c: &ArmPlant) -> ArmParams {
        c.params
    }
    fn exact(params: ArmParams) -> ArmPlant {
        ArmPlant {
            params,
            extra_payload_kg: 0.0,
            joint_viscous_friction_n_m_s_per_rad: [0.0; 2],
            joint_coulomb_friction_n_m: [0.0; 2],
            coulomb_smoothing_radps: default_smoothing(),
            base_m: [0.0; 3],
        }
    }
    fn validate(c: &ArmPlant, k: &str) -> Result<(), ConfigError> {
        non_negative(&format!("{k}.extra_payload_kg"), c.extra_payload_kg)?;
        non_negative_all(
            &format!("{k}.joint_viscous_friction_n_m_s_per_rad"),
            &c.joint_viscous_friction_n_m_s_per_rad,
        )?;
        non_negative_all(
            &format!("{k}.joint_coulomb_friction_n_m"),
            &c.joint_coulomb_friction_n_m,
        )?;
        positive(
            &format!("{k}.coulomb_smoothing_radps"),
            c.coulomb_smoothing_radps,
        )?;
        finite_all(&format!("{k}.base_m"), &c.base_m)
    }
    fn truth(c: &ArmPlant, nominal: Arm) -> ArmTruth {
        ArmTruth::new(
            nominal,
            c.extra_payload_kg,
            c.joint_viscous_friction_n_m_s_per_rad,
            c.joint_coulomb_friction_n_m,
            c.coulomb_smoothing_radps,
            Vector3::from(c.base_m),
        )
    }
}
