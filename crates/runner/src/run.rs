//! `recede run`: a scenario through the loop of `recede-rt` (the simulated
//! world with its sensors, the estimator, the controller, the recorder),
//! lockstep or real time, then a summary.
//!
//! [`run`] is the library entry point `recede tune` calls in-process (no
//! recording, lockstep); [`run_with`] takes the full [`RunOptions`] and an
//! optional per-control-step hook (`--log-data`).

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::time::Instant;

use anyhow::{Context, Result};
use recede_control::guidance::Guidance;
use recede_control::{Controller, ResidualStats};
use recede_perception::{Perception, SensorStats};
use recede_rt::{
    Estimator, LoopConfig, LoopReport, Mode, NullSink, Sink, StepHook, StepRecord, StopFlag,
    TruthEstimator,
};
use recede_sim::Simulator;
use serde::Serialize;

use crate::adapters::{ControlPolicy, PerceptionEstimator, SimWorld, DEFAULT_RENDER_WORKERS};
use crate::perception_loop::{
    detection_summary, target_summary, DetectionSummary, PerceptionScore, TargetSummary,
};
use crate::record::{Recording, SinkSetup, VizSink};
use crate::safety::{Safety, SafetyScore};
use crate::scenario::{EstimatorConfig, Scenario};
use crate::stats::{percentile, Percentiles};

/// Per sensor: readings handed to the estimator, samples lost, readings
/// the estimator refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SensorSummary {
    pub delivered: u64,
    pub dropped: u64,
    pub rejected: u64,
}

/// Wake-up lateness of the real-time controller, us.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Jitter {
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub scenario: String,
    pub file: String,
    pub robot: String,
    pub seed: u64,
    /// `lockstep` or `realtime`.
    pub mode: String,
    /// What the controller acted on: `truth` is the true state (a debugging
    /// mode, no estimation error).
    pub estimator: String,
    pub sim_secs: f64,
    pub wall_secs: f64,
    pub realtime_factor: f64,
    pub control_steps: usize,
    pub goal_reached: bool,
    /// Position error against the reference at the control instants, when
    /// the robot's state starts with a position (quadrotor, diff-drive).
    pub tracking_rmse_m: Option<f64>,
    /// The end effector's distance from its reference path (an
    /// end-effector reference of a URDF arm), root mean square over the
    /// control instants from the path's start on, m.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_effector_rmse_m: Option<f64>,
    /// Root mean square of each state component's error against the
    /// reference at the control instants (units of the state).
    pub state_rmse: Vec<f64>,
    /// Mean over control steps of the squared distance of the applied input
    /// from the reference input, sum over inputs (input units squared); from
    /// zero when the controller computes the input reference
    /// (`input = "inverse_dynamics"`: the file has none).
    pub control_effort: f64,
    /// Reference nodes whose computed input reference had no answer (the
    /// model's input Jacobian without full column rank there), which held
    /// the safe input instead; 0 for a given input.
    pub unsolved_input_references: usize,
    /// Smallest distance from the robot's body (the balls the contact
    /// check counts) to a world object over the run, m: negative exactly
    /// when it touched one (the ground is not counted). From the body's
    /// origin at the control instants when the robot has no such body.
    /// None without obstacles.
    pub min_clearance_m: Option<f64>,
    /// Estimated against true position at the control instants, m (with
    /// `[estimator] kind = "ekf"`).
    pub estimate_rmse_m: Option<f64>,
    /// Root mean square of each state entry's estimation error at the
    /// control instants, state units (ekf only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub estimate_state_rmse: Vec<f64>,
    /// Perceived obstacles against the world's objects (ekf only).
    pub detection: Option<DetectionSummary>,
    /// The final pose against the hottest object (ekf, ground robot).
    pub target: Option<TargetSummary>,
    /// Estimates withheld because the filter went non-finite (ekf only).
    pub estimate_faults: Option<u64>,
    /// The perception pipeline's own counters per sensor (ekf only):
    /// gated, non-finite, too late.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub perception_sensors: Vec<SensorStats>,
    /// Collisions, bounds, commands, the safe input (flattened in JSON).
    #[serde(flatten)]
    pub safety: Safety,
    /// Steps that applied a fallback command (failed solve or missed deadline).
    pub fallbacks: usize,
    /// Steps that applied a QP iterate stopped early (iteration or time
    /// limit) whose constraint violation was within
    /// `[controller.fallback] accept_primal_residual`: not fallbacks, but
    /// not solved to tolerance either.
    pub inaccurate_solves: usize,
    /// Steps the Riccati active set (`[controller.qp] solver = "riccati"`)
    /// handed to OSQP on blocks: as it gives up, and (apart) because a soft
    /// state bound's optimum sat on the bound itself. Not fallbacks: the
    /// step is still solved.
    pub riccati_fallbacks: usize,
    pub soft_bound_fallbacks: usize,
    /// Real time: steps whose command missed its deadline.
    pub deadline_misses: usize,
    pub step_us: Percentiles,
    /// The controller's step split: from the state to the command (the
    /// QP's solve included), and the preparation of the next step
    /// (linearising, condensing, matrix updates).
    pub feedback_us: Percentiles,
    pub prepare_us: Percentiles,
    /// Real time only.
    pub loop_jitter_us: Option<Jitter>,
    pub qp_iterations_max: u32,
    /// Recorder messages dropped because the recorder fell behind.
    pub recorder_dropped: u64,
    pub sensors: BTreeMap<String, SensorSummary>,
    /// Where the recording went, if anywhere.
    pub recording: Option<String>,
    /// Ended early by a signal (Ctrl-C, SIGTERM, SIGHUP).
    pub stopped: bool,
    /// The learned residual's guard and adaptation counters, when the
    /// controller has one.
    pub residual: Option<ResidualStats>,
    /// The share of the residual's evaluations its support guard clipped
    /// (features outside the training data's box), when it has one.
    pub residual_clipped_fraction: Option<f64>,
    /// The implicit midpoint rule's Newton counts (steps, iterations,
    /// matrix refreshes, failures), when the scenario integrates with it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub newton: Option<recede_model::NewtonStats>,
    pub final_state: Vec<f64>,
}

