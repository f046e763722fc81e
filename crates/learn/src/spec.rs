//! What the residual sees and what it corrects: the feature list, the output
//! map, the activation and the support guard, all plain config (serde, unknown
//! keys rejected, enums tagged by `kind` / `mode`).

use nalgebra::{Matrix3, SVector, Vector3};
use recede_model::{c, Scalar};
use serde::{Deserialize, Serialize};

use crate::error::LearnError;
use arrayvec::ArrayVec;

use crate::{MAX_HIDDEN_LAYERS, MAX_WIDTH};

const fn quat_default() -> usize {
    3
}
const fn vel_default() -> usize {
    7
}

/// One entry of the feature list. Each produces a fixed number of raw
/// features (see [`Feature::width`]); the raw values are then normalised with
/// the model's stored mean and std. Index defaults (`quat_start = 3`,
/// `vel_start = 7`) are the quadrotor's state layout of reference problem P2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Feature {
    /// `x[index]` (1 feature).
    State { index: usize },
    /// `u[index]` (1 feature).
    Input { index: usize },
    /// Every input, `u[0..NU]` (NU features).
    Inputs,
    /// The sum of the inputs, e.g. the quadrotor's collective thrust (1 feature).
    InputSum,
    /// Velocity in the body frame, `v_b = R(q)^T v` with `q = x[quat_start..+4]`
    /// (`[w, x, y, z]`, body-to-world) and `v = x[vel_start..+3]` (3 features).
    BodyVelocity {
        #[serde(default = "quat_default")]
        quat_start: usize,
        #[serde(default = "vel_default")]
        vel_start: usize,
    },
    /// Element-wise `|v_b,i| v_b,i` of the body-frame velocity: the shape of
    /// quadratic drag (3 features).
    BodyVelocityAbsProduct {
        #[serde(default = "quat_default")]
        quat_start: usize,
        #[serde(default = "vel_default")]
        vel_start: usize,
    },
    /// Attitude as the world's up axis seen in the body frame,
    /// `R(q)^T [0, 0, 1]`: smooth, and the same for `q` and `-q` (3 features).
    GravityInBody {
        #[serde(default = "quat_default")]
        quat_start: usize,
    },
    /// `[sin x[index], cos x[index]]` of an angle, e.g. a joint angle: smooth
    /// and periodic, the shape of gravity torques (2 features).
    SinCos { index: usize },
    /// `[sin(x[first] + x[second]), cos(x[first] + x[second])]`, e.g. the
    /// absolute angle of an arm's second link (2 features).
    SinCosSum { first: usize, second: usize },
}

/// Kind names accepted in files and configs, for error messages.
pub const FEATURE_KINDS: &str = "state, input, inputs, input_sum, body_velocity, \
    body_velocity_abs_product, gravity_in_body, sin_cos, sin_cos_sum";
pub(crate) const FEATURE_KIND_LIST: [&str; 9] = [
    "state",
    "input",
    "inputs",
    "input_sum",
    "body_velocity",
    "body_velocity_abs_product",
    "gravity_in_body",
    "sin_cos",
    "sin_cos_sum",
];

/// Where the network's outputs go: each entry consumes a fixed number of
/// outputs (see [`Output::width`]) and adds them to the state derivative.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Output {
    /// One output added to `xdot[index]`.
    State { index: usize },
    /// Three outputs forming a body-frame vector `a_b`, rotated to the world
    /// frame and added to `xdot[start..start+3]`: `xdot += R(q) a_b`. For the
    /// quadrotor (`start = 7`) this is an acceleration residual on `v'`,
    /// which is natural for body-frame drag.
    WorldFromBody {
        #[serde(default = "quat_default")]
        quat_start: usize,
        #[serde(default = "vel_default")]
        start: usize,
    },
    /// Three outputs added as they are to `xdot[start..start+3]` (a vector
    /// already in the state's frame).
    Vector3 { start: usize },
}

/// Kind names accepted in files and configs, for error messages.
pub const OUTPUT_KINDS: &str = "state, world_from_body, vector3";
pub(crate) const OUTPUT_KIND_LIST: [&str; 3] = ["state", "world_from_body", "vector3"];

/// Hidden-layer activation (the last layer is always linear).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    #[default]
    Tanh,
    Relu,
    /// `ln(1 + e^z)`, a smooth ReLU.
    Softplus,
}

