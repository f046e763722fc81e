//! EKF driven by a robot's own model and the commands applied: the ground
//! robot, the cart-pole and the arm. The transition Jacobian is the exact
//! derivative of the RK4 step ([`Rk4::linearize`]); unknown accelerations
//! are process noise. Measurements per robot:
//!
//! - ground robot: position fix (x, y of the sensor, and yaw), wheel
//!   encoders (speed and yaw rate from the tick increments), gyro (yaw rate);
//! - cart-pole: position fix (cart position along x), encoder (pole angle);
//! - arm: encoders (both joint angles);
//! - continuum arm: a position fix on the tip frame (its x and z through
//!   the PCC forward kinematics, the lever turned by the tip's angle) and
//!   the gyro's pitch rate (minus the tip angle's rate, `l sum(kappa')`);
//! - a model file or URDF robot ([`FileSensing`]): what its description
//!   maps: a position fix through its position mapping (and the fix's yaw
//!   through its attitude mapping), encoders on the states it names.
//!   Measurement Jacobians by AD through the mapping.

use nalgebra::{Isometry3, SMatrix, SVector, Translation3, UnitQuaternion, Vector3};
use num_dual::DualSVec64;
use recede_model::robots::continuum_arm::NS as ARM_NS;
use recede_model::robots::{pcc, ContinuumArmParams};
use recede_model::{Dynamics, Rk4};

use crate::kalman::{jacobian, update, wrap_angle, Outcome};
use crate::timeline::{Event, Filter};

mod file;
mod measure;
#[cfg(test)]
mod tests;

pub(crate) use file::{Described, FileSensing};

/// Which robot, with what measurement models need of its geometry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Kind {
    DiffDrive {
        wheel_radius_m: f64,
        track_width_m: f64,
    },
    CartPole,
    Arm,
    /// The tendon-driven continuum arm (PCC states: curvatures, rates).
    ContinuumArm(ContinuumArmParams),
    /// A model file or URDF robot: measured as its description says.
    File(FileSensing),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ModelNoise {
    pub fix_std: f64,
    pub yaw_std: f64,
    pub gyro_std: f64,
    /// The specific force's spread about gravity (a continuum arm's tilt).
    pub accel_std: f64,
    pub speed_std: f64,
    pub ticks_per_rev: u32,
    pub gate_fix: f64,
    pub gate_yaw: f64,
    pub gate_encoders: f64,
    pub gate_imu: f64,
    pub max_step: f64,
    pub gate_reset_after: u32,
}

/// The gate's way out: the reading that makes `after` rejections in a row
/// is fused without the gate, the covariance first re-opened (scaled so
/// that it explains the innovation, plus the initial `p0`), so an
/// estimate that left the measurements (an overconfident covariance, a
/// model far off) is pulled back instead of rejecting for ever.
#[derive(Debug, Clone, Copy, PartialEq)]
struct GateRecovery<const NX: usize> {
    p0: SMatrix<f64, NX, NX>,
    after: u32,
    in_a_row: u32,
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
    last_encoders: Option<(f64, [i64; 2])>,
    noise: ModelNoise,
    recovery: GateRecovery<NX>,
}

impl<D, const NX: usize, const NU: usize> ModelFilter<D, NX, NU>
where
    D: Dynamics<NX, NU> + Clone + Described,
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
            recovery: GateRecovery {
                p0: p,
                after: noise.gate_reset_after.max(1),
                in_a_row: 0,
            },
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
        correct(
            &mut self.x,
            &mut self.p,
            &mut self.recovery,
            z,
            h,
            r,
            gate,
            angle_row,
        )
    }
}

impl<D, const NX: usize, const NU: usize> Filter for ModelFilter<D, NX, NU>
where
    D: Dynamics<NX, NU> + Clone + Described,
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
                self.gyro(specific_force_body, gyro_body)
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
            Kind::ContinuumArm(params) => {
                let q = SVector::<f64, ARM_NS>::from_fn(|i, _| self.x[i]);
                let ([tx, tz], angle) = pcc::tip(&params, &q);
                Isometry3::from_parts(
                    Translation3::new(tx, 0.0, tz),
                    UnitQuaternion::from_axis_angle(&-Vector3::y_axis(), angle),
                )
            }
            Kind::File(_) => match self.dynamics.description() {
                Some(model) => {
                    let (p, [w, i, j, k], _) = model.placement(self.x.as_slice());
                    Isometry3::from_parts(
                        Translation3::from(Vector3::from(p)),
                        UnitQuaternion::new_normalize(nalgebra::Quaternion::new(w, i, j, k)),
                    )
                }
                None => Isometry3::identity(),
            },
        }
    }
}

/// One guarded Kalman update of `x_est`, `p` by a measurement
/// `z = h(x) + v`, `v ~ N(0, r)`, with `h`'s Jacobian by AD; the innovation
/// of `angle_row` is wrapped. A rejection that ends a run of
/// `recovery.after` is retried with the covariance re-opened and no gate
/// ([`GateRecovery`]).
#[allow(clippy::too_many_arguments)]
fn correct<const NX: usize, const M: usize>(
    x_est: &mut SVector<f64, NX>,
    p: &mut SMatrix<f64, NX, NX>,
    recovery: &mut GateRecovery<NX>,
    z: SVector<f64, M>,
    h: impl Fn(&SVector<DualSVec64<NX>, NX>) -> SVector<DualSVec64<NX>, M>,
    r: SMatrix<f64, M, M>,
    gate: f64,
    angle_row: Option<usize>,
) -> Outcome {
    if !z.iter().all(|v| v.is_finite()) {
        return Outcome::NonFinite;
    }
    let x = *x_est;
    let (h0, hj) = jacobian::<NX, M>(|d| {
        let s = SVector::<DualSVec64<NX>, NX>::from_fn(|i, _| d[i] + x[i]);
        h(&s)
    });
    let mut y = z - h0;
    if let Some(i) = angle_row {
        y[i] = wrap_angle(y[i]);
    }
    match update(p, &y, &hj, &r, gate) {
        Ok(dx) => {
            *x_est += dx;
            recovery.in_a_row = 0;
            Outcome::Used
        }
        Err(Outcome::Rejected { nis }) => {
            recovery.in_a_row += 1;
            if recovery.in_a_row < recovery.after {
                return Outcome::Rejected { nis };
            }
            // Fading memory (the trace form of an adaptive fading factor):
            // P scaled until H P H' holds what of the innovation the noise
            // R does not explain; `p0` re-opens what P had closed to
            // nothing.
            let kept = *p;
            let predicted = (hj * *p * hj.transpose()).trace();
            let fade = (y.norm_squared() - r.trace()) / predicted;
            *p = *p * if fade.is_finite() { fade.max(1.0) } else { 1.0 } + recovery.p0;
            match update(p, &y, &hj, &r, f64::INFINITY) {
                Ok(dx) => {
                    *x_est += dx;
                    recovery.in_a_row = 0;
                    Outcome::Recovered
                }
                Err(o) => {
                    *p = kept;
                    o
                }
            }
        }
        Err(o) => o,
    }
}
