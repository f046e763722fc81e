//! Quadrotor, exactly the nominal model of reference problem P2.
//!
//! State (13) `[p (3), q (4), v (3), w (3)]`: position in the world frame (m),
//! attitude quaternion `[w, x, y, z]` body-to-world, velocity in the world
//! frame (m/s), body angular rates (rad/s). Input (4): rotor thrusts
//! `f_0..f_3` (N), each along the body z axis.
//!
//! Rotor `i` sits at `l (cos a_i, sin a_i, 0)` in the body frame with
//! `a_i = pi/4 + i pi/2` and adds the yaw torque `s_i c f_i`, `s = (+1, -1, +1, -1)`.
//!
//! - `p' = v`
//! - `q' = 1/2 q (x) [0, w]`
//! - `v' = R(q) [0, 0, sum f_i] / m - [0, 0, g]`
//! - `w' = J^-1 (tau - w x J w)`, `tau = sum_i r_i x [0, 0, f_i] + [0, 0, sum_i s_i c f_i]`
//!
//! [`Dynamics::project`] renormalises the quaternion (on any scalar, so the
//! Jacobians of a discrete step include the projection).

use nalgebra::{Matrix3, SMatrix, SVector, Vector3, Vector4};
use serde::{Deserialize, Serialize};

use super::{Body, Pose, Robot};
use crate::error::{check_non_negative, check_positive};
use crate::{c, Bounds, Dynamics, ModelError, Scalar, Tangent, GRAVITY};

pub const NX: usize = 13;
pub const NU: usize = 4;

/// Index of the first position entry in the state.
pub const POSITION: usize = 0;
/// Index of the quaternion's `w` entry in the state (`x, y, z` follow).
pub const QUATERNION: usize = 3;
/// Index of the first world-frame velocity entry in the state.
pub const VELOCITY: usize = 7;
/// Index of the first body-rate entry in the state.
pub const BODY_RATE: usize = 10;

/// Sign of each rotor's yaw torque, `s_i`.
pub const YAW_TORQUE_SIGN: [f64; 4] = [1.0, -1.0, 1.0, -1.0];

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QuadrotorParams {
    pub mass_kg: f64,
    /// Principal moments of inertia in the body frame (the inertia is diagonal).
    pub inertia_xx_kg_m2: f64,
    pub inertia_yy_kg_m2: f64,
    pub inertia_zz_kg_m2: f64,
    /// Distance from the centre of mass to each rotor.
    pub arm_length_m: f64,
    /// Yaw torque per newton of thrust, `c`.
    pub yaw_torque_coefficient_m: f64,
    /// Per-rotor thrust limits, the MPC's input bounds.
    pub min_thrust_n: f64,
    pub max_thrust_n: f64,
}

impl Default for QuadrotorParams {
    fn default() -> Self {
        Self {
            mass_kg: 1.0,
            inertia_xx_kg_m2: 0.005,
            inertia_yy_kg_m2: 0.005,
            inertia_zz_kg_m2: 0.009,
            arm_length_m: 0.17,
            yaw_torque_coefficient_m: 0.016,
            min_thrust_n: 0.0,
            max_thrust_n: 8.0,
        }
    }
}

impl QuadrotorParams {
    /// Rotors of 0.4 arm lengths' radius (drawn, and counted by the
    /// contact check as [`Body::balls`]).
    pub fn body(&self) -> Body {
        Body::Quadrotor {
            arm_length_m: self.arm_length_m,
            rotor_radius_m: 0.4 * self.arm_length_m,
        }
    }

    pub fn validate(&self) -> Result<(), ModelError> {
        check_positive("mass_kg", self.mass_kg)?;
        check_positive("inertia_xx_kg_m2", self.inertia_xx_kg_m2)?;
        check_positive("inertia_yy_kg_m2", self.inertia_yy_kg_m2)?;
        check_positive("inertia_zz_kg_m2", self.inertia_zz_kg_m2)?;
        check_positive("arm_length_m", self.arm_length_m)?;
        check_non_negative("yaw_torque_coefficient_m", self.yaw_torque_coefficient_m)?;
        check_non_negative("min_thrust_n", self.min_thrust_n)?;
        check_positive("max_thrust_n", self.max_thrust_n)?;
        let hover = self.hover_thrust_n();
        if !(self.min_thrust_n <= hover && hover < self.max_thrust_n) {
            return Err(ModelError::InvalidParameter {
                key: "max_thrust_n",
                value: self.max_thrust_n,
                expected: "min_thrust_n <= hover thrust (mass_kg * g / 4) < max_thrust_n",
            });
        }
        Ok(())
    }

