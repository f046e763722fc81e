//! Tendon-driven planar continuum arm, the controller's model: three
//! inextensible sections of piecewise constant curvature (`pcc`), each bent
//! by an antagonistic pair of tendons (tensions >= 0), under gravity with a
//! payload at the tip and Kelvin-Voigt damping of the bending.
//!
//! State `[kappa_1, kappa_2, kappa_3, kappa_1', kappa_2', kappa_3']` (1/m,
//! base to tip; positive bends towards increasing angle, from world +x
//! towards +z), input `[T_1a, T_1b, T_2a, T_2b, T_3a, T_3b]` (N; `a` bends
//! positive, `b` negative).

use nalgebra::SVector;
use serde::{Deserialize, Serialize};

use super::pcc;
use super::{Body, Pose, Robot};
use crate::error::{check_non_negative, check_positive};
use crate::{Bounds, Dynamics, ModelError, Scalar};

/// Sections of the controller's model.
pub const NS: usize = 3;
pub const NX: usize = 2 * NS;
pub const NU: usize = 2 * NS;

/// The arm's physical parameters, shared by the controller's model and
/// the simulator's rod. Defaults: a 0.45 m silicone-like arm of 0.15 kg
/// hanging from its base (`base_angle_rad = -pi/2`), EI = 0.05 N m^2,
/// tendons 15 mm off the centre line pulling up to 40 N, a 50 g payload.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ContinuumArmParams {
    /// Total length, split evenly between the sections.
    pub length_m: f64,
    /// The arm's own mass, spread evenly along it.
    pub mass_kg: f64,
    /// Radius of the round section (its slices' rotary inertia).
    pub radius_m: f64,
    /// EI, N m^2.
    pub bending_stiffness_n_m2: f64,
    /// Kelvin-Voigt retardation time of the bending, s (damping = this x
    /// stiffness).
    pub retardation_time_secs: f64,
    /// Distance of each tendon from the centre line, m.
    pub tendon_offset_m: f64,
    /// Largest tension a tendon may pull with, N (each is >= 0).
    pub max_tension_n: f64,
    /// Point mass at the tip, kg.
    pub payload_mass_kg: f64,
    /// Direction of the clamped base from world +x towards +z, rad.
    pub base_angle_rad: f64,
}

impl Default for ContinuumArmParams {
    fn default() -> Self {
        Self {
            length_m: 0.45,
            mass_kg: 0.15,
            radius_m: 0.01,
            bending_stiffness_n_m2: 0.05,
            retardation_time_secs: 0.01,
            tendon_offset_m: 0.015,
            max_tension_n: 40.0,
            payload_mass_kg: 0.05,
            base_angle_rad: -std::f64::consts::FRAC_PI_2,
        }
    }
}

