//! Perception in the loop: `recede-perception` as the loop's estimator
//! ([`PerceptionEstimator`]), and what it sees handed to the controller
//! ([`PerceptionPolicy`]): perceived obstacles become the MPC's soft
//! distance constraints before every step, and with
//! `[perception.approach]` the hottest target sets the reference.
//!
//! The two tasks share a [`PerceptionLink`]: the estimator publishes the
//! confirmed obstacles and the hottest target after each camera or lidar
//! frame; the controller publishes each command it applies, which the
//! model-driven filters predict with. In lockstep the estimator is idle
//! while the controller steps, so the exchange is deterministic.

use std::sync::{Arc, Mutex, MutexGuard, TryLockError};

use nalgebra::Vector3;
use recede_control::ReferenceConfig;
use recede_model::robots::RobotConfig;
use recede_mpc::StepReport;
use recede_msg::{Measurement, Reading};
use recede_perception::{
    approach_target, ApproachConfig, Obstacle, Outcome, Perception, SensorStats, Target,
};
use recede_rt::{Estimator, MpcPolicy, Policy, RtError, Verdict};
use recede_rt::{StepHook, StepRecord};
use recede_sim::config::{ShapeConfig, WorldConfig};
use serde::Serialize;

/// Commands in flight from the controller to the estimator, at most.
const MAX_PENDING_COMMANDS: usize = 64;

#[derive(Debug, Default)]
struct Shared {
    obstacles: Vec<Obstacle>,
    hottest: Option<Target>,
    /// (time the command acts from, command, length).
    commands: Vec<(f64, [f64; 8], usize)>,
    stats: Vec<SensorStats>,
    estimate_faults: u64,
}

/// What the estimator and the controller tasks exchange.
#[derive(Debug, Clone, Default)]
pub struct PerceptionLink(Arc<Mutex<Shared>>);

impl PerceptionLink {
    fn lock(&self) -> MutexGuard<'_, Shared> {
        // A panicked task cannot leave this state half-written in a way
        // that matters (plain copies): take it back.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Per-sensor counters of the perception pipeline (gated, non-finite,
    /// too late), as of the last reading.
    pub fn sensor_stats(&self) -> Vec<SensorStats> {
        self.lock().stats.clone()
    }

    /// The confirmed obstacles at the end of the run.
    pub fn obstacles(&self) -> Vec<Obstacle> {
        self.lock().obstacles.clone()
    }

    /// The confirmed obstacles (into `out`) and the hottest target, for the
    /// viewer; `None` while a loop task holds the link, so that the
    /// recorder never makes one wait for it.
    pub fn try_percepts(&self, out: &mut Vec<Obstacle>) -> Option<Option<Target>> {
        let shared = match self.0.try_lock() {
            Ok(shared) => shared,
            Err(TryLockError::Poisoned(e)) => e.into_inner(),
            Err(TryLockError::WouldBlock) => return None,
        };
        out.clear();
        out.extend_from_slice(&shared.obstacles);
        Some(shared.hottest)
    }

    pub fn hottest_target(&self) -> Option<Target> {
        self.lock().hottest
    }

    pub fn estimate_faults(&self) -> u64 {
        self.lock().estimate_faults
    }
}

/// [`Perception`] as the loop's estimator.
#[derive(Debug)]
pub struct PerceptionEstimator {
    perception: Perception,
    link: PerceptionLink,
    commands: Vec<(f64, [f64; 8], usize)>,
}

impl PerceptionEstimator {
    pub fn new(perception: Perception, link: PerceptionLink) -> Self {
        link.lock().stats = perception.sensor_stats().to_vec();
        Self {
            perception,
            link,
            commands: Vec::with_capacity(MAX_PENDING_COMMANDS),
        }
    }

    fn take_commands(&mut self) {
        self.commands.clear();
        std::mem::swap(&mut self.commands, &mut self.link.lock().commands);
        for (t, u, n) in &self.commands {
            self.perception.on_command(*t, &u[..*n]);
        }
    }
}

