//! Error-state EKF for the quadrotor: the IMU drives the prediction
//! (specific force and body rate, with estimated biases), position fixes
//! correct it. Nominal state: position, velocity, attitude quaternion
//! (`[w, x, y, z]`, body to world), accelerometer and gyro biases (body
//! frame). Error state (15): `[dp, dv, dtheta, dba, dbg]`, `dtheta` a small
//! rotation in the body frame (`q = q_nom (x) [1, dtheta / 2]`).
//!
//! Both the transition and the measurement Jacobians are exact derivatives
//! of the same generic code that moves the nominal state (forward-mode AD).

use nalgebra::{Isometry3, SMatrix, SVector, Translation3, UnitQuaternion, Vector3, Vector4};
use num_dual::{DualNum, DualSVec64};
use recede_model::robots::quadrotor::{
    normalize_quaternion, quaternion_product, rotation_from_quaternion,
};
use recede_model::{c, Scalar, GRAVITY};

use crate::kalman::{jacobian, update, wrap_angle, Outcome};
use crate::timeline::{Event, Filter};
use crate::EkfConfig;

pub(crate) const N: usize = 15;
const DP: usize = 0;
const DV: usize = 3;
const DTH: usize = 6;
const DBA: usize = 9;
const DBG: usize = 12;

/// Age of the last IMU sample beyond which the filter assumes it is flying
/// blind and lets the covariance grow faster, s.
const IMU_SILENT_SECS: f64 = 0.05;
/// Extra process noise while the IMU is silent: acceleration (m/s^2 per
/// sqrt(s)) and rotation (rad per sqrt(s)).
const SILENT_ACCEL_STD: f64 = 3.0;
const SILENT_ROTATION_STD: f64 = 0.2;
/// Time constant of the low-passed specific force IMU samples are gated
/// against, s.
const IMU_LOWPASS_SECS: f64 = 0.05;
/// After this many rejected IMU samples in a row the next is taken (the
/// vehicle's motion changed, not the sensor).
const IMU_MAX_REJECTS_IN_A_ROW: u32 = 10;

#[derive(Debug, Clone, Copy, PartialEq)]
struct Nominal<T: Scalar> {
    p: Vector3<T>,
    v: Vector3<T>,
    q: Vector4<T>,
    ba: Vector3<T>,
    bg: Vector3<T>,
}

impl Nominal<f64> {
    fn lift<T: Scalar>(&self) -> Nominal<T> {
        Nominal {
            p: self.p.map(T::from),
            v: self.v.map(T::from),
            q: self.q.map(T::from),
            ba: self.ba.map(T::from),
            bg: self.bg.map(T::from),
        }
    }
}

fn seg<T: Scalar>(d: &SVector<T, N>, at: usize) -> Vector3<T> {
    Vector3::new(d[at], d[at + 1], d[at + 2])
}

/// `x (+) delta`.
fn boxplus<T: Scalar>(x: &Nominal<T>, d: &SVector<T, N>) -> Nominal<T> {
    let th = seg(d, DTH);
    let half: T = c(0.5);
    let mut q = quaternion_product(
        &x.q,
        &Vector4::new(c(1.0), th[0] * half, th[1] * half, th[2] * half),
    );
    normalize_quaternion(&mut q);
    Nominal {
        p: x.p + seg(d, DP),
        v: x.v + seg(d, DV),
        q,
        ba: x.ba + seg(d, DBA),
        bg: x.bg + seg(d, DBG),
    }
}

/// `a (-) b`: the error state taking `b` to `a`.
fn boxminus<T: Scalar>(a: &Nominal<T>, b: &Nominal<T>) -> SVector<T, N> {
    let b_conj = Vector4::new(b.q[0], -b.q[1], -b.q[2], -b.q[3]);
    let dq = quaternion_product(&b_conj, &a.q);
    let two: T = c(2.0);
    let mut d = SVector::<T, N>::zeros();
    let put = |d: &mut SVector<T, N>, at: usize, v: Vector3<T>| {
        d[at] = v[0];
        d[at + 1] = v[1];
        d[at + 2] = v[2];
    };
    put(&mut d, DP, a.p - b.p);
    put(&mut d, DV, a.v - b.v);
    put(
        &mut d,
        DTH,
        Vector3::new(dq[1] * two, dq[2] * two, dq[3] * two),
    );
    put(&mut d, DBA, a.ba - b.ba);
    put(&mut d, DBG, a.bg - b.bg);
    d
}

/// One IMU step of `dt` with the body-frame specific force `f` and rate `w`.
fn propagate<T: Scalar>(x: &Nominal<T>, f: &Vector3<f64>, w: &Vector3<f64>, dt: f64) -> Nominal<T> {
    let rate = w.map(T::from) - x.bg;
    let accel_body = f.map(T::from) - x.ba;
    let r = rotation_from_quaternion(&x.q);
    let mut a = r * accel_body;
    a[2] -= GRAVITY;
    let half_dt: T = c(0.5 * dt);
    let mut q = quaternion_product(
        &x.q,
        &Vector4::new(
            c(1.0),
            rate[0] * half_dt,
            rate[1] * half_dt,
            rate[2] * half_dt,
        ),
    );
    normalize_quaternion(&mut q);
    Nominal {
        p: x.p + x.v * c::<T>(dt) + a * c::<T>(0.5 * dt * dt),
        v: x.v + a * c::<T>(dt),
        q,
        ba: x.ba,
        bg: x.bg,
    }
}