/// How to run a scenario.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub duration_secs: Option<f64>,
    pub seed: Option<u64>,
    pub realtime: bool,
    pub recording: Recording,
    /// A progress line on stderr (only when stderr is a terminal).
    pub progress: bool,
    pub stop: StopFlag,
    /// Threads rendering camera images (the loop's default when `None`);
    /// lockstep results do not depend on it.
    pub render_workers: Option<usize>,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            duration_secs: None,
            seed: None,
            realtime: false,
            recording: Recording::Off,
            progress: false,
            stop: StopFlag::new(),
            render_workers: None,
        }
    }
}

/// Lockstep, no recording: what `recede tune` runs, many in parallel.
pub fn run(scenario: &Scenario, duration_override: Option<f64>) -> Result<RunSummary> {
    let options = RunOptions {
        duration_secs: duration_override,
        ..RunOptions::default()
    };
    run_with(scenario, &options, None)
}

/// Scores the run at the control instants, then passes each step on.
struct Scoring<'a, 'h> {
    scenario: &'a Scenario,
    x_ref: Vec<f64>,
    u_ref: Vec<f64>,
    pos: usize,
    sq_err: f64,
    samples: usize,
    /// The end effector's squared errors and their count.
    end_effector_sq: f64,
    end_effector_samples: usize,
    state_sq: Vec<f64>,
    effort: f64,
    steps: usize,
    safety: SafetyScore,
    inner: Option<&'h mut dyn StepHook>,
    progress: Option<Progress>,
}

#[derive(Debug)]
struct Progress {
    wall: Instant,
    last: f64,
    duration: f64,
}