impl Estimator for PerceptionEstimator {
    fn label(&self) -> &'static str {
        "ekf"
    }

    fn on_reading(&mut self, reading: &Reading) -> Verdict {
        self.take_commands();
        let outcome = self.perception.on_reading(reading);
        let frame = matches!(
            reading.measurement,
            Measurement::DepthImage(_) | Measurement::LidarScan(_) | Measurement::InfraredImage(_)
        );
        let mut shared = self.link.lock();
        if frame {
            shared.obstacles.clear();
            shared
                .obstacles
                .extend_from_slice(self.perception.obstacles());
            shared.hottest = self.perception.hottest_target().copied();
        }
        let i = reading.sensor.0 as usize;
        if let (Some(to), Some(from)) = (
            shared.stats.get_mut(i),
            self.perception.sensor_stats().get(i),
        ) {
            to.clone_from(from);
        }
        match outcome {
            Outcome::Rejected { .. } | Outcome::NonFinite | Outcome::TooLate => Verdict::Rejected,
            Outcome::Used | Outcome::Ignored => Verdict::Accepted,
        }
    }

    fn estimate(&mut self, t_secs: f64, state: &mut [f64], std: &mut [f64]) -> bool {
        self.take_commands();
        let e = self.perception.estimate(t_secs);
        if e.state.len() != state.len() || e.std.len() != std.len() {
            return false;
        }
        state.copy_from_slice(&e.state);
        std.copy_from_slice(&e.std);
        self.link.lock().estimate_faults = self.perception.estimate_faults();
        true
    }
}

/// The scenario's MPC, avoiding the perceived obstacles and, with an
/// approach distance, heading for the hottest target. Without a link it
/// only passes the steps through (the truth estimator's runs).
#[derive(Debug)]
pub struct PerceptionPolicy<'a> {
    inner: &'a mut MpcPolicy,
    link: Option<PerceptionLink>,
    robot: RobotConfig,
    /// Head for the hottest target, when one is hot enough.
    approach: Option<ApproachConfig>,
    /// When a command acts after its control instant, s.
    actuation_delay_secs: f64,
    obstacles: Vec<Obstacle>,
    x_ref: Vec<f64>,
    approaching: bool,
}

impl<'a> PerceptionPolicy<'a> {
    pub fn new(
        inner: &'a mut MpcPolicy,
        link: Option<PerceptionLink>,
        robot: RobotConfig,
        approach: Option<ApproachConfig>,
        actuation_delay_secs: f64,
    ) -> Self {
        let (nx, _) = inner.dimensions();
        Self {
            inner,
            link,
            robot,
            approach,
            actuation_delay_secs,
            obstacles: Vec::with_capacity(256),
            x_ref: vec![0.0; nx],
            approaching: false,
        }
    }

    /// Whether the reference is the approach to a target.
    pub fn approaching(&self) -> bool {
        self.approaching
    }
}

impl Policy for PerceptionPolicy<'_> {
    fn dimensions(&self) -> (usize, usize) {
        self.inner.dimensions()
    }

    fn step(&mut self, t_secs: f64, x: &[f64], command: &mut [f64]) -> Result<StepReport, RtError> {
        let Some(link) = &self.link else {
            return self.inner.step(t_secs, x, command);
        };
        let target = {
            let shared = link.lock();
            self.obstacles.clear();
            let room = self.obstacles.capacity();
            self.obstacles
                .extend(shared.obstacles.iter().take(room).copied());
            shared.hottest
        };
        let position = match x.len() {
            13 => Vector3::new(x[0], x[1], x[2]),
            5 => Vector3::new(x[0], x[1], 0.0),
            _ => Vector3::zeros(),
        };
        self.inner
            .controller
            .set_obstacles(&self.obstacles, &position);
        let target = target.filter(|t| {
            self.approach
                .as_ref()
                .is_some_and(|a| t.temperature_k >= a.min_temperature_k)
        });
        if let (Some(a), Some(target)) = (&self.approach, target) {
            if approach_target(
                &self.robot,
                x,
                &target.position_m,
                a.standoff_m,
                &mut self.x_ref,
            ) {
                if let ReferenceConfig::Setpoint { state, .. } = &mut self.inner.reference {
                    if state.len() == self.x_ref.len() {
                        state.copy_from_slice(&self.x_ref);
                        self.approaching = true;
                    }
                }
            }
        }
        let report = self.inner.step(t_secs, x, command)?;
        let mut shared = link.lock();
        if command.len() <= 8 && shared.commands.len() < MAX_PENDING_COMMANDS {
            let mut u = [0.0; 8];
            u[..command.len()].copy_from_slice(command);
            shared
                .commands
                .push((t_secs + self.actuation_delay_secs, u, command.len()));
        }
        Ok(report)
    }

    fn late_command(&self, after_secs: f64, out: &mut [f64]) {
        self.inner.late_command(after_secs, out);
    }

    fn safe_command(&self, out: &mut [f64]) {
        self.inner.safe_command(out);
    }

    fn predicted_states(&self, out: &mut Vec<f64>) {
        self.inner.predicted_states(out);
    }
}

