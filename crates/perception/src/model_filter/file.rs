//! What a model file or URDF robot's sensors measure: its mappings, by AD.

use nalgebra::{SMatrix, SVector, Vector3};
use num_dual::DualSVec64;
use recede_model::file::{FileRobot, ModelFile};
use recede_model::robots::{Arm, CartPole, ContinuumArm, DiffDrive};
use recede_model::Dynamics;
use recede_msg::MAX_DIM;

use super::{correct, ModelFilter};
use crate::kalman::Outcome;

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
pub(super) fn mapped_fix<T: recede_model::Scalar>(
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

impl<D, const NX: usize, const NU: usize> ModelFilter<D, NX, NU>
where
    D: Dynamics<NX, NU> + Clone + Described,
{
    /// A file robot's fix: the mapped position of the sensor's point (3
    /// rows, `gate_fix`), then the yaw where the file maps an attitude (1
    /// row, `gate_yaw`; skipped where the body's x axis is near vertical,
    /// its heading undefined).
    pub(super) fn file_fix(
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
    pub(super) fn file_encoders(
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
}
