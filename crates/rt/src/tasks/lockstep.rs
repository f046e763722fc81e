//! The world in lockstep: simulated time, stopping at each control instant
//! for the command.
//!
//! The estimator and the controller run in turn on the world's thread:
//! each waits for the one before it anyway (readings before the estimate,
//! the estimate before the step, the command before the world goes on),
//! and handing over between threads cost three wake-ups per control step.
//! The recorder (and a simulator's camera renders) stay on their threads
//! and overlap the chain. The estimate goes straight from the estimator to
//! the step; each settled command goes back to the estimator before the
//! world moves on.

use std::collections::VecDeque;

use crossbeam_channel::bounded;
use recede_msg::Reading;

use super::controller::Controller;
use super::estimator::EstimatorTask;
use super::world::{Pending, WorldTask};
use crate::estimator::Estimate;
use crate::msg::{Cmd, Vals};
use crate::report::CommandSource;
use crate::sched::favour_thread;
use crate::RtError;

impl WorldTask<'_> {
    pub(crate) fn run_lockstep(
        &mut self,
        estimator: &mut EstimatorTask<'_>,
        controller: &mut Controller<'_>,
    ) -> Result<(), RtError> {
        if controller.splits_step() {
            return self.run_lockstep_split(estimator, controller);
        }
        let period = self.config.period_secs;
        let delay = self.config.actuation_delay_secs;
        let steps = (self.config.duration_secs / period).round() as u64;
        let mut current = self.world.command().to_vec();
        // Boxed: it is kilobytes, and set up once.
        let mut estimate = Box::new(Estimate::new(self.nx));
        let mut queue = VecDeque::new();
        let mut buf = Vec::new();
        for k in 0..steps {
            if self.config.stop.is_stopped() {
                self.tally.stopped = true;
                break;
            }
            let t = k as f64 * period;
            let x = self.sense(
                k,
                t,
                estimator,
                (&mut queue, &mut current),
                &mut buf,
                &mut estimate,
            )?;
            let cmd = controller.step(k, t, &estimate)?;
            controller.record(k, t, cmd.status, cmd.compute_secs, &estimate);
            estimator.command(t + delay, cmd.command.as_slice());
            let clearance = self.clearance();
            self.tally.min_clearance = self.tally.min_clearance.min(clearance);
            self.log_truth(k, t, x);
            self.settle(
                k,
                t,
                x.as_slice(),
                cmd.command.as_slice(),
                CommandSource::Controller,
                Some(&cmd),
                clearance,
            );
            queue.push_back(Pending {
                at_secs: t + delay,
                command: cmd.command,
            });
        }
        if !self.tally.stopped {
            self.advance_to(steps as f64 * period, &mut queue, &mut current)?;
        }
        Ok(())
    }

    /// The prologue of every lockstep step: the world brought to instant
    /// `t` under the queued commands, its readings (and its truth, where it
    /// has one) handed to the estimator, and the estimate taken. Returns
    /// the truth for scoring and the recording.
    fn sense(
        &mut self,
        k: u64,
        t: f64,
        estimator: &mut EstimatorTask<'_>,
        (queue, current): (&mut VecDeque<Pending>, &mut Vec<f64>),
        buf: &mut Vec<Reading>,
        estimate: &mut Estimate,
    ) -> Result<Vals, RtError> {
        self.advance_to(t, queue, current)?;
        self.deliver(t, k, buf, |step, r| {
            estimator.reading(step, &r);
            true
        });
        let x = self.truth();
        if !x.as_slice().is_empty() {
            estimator.truth(t, x.as_slice());
        }
        if !estimator.estimate(t, estimate) {
            return Err(RtError::Estimator(format!("no estimate at t = {t} s")));
        }
        Ok(x)
    }

    /// Lockstep for a policy whose step splits (`Policy::splits_step`):
    /// the feedback on the world's thread, the preparation of the next
    /// step on a helper thread while the world advances to the next
    /// instant and the estimator takes its readings (neither touches the
    /// policy). The controller goes to the helper and back through
    /// channels, so the two never run at once; each step is settled and
    /// recorded once prepared, in order, as the inline loop does.
    fn run_lockstep_split(
        &mut self,
        estimator: &mut EstimatorTask<'_>,
        controller: &mut Controller<'_>,
    ) -> Result<(), RtError> {
        let favour = self.config.lockstep_favour;
        let (to_helper, helper_rx) = bounded::<&mut Controller<'_>>(1);
        let (helper_tx, from_helper) = bounded::<(&mut Controller<'_>, Result<f64, RtError>)>(1);
        std::thread::scope(|scope| {
            let helper = std::thread::Builder::new()
                .name("recede-rt-prepare".into())
                .spawn_scoped(scope, move || {
                    let _favoured = favour_thread(favour);
                    for c in helper_rx {
                        let prepared = c.prepare();
                        if helper_tx.send((c, prepared)).is_err() {
                            break;
                        }
                    }
                });
            let result = match helper {
                Ok(_) => self.split_steps(estimator, controller, &to_helper, &from_helper),
                Err(_) => Err(RtError::TaskPanicked("prepare")),
            };
            // The helper ends with its channel.
            drop(to_helper);
            result
        })
    }

    fn split_steps<'c, 'p>(
        &mut self,
        estimator: &mut EstimatorTask<'_>,
        controller: &'c mut Controller<'p>,
        to_helper: &crossbeam_channel::Sender<&'c mut Controller<'p>>,
        from_helper: &crossbeam_channel::Receiver<(&'c mut Controller<'p>, Result<f64, RtError>)>,
    ) -> Result<(), RtError> {
        let period = self.config.period_secs;
        let delay = self.config.actuation_delay_secs;
        let steps = (self.config.duration_secs / period).round() as u64;
        let mut current = self.world.command().to_vec();
        // Two, boxed: the step being prepared keeps its estimate until it
        // is recorded, while the next one is being estimated.
        let mut estimate = Box::new(Estimate::new(self.nx));
        let mut prepared_for = Box::new(Estimate::new(self.nx));
        let mut queue = VecDeque::new();
        let mut buf = Vec::new();
        let mut controller = Some(controller);
        // The step whose preparation is under way.
        let mut open: Option<OpenStep> = None;
        for k in 0..steps {
            if self.config.stop.is_stopped() {
                self.tally.stopped = true;
                break;
            }
            let t = k as f64 * period;
            let x = self.sense(
                k,
                t,
                estimator,
                (&mut queue, &mut current),
                &mut buf,
                &mut estimate,
            )?;
            let c = match controller.take() {
                Some(c) => c,
                None => self.close(open.take(), &prepared_for, from_helper)?,
            };
            let cmd = c.feedback(k, t, &estimate)?;
            estimator.command(t + delay, cmd.command.as_slice());
            let clearance = self.clearance();
            self.tally.min_clearance = self.tally.min_clearance.min(clearance);
            self.log_truth(k, t, x);
            queue.push_back(Pending {
                at_secs: t + delay,
                command: cmd.command,
            });
            std::mem::swap(&mut estimate, &mut prepared_for);
            open = Some(OpenStep {
                k,
                t,
                x,
                cmd,
                clearance,
            });
            if to_helper.send(c).is_err() {
                return Err(RtError::TaskPanicked("prepare"));
            }
        }
        if open.is_some() {
            self.close(open.take(), &prepared_for, from_helper)?;
        }
        if !self.tally.stopped {
            self.advance_to(steps as f64 * period, &mut queue, &mut current)?;
        }
        Ok(())
    }

    /// Waits for the open step's preparation, then records and settles it;
    /// the controller is back.
    fn close<'c, 'p>(
        &mut self,
        open: Option<OpenStep>,
        estimate: &Estimate,
        from_helper: &crossbeam_channel::Receiver<(&'c mut Controller<'p>, Result<f64, RtError>)>,
    ) -> Result<&'c mut Controller<'p>, RtError> {
        let (c, prepared) = from_helper
            .recv()
            .map_err(|_| RtError::TaskPanicked("prepare"))?;
        let prepare_secs = prepared?;
        if let Some(mut s) = open {
            c.complete(&mut s.cmd, prepare_secs);
            c.record(s.k, s.t, s.cmd.status, s.cmd.compute_secs, estimate);
            self.settle(
                s.k,
                s.t,
                s.x.as_slice(),
                s.cmd.command.as_slice(),
                CommandSource::Controller,
                Some(&s.cmd),
                s.clearance,
            );
        }
        Ok(c)
    }
}

/// A split step fed back and handed to the helper, not yet settled.
struct OpenStep {
    k: u64,
    t: f64,
    x: Vals,
    cmd: Cmd,
    clearance: f64,
}