/// Scores perception against the simulator's truth at every control step
/// (the true path, the estimate's position error), then passes the step on.
pub struct PerceptionScore<'h> {
    position_dims: usize,
    path: Vec<[f64; 3]>,
    sq_err: f64,
    samples: usize,
    inner: Option<&'h mut dyn StepHook>,
}

impl std::fmt::Debug for PerceptionScore<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PerceptionScore")
            .field("samples", &self.samples)
            .finish_non_exhaustive()
    }
}

impl<'h> PerceptionScore<'h> {
    /// `position_dims`: the leading state entries that are a position.
    pub fn new(position_dims: usize, inner: Option<&'h mut dyn StepHook>) -> Self {
        Self {
            position_dims,
            path: Vec::new(),
            sq_err: 0.0,
            samples: 0,
            inner,
        }
    }

    /// The true positions at the control instants.
    pub fn path(&self) -> &[[f64; 3]] {
        &self.path
    }

    /// Root mean square of the estimated position's error, m.
    pub fn estimate_rmse_m(&self) -> Option<f64> {
        (self.samples > 0).then(|| (self.sq_err / self.samples as f64).sqrt())
    }
}

impl StepHook for PerceptionScore<'_> {
    fn on_step(&mut self, r: &StepRecord<'_>) {
        let n = self.position_dims;
        if n > 0 && r.true_state.len() >= n {
            let mut p = [0.0; 3];
            p[..n].copy_from_slice(&r.true_state[..n]);
            self.path.push(p);
            if r.estimate.len() >= n {
                self.sq_err += (0..n)
                    .map(|i| (r.estimate[i] - r.true_state[i]).powi(2))
                    .sum::<f64>();
                self.samples += 1;
            }
        }
        if let Some(inner) = &mut self.inner {
            inner.on_step(r);
        }
    }
}

/// Obstacle detection against the world's objects.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DetectionSummary {
    /// Objects whose surface came within `range_m` of the robot's true path.
    pub objects_passed: usize,
    /// Of those, how many a confirmed obstacle stands for at the end.
    pub detected: usize,
    pub recall: f64,
    /// Horizontal error of the detected centres of round objects
    /// (cylinders, spheres), m.
    pub position_error_mean_m: Option<f64>,
    pub position_error_max_m: Option<f64>,
    /// Radius error of the detected round objects, m.
    pub radius_error_mean_m: Option<f64>,
    /// Confirmed obstacles at the end of the run.
    pub confirmed: usize,
    pub range_m: f64,
    /// Per object passed: (name, centre error m, true radius m, perceived
    /// radius m), errors absent when it was not detected.
    pub objects: Vec<(String, Option<f64>, f64, Option<f64>)>,
}

fn footprint(shape: &ShapeConfig) -> ([f64; 3], f64, bool) {
    match *shape {
        ShapeConfig::Box {
            center_m, size_m, ..
        } => (center_m, 0.5 * size_m[0].hypot(size_m[1]), false),
        ShapeConfig::Cylinder {
            center_m, radius_m, ..
        }
        | ShapeConfig::Sphere {
            center_m, radius_m, ..
        } => (center_m, radius_m, true),
    }
}

