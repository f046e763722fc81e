//! The world in lockstep: simulated time, stopping at each control instant
//! for the command.
//!
//! The estimator and the controller run in turn on the world's thread:
//! each waits for the one before it anyway (readings before the estimate,
//! the estimate before the step, the command before physics goes on), and
//! handing over between threads cost three wake-ups per control step. The
//! recorder and the camera renders stay on their threads and overlap the
//! chain.

use std::collections::VecDeque;

use super::controller::Controller;
use super::estimator::EstimatorTask;
use super::world::{Pending, World};
use crate::msg::{LogMsg, Vals};
use crate::report::CommandSource;
use crate::RtError;

impl World<'_> {
    pub(crate) fn run_lockstep(
        &mut self,
        estimator: &mut EstimatorTask<'_>,
        controller: &mut Controller<'_>,
    ) -> Result<(), RtError> {
        let period = self.config.period_secs;
        let delay = self.config.actuation_delay_secs;
        let steps = (self.config.duration_secs / period).round() as u64;
        let mut current = self.sim.command().to_vec();
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
            let x = Vals::of(self.sim.true_state());
            estimator.truth(t, x.as_slice());
            let (state, std) = controller.estimate_mut();
            if !estimator.estimate(t, state, std) {
                return Err(RtError::Estimator(format!("no estimate at t = {t} s")));
            }
            let cmd = controller.step(k, t)?;
            controller.record(k, t, cmd.report, cmd.compute_secs);
            let clearance = self.clearance();
            self.tally.min_clearance = self.tally.min_clearance.min(clearance);
            if self.log.on() {
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
