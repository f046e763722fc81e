//! The world task's state and what both modes do with it: advance the
//! plant, hand readings on, settle each control step.

use std::collections::VecDeque;
use std::sync::Arc;

use nalgebra::Point3;
use recede_msg::Reading;
use recede_sim::Simulator;

use crate::config::LoopConfig;
use crate::msg::{Cmd, LogMsg, LogTx};
use crate::report::{CommandSource, StepHook, StepRecord};
use crate::sink::Level;
use crate::RtError;

/// The world task's state: the simulator and the settled steps.
pub(crate) struct World<'a> {
    pub sim: &'a mut Simulator,
    pub config: &'a LoopConfig,
    pub log: LogTx,
    pub hook: &'a mut dyn StepHook,
    pub safe: &'a [f64],
    pub nx: usize,
    pub dropouts_seen: Vec<u64>,
    pub sensor_names: &'a [String],
    pub tally: Tally,
}

/// What the world counts over a run.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tally {
    /// Settled control steps.
    pub steps: usize,
    pub fallbacks: usize,
    pub misses: usize,
    pub min_clearance: f64,
    /// Per sensor: readings the estimator's full queue did not take.
    pub queue_drops: Vec<u64>,
    /// Ended by the stop flag.
    pub stopped: bool,
}

/// A command waiting for its time to act.
pub(crate) struct Pending {
    pub at_secs: f64,
    pub command: Vec<f64>,
}

impl World<'_> {
    pub(crate) fn clearance(&self) -> f64 {
        let p = self.sim.body().world_from_body.translation.vector;
        let d = self.sim.distance_to_nearest_obstacle(&Point3::from(p));
        if d.is_finite() {
            d
        } else {
            f64::INFINITY
        }
    }

    /// Steps the plant to `t`, switching to queued commands at their times.
    pub(crate) fn advance_to(
        &mut self,
        t: f64,
        queue: &mut VecDeque<Pending>,
        current: &mut Vec<f64>,
    ) -> Result<(), RtError> {
        let half = 0.5 * self.sim.plant().step_secs();
        while let Some(p) = queue.front() {
            if p.at_secs > t + half {
                break;
            }
            let p = queue.pop_front().expect("front exists");
            self.sim.step_to(p.at_secs, current)?;
            *current = p.command;
        }
        self.sim.step_to(t, current)?;
        Ok(())
    }

    /// Hands readings available by `t` to the estimator through `hand`
    /// (false: it had no room, the reading is counted dropped) and to the
    /// recorder.
    pub(crate) fn deliver(
        &mut self,
        t: f64,
        step: u64,
        buf: &mut Vec<Reading>,
        mut hand: impl FnMut(u64, Arc<Reading>) -> bool,
    ) {
        buf.clear();
        self.sim.poll_into(t, buf);
        for r in buf.drain(..) {
            let i = r.sensor.0 as usize;
            let r = Arc::new(r);
            if self.log.on() {
                self.log.send(|| LogMsg::Reading(step, Arc::clone(&r)));
            }
            if !hand(step, r) {
                if let Some(n) = self.tally.queue_drops.get_mut(i) {
                    *n += 1;
                }
            }
        }
        // Dropouts as events.
        if self.log.on() {
            for (i, (_, c)) in self.sim.sensor_counts().enumerate() {
                if c.dropped > self.dropouts_seen[i] {
                    let lost = c.dropped - self.dropouts_seen[i];
                    self.dropouts_seen[i] = c.dropped;
                    let name = &self.sensor_names[i];
                    self.log.event(step, t, Level::Info, || {
                        format!("{name}: {lost} sample(s) lost (dropout)")
                    });
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn settle(
        &mut self,
        k: u64,
        t: f64,
        x: &[f64],
        command: &[f64],
        source: CommandSource,
        cmd: Option<&Cmd>,
        clearance: f64,
    ) {
        self.tally.steps += 1;
        let fell_back = source != CommandSource::Controller
            || cmd.is_some_and(|c| c.report.outcome.is_fallback());
        self.tally.fallbacks += usize::from(fell_back);
        self.hook.on_step(&StepRecord {
            step: k,
            t_secs: t,
            true_state: x,
            estimate: cmd.map_or(&[][..], |c| c.estimate.as_slice()),
            command,
            source,
            report: cmd.map(|c| c.report),
            compute_secs: cmd.map_or(0.0, |c| c.compute_secs),
            clearance_m: clearance,
        });
    }
}
