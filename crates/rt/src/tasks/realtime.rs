//! The world in real time: the world advanced at its own step, paced to
//! the clock; each control instant settled by the controller's command or,
//! past its deadline, by the fallback, and the settled command told to the
//! estimator.

use std::collections::VecDeque;

use crossbeam_channel::{Receiver, Sender};

use super::world::{Pending, WorldTask};
use crate::clock::Clock;
use crate::msg::{Cmd, EstIn, Vals};
use crate::report::CommandSource;
use crate::sink::Level;
use crate::RtError;

/// A control instant whose command is not settled yet.
#[derive(Clone, Copy)]
struct OpenInstant {
    k: u64,
    t: f64,
    x: Vals,
    clearance: f64,
}

/// The instants waiting for their commands, in order, and what came in.
#[derive(Default)]
struct Open {
    instants: VecDeque<OpenInstant>,
    received: VecDeque<Cmd>,
    /// The last command's plan shifted by a period: the first fallback.
    last_late: Option<Vals>,
    misses_in_row: usize,
}

impl Open {
    fn receive(&mut self, cmd_rx: &Receiver<Cmd>) {
        while let Ok(c) = cmd_rx.try_recv() {
            self.received.push_back(c);
        }
    }

    /// The controller's command for instant `k`, if it came in (commands
    /// for earlier instants are stale and dropped).
    fn take_command(&mut self, k: u64) -> Option<Cmd> {
        while self.received.front().is_some_and(|c| c.step < k) {
            self.received.pop_front();
        }
        if self.received.front().is_some_and(|c| c.step == k) {
            self.received.pop_front()
        } else {
            None
        }
    }
}

impl WorldTask<'_> {
    pub(crate) fn run_realtime(
        &mut self,
        est_tx: &Sender<EstIn>,
        cmd_rx: &Receiver<Cmd>,
        clock: &dyn Clock,
    ) -> Result<(), RtError> {
        let period = self.config.period_secs;
        let deadline = self.config.deadline_secs.unwrap_or(period);
        let h = self.world.step_secs();
        let steps = (self.config.duration_secs / period).round() as u64;
        let end = steps as f64 * period;
        let mut current = self.world.command().to_vec();
        let mut queue: VecDeque<Pending> = VecDeque::new();
        let mut open = Open::default();
        let mut next_instant = 0u64;
        let mut buf = Vec::new();
        loop {
            let t = self.world.time_secs();
            if t >= end - 0.5 * h {
                break;
            }
            if self.config.stop.is_stopped() {
                self.tally.stopped = true;
                break;
            }
            clock.sleep_until(t, false);
            if next_instant < steps && t >= next_instant as f64 * period - 0.5 * h {
                let k = next_instant;
                let x = self.truth();
                let clearance = self.clearance();
                self.tally.min_clearance = self.tally.min_clearance.min(clearance);
                self.log_truth(k, t, x);
                open.instants.push_back(OpenInstant { k, t, x, clearance });
                next_instant += 1;
            }
            open.receive(cmd_rx);
            // Settle the oldest open instants, in order.
            while let Some((tk, command)) = self.settle_front(&mut open, t, deadline - 0.5 * h) {
                let at_secs = (tk + self.config.actuation_delay_secs).max(t);
                // The estimator predicts with it; a full queue loses it.
                let _ = est_tx.try_send(EstIn::Command(at_secs, command));
                queue.push_back(Pending { at_secs, command });
            }
            while queue.front().is_some_and(|p| p.at_secs <= t + 0.5 * h) {
                let p = queue.pop_front().expect("front exists");
                current.clear();
                current.extend_from_slice(p.command.as_slice());
            }
            self.advance(t + h, &current)?;
            let now = self.world.time_secs();
            let k = next_instant.saturating_sub(1);
            self.deliver(now, k, &mut buf, |step, r| {
                est_tx.try_send(EstIn::Reading(step, r)).is_ok()
            });
            if let Some(x) = self.world.true_state() {
                // The truth estimator's input; a full queue only delays it.
                let _ = est_tx.try_send(EstIn::Truth(now, Vals::of(x)));
            }
        }
        // The last instants' deadlines fall at or after the end: wait for
        // each (its command may still come), unless the run was stopped.
        while !self.tally.stopped {
            let Some(due) = open.instants.front().map(|i| i.t + deadline - 0.5 * h) else {
                break;
            };
            open.receive(cmd_rx);
            let now = clock.now_secs();
            if self
                .settle_front(&mut open, now, deadline - 0.5 * h)
                .is_none()
            {
                clock.sleep_until(due.min(now + h), false);
            }
            if self.config.stop.is_stopped() {
                self.tally.stopped = true;
            }
        }
        Ok(())
    }

    /// Settles the oldest open instant at time `t` with the controller's
    /// command if it came in, or with the fallback once `t` is `due_after`
    /// past the instant. Returns (instant time, command) when settled; None
    /// while the instant must wait.
    fn settle_front(&mut self, open: &mut Open, t: f64, due_after: f64) -> Option<(f64, Vals)> {
        let OpenInstant {
            k,
            t: tk,
            x,
            clearance,
        } = *open.instants.front()?;
        let settled = if let Some(cmd) = open.take_command(k) {
            open.misses_in_row = 0;
            open.last_late = Some(cmd.late);
            let command = cmd.command.as_slice();
            self.settle(
                k,
                tk,
                x.as_slice(),
                command,
                CommandSource::Controller,
                Some(&cmd),
                clearance,
            );
            cmd.command
        } else if t >= tk + due_after {
            let (command, source) = match (&open.last_late, open.misses_in_row) {
                (Some(late), 0) => (*late, CommandSource::ShiftedPlan),
                _ => (Vals::of(self.safe), CommandSource::Safe),
            };
            open.misses_in_row += 1;
            self.tally.misses += 1;
            self.log.event(k, t, Level::Warn, || {
                format!("deadline missed at step {k}: applying the {source:?} command")
            });
            self.settle(
                k,
                tk,
                x.as_slice(),
                command.as_slice(),
                source,
                None,
                clearance,
            );
            command
        } else {
            return None;
        };
        open.instants.pop_front();
        Some((tk, settled))
    }
}
