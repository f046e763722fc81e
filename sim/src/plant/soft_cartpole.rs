//! The soft cart-pole as the simulator runs it: the same PCS link as the
//! controller's model (`recede_model::robots::soft_link`) but with a finer
//! strain basis (`segments`, 3 by default: 11 coordinates, 22 states), its
//! own visco-elastic damping and cart friction.
//!
//! Integration: classic RK4, with the plant step split into as many
//! substeps as the link's stiffest mode needs (|lambda| h <= 0.5, from the
//! modes of the straight link at build time). Explicit is affordable here:
//! the 3-segment link's fastest mode is ~1.1e3 rad/s, so a 1 ms plant step
//! takes a few substeps (see docs/soft-robots.md for the numbers).

use nalgebra::{Isometry3, SMatrix, SVector, Vector3};
use num_dual::Dual64;
use recede_model::robots::soft_cartpole::{NQ as MODEL_NQ, NU, NX};
use recede_model::robots::{soft_link, Robot, SoftCartPole, SoftCartPoleParams};
use serde::{Deserialize, Serialize};

use super::{
    Actuator, BodyState, Disturbances, Environment, Plant, PlantRobot, TrueDynamics, TruePlant,
};
use crate::config::check::{fail, non_negative};
use crate::{ConfigError, SimError};

/// `[plant.robot]` for the soft cart-pole.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SoftCartPolePlant {
    #[serde(default)]
    pub params: SoftCartPoleParams,
    /// PCS segments of the true link (1 to 5); 1 is the controller's model.
    #[serde(default = "default_segments")]
    pub segments: usize,
    /// The true Kelvin-Voigt retardation time, s; the model's when absent.
    #[serde(default)]
    pub retardation_time_secs: Option<f64>,
    #[serde(default)]
    pub cart_viscous_friction_n_s_per_m: f64,
}

fn default_segments() -> usize {
    3
}

/// The 1-segment link with the plant's damping and friction, on the
/// model's state (what `segments = 1` runs).
#[derive(Debug, Clone, PartialEq)]
pub struct SoftCartPoleTruth {
    pub nominal: SoftCartPole,
    pub retardation_secs: f64,
    pub cart_viscous_friction: f64,
}

impl TrueDynamics<NX, NU> for SoftCartPoleTruth {
    fn kind(&self) -> &'static str {
        <SoftCartPole as Robot<NX, NU>>::KIND
    }

    fn derivative(
        &self,
        x: &SVector<f64, NX>,
        u: &SVector<f64, NU>,
        env: &Environment,
    ) -> SVector<f64, NX> {
        let q = SVector::<f64, MODEL_NQ>::from_fn(|i, _| x[i]);
        let qd = SVector::<f64, MODEL_NQ>::from_fn(|i, _| x[MODEL_NQ + i]);
        let force = u[0] - self.cart_viscous_friction * qd[0] + env.force_world_n.x;
        let p = &self.nominal.params;
        let qdd = soft_link::acceleration(p, self.retardation_secs, &q, &qd, force);
        SVector::from_fn(|i, _| {
            if i < MODEL_NQ {
                qd[i]
            } else {
                qdd[i - MODEL_NQ]
            }
        })
    }

    fn project(&self, _x: &mut SVector<f64, NX>) {}

    fn body(&self, x: &SVector<f64, NX>, xdot: &SVector<f64, NX>) -> BodyState {
        cart_body(x[0], x[MODEL_NQ], xdot[MODEL_NQ])
    }

    fn initial_encoder_angles(&self, x: &SVector<f64, NX>) -> Vec<f64> {
        vec![x[1]]
    }

    fn update_encoder_angles(&self, x: &SVector<f64, NX>, _h_secs: f64, angles: &mut [f64]) {
        if let Some(a) = angles.first_mut() {
            *a = x[1];
        }
    }
}

/// Sensors ride on the cart; the one encoder is the pivot angle.
fn cart_body(p: f64, v: f64, a: f64) -> BodyState {
    BodyState {
        world_from_body: Isometry3::translation(p, 0.0, 0.0),
        velocity_world_mps: Vector3::new(v, 0.0, 0.0),
        accel_world_mps2: Vector3::new(a, 0.0, 0.0),
        angular_velocity_body_radps: Vector3::zeros(),
        angular_accel_body_radps2: Vector3::zeros(),
    }
}

/// The link of `NQ = 2 + 3 segments` coordinates behind its actuator. Its
/// `state` is what a 1-segment model sees: cart, pivot and the single
/// segment with the same tip pose (`soft_link::equivalent_segment`), and
/// their rates.
#[derive(Debug, Clone)]
pub struct SoftLinkPlant<const NQ: usize> {
    params: SoftCartPoleParams,
    retardation_secs: f64,
    cart_viscous_friction: f64,
    actuator: Actuator<NU>,
    disturbances: Disturbances,
    step_secs: f64,
    substeps: usize,
    q: SVector<f64, NQ>,
    qd: SVector<f64, NQ>,
    env: Environment,
    seen: [f64; NX],
    encoders: [f64; 1],
}

