//! The tendon-driven continuum arm as the simulator runs it: a discretised
//! Kirchhoff rod (`rod.rs`, 24 elements by default) with the controller's
//! tendon routing, its own damping, and a payload that can change mid-run.
//! It reports the PCC view of itself (each section's mean curvature) in the
//! layout of the controller's model; sensors ride on the tip.

use nalgebra::{Isometry3, SVector, UnitQuaternion, Vector2, Vector3};
use recede_model::robots::continuum_arm::{NS, NU, NX};
use recede_model::robots::{pcc, ContinuumArm, ContinuumArmParams, Robot};
use serde::{Deserialize, Serialize};

use super::rod::{Rod, Tip};
use super::{Actuator, BodyState, Disturbances, Environment, Plant, PlantRobot, TrueDynamics};
use crate::config::check::{fail, non_negative};
use crate::{ConfigError, SimError};

/// The longest integration step the rod takes, s: a plant step is split
/// into as many equal substeps as this needs. Accuracy of the slow modes
/// sets it (the integrator is A-stable; `rod.rs`).
pub const MAX_SUBSTEP_SECS: f64 = 1e-3;

/// The least Kelvin-Voigt retardation time the rod runs with, s. Undamped,
/// its zigzag modes (~4e3 rad/s) are pumped by the explicitly integrated
/// velocity products at millisecond steps until the run blows up;
/// 1e-4 s damps them (`rod.rs`).
pub const MIN_RETARDATION_SECS: f64 = 1e-4;

/// A payload that changes at a time: the mass at the tip from `at_secs` on.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PayloadChange {
    pub at_secs: f64,
    pub mass_kg: f64,
}

/// `[plant.robot]` for the continuum arm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContinuumArmPlant {
    #[serde(default)]
    pub params: ContinuumArmParams,
    /// Rod elements (20 to 60, a multiple of the 3 sections).
    #[serde(default = "default_elements")]
    pub elements: usize,
    /// The true Kelvin-Voigt retardation time, s; the model's when absent.
    #[serde(default)]
    pub retardation_time_secs: Option<f64>,
    #[serde(default)]
    pub payload_change: Option<PayloadChange>,
}

fn default_elements() -> usize {
    24
}

impl ContinuumArmPlant {
    /// The plant of `params` with the default rod and nothing else.
    pub fn of(params: ContinuumArmParams) -> Self {
        Self {
            params,
            elements: default_elements(),
            retardation_time_secs: None,
            payload_change: None,
        }
    }

    /// Checks what the model's parameters do not; errors name `key.<field>`.
    pub fn validate(&self, key: &str) -> Result<(), ConfigError> {
        if !(20..=60).contains(&self.elements) || !self.elements.is_multiple_of(NS) {
            return Err(fail(
                &format!("{key}.elements"),
                "20 to 60 elements, a multiple of the 3 sections",
                self.elements,
            ));
        }
        let (t, t_key) = match self.retardation_time_secs {
            Some(t) => (t, "retardation_time_secs"),
            None => (
                self.params.retardation_time_secs,
                "params.retardation_time_secs",
            ),
        };
        if !(t.is_finite() && t >= MIN_RETARDATION_SECS) {
            return Err(fail(
                &format!("{key}.{t_key}"),
                "a retardation time >= 1e-4 s (the rod's integrator needs some damping of its \
                 zigzag modes; docs/soft-robots.md)",
                t,
            ));
        }
        if let Some(change) = self.payload_change {
            non_negative(&format!("{key}.payload_change.at_secs"), change.at_secs)?;
            non_negative(&format!("{key}.payload_change.mass_kg"), change.mass_kg)?;
        }
        Ok(())
    }
}

/// The rod behind its tendons' actuators.
#[derive(Debug, Clone)]
pub struct ContinuumArmRod {
    rod: Rod,
    payload_change: Option<PayloadChange>,
    payload_kg: f64,
    actuator: Actuator<NU>,
    disturbances: Disturbances,
    step_secs: f64,
    substeps: usize,
    seen: [f64; NX],
    tip: Tip,
    /// The tip's mean accelerations over the last step (the IMU's).
    tip_accel: Vector2<f64>,
    angle_accel: f64,
    /// The centre line, base, hinges and tip, world frame (y = 0): what
    /// the recording draws and the cameras see.
    shape: Vec<[f64; 3]>,
}