impl StepHook for Scoring<'_, '_> {
    fn on_step(&mut self, r: &StepRecord<'_>) {
        let f = &self.scenario.file;
        let x = r.true_state;
        f.reference
            .sample(r.t_secs, &mut self.x_ref, &mut self.u_ref);
        if self.pos > 0 {
            self.sq_err += (0..self.pos)
                .map(|i| (x[i] - self.x_ref[i]).powi(2))
                .sum::<f64>();
            self.samples += 1;
        }
        if let Some(e) = f.reference.end_effector_error_m(r.t_secs, x) {
            self.end_effector_sq += e * e;
            self.end_effector_samples += 1;
        }
        for (acc, (x, r)) in self.state_sq.iter_mut().zip(x.iter().zip(&self.x_ref)) {
            *acc += (x - r).powi(2);
        }
        self.effort += r
            .command
            .iter()
            .zip(&self.u_ref)
            .map(|(u, r)| (u - r).powi(2))
            .sum::<f64>();
        self.steps += 1;
        self.safety.observe(r);
        if let Some(p) = &mut self.progress {
            let wall = p.wall.elapsed().as_secs_f64();
            if wall - p.last >= 0.25 {
                p.last = wall;
                eprint!(
                    "\r  t = {:7.2} / {:.2} s   {:5.1}x real time   step {}   ",
                    r.t_secs,
                    p.duration,
                    r.t_secs / wall.max(1e-9),
                    r.step
                );
                let _ = std::io::stderr().flush();
            }
        }
        if let Some(inner) = &mut self.inner {
            inner.on_step(r);
        }
    }
}

/// Runs `scenario` as `options` say; `hook` sees every control step.
/// Every error names the scenario file.
pub fn run_with(
    scenario: &Scenario,
    options: &RunOptions,
    hook: Option<&mut dyn StepHook>,
) -> Result<RunSummary> {
    run_scenario(scenario, options, hook, None)
        .with_context(|| format!("running {}", scenario.path.display()))
}

