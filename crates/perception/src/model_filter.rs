//! EKF driven by a robot's own model and the commands applied: the ground
//! robot, the cart-pole and the arm. The transition Jacobian is the exact
//! derivative of the RK4 step ([`Rk4::linearize`]); unknown accelerations
//! are process noise. Measurements per robot:
//!
//! - ground robot: position fix (x, y of the sensor, and yaw), wheel
//!   encoders (speed and yaw rate from the tick increments), gyro (yaw rate);
//! - cart-pole: position fix (cart position along x), encoder (pole angle);
//! - arm: encoders (both joint angles).

use nalgebra::{Isometry3, SMatrix, SVector, Vector3};
use num_dual::{DualNum, DualSVec64};
use recede_model::{Dynamics, Rk4};

use crate::kalman::{jacobian, update, wrap_angle, Outcome};
use crate::timeline::{Event, Filter};

/// Which robot, with what measurement models need of its geometry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Kind {
    DiffDrive {
        wheel_radius_m: f64,
        track_width_m: f64,
    },
    CartPole,
    Arm,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ModelNoise {
    pub fix_std: f64,
    pub yaw_std: f64,
    pub gyro_std: f64,
    pub speed_std: f64,
    pub ticks_per_rev: u32,
    pub gate_fix: f64,
    pub gate_yaw: f64,
    pub gate_encoders: f64,
    pub gate_imu: f64,
    pub max_step: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ModelFilter<D, const NX: usize, const NU: usize> {
    dynamics: D,
    kind: Kind,
    t: f64,
    x: SVector<f64, NX>,
    p: SMatrix<f64, NX, NX>,
    u: SVector<f64, NU>,
    q_std: SVector<f64, NX>,
    last_encoders: Option<(f64, [i64; 4])>,
    noise: ModelNoise,
}

impl<D, const NX: usize, const NU: usize> ModelFilter<D, NX, NU>
where
    D: Dynamics<NX, NU> + Clone,
{
    pub fn new(
        dynamics: D,
        kind: Kind,
        x0: &[f64],
        std0: &[f64],
        q_std: &[f64],
        noise: ModelNoise,
    ) -> Self {
        let mut p = SMatrix::zeros();
        for i in 0..NX {
            p[(i, i)] = std0[i].powi(2);
        }
        Self {
            dynamics,
            kind,
            t: 0.0,
            x: SVector::from_column_slice(x0),
            p,
            u: SVector::zeros(),
            q_std: SVector::from_column_slice(q_std),
            last_encoders: None,
            noise,
        }
    }

    fn step(&mut self, dt: f64) {
        let lin = Rk4::new(dt, 1).linearize(&self.dynamics, &self.x, &self.u);
        let mut p = lin.a * self.p * lin.a.transpose();
        for i in 0..NX {
            p[(i, i)] += self.q_std[i].powi(2) * dt;
        }
        if lin.x_next.iter().all(|v| v.is_finite()) && p.iter().all(|v| v.is_finite()) {
            self.x = lin.x_next;
            self.p = (p + p.transpose()) * 0.5;
        } else {
            // A model that blows up (a wild command) keeps the state and
            // lets the uncertainty grow instead.
            for i in 0..NX {
                self.p[(i, i)] += self.q_std[i].powi(2) * dt;
            }
        }
        self.t += dt;
    }

    fn correct<const M: usize>(
        &mut self,
        z: SVector<f64, M>,
        h: impl Fn(&SVector<DualSVec64<NX>, NX>) -> SVector<DualSVec64<NX>, M>,
        r: SMatrix<f64, M, M>,
        gate: f64,
        angle_row: Option<usize>,
    ) -> Outcome {
        if !z.iter().all(|v| v.is_finite()) {
            return Outcome::NonFinite;
        }
        let x = self.x;
        let (h0, hj) = jacobian::<NX, M>(|d| {
            let s = SVector::<DualSVec64<NX>, NX>::from_fn(|i, _| d[i] + x[i]);
            h(&s)
        });
        let mut y = z - h0;
        if let Some(i) = angle_row {
            y[i] = wrap_angle(y[i]);
        }
        match update(&mut self.p, &y, &hj, &r, gate) {
            Ok(dx) => {
                self.x += dx;
                Outcome::Used
            }
            Err(o) => o,
        }
    }

    fn fix(&mut self, z: &Vector3<f64>, yaw: f64, lever: &Vector3<f64>) -> Outcome {
        let n = self.noise;
        match self.kind {
            Kind::DiffDrive { .. } => {
                let (lx, ly) = (lever.x, lever.y);
                let r = SMatrix::<f64, 3, 3>::from_diagonal(&Vector3::new(
                    n.fix_std.powi(2),
                    n.fix_std.powi(2),
                    n.yaw_std.powi(2),
                ));
                // Position and yaw as one 3-dof measurement (yaw in row 2).
                self.correct(
                    Vector3::new(z.x, z.y, yaw),
                    |s| {
                        let (sn, cs) = s[2].sin_cos();
                        SVector::<DualSVec64<NX>, 3>::new(
                            s[0] + cs * lx - sn * ly,
                            s[1] + sn * lx + cs * ly,
                            s[2],
                        )
                    },
                    r,
                    n.gate_fix,
                    Some(2),
                )
            }
            Kind::CartPole => {
                let lx = lever.x;
                self.correct(
                    SVector::<f64, 1>::new(z.x),
                    |s| SVector::<DualSVec64<NX>, 1>::new(s[0] + lx),
                    SMatrix::<f64, 1, 1>::new(n.fix_std.powi(2)),
                    n.gate_yaw.min(n.gate_fix),
                    None,
                )
            }
            Kind::Arm => Outcome::Ignored,
        }
    }

    fn encoders(&mut self, ticks: &[i64; 4], channels: usize) -> Outcome {
        let n = self.noise;
        let per_tick = std::f64::consts::TAU / n.ticks_per_rev as f64;
        // Floor quantisation: the angle lies in [t, t + 1) ticks.
        let angle = |t: i64| (t as f64 + 0.5) * per_tick;
        let quant_var = per_tick.powi(2) / 12.0;
        match self.kind {
            Kind::DiffDrive {
                wheel_radius_m,
                track_width_m,
            } => {
                if channels < 2 {
                    return Outcome::Ignored;
                }
                let previous = self.last_encoders.replace((self.t, *ticks));
                let Some((t0, ticks0)) = previous else {
                    return Outcome::Ignored;
                };
                let dt = self.t - t0;
                if !(dt > 1e-6 && dt < 0.5) {
                    return Outcome::Ignored;
                }
                let dl = (ticks[0] - ticks0[0]) as f64 * per_tick / dt;
                let dr = (ticks[1] - ticks0[1]) as f64 * per_tick / dt;
                let v = 0.5 * wheel_radius_m * (dl + dr);
                let w = wheel_radius_m * (dr - dl) / track_width_m;
                // Two quantised readings per increment.
                let wheel_var = 2.0 * quant_var / (dt * dt);
                let v_var = 0.5 * wheel_radius_m.powi(2) * wheel_var + n.speed_std.powi(2);
                let w_var = 2.0 * (wheel_radius_m / track_width_m).powi(2) * wheel_var
                    + (2.0 * n.speed_std / track_width_m).powi(2);
                self.correct(
                    SVector::<f64, 2>::new(v, w),
                    |s| SVector::<DualSVec64<NX>, 2>::new(s[3], s[4]),
                    SMatrix::<f64, 2, 2>::new(v_var, 0.0, 0.0, w_var),
                    n.gate_encoders,
                    None,
                )
            }
            Kind::CartPole => {
                if channels < 1 {
                    return Outcome::Ignored;
                }
                self.correct(
                    SVector::<f64, 1>::new(angle(ticks[0])),
                    |s| SVector::<DualSVec64<NX>, 1>::new(s[1]),
                    SMatrix::<f64, 1, 1>::new(quant_var + 1e-8),
                    n.gate_encoders,
                    Some(0),
                )
            }
            Kind::Arm => {
                if channels < 2 {
                    return Outcome::Ignored;
                }
                self.correct(
                    SVector::<f64, 2>::new(angle(ticks[0]), angle(ticks[1])),
                    |s| SVector::<DualSVec64<NX>, 2>::new(s[0], s[1]),
                    SMatrix::<f64, 2, 2>::identity() * (quant_var + 1e-8),
                    n.gate_encoders,
                    None,
                )
            }
        }
    }

    fn gyro(&mut self, w: &Vector3<f64>) -> Outcome {
        match self.kind {
            Kind::DiffDrive { .. } => self.correct(
                SVector::<f64, 1>::new(w.z),
                |s| SVector::<DualSVec64<NX>, 1>::new(s[4]),
                SMatrix::<f64, 1, 1>::new(self.noise.gyro_std.powi(2) + 1e-4),
                self.noise.gate_imu,
                None,
            ),
            Kind::CartPole | Kind::Arm => Outcome::Ignored,
        }
    }
}

impl<D, const NX: usize, const NU: usize> Filter for ModelFilter<D, NX, NU>
where
    D: Dynamics<NX, NU> + Clone,
{
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
        match event {
            Event::Imu {
                specific_force_body,
                gyro_body,
            } => {
                if !specific_force_body
                    .iter()
                    .chain(gyro_body.iter())
                    .all(|v| v.is_finite())
                {
                    return Outcome::NonFinite;
                }
                self.gyro(gyro_body)
            }
            Event::Fix {
                position_m,
                yaw_rad,
                lever_body_m,
            } => self.fix(position_m, *yaw_rad, lever_body_m),
            Event::Encoders { ticks, channels } => self.encoders(ticks, *channels),
            Event::Command { input, len } => {
                if *len != NU || !input[..NU].iter().all(|v| v.is_finite()) {
                    return Outcome::NonFinite;
                }
                self.u = SVector::from_column_slice(&input[..NU]);
                Outcome::Used
            }
        }
    }

    fn write(&self, state: &mut [f64], std: &mut [f64]) {
        state.copy_from_slice(self.x.as_slice());
        for i in 0..NX {
            std[i] = self.p[(i, i)].max(0.0).sqrt();
        }
    }

    fn world_from_body(&self) -> Isometry3<f64> {
        match self.kind {
            Kind::DiffDrive { .. } => Isometry3::new(
                Vector3::new(self.x[0], self.x[1], 0.0),
                Vector3::z() * self.x[2],
            ),
            Kind::CartPole => Isometry3::translation(self.x[0], 0.0, 0.0),
            Kind::Arm => Isometry3::identity(),
        }
    }
}