/// Recall and errors of `obstacles` against the static objects of `world`
/// that the true `path` passed within `range_m` of.
pub fn detection_summary(
    world: &WorldConfig,
    path: &[[f64; 3]],
    obstacles: &[Obstacle],
    range_m: f64,
) -> DetectionSummary {
    let mut s = DetectionSummary {
        confirmed: obstacles.len(),
        range_m,
        ..DetectionSummary::default()
    };
    let (mut pos_errs, mut rad_errs) = (Vec::new(), Vec::new());
    for o in world.objects.iter().filter(|o| o.path.is_none()) {
        let (c, r, round) = footprint(&o.shape);
        let passed = path
            .iter()
            .any(|p| (p[0] - c[0]).hypot(p[1] - c[1]) - r <= range_m);
        if !passed {
            continue;
        }
        s.objects_passed += 1;
        let best = obstacles
            .iter()
            .map(|ob| (ob, (ob.position_m.x - c[0]).hypot(ob.position_m.y - c[1])))
            .min_by(|a, b| a.1.total_cmp(&b.1));
        let found = best.filter(|(_, e)| *e <= r.max(0.5));
        s.objects.push((
            o.name.clone(),
            found.map(|(_, e)| e),
            r,
            found.map(|(ob, _)| ob.radius_m),
        ));
        if let Some((ob, e)) = found {
            s.detected += 1;
            if round {
                pos_errs.push(e);
                rad_errs.push((ob.radius_m - r).abs());
            }
        }
    }
    s.recall = if s.objects_passed > 0 {
        s.detected as f64 / s.objects_passed as f64
    } else {
        1.0
    };
    let mean = |v: &[f64]| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
    s.position_error_mean_m = mean(&pos_errs);
    s.position_error_max_m = pos_errs.iter().copied().reduce(f64::max);
    s.radius_error_mean_m = mean(&rad_errs);
    s
}

/// How the run ended against the hottest object of the world.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TargetSummary {
    /// The hottest object in the world and its temperature, K.
    pub hottest_object: String,
    pub temperature_k: f64,
    /// The hottest target perception reported at the end, K.
    pub perceived_temperature_k: Option<f64>,
    /// Horizontal error of the perceived target against the object's
    /// surface facing the robot, m.
    pub perceived_position_error_m: Option<f64>,
    /// Final distance from the robot's body origin to the object's surface, m.
    pub distance_m: f64,
    /// Final heading minus the bearing to the object's centre, rad.
    pub heading_error_rad: f64,
    pub final_speed_m_s: f64,
}

/// The ground robot's final pose against the hottest object in `world`
/// (none for other robots or a world without objects).
pub fn target_summary(
    world: &WorldConfig,
    final_state: &[f64],
    perceived: Option<&Target>,
) -> Option<TargetSummary> {
    if final_state.len() != 5 {
        return None;
    }
    let hottest = world
        .objects
        .iter()
        .filter(|o| o.temperature_k.is_some())
        .max_by(|a, b| {
            a.temperature_k
                .unwrap_or(0.0)
                .total_cmp(&b.temperature_k.unwrap_or(0.0))
        })?;
    let (c, r, _) = footprint(&hottest.shape);
    let (x, y, yaw) = (final_state[0], final_state[1], final_state[2]);
    let d = (c[0] - x).hypot(c[1] - y);
    let bearing = (c[1] - y).atan2(c[0] - x);
    let heading_error = (yaw - bearing + std::f64::consts::PI).rem_euclid(std::f64::consts::TAU)
        - std::f64::consts::PI;
    let surface = |p: &Vector3<f64>| {
        let dd = (c[0] - p.x).hypot(c[1] - p.y);
        (dd - r).abs()
    };
    Some(TargetSummary {
        hottest_object: hottest.name.clone(),
        temperature_k: hottest.temperature_k.unwrap_or(0.0),
        perceived_temperature_k: perceived.map(|t| t.temperature_k),
        perceived_position_error_m: perceived.map(|t| surface(&t.position_m)),
        distance_m: d - r,
        heading_error_rad: heading_error,
        final_speed_m_s: final_state[3].abs(),
    })
}
