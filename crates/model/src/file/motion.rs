//! The motion of a model file robot's body (what an IMU on it feels), from
//! its mappings differentiated along the trajectory by dual numbers.

use num_dual::{Dual2_64, Dual64};

use super::ModelFile;
use crate::file::tape::MAX_SLOTS;

/// A body's motion at one instant, world frame unless said.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Motion {
    pub position_m: [f64; 3],
    /// Body-to-world `[w, x, y, z]`, normalised.
    pub attitude: [f64; 4],
    pub velocity_mps: [f64; 3],
    pub accel_mps2: [f64; 3],
    /// Body frame, rad/s.
    pub angular_velocity_body_radps: [f64; 3],
    /// Body frame, rad/s^2.
    pub angular_accel_body_radps2: [f64; 3],
}

/// `a* b` for quaternions `[w, x, y, z]`: its vector part.
fn conj_mul_vec(a: [f64; 4], b: [f64; 4]) -> [f64; 3] {
    let [w1, x1, y1, z1] = [a[0], -a[1], -a[2], -a[3]];
    let [w2, x2, y2, z2] = b;
    [
        w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
        w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
        w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
    ]
}

impl ModelFile {
    /// The body's motion at state `x` under input `u`: the state moves
    /// along `x' = f(x, u)` with `x'' = (df/dx) x'` (the input held), and
    /// the mapped position and attitude are differentiated twice along it.
    /// Allocates nothing. Mappings that are not a unit quaternion are
    /// normalised; the rates assume they are.
    pub fn motion(&self, x: &[f64], u: &[f64]) -> Motion {
        let nx = self.nx().min(MAX_SLOTS);
        let mut xdot = [0.0; MAX_SLOTS];
        self.derivative(x, u, &mut xdot[..nx]);
        // x'' = J_f x', by one forward-mode pass along x'.
        let mut xs = [Dual64::from(0.0); MAX_SLOTS];
        for i in 0..nx {
            xs[i] = Dual64::new(x[i], xdot[i]);
        }
        let us_len = self.nu().min(MAX_SLOTS);
        let mut us = [Dual64::from(0.0); MAX_SLOTS];
        for (d, v) in us.iter_mut().zip(u.iter().take(us_len)) {
            *d = Dual64::from(*v);
        }
        let mut fd = [Dual64::from(0.0); MAX_SLOTS];
        self.derivative(&xs[..nx], &us[..us_len], &mut fd[..nx]);
        // x(t) = x + t x' + t^2/2 x'': first derivative x', second x''.
        let mut x2 = [Dual2_64::from(0.0); MAX_SLOTS];
        for i in 0..nx {
            x2[i] = Dual2_64::new(x[i], xdot[i], fd[i].eps);
        }
        let mut out = [Dual2_64::from(0.0); 10];
        self.backend.mapping(&x2[..nx], &mut out);
        let re = |k: usize| out[k].re;
        let q = [re(3), re(4), re(5), re(6)];
        let norm = q.iter().map(|v| v * v).sum::<f64>().sqrt();
        let (attitude, scale) = if norm.is_finite() && norm > 1e-12 {
            (q.map(|v| v / norm), 1.0 / norm)
        } else {
            ([1.0, 0.0, 0.0, 0.0], 0.0)
        };
        let q1 = [out[3].v1, out[4].v1, out[5].v1, out[6].v1].map(|v| v * scale);
        let q2 = [out[3].v2, out[4].v2, out[5].v2, out[6].v2].map(|v| v * scale);
        let w = conj_mul_vec(attitude, q1).map(|v| 2.0 * v);
        let dw = conj_mul_vec(attitude, q2).map(|v| 2.0 * v);
        Motion {
            position_m: [re(0), re(1), re(2)],
            attitude,
            velocity_mps: [out[0].v1, out[1].v1, out[2].v1],
            accel_mps2: [out[0].v2, out[1].v2, out[2].v2],
            angular_velocity_body_radps: w,
            angular_accel_body_radps2: dw,
        }
    }
}