impl ContinuumArmRod {
    pub fn new(
        config: &ContinuumArmPlant,
        actuator: Actuator<NU>,
        disturbances: Disturbances,
        step_secs: f64,
    ) -> Result<Self, SimError> {
        if !(step_secs.is_finite() && step_secs > 0.0) {
            return Err(SimError::BadTimeStep(step_secs));
        }
        config.params.validate().map_err(|source| SimError::Model {
            key: "plant.robot.params".into(),
            source,
        })?;
        config.validate("plant.robot")?;
        let retardation = config
            .retardation_time_secs
            .unwrap_or(config.params.retardation_time_secs);
        let mut plant = Self {
            rod: Rod::new(config.params, config.elements, NS, retardation),
            payload_change: config.payload_change,
            payload_kg: config.params.payload_mass_kg,
            actuator,
            disturbances,
            step_secs,
            substeps: (step_secs / MAX_SUBSTEP_SECS).ceil().max(1.0) as usize,
            seen: [0.0; NX],
            tip: Tip::default(),
            tip_accel: Vector2::zeros(),
            angle_accel: 0.0,
            shape: vec![[0.0; 3]; config.elements + 2],
        };
        plant.observe();
        Ok(plant)
    }

    /// The rod itself (tests and drawing).
    pub fn rod(&mut self) -> &mut Rod {
        &mut self.rod
    }

    pub fn substeps(&self) -> usize {
        self.substeps
    }

    /// The mass at the tip now, kg.
    pub fn payload_kg(&self) -> f64 {
        self.payload_kg
    }

    /// Kinetic, gravitational and bending energy, J.
    pub fn energy(&mut self) -> f64 {
        self.rod.energy(self.payload_kg)
    }

    fn observe(&mut self) {
        let (kappa, rate) = self.seen.split_at_mut(NS);
        self.rod.pcc_view(kappa, rate);
        self.tip = self.rod.tip();
        let (base, tip) = (Vector2::zeros(), self.tip.position);
        let points = std::iter::once(&base)
            .chain(self.rod.hinges())
            .chain(std::iter::once(&tip));
        for (out, p) in self.shape.iter_mut().zip(points) {
            *out = [p.x, 0.0, p.y];
        }
    }
}

impl Plant for ContinuumArmRod {
    fn kind(&self) -> &'static str {
        <ContinuumArm as Robot<NX, NU>>::KIND
    }

    fn state(&self) -> &[f64] {
        &self.seen
    }

    /// Lifts a PCC state: every hinge of a section takes its curvature.
    fn set_state(&mut self, x: &[f64]) -> Result<(), SimError> {
        if x.len() != NX {
            return Err(SimError::StateLength {
                expected: NX,
                got: x.len(),
            });
        }
        self.rod.set_pcc(&x[..NS], &x[NS..]);
        self.observe();
        Ok(())
    }

    fn input_len(&self) -> usize {
        NU
    }

    fn applied_input(&self) -> &[f64] {
        self.actuator.applied()
    }

    fn step_secs(&self) -> f64 {
        self.step_secs
    }

    fn step(&mut self, t_secs: f64, command: &[f64]) -> Result<(), SimError> {
        let cmd = super::checked_command::<NU>(command)?;
        let h = self.step_secs;
        if let Some(change) = self.payload_change {
            if t_secs + 0.5 * h >= change.at_secs {
                self.payload_kg = change.mass_kg;
            }
        }
        let env = self.disturbances.advance(t_secs, h);
        let tensions = *self.actuator.update(&cmd, h);
        let push = Vector2::new(env.force_world_n.x, env.force_world_n.z);
        let before = self.tip;
        let hs = h / self.substeps as f64;
        for _ in 0..self.substeps {
            if !self.rod.step(hs, &tensions, self.payload_kg, push) {
                return Err(SimError::NonFiniteState { t_secs: t_secs + h });
            }
        }
        if self
            .rod
            .q
            .iter()
            .chain(&self.rod.qd)
            .any(|v| !v.is_finite())
        {
            return Err(SimError::NonFiniteState { t_secs: t_secs + h });
        }
        self.observe();
        let after = self.tip;
        self.tip_accel = (after.velocity - before.velocity) / h;
        self.angle_accel = (after.angle_rate - before.angle_rate) / h;
        Ok(())
    }

    /// The tip: its x axis along the rod's tangent, y the world's (the
    /// arm bends in the x-z plane, positive angles from +x towards +z, a
    /// turn about -y). Accelerations are the last step's mean.
    fn body(&self) -> BodyState {
        let tip = self.tip;
        let attitude = UnitQuaternion::from_axis_angle(&-Vector3::y_axis(), tip.angle);
        BodyState {
            world_from_body: Isometry3::from_parts(
                Vector3::new(tip.position.x, 0.0, tip.position.y).into(),
                attitude,
            ),
            velocity_world_mps: Vector3::new(tip.velocity.x, 0.0, tip.velocity.y),
            accel_world_mps2: Vector3::new(self.tip_accel.x, 0.0, self.tip_accel.y),
            angular_velocity_body_radps: Vector3::new(0.0, -tip.angle_rate, 0.0),
            angular_accel_body_radps2: Vector3::new(0.0, -self.angle_accel, 0.0),
        }
    }

    fn encoder_angles_rad(&self) -> &[f64] {
        &[]
    }

    fn shape_points(&self) -> &[[f64; 3]] {
        &self.shape
    }

    fn shape_radius_m(&self) -> f64 {
        self.rod.params.radius_m
    }
}

