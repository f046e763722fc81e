//! The estimator seam: what turns readings into the state the controller
//! acts on.

use recede_msg::{Measurement, Reading};

/// What the estimator did with a reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Used (or kept for later use).
    Accepted,
    /// Refused (non-finite, gated out as an outlier, out of order ...).
    Rejected,
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
    /// The estimate at `t_secs` (state and per-component standard
    /// deviations, lengths nx); false while there is none yet.
    fn estimate(&mut self, t_secs: f64, state: &mut [f64], std: &mut [f64]) -> bool;
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

    fn estimate(&mut self, _t_secs: f64, state: &mut [f64], std: &mut [f64]) -> bool {
        if !self.have {
            return false;
        }
        state.copy_from_slice(&self.state);
        std.fill(0.0);
        true
    }
}
