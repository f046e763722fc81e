use nalgebra::{Isometry3, SVector, Vector3};
use recede_model::robots::cartpole::{NU, NX};
use recede_model::robots::CartPole;
use recede_model::Dynamics;

use super::{BodyState, Environment, TrueDynamics};
use recede_model::robots::{CartPoleParams, Robot};
use serde::{Deserialize, Serialize};

use super::PlantRobot;
use crate::config::check::{non_negative, positive};
use crate::ConfigError;

/// The cart-pole as the simulator runs it: P1's model plus cart friction
/// (viscous and smoothed Coulomb, a force against the cart's motion) and a
/// damping torque at the pivot. The x component of a push acts on the cart.
///
/// Sensors ride on the cart (no rotation, moving along world x). The one
/// encoder channel is the pole angle.
#[derive(Debug, Clone, PartialEq)]
pub struct CartPoleTruth {
    pub nominal: CartPole,
    /// N s/m.
    pub cart_viscous_friction: f64,
    /// N, applied as `mu tanh(v / smoothing)`.
    pub cart_coulomb_friction: f64,
    /// m/s; the speed over which Coulomb friction builds up.
    pub coulomb_smoothing_mps: f64,
    /// N m s/rad at the pivot.
    pub pole_damping: f64,
}

impl CartPoleTruth {
    pub fn without_effects(nominal: CartPole) -> Self {
        Self {
            nominal,
            cart_viscous_friction: 0.0,
            cart_coulomb_friction: 0.0,
            coulomb_smoothing_mps: 0.01,
            pole_damping: 0.0,
        }
    }
}

impl TrueDynamics<NX, NU> for CartPoleTruth {
    fn kind(&self) -> &'static str {
        <CartPole as Robot<NX, NU>>::KIND
    }

    fn derivative(
        &self,
        x: &SVector<f64, NX>,
        u: &SVector<f64, NU>,
        env: &Environment,
    ) -> SVector<f64, NX> {
        let (theta, v, omega) = (x[1], x[2], x[3]);
        let friction = self.cart_viscous_friction * v
            + self.cart_coulomb_friction * (v / self.coulomb_smoothing_mps).tanh();
        let force = SVector::<f64, NU>::new(u[0] - friction + env.force_world_n.x);
        let mut xdot = self.nominal.derivative(x, &force);
        // A pivot torque tau adds c tau / (l d) to v' and
        // tau / (m l^2) + c^2 tau / (l^2 d) to omega'.
        let p = &self.nominal.params;
        let (m, l) = (p.pole_mass_kg, p.pole_length_m);
        let c = theta.cos();
        let d = p.cart_mass_kg + m - m * c * c;
        let tau = -self.pole_damping * omega;
        xdot[2] += c * tau / (l * d);
        xdot[3] += tau / (m * l * l) + c * c * tau / (l * l * d);
        xdot
    }

    fn project(&self, x: &mut SVector<f64, NX>) {
        self.nominal.project(x);
    }

    fn body(&self, x: &SVector<f64, NX>, xdot: &SVector<f64, NX>) -> BodyState {
        BodyState {
            world_from_body: Isometry3::translation(x[0], 0.0, 0.0),
            velocity_world_mps: Vector3::new(x[2], 0.0, 0.0),
            accel_world_mps2: Vector3::new(xdot[2], 0.0, 0.0),
            angular_velocity_body_radps: Vector3::zeros(),
            angular_accel_body_radps2: Vector3::zeros(),
        }
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

/// `[plant.robot]` for the cart-pole: its parameters and the friction its
/// controller does not know (none unless given).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CartPolePlant {
    #[serde(default)]
    pub params: CartPoleParams,
    #[serde(default)]
    pub cart_viscous_friction_n_s_per_m: f64,
    #[serde(default)]
    pub cart_coulomb_friction_n: f64,
    #[serde(default = "default_smoothing")]
    pub coulomb_smoothing_mps: f64,
    #[serde(default)]
    pub pole_damping_n_m_s_per_rad: f64,
}

fn default_smoothing() -> f64 {
    0.01
}

impl PlantRobot<NX, NU> for CartPole {
    type Config = CartPolePlant;
    type Truth = CartPoleTruth;

    fn params(c: &CartPolePlant) -> CartPoleParams {
        c.params
    }
    fn exact(params: CartPoleParams) -> CartPolePlant {
        CartPolePlant {
            params,
            cart_viscous_friction_n_s_per_m: 0.0,
            cart_coulomb_friction_n: 0.0,
            coulomb_smoothing_mps: default_smoothing(),
            pole_damping_n_m_s_per_rad: 0.0,
        }
    }
    fn validate(c: &CartPolePlant, k: &str) -> Result<(), ConfigError> {
        non_negative(
            &format!("{k}.cart_viscous_friction_n_s_per_m"),
            c.cart_viscous_friction_n_s_per_m,
        )?;
        non_negative(
            &format!("{k}.cart_coulomb_friction_n"),
            c.cart_coulomb_friction_n,
        )?;
        positive(
            &format!("{k}.coulomb_smoothing_mps"),
            c.coulomb_smoothing_mps,
        )?;
        non_negative(
            &format!("{k}.pole_damping_n_m_s_per_rad"),
            c.pole_damping_n_m_s_per_rad,
        )
    }
    fn truth(c: &CartPolePlant, nominal: CartPole) -> CartPoleTruth {
        CartPoleTruth {
            nominal,
            cart_viscous_friction: c.cart_viscous_friction_n_s_per_m,
            cart_coulomb_friction: c.cart_coulomb_friction_n,
            coulomb_smoothing_mps: c.coulomb_smoothing_mps,
            pole_damping: c.pole_damping_n_m_s_per_rad,
        }
    }
}
