//! The world seam: what the loop drives. The simulator is one
//! implementation (`recede-runner` adapts it, see its `adapters/`); a log
//! replay or a hardware bridge would be others. The loop never learns
//! which.

use recede_msg::{Reading, SensorInfo};

/// Why a world could not go on (boxed: it ends the run, and each world has
/// its own error type).
pub type WorldError = Box<dyn std::error::Error + Send + Sync>;

/// A world the loop advances in time under its commands and that hands
/// back readings. Driven on the loop's own thread only; never reads a
/// clock (real time is paced by the loop).
pub trait World {
    /// The sensors whose readings [`Self::poll_readings`] delivers, indexed
    /// by [`SensorId`](recede_msg::SensorId).
    fn sensors(&self) -> &[SensorInfo];
    /// The length of a command.
    fn input_len(&self) -> usize;
    /// The world's time, s.
    fn time_secs(&self) -> f64;
    /// The finest step the world advances by, s: real time is paced by it
    /// and times within half of it are the same instant.
    fn step_secs(&self) -> f64;
    /// The command acting now (before the loop's first).
    fn command(&self) -> &[f64];
    /// Holds `command` until `t_secs` (not before the world's time).
    fn advance_to(&mut self, t_secs: f64, command: &[f64]) -> Result<(), WorldError>;
    /// Appends the readings available by `t_secs`, in order of
    /// availability.
    fn poll_readings(&mut self, t_secs: f64, out: &mut Vec<Reading>);
    /// Samples sensor `index` has lost so far (dropouts), for the report.
    fn lost(&self, _index: usize) -> u64 {
        0
    }
    /// Ground truth, when the world knows it (a simulator, a replay of a
    /// logged run): the true state now. The truth estimator and scoring
    /// need it; a hardware bridge has none.
    fn true_state(&self) -> Option<&[f64]> {
        None
    }
    /// Ground truth: the distance from the robot to the nearest obstacle,
    /// m, when known.
    fn clearance_m(&self) -> Option<f64> {
        None
    }
    /// Ground truth: points along a deformable body now (a continuum arm's
    /// rod nodes, base to tip, world frame), for the recording; empty for
    /// a rigid robot. Its length stays what it was at the start.
    fn true_shape(&self) -> &[[f64; 3]] {
        &[]
    }
    /// The run is over: finish what is still in flight.
    fn finish(&mut self) {}
}