/// `plant_steps`: a plant-step data log the world adapter writes.
fn run_scenario(
    scenario: &Scenario,
    options: &RunOptions,
    hook: Option<&mut dyn StepHook>,
    plant_steps: Option<&mut crate::datalog::DataLog>,
) -> Result<RunSummary> {
    let f = &scenario.file;
    let s = &f.scenario;
    let seed = options.seed.unwrap_or(s.seed);
    let duration = options.duration_secs.unwrap_or(s.duration_secs);
    if duration != 0.0 {
        crate::scenario::limits::check_duration("--duration", duration, scenario.period_secs())?;
    }
    let (nx, nu) = f.robot.dimensions();
    // The recording first: a sink that cannot be written stops us here.
    let recorder = options.recording.open(&s.name)?;
    let perceiving = matches!(f.estimator, EstimatorConfig::Ekf(_));
    let known = f.perception.constraints.known_obstacles;
    let controller = Controller::with_obstacles(
        &f.robot,
        &f.controller.mpc,
        f.controller.residual.as_ref(),
        (perceiving || known).then_some(&f.perception.constraints),
        &s.initial_state,
    )
    .context("building the controller")?;
    let mut sim = Simulator::from_config(&scenario.plant_config(), &f.world, &f.sensors, seed)
        .context("building the simulated world")?;
    let sensor_infos: Vec<_> = sim.sensors().cloned().collect();
    // What perception sees reaches the controller inside the estimate;
    // guidance turns it into keep-out rows and the approach to a target.
    let mut guidance = Guidance::new(&f.robot, f.perception.approach.as_ref());
    if known {
        guidance = guidance.with_known_obstacles(scenario.known_obstacles()?);
    }
    let mut policy = ControlPolicy::new(controller, f.reference.clone(), guidance);
    policy.keep_split((duration / scenario.period_secs()).ceil() as usize + 2);
    let mut truth = TruthEstimator::new(nx);
    let mut perception = match &f.estimator {
        EstimatorConfig::Truth => None,
        EstimatorConfig::Ekf(ekf) => Some(PerceptionEstimator::new(
            Perception::new(
                ekf,
                &f.perception.extraction(),
                &f.robot,
                &sensor_infos,
                &s.initial_state,
            )
            .context("[estimator]/[perception]")?,
        )),
    };
    let estimator: &mut dyn Estimator = match &mut perception {
        Some(p) => p,
        None => &mut truth,
    };
    let mut sink: Box<dyn Sink> = match &recorder {
        Some(r) => Box::new(VizSink::new(
            r.handle(),
            &SinkSetup {
                robot: &f.robot,
                reference: &f.reference,
                world: &f.world,
                sensors: &sensor_infos,
                duration_secs: duration,
                sensor_data: f.recording.sensor_data,
                input_bounds: (
                    f.controller.mpc.input_min.as_deref(),
                    f.controller.mpc.input_max.as_deref(),
                ),
                perception: perceiving,
            },
        )),
        None => Box::new(NullSink),
    };
    let mut config = LoopConfig::new(
        if options.realtime {
            Mode::RealTime
        } else {
            Mode::Lockstep
        },
        scenario.period_secs(),
        duration,
    );
    config.actuation_delay_secs = f.timing.actuation_delay_secs;
    config.deadline_secs = f.timing.deadline_secs;
    config.stop = options.stop.clone();
    let progress = (options.progress && std::io::stderr().is_terminal()).then(|| Progress {
        wall: Instant::now(),
        last: 0.0,
        duration,
    });
    let show_progress = progress.is_some();
    let mut scoring = Scoring {
        scenario,
        x_ref: vec![0.0; nx],
        u_ref: vec![0.0; nu],
        pos: f.robot.position_states(),
        sq_err: 0.0,
        samples: 0,
        end_effector_sq: 0.0,
        end_effector_samples: 0,
        state_sq: vec![0.0; nx],
        effort: 0.0,
        steps: 0,
        safety: SafetyScore::new(&f.robot, &f.controller.mpc, &f.world)
            .context("[world]")?
            .with_shape(
                sim.plant().shape_points().len(),
                sim.plant().shape_radius_m(),
            ),
        inner: None,
        progress,
    };
    let position_dims = scoring.pos;
    let mut perception_score = PerceptionScore::new(position_dims, nx, hook);
    scoring.inner = Some(&mut perception_score);
    let mut world = SimWorld::new(
        &mut sim,
        options.render_workers.unwrap_or(DEFAULT_RENDER_WORKERS),
    );
    if let Some(log) = plant_steps {
        world.log_plant_steps(log, scenario.period_secs())?;
    }
    let report = recede_rt::run(
        &mut world,
        &mut policy,
        estimator,
        sink.as_mut(),
        &mut scoring,
        &config,
    );
    if show_progress {
        eprintln!();
    }
    let report = report?;
    if let Some(e) = world.take_log_error() {
        return Err(e.context("writing the data log"));
    }
    drop(world);
    drop(sink);
    let recording = match recorder {
        Some(r) => {
            let sink_name = r.sink().to_string();
            let streaming = !matches!(r.sink(), recede_viz::Sink::File(_));
            match r.finish() {
                Ok(_) => Some(sink_name),
                // A viewer that went away costs the rest of its stream, not the run.
                Err(e) if streaming => {
                    eprintln!("warning: the viewer stream ended early: {e}");
                    Some(format!("{sink_name} (stream ended early: {e})"))
                }
                Err(e) => return Err(anyhow::Error::new(e).context("closing the recording")),
            }
        }
        None => None,
    };
    let residual = policy.controller.residual_stats();
    let mut summary = summarize(scenario, seed, &report, &scoring, recording, residual);
    let counts = policy.controller.fallback_counts();
    summary.inaccurate_solves = counts.inaccurate;
    summary.riccati_fallbacks = counts.riccati_fallbacks;
    summary.soft_bound_fallbacks = counts.soft_bound_fallbacks;
    summary.newton = policy.controller.newton_stats();
    summary.unsolved_input_references = policy.unsolved_inputs();
    let split = |i: usize| -> Vec<f64> { policy.split_secs().iter().map(|s| s[i] * 1e6).collect() };
    summary.feedback_us = Percentiles::of(&split(0));
    summary.prepare_us = Percentiles::of(&split(1));
    drop(scoring);
    if let Some(p) = &perception {
        let p = p.perception();
        summary.estimate_rmse_m = perception_score.estimate_rmse_m();
        summary.estimate_state_rmse = perception_score.estimate_state_rmse();
        summary.detection = Some(detection_summary(
            &f.world,
            perception_score.path(),
            p.obstacles(),
            f.perception.obstacles.max_range_m.min(4.0),
        ));
        let target = target_summary(&f.robot, &f.world, &report.final_state, p.hottest_target());
        if f.perception.approach.is_some() {
            // The goal is the hottest object: stopped within 1 m, facing it.
            summary.goal_reached = !report.stopped
                && summary.safety.collisions == 0
                && target.as_ref().is_some_and(|t| {
                    t.distance_m <= 1.0
                        && t.heading_error_rad.abs() <= 0.35
                        && t.final_speed_m_s <= 0.15
                });
        }
        summary.target = target;
        summary.estimate_faults = Some(p.estimate_faults());
        summary.perception_sensors = p.sensor_stats().to_vec();
    }
    Ok(summary)
}

