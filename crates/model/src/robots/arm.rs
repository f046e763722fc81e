//! Planar two-link arm with full rigid-body dynamics.
//!
//! State (4) `[q1, q2, dq1, dq2]`: joint angles (rad) and rates (rad/s); `q1`
//! is link 1's angle from the horizontal `+x` axis of the arm plane, `q2` is
//! link 2's angle relative to link 1, both counter-clockwise positive. Input
//! (2) `[tau1, tau2]`: joint torques (N m). Gravity acts along `-y`.
//!
//! `M(q) q'' + C(q, q') q' + g(q) = tau`, solved in closed form (2x2).
//!
//! Mass model: each link is a rigid body with its centre of mass at its
//! midpoint and moment of inertia `linkN_inertia_kg_m2` about that centre
//! (the defaults are uniform rods, `m l^2 / 12`; zero gives a point mass at
//! the midpoint). An optional payload is a point mass at the tip of link 2.
//! No joint friction.

use nalgebra::{Matrix2, SVector};
use serde::{Deserialize, Serialize};

use super::{Body, Pose, Robot};
use crate::error::{check_non_negative, check_positive};
use crate::{c, Bounds, Dynamics, ModelError, Scalar, GRAVITY};

pub const NX: usize = 4;
pub const NU: usize = 2;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ArmParams {
    pub link1_length_m: f64,
    pub link2_length_m: f64,
    pub link1_mass_kg: f64,
    pub link2_mass_kg: f64,
    /// Moment of inertia of link 1 about its centre of mass (its midpoint).
    pub link1_inertia_kg_m2: f64,
    /// Moment of inertia of link 2 about its centre of mass (its midpoint).
    pub link2_inertia_kg_m2: f64,
    /// Point mass at the tip of link 2 (0 = no payload).
    pub payload_mass_kg: f64,
    /// `|tau1| <= max_torque1_n_m`.
    pub max_torque1_n_m: f64,
    /// `|tau2| <= max_torque2_n_m`.
    pub max_torque2_n_m: f64,
}

impl Default for ArmParams {
    fn default() -> Self {
        Self {
            link1_length_m: 0.5,
            link2_length_m: 0.5,
            link1_mass_kg: 1.0,
            link2_mass_kg: 1.0,
            link1_inertia_kg_m2: 1.0 * 0.5 * 0.5 / 12.0,
            link2_inertia_kg_m2: 1.0 * 0.5 * 0.5 / 12.0,
            payload_mass_kg: 0.0,
            max_torque1_n_m: 20.0,
            max_torque2_n_m: 10.0,
        }
    }
}

impl ArmParams {
    pub fn validate(&self) -> Result<(), ModelError> {
        check_positive("link1_length_m", self.link1_length_m)?;
        check_positive("link2_length_m", self.link2_length_m)?;
        check_positive("link1_mass_kg", self.link1_mass_kg)?;
        check_positive("link2_mass_kg", self.link2_mass_kg)?;
        check_non_negative("link1_inertia_kg_m2", self.link1_inertia_kg_m2)?;
        check_non_negative("link2_inertia_kg_m2", self.link2_inertia_kg_m2)?;
        check_non_negative("payload_mass_kg", self.payload_mass_kg)?;
        check_positive("max_torque1_n_m", self.max_torque1_n_m)?;
        check_positive("max_torque2_n_m", self.max_torque2_n_m)
    }
}

/// Constants of the mass matrix and gravity terms, from the parameters.
#[derive(Debug, Clone, Copy)]
struct Lumped {
    /// Inertia of link 1 about joint 1, plus the rest of the arm's mass at the elbow.
    a1: f64,
    /// Inertia of link 2 and payload about joint 2.
    a2: f64,
    /// Coupling `l1 (m2 lc2 + mp l2)`.
    b: f64,
    /// First moments of mass: `m1 lc1 + (m2 + mp) l1` and `m2 lc2 + mp l2`.
    k1: f64,
    k2: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Arm {
    pub params: ArmParams,
}

impl Arm {
    pub fn new(params: ArmParams) -> Result<Self, ModelError> {
        params.validate()?;
        Ok(Self { params })
    }

    fn lumped(&self) -> Lumped {
        let p = &self.params;
        let (l1, l2) = (p.link1_length_m, p.link2_length_m);
        let (lc1, lc2) = (0.5 * l1, 0.5 * l2);
        let (m1, m2, mp) = (p.link1_mass_kg, p.link2_mass_kg, p.payload_mass_kg);
        let k2 = m2 * lc2 + mp * l2;
        Lumped {
            a1: p.link1_inertia_kg_m2 + m1 * lc1 * lc1 + (m2 + mp) * l1 * l1,
            a2: p.link2_inertia_kg_m2 + m2 * lc2 * lc2 + mp * l2 * l2,
            b: l1 * k2,
            k1: m1 * lc1 + (m2 + mp) * l1,
            k2,
        }
    }

