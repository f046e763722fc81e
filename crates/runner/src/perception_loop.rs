//! Scoring perception against the simulated world's truth: the estimate's
//! position error at every control step, obstacle detection against the
//! world's objects, the final pose against the hottest object. (The
//! pipeline itself runs as the loop's estimator, `adapters::PerceptionEstimator`;
//! what it sees reaches the controller inside the estimate.)

use nalgebra::Vector3;
use recede_model::robots::RobotConfig;
use recede_msg::{Obstacle, Target};
use recede_rt::{StepHook, StepRecord};
use recede_sim::config::{ShapeConfig, WorldConfig};
use serde::Serialize;

/// Scores perception against the simulator's truth at every control step
/// (the true path, the estimate's position error), then passes the step on.
pub struct PerceptionScore<'h> {
    position_dims: usize,
    path: Vec<[f64; 3]>,
    sq_err: f64,
    samples: usize,
    /// Per state entry, the estimate's squared error summed over steps.
    state_sq_err: Vec<f64>,
    state_samples: usize,
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
    /// `position_dims`: the leading state entries that are a position;
    /// `nx`: the state's length.
    pub fn new(position_dims: usize, nx: usize, inner: Option<&'h mut dyn StepHook>) -> Self {
        Self {
            position_dims,
            path: Vec::new(),
            sq_err: 0.0,
            samples: 0,
            state_sq_err: vec![0.0; nx],
            state_samples: 0,
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

    /// Root mean square of each state entry's estimation error (state
    /// units); empty before the first step.
    pub fn estimate_state_rmse(&self) -> Vec<f64> {
        if self.state_samples == 0 {
            return Vec::new();
        }
        let n = self.state_samples as f64;
        self.state_sq_err.iter().map(|s| (s / n).sqrt()).collect()
    }
}

impl StepHook for PerceptionScore<'_> {
    fn on_step(&mut self, r: &StepRecord<'_>) {
        let nx = self.state_sq_err.len();
        if r.true_state.len() == nx && r.estimate.len() == nx {
            for (acc, (e, t)) in self
                .state_sq_err
                .iter_mut()
                .zip(r.estimate.iter().zip(r.true_state))
            {
                *acc += (e - t).powi(2);
            }
            self.state_samples += 1;
        }
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
    robot: &RobotConfig,
    world: &WorldConfig,
    final_state: &[f64],
    perceived: Option<&Target>,
) -> Option<TargetSummary> {
    if !matches!(robot, RobotConfig::DiffDrive(_)) || final_state.len() < 4 {
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
