//! Soft cart-pole: P1's cart with the pole replaced by a soft link, the
//! controller's model being one piecewise-constant-strain segment
//! (`soft_link`): bend, stretch and shear.
//!
//! State `[p, theta, kappa, epsilon, gamma, v, omega, kappa', epsilon',
//! gamma']` (theta = 0 upright, the link's base angle on its pivot;
//! `kappa` 1/m, stretch `1 + epsilon`, shear `gamma`), input `[F]` (N).

use nalgebra::SVector;
use serde::{Deserialize, Serialize};

use super::soft_link;
use super::{Body, Pose, Robot};
use crate::error::{check_non_negative, check_positive};
use crate::{Bounds, Dynamics, ModelError, Scalar, Tangent};

/// Generalised coordinates of the 1-segment link: cart, pivot, 3 strains.
pub const NQ: usize = 5;
pub const NX: usize = 2 * NQ;
pub const NU: usize = 1;

/// The link's physical parameters, shared by the controller's model and
/// the simulator's finer plant. The defaults put the 1-segment link's
/// modes, upright at rest, at 3.7 (the pole falling), 43, 58 and 195
/// rad/s: the last (the link's own mass swinging between its fixed ends)
/// sets the model's RK4 step (10 ms: two substeps of 20 ms).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SoftCartPoleParams {
    pub cart_mass_kg: f64,
    /// The link's own mass, spread evenly along it.
    pub link_mass_kg: f64,
    pub link_length_m: f64,
    /// Radius of the link's round section (its slices' rotary inertia).
    pub link_radius_m: f64,
    /// The body at the link's tip.
    pub tip_mass_kg: f64,
    pub tip_inertia_kg_m2: f64,
    /// EI, N m^2.
    pub bending_stiffness_n_m2: f64,
    /// EA, N.
    pub axial_stiffness_n: f64,
    /// GA (with its shear coefficient), N.
    pub shear_stiffness_n: f64,
    /// Kelvin-Voigt retardation time of every strain, s (damping = this x
    /// stiffness).
    pub retardation_time_secs: f64,
    /// Actuator limit on the cart force, |F| <= this (P1: 80 N).
    pub max_force_n: f64,
}

impl Default for SoftCartPoleParams {
    fn default() -> Self {
        Self {
            cart_mass_kg: 1.0,
            link_mass_kg: 0.1,
            link_length_m: 0.8,
            link_radius_m: 0.02,
            tip_mass_kg: 0.1,
            tip_inertia_kg_m2: 2e-3,
            bending_stiffness_n_m2: 3.0,
            axial_stiffness_n: 200.0,
            shear_stiffness_n: 30.0,
            retardation_time_secs: 0.002,
            max_force_n: 80.0,
        }
    }
}