fn summarize(
    scenario: &Scenario,
    seed: u64,
    report: &LoopReport,
    scoring: &Scoring<'_, '_>,
    recording: Option<String>,
    residual: Option<ResidualStats>,
) -> RunSummary {
    let f = &scenario.file;
    let (nx, nu) = f.robot.dimensions();
    let (mut x_ref, mut u_ref) = (vec![0.0; nx], vec![0.0; nu]);
    f.reference.sample(report.sim_secs, &mut x_ref, &mut u_ref);
    let safety = scoring.safety.summary();
    let goal_reached = !report.stopped
        && safety.collisions == 0
        && report
            .final_state
            .iter()
            .zip(&x_ref)
            .zip(&f.goal.state_tolerance)
            .all(|((x, r), tol)| (x - r).abs() <= *tol);
    let steps = scoring.steps.max(1) as f64;
    let us: Vec<f64> = report.step_secs.iter().map(|s| s * 1e6).collect();
    let loop_jitter_us = (report.mode == Mode::RealTime).then(|| {
        let mut j: Vec<f64> = report.jitter_secs.iter().map(|s| s * 1e6).collect();
        j.sort_by(f64::total_cmp);
        Jitter {
            p50: percentile(&j, 50.0),
            p99: percentile(&j, 99.0),
            max: j.last().copied().unwrap_or(0.0),
        }
    });
    RunSummary {
        scenario: f.scenario.name.clone(),
        file: scenario.path.display().to_string(),
        robot: f.robot.kind().to_string(),
        seed,
        mode: match report.mode {
            Mode::Lockstep => "lockstep",
            Mode::RealTime => "realtime",
        }
        .into(),
        estimator: report.estimator.into(),
        sim_secs: report.sim_secs,
        wall_secs: report.wall_secs,
        realtime_factor: report.sim_secs / report.wall_secs.max(1e-9),
        control_steps: report.control_steps,
        goal_reached,
        tracking_rmse_m: (scoring.samples > 0)
            .then(|| (scoring.sq_err / scoring.samples as f64).sqrt()),
        end_effector_rmse_m: (scoring.end_effector_samples > 0)
            .then(|| (scoring.end_effector_sq / scoring.end_effector_samples as f64).sqrt()),
        state_rmse: scoring
            .state_sq
            .iter()
            .map(|s| (s / steps).sqrt())
            .collect(),
        control_effort: scoring.effort / steps,
        unsolved_input_references: 0,
        min_clearance_m: safety.min_body_clearance_m.or(report.min_clearance_m),
        estimate_rmse_m: None,
        estimate_state_rmse: Vec::new(),
        detection: None,
        target: None,
        estimate_faults: None,
        perception_sensors: Vec::new(),
        safety,
        fallbacks: report.fallbacks,
        inaccurate_solves: 0,
        riccati_fallbacks: 0,
        soft_bound_fallbacks: 0,
        deadline_misses: report.deadline_misses,
        step_us: Percentiles::of(&us),
        feedback_us: Percentiles::default(),
        prepare_us: Percentiles::default(),
        loop_jitter_us,
        qp_iterations_max: report.qp_iterations_max,
        recorder_dropped: report.recorder_dropped,
        sensors: report
            .sensors
            .iter()
            .map(|s| {
                (
                    s.name.clone(),
                    SensorSummary {
                        delivered: s.delivered,
                        dropped: s.dropped,
                        rejected: s.rejected,
                    },
                )
            })
            .collect(),
        recording,
        stopped: report.stopped,
        residual_clipped_fraction: residual
            .map(|r| r.outside_support as f64 / r.evaluations.max(1) as f64),
        residual,
        newton: None,
        final_state: report.final_state.clone(),
    }
}

