//! The perception pipeline as the loop's estimator.

use recede_msg::Reading;
use recede_perception::{Outcome, Perception};
use recede_rt::{Estimate, Estimator, Verdict};

/// [`Perception`] behind [`Estimator`]: readings and the applied commands
/// in, the state, its σ and the world model (confirmed obstacles and
/// targets) out, all through the loop. The pipeline stays readable after
/// the run for the summary ([`Self::perception`]).
#[derive(Debug)]
pub struct PerceptionEstimator {
    perception: Perception,
}

impl PerceptionEstimator {
    pub fn new(perception: Perception) -> Self {
        Self { perception }
    }

    pub fn perception(&self) -> &Perception {
        &self.perception
    }
}

impl Estimator for PerceptionEstimator {
    fn label(&self) -> &'static str {
        "ekf"
    }

    fn on_reading(&mut self, reading: &Reading) -> Verdict {
        match self.perception.on_reading(reading) {
            Outcome::Rejected { .. } | Outcome::NonFinite | Outcome::TooLate => Verdict::Rejected,
            Outcome::Used | Outcome::Recovered | Outcome::Ignored => Verdict::Accepted,
        }
    }

    fn on_command(&mut self, acts_from_secs: f64, command: &[f64]) {
        // A refused (non-finite) command is counted by nobody: the loop
        // never settles one, the world would have refused it first.
        let _ = self.perception.on_command(acts_from_secs, command);
    }

    fn estimate(&mut self, t_secs: f64, out: &mut Estimate) -> bool {
        let e = self.perception.estimate(t_secs);
        let (state, std) = out.state_mut();
        if e.state.len() != state.len() || e.std.len() != std.len() {
            return false;
        }
        state.copy_from_slice(&e.state);
        std.copy_from_slice(&e.std);
        self.perception.world_model(&mut out.world);
        true
    }
}
