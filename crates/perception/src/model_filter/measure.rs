//! The built-in robots' measurement models: fixes, encoders, gyros and the
//! continuum arm's tip IMU.

use nalgebra::{SMatrix, SVector, Vector3};
use num_dual::{DualNum, DualSVec64};
use recede_model::robots::continuum_arm::NS as ARM_NS;
use recede_model::robots::{pcc, ContinuumArmParams};
use recede_model::Dynamics;
use recede_msg::MAX_DIM;

use super::{Described, Kind, ModelFilter};
use crate::kalman::Outcome;

impl<D, const NX: usize, const NU: usize> ModelFilter<D, NX, NU>
where
    D: Dynamics<NX, NU> + Clone + Described,
{
    pub(super) fn fix(&mut self, z: &Vector3<f64>, yaw: f64, lever: &Vector3<f64>) -> Outcome {
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
            Kind::ContinuumArm(params) => {
                let (lx, lz) = (lever.x, lever.z);
                let var = n.fix_std.powi(2);
                self.correct(
                    SVector::<f64, 2>::new(z.x, z.z),
                    |s| {
                        let q = SVector::<DualSVec64<NX>, ARM_NS>::from_fn(|i, _| s[i]);
                        let ([tx, tz], angle) = pcc::tip(&params, &q);
                        // The tip frame: x along the tangent, turned about -y.
                        let (sn, cs) = angle.sin_cos();
                        SVector::<DualSVec64<NX>, 2>::new(
                            tx + cs * lx - sn * lz,
                            tz + sn * lx + cs * lz,
                        )
                    },
                    SMatrix::<f64, 2, 2>::identity() * var,
                    n.gate_fix,
                    None,
                )
            }
            Kind::File(sensing) => self.file_fix(sensing, z, yaw, lever),
        }
    }

    pub(super) fn encoders(&mut self, ticks: &[i64; MAX_DIM], channels: usize) -> Outcome {
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
                let previous = self.last_encoders.replace((self.t, [ticks[0], ticks[1]]));
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
            // No encoders on a continuum arm.
            Kind::ContinuumArm(_) => Outcome::Ignored,
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
            Kind::File(sensing) => self.file_encoders(sensing, ticks, channels),
        }
    }

    /// A continuum arm's tip IMU: the specific force along the tip's x and
    /// z (gravity seen in the tip frame, `g (sin a, cos a)`: the tip's
    /// angle; the arm's own acceleration is noise of `accel_std`) and the
    /// gyro's rate about y (`-l sum(kappa')`: the angle is linear in the
    /// curvatures, each section adding `kappa_j l`).
    fn tip_imu(
        &mut self,
        params: &ContinuumArmParams,
        f: &Vector3<f64>,
        w: &Vector3<f64>,
    ) -> Outcome {
        let l = pcc::section_length(params, ARM_NS);
        let g = recede_model::GRAVITY;
        let (fv, gv) = (
            self.noise.accel_std.powi(2),
            self.noise.gyro_std.powi(2) + 1e-6,
        );
        let params = *params;
        self.correct(
            Vector3::new(f.x, f.z, w.y),
            |s| {
                let q = SVector::<DualSVec64<NX>, ARM_NS>::from_fn(|i, _| s[i]);
                let (_, angle) = pcc::tip(&params, &q);
                let (sn, cs) = angle.sin_cos();
                let mut rate = s[ARM_NS] * 0.0;
                for j in 0..ARM_NS {
                    rate += s[ARM_NS + j] * l;
                }
                SVector::<DualSVec64<NX>, 3>::new(sn * g, cs * g, -rate)
            },
            SMatrix::<f64, 3, 3>::from_diagonal(&Vector3::new(fv, fv, gv)),
            self.noise.gate_imu,
            None,
        )
    }

    pub(super) fn gyro(&mut self, f: &Vector3<f64>, w: &Vector3<f64>) -> Outcome {
        match self.kind {
            Kind::DiffDrive { .. } => self.correct(
                SVector::<f64, 1>::new(w.z),
                |s| SVector::<DualSVec64<NX>, 1>::new(s[4]),
                SMatrix::<f64, 1, 1>::new(self.noise.gyro_std.powi(2) + 1e-4),
                self.noise.gate_imu,
                None,
            ),
            Kind::ContinuumArm(params) => self.tip_imu(&params, f, w),
            Kind::CartPole | Kind::Arm | Kind::File(_) => Outcome::Ignored,
        }
    }
}
