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
use num_dual::{DualNum, DualSVec64};
use recede_model::file::{FileRobot, ModelFile};
use recede_model::robots::continuum_arm::NS as ARM_NS;
use recede_model::robots::{pcc, Arm, CartPole, ContinuumArm, ContinuumArmParams, DiffDrive};
use recede_model::{Dynamics, Rk4};
use recede_msg::MAX_DIM;

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
    /// The tendon-driven continuum arm (PCC states: curvatures, rates).
    ContinuumArm(ContinuumArmParams),
    /// A model file or URDF robot: measured as its description says.
    File(FileSensing),
}

/// What a file robot's sensors measure, from its description.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct FileSensing {
    /// A fix is fused (the file maps a position).
    pub position: bool,
    /// The fix's yaw is fused too (the file maps an attitude).
    pub yaw: bool,
    /// Encoder channel `c` reads state `encoders[c]`, `c < channels`.
    pub encoders: [usize; MAX_DIM],
    pub channels: usize,
}

impl FileSensing {
    pub fn new(model: &ModelFile) -> Self {
        let mut encoders = [0; MAX_DIM];
        let channels = model.encoder_states.len().min(MAX_DIM);
        encoders[..channels].copy_from_slice(&model.encoder_states[..channels]);
        Self {
            position: model.position_mapped,
            yaw: model.attitude_mapped,
            encoders,
            channels,
        }
    }
}

/// The description a file robot's measurement models read: its mappings
/// (none for a built-in robot, whose models are written here).
pub(crate) trait Described {
    fn description(&self) -> Option<&ModelFile> {
        None
    }
}

impl Described for DiffDrive {}
impl Described for CartPole {}
impl Described for Arm {}
impl Described for ContinuumArm {}

impl<const NX: usize, const NU: usize> Described for FileRobot<NX, NU> {
    fn description(&self) -> Option<&ModelFile> {
        Some(&self.model)
    }
}

