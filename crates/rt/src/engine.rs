//! The loop itself: wires the tasks, runs the world on the calling thread
//! and the estimator, the controller and the recorder on scoped threads,
//! and gathers the report.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crossbeam_channel::bounded;
use recede_sim::Simulator;

use crate::clock::{lower_thread_priority, raise_thread_priority, Clock, WallClock};
use crate::config::{LoopConfig, Mode};
use crate::estimator::Estimator;
use crate::msg::{Cmd, EstIn, LogMsg, LogTx, Vals, MAX_VALUES};
use crate::policy::Policy;
use crate::report::{LoopReport, SensorReport, StepHook};
use crate::sink::{Sink, StepLog};
use crate::slot::{Slot, SlotData};
use crate::tasks::controller::controller_task;
use crate::tasks::estimator::estimator_task;
use crate::tasks::recorder::recorder_task;
use crate::tasks::world::World;
use crate::RtError;

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