impl<const NQ: usize> SoftLinkPlant<NQ> {
    pub fn new(
        config: &SoftCartPolePlant,
        actuator: Actuator<NU>,
        disturbances: Disturbances,
        step_secs: f64,
    ) -> Result<Self, SimError> {
        if !(step_secs.is_finite() && step_secs > 0.0) {
            return Err(SimError::BadTimeStep(step_secs));
        }
        let retardation_secs = config
            .retardation_time_secs
            .unwrap_or(config.params.retardation_time_secs);
        let rate = stiffest_rate::<NQ>(&config.params, retardation_secs);
        let needed = (rate * step_secs / 0.5).ceil().max(1.0);
        // A link this stiff or this damped is a file asking for hours of
        // RK4 (1e308 s of retardation once asked for usize::MAX substeps
        // and hung the run): refused, naming what sets the rate.
        if needed.is_nan() || needed > MAX_SUBSTEPS {
            let damping_sets_it = rate > stiffest_rate::<NQ>(&config.params, 0.0);
            let (key, value) = match config.retardation_time_secs {
                Some(t) if damping_sets_it => ("plant.robot.retardation_time_secs", t),
                None if damping_sets_it => {
                    ("plant.robot.params.retardation_time_secs", retardation_secs)
                }
                _ => (
                    "plant.robot.params.bending_stiffness_n_m2",
                    config.params.bending_stiffness_n_m2,
                ),
            };
            return Err(fail(
                key,
                &format!(
                    "a link the simulator can step at plant.integration_rate_hz \
                     in at most {MAX_SUBSTEPS} RK4 substeps (its stiffest rate is {rate:e} 1/s)"
                ),
                format!("{value:e}"),
            )
            .into());
        }
        let substeps = needed as usize;
        let mut plant = Self {
            params: config.params,
            retardation_secs,
            cart_viscous_friction: config.cart_viscous_friction_n_s_per_m,
            actuator,
            disturbances,
            step_secs,
            substeps,
            q: SVector::zeros(),
            qd: SVector::zeros(),
            env: Environment::default(),
            seen: [0.0; NX],
            encoders: [0.0],
        };
        plant.observe();
        Ok(plant)
    }

    /// RK4 substeps per plant step.
    pub fn substeps(&self) -> usize {
        self.substeps
    }

    /// The link's generalised coordinates and rates.
    pub fn coordinates(&self) -> (&SVector<f64, NQ>, &SVector<f64, NQ>) {
        (&self.q, &self.qd)
    }

    /// Kinetic, gravitational and strain energy, J.
    pub fn energy(&self) -> f64 {
        let a = soft_link::assemble(&self.params, &self.q, &self.qd);
        0.5 * self.qd.dot(&(a.mass * self.qd))
            + a.gravity_potential
            + soft_link::strain_energy(&self.params, &self.q)
    }

    fn acceleration(
        &self,
        q: &SVector<f64, NQ>,
        qd: &SVector<f64, NQ>,
        u: f64,
    ) -> SVector<f64, NQ> {
        let force = u - self.cart_viscous_friction * qd[0] + self.env.force_world_n.x;
        soft_link::acceleration(&self.params, self.retardation_secs, q, qd, force)
    }

    fn observe(&mut self) {
        let dual = SVector::<Dual64, NQ>::from_fn(|i, _| Dual64::new(self.q[i], self.qd[i]));
        let strain = soft_link::equivalent_segment(&self.params, &dual);
        self.seen = [
            self.q[0],
            self.q[1],
            strain[0].re,
            strain[1].re,
            strain[2].re,
            self.qd[0],
            self.qd[1],
            strain[0].eps,
            strain[1].eps,
            strain[2].eps,
        ];
        self.encoders[0] = self.q[1];
    }
}

/// The largest |eigenvalue| of the straight link's linearisation, 1/s:
/// `omega` of its stiffest mode, or `tau omega^2` where damping makes that
/// mode's decay faster still.
/// The most RK4 substeps one plant step may take.
const MAX_SUBSTEPS: f64 = 10_000.0;

fn stiffest_rate<const NQ: usize>(p: &SoftCartPoleParams, retardation_secs: f64) -> f64 {
    let zero = SVector::<f64, NQ>::zeros();
    let mass = soft_link::assemble(p, &zero, &zero).mass;
    let stiffness = SMatrix::<f64, NQ, NQ>::from_fn(|i, j| {
        let mut e = SVector::<f64, NQ>::zeros();
        e[j] = 1.0;
        -soft_link::elastic_forces(p, 0.0, &e, &zero)[i]
    });
    let Some(chol) = mass.cholesky() else {
        return f64::INFINITY;
    };
    let l_inv = chol.l().try_inverse().unwrap_or(SMatrix::identity());
    let reduced = l_inv * stiffness * l_inv.transpose();
    // Setup only: the dynamic matrix's decomposition allocates.
    let omega_sq = nalgebra::DMatrix::from_fn(NQ, NQ, |i, j| reduced[(i, j)])
        .symmetric_eigenvalues()
        .iter()
        .fold(0.0f64, |m, v| m.max(*v));
    let omega = omega_sq.sqrt();
    omega.max(retardation_secs * omega_sq)
}

