//! A scenario file: what `recede run` and `recede check` read.
//!
//! Parsing rejects unknown keys (serde); [`Scenario::load`] then checks the
//! values against each other (sizes against the robot, tolerances, rates),
//! and every error names the file and the key.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use recede_control::guidance::{ApproachConfig, ObstacleConstraintConfig};
use recede_control::{ControllerConfig, ReferenceConfig};
use recede_model::robots::RobotConfig;
use recede_perception::{ObstacleConfig, PerceptionConfig, TargetConfig};
use recede_sim::config::{PlantConfig, RobotConfig as TrueRobot, SensorConfig, WorldConfig};
use serde::{Deserialize, Serialize};

pub mod keypath;
pub mod limits;
pub mod overrides;

pub use overrides::Override;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioSection {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub duration_secs: f64,
    #[serde(default)]
    pub seed: u64,
    /// The true state at t = 0; absent, the reference's state at t = 0
    /// (a spline's start is hard to write by hand).
    #[serde(default)]
    pub initial_state: Vec<f64>,
    /// Rate of the lockstep plant integration (RK4), Hz.
    #[serde(default = "default_plant_rate")]
    pub plant_rate_hz: f64,
}

fn default_plant_rate() -> f64 {
    1000.0
}

/// When the run counts as a success: the true state at the end within
/// `state_tolerance` of the reference (component-wise; `inf` ignores one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoalConfig {
    pub state_tolerance: Vec<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    pub scenario: ScenarioSection,
    pub robot: RobotConfig,
    pub controller: ControllerConfig,
    pub reference: ReferenceConfig,
    pub goal: GoalConfig,
    /// The true plant (sim's `[plant]`): the robot with what its controller
    /// does not know. Absent: the controller's own model, integrated at
    /// `plant_rate_hz`, with no unmodelled effects.
    #[serde(default)]
    pub plant: Option<PlantConfig>,
    /// The simulated world (sim's `[world]`): obstacles, heat sources.
    #[serde(default)]
    pub world: WorldConfig,
    /// The simulated sensors (sim's `[[sensors]]`).
    #[serde(default)]
    pub sensors: Vec<SensorConfig>,
    #[serde(default)]
    pub estimator: EstimatorConfig,
    #[serde(default)]
    pub timing: TimingConfig,
    #[serde(default)]
    pub recording: RecordingConfig,
    /// Obstacles, targets and how they reach the controller (used with
    /// `[estimator] kind = "ekf"`).
    #[serde(default)]
    pub perception: PerceptionSection,
}

/// `[perception]`: what perception extracts (`obstacles`, `targets`:
/// `recede-perception`'s) and how that guides the controller
/// (`constraints`, `approach`: `recede-control`'s guidance). One table in
/// the file, two owners in the code.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PerceptionSection {
    pub obstacles: ObstacleConfig,
    pub targets: TargetConfig,
    pub constraints: ObstacleConstraintConfig,
    /// When present, the hottest confirmed target sets the reference.
    pub approach: Option<ApproachConfig>,
}

impl PerceptionSection {
    /// The part the perception pipeline reads.
    pub fn extraction(&self) -> PerceptionConfig {
        PerceptionConfig {
            obstacles: self.obstacles.clone(),
            targets: self.targets.clone(),
        }
    }

    pub fn validate(&self) -> Result<()> {
        self.extraction().validate()?;
        self.constraints.validate()?;
        if let Some(a) = &self.approach {
            a.validate()?;
        }
        Ok(())
    }
}

/// `[estimator]`: what turns readings into the controller's state.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum EstimatorConfig {
    /// The true state handed through: a debugging mode without estimation
    /// error, labelled `truth` in every summary.
    #[default]
    Truth,
    /// `recede-perception`'s EKF over the scenario's sensors, with obstacles
    /// and targets from its cameras and lidar (`[perception]`).
    Ekf(recede_perception::EkfConfig),
}

impl EstimatorConfig {
    pub fn label(&self) -> &'static str {
        match self {
            Self::Truth => "truth",
            Self::Ekf(_) => "ekf",
        }
    }
}

/// `[timing]`: how commands reach the plant.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TimingConfig {
    /// From a control instant to when its command acts on the plant, s.
    pub actuation_delay_secs: f64,
    /// Real time: the controller's deadline after its instant, s (the
    /// control period when absent).
    pub deadline_secs: Option<f64>,
}

/// `[recording]`: the rerun recording of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecordingConfig {
    /// The `.rrd` file, relative to the working directory
    /// (`out/<scenario name>.rrd` when absent).
    pub path: Option<PathBuf>,
    /// Log camera images and lidar scans (the bulk of a recording).
    pub sensor_data: bool,
}

impl Default for RecordingConfig {
    fn default() -> Self {
        Self {
            path: None,
            sensor_data: true,
        }
    }
}

