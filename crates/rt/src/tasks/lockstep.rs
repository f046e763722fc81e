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

use super::controller::Controller;
use super::estimator::EstimatorTask;
use super::world::{Pending, WorldTask};
use crate::estimator::Estimate;
use crate::msg::LogMsg;
use crate::report::CommandSource;
use crate::RtError;

impl WorldTask<'_> {
    pub(crate) fn run_lockstep(
        &mut self,
        estimator: &mut EstimatorTask<'_>,
        controller: &mut Controller<'_>,
    ) -> Result<(), RtError> {
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
            self.advance_to(t, &mut queue, &mut current)?;
            self.deliver(t, k, &mut buf, |step, r| {
                estimator.reading(step, &r);
                true
            });
            let x = self.truth();
            if !x.as_slice().is_empty() {
                estimator.truth(t, x.as_slice());
            }
            if !estimator.estimate(t, &mut estimate) {
                return Err(RtError::Estimator(format!("no estimate at t = {t} s")));
            }
            let cmd = controller.step(k, t, &estimate)?;
            controller.record(k, t, cmd.status, cmd.compute_secs, &estimate);
            estimator.command(t + delay, cmd.command.as_slice());
            let clearance = self.clearance();
            self.tally.min_clearance = self.tally.min_clearance.min(clearance);
            if self.log.on() && !x.as_slice().is_empty() {
                self.log.send(|| LogMsg::Truth(k, t, x));
            }
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
                command: cmd.command.as_slice().to_vec(),
            });
        }
        if !self.tally.stopped {
            self.advance_to(steps as f64 * period, &mut queue, &mut current)?;
        }
        Ok(())
    }
}
