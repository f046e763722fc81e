//! The controller task: one policy step per control instant, on its own
//! clock with a deadline (real time, its own thread) or when the world
//! calls it (lockstep).
//!
//! A step neither allocates nor takes a lock: the estimate (state, σ and
//! world model) comes from the lock-free slot, the command goes out with
//! `try_send` (real time), and step logs for the recorder come from a pool
//! filled before the run (when it is empty the log is dropped and counted).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender, TrySendError};

use crate::clock::Clock;
use crate::config::LoopConfig;
use crate::estimator::Estimate;
use crate::msg::{Cmd, LogMsg, LogTx, Vals};
use crate::policy::{Policy, StepStatus};
use crate::sink::StepLog;
use crate::slot::SlotReader;
use crate::RtError;
use recede_msg::WorldModel;

/// Step logs the controller can have in flight to the recorder.
pub(crate) const LOG_POOL: usize = 64;

#[derive(Default)]
pub(crate) struct ControllerOut {
    pub step_secs: Vec<f64>,
    pub jitter_secs: Vec<f64>,
    pub qp_max: u32,
}

/// The controller's state between steps: its policy, the step-log pool
/// and buffers sized once.
pub(crate) struct Controller<'a> {
    policy: &'a mut dyn Policy,
    log: LogTx,
    pool: Receiver<Box<StepLog>>,
    /// Back into the pool, for a log the queue had no room for.
    pool_tx: Sender<Box<StepLog>>,
    period: f64,
    u: Vec<f64>,
    late: Vec<f64>,
    predicted: Vec<f64>,
    out: ControllerOut,
}

impl<'a> Controller<'a> {
    /// Sizes every buffer and, when recording, fills the step-log pool
    /// (`pool_tx` is the recorder's way back into it).
    pub(crate) fn new(
        policy: &'a mut dyn Policy,
        config: &LoopConfig,
        log: LogTx,
        (pool_tx, pool): (Sender<Box<StepLog>>, Receiver<Box<StepLog>>),
    ) -> Self {
        let (nx, nu) = policy.dimensions();
        let steps = (config.duration_secs / config.period_secs).round() as usize;
        let mut predicted = Vec::new();
        policy.predicted_states(&mut predicted);
        if log.on() {
            let capacity = predicted.capacity().max(nx);
            for _ in 0..LOG_POOL {
                let _ = pool_tx.try_send(Box::new(StepLog {
                    step: 0,
                    t_secs: 0.0,
                    estimate: Vec::with_capacity(nx),
                    estimate_std: Vec::with_capacity(nx),
                    command: Vec::with_capacity(nu),
                    status: StepStatus::default(),
                    compute_secs: 0.0,
                    predicted_states: Vec::with_capacity(capacity),
                    world: WorldModel::default(),
                }));
            }
        }
        Self {
            policy,
            log,
            pool,
            pool_tx,
            period: config.period_secs,
            u: vec![0.0; nu],
            late: vec![0.0; nu],
            predicted,
            out: ControllerOut {
                step_secs: Vec::with_capacity(steps),
                jitter_secs: Vec::with_capacity(steps),
                qp_max: 0,
            },
        }
    }

    /// Real time: wakes at each period on `clock`, steps on the latest
    /// estimate in `slot` and sends the command without waiting. A wake-up
    /// past an instant's deadline (the world applies the fallback there)
    /// moves on to the latest instant that has begun, which may still make
    /// its own. Without an estimate nothing is sent (the world's deadline
    /// settles the instant).
    pub(crate) fn run_realtime(
        mut self,
        config: &LoopConfig,
        clock: Arc<dyn Clock>,
        mut slot: SlotReader<Estimate>,
        cmd_tx: Sender<Cmd>,
        done: &AtomicBool,
    ) -> Result<ControllerOut, RtError> {
        let period = self.period;
        let steps = (config.duration_secs / period).round() as u64;
        let deadline = config.deadline_secs.unwrap_or(period);
        let mut k = 0u64;
        while k < steps && !done.load(Ordering::Relaxed) && !config.stop.is_stopped() {
            let t = k as f64 * period;
            clock.sleep_until(t, true);
            let woke = clock.now_secs();
            if woke > t + deadline {
                k = ((woke / period).floor() as u64).max(k + 1);
                continue;
            }
            self.out.jitter_secs.push(woke - t);
            if let Some(estimate) = slot.read() {
                let cmd = self.step(k, t, estimate)?;
                let (status, compute_secs) = (cmd.status, cmd.compute_secs);
                if let Err(TrySendError::Disconnected(_)) = cmd_tx.try_send(cmd) {
                    break;
                }
                self.record(k, t, status, compute_secs, estimate);
            }
            k += 1;
        }
        Ok(self.out)
    }

