//! The loop itself: the world on the calling thread, the estimator, the
//! controller and the recorder on scoped threads.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};
use nalgebra::Point3;
use recede_mpc::StepReport;
use recede_msg::Reading;
use recede_sim::Simulator;

use crate::clock::{lower_thread_priority, raise_thread_priority, Clock, StopFlag, WallClock};
use crate::estimator::{Estimator, Verdict};
use crate::policy::Policy;
use crate::sink::{Level, Sink, StepLog};
use crate::RtError;

/// Which clock drives the loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Simulated time, as fast as the machine allows; repeatable bit for bit.
    Lockstep,
    /// Paced by a [`Clock`]; the controller has a deadline each period.
    RealTime,
}

/// How to run the loop.
#[derive(Debug, Clone)]
pub struct LoopConfig {
    pub mode: Mode,
    /// Control period, s.
    pub period_secs: f64,
    /// Simulated duration, s (rounded to whole periods).
    pub duration_secs: f64,
    /// From a control instant to the moment its command acts on the plant, s.
    pub actuation_delay_secs: f64,
    /// Real time: a command not in by this long after its control instant
    /// is replaced by the fallback (the period when `None`).
    pub deadline_secs: Option<f64>,
    /// Real time: the clock (a fresh [`WallClock`] when `None`).
    pub clock: Option<Arc<dyn Clock>>,
    /// Ctrl-C and the like: the loop ends at the next iteration.
    pub stop: StopFlag,
    /// Readings queued from the world to the estimator (real time drops
    /// beyond this; lockstep waits).
    pub estimator_queue: usize,
    /// Messages queued for the recorder task before they are dropped.
    pub recorder_queue: usize,
    /// Real time: run the controller (and, one step lower, the world and
    /// the estimator) under the OS's real-time FIFO policy at this priority
    /// when permitted, so that other processes do not delay them. `None`:
    /// ordinary scheduling.
    pub realtime_priority: Option<i32>,
    /// Threads rendering camera images besides the world task's (0: the
    /// world task renders them). The readings, and so a lockstep run, do
    /// not depend on it.
    pub render_workers: usize,
}

impl LoopConfig {
    pub fn new(mode: Mode, period_secs: f64, duration_secs: f64) -> Self {
        Self {
            mode,
            period_secs,
            duration_secs,
            actuation_delay_secs: 0.0,
            deadline_secs: None,
            clock: None,
            stop: StopFlag::new(),
            estimator_queue: 1024,
            recorder_queue: 4096,
            render_workers: 2,
            realtime_priority: Some(50),
        }
    }

    fn check(&self) -> Result<(), RtError> {
        let bad = |key, message: String| Err(RtError::Config { key, message });
        if !(self.period_secs.is_finite() && self.period_secs > 0.0) {
            return bad(
                "period_secs",
                format!("expected > 0, found {}", self.period_secs),
            );
        }
        if !(self.duration_secs.is_finite() && self.duration_secs >= 0.0) {
            return bad(
                "duration_secs",
                format!("expected >= 0, found {}", self.duration_secs),
            );
        }
        if !(self.actuation_delay_secs.is_finite() && self.actuation_delay_secs >= 0.0) {
            return bad(
                "actuation_delay_secs",
                format!("expected >= 0, found {}", self.actuation_delay_secs),
            );
        }
        if let Some(d) = self.deadline_secs {
            if !(d.is_finite() && d > 0.0) {
                return bad("deadline_secs", format!("expected > 0, found {d}"));
            }
        }
        if self.estimator_queue == 0 || self.recorder_queue == 0 {
            return bad("queue", "queues need room for at least one message".into());
        }
        Ok(())
    }
}

/// Where the command of a control step came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandSource {
    /// The controller's step, in time.
    Controller,
    /// Deadline missed: the previous plan, shifted by a period.
    ShiftedPlan,
    /// Deadline missed with no usable plan (or twice in a row): the safe input.
    Safe,
}

/// One control step, as the world saw it; given to the [`StepHook`] once
/// the step's command is settled.
#[derive(Debug, Clone, Copy)]
pub struct StepRecord<'a> {
    pub step: u64,
    pub t_secs: f64,
    /// The true state at the control instant.
    pub true_state: &'a [f64],
    /// The estimate the controller acted on (empty when the deadline passed).
    pub estimate: &'a [f64],
    /// The command that acts from `t_secs + actuation_delay_secs`.
    pub command: &'a [f64],
    pub source: CommandSource,
    /// The controller's report (none when the deadline passed).
    pub report: Option<StepReport>,
    /// Wall time of the controller's step, s (0 when it missed).
    pub compute_secs: f64,
    /// Distance from the robot's body origin to the nearest obstacle, m
    /// (infinite without obstacles).
    pub clearance_m: f64,
}

