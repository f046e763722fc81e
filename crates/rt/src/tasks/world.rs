//! The world task's state and what both modes do with it: advance the
//! world, hand readings on, settle each control step.

use std::collections::VecDeque;
use std::sync::Arc;

use recede_msg::Reading;

use crate::config::LoopConfig;
use crate::msg::{Cmd, LogMsg, LogTx, ShapePool, Vals};
use crate::report::{CommandSource, StepHook, StepRecord};
use crate::sink::Level;
use crate::world::World;
use crate::RtError;

/// The world task's state: the world and the settled steps.
pub(crate) struct WorldTask<'a> {
    pub world: &'a mut dyn World,
    pub config: &'a LoopConfig,
    pub log: LogTx,
    pub hook: &'a mut dyn StepHook,
    pub safe: &'a [f64],
    pub nx: usize,
    pub dropouts_seen: Vec<u64>,
    pub sensor_names: &'a [String],
    pub tally: Tally,
    /// Shape logs, when recording a world that has a shape.
    pub shapes: Option<ShapePool>,
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
    /// Inline: queued every step without allocating.
    pub command: Vals,
}

impl WorldTask<'_> {
    /// Ground truth: the distance to the nearest obstacle (infinite when
    /// unknown).
    pub(crate) fn clearance(&self) -> f64 {
        match self.world.clearance_m() {
            Some(d) if d.is_finite() => d,
            _ => f64::INFINITY,
        }
    }

    /// Ground truth: the true state (empty when unknown).
    pub(crate) fn truth(&self) -> Vals {
        Vals::of(self.world.true_state().unwrap_or(&[]))
    }

    /// Queues the truth at control instant `k` for the recorder, and the
    /// world's shape when it has one (from the pool: a pool or queue with
    /// no room drops it, counted).
    pub(crate) fn log_truth(&self, k: u64, t: f64, x: Vals) {
        if !self.log.on() || x.as_slice().is_empty() {
            return;
        }
        self.log.send(|| LogMsg::Truth(k, t, x));
        let Some(pool) = &self.shapes else { return };
        let Ok(mut shape) = pool.take.try_recv() else {
            self.log.count_drop();
            return;
        };
        let points = self.world.true_shape();
        // Within the capacity sized at setup: never a reallocation.
        let n = points.len().min(shape.points.capacity());
        shape.points.clear();
        shape.points.extend_from_slice(&points[..n]);
        (shape.step, shape.t_secs) = (k, t);
        if let Some(LogMsg::Shape(back)) = self.log.try_send(LogMsg::Shape(shape)) {
            let _ = pool.give.try_send(back);
        }
    }

    /// Advances the world to `t` under `command`.
    pub(crate) fn advance(&mut self, t: f64, command: &[f64]) -> Result<(), RtError> {
        self.world.advance_to(t, command).map_err(RtError::World)
    }

    /// Steps the world to `t`, switching to queued commands at their times.
    pub(crate) fn advance_to(
        &mut self,
        t: f64,
        queue: &mut VecDeque<Pending>,
        current: &mut Vec<f64>,
    ) -> Result<(), RtError> {
        let half = 0.5 * self.world.step_secs();
        while let Some(p) = queue.front() {
            if p.at_secs > t + half {
                break;
            }
            let p = queue.pop_front().expect("front exists");
            self.advance(p.at_secs, current)?;
            current.clear();
            current.extend_from_slice(p.command.as_slice());
        }
        self.advance(t, current)
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
        self.world.poll_readings(t, buf);
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
            for i in 0..self.dropouts_seen.len() {
                let dropped = self.world.lost(i);
                if dropped > self.dropouts_seen[i] {
                    let lost = dropped - self.dropouts_seen[i];
                    self.dropouts_seen[i] = dropped;
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
        let fell_back =
            source != CommandSource::Controller || cmd.is_some_and(|c| c.status.fell_back);
        self.tally.fallbacks += usize::from(fell_back);
        self.hook.on_step(&StepRecord {
            step: k,
            t_secs: t,
            true_state: x,
            estimate: cmd.map_or(&[][..], |c| c.estimate.as_slice()),
            command,
            source,
            status: cmd.map(|c| c.status),
            compute_secs: cmd.map_or(0.0, |c| c.compute_secs),
            clearance_m: clearance,
            true_shape: self.world.true_shape(),
        });
    }
}
