//! Cart-pole, exactly as reference problem P1.
//!
//! State `[p, theta, v, omega]` (theta = 0 upright), input `[F]` (N).

use nalgebra::SVector;
use serde::{Deserialize, Serialize};

use super::{Body, Pose, Robot};
use crate::error::check_positive;
use crate::{Bounds, Dynamics, ModelError, Scalar, GRAVITY};

pub const NX: usize = 4;
pub const NU: usize = 1;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CartPoleParams {
    pub cart_mass_kg: f64,
    pub pole_mass_kg: f64,
    pub pole_length_m: f64,
    /// Actuator limit on the cart force, |F| <= this (P1: 80 N).
    pub max_force_n: f64,
}

impl Default for CartPoleParams {
    fn default() -> Self {
        Self {
            cart_mass_kg: 1.0,
            pole_mass_kg: 0.1,
            pole_length_m: 0.8,
            max_force_n: 80.0,
        }
    }
}

impl CartPoleParams {
    pub fn validate(&self) -> Result<(), ModelError> {
        check_positive("cart_mass_kg", self.cart_mass_kg)?;
        check_positive("pole_mass_kg", self.pole_mass_kg)?;
        check_positive("pole_length_m", self.pole_length_m)?;
        check_positive("max_force_n", self.max_force_n)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct CartPole {
    pub params: CartPoleParams,
}

impl CartPole {
    pub fn new(params: CartPoleParams) -> Result<Self, ModelError> {
        params.validate()?;
        Ok(Self { params })
    }

    pub fn input_bounds(&self) -> Bounds<NU> {
        Bounds::symmetric([self.params.max_force_n])
    }
}

impl Dynamics<NX, NU> for CartPole {
    fn derivative<T: Scalar>(&self, x: &SVector<T, NX>, u: &SVector<T, NU>) -> SVector<T, NX> {
        let p = &self.params;
        let (big_m, m, l) = (p.cart_mass_kg, p.pole_mass_kg, p.pole_length_m);
        let (theta, v, omega, force) = (x[1], x[2], x[3], u[0]);
        let (s, co) = (theta.sin(), theta.cos());
        let d = co * co * (-m) + (big_m + m);
        let w2 = omega * omega;
        // Reciprocals, not division: keeps f64 and dual values bit-identical.
        let v_dot = (s * w2 * (-m * l) + co * s * (m * GRAVITY) + force) * d.recip();
        let omega_dot =
            (co * s * w2 * (-m * l) + force * co + s * ((big_m + m) * GRAVITY)) * (d * l).recip();
        SVector::<T, NX>::new(v, omega, v_dot, omega_dot)
    }
}

impl Robot<NX, NU> for CartPole {
    const KIND: &'static str = "cart_pole";
    const STATE_NAMES: &'static [&'static str; NX] = &["p", "theta", "v", "omega"];
    const INPUT_NAMES: &'static [&'static str; NU] = &["F"];
    const STATE_UNITS: &'static [&'static str; NX] = &["m", "rad", "m/s", "rad/s"];
    const INPUT_UNITS: &'static [&'static str; NU] = &["N"];
    const POSITION_STATES: usize = 0;
    type Params = CartPoleParams;

    fn from_params(params: CartPoleParams) -> Result<Self, ModelError> {
        Self::new(params)
    }
    fn input_bounds(&self) -> Bounds<NU> {
        CartPole::input_bounds(self)
    }
    /// The pole's tip.
    fn point(&self, x: &[f64; NX]) -> [f64; 3] {
        let l = self.params.pole_length_m;
        [x[0] - l * x[1].sin(), 0.0, l * x[1].cos()]
    }
    fn pose(&self, x: &[f64; NX]) -> Pose {
        Pose::CartPole {
            cart_position_m: x[0],
            pole_angle_rad: x[1],
        }
    }
    fn body(&self) -> Body {
        Body::CartPole {
            pole_length_m: self.params.pole_length_m,
            cart_width_m: 0.4,
            cart_height_m: 0.2,
        }
    }
}