/// Sees every control step on the world task.
pub trait StepHook: Send {
    fn on_step(&mut self, record: &StepRecord<'_>);
}

impl<F: FnMut(&StepRecord<'_>) + Send> StepHook for F {
    fn on_step(&mut self, record: &StepRecord<'_>) {
        self(record)
    }
}

/// Per-sensor counts over the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SensorReport {
    pub name: String,
    /// Readings handed to the estimator.
    pub delivered: u64,
    /// Samples lost: dropout in the sensor, or the estimator's queue full.
    pub dropped: u64,
    /// Readings the estimator refused.
    pub rejected: u64,
}

/// What the loop did.
#[derive(Debug, Clone)]
pub struct LoopReport {
    pub mode: Mode,
    pub estimator: &'static str,
    pub sim_secs: f64,
    pub wall_secs: f64,
    /// Control steps whose command was settled (by the controller or a fallback).
    pub control_steps: usize,
    /// Steps that applied a fallback: the MPC's own (failed solve) or a missed deadline.
    pub fallbacks: usize,
    /// Real time: steps whose command was not in by the deadline.
    pub deadline_misses: usize,
    /// Wall time of each controller step, s.
    pub step_secs: Vec<f64>,
    /// Real time: lateness of the controller's wake-up at each period, s.
    pub jitter_secs: Vec<f64>,
    pub qp_iterations_max: u32,
    /// Recorder messages dropped (the loop's queue and the sink's own).
    pub recorder_dropped: u64,
    pub sensors: Vec<SensorReport>,
    /// Smallest clearance at the control instants (None without obstacles).
    pub min_clearance_m: Option<f64>,
    /// Ended early by the stop flag.
    pub stopped: bool,
    pub final_state: Vec<f64>,
}

/// Most values the loop passes between tasks: inline, so that the tasks
/// neither allocate nor free per message in steady state (a free of another
/// thread's allocation takes that thread's allocator lock: a priority
/// inversion waiting to happen in real time).
const MAX_VALUES: usize = 16;

#[derive(Debug, Clone, Copy)]
struct Vals {
    len: usize,
    v: [f64; MAX_VALUES],
}

impl Vals {
    fn of(values: &[f64]) -> Self {
        let mut v = [0.0; MAX_VALUES];
        let len = values.len().min(MAX_VALUES);
        v[..len].copy_from_slice(&values[..len]);
        Self { len, v }
    }

    fn as_slice(&self) -> &[f64] {
        &self.v[..self.len]
    }
}

enum EstIn {
    Reading(Arc<Reading>),
    Truth(f64, Vals),
    Tick(u64, f64),
}

struct Cmd {
    step: u64,
    command: Vals,
    late: Vals,
    estimate: Vals,
    report: StepReport,
    compute_secs: f64,
}

enum LogMsg {
    Reading(u64, Arc<Reading>),
    Truth(u64, f64, Vals),
    Step(Box<StepLog>),
    Event(u64, f64, Level, String),
}

/// The loop's side of the recorder queue: never blocks.
#[derive(Clone)]
struct LogTx {
    tx: Option<Sender<LogMsg>>,
    dropped: Arc<AtomicU64>,
}

impl LogTx {
    fn on(&self) -> bool {
        self.tx.is_some()
    }

    fn send(&self, make: impl FnOnce() -> LogMsg) {
        let Some(tx) = &self.tx else { return };
        if tx.is_full() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = tx.try_send(make()) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn event(&self, step: u64, t: f64, level: Level, text: impl FnOnce() -> String) {
        self.send(|| LogMsg::Event(step, t, level, text()));
    }
}

/// The latest estimate: written by the estimator, copied by the controller.
#[derive(Debug)]
struct Slot {
    data: Mutex<SlotData>,
}

#[derive(Debug)]
struct SlotData {
    valid: bool,
    state: Vec<f64>,
    std: Vec<f64>,
}

impl Slot {
    fn publish(&self, state: &[f64], std: &[f64]) {
        let mut d = self.data.lock().unwrap_or_else(PoisonError::into_inner);
        d.state.copy_from_slice(state);
        d.std.copy_from_slice(std);
        d.valid = true;
    }

