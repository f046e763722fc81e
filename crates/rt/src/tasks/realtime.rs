//! The world in real time: physics paced to the clock, each control
//! instant settled by the controller's command or, past its deadline, by
//! the fallback.

use std::collections::VecDeque;

use crossbeam_channel::{Receiver, Sender};

use super::world::{Pending, World};
use crate::clock::Clock;
use crate::msg::{Cmd, EstIn, LogMsg, Vals};
use crate::report::CommandSource;
use crate::sink::Level;
use crate::RtError;

impl World<'_> {
    pub(crate) fn run_realtime(
        &mut self,
        est_tx: &Sender<EstIn>,
        cmd_rx: &Receiver<Cmd>,
        clock: &dyn Clock,
    ) -> Result<(), RtError> {
        let period = self.config.period_secs;
        let delay = self.config.actuation_delay_secs;
        let deadline = self.config.deadline_secs.unwrap_or(period);
        let h = self.sim.plant().step_secs();
        let steps = (self.config.duration_secs / period).round() as u64;
        let end = steps as f64 * period;
        let mut current = self.sim.command().to_vec();
        let mut queue: VecDeque<Pending> = VecDeque::new();
        let mut received: VecDeque<Cmd> = VecDeque::new();
        // Truth at control instants whose command is not settled yet.
        let mut instants: VecDeque<(u64, f64, Vec<f64>, f64)> = VecDeque::new();
        let mut next_instant = 0u64;
        let mut last_late: Option<Vec<f64>> = None;
        let mut misses_in_row = 0usize;
        let mut buf = Vec::new();
        loop {
            let t = self.sim.time_secs();
            if t >= end - 0.5 * h {
                break;
            }
            if self.config.stop.is_stopped() {
                self.stopped = true;
                break;
            }
            clock.sleep_until(t, false);
            if next_instant < steps && t >= next_instant as f64 * period - 0.5 * h {
                let k = next_instant;
                let x = self.sim.true_state().to_vec();
                let clearance = self.clearance();
                self.min_clearance = self.min_clearance.min(clearance);
                if self.log.on() {
                    self.log.send(|| LogMsg::Truth(k, t, Vals::of(&x)));
                }
                instants.push_back((k, t, x, clearance));
                next_instant += 1;
            }
            while let Ok(c) = cmd_rx.try_recv() {
                received.push_back(c);
            }
            // Settle the oldest open instants, in order.
            while let Some((k, tk, _, _)) = instants.front() {
                let (k, tk) = (*k, *tk);
                while received.front().is_some_and(|c| c.step < k) {
                    received.pop_front();
                }
                let (x, clearance) = match instants.front() {
                    Some((_, _, x, c)) => (x.clone(), *c),
                    None => break,
                };
                if received.front().is_some_and(|c| c.step == k) {
                    let cmd = received.pop_front().expect("front exists");
                    misses_in_row = 0;
                    last_late = Some(cmd.late.as_slice().to_vec());
                    self.settle(
                        k,
                        tk,
                        &x,
                        cmd.command.as_slice(),
                        CommandSource::Controller,
                        Some(&cmd),
                        clearance,
                    );
                    queue.push_back(Pending {
                        at_secs: (tk + delay).max(t),
                        command: cmd.command.as_slice().to_vec(),
                    });
                } else if t >= tk + deadline - 0.5 * h {
                    let (command, source) = match (&last_late, misses_in_row) {
                        (Some(late), 0) => (late.clone(), CommandSource::ShiftedPlan),
                        _ => (self.safe.to_vec(), CommandSource::Safe),
                    };
                    misses_in_row += 1;
                    self.misses += 1;
                    self.log.event(k, t, Level::Warn, || {
                        format!("deadline missed at step {k}: applying the {source:?} command")
                    });
                    self.settle(k, tk, &x, &command, source, None, clearance);
                    queue.push_back(Pending {
                        at_secs: (tk + delay).max(t),
                        command,
                    });
                } else {
                    break;
                }
                instants.pop_front();
            }
            while queue.front().is_some_and(|p| p.at_secs <= t + 0.5 * h) {
                current = queue.pop_front().expect("front exists").command;
            }
            self.sim.step_to(t + h, &current)?;
            let now = self.sim.time_secs();
            let k = next_instant.saturating_sub(1);
            self.deliver(now, k, est_tx, &mut buf, false)?;
            let x = self.sim.true_state();
            debug_assert_eq!(x.len(), self.nx);
            // The truth estimator's input; a full queue only delays it.
            let _ = est_tx.try_send(EstIn::Truth(now, Vals::of(x)));
        }
        // Instants still open at the end: their deadlines have passed unless
        // the run was stopped; settle what came in, count the rest.
        if !self.stopped {
            while let Ok(c) = cmd_rx.try_recv() {
                received.push_back(c);
            }
            let t = self.sim.time_secs();
            for (k, tk, x, clearance) in instants.drain(..) {
                while received.front().is_some_and(|c| c.step < k) {
                    received.pop_front();
                }
                if received.front().is_some_and(|c| c.step == k) {
                    let cmd = received.pop_front().expect("front exists");
                    self.settle(
                        k,
                        tk,
                        &x,
                        cmd.command.as_slice(),
                        CommandSource::Controller,
                        Some(&cmd),
                        clearance,
                    );
                } else {
                    let (command, source) = match (&last_late, misses_in_row) {
                        (Some(late), 0) => (late.clone(), CommandSource::ShiftedPlan),
                        _ => (self.safe.to_vec(), CommandSource::Safe),
                    };
                    misses_in_row += 1;
                    self.misses += 1;
                    self.log.event(k, t, Level::Warn, || {
                        format!("deadline missed at step {k}: applying the {source:?} command")
                    });
                    self.settle(k, tk, &x, &command, source, None, clearance);
                }
            }
        }
        Ok(())
    }
}
