//! The world in lockstep: simulated time, stopping at each control instant
//! for the command.

use std::collections::VecDeque;

use crossbeam_channel::{Receiver, Sender};

use super::world::{Pending, World};
use crate::msg::{Cmd, EstIn, LogMsg, Vals};
use crate::report::CommandSource;
use crate::RtError;

impl World<'_> {
    pub(crate) fn run_lockstep(
        &mut self,
        est_tx: &Sender<EstIn>,
        cmd_rx: &Receiver<Cmd>,
    ) -> Result<(), RtError> {
        let period = self.config.period_secs;
        let delay = self.config.actuation_delay_secs;
        let steps = (self.config.duration_secs / period).round() as u64;
        let mut current = self.sim.command().to_vec();
        let mut queue = VecDeque::new();
        let mut buf = Vec::new();
        let gone = || RtError::TaskPanicked("estimator");
        for k in 0..steps {
            if self.config.stop.is_stopped() {
                self.tally.stopped = true;
                break;
            }
            let t = k as f64 * period;
            self.advance_to(t, &mut queue, &mut current)?;
            self.deliver(t, k, est_tx, &mut buf, true)?;
            let x = self.sim.true_state().to_vec();
            est_tx
                .send(EstIn::Truth(t, Vals::of(&x)))
                .map_err(|_| gone())?;
            est_tx.send(EstIn::Tick(k, t)).map_err(|_| gone())?;
            let clearance = self.clearance();
            self.tally.min_clearance = self.tally.min_clearance.min(clearance);
            let Ok(cmd) = cmd_rx.recv() else {
                // The controller ended (its error is reported by the join).
                return Ok(());
            };
            if self.log.on() {
                self.log.send(|| LogMsg::Truth(k, t, Vals::of(&x)));
            }
            self.settle(
                k,
                t,
                &x,
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