    fn read(&self, state: &mut [f64], std: &mut [f64]) -> bool {
        let d = self.data.lock().unwrap_or_else(PoisonError::into_inner);
        if d.valid {
            state.copy_from_slice(&d.state);
            std.copy_from_slice(&d.std);
        }
        d.valid
    }
}

struct ControllerOut {
    step_secs: Vec<f64>,
    jitter_secs: Vec<f64>,
    qp_max: u32,
}

struct EstimatorOut {
    delivered: Vec<u64>,
    rejected: Vec<u64>,
}

/// Runs the loop on `sim` until the duration is over or `config.stop` is
/// set. The world runs on the calling thread; estimator, controller and
/// recorder on scoped threads (they end before this returns).
pub fn run(
    sim: &mut Simulator,
    policy: &mut dyn Policy,
    estimator: &mut dyn Estimator,
    sink: &mut dyn Sink,
    hook: &mut dyn StepHook,
    config: &LoopConfig,
) -> Result<LoopReport, RtError> {
    config.check()?;
    let (nx, nu) = policy.dimensions();
    if sim.true_state().len() != nx || sim.command().len() != nu {
        return Err(RtError::Config {
            key: "robot",
            message: format!(
                "the controller's sizes ({nx} states, {nu} inputs) differ from the plant's ({}, {})",
                sim.true_state().len(),
                sim.command().len()
            ),
        });
    }
    sim.set_render_workers(config.render_workers);
    if nx > MAX_VALUES || nu > MAX_VALUES {
        return Err(RtError::Config {
            key: "robot",
            message: format!(
                "the loop passes at most {MAX_VALUES} states and inputs, found {nx} and {nu}"
            ),
        });
    }
    let mut safe = vec![0.0; nu];
    policy.safe_command(&mut safe);
    let sensor_names: Vec<String> = sim.sensors().map(|s| s.name.clone()).collect();
    let dropouts_before: Vec<u64> = sim.sensor_counts().map(|(_, c)| c.dropped).collect();
    let estimator_label = estimator.label();

    let slot = Slot {
        data: Mutex::new(SlotData {
            valid: false,
            state: vec![0.0; nx],
            std: vec![0.0; nx],
        }),
    };
    let done = AtomicBool::new(false);
    let (est_tx, est_rx) = bounded::<EstIn>(config.estimator_queue);
    let (cmd_tx, cmd_rx) = bounded::<Cmd>(64);
    let (tick_tx, tick_rx) = bounded::<(u64, f64)>(1);
    let recording = sink.enabled();
    let (log_tx, log_rx) = bounded::<LogMsg>(config.recorder_queue);
    let (pool_tx, pool_rx) = bounded::<Box<StepLog>>(64);
    let log = LogTx {
        tx: recording.then_some(log_tx),
        dropped: Arc::new(AtomicU64::new(0)),
    };
    let log_dropped = Arc::clone(&log.dropped);
    let realtime = config.mode == Mode::RealTime;
    let clock: Arc<dyn Clock> = match (&config.clock, realtime) {
        (Some(c), _) => Arc::clone(c),
        (None, _) => Arc::new(WallClock::new()),
    };
    // The first estimate exists before any task starts.
    est_tx
        .send(EstIn::Truth(0.0, Vals::of(sim.true_state())))
        .map_err(|_| RtError::TaskPanicked("estimator"))?;

    let wall = Instant::now();
    let outcome = std::thread::scope(|scope| {
        let recorder = recording.then(|| {
            let rx = log_rx;
            let sink = &mut *sink;
            std::thread::Builder::new()
                .name("recede-rt-recorder".into())
                .spawn_scoped(scope, move || recorder_task(sink, rx, pool_tx))
        });
        let est = {
            let log = log.clone();
            let slot = &slot;
            let n = sensor_names.len();
            let tick_tx = (!realtime).then_some(tick_tx);
            std::thread::Builder::new()
                .name("recede-rt-estimator".into())
                .spawn_scoped(scope, move || {
                    if let (Mode::RealTime, Some(p)) = (config.mode, config.realtime_priority) {
                        raise_thread_priority(p - 1);
                    }
                    estimator_task(estimator, est_rx, slot, tick_tx, &log, n, nx)
                })
        };
        let ctrl = {
            let log = log.clone();
            let slot = &slot;
            let done = &done;
            let clock = Arc::clone(&clock);
            let policy = &mut *policy;
            std::thread::Builder::new()
                .name("recede-rt-controller".into())
                .spawn_scoped(scope, move || {
                    if let (Mode::RealTime, Some(p)) = (config.mode, config.realtime_priority) {
                        raise_thread_priority(p);
                    }
                    controller_task(
                        policy,
                        config,
                        slot,
                        tick_rx,
                        cmd_tx,
                        &log,
                        pool_rx,
                        clock.as_ref(),
                        done,
                        nx,
                        nu,
                    )
                })
        };
        let (est, ctrl) = match (est, ctrl) {
            (Ok(e), Ok(c)) => (e, c),
            _ => return Err(RtError::TaskPanicked("spawn")),
        };
        let mut world = World {
            sim,
            config,
            log: log.clone(),
            hook,
            safe: &safe,
            nx,
            fallbacks: 0,
            misses: 0,
            steps: 0,
            min_clearance: f64::INFINITY,
            queue_drops: vec![0; sensor_names.len()],
            dropouts_seen: dropouts_before.clone(),
            stopped: false,
            sensor_names: &sensor_names,
        };
        let world_result = if realtime {
            // The world task is the caller's thread: raised for the run only.
            let raised = config
                .realtime_priority
                .is_some_and(|p| raise_thread_priority(p - 1));
            let result = world.run_realtime(&est_tx, &cmd_rx, clock.as_ref());
            if raised {
                lower_thread_priority();
            }
            result
        } else {
            world.run_lockstep(&est_tx, &cmd_rx)
        };
        done.store(true, Ordering::SeqCst);
        let World {
            fallbacks,
            misses,
            steps,
            min_clearance,
            queue_drops,
            stopped,
            log: world_log,
            ..
        } = world;
        // Every sender gone: the estimator, then the controller, then the
        // recorder (once its queue is drained) end.
        drop(world_log);
        drop(est_tx);
        drop(cmd_rx);
        drop(log);
        let ctrl = ctrl.join().map_err(|_| RtError::TaskPanicked("controller"));
        let est = est.join().map_err(|_| RtError::TaskPanicked("estimator"));
        let rec_ok = match recorder {
            Some(Ok(handle)) => handle.join().is_ok(),
            Some(Err(_)) => false,
            None => true,
        };
        // The world's error first: a controller that stopped because the
        // world did is not the cause.
        world_result?;
        let ctrl = ctrl??;
        let est = est?;
        if !rec_ok {
            return Err(RtError::TaskPanicked("recorder"));
        }
        Ok((
            ctrl,
            est,
            fallbacks,
            misses,
            steps,
            min_clearance,
            queue_drops,
            stopped,
        ))
    });
    let (ctrl, est, fallbacks, misses, steps, min_clearance, queue_drops, stopped) = outcome?;
    sim.finish_renders();
    let wall_secs = wall.elapsed().as_secs_f64();
    let sensors = sim
        .sensor_counts()
        .enumerate()
        .map(|(i, (info, counts))| SensorReport {
            name: info.name.clone(),
            delivered: est.delivered[i],
            dropped: counts.dropped - dropouts_before[i] + queue_drops[i],
            rejected: est.rejected[i],
        })
        .collect();
    Ok(LoopReport {
        mode: config.mode,
        estimator: estimator_label,
        sim_secs: sim.time_secs(),
        wall_secs,
        control_steps: steps,
        fallbacks,
        deadline_misses: misses,
        step_secs: ctrl.step_secs,
        jitter_secs: ctrl.jitter_secs,
        qp_iterations_max: ctrl.qp_max,
        recorder_dropped: log_dropped.load(Ordering::Relaxed) + sink.dropped(),
        sensors,
        min_clearance_m: min_clearance.is_finite().then_some(min_clearance),
        stopped,
        final_state: sim.true_state().to_vec(),
    })
}

fn recorder_task(sink: &mut dyn Sink, rx: Receiver<LogMsg>, pool: Sender<Box<StepLog>>) {
    // Until every sender is gone: on a stop the queue is drained, so the
    // recording holds everything that was queued.
    for msg in rx.iter() {
        match msg {
            LogMsg::Reading(step, r) => sink.reading(step, &r),
            LogMsg::Truth(step, t, x) => sink.truth(step, t, x.as_slice()),
            LogMsg::Step(log) => {
                sink.step(&log);
                // Back to the controller for reuse (freed here if it has enough).
                let _ = pool.try_send(log);
            }
            LogMsg::Event(step, t, level, text) => sink.event(step, t, level, &text),
        }
    }
}

fn estimator_task(
    estimator: &mut dyn Estimator,
    rx: Receiver<EstIn>,
    slot: &Slot,
    tick_tx: Option<Sender<(u64, f64)>>,
    log: &LogTx,
    sensors: usize,
    nx: usize,
) -> EstimatorOut {
    let mut out = EstimatorOut {
        delivered: vec![0; sensors],
        rejected: vec![0; sensors],
    };
    let (mut state, mut std) = (vec![0.0; nx], vec![0.0; nx]);
    let mut publish = |estimator: &mut dyn Estimator, t: f64| {
        if estimator.estimate(t, &mut state, &mut std) {
            slot.publish(&state, &std);
        }
    };
    let mut step = 0;
    for msg in rx.iter() {
        match msg {
            EstIn::Reading(r) => {
                let i = r.sensor.0 as usize;
                if let Some(d) = out.delivered.get_mut(i) {
                    *d += 1;
                }
                if estimator.on_reading(&r) == Verdict::Rejected {
                    if let Some(n) = out.rejected.get_mut(i) {
                        *n += 1;
                    }
                    log.event(step, r.stamp.available_secs, Level::Warn, || {
                        format!(
                            "rejected a reading of sensor {i} stamped {:.3} s",
                            r.stamp.stamp_secs
                        )
                    });
                }
                if tick_tx.is_none() {
                    publish(estimator, r.stamp.available_secs);
                }
            }
            EstIn::Truth(t, x) => {
                estimator.on_truth(t, x.as_slice());
                if tick_tx.is_none() {
                    publish(estimator, t);
                }
            }
            EstIn::Tick(k, t) => {
                step = k;
                publish(estimator, t);
                if let Some(tx) = &tick_tx {
                    if tx.send((k, t)).is_err() {
                        break;
                    }
                }
            }
        }
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn controller_task(
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

/// The world task's state: the simulator and the settled steps.
struct World<'a> {
    sim: &'a mut Simulator,
    config: &'a LoopConfig,
    log: LogTx,
    hook: &'a mut dyn StepHook,
    safe: &'a [f64],
    nx: usize,
    fallbacks: usize,
    misses: usize,
    steps: usize,
    min_clearance: f64,
    queue_drops: Vec<u64>,
    dropouts_seen: Vec<u64>,
    stopped: bool,
    sensor_names: &'a [String],
}

/// A command waiting for its time to act.
struct Pending {
    at_secs: f64,
    command: Vec<f64>,
}

impl World<'_> {
    fn clearance(&self) -> f64 {
        let p = self.sim.body().world_from_body.translation.vector;
        let d = self.sim.distance_to_nearest_obstacle(&Point3::from(p));
        if d.is_finite() {
            d
        } else {
            f64::INFINITY
        }
    }

    /// Steps the plant to `t`, switching to queued commands at their times.
    fn advance_to(
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

    /// Hands readings available by `t` to the estimator (and the recorder).
    fn deliver(
        &mut self,
        t: f64,
        step: u64,
        est_tx: &Sender<EstIn>,
        buf: &mut Vec<Reading>,
        blocking: bool,
    ) -> Result<(), RtError> {
        buf.clear();
        self.sim.poll_into(t, buf);
        for r in buf.drain(..) {
            let i = r.sensor.0 as usize;
            let r = Arc::new(r);
            if self.log.on() {
                self.log.send(|| LogMsg::Reading(step, Arc::clone(&r)));
            }
            if blocking {
                est_tx
                    .send(EstIn::Reading(r))
                    .map_err(|_| RtError::TaskPanicked("estimator"))?;
            } else if est_tx.try_send(EstIn::Reading(r)).is_err() {
                if let Some(n) = self.queue_drops.get_mut(i) {
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
        Ok(())
    }

    fn run_lockstep(
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
                self.stopped = true;
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
            self.min_clearance = self.min_clearance.min(clearance);
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
        if !self.stopped {
            self.advance_to(steps as f64 * period, &mut queue, &mut current)?;
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn settle(
        &mut self,
        k: u64,
        t: f64,
        x: &[f64],
        command: &[f64],
        source: CommandSource,
        cmd: Option<&Cmd>,
        clearance: f64,
    ) {
        self.steps += 1;
        let fell_back = source != CommandSource::Controller
            || cmd.is_some_and(|c| c.report.outcome.is_fallback());
        self.fallbacks += usize::from(fell_back);
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

    fn run_realtime(
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