/// What happens when a raw feature leaves the `[min, max]` box seen in
/// training. Every evaluation where some feature is outside is counted
/// ([`crate::GuardStats::outside_support`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
pub enum SupportGuard {
    /// Evaluate the network wherever it is asked (still counted).
    Off,
    /// Clamp each raw feature into its training range: the residual is held
    /// at its value on the boundary (its derivative across it is zero).
    #[default]
    Clip,
    /// Fade the whole residual to zero outside the box: per feature, with
    /// `e = distance outside / (width_std * feature std)`, a factor
    /// `1 - smoothstep(min(e, 1))`; the residual is multiplied by the product
    /// of the factors. Continuously differentiable; zero once any feature is
    /// `width_std` standard deviations outside.
    Fade { width_std: f64 },
}

/// The architecture and interface of a residual: the part a user writes in
/// `residual.toml` before training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResidualSpec {
    pub features: Vec<Feature>,
    pub outputs: Vec<Output>,
    /// Widths of the hidden layers, e.g. `[32, 32]`; empty for a linear model.
    #[serde(default)]
    pub hidden: Vec<usize>,
    #[serde(default)]
    pub activation: Activation,
    #[serde(default)]
    pub guard: SupportGuard,
}

/// The part of `(x, u)` a range of variables lies in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Block {
    State,
    Input,
}

impl Feature {
    /// Number of raw features this entry produces for a model with `nu` inputs.
    pub fn width(&self, nu: usize) -> usize {
        match self {
            Feature::State { .. } | Feature::Input { .. } | Feature::InputSum => 1,
            Feature::Inputs => nu,
            Feature::SinCos { .. } | Feature::SinCosSum { .. } => 2,
            Feature::BodyVelocity { .. }
            | Feature::BodyVelocityAbsProduct { .. }
            | Feature::GravityInBody { .. } => 3,
        }
    }

    /// The ranges of the state and the input this entry reads, as
    /// `(block, start, length, what they are)`: checked against the model's
    /// sizes, and the variables the tangent's compact rows keep.
    pub(crate) fn reads(&self, nu: usize) -> ArrayVec<(Block, usize, usize, &'static str), 2> {
        let mut out = ArrayVec::new();
        let mut read = |block, start, len, name| out.push((block, start, len, name));
        match *self {
            Feature::State { index } | Feature::SinCos { index } => {
                read(Block::State, index, 1, "state index")
            }
            Feature::Input { index } => read(Block::Input, index, 1, "input index"),
            Feature::Inputs | Feature::InputSum => read(Block::Input, 0, nu, "inputs"),
            Feature::BodyVelocity {
                quat_start,
                vel_start,
            }
            | Feature::BodyVelocityAbsProduct {
                quat_start,
                vel_start,
            } => {
                read(Block::State, quat_start, 4, "quaternion");
                read(Block::State, vel_start, 3, "velocity");
            }
            Feature::GravityInBody { quat_start } => {
                read(Block::State, quat_start, 4, "quaternion")
            }
            Feature::SinCosSum { first, second } => {
                read(Block::State, first, 1, "state index");
                read(Block::State, second, 1, "state index");
            }
        }
        out
    }

    fn validate(&self, i: usize, nx: usize, nu: usize) -> Result<(), LearnError> {
        let what = || format!("feature {i} ({self:?})");
        let in_range = |start: usize, len: usize, n: usize, name: &str| {
            if start + len <= n {
                Ok(())
            } else {
                Err(LearnError::invalid(
                    what(),
                    format!("{name} {start}..{} is outside 0..{n}", start + len),
                ))
            }
        };
        for (block, start, len, name) in self.reads(nu) {
            let n = match block {
                Block::State => nx,
                Block::Input => nu,
            };
            in_range(start, len, n, name)?;
        }
        Ok(())
    }

    /// Writes this entry's raw features into `out[at..at + width]`.
    #[inline]
    pub(crate) fn eval<T: Scalar, const NX: usize, const NU: usize>(
        &self,
        x: &SVector<T, NX>,
        u: &SVector<T, NU>,
        out: &mut Features<T>,
        rotations: &mut Rotations<T>,
    ) {
        match *self {
            Feature::State { index } => push(out, x[index]),
            Feature::Input { index } => push(out, u[index]),
            Feature::Inputs => {
                for j in 0..NU {
                    push(out, u[j]);
                }
            }
            Feature::InputSum => {
                let mut s = c::<T>(0.0);
                for j in 0..NU {
                    s += u[j];
                }
                push(out, s);
            }
            Feature::BodyVelocity {
                quat_start,
                vel_start,
            } => {
                let vb = rotations.of(x, quat_start).tr_mul(&vec3_at(x, vel_start));
                for k in 0..3 {
                    push(out, vb[k]);
                }
            }
            Feature::BodyVelocityAbsProduct {
                quat_start,
                vel_start,
            } => {
                let vb = rotations.of(x, quat_start).tr_mul(&vec3_at(x, vel_start));
                for k in 0..3 {
                    // |v| v, written with a branch so it stays exact on duals
                    // (its derivative 2|v| is continuous through 0).
                    let sq = vb[k] * vb[k];
                    push(out, if vb[k].re() >= 0.0 { sq } else { -sq });
                }
            }
            Feature::GravityInBody { quat_start } => {
                let up = Vector3::new(c::<T>(0.0), c(0.0), c(1.0));
                let gb = rotations.of(x, quat_start).tr_mul(&up);
                for k in 0..3 {
                    push(out, gb[k]);
                }
            }
            Feature::SinCos { index } => {
                push(out, x[index].sin());
                push(out, x[index].cos());
            }
            Feature::SinCosSum { first, second } => {
                let a = x[first] + x[second];
                push(out, a.sin());
                push(out, a.cos());
            }
        }
    }
}