    /// Thrust of each rotor that holds the vehicle still in level flight, `m g / 4`.
    pub fn hover_thrust_n(&self) -> f64 {
        self.mass_kg * GRAVITY / 4.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Quadrotor {
    pub params: QuadrotorParams,
}

impl Quadrotor {
    pub fn new(params: QuadrotorParams) -> Result<Self, ModelError> {
        params.validate()?;
        Ok(Self { params })
    }

    /// Per-rotor hover thrust, `m g / 4`.
    pub fn hover_thrust_n(&self) -> f64 {
        self.params.hover_thrust_n()
    }

    /// The input that holds the vehicle still in level flight.
    pub fn hover_input(&self) -> SVector<f64, NU> {
        SVector::repeat(self.hover_thrust_n())
    }

    /// Level, at rest, at `position_m`: the quaternion is the identity.
    pub fn hover_state(position_m: [f64; 3]) -> SVector<f64, NX> {
        let mut x = SVector::zeros();
        x[POSITION] = position_m[0];
        x[POSITION + 1] = position_m[1];
        x[POSITION + 2] = position_m[2];
        x[QUATERNION] = 1.0;
        x
    }

    /// Thrust limits of every rotor, `[min_thrust_n, max_thrust_n]`.
    pub fn input_bounds(&self) -> Bounds<NU> {
        Bounds {
            lower: [self.params.min_thrust_n; NU],
            upper: [self.params.max_thrust_n; NU],
        }
    }

    /// Rotor positions in the body frame, m: `l (cos a_i, sin a_i, 0)`,
    /// `a_i = pi/4 + i pi/2`.
    pub fn rotor_positions_m(&self) -> [[f64; 3]; NU] {
        let l = self.params.arm_length_m;
        ROTOR_DIRECTIONS.map(|[x, y]| [l * x, l * y, 0.0])
    }

    /// Body-frame torque of the rotor thrusts `f`, N m.
    pub fn body_torque<T: Scalar>(&self, f: &SVector<T, NU>) -> Vector3<T> {
        let l = self.params.arm_length_m;
        let yaw = self.params.yaw_torque_coefficient_m;
        let mut tau = Vector3::zeros();
        for (i, [dx, dy]) in ROTOR_DIRECTIONS.iter().enumerate() {
            // r x [0, 0, f] = [r_y f, -r_x f, 0]
            tau[0] += f[i] * (l * dy);
            tau[1] -= f[i] * (l * dx);
            tau[2] += f[i] * (YAW_TORQUE_SIGN[i] * yaw);
        }
        tau
    }
}

/// `(cos a_i, sin a_i)` of rotor `i` at `a_i = pi/4 + i pi/2`, as constants:
/// the model is evaluated hundreds of times per control step.
const ROTOR_DIRECTIONS: [[f64; 2]; NU] = {
    use std::f64::consts::FRAC_1_SQRT_2 as H;
    [[H, H], [-H, H], [-H, -H], [H, -H]]
};

/// The quaternion `[w, x, y, z]` stored in a state vector.
pub fn state_quaternion<T: Scalar>(x: &SVector<T, NX>) -> Vector4<T> {
    x.fixed_rows::<4>(QUATERNION).into_owned()
}

/// Rotation matrix of a unit quaternion `q = [w, x, y, z]`. For a body-to-world
/// quaternion this is `world_from_body`: it maps body-frame vectors into the
/// world frame. Assumes `|q| = 1` (the standard `1 - 2(y^2 + z^2)` form).
pub fn rotation_from_quaternion<T: Scalar>(q: &Vector4<T>) -> Matrix3<T> {
    let (w, x, y, z) = (q[0], q[1], q[2], q[3]);
    let one: T = c(1.0);
    let (xx, yy, zz) = (x * x, y * y, z * z);
    let (xy, xz, yz) = (x * y, x * z, y * z);
    let (wx, wy, wz) = (w * x, w * y, w * z);
    Matrix3::new(
        one - (yy + zz) * 2.0,
        (xy - wz) * 2.0,
        (xz + wy) * 2.0,
        (xy + wz) * 2.0,
        one - (xx + zz) * 2.0,
        (yz - wx) * 2.0,
        (xz - wy) * 2.0,
        (yz + wx) * 2.0,
        one - (xx + yy) * 2.0,
    )
}

/// Hamilton product `a (x) b` of quaternions `[w, x, y, z]`.
pub fn quaternion_product<T: Scalar>(a: &Vector4<T>, b: &Vector4<T>) -> Vector4<T> {
    let (aw, ax, ay, az) = (a[0], a[1], a[2], a[3]);
    let (bw, bx, by, bz) = (b[0], b[1], b[2], b[3]);
    Vector4::new(
        aw * bw - ax * bx - ay * by - az * bz,
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
    )
}

/// Scales `q` to unit norm (differentiably, on any scalar).
pub fn normalize_quaternion<T: Scalar>(q: &mut Vector4<T>) {
    let inv_norm = q.dot(q).sqrt().recip();
    *q *= inv_norm;
}

impl Dynamics<NX, NU> for Quadrotor {
    fn derivative<T: Scalar>(&self, x: &SVector<T, NX>, u: &SVector<T, NU>) -> SVector<T, NX> {
        let p = &self.params;
        let q = state_quaternion(x);
        let v: Vector3<T> = x.fixed_rows::<3>(VELOCITY).into_owned();
        let w: Vector3<T> = x.fixed_rows::<3>(BODY_RATE).into_owned();

        let q_dot = quaternion_product(&q, &Vector4::new(c(0.0), w[0], w[1], w[2])) * c::<T>(0.5);

        // Thrust along the body z axis: third column of world_from_body,
        // written out so the other six entries are not computed on duals.
        let thrust_accel = (u[0] + u[1] + u[2] + u[3]) * p.mass_kg.recip();
        let (qw, qx, qy, qz) = (q[0], q[1], q[2], q[3]);
        let v_dot = Vector3::new(
            (qx * qz + qw * qy) * thrust_accel * 2.0,
            (qy * qz - qw * qx) * thrust_accel * 2.0,
            (c::<T>(1.0) - (qx * qx + qy * qy) * 2.0) * thrust_accel - GRAVITY,
        );

        // w x J w with J = diag(jx, jy, jz).
        let (jx, jy, jz) = (p.inertia_xx_kg_m2, p.inertia_yy_kg_m2, p.inertia_zz_kg_m2);
        let tau = self.body_torque(u);
        let w_dot = Vector3::new(
            (tau[0] - w[1] * w[2] * (jz - jy)) * jx.recip(),
            (tau[1] - w[2] * w[0] * (jx - jz)) * jy.recip(),
            (tau[2] - w[0] * w[1] * (jy - jx)) * jz.recip(),
        );

        let mut xdot = SVector::<T, NX>::zeros();
        xdot.fixed_rows_mut::<3>(POSITION).copy_from(&v);
        xdot.fixed_rows_mut::<4>(QUATERNION).copy_from(&q_dot);
        xdot.fixed_rows_mut::<3>(VELOCITY).copy_from(&v_dot);
        xdot.fixed_rows_mut::<3>(BODY_RATE).copy_from(&w_dot);
        xdot
    }

    fn project<T: Scalar>(&self, x: &mut SVector<T, NX>) {
        let mut q = state_quaternion(x);
        normalize_quaternion(&mut q);
        x.fixed_rows_mut::<4>(QUATERNION).copy_from(&q);
    }

    /// Written out (the value is [`Self::derivative`]'s on `f64`): 67 of
    /// the 221 entries are not zero, which `Rk4::linearize`'s chain rule
    /// skips, where duals carry all 17 directions through every operation
    /// (docs/performance.md, "P2's step: the dense backend and the
    /// quadrotor's tangent"). Tested against duals and finite differences.
    #[inline(always)]
    fn derivative_tangent(
        &self,
        x: &SVector<f64, NX>,
        u: &SVector<f64, NU>,
    ) -> Option<Tangent<NX, NU>> {
        let p = &self.params;
        let mut t = Tangent::zeros();
        t.value = self.derivative(x, u);
        let (qw, qx, qy, qz) = (x[3], x[4], x[5], x[6]);
        let (w0, w1, w2) = (x[10], x[11], x[12]);
        // p' = v
        for i in 0..3 {
            t.d_x[(POSITION + i, VELOCITY + i)] = 1.0;
        }
        // q' = 1/2 q (x) [0, w]: rows of d/dq and d/dw.
        let (q, w) = (QUATERNION, BODY_RATE);
        let d_q = [
            [0.0, -w0, -w1, -w2],
            [w0, 0.0, w2, -w1],
            [w1, -w2, 0.0, w0],
            [w2, w1, -w0, 0.0],
        ];
        let d_w = [[-qx, -qy, -qz], [qw, -qz, qy], [qz, qw, -qx], [-qy, qx, qw]];
        for i in 0..4 {
            for j in 0..4 {
                t.d_x[(q + i, q + j)] = 0.5 * d_q[i][j];
            }
            for j in 0..3 {
                t.d_x[(q + i, w + j)] = 0.5 * d_w[i][j];
            }
        }
        // v' = R(q) e_z T - g e_z, T = sum f / m.
        let inv_m = p.mass_kg.recip();
        let thrust = (u[0] + u[1] + u[2] + u[3]) * inv_m;
        let (a, b) = (2.0 * thrust, 4.0 * thrust);
        let d_vq = [
            [a * qy, a * qz, a * qw, a * qx],
            [-a * qx, -a * qw, a * qz, a * qy],
            [0.0, -b * qx, -b * qy, 0.0],
        ];
        let d_vu = [
            2.0 * (qx * qz + qw * qy) * inv_m,
            2.0 * (qy * qz - qw * qx) * inv_m,
            (1.0 - 2.0 * (qx * qx + qy * qy)) * inv_m,
        ];
        for i in 0..3 {
            for j in 0..4 {
                t.d_x[(VELOCITY + i, q + j)] = d_vq[i][j];
                t.d_u[(VELOCITY + i, j)] = d_vu[i];
            }
        }
        // w' = J^-1 (tau - w x J w), J diagonal.
        let (jx, jy, jz) = (p.inertia_xx_kg_m2, p.inertia_yy_kg_m2, p.inertia_zz_kg_m2);
        let (cx, cy, cz) = ((jz - jy) / jx, (jx - jz) / jy, (jy - jx) / jz);
        t.d_x[(w, w + 1)] = -w2 * cx;
        t.d_x[(w, w + 2)] = -w1 * cx;
        t.d_x[(w + 1, w)] = -w2 * cy;
        t.d_x[(w + 1, w + 2)] = -w0 * cy;
        t.d_x[(w + 2, w)] = -w1 * cz;
        t.d_x[(w + 2, w + 1)] = -w0 * cz;
        // tau is linear in f: its Jacobian is tau of the unit thrusts.
        let inv_j = [jx.recip(), jy.recip(), jz.recip()];
        for j in 0..NU {
            let tau = self.body_torque(&SVector::<f64, NU>::from_fn(|i, _| f64::from(i == j)));
            for i in 0..3 {
                t.d_u[(w + i, j)] = tau[i] * inv_j[i];
            }
        }
        Some(t)
    }

    /// The renormalisation's Jacobian, `(I - q^ q^') / |q|` on the
    /// quaternion's rows, the identity elsewhere.
    fn project_tangent(&self, x: &SVector<f64, NX>) -> Option<SMatrix<f64, NX, NX>> {
        let q = state_quaternion(x);
        let inv_norm = q.dot(&q).sqrt().recip();
        let unit = q * inv_norm;
        let mut j = SMatrix::<f64, NX, NX>::identity();
        for r in 0..4 {
            for c in 0..4 {
                let delta = f64::from(r == c);
                j[(QUATERNION + r, QUATERNION + c)] = (delta - unit[r] * unit[c]) * inv_norm;
            }
        }
        Some(j)
    }
}

impl Robot<NX, NU> for Quadrotor {
    const KIND: &'static str = "quadrotor";
    const STATE_NAMES: &'static [&'static str; NX] = &[
        "px", "py", "pz", "qw", "qx", "qy", "qz", "vx", "vy", "vz", "wx", "wy", "wz",
    ];
    const INPUT_NAMES: &'static [&'static str; NU] = &["f0", "f1", "f2", "f3"];
    const STATE_UNITS: &'static [&'static str; NX] = &[
        "m", "m", "m", "", "", "", "", "m/s", "m/s", "m/s", "rad/s", "rad/s", "rad/s",
    ];
    const INPUT_UNITS: &'static [&'static str; NU] = &["N", "N", "N", "N"];
    const POSITION_STATES: usize = 3;
    type Params = QuadrotorParams;

    fn from_params(params: QuadrotorParams) -> Result<Self, ModelError> {
        Self::new(params)
    }
    fn input_bounds(&self) -> Bounds<NU> {
        Quadrotor::input_bounds(self)
    }
    fn safe_input(&self) -> SVector<f64, NU> {
        self.hover_input()
    }
    fn point(&self, x: &[f64; NX]) -> [f64; 3] {
        [x[0], x[1], x[2]]
    }
    fn pose(&self, x: &[f64; NX]) -> Pose {
        Pose::Rigid {
            position_m: [x[0], x[1], x[2]],
            attitude: [x[3], x[4], x[5], x[6]],
        }
    }
    fn body(&self) -> Body {
        self.params.body()
    }
}
