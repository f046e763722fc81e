//! The loop itself: wires the tasks, runs the world on the calling thread
//! and the recorder on a scoped thread (in real time the estimator and the
//! controller too), and gathers the report.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::ScopedJoinHandle;
use std::time::Instant;

use crossbeam_channel::bounded;

use crate::clock::{Clock, WallClock};
use crate::config::{LoopConfig, Mode};
use crate::estimator::{Estimate, Estimator};
use crate::msg::{Cmd, EstIn, LogMsg, LogTx, ShapePool, MAX_VALUES};
use crate::policy::Policy;
use crate::report::{LoopReport, SensorReport, StepHook};
use crate::sched::{favour_thread, lower_thread_priority, raise_thread_priority};
use crate::sink::{Sink, StepLog};
use crate::slot::slot;
use crate::tasks::controller::{Controller, ControllerOut, LOG_POOL};
use crate::tasks::estimator::{EstimatorOut, EstimatorTask};
use crate::tasks::recorder::recorder_task;
use crate::tasks::world::{Tally, WorldTask};
use crate::world::World;
use crate::RtError;

/// Runs the loop on `world` until the duration is over or `config.stop`
/// is set. The world runs on the calling thread, the recorder (and in real
/// time the estimator and the controller) on scoped threads that end
/// before this returns.
pub fn run(
    world: &mut dyn World,
    policy: &mut dyn Policy,
    estimator: &mut dyn Estimator,
    sink: &mut dyn Sink,
    hook: &mut dyn StepHook,
    config: &LoopConfig,
) -> Result<LoopReport, RtError> {
    config.check()?;
    let (nx, nu) = policy.dimensions();
    let true_nx = world.true_state().map_or(nx, <[f64]>::len);
    if true_nx != nx || world.input_len() != nu || world.command().len() != nu {
        return Err(RtError::Config {
            key: "robot",
            message: format!(
                "the controller's sizes ({nx} states, {nu} inputs) differ from the world's ({true_nx}, {})",
                world.input_len(),
            ),
        });
    }
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
    let sensor_names: Vec<String> = world.sensors().iter().map(|s| s.name.clone()).collect();
    let dropouts_before: Vec<u64> = (0..sensor_names.len()).map(|i| world.lost(i)).collect();
    let estimator_label = estimator.label();

    // The first estimate exists before any task starts.
    if let Some(x) = world.true_state() {
        estimator.on_truth(world.time_secs(), x);
    }
    let recording = sink.enabled();
    let (log_tx, log_rx) = bounded::<LogMsg>(config.recorder_queue);
    let (pool_tx, pool_rx) = bounded::<Box<StepLog>>(LOG_POOL);
    let log = LogTx {
        tx: recording.then_some(log_tx),
        dropped: Arc::new(AtomicU64::new(0)),
    };
    let log_dropped = Arc::clone(&log.dropped);
    let shape_len = world.true_shape().len();
    let shapes = (recording && shape_len > 0).then(|| ShapePool::new(LOG_POOL, shape_len));

    let wall = Instant::now();
    let outcome = std::thread::scope(|scope| {
        let recorder = recording.then(|| {
            let (rx, pool_tx, sink) = (log_rx, pool_tx.clone(), &mut *sink);
            let shapes = shapes.clone();
            std::thread::Builder::new()
                .name("recede-rt-recorder".into())
                .spawn_scoped(scope, move || recorder_task(sink, rx, pool_tx, shapes))
        });
        let mut world = WorldTask {
            world: &mut *world,
            config,
            log: log.clone(),
            hook,
            safe: &safe,
            nx,
            dropouts_seen: dropouts_before.clone(),
            sensor_names: &sensor_names,
            tally: Tally {
                min_clearance: f64::INFINITY,
                queue_drops: vec![0; sensor_names.len()],
                ..Tally::default()
            },
            shapes,
        };
        let estimator = EstimatorTask::new(estimator, log.clone(), sensor_names.len());
        let controller = Controller::new(policy, config, log.clone(), (pool_tx, pool_rx));
        drop(log);
        let tasks = match config.mode {
            Mode::Lockstep => run_lockstep(&mut world, estimator, controller),
            Mode::RealTime => run_realtime(scope, &mut world, config, estimator, controller, nx),
        };
        let tally = world.tally;
        // The recorder ends once every sender is gone and its queue drained.
        drop(world.log);
        let rec = recorder.map(|r| join("recorder", r));
        let (ctrl, est) = tasks?;
        if let Some(rec) = rec {
            rec?;
        }
        Ok::<_, RtError>((ctrl, est, tally))
    });
    let (ctrl, est, tally) = outcome?;
    world.finish();
    let wall_secs = wall.elapsed().as_secs_f64();
    let sensors = sensor_names
        .into_iter()
        .enumerate()
        .map(|(i, name)| SensorReport {
            name,
            delivered: est.delivered[i],
            dropped: world.lost(i).saturating_sub(dropouts_before[i]) + tally.queue_drops[i],
            rejected: est.rejected[i],
        })
        .collect();
    Ok(LoopReport {
        mode: config.mode,
        estimator: estimator_label,
        sim_secs: world.time_secs(),
        wall_secs,
        control_steps: tally.steps,
        fallbacks: tally.fallbacks,
        deadline_misses: tally.misses,
        step_secs: ctrl.step_secs,
        jitter_secs: ctrl.jitter_secs,
        qp_iterations_max: ctrl.qp_max,
        recorder_dropped: log_dropped.load(Ordering::Relaxed) + sink.dropped(),
        sensors,
        min_clearance_m: tally
            .min_clearance
            .is_finite()
            .then_some(tally.min_clearance),
        stopped: tally.stopped,
        final_state: world.true_state().unwrap_or(&[]).to_vec(),
    })
}