/// A file robot's mapped position of the point `lever` (body frame) and
/// its body's yaw (the heading of its x axis) at state `x`, on any scalar.
/// The attitude is normalised; level where the file maps none.
fn mapped_fix<T: recede_model::Scalar>(
    model: &ModelFile,
    x: &[T],
    lever: &Vector3<f64>,
) -> ([T; 3], T) {
    let zero = T::from(0.0);
    let mut out = [zero; 10];
    model.mapping(x, &mut out);
    let (w, i, j, k) = (out[3], out[4], out[5], out[6]);
    let norm2 = w * w + i * i + j * j + k * k;
    // The heading of the body's x axis, |q|^2 R e_x (the scale leaves it).
    let yaw = ((i * j + w * k) * 2.0).atan2(w * w + i * i - j * j - k * k);
    let mut p = [out[0], out[1], out[2]];
    if lever.iter().any(|v| *v != 0.0) && norm2.re() > 1e-24 {
        // p + R lever, R of the unit quaternion: v + 2 w (u x v) + 2 u x (u x v).
        let s = norm2.sqrt().recip();
        let (w, u) = (w * s, [i * s, j * s, k * s]);
        let v = [T::from(lever.x), T::from(lever.y), T::from(lever.z)];
        let cross = |a: [T; 3], b: [T; 3]| {
            [
                a[1] * b[2] - a[2] * b[1],
                a[2] * b[0] - a[0] * b[2],
                a[0] * b[1] - a[1] * b[0],
            ]
        };
        let uv = cross(u, v);
        let uuv = cross(u, uv);
        for r in 0..3 {
            p[r] += v[r] + (w * uv[r] + uuv[r]) * 2.0;
        }
    } else {
        for r in 0..3 {
            p[r] += T::from(lever[r]);
        }
    }
    (p, yaw)
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

    /// A file robot's fix: the mapped position of the sensor's point (3
    /// rows, `gate_fix`), then the yaw where the file maps an attitude (1
    /// row, `gate_yaw`; skipped where the body's x axis is near vertical,
    /// its heading undefined).
    fn file_fix(
        &mut self,
        sensing: FileSensing,
        z: &Vector3<f64>,
        yaw: f64,
        lever: &Vector3<f64>,
    ) -> Outcome {
        let Some(model) = self.dynamics.description() else {
            return Outcome::Ignored;
        };
        if !sensing.position {
            return Outcome::Ignored;
        }
        let n = self.noise;
        let position = correct(
            &mut self.x,
            &mut self.p,
            &mut self.recovery,
            *z,
            |s| Vector3::from(mapped_fix(model, s.as_slice(), lever).0),
            SMatrix::<f64, 3, 3>::identity() * n.fix_std.powi(2),
            n.gate_fix,
            None,
        );
        if !sensing.yaw || !matches!(position, Outcome::Used | Outcome::Recovered) {
            return position;
        }
        // |q|^2 times the x axis' horizontal part: defined when it is not
        // short against |q|^2.
        let mut out = [0.0; 10];
        model.mapping(self.x.as_slice(), &mut out);
        let (w, i, j, k) = (out[3], out[4], out[5], out[6]);
        let norm2 = w * w + i * i + j * j + k * k;
        let heading = (2.0 * (i * j + w * k)).hypot(w * w + i * i - j * j - k * k);
        if heading.is_nan() || heading <= 0.3 * norm2 {
            return position;
        }
        match correct(
            &mut self.x,
            &mut self.p,
            &mut self.recovery,
            SVector::<f64, 1>::new(yaw),
            |s| SVector::<DualSVec64<NX>, 1>::new(mapped_fix(model, s.as_slice(), lever).1),
            SMatrix::<f64, 1, 1>::new(n.yaw_std.powi(2)),
            n.gate_yaw,
            Some(0),
        ) {
            Outcome::Ignored => Outcome::Used,
            o => o,
        }
    }

    /// A file robot's encoders: channel `c` reads state `encoders[c]`
    /// (the channels both the reading and the file have). One update of
    /// `NX` rows, the unused ones zero (no innovation, no information), so
    /// any channel count is one fixed-size update and its NIS has the
    /// channels' degrees of freedom.
    fn file_encoders(
        &mut self,
        sensing: FileSensing,
        ticks: &[i64; MAX_DIM],
        channels: usize,
    ) -> Outcome {
        let used = channels.min(sensing.channels).min(NX);
        if used == 0 {
            return Outcome::Ignored;
        }
        let n = self.noise;
        let per_tick = std::f64::consts::TAU / n.ticks_per_rev as f64;
        let quant_var = per_tick.powi(2) / 12.0;
        let states = sensing.encoders;
        // Floor quantisation: the state lies in [t, t + 1) ticks.
        let z = SVector::<f64, NX>::from_fn(|c, _| {
            if c < used {
                (ticks[c] as f64 + 0.5) * per_tick
            } else {
                0.0
            }
        });
        let r = SMatrix::<f64, NX, NX>::from_fn(|a, b| match (a == b, a < used) {
            (true, true) => quant_var + 1e-8,
            (true, false) => 1.0,
            _ => 0.0,
        });
        correct(
            &mut self.x,
            &mut self.p,
            &mut self.recovery,
            z,
            |s| {
                SVector::<DualSVec64<NX>, NX>::from_fn(|c, _| {
                    if c < used {
                        s[states[c]]
                    } else {
                        DualSVec64::from_re(0.0)
                    }
                })
            },
            r,
            n.gate_encoders,
            None,
        )
    }

    fn encoders(&mut self, ticks: &[i64; MAX_DIM], channels: usize) -> Outcome {
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

    fn gyro(&mut self, f: &Vector3<f64>, w: &Vector3<f64>) -> Outcome {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    fn models() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../configs/models")
    }

    /// The fix's position (3 rows) and yaw by AD against central
    /// differences of the same function on `f64`.
    fn check_fix_jacobian<const NX: usize>(model: &ModelFile, x: [f64; NX], lever: Vector3<f64>) {
        let (h0, j) = jacobian::<NX, 4>(|d| {
            let s = SVector::<DualSVec64<NX>, NX>::from_fn(|i, _| d[i] + x[i]);
            let (p, yaw) = mapped_fix(model, s.as_slice(), &lever);
            SVector::<DualSVec64<NX>, 4>::new(p[0], p[1], p[2], yaw)
        });
        let f = |x: &[f64; NX]| {
            let (p, yaw) = mapped_fix(model, x, &lever);
            [p[0], p[1], p[2], yaw]
        };
        assert_eq!(h0.as_slice(), f(&x), "values");
        let eps = 1e-6;
        for i in 0..NX {
            let (mut a, mut b) = (x, x);
            a[i] += eps;
            b[i] -= eps;
            let (fa, fb) = (f(&a), f(&b));
            for r in 0..4 {
                let fd = (fa[r] - fb[r]) / (2.0 * eps);
                assert!(
                    (j[(r, i)] - fd).abs() < 1e-6 * (1.0 + fd.abs()),
                    "row {r}, state {i}: AD {} vs differences {fd}",
                    j[(r, i)]
                );
            }
        }
        assert!(
            j.iter().any(|v| v.abs() > 1e-3),
            "a Jacobian that says something"
        );
    }

    #[test]
    fn fix_jacobian_of_a_model_file_matches_finite_differences() {
        let vtol = recede_model::file::load(&models().join("vtol.toml")).unwrap();
        let x = [0.4, 1.2, 0.3, 0.5, -0.2, 0.7];
        check_fix_jacobian(&vtol, x, Vector3::new(0.1, 0.02, 0.05));
        check_fix_jacobian(&vtol, x, Vector3::zeros());
    }

    #[test]
    fn fix_jacobian_of_a_urdf_tip_matches_finite_differences() {
        let arm = recede_model::urdf::load(
            &models().join("arm6.urdf"),
            &Default::default(),
            &BTreeMap::new(),
        )
        .unwrap();
        let x = [0.3, 0.5, 0.9, -0.4, 0.6, 0.2, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0];
        check_fix_jacobian(&arm, x, Vector3::new(0.0, 0.0, 0.08));
    }

    #[test]
    fn encoder_update_picks_the_named_states() {
        let cartpole = recede_model::file::load(&models().join("cartpole.toml")).unwrap();
        let sensing = FileSensing::new(&cartpole);
        assert_eq!((sensing.channels, sensing.encoders[0]), (1, 1));
        let noise = ModelNoise {
            fix_std: 0.01,
            yaw_std: 0.01,
            gyro_std: 0.01,
            speed_std: 0.01,
            ticks_per_rev: 4096,
            gate_fix: 16.0,
            gate_yaw: 10.0,
            gate_encoders: 14.0,
            gate_imu: 16.0,
            accel_std: 4.0,
            max_step: 0.01,
            gate_reset_after: 25,
        };
        let robot = FileRobot::<4, 1>::new(std::sync::Arc::new(cartpole)).unwrap();
        let mut f = ModelFilter::new(
            robot,
            Kind::File(sensing),
            &[0.0, 0.5, 0.0, 0.0],
            &[0.1, 0.1, 0.1, 0.1],
            &[0.0; 4],
            noise,
        );
        // theta = 0.52 rad is tick 339 of 4096.
        let mut ticks = [0; MAX_DIM];
        ticks[0] = (0.52 * 4096.0 / std::f64::consts::TAU).floor() as i64;
        assert_eq!(f.encoders(&ticks, 1), Outcome::Used);
        assert!((f.x[1] - 0.52).abs() < 2e-3, "theta {}", f.x[1]);
        assert!(f.x[0].abs() < 1e-12, "p untouched: {}", f.x[0]);
        assert!(f.p[(1, 1)].sqrt() < 3e-3 && f.p[(0, 0)].sqrt() > 0.09);
        // A fix through the position mapping [p, 0, 0].
        let o = f.fix(&Vector3::new(0.2, 0.0, 0.0), 0.0, &Vector3::zeros());
        assert_eq!(o, Outcome::Used);
        assert!((f.x[0] - 0.2).abs() < 0.01, "p {}", f.x[0]);
    }

    /// The continuum arm's tip fix (through the PCC forward kinematics,
    /// with a lever on the tip frame) and tip IMU (gravity in the tip
    /// frame, the pitch rate) pin the tip's position and angle, and the
    /// rates' sum: a filter started near a bent arm lands on its tip
    /// pose. Not quite on its curvatures: near straight the tip's height is of
    /// second order in them, so one combination is barely observed (the
    /// filter's dynamics and its prior fill it in).
    #[test]
    fn a_continuum_arm_filter_finds_the_curvatures_from_the_tip_sensors() {
        let params = ContinuumArmParams::default();
        let noise = ModelNoise {
            fix_std: 0.001,
            yaw_std: 0.01,
            gyro_std: 0.01,
            speed_std: 0.01,
            ticks_per_rev: 4096,
            gate_fix: 16.0,
            gate_yaw: 10.0,
            gate_encoders: 14.0,
            gate_imu: 16.0,
            accel_std: 0.1,
            max_step: 0.01,
            gate_reset_after: 3,
        };
        // Started 0.1 1/m off (a 3 mm tip error), in the linear region:
        // repeated updates of one reading shrink the covariance like
        // independent ones, they do not iterate to a far minimum.
        let filter = |k: &SVector<f64, 3>| {
            ModelFilter::new(
                ContinuumArm::new(params).unwrap(),
                Kind::ContinuumArm(params),
                &[k[0] + 0.1, k[1] - 0.1, k[2] + 0.1, 0.0, 0.0, 0.0],
                &[0.3, 0.3, 0.3, 1.0, 1.0, 1.0],
                &[0.0; 6],
                noise,
            )
        };
        let g = recede_model::GRAVITY;
        let l = pcc::section_length(&params, ARM_NS);
        let lever = Vector3::new(0.01, 0.0, 0.005);
        let rates = [0.2, -0.1, 0.3];
        let gyro = Vector3::new(0.0, -l * rates.iter().sum::<f64>(), 0.0);
        for kappa in [[0.4, -0.3, 0.5], [1.0, -0.5, 1.5]] {
            let kappa = SVector::<f64, 3>::from(kappa);
            let ([tx, tz], angle) = pcc::tip(&params, &kappa);
            let (sn, cs) = angle.sin_cos();
            let fix = Vector3::new(
                tx + cs * lever.x - sn * lever.z,
                0.0,
                tz + sn * lever.x + cs * lever.z,
            );
            let specific_force = Vector3::new(g * sn, 0.0, g * cs);
            let mut f = filter(&kappa);
            for _ in 0..50 {
                assert_eq!(f.fix(&fix, 0.0, &lever), Outcome::Used);
                assert_eq!(f.gyro(&specific_force, &gyro), Outcome::Used);
            }
            let seen = f.world_from_body();
            let tip = Vector3::new(tx, 0.0, tz);
            assert!(
                (seen.translation.vector - tip).norm() < 2e-4,
                "{seen:?} vs {tip}"
            );
            let k = SVector::<f64, 3>::new(f.x[0], f.x[1], f.x[2]);
            assert!((pcc::tip(&params, &k).1 - angle).abs() < 2e-3, "{k}");
            // The update did move all three, and along the truth's sum.
            assert!((k.sum() - kappa.sum()).abs() < 0.02, "{k} vs {kappa}");
            let rate: f64 = (3..6).map(|j| f.x[j]).sum::<f64>() * l;
            assert!((rate + gyro.y).abs() < 1e-3, "tip rate {rate}");
        }
        // Straight and still, the tip hangs at -L on z.
        let pose = ModelFilter::new(
            ContinuumArm::new(params).unwrap(),
            Kind::ContinuumArm(params),
            &[0.0; 6],
            &[1.0; 6],
            &[0.0; 6],
            noise,
        )
        .world_from_body();
        assert!((pose.translation.vector - Vector3::new(0.0, 0.0, -0.45)).norm() < 1e-12);
    }
}