impl SoftCartPoleParams {
    pub fn validate(&self) -> Result<(), ModelError> {
        check_positive("cart_mass_kg", self.cart_mass_kg)?;
        check_positive("link_mass_kg", self.link_mass_kg)?;
        check_positive("link_length_m", self.link_length_m)?;
        check_positive("link_radius_m", self.link_radius_m)?;
        check_positive("tip_mass_kg", self.tip_mass_kg)?;
        check_non_negative("tip_inertia_kg_m2", self.tip_inertia_kg_m2)?;
        check_positive("bending_stiffness_n_m2", self.bending_stiffness_n_m2)?;
        check_positive("axial_stiffness_n", self.axial_stiffness_n)?;
        check_positive("shear_stiffness_n", self.shear_stiffness_n)?;
        check_non_negative("retardation_time_secs", self.retardation_time_secs)?;
        check_positive("max_force_n", self.max_force_n)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SoftCartPole {
    pub params: SoftCartPoleParams,
}

impl SoftCartPole {
    pub fn new(params: SoftCartPoleParams) -> Result<Self, ModelError> {
        params.validate()?;
        Ok(Self { params })
    }

    pub fn input_bounds(&self) -> Bounds<NU> {
        Bounds::symmetric([self.params.max_force_n])
    }

    /// Kinetic, gravitational and strain energy at `x`, J.
    pub fn energy(&self, x: &SVector<f64, NX>) -> f64 {
        let (q, qd) = split(x);
        let a = soft_link::assemble(&self.params, &q, &qd);
        0.5 * qd.dot(&(a.mass * qd))
            + a.gravity_potential
            + soft_link::strain_energy(&self.params, &q)
    }
}

fn split<T: Scalar>(x: &SVector<T, NX>) -> (SVector<T, NQ>, SVector<T, NQ>) {
    (
        SVector::from_fn(|i, _| x[i]),
        SVector::from_fn(|i, _| x[NQ + i]),
    )
}

impl Dynamics<NX, NU> for SoftCartPole {
    fn derivative<T: Scalar>(&self, x: &SVector<T, NX>, u: &SVector<T, NU>) -> SVector<T, NX> {
        let (q, qd) = split(x);
        let p = &self.params;
        let qdd = soft_link::acceleration(p, p.retardation_time_secs, &q, &qd, u[0]);
        SVector::from_fn(|i, _| if i < NQ { qd[i] } else { qdd[i - NQ] })
    }

    /// By [`soft_link::acceleration_tangent`]: the mass matrix's and the
    /// bias's derivatives in closed form and one f64 Cholesky factor for
    /// every column (before: the assembly on 4-direction duals, twice).
    fn derivative_tangent(
        &self,
        x: &SVector<f64, NX>,
        u: &SVector<f64, NU>,
    ) -> Option<Tangent<NX, NU>> {
        let (q, qd) = split(x);
        let p = &self.params;
        let (a, d_q, d_qd, d_f) =
            soft_link::acceleration_tangent(p, p.retardation_time_secs, &q, &qd, u[0]);
        let mut t = Tangent::zeros();
        for i in 0..NQ {
            t.value[i] = qd[i];
            t.value[NQ + i] = a[i];
            t.d_x[(i, NQ + i)] = 1.0;
            t.d_u[(NQ + i, 0)] = d_f[i];
            for j in 0..NQ {
                t.d_x[(NQ + i, j)] = d_q[(i, j)];
                t.d_x[(NQ + i, NQ + j)] = d_qd[(i, j)];
            }
        }
        Some(t)
    }
}

impl Robot<NX, NU> for SoftCartPole {
    const KIND: &'static str = "soft_cart_pole";
    const STATE_NAMES: &'static [&'static str; NX] = &[
        "p",
        "theta",
        "kappa",
        "epsilon",
        "gamma",
        "v",
        "omega",
        "kappa_dot",
        "epsilon_dot",
        "gamma_dot",
    ];
    const INPUT_NAMES: &'static [&'static str; NU] = &["F"];
    const STATE_UNITS: &'static [&'static str; NX] = &[
        "m", "rad", "1/m", "", "", "m/s", "rad/s", "1/m/s", "1/s", "1/s",
    ];
    const INPUT_UNITS: &'static [&'static str; NU] = &["N"];
    const POSITION_STATES: usize = 0;
    type Params = SoftCartPoleParams;

    fn from_params(params: SoftCartPoleParams) -> Result<Self, ModelError> {
        Self::new(params)
    }
    fn input_bounds(&self) -> Bounds<NU> {
        SoftCartPole::input_bounds(self)
    }
    /// The link's tip.
    fn point(&self, x: &[f64; NX]) -> [f64; 3] {
        let q = SVector::<f64, NQ>::from_fn(|i, _| x[i]);
        let ([tx, tz], _) = soft_link::tip(&self.params, &q);
        [tx, 0.0, tz]
    }
    /// Drawn as a straight pole from the pivot to the tip (its chord).
    fn pose(&self, x: &[f64; NX]) -> Pose {
        let [tx, _, tz] = self.point(x);
        Pose::CartPole {
            cart_position_m: x[0],
            pole_angle_rad: (x[0] - tx).atan2(tz),
        }
    }
    fn body(&self) -> Body {
        Body::CartPole {
            pole_length_m: self.params.link_length_m,
            cart_width_m: 0.4,
            cart_height_m: 0.2,
        }
    }
}