/// Values on any scalar, at most [`MAX_WIDTH`] of them, on the stack and
/// never zero-filled (a `[T; MAX_WIDTH]` of 13-direction duals is 7.7 KB to
/// clear on every evaluation).
pub(crate) type Features<T> = ArrayVec<T, MAX_WIDTH>;

/// Appends to a buffer whose capacity validation has already checked
/// ([`ResidualSpec::validate`] bounds every width by [`MAX_WIDTH`]).
#[inline(always)]
fn push<T>(out: &mut Features<T>, value: T) {
    let pushed = out.try_push(value);
    debug_assert!(pushed.is_ok(), "feature buffer overflow");
}

impl Output {
    /// Number of network outputs this entry consumes.
    pub fn width(&self) -> usize {
        match self {
            Output::State { .. } => 1,
            Output::WorldFromBody { .. } | Output::Vector3 { .. } => 3,
        }
    }

    /// State-derivative indices this entry writes to.
    fn targets(&self) -> std::ops::Range<usize> {
        match *self {
            Output::State { index } => index..index + 1,
            Output::WorldFromBody { start, .. } | Output::Vector3 { start } => start..start + 3,
        }
    }

    fn validate(&self, i: usize, nx: usize) -> Result<(), LearnError> {
        let r = self.targets();
        if r.end > nx {
            return Err(LearnError::invalid(
                format!("output {i} ({self:?})"),
                format!("state derivative indices {r:?} are outside 0..{nx}"),
            ));
        }
        if let Output::WorldFromBody { quat_start, .. } = *self {
            if quat_start + 4 > nx {
                return Err(LearnError::invalid(
                    format!("output {i} ({self:?})"),
                    format!(
                        "quaternion {quat_start}..{} is outside 0..{nx}",
                        quat_start + 4
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Adds `scale * values[at..at + width]` (mapped) to `xdot`.
    #[inline]
    pub(crate) fn add<T: Scalar, const NX: usize>(
        &self,
        x: &SVector<T, NX>,
        values: &[T],
        at: usize,
        xdot: &mut SVector<T, NX>,
        rotations: &mut Rotations<T>,
    ) {
        match *self {
            Output::State { index } => xdot[index] += values[at],
            Output::WorldFromBody { quat_start, start } => {
                let ab = Vector3::new(values[at], values[at + 1], values[at + 2]);
                let aw = rotations.of(x, quat_start) * ab;
                for k in 0..3 {
                    xdot[start + k] += aw[k];
                }
            }
            Output::Vector3 { start } => {
                for k in 0..3 {
                    xdot[start + k] += values[at + k];
                }
            }
        }
    }

    /// The inverse of [`Output::add`]: reads the target values this entry
    /// would have to produce so that its contribution equals `residual`.
    pub(crate) fn extract<const NX: usize>(
        &self,
        x: &SVector<f64, NX>,
        residual: &SVector<f64, NX>,
        out: &mut [f64],
        at: usize,
    ) {
        match *self {
            Output::State { index } => out[at] = residual[index],
            Output::WorldFromBody { quat_start, start } => {
                let b = body_from_world(x, quat_start, &vec3_at(residual, start));
                out[at..at + 3].copy_from_slice(b.as_slice());
            }
            Output::Vector3 { start } => {
                out[at..at + 3].copy_from_slice(&residual.as_slice()[start..start + 3])
            }
        }
    }
}

impl ResidualSpec {
    /// Number of raw features (the network's input width).
    pub fn n_features(&self, nu: usize) -> usize {
        self.features.iter().map(|f| f.width(nu)).sum()
    }

    /// Number of network outputs.
    pub fn n_outputs(&self) -> usize {
        self.outputs.iter().map(Output::width).sum()
    }

    /// Layer widths from input to output, e.g. `[9, 32, 32, 3]`.
    pub fn layer_sizes(&self, nu: usize) -> Vec<usize> {
        let mut s = Vec::with_capacity(self.hidden.len() + 2);
        s.push(self.n_features(nu));
        s.extend_from_slice(&self.hidden);
        s.push(self.n_outputs());
        s
    }

    /// Checks the spec against a model with `nx` states and `nu` inputs:
    /// indices in range, widths in `1..=MAX_WIDTH`, no state derivative
    /// written twice, a usable guard.
    pub fn validate(&self, nx: usize, nu: usize) -> Result<(), LearnError> {
        if self.features.is_empty() {
            return Err(LearnError::invalid("spec", "the feature list is empty"));
        }
        if self.outputs.is_empty() {
            return Err(LearnError::invalid("spec", "the output list is empty"));
        }
        for (i, f) in self.features.iter().enumerate() {
            f.validate(i, nx, nu)?;
        }
        let mut written = vec![false; nx];
        for (i, o) in self.outputs.iter().enumerate() {
            o.validate(i, nx)?;
            for t in o.targets() {
                if written[t] {
                    return Err(LearnError::invalid(
                        format!("output {i} ({o:?})"),
                        format!("state derivative {t} is already written by another output"),
                    ));
                }
                written[t] = true;
            }
        }
        if self.hidden.len() > MAX_HIDDEN_LAYERS {
            return Err(LearnError::invalid(
                "hidden",
                format!(
                    "{} hidden layers, more than the maximum {MAX_HIDDEN_LAYERS}",
                    self.hidden.len()
                ),
            ));
        }
        for (l, &w) in self.layer_sizes(nu).iter().enumerate() {
            if w == 0 || w > MAX_WIDTH {
                return Err(LearnError::TooWide {
                    what: format!("layer {l} of the spec"),
                    width: w,
                    max: MAX_WIDTH,
                });
            }
        }
        if let SupportGuard::Fade { width_std } = self.guard {
            if !(width_std.is_finite() && width_std > 0.0) {
                return Err(LearnError::invalid(
                    "guard",
                    format!("fade width_std = {width_std}, expected a finite value > 0"),
                ));
            }
        }
        Ok(())
    }
}

/// The rotation of the state's quaternion, computed once per evaluation and
/// shared by every feature and output that needs it (the quadrotor's
/// body-velocity features and body-to-world output would otherwise build it
/// three times on dual numbers). Valid for one state only.
pub(crate) struct Rotations<T: Scalar> {
    quat_start: usize,
    matrix: Matrix3<T>,
}

impl<T: Scalar> Rotations<T> {
    pub(crate) fn new() -> Self {
        Self {
            quat_start: usize::MAX,
            matrix: Matrix3::from_element(c(0.0)),
        }
    }

    #[inline]
    pub(crate) fn of<const NX: usize>(
        &mut self,
        x: &SVector<T, NX>,
        quat_start: usize,
    ) -> &Matrix3<T> {
        if self.quat_start != quat_start {
            self.matrix = rotation(x, quat_start);
            self.quat_start = quat_start;
        }
        &self.matrix
    }
}

#[inline]
pub(crate) fn vec3_at<T: Scalar, const N: usize>(v: &SVector<T, N>, start: usize) -> Vector3<T> {
    Vector3::new(v[start], v[start + 1], v[start + 2])
}

/// `world_from_body` rotation of the unit quaternion `x[quat_start..+4]`
/// (`[w, x, y, z]`, body-to-world), on any scalar.
#[inline]
pub fn rotation<T: Scalar, const NX: usize>(x: &SVector<T, NX>, quat_start: usize) -> Matrix3<T> {
    let (w, qx, qy, qz) = (
        x[quat_start],
        x[quat_start + 1],
        x[quat_start + 2],
        x[quat_start + 3],
    );
    let one = c::<T>(1.0);
    let two = c::<T>(2.0);
    Matrix3::new(
        one - (qy * qy + qz * qz) * two,
        (qx * qy - w * qz) * two,
        (qx * qz + w * qy) * two,
        (qx * qy + w * qz) * two,
        one - (qx * qx + qz * qz) * two,
        (qy * qz - w * qx) * two,
        (qx * qz - w * qy) * two,
        (qy * qz + w * qx) * two,
        one - (qx * qx + qy * qy) * two,
    )
}

/// `R(q)^T v`: a world-frame vector expressed in the body frame.
#[inline]
pub fn body_from_world<T: Scalar, const NX: usize>(
    x: &SVector<T, NX>,
    quat_start: usize,
    v: &Vector3<T>,
) -> Vector3<T> {
    rotation(x, quat_start).tr_mul(v)
}
