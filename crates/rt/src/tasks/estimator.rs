//! The estimator task: readings in order of availability in, the latest
//! estimate out. In real time it runs on its own thread and publishes to
//! the slot after every message; in lockstep the world calls it in turn.

use crossbeam_channel::Receiver;
use recede_msg::Reading;

use crate::estimator::{Estimate, Estimator, Verdict};
use crate::msg::{EstIn, LogTx};
use crate::sink::Level;
use crate::slot::SlotWriter;

pub(crate) struct EstimatorOut {
    pub delivered: Vec<u64>,
    pub rejected: Vec<u64>,
}

/// The estimator with its per-sensor counts.
pub(crate) struct EstimatorTask<'a> {
    estimator: &'a mut dyn Estimator,
    log: LogTx,
    out: EstimatorOut,
}

impl<'a> EstimatorTask<'a> {
    pub(crate) fn new(estimator: &'a mut dyn Estimator, log: LogTx, sensors: usize) -> Self {
        Self {
            estimator,
            log,
            out: EstimatorOut {
                delivered: vec![0; sensors],
                rejected: vec![0; sensors],
            },
        }
    }

    /// One reading, delivered during control step `step`.
    pub(crate) fn reading(&mut self, step: u64, r: &Reading) {
        let i = r.sensor.0 as usize;
        if let Some(d) = self.out.delivered.get_mut(i) {
            *d += 1;
        }
        if self.estimator.on_reading(r) == Verdict::Rejected {
            if let Some(n) = self.out.rejected.get_mut(i) {
                *n += 1;
            }
            self.log
                .event(step, r.stamp.available_secs, Level::Warn, || {
                    format!(
                        "rejected a reading of sensor {i} stamped {:.3} s",
                        r.stamp.stamp_secs
                    )
                });
        }
    }

    pub(crate) fn truth(&mut self, t: f64, x: &[f64]) {
        self.estimator.on_truth(t, x);
    }

    /// A settled command, acting from `at`.
    pub(crate) fn command(&mut self, at: f64, u: &[f64]) {
        self.estimator.on_command(at, u);
    }

    /// The estimate at `t` into `out`; false while none.
    pub(crate) fn estimate(&mut self, t: f64, out: &mut Estimate) -> bool {
        self.estimator.estimate(t, out)
    }

    /// Real time: every message in order, the estimate (written in place
    /// into the slot's buffer) published after each reading or truth,
    /// until the world is gone.
    pub(crate) fn run_realtime(
        mut self,
        rx: Receiver<EstIn>,
        mut slot: SlotWriter<Estimate>,
    ) -> EstimatorOut {
        for msg in rx.iter() {
            let t = match msg {
                EstIn::Reading(step, r) => {
                    self.reading(step, &r);
                    r.stamp.available_secs
                }
                EstIn::Truth(t, x) => {
                    self.truth(t, x.as_slice());
                    t
                }
                // Heard now, used from the next estimate on.
                EstIn::Command(at, u) => {
                    self.command(at, u.as_slice());
                    continue;
                }
            };
            slot.publish_with(|out| self.estimate(t, out));
        }
        self.out
    }

    pub(crate) fn finish(self) -> EstimatorOut {
        self.out
    }
}