impl ContinuumArmParams {
    pub fn validate(&self) -> Result<(), ModelError> {
        check_positive("length_m", self.length_m)?;
        check_positive("mass_kg", self.mass_kg)?;
        check_positive("radius_m", self.radius_m)?;
        check_positive("bending_stiffness_n_m2", self.bending_stiffness_n_m2)?;
        check_non_negative("retardation_time_secs", self.retardation_time_secs)?;
        check_positive("tendon_offset_m", self.tendon_offset_m)?;
        check_positive("max_tension_n", self.max_tension_n)?;
        check_non_negative("payload_mass_kg", self.payload_mass_kg)?;
        if self.base_angle_rad.is_finite() {
            Ok(())
        } else {
            Err(ModelError::InvalidParameter {
                key: "base_angle_rad",
                value: self.base_angle_rad,
                expected: "a finite angle",
            })
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ContinuumArm {
    pub params: ContinuumArmParams,
}

impl ContinuumArm {
    pub fn new(params: ContinuumArmParams) -> Result<Self, ModelError> {
        params.validate()?;
        Ok(Self { params })
    }

    /// Every tension in `[0, max_tension_n]`.
    pub fn input_bounds(&self) -> Bounds<NU> {
        Bounds {
            lower: [0.0; NU],
            upper: [self.params.max_tension_n; NU],
        }
    }

    /// Kinetic, gravitational and bending energy at `x`, J.
    pub fn energy(&self, x: &SVector<f64, NX>) -> f64 {
        let (q, qd) = split(x);
        pcc::energy(&self.params, &q, &qd)
    }

    /// The tip's world `(x, z)`, m.
    pub fn tip<T: Scalar>(&self, x: &SVector<T, NX>) -> [T; 2] {
        pcc::tip(&self.params, &split(x).0).0
    }

    /// World `(x, z)` of the point at fraction `f` of the arm's length.
    pub fn point_at<T: Scalar>(&self, x: &SVector<T, NX>, f: f64) -> [T; 2] {
        pcc::point_at(&self.params, &split(x).0, f).0
    }
}

impl ContinuumArm {
    /// Curvatures that put the tip at `target` (world x, z), m, started
    /// from `guess`, the one direction the tip leaves free kept nearest
    /// `posture`: damped Gauss-Newton steps on the tip (the PCC frame's
    /// exact Jacobian), limited in size, plus the posture's pull projected
    /// onto the Jacobian's null space. `Err(distance left, m)` out of reach. Setup time.
    pub fn reach(
        &self,
        target: [f64; 2],
        guess: [f64; NS],
        posture: [f64; NS],
    ) -> Result<[f64; NS], f64> {
        let p = &self.params;
        let mut q = SVector::<f64, NS>::from(guess);
        let rest = SVector::<f64, NS>::from(posture);
        let zero = SVector::<f64, NS>::zeros();
        let mut miss = f64::INFINITY;
        for _ in 0..500 {
            let mut frame = pcc::Frame::<f64, NS>::base(p);
            for j in 0..NS {
                frame = frame.along(&q, &zero, j, pcc::section_length(p, NS));
            }
            let e = nalgebra::Vector2::new(
                target[0] - frame.position[0],
                target[1] - frame.position[1],
            );
            miss = e.norm();
            let j = frame.jacobian;
            // Damped far from the target: straight, the tip cannot move
            // along the arm (J is rank one there), and an undamped step
            // from it diverged. The damping vanishes as the tip arrives,
            // so the null space is exact there and the posture's pull
            // does not hold the tip off.
            let damping = 1e-4 * miss * miss;
            let jjt = j * j.transpose() + nalgebra::Matrix2::identity() * damping;
            let Some(inv) = jjt.try_inverse() else {
                return Err(miss);
            };
            let pinv = j.transpose() * inv;
            let null = nalgebra::SMatrix::<f64, NS, NS>::identity() - pinv * j;
            let mut step = pinv * e + null * (rest - q) * 0.5;
            // At most 0.5 1/m per section per iteration.
            let largest = step.amax();
            if largest > 0.5 {
                step *= 0.5 / largest;
            }
            q += step;
            if miss < 1e-10 && step.norm() < 1e-10 {
                break;
            }
        }
        if miss < 1e-6 && q.iter().all(|v| v.is_finite()) {
            Ok(q.into())
        } else {
            Err(miss)
        }
    }
}

impl ContinuumArm {
    /// Tensions that give `q'' = qdd` at `(q, qd)` (inverse dynamics):
    /// section `i`'s tendon moment must be `((M qdd)_i + bias_i + k q_i +
    /// k tau qd_i) / L_i`, and pair `i` supplies the difference between
    /// section `i`'s moment and section `i+1`'s. Each pair pulls on one
    /// side only (the other tendon slack), the least tension that does it.
    /// `Err(largest tension needed, N)` beyond `max_tension_n` (or the
    /// non-finite pull): the arm cannot follow that motion. The input
    /// reference of a path.
    pub fn tensions_for(
        &self,
        q: [f64; NS],
        qd: [f64; NS],
        qdd: [f64; NS],
    ) -> Result<[f64; NU], f64> {
        let p = &self.params;
        let (q, qd, qdd) = (
            SVector::<f64, NS>::from(q),
            SVector::<f64, NS>::from(qd),
            SVector::<f64, NS>::from(qdd),
        );
        let a = pcc::assemble(p, &q, &qd);
        let l = pcc::section_length(p, NS);
        let k = p.bending_stiffness_n_m2 * l;
        let need = a.mass * qdd + a.bias + q * k + qd * (k * p.retardation_time_secs);
        let mut out = [0.0; NU];
        let mut distal = 0.0;
        let mut largest: f64 = 0.0;
        for i in (0..NS).rev() {
            let moment = need[i] / l;
            let pull = (moment - distal) / p.tendon_offset_m;
            if !pull.is_finite() {
                return Err(pull);
            }
            distal = moment;
            out[2 * i] = pull.max(0.0);
            out[2 * i + 1] = (-pull).max(0.0);
            largest = largest.max(pull.abs());
        }
        if largest <= p.max_tension_n {
            Ok(out)
        } else {
            Err(largest)
        }
    }
}

pub(crate) fn split<T: Scalar>(x: &SVector<T, NX>) -> (SVector<T, NS>, SVector<T, NS>) {
    (
        SVector::from_fn(|i, _| x[i]),
        SVector::from_fn(|i, _| x[NS + i]),
    )
}

impl Dynamics<NX, NU> for ContinuumArm {
    fn derivative<T: Scalar>(&self, x: &SVector<T, NX>, u: &SVector<T, NU>) -> SVector<T, NX> {
        let (q, qd) = split(x);
        let p = &self.params;
        let qdd = pcc::acceleration(p, p.retardation_time_secs, &q, &qd, u.as_slice());
        SVector::from_fn(|i, _| if i < NS { qd[i] } else { qdd[i - NS] })
    }
}

impl Robot<NX, NU> for ContinuumArm {
    const KIND: &'static str = "continuum_arm";
    const STATE_NAMES: &'static [&'static str; NX] = &[
        "kappa_1",
        "kappa_2",
        "kappa_3",
        "kappa_1_dot",
        "kappa_2_dot",
        "kappa_3_dot",
    ];
    const INPUT_NAMES: &'static [&'static str; NU] = &[
        "tension_1a",
        "tension_1b",
        "tension_2a",
        "tension_2b",
        "tension_3a",
        "tension_3b",
    ];
    const STATE_UNITS: &'static [&'static str; NX] =
        &["1/m", "1/m", "1/m", "1/m/s", "1/m/s", "1/m/s"];
    const INPUT_UNITS: &'static [&'static str; NU] = &["N", "N", "N", "N", "N", "N"];
    /// Clamped at its base: obstacles constrain its body, not a position
    /// state.
    const POSITION_STATES: usize = 0;
    type Params = ContinuumArmParams;

    fn from_params(params: ContinuumArmParams) -> Result<Self, ModelError> {
        Self::new(params)
    }
    fn input_bounds(&self) -> Bounds<NU> {
        ContinuumArm::input_bounds(self)
    }
    /// The tip.
    fn point(&self, x: &[f64; NX]) -> [f64; 3] {
        let [tx, tz] = self.tip(&SVector::from(*x));
        [tx, 0.0, tz]
    }
    /// Drawn as a two-link arm through the middle of its length: the
    /// chords base-middle and middle-tip (each drawn at half the arm's
    /// length, not shortened by the bend).
    fn pose(&self, x: &[f64; NX]) -> Pose {
        let x = SVector::from(*x);
        let [mx, mz] = self.point_at(&x, 0.5);
        let [tx, tz] = self.tip(&x);
        let q1 = mz.atan2(mx);
        Pose::TwoLinkArm {
            q1_rad: q1,
            q2_rad: (tz - mz).atan2(tx - mx) - q1,
        }
    }
    /// The PCC shape's point (in the x-z plane) and its exact Jacobian in
    /// the curvatures (the frame's, `pcc::Frame`); the rates move no point.
    fn body_point(&self, x: &[f64; NX], f: f64) -> Option<([f64; 3], [[f64; NX]; 3])> {
        let p = &self.params;
        let q = SVector::<f64, NS>::from_fn(|i, _| x[i]);
        let qd = SVector::<f64, NS>::zeros();
        let l = pcc::section_length(p, NS);
        let s = f.clamp(0.0, 1.0) * p.length_m;
        let mut frame = pcc::Frame::<f64, NS>::base(p);
        for j in 0..NS {
            let start = j as f64 * l;
            if s <= start + l || j == NS - 1 {
                frame = frame.along(&q, &qd, j, (s - start).clamp(0.0, l));
                break;
            }
            frame = frame.along(&q, &qd, j, l);
        }
        let mut jac = [[0.0; NX]; 3];
        for c in 0..NS {
            jac[0][c] = frame.jacobian[(0, c)];
            jac[2][c] = frame.jacobian[(1, c)];
        }
        Some(([frame.position[0], 0.0, frame.position[1]], jac))
    }
    fn body(&self) -> Body {
        Body::TwoLinkArm {
            link1_length_m: 0.5 * self.params.length_m,
            link2_length_m: 0.5 * self.params.length_m,
        }
    }
}