/// A scenario read and checked.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub path: PathBuf,
    pub file: ScenarioFile,
}

impl Scenario {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read scenario file {}", path.display()))?;
        Self::parse(&text, path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let mut file: ScenarioFile = toml::from_str(text)
            .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.to_string().trim_end()))?;
        // A residual model file is named relative to the scenario file.
        let dir = path.parent().unwrap_or(Path::new(""));
        if let Some(r) = &mut file.controller.residual {
            *r = r.resolved(dir);
        }
        // So is a robot model file, the controller's and the plant's.
        file.robot = file.robot.resolved(dir);
        if let Some(p) = &mut file.plant {
            p.robot = p.robot.resolved(dir);
        }
        // The reference is read on the robot (its sizes, an arm's
        // kinematics): a robot that does not load, or bad parameters, is
        // that error, not the reference's.
        let reads_the_robot = file.scenario.initial_state.is_empty()
            || matches!(file.reference, ReferenceConfig::EndEffectorCircle(_));
        if reads_the_robot {
            file.robot
                .validate()
                .with_context(|| format!("{}: invalid scenario: [robot]", path.display()))?;
        }
        // An end-effector path becomes joint references on the robot's arm.
        if matches!(file.reference, ReferenceConfig::EndEffectorCircle(_)) {
            limits::check_reference(&file.reference)
                .and_then(|()| Ok(file.reference.resolve(&file.robot)?))
                .with_context(|| format!("{}: invalid scenario: [reference]", path.display()))?;
        }
        if file.scenario.initial_state.is_empty() {
            let (nx, nu) = file.robot.dimensions();
            // Sampling needs a reference of the robot's sizes.
            limits::check_reference(&file.reference)
                .and_then(|()| Ok(file.reference.validate(nx, nu)?))
                .with_context(|| format!("{}: invalid scenario: [reference]", path.display()))?;
            let (mut x, mut u) = (vec![0.0; nx], vec![0.0; nu]);
            file.reference.sample(0.0, &mut x, &mut u);
            file.scenario.initial_state = x;
        }
        let scenario = Self {
            path: path.to_path_buf(),
            file,
        };
        scenario
            .validate()
            .with_context(|| format!("{}: invalid scenario", path.display()))?;
        Ok(scenario)
    }

    /// `[world]`'s objects as the controller's known obstacles
    /// (`[perception.constraints] known_obstacles`): a ball as itself, an
    /// upright cylinder as itself, a box as the upright cylinder around
    /// it. Moving objects are refused (a map is static).
    pub fn known_obstacles(&self) -> Result<Vec<recede_msg::Obstacle>> {
        use recede_msg::{Obstacle, ObstacleShape};
        use recede_sim::config::ShapeConfig;
        let mut out = Vec::new();
        for (i, o) in self.file.world.objects.iter().enumerate() {
            if o.path.is_some() {
                bail!(
                    "[world] objects[{i}] (`{}`): expected a static object for a known obstacle, found a `path`",
                    o.name
                );
            }
            let (shape, centre, radius) = match &o.shape {
                ShapeConfig::Sphere { center_m, radius_m } => {
                    (ObstacleShape::Sphere, *center_m, *radius_m)
                }
                ShapeConfig::Cylinder {
                    center_m,
                    radius_m,
                    height_m,
                } => (
                    ObstacleShape::Cylinder {
                        top_m: center_m[2] + 0.5 * height_m,
                    },
                    *center_m,
                    *radius_m,
                ),
                ShapeConfig::Box {
                    center_m, size_m, ..
                } => (
                    ObstacleShape::Cylinder {
                        top_m: center_m[2] + 0.5 * size_m[2],
                    },
                    *center_m,
                    0.5 * size_m[0].hypot(size_m[1]),
                ),
            };
            out.push(Obstacle {
                id: i as u32,
                shape,
                position_m: nalgebra::Vector3::from(centre),
                radius_m: radius,
                position_std_m: 0.0,
                radius_std_m: 0.0,
                hits: 1,
                last_seen_secs: 0.0,
            });
        }
        if out.len() > recede_msg::MAX_OBSTACLES {
            bail!(
                "[world] objects: expected at most {} known obstacles, found {}",
                recede_msg::MAX_OBSTACLES,
                out.len()
            );
        }
        Ok(out)
    }

    fn validate(&self) -> Result<()> {
        let f = &self.file;
        f.robot.validate().context("[robot]")?;
        let (nx, nu) = f.robot.dimensions();
        let s = &f.scenario;
        limits::check_name(&s.name)?;
        if !(s.plant_rate_hz.is_finite() && s.plant_rate_hz > 0.0)
            || s.plant_rate_hz > limits::MAX_PLANT_RATE_HZ
        {
            bail!(
                "[scenario] `plant_rate_hz`: expected a rate in (0, {}] Hz, found {:?}",
                limits::MAX_PLANT_RATE_HZ,
                s.plant_rate_hz
            );
        }
        limits::check_timing(&f.controller.mpc)?;
        limits::check_duration(
            "[scenario] `duration_secs`",
            s.duration_secs,
            self.period_secs(),
        )?;
        if s.initial_state.len() != nx
            || !s.initial_state.iter().all(|v| limits::within_magnitude(*v))
        {
            bail!(
                "[scenario] `initial_state`: expected {nx} finite numbers within ±{:e} for a {}, found {:?}",
                limits::MAX_MAGNITUDE,
                f.robot.kind(),
                s.initial_state
            );
        }
        let tol = &f.goal.state_tolerance;
        if tol.len() != nx || tol.iter().any(|v| v.is_nan() || *v < 0.0) {
            bail!("[goal] `state_tolerance`: expected {nx} tolerances >= 0 (inf to ignore one), found {tol:?}");
        }
        limits::check_reference(&f.reference)?;
        f.reference.validate(nx, nu).context("[reference]")?;
        limits::check_problem_size(self)?;
        limits::check_sensor_rates(&f.sensors)?;
        let period = f.controller.mpc.period_secs();
        let substeps = period * s.plant_rate_hz;
        if (substeps - substeps.round()).abs() > 1e-6 || substeps.round() < 1.0 {
            bail!(
                "[scenario] `plant_rate_hz`: expected a whole number of plant steps per control period ({period} s), found {:?} Hz",
                s.plant_rate_hz
            );
        }
        self.check_world().context("[plant]/[world]/[[sensors]]")?;
        if let EstimatorConfig::Ekf(ekf) = &f.estimator {
            ekf.validate()?;
            f.perception.validate()?;
            // What the filter can measure of this robot, before a run builds it.
            let sensors: Vec<_> = f
                .sensors
                .iter()
                .map(|s| (s.name.as_str(), s.model.kind()))
                .collect();
            recede_perception::Perception::check_robot(&f.robot, &sensors)
                .context("[estimator] kind = \"ekf\"")?;
        }
        if f.perception.constraints.known_obstacles {
            f.perception
                .validate()
                .context("[perception.constraints] known_obstacles")?;
            self.known_obstacles()
                .context("[perception.constraints] known_obstacles")?;
        }
        if let Some(d) = f.timing.deadline_secs {
            if !(d.is_finite() && d > 0.0) {
                bail!("[timing] `deadline_secs`: expected a duration > 0, found {d:?}");
            }
        }
        let delay = f.timing.actuation_delay_secs;
        if !(delay.is_finite() && delay >= 0.0) {
            bail!("[timing] `actuation_delay_secs`: expected a duration >= 0, found {delay:?}");
        }
        // Building the controller checks the [controller] table against the robot.
        recede_control::Controller::from_config(&f.robot, &f.controller, &s.initial_state)
            .context("[controller]")?;
        Ok(())
    }

    /// The sim's `[plant]`: the file's, or the controller's model with no
    /// unmodelled effects. Either way it starts at `[scenario]
    /// initial_state` and integrates at `plant_rate_hz`.
    pub fn plant_config(&self) -> PlantConfig {
        let f = &self.file;
        let mut plant = f.plant.clone().unwrap_or_else(|| PlantConfig {
            robot: TrueRobot::exact(&f.robot),
            integration_rate_hz: f.scenario.plant_rate_hz,
            actuator: Default::default(),
            disturbances: Vec::new(),
            initial_state: None,
        });
        plant.initial_state = Some(f.scenario.initial_state.clone());
        plant
    }

    fn check_world(&self) -> Result<()> {
        let f = &self.file;
        if let Some(p) = &f.plant {
            let kind = p.robot.kind();
            if kind != f.robot.kind() {
                bail!(
                    "[plant.robot] `kind`: expected the [robot]'s kind `{}`, found `{kind}`",
                    f.robot.kind()
                );
            }
            if p.initial_state.is_some() {
                bail!("[plant] `initial_state`: not allowed here; the true initial state is [scenario] `initial_state`");
            }
            if p.integration_rate_hz != f.scenario.plant_rate_hz {
                bail!(
                    "[plant] `integration_rate_hz`: expected [scenario] `plant_rate_hz` = {} Hz, found {:?} Hz",
                    f.scenario.plant_rate_hz,
                    p.integration_rate_hz
                );
            }
        }
        let plant = self.plant_config();
        plant.validate()?;
        f.world.validate()?;
        recede_sim::config::validate_sensors(&f.sensors)?;
        // Building the plant checks what validation cannot (state length).
        plant.build(f.scenario.seed)?;
        Ok(())
    }

    pub fn period_secs(&self) -> f64 {
        self.file.controller.mpc.period_secs()
    }
}