    /// The joint-space mass matrix `M(q)`; it depends on `q2` only.
    pub fn mass_matrix<T: Scalar>(&self, q2: T) -> Matrix2<T> {
        let k = self.lumped();
        let c2 = q2.cos();
        let m12 = c2 * k.b + k.a2;
        Matrix2::new(c2 * (2.0 * k.b) + (k.a1 + k.a2), m12, m12, c(k.a2))
    }

    /// Kinetic plus potential energy, J (potential zero with both links horizontal).
    pub fn energy_j(&self, x: &SVector<f64, NX>) -> f64 {
        let k = self.lumped();
        let dq = nalgebra::Vector2::new(x[2], x[3]);
        let kinetic = 0.5 * dq.dot(&(self.mass_matrix(x[1]) * dq));
        let potential = GRAVITY * (k.k1 * x[0].sin() + k.k2 * (x[0] + x[1]).sin());
        kinetic + potential
    }

    /// Elbow (end of link 1) in the arm plane, m, joint 1 at the origin.
    pub fn elbow_position_m(&self, x: &SVector<f64, NX>) -> [f64; 2] {
        let l1 = self.params.link1_length_m;
        [l1 * x[0].cos(), l1 * x[0].sin()]
    }

    /// Tip of link 2 in the arm plane, m, joint 1 at the origin.
    pub fn tip_position_m(&self, x: &SVector<f64, NX>) -> [f64; 2] {
        let [ex, ey] = self.elbow_position_m(x);
        let l2 = self.params.link2_length_m;
        let q12 = x[0] + x[1];
        [ex + l2 * q12.cos(), ey + l2 * q12.sin()]
    }

    /// `|tau_i| <= max_torque{i}_n_m`.
    pub fn input_bounds(&self) -> Bounds<NU> {
        Bounds::symmetric([self.params.max_torque1_n_m, self.params.max_torque2_n_m])
    }

    /// No joint limits: every state entry is unbounded.
    pub fn state_bounds(&self) -> Bounds<NX> {
        Bounds::unbounded()
    }
}

impl Dynamics<NX, NU> for Arm {
    fn derivative<T: Scalar>(&self, x: &SVector<T, NX>, u: &SVector<T, NU>) -> SVector<T, NX> {
        let k = self.lumped();
        let (q1, q2, dq1, dq2) = (x[0], x[1], x[2], x[3]);
        let (s2, c2) = (q2.sin(), q2.cos());
        let m11 = c2 * (2.0 * k.b) + (k.a1 + k.a2);
        let m12 = c2 * k.b + k.a2;
        let m22: T = c(k.a2);

        // C(q, q') q' with h = b sin q2.
        let h = s2 * k.b;
        let cor1 = -h * (dq1 * dq2 * 2.0 + dq2 * dq2);
        let cor2 = h * dq1 * dq1;
        // g(q) = dV/dq, V = g (k1 sin q1 + k2 sin(q1 + q2)).
        let cos12 = (q1 + q2).cos();
        let grav2 = cos12 * (GRAVITY * k.k2);
        let grav1 = q1.cos() * (GRAVITY * k.k1) + grav2;

        let r1 = u[0] - cor1 - grav1;
        let r2 = u[1] - cor2 - grav2;
        // Multiply by the reciprocal rather than divide: the f64 and dual
        // evaluations then agree bit for bit.
        let inv_det = (m11 * m22 - m12 * m12).recip();
        let ddq1 = (m22 * r1 - m12 * r2) * inv_det;
        let ddq2 = (m11 * r2 - m12 * r1) * inv_det;
        SVector::<T, NX>::new(dq1, dq2, ddq1, ddq2)
    }
}

impl Robot<NX, NU> for Arm {
    const KIND: &'static str = "arm";
    const STATE_NAMES: &'static [&'static str; NX] = &["q1", "q2", "dq1", "dq2"];
    const INPUT_NAMES: &'static [&'static str; NU] = &["tau1", "tau2"];
    const STATE_UNITS: &'static [&'static str; NX] = &["rad", "rad", "rad/s", "rad/s"];
    const INPUT_UNITS: &'static [&'static str; NU] = &["N m", "N m"];
    const POSITION_STATES: usize = 0;
    type Params = ArmParams;

    fn from_params(params: ArmParams) -> Result<Self, ModelError> {
        Self::new(params)
    }
    fn input_bounds(&self) -> Bounds<NU> {
        Arm::input_bounds(self)
    }
    /// The tip, with the arm's plane (x, y) drawn as world (x, z).
    fn point(&self, x: &[f64; NX]) -> [f64; 3] {
        let [tx, ty] = self.tip_position_m(&SVector::from(*x));
        [tx, 0.0, ty]
    }
    fn pose(&self, x: &[f64; NX]) -> Pose {
        Pose::TwoLinkArm {
            q1_rad: x[0],
            q2_rad: x[1],
        }
    }
    fn body(&self) -> Body {
        Body::TwoLinkArm {
            link1_length_m: self.params.link1_length_m,
            link2_length_m: self.params.link2_length_m,
        }
    }
}