/// `--log-data`: each control step's transition (true state, the command
/// applied over the period, true state one period later) into a data log,
/// then the step on to `inner`.
pub struct TransitionHook<'a, 'h> {
    log: &'a mut crate::datalog::DataLog,
    period_secs: f64,
    last: Option<(f64, Vec<f64>, Vec<f64>)>,
    inner: Option<&'h mut dyn StepHook>,
    /// The first write error, if any (later rows are skipped).
    pub error: Option<anyhow::Error>,
}

impl std::fmt::Debug for TransitionHook<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransitionHook")
            .field("period_secs", &self.period_secs)
            .finish_non_exhaustive()
    }
}

impl<'a, 'h> TransitionHook<'a, 'h> {
    pub fn new(log: &'a mut crate::datalog::DataLog, period_secs: f64) -> Self {
        Self {
            log,
            period_secs,
            last: None,
            inner: None,
            error: None,
        }
    }
}

impl StepHook for TransitionHook<'_, '_> {
    fn on_step(&mut self, r: &StepRecord<'_>) {
        if let Some(inner) = &mut self.inner {
            inner.on_step(r);
        }
        if let Some((t, x, u)) = self.last.take() {
            if self.error.is_none() {
                if let Err(e) = self
                    .log
                    .record(t, self.period_secs, &x, &u, r.true_state, None)
                {
                    self.error = Some(e);
                }
            }
        }
        self.last = Some((r.t_secs, r.true_state.to_vec(), r.command.to_vec()));
    }
}

/// [`run`] with every transition written to `log` when given.
pub fn run_with_log(
    scenario: &Scenario,
    duration_override: Option<f64>,
    log: Option<&mut crate::datalog::DataLog>,
) -> Result<RunSummary> {
    let options = RunOptions {
        duration_secs: duration_override,
        ..RunOptions::default()
    };
    run_with_options_and_log(scenario, &options, log)
}

/// [`run_with`] with every transition written to `log` when given.
pub fn run_with_options_and_log(
    scenario: &Scenario,
    options: &RunOptions,
    log: Option<&mut crate::datalog::DataLog>,
) -> Result<RunSummary> {
    match log {
        None => run_with(scenario, options, None),
        Some(log) => run_logged(scenario, options, log, None),
    }
}

/// [`run_with`] writing `log` (its rows: [`crate::datalog::LogTarget`]),
/// `hook` seeing every control step.
pub fn run_logged(
    scenario: &Scenario,
    options: &RunOptions,
    log: &mut crate::datalog::DataLog,
    hook: Option<&mut dyn StepHook>,
) -> Result<RunSummary> {
    use crate::datalog::LogTarget;
    match log.target() {
        LogTarget::PlantStep => run_scenario(scenario, options, hook, Some(log))
            .with_context(|| format!("running {}", scenario.path.display())),
        LogTarget::ControlPeriod => {
            let mut hook = TransitionHook {
                inner: hook,
                ..TransitionHook::new(log, scenario.period_secs())
            };
            let summary = run_with(scenario, options, Some(&mut hook))?;
            // The last step's transition ends where the run ends.
            if let (Some((t, x, u)), None) = (hook.last.take(), &hook.error) {
                let dt = summary.sim_secs - t;
                if dt > 0.5 * hook.period_secs {
                    hook.log.record(t, dt, &x, &u, &summary.final_state, None)?;
                }
            }
            if let Some(e) = hook.error {
                return Err(e.context("writing the data log"));
            }
            Ok(summary)
        }
    }
}