    /// One step at instant `k` on `estimate` (then [`Self::record`] it,
    /// once the command is on its way).
    pub(crate) fn step(&mut self, k: u64, t: f64, estimate: &Estimate) -> Result<Cmd, RtError> {
        let started = Instant::now();
        let status = self
            .policy
            .step(t, estimate, &mut self.u)
            .map_err(RtError::Policy)?;
        let compute_secs = started.elapsed().as_secs_f64();
        self.policy.late_command(self.period, &mut self.late);
        self.out.step_secs.push(compute_secs);
        self.out.qp_max = self.out.qp_max.max(status.iterations);
        Ok(Cmd {
            step: k,
            command: Vals::of(&self.u),
            late: Vals::of(&self.late),
            estimate: Vals::of(estimate.state()),
            status,
            compute_secs,
        })
    }

    /// Whether the policy's steps split (see [`Policy::splits_step`]).
    pub(crate) fn splits_step(&self) -> bool {
        self.policy.splits_step()
    }

    /// The command half of a split step; [`Self::prepare`] and
    /// [`Self::complete`] finish it.
    pub(crate) fn feedback(&mut self, k: u64, t: f64, estimate: &Estimate) -> Result<Cmd, RtError> {
        let started = Instant::now();
        let status = self
            .policy
            .feedback(t, estimate, &mut self.u)
            .map_err(RtError::Policy)?;
        Ok(Cmd {
            step: k,
            command: Vals::of(&self.u),
            late: Vals::of(&[]),
            estimate: Vals::of(estimate.state()),
            status,
            compute_secs: started.elapsed().as_secs_f64(),
        })
    }

    /// The preparation of a split step (lockstep runs it on a helper
    /// thread): its time, s.
    pub(crate) fn prepare(&mut self) -> Result<f64, RtError> {
        let started = Instant::now();
        self.policy.prepare().map_err(RtError::Policy)?;
        Ok(started.elapsed().as_secs_f64())
    }

    /// Completes a prepared split step's `cmd` as [`Self::step`] would
    /// have made it: the whole step's time, the late command, the counts.
    pub(crate) fn complete(&mut self, cmd: &mut Cmd, prepare_secs: f64) {
        cmd.compute_secs += prepare_secs;
        self.policy.late_command(self.period, &mut self.late);
        cmd.late = Vals::of(&self.late);
        self.out.step_secs.push(cmd.compute_secs);
        self.out.qp_max = self.out.qp_max.max(cmd.status.iterations);
    }

    pub(crate) fn finish(self) -> ControllerOut {
        self.out
    }

    /// Queues the last step for the recorder in a pooled log (dropped and
    /// counted when the pool or the queue is exhausted).
    pub(crate) fn record(
        &mut self,
        k: u64,
        t: f64,
        status: StepStatus,
        compute_secs: f64,
        estimate: &Estimate,
    ) {
        if !self.log.on() {
            return;
        }
        if status.fell_back {
            self.log.send(|| LogMsg::Fallback(k, t, status));
        }
        let Ok(mut l) = self.pool.try_recv() else {
            self.log.count_drop();
            return;
        };
        self.policy.predicted_states(&mut self.predicted);
        l.step = k;
        l.t_secs = t;
        l.status = status;
        l.compute_secs = compute_secs;
        l.world = estimate.world;
        for (to, from) in [
            (&mut l.estimate, estimate.state()),
            (&mut l.estimate_std, estimate.std()),
            (&mut l.command, &self.u[..]),
            (&mut l.predicted_states, &self.predicted[..]),
        ] {
            to.clear();
            to.extend_from_slice(from);
        }
        if let Some(LogMsg::Step(l)) = self.log.try_send(LogMsg::Step(l)) {
            let _ = self.pool_tx.try_send(l);
        }
    }
}
