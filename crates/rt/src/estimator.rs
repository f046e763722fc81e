//! The estimator seam: what turns readings into the state the controller
//! acts on.

use recede_msg::{Measurement, Reading, WorldModel};

use crate::msg::MAX_VALUES;

/// What the estimator did with a reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Used (or kept for later use).
    Accepted,
    /// Refused (non-finite, gated out as an outlier, out of order ...).
    Rejected,
}

/// What the estimator publishes and the controller acts on: the state,
/// its standard deviations and what perception sees. Inline and fixed in
/// size (about 8 KB), so that it travels through the loop's lock-free
/// slot without allocating.
#[derive(Debug, Clone, Copy)]
pub struct Estimate {
    len: usize,
    state: [f64; MAX_VALUES],
    std: [f64; MAX_VALUES],
    /// Obstacles and targets (empty for an estimator that sees none).
    pub world: WorldModel,
}

impl Estimate {
    /// An estimate of `nx` (at most [`MAX_VALUES`]) zero states, nothing
    /// seen.
    pub fn new(nx: usize) -> Self {
        Self {
            len: nx.min(MAX_VALUES),
            state: [0.0; MAX_VALUES],
            std: [0.0; MAX_VALUES],
            world: WorldModel::default(),
        }
    }

    pub fn state(&self) -> &[f64] {
        &self.state[..self.len]
    }

    /// Per-component standard deviations of the state.
    pub fn std(&self) -> &[f64] {
        &self.std[..self.len]
    }

    /// The state and its standard deviations, to be written.
    pub fn state_mut(&mut self) -> (&mut [f64], &mut [f64]) {
        (&mut self.state[..self.len], &mut self.std[..self.len])
    }
}

/// An estimator task's algorithm. Called on the estimator task only, in
/// order of availability; never reads a clock itself.
pub trait Estimator: Send {
    /// A short label for summaries (`"truth"`, `"ekf"`).
    fn label(&self) -> &'static str;
    /// One reading, in order of availability.
    fn on_reading(&mut self, reading: &Reading) -> Verdict;
    /// The true state at `t_secs`. Only the truth estimator uses it; a real
    /// estimator ignores it (the default).
    fn on_truth(&mut self, _t_secs: f64, _state: &[f64]) {}
    /// A command the world applies from `acts_from_secs` on (its control
    /// instant plus the actuation delay), told by the loop once it is
    /// settled: the controller's, or the fallback that replaced it. Model-
    /// driven filters predict with it.
    fn on_command(&mut self, _acts_from_secs: f64, _command: &[f64]) {}
    /// The estimate at `t_secs` into `out` (state, standard deviations and
    /// world model); false while there is none yet.
    fn estimate(&mut self, t_secs: f64, out: &mut Estimate) -> bool;
}

/// The true state, handed through: a debugging mode (no estimation error),
/// labelled `truth` in every summary. Readings are still checked so the
/// per-sensor counters mean something: one carrying a non-finite value is
/// rejected.
#[derive(Debug, Clone)]
pub struct TruthEstimator {
    state: Vec<f64>,
    have: bool,
}

impl TruthEstimator {
    pub fn new(nx: usize) -> Self {
        Self {
            state: vec![0.0; nx],
            have: false,
        }
    }
}

/// Whether a reading carries only finite numbers where numbers are
/// required (invalid depth pixels are NaN by convention and allowed).
pub(crate) fn reading_is_finite(reading: &Reading) -> bool {
    match &reading.measurement {
        Measurement::Imu {
            specific_force_mps2,
            gyro_radps,
        } => {
            specific_force_mps2.iter().all(|v| v.is_finite())
                && gyro_radps.iter().all(|v| v.is_finite())
        }
        Measurement::PositionFix {
            position_m,
            yaw_rad,
        } => position_m.iter().all(|v| v.is_finite()) && yaw_rad.is_finite(),
        Measurement::InfraredImage(img) => img.data.iter().all(|v| v.is_finite()),
        Measurement::Encoders { .. }
        | Measurement::RgbImage(_)
        | Measurement::DepthImage(_)
        | Measurement::LidarScan(_) => true,
    }
}

impl Estimator for TruthEstimator {
    fn label(&self) -> &'static str {
        "truth"
    }

    fn on_reading(&mut self, reading: &Reading) -> Verdict {
        if reading_is_finite(reading) {
            Verdict::Accepted
        } else {
            Verdict::Rejected
        }
    }

    fn on_truth(&mut self, _t_secs: f64, state: &[f64]) {
        if state.len() == self.state.len() {
            self.state.copy_from_slice(state);
            self.have = true;
        }
    }

    fn estimate(&mut self, _t_secs: f64, out: &mut Estimate) -> bool {
        let (state, std) = out.state_mut();
        if !self.have || state.len() != self.state.len() {
            return false;
        }
        state.copy_from_slice(&self.state);
        std.fill(0.0);
        out.world.clear();
        true
    }
}
