//! The controller task: one policy step per control instant, on the
//! world's tick (lockstep) or on its own clock with a deadline (real time).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender, TrySendError};

use crate::clock::Clock;
use crate::config::{LoopConfig, Mode};
use crate::msg::{Cmd, LogMsg, LogTx, Vals};
use crate::policy::Policy;
use crate::sink::{Level, StepLog};
use crate::slot::Slot;
use crate::RtError;

pub(crate) struct ControllerOut {
    pub step_secs: Vec<f64>,
    pub jitter_secs: Vec<f64>,
    pub qp_max: u32,
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn controller_task(
    policy: &mut dyn Policy,
    config: &LoopConfig,
    slot: &Slot,
    tick_rx: Receiver<(u64, f64)>,
    cmd_tx: Sender<Cmd>,
    log: &LogTx,
    pool: Receiver<Box<StepLog>>,
    clock: &dyn Clock,
    done: &AtomicBool,
    nx: usize,
    nu: usize,
) -> Result<ControllerOut, RtError> {
    let period = config.period_secs;
    let steps = (config.duration_secs / period).round() as u64;
    let mut out = ControllerOut {
        step_secs: Vec::with_capacity(steps as usize),
        jitter_secs: Vec::new(),
        qp_max: 0,
    };
    let (mut x, mut std) = (vec![0.0; nx], vec![0.0; nx]);
    let (mut u, mut late) = (vec![0.0; nu], vec![0.0; nu]);
    let mut predicted = Vec::new();
    if config.mode == Mode::RealTime {
        // The estimator publishes its first estimate as it starts.
        let waiting = Instant::now();
        while !slot.read(&mut x, &mut std) && waiting.elapsed().as_secs_f64() < period {
            std::thread::sleep(std::time::Duration::from_micros(50));
        }
    }
    // One step; false when the world is gone.
    let mut step =
        |k: u64, t: f64, blocking: bool, out: &mut ControllerOut| -> Result<bool, RtError> {
            if !slot.read(&mut x, &mut std) {
                if blocking {
                    return Err(RtError::Estimator(format!("no estimate at t = {t} s")));
                }
                return Ok(true);
            }
            let started = Instant::now();
            let report = policy.step(t, &x, &mut u)?;
            let compute_secs = started.elapsed().as_secs_f64();
            policy.late_command(period, &mut late);
            out.step_secs.push(compute_secs);
            out.qp_max = out.qp_max.max(report.qp_iterations);
            let cmd = Cmd {
                step: k,
                command: Vals::of(&u),
                late: Vals::of(&late),
                estimate: Vals::of(&x),
                report,
                compute_secs,
            };
            let sent = if blocking {
                cmd_tx.send(cmd).is_ok()
            } else {
                !matches!(cmd_tx.try_send(cmd), Err(TrySendError::Disconnected(_)))
            };
            if log.on() {
                if report.outcome.is_fallback() {
                    log.event(k, t, Level::Warn, || {
                        format!("fallback {:?} ({:?})", report.outcome, report.failure)
                    });
                }
                policy.predicted_states(&mut predicted);
                log.send(|| {
                    // A log the recorder has finished with, refilled in place.
                    let mut l = pool.try_recv().unwrap_or_else(|_| {
                        Box::new(StepLog {
                            step: 0,
                            t_secs: 0.0,
                            estimate: Vec::new(),
                            estimate_std: Vec::new(),
                            command: Vec::new(),
                            report,
                            compute_secs: 0.0,
                            predicted_states: Vec::new(),
                        })
                    });
                    l.step = k;
                    l.t_secs = t;
                    l.report = report;
                    l.compute_secs = compute_secs;
                    for (to, from) in [
                        (&mut l.estimate, &x),
                        (&mut l.estimate_std, &std),
                        (&mut l.command, &u),
                        (&mut l.predicted_states, &predicted),
                    ] {
                        to.clear();
                        to.extend_from_slice(from);
                    }
                    LogMsg::Step(l)
                });
            }
            Ok(sent)
        };
    match config.mode {
        Mode::Lockstep => {
            for (k, t) in tick_rx.iter() {
                if !step(k, t, true, &mut out)? {
                    break;
                }
            }
        }
        Mode::RealTime => {
            let deadline = config.deadline_secs.unwrap_or(period);
            let mut k = 0u64;
            while k < steps && !done.load(Ordering::SeqCst) && !config.stop.is_stopped() {
                let t = k as f64 * period;
                clock.sleep_until(t, true);
                let woke = clock.now_secs();
                if woke > t + deadline {
                    // Overran into this period's deadline: skip to the
                    // current period (the world applies the fallback).
                    k = ((woke / period).floor() as u64 + 1).max(k + 1);
                    continue;
                }
                out.jitter_secs.push(woke - t);
                if !step(k, t, false, &mut out)? {
                    break;
                }
                k += 1;
            }
        }
    }
    Ok(out)
}