impl<const NQ: usize> Plant for SoftLinkPlant<NQ> {
    fn kind(&self) -> &'static str {
        <SoftCartPole as Robot<NX, NU>>::KIND
    }

    fn state(&self) -> &[f64] {
        &self.seen
    }

    /// Lifts a 1-segment state: every segment takes its strains and rates
    /// (a PCS link of equal segments is the 1-segment link exactly).
    fn set_state(&mut self, x: &[f64]) -> Result<(), SimError> {
        if x.len() != NX {
            return Err(SimError::StateLength {
                expected: NX,
                got: x.len(),
            });
        }
        for i in 0..NQ {
            let k = if i < 2 { i } else { 2 + (i - 2) % 3 };
            self.q[i] = x[k];
            self.qd[i] = x[MODEL_NQ + k];
        }
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
        self.env = self.disturbances.advance(t_secs, h);
        let u = self.actuator.update(&cmd, h)[0];
        let hs = h / self.substeps as f64;
        let (mut q, mut qd) = (self.q, self.qd);
        for _ in 0..self.substeps {
            let k1 = (qd, self.acceleration(&q, &qd, u));
            let s2 = (q + k1.0 * (0.5 * hs), qd + k1.1 * (0.5 * hs));
            let k2 = (s2.1, self.acceleration(&s2.0, &s2.1, u));
            let s3 = (q + k2.0 * (0.5 * hs), qd + k2.1 * (0.5 * hs));
            let k3 = (s3.1, self.acceleration(&s3.0, &s3.1, u));
            let s4 = (q + k3.0 * hs, qd + k3.1 * hs);
            let k4 = (s4.1, self.acceleration(&s4.0, &s4.1, u));
            q += (k1.0 + (k2.0 + k3.0) * 2.0 + k4.0) * (hs / 6.0);
            qd += (k1.1 + (k2.1 + k3.1) * 2.0 + k4.1) * (hs / 6.0);
        }
        if q.iter().chain(qd.iter()).any(|v| !v.is_finite()) {
            return Err(SimError::NonFiniteState { t_secs: t_secs + h });
        }
        self.q = q;
        self.qd = qd;
        self.observe();
        Ok(())
    }

    fn body(&self) -> BodyState {
        let qdd = self.acceleration(&self.q, &self.qd, self.actuator.applied()[0]);
        cart_body(self.q[0], self.qd[0], qdd[0])
    }

    fn encoder_angles_rad(&self) -> &[f64] {
        &self.encoders
    }
}

impl PlantRobot<NX, NU> for SoftCartPole {
    type Config = SoftCartPolePlant;
    type Truth = SoftCartPoleTruth;

    fn params(c: &SoftCartPolePlant) -> SoftCartPoleParams {
        c.params
    }
    fn exact(params: SoftCartPoleParams) -> SoftCartPolePlant {
        SoftCartPolePlant {
            params,
            segments: 1,
            retardation_time_secs: None,
            cart_viscous_friction_n_s_per_m: 0.0,
        }
    }
    fn validate(c: &SoftCartPolePlant, k: &str) -> Result<(), ConfigError> {
        if !(1..=5).contains(&c.segments) {
            return Err(fail(&format!("{k}.segments"), "1 to 5", c.segments));
        }
        if let Some(t) = c.retardation_time_secs {
            non_negative(&format!("{k}.retardation_time_secs"), t)?;
        }
        non_negative(
            &format!("{k}.cart_viscous_friction_n_s_per_m"),
            c.cart_viscous_friction_n_s_per_m,
        )
    }
    fn truth(c: &SoftCartPolePlant, nominal: SoftCartPole) -> SoftCartPoleTruth {
        SoftCartPoleTruth {
            nominal,
            retardation_secs: c
                .retardation_time_secs
                .unwrap_or(nominal.params.retardation_time_secs),
            cart_viscous_friction: c.cart_viscous_friction_n_s_per_m,
        }
    }
    fn plant(
        c: &SoftCartPolePlant,
        nominal: SoftCartPole,
        actuator: Actuator<NU>,
        disturbances: Disturbances,
        step_secs: f64,
    ) -> Result<Box<dyn Plant>, SimError> {
        Ok(match c.segments {
            2 => Box::new(SoftLinkPlant::<8>::new(
                c,
                actuator,
                disturbances,
                step_secs,
            )?),
            3 => Box::new(SoftLinkPlant::<11>::new(
                c,
                actuator,
                disturbances,
                step_secs,
            )?),
            4 => Box::new(SoftLinkPlant::<14>::new(
                c,
                actuator,
                disturbances,
                step_secs,
            )?),
            5 => Box::new(SoftLinkPlant::<17>::new(
                c,
                actuator,
                disturbances,
                step_secs,
            )?),
            _ => Box::new(TruePlant::new(
                Self::truth(c, nominal),
                actuator,
                disturbances,
                step_secs,
                SVector::zeros(),
            )?),
        })
    }
}