/// The PCC model on its own state with the plant's damping and payload
/// (what `PlantRobot::truth` asks for; the scenario's plant is the rod).
#[derive(Debug, Clone, PartialEq)]
pub struct ContinuumArmTruth {
    pub nominal: ContinuumArm,
    pub retardation_secs: f64,
}

impl TrueDynamics<NX, NU> for ContinuumArmTruth {
    fn kind(&self) -> &'static str {
        <ContinuumArm as Robot<NX, NU>>::KIND
    }

    fn derivative(
        &self,
        x: &SVector<f64, NX>,
        u: &SVector<f64, NU>,
        _env: &Environment,
    ) -> SVector<f64, NX> {
        let q = SVector::<f64, NS>::from_fn(|i, _| x[i]);
        let qd = SVector::<f64, NS>::from_fn(|i, _| x[NS + i]);
        let p = &self.nominal.params;
        let qdd = pcc::acceleration(p, self.retardation_secs, &q, &qd, u.as_slice());
        SVector::from_fn(|i, _| if i < NS { qd[i] } else { qdd[i - NS] })
    }

    fn project(&self, _x: &mut SVector<f64, NX>) {}

    /// The tip, at rest-frame rates (used only by a model-state plant).
    fn body(&self, x: &SVector<f64, NX>, _xdot: &SVector<f64, NX>) -> BodyState {
        let q = SVector::<f64, NS>::from_fn(|i, _| x[i]);
        let ([tx, tz], angle) = pcc::tip(&self.nominal.params, &q);
        BodyState {
            world_from_body: Isometry3::from_parts(
                Vector3::new(tx, 0.0, tz).into(),
                UnitQuaternion::from_axis_angle(&-Vector3::y_axis(), angle),
            ),
            velocity_world_mps: Vector3::zeros(),
            accel_world_mps2: Vector3::zeros(),
            angular_velocity_body_radps: Vector3::zeros(),
            angular_accel_body_radps2: Vector3::zeros(),
        }
    }

    fn initial_encoder_angles(&self, _x: &SVector<f64, NX>) -> Vec<f64> {
        Vec::new()
    }

    fn update_encoder_angles(&self, _x: &SVector<f64, NX>, _h_secs: f64, _angles: &mut [f64]) {}
}

impl PlantRobot<NX, NU> for ContinuumArm {
    type Config = ContinuumArmPlant;
    type Truth = ContinuumArmTruth;

    fn params(c: &ContinuumArmPlant) -> ContinuumArmParams {
        c.params
    }
    /// The rod of the model's parameters: its discretisation is the only
    /// thing the controller does not know.
    fn exact(params: ContinuumArmParams) -> ContinuumArmPlant {
        ContinuumArmPlant::of(params)
    }
    fn validate(c: &ContinuumArmPlant, k: &str) -> Result<(), ConfigError> {
        c.validate(k)
    }
    fn truth(c: &ContinuumArmPlant, nominal: ContinuumArm) -> ContinuumArmTruth {
        ContinuumArmTruth {
            nominal,
            retardation_secs: c
                .retardation_time_secs
                .unwrap_or(nominal.params.retardation_time_secs),
        }
    }
    fn plant(
        c: &ContinuumArmPlant,
        _nominal: ContinuumArm,
        actuator: Actuator<NU>,
        disturbances: Disturbances,
        step_secs: f64,
    ) -> Result<Box<dyn Plant>, SimError> {
        Ok(Box::new(ContinuumArmRod::new(
            c,
            actuator,
            disturbances,
            step_secs,
        )?))
    }
}