/// A task's result, or which task panicked (or could not be started).
fn join<T>(
    name: &'static str,
    handle: std::io::Result<ScopedJoinHandle<'_, T>>,
) -> Result<T, RtError> {
    handle
        .ok()
        .and_then(|h| h.join().ok())
        .ok_or(RtError::TaskPanicked(name))
}

/// Lockstep: the estimator and the controller run in turn on the world's
/// thread (see `tasks::lockstep`), favoured when permitted over the
/// renders and the recorder: they overlap the chain, and on a machine
/// with few cores, sharing a core with them evenly slowed the chain (and
/// so the run) more than it sped them up.
fn run_lockstep(
    world: &mut WorldTask<'_>,
    mut estimator: EstimatorTask<'_>,
    mut controller: Controller<'_>,
) -> Result<(ControllerOut, EstimatorOut), RtError> {
    let favoured = favour_thread(world.config.lockstep_favour);
    let result = world.run_lockstep(&mut estimator, &mut controller);
    drop(favoured);
    result?;
    Ok((controller.finish(), estimator.finish()))
}

/// Real time: the estimator and the controller on their own threads,
/// under the real-time policy when permitted (the world, on the caller's
/// thread, for the run only). The tasks report when they run at their
/// priorities, and the clock starts only then: a thread spawned under load
/// can wait milliseconds for its first slice, which is not the controller
/// being late.
fn run_realtime<'scope, 'env>(
    scope: &'scope std::thread::Scope<'scope, 'env>,
    world: &mut WorldTask<'_>,
    config: &'env LoopConfig,
    estimator: EstimatorTask<'env>,
    controller: Controller<'env>,
    nx: usize,
) -> Result<(ControllerOut, EstimatorOut), RtError> {
    let priority = config.realtime_priority;
    let (mut slot_tx, slot_rx) = slot(Estimate::new(nx));
    let mut estimator = estimator;
    slot_tx.publish_with(|out| estimator.estimate(0.0, out));
    let done = Arc::new(AtomicBool::new(false));
    let (est_tx, est_rx) = bounded::<EstIn>(config.estimator_queue);
    let (cmd_tx, cmd_rx) = bounded::<Cmd>(64);
    let (ready_tx, ready_rx) = bounded::<()>(2);
    let (start_tx, start_rx) = bounded::<Arc<dyn Clock>>(1);
    let ready = move |ready_tx: crossbeam_channel::Sender<()>, p: Option<i32>| {
        if let Some(p) = p {
            raise_thread_priority(p);
        }
        let _ = ready_tx.send(());
    };
    let est = {
        let ready_tx = ready_tx.clone();
        std::thread::Builder::new()
            .name("recede-rt-estimator".into())
            .spawn_scoped(scope, move || {
                ready(ready_tx, priority.map(|p| p - 1));
                estimator.run_realtime(est_rx, slot_tx)
            })
    };
    let ctrl = {
        let done = Arc::clone(&done);
        std::thread::Builder::new()
            .name("recede-rt-controller".into())
            .spawn_scoped(scope, move || {
                ready(ready_tx, priority);
                match start_rx.recv() {
                    Ok(clock) => controller.run_realtime(config, clock, slot_rx, cmd_tx, &done),
                    // The world did not start.
                    Err(_) => Ok(ControllerOut::default()),
                }
            })
    };
    let world_result = if est.is_ok() && ctrl.is_ok() {
        // The world task is the caller's thread: raised for the run only.
        let raised = priority.is_some_and(|p| raise_thread_priority(p - 1));
        let result = if ready_rx.recv().is_ok() && ready_rx.recv().is_ok() {
            let clock: Arc<dyn Clock> = match &config.clock {
                Some(c) => Arc::clone(c),
                None => Arc::new(WallClock::new()),
            };
            let _ = start_tx.send(Arc::clone(&clock));
            world.run_realtime(&est_tx, &cmd_rx, clock.as_ref())
        } else {
            Err(RtError::TaskPanicked("controller"))
        };
        if raised {
            lower_thread_priority();
        }
        result
    } else {
        Err(RtError::TaskPanicked("spawn"))
    };
    done.store(true, Ordering::SeqCst);
    // Every sender gone: the estimator and the controller end.
    drop((start_tx, est_tx, cmd_rx));
    let ctrl = join("controller", ctrl);
    let est = join("estimator", est);
    // The world's error first: a controller that stopped because the
    // world did is not the cause.
    world_result?;
    Ok((ctrl??, est?))
}