/// Noise and gates the quadrotor filter needs (copied from the config).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct QuadNoise {
    accel_std: f64,
    gyro_std: f64,
    accel_walk: f64,
    gyro_walk: f64,
    accel_process: f64,
    imu_gate_std: f64,
    fix_std: f64,
    yaw_std: f64,
    gate_fix: f64,
    gate_yaw: f64,
    gate_imu: f64,
    max_step: f64,
}

impl QuadNoise {
    pub fn new(c: &EkfConfig) -> Self {
        Self {
            accel_std: c.imu_accel_noise_std_mps2,
            gyro_std: c.imu_gyro_noise_std_radps,
            accel_walk: c.imu_accel_bias_walk_mps2_per_sqrt_s,
            gyro_walk: c.imu_gyro_bias_walk_radps_per_sqrt_s,
            accel_process: c.accel_process_std_mps2_per_sqrt_s,
            imu_gate_std: c.imu_gate_std_mps2,
            fix_std: c.position_fix_std_m,
            yaw_std: c.position_fix_yaw_std_rad,
            gate_fix: c.gate_chi2_position_fix,
            gate_yaw: c.gate_chi2_yaw,
            gate_imu: c.gate_chi2_imu,
            max_step: c.max_predict_step_secs,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct QuadFilter {
    t: f64,
    x: Nominal<f64>,
    p: SMatrix<f64, N, N>,
    /// The IMU sample held until the next: specific force and rate, body frame.
    imu: (Vector3<f64>, Vector3<f64>),
    imu_secs: f64,
    lowpass: Option<Vector3<f64>>,
    rejects_in_a_row: u32,
    noise: QuadNoise,
}

impl QuadFilter {
    /// From the 13-state `[p, q, v, w]` and a standard deviation per state
    /// entry (position, attitude from the quaternion's vector part,
    /// velocity, body rate as gyro bias).
    pub fn new(x0: &[f64], std: &[f64], noise: QuadNoise) -> Self {
        let v3 = |i: usize| Vector3::new(x0[i], x0[i + 1], x0[i + 2]);
        let mut q = Vector4::new(x0[3], x0[4], x0[5], x0[6]);
        normalize_quaternion(&mut q);
        let mut p = SMatrix::<f64, N, N>::zeros();
        for i in 0..3 {
            p[(DP + i, DP + i)] = std[i].powi(2);
            p[(DTH + i, DTH + i)] = (2.0 * std[4 + i]).powi(2);
            p[(DV + i, DV + i)] = std[7 + i].powi(2);
            p[(DBA + i, DBA + i)] = 0.05f64.powi(2);
            p[(DBG + i, DBG + i)] = std[10 + i].powi(2);
        }
        Self {
            t: 0.0,
            x: Nominal {
                p: v3(0),
                v: v3(7),
                q,
                ba: Vector3::zeros(),
                bg: Vector3::zeros(),
            },
            p,
            imu: (Vector3::new(0.0, 0.0, GRAVITY), v3(10)),
            imu_secs: f64::NEG_INFINITY,
            lowpass: None,
            rejects_in_a_row: 0,
            noise,
        }
    }

    fn step(&mut self, dt: f64) {
        let (f, w) = self.imu;
        let x = self.x;
        let (_, phi) = jacobian::<N, N>(|d: &SVector<DualSVec64<N>, N>| {
            let lifted = x.lift::<DualSVec64<N>>();
            let moved = propagate(&boxplus(&lifted, d), &f, &w, dt);
            boxminus(&moved, &propagate(&lifted, &f, &w, dt))
        });
        self.x = propagate(&x, &f, &w, dt);
        let n = &self.noise;
        let silent = self.t - self.imu_secs > IMU_SILENT_SECS;
        let (extra_a, extra_r) = if silent {
            (SILENT_ACCEL_STD, SILENT_ROTATION_STD)
        } else {
            (0.0, 0.0)
        };
        let mut p = phi * self.p * phi.transpose();
        let qv = (n.accel_std * dt).powi(2) + (n.accel_process.powi(2) + extra_a.powi(2)) * dt;
        let qth = (n.gyro_std * dt).powi(2) + extra_r.powi(2) * dt;
        for i in 0..3 {
            p[(DP + i, DP + i)] += 0.25 * qv * dt * dt;
            p[(DV + i, DV + i)] += qv;
            p[(DTH + i, DTH + i)] += qth;
            p[(DBA + i, DBA + i)] += n.accel_walk.powi(2) * dt;
            p[(DBG + i, DBG + i)] += n.gyro_walk.powi(2) * dt;
        }
        self.p = (p + p.transpose()) * 0.5;
        self.t += dt;
    }

    fn inject(&mut self, dx: &SVector<f64, N>) {
        self.x = boxplus(&self.x, dx);
    }

    fn imu_sample(&mut self, f: Vector3<f64>, w: Vector3<f64>) -> Outcome {
        if !(f.iter().chain(w.iter()).all(|v| v.is_finite())) {
            return Outcome::NonFinite;
        }
        let dt = (self.t - self.imu_secs).clamp(0.0, 1.0);
        let lp = match self.lowpass {
            None => f,
            Some(lp) => {
                let nis = (f - lp).norm_squared() / self.noise.imu_gate_std.powi(2);
                if nis > self.noise.gate_imu && self.rejects_in_a_row < IMU_MAX_REJECTS_IN_A_ROW {
                    self.rejects_in_a_row += 1;
                    return Outcome::Rejected { nis };
                }
                let a = dt / (IMU_LOWPASS_SECS + dt);
                lp + (f - lp) * a
            }
        };
        self.rejects_in_a_row = 0;
        self.lowpass = Some(lp);
        self.imu = (f, w);
        self.imu_secs = self.t;
        Outcome::Used
    }

    fn fix(&mut self, z: &Vector3<f64>, yaw: f64, lever: &Vector3<f64>) -> Outcome {
        if !(z.iter().all(|v| v.is_finite()) && yaw.is_finite()) {
            return Outcome::NonFinite;
        }
        let x = self.x;
        let lever = *lever;
        let (h0, h) = jacobian::<N, 3>(|d| {
            let s = boxplus(&x.lift::<DualSVec64<N>>(), d);
            s.p + rotation_from_quaternion(&s.q) * lever.map(DualSVec64::from_re)
        });
        let r = SMatrix::<f64, 3, 3>::identity() * self.noise.fix_std.powi(2);
        let position = match update(&mut self.p, &(z - h0), &h, &r, self.noise.gate_fix) {
            Ok(dx) => {
                self.inject(&dx);
                Outcome::Used
            }
            Err(o) => o,
        };
        let x = self.x;
        let (y0, hy) = jacobian::<N, 1>(|d| {
            let s = boxplus(&x.lift::<DualSVec64<N>>(), d);
            let r = rotation_from_quaternion(&s.q);
            SVector::<DualSVec64<N>, 1>::new(r[(1, 0)].atan2(r[(0, 0)]))
        });
        let innovation = SVector::<f64, 1>::new(wrap_angle(yaw - y0[0]));
        let ry = SMatrix::<f64, 1, 1>::new(self.noise.yaw_std.powi(2));
        let yaw_outcome = match update(&mut self.p, &innovation, &hy, &ry, self.noise.gate_yaw) {
            Ok(dx) => {
                self.inject(&dx);
                Outcome::Used
            }
            Err(o) => o,
        };
        // The position decides; a refused yaw alone still counts.
        match (position, yaw_outcome) {
            (Outcome::Used, Outcome::Used) => Outcome::Used,
            (Outcome::Used, other) => other,
            (other, _) => other,
        }
    }
}

impl Filter for QuadFilter {
    fn time(&self) -> f64 {
        self.t
    }

    fn predict_to(&mut self, t_secs: f64) {
        while self.t < t_secs - 1e-12 {
            let dt = (t_secs - self.t).min(self.noise.max_step);
            self.step(dt);
        }
    }

    fn apply(&mut self, event: &Event) -> Outcome {
        match *event {
            Event::Imu {
                specific_force_body,
                gyro_body,
            } => self.imu_sample(specific_force_body, gyro_body),
            Event::Fix {
                position_m,
                yaw_rad,
                lever_body_m,
            } => self.fix(&position_m, yaw_rad, &lever_body_m),
            Event::Encoders { .. } | Event::Command { .. } => Outcome::Ignored,
        }
    }

    fn write(&self, state: &mut [f64], std: &mut [f64]) {
        let x = &self.x;
        let w = self.imu.1 - x.bg;
        let vals = [
            x.p[0], x.p[1], x.p[2], x.q[0], x.q[1], x.q[2], x.q[3], x.v[0], x.v[1], x.v[2], w[0],
            w[1], w[2],
        ];
        state.copy_from_slice(&vals);
        let d = |i: usize| self.p[(i, i)].max(0.0).sqrt();
        for i in 0..3 {
            std[i] = d(DP + i);
            std[4 + i] = 0.5 * d(DTH + i);
            std[7 + i] = d(DV + i);
            std[10 + i] = (self.p[(DBG + i, DBG + i)] + self.noise.gyro_std.powi(2))
                .max(0.0)
                .sqrt();
        }
        std[3] = 0.0;
    }

    fn world_from_body(&self) -> Isometry3<f64> {
        let q = self.x.q;
        Isometry3::from_parts(
            Translation3::from(self.x.p),
            UnitQuaternion::from_quaternion(nalgebra::Quaternion::new(q[0], q[1], q[2], q[3])),
        )
    }
}

impl QuadFilter {
    /// The position block of the covariance (for consistency checks).
    pub fn position_covariance(&self) -> nalgebra::Matrix3<f64> {
        self.p.fixed_view::<3, 3>(DP, DP).into_owned()
    }
}
