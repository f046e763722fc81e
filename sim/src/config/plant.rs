//! The scenario file's `[plant]` section: which robot, its nominal
//! parameters, the effects its controller does not know, actuators and
//! scripted disturbances.

use std::sync::Arc;

use nalgebra::{SVector, Vector3};
use recede_model::file::ModelFile;
use recede_model::robots::{self, Robot};
use serde::{Deserialize, Serialize};

use super::check::{fail, finite_all, non_negative, number, positive};
use crate::plant::{Actuator, Disturbance, Disturbances, FileTruth, Plant, PlantRobot, TruePlant};
use crate::{ConfigError, SimError};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlantConfig {
    pub robot: RobotConfig,
    #[serde(default = "default_integration_rate")]
    pub integration_rate_hz: f64,
    #[serde(default)]
    pub actuator: ActuatorConfig,
    #[serde(default)]
    pub disturbances: Vec<DisturbanceConfig>,
    /// In the nominal model's state layout; the robot's rest state when absent.
    #[serde(default)]
    pub initial_state: Option<Vec<f64>>,
}

fn default_integration_rate() -> f64 {
    1000.0
}

macro_rules! plant_robots {
    ([] $(($variant:ident, $module:ident, $robot:ident, $params:ident)),* $(,)?) => {
        /// The robot and its unmodelled effects (one table per entry of the
        /// robot list, each defined in its plant file). Defaults: the
        /// quadrotor carries P2's drag; the other robots' effects are zero
        /// unless set.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "kind", rename_all = "snake_case")]
        pub enum RobotConfig {
            $($variant(
                <robots::$robot as PlantRobot<{ robots::$module::NX }, { robots::$module::NU }>>::Config,
            ),)*
            /// A model file robot: the file (relative to the scenario) and
            /// the plant's own parameter values.
            ModelFile(robots::ModelFileConfig),
            /// A URDF arm: the file (relative to the scenario), its joints
            /// and the plant's own parameter values (payload, friction scale).
            Urdf(robots::UrdfFile),
            /// A discrete linear robot: the file of its `A` and `B`
            /// (relative to the scenario), their keys and the period.
            LinearDiscrete(robots::LinearFile),
        }

        impl RobotConfig {
            /// The plant of the controller's `[robot]`, with nothing its
            /// controller does not know.
            pub fn exact(robot: &robots::RobotConfig) -> Self {
                match robot {
                    $(robots::RobotConfig::$variant(p) => Self::$variant(
                        <robots::$robot as PlantRobot<{ robots::$module::NX }, { robots::$module::NU }>>::exact(*p),
                    ),)*
                    robots::RobotConfig::ModelFile(f) if f.urdf.is_some() => Self::Urdf(robots::UrdfFile(f.clone())),
                    robots::RobotConfig::ModelFile(f) if f.linear.is_some() => Self::LinearDiscrete(robots::LinearFile(f.clone())),
                    robots::RobotConfig::ModelFile(f) => Self::ModelFile(f.clone()),
                }
            }

            /// The robot's `kind`, as the `[robot]` table names it.
            pub fn kind(&self) -> &'static str {
                match self {
                    $(Self::$variant(_) => {
                        <robots::$robot as Robot<{ robots::$module::NX }, { robots::$module::NU }>>::KIND
                    })*
                    Self::ModelFile(_) => robots::ModelFileConfig::KIND,
                    Self::Urdf(_) => robots::ModelFileConfig::URDF_KIND,
                    Self::LinearDiscrete(_) => robots::ModelFileConfig::LINEAR_KIND,
                }
            }

            /// The number of inputs.
            pub fn input_len(&self) -> usize {
                match self {
                    $(Self::$variant(_) => robots::$module::NU,)*
                    Self::ModelFile(f) | Self::Urdf(robots::UrdfFile(f)) | Self::LinearDiscrete(robots::LinearFile(f)) => f.model().map_or(0, |m| m.nu()),
                }
            }

            fn feels_gusts(&self) -> bool {
                match self {
                    $(Self::$variant(_) => {
                        <robots::$robot as PlantRobot<{ robots::$module::NX }, { robots::$module::NU }>>::FEELS_GUSTS
                    })*
                    Self::ModelFile(_) | Self::Urdf(_) | Self::LinearDiscrete(_) => false,
                }
            }

            fn validate(&self) -> Result<(), ConfigError> {
                match self {
                    $(Self::$variant(c) => <robots::$robot as PlantRobot<
                        { robots::$module::NX },
                        { robots::$module::NU },
                    >>::validate(c, "plant.robot"),)*
                    Self::ModelFile(f) | Self::Urdf(robots::UrdfFile(f)) | Self::LinearDiscrete(robots::LinearFile(f)) => f
                        .model()
                        .map(|_| ())
                        .map_err(|e| fail("plant.robot.path", "a usable model file", e)),
                }
            }

            fn build(
                &self,
                plant: &PlantConfig,
                dist: Disturbances,
                h: f64,
            ) -> Result<Box<dyn Plant>, SimError> {
                match self {
                    $(Self::$variant(c) => plant.assemble::<robots::$robot, { robots::$module::NX }, { robots::$module::NU }>(c, dist, h),)*
                    Self::ModelFile(f) | Self::Urdf(robots::UrdfFile(f)) | Self::LinearDiscrete(robots::LinearFile(f)) => {
                        let model = f.model().map_err(|e| SimError::Model {
                            key: "plant.robot.path".into(),
                            source: e.into(),
                        })?;
                        plant.assemble_file(model, dist, h)
                    }
                }
            }

            /// The same table with a model file's relative path taken from
            /// `dir` (a scenario names it relative to itself).
            pub fn resolved(&self, dir: &std::path::Path) -> Self {
                match self {
                    Self::ModelFile(f) => match robots::RobotConfig::ModelFile(f.clone()).resolved(dir) {
                        robots::RobotConfig::ModelFile(f) => Self::ModelFile(f),
                        _ => self.clone(),
                    },
                    Self::Urdf(robots::UrdfFile(f)) => match robots::RobotConfig::ModelFile(f.clone()).resolved(dir) {
                        robots::RobotConfig::ModelFile(f) => Self::Urdf(robots::UrdfFile(f)),
                        _ => self.clone(),
                    },
                    Self::LinearDiscrete(robots::LinearFile(f)) => match robots::RobotConfig::ModelFile(f.clone()).resolved(dir) {
                        robots::RobotConfig::ModelFile(f) => Self::LinearDiscrete(robots::LinearFile(f)),
                        _ => self.clone(),
                    },
                    other => other.clone(),
                }
            }
        }
    };
}

recede_model::for_each_robot!(plant_robots);

macro_rules! file_plants {
    ([] $(($variant:ident, $nx:literal, $nu:literal)),* $(,)?) => {
        impl PlantConfig {
            /// A model file robot's plant, at the size the file has.
            fn assemble_file(
                &self,
                model: Arc<ModelFile>,
                dist: Disturbances,
                h: f64,
            ) -> Result<Box<dyn Plant>, SimError> {
                let size = (model.nx(), model.nu());
                $(if size == ($nx, $nu) {
                    return self.assemble_file_sized::<$nx, $nu>(model, dist, h);
                })*
                Err(SimError::Config(fail(
                    "plant.robot.path",
                    &format!("a model of one of the sizes {}", recede_model::file::supported_sizes()),
                    format!("{} states and {} inputs", size.0, size.1),
                )))
            }
        }
    };
}

recede_model::for_each_file_size!(file_plants);

/// Saturation limits default to the robot's input bounds (cart-pole: P1's
/// |F| <= 80 N).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ActuatorConfig {
    pub lower: Option<Vec<f64>>,
    pub upper: Option<Vec<f64>>,
    /// Per channel, units of the input per second; absent = none.
    pub rate_limit_per_sec: Option<Vec<f64>>,
    /// 0 = no lag.
    pub lag_time_constant_secs: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum DisturbanceConfig {
    Push {
        start_secs: f64,
        duration_secs: f64,
        force_n: [f64; 3],
    },
    Gust {
        start_secs: f64,
        duration_secs: f64,
        #[serde(default)]
        mean_wind_mps: [f64; 3],
        #[serde(default)]
        std_mps: f64,
        #[serde(default = "default_gust_correlation")]
        correlation_time_secs: f64,
    },
}

fn default_gust_correlation() -> f64 {
    0.5
}

impl PlantConfig {
    /// The number of inputs of the configured robot.
    pub fn input_len(&self) -> usize {
        self.robot.input_len()
    }

    /// Checks every value; the error names the first bad key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        positive("plant.integration_rate_hz", self.integration_rate_hz)?;
        self.robot.validate()?;
        let nu = self.input_len();
        let a = &self.actuator;
        for (key, v) in [
            ("lower", &a.lower),
            ("upper", &a.upper),
            ("rate_limit_per_sec", &a.rate_limit_per_sec),
        ] {
            if let Some(v) = v {
                let key = format!("plant.actuator.{key}");
                if v.len() != nu {
                    return Err(fail(&key, &format!("{nu} entries, one per input"), v.len()));
                }
                if key.ends_with("rate_limit_per_sec") {
                    for (i, r) in v.iter().enumerate() {
                        positive(&format!("{key}[{i}]"), *r)?;
                    }
                } else {
                    finite_all(&key, v)?;
                }
            }
        }
        if let (Some(lo), Some(hi)) = (&a.lower, &a.upper) {
            if let Some(i) = (0..nu).find(|&i| lo[i] > hi[i]) {
                return Err(fail(
                    &format!("plant.actuator.upper[{i}]"),
                    ">= lower",
                    number(hi[i]),
                ));
            }
        }
        non_negative(
            "plant.actuator.lag_time_constant_secs",
            a.lag_time_constant_secs,
        )?;
        for (i, d) in self.disturbances.iter().enumerate() {
            d.validate(&format!("plant.disturbances[{i}]"), &self.robot)?;
        }
        Ok(())
    }

    /// Validates, then builds the plant; disturbance streams derive from `seed`.
    pub fn build(&self, seed: u64) -> Result<Box<dyn Plant>, SimError> {
        self.validate()?;
        let h = 1.0 / self.integration_rate_hz;
        let dist = Disturbances::new(
            self.disturbances
                .iter()
                .map(DisturbanceConfig::disturbance)
                .collect(),
            seed,
        );
        self.robot.build(self, dist, h)
    }

    /// The robot's plant: its truth behind actuators (the robot's input
    /// bounds and safe input unless `[plant.actuator]` says otherwise), at
    /// its rest state unless `initial_state` is given.
    fn assemble<R, const NX: usize, const NU: usize>(
        &self,
        config: &R::Config,
        dist: Disturbances,
        h: f64,
    ) -> Result<Box<dyn Plant>, SimError>
    where
        R: PlantRobot<NX, NU>,
    {
        let nominal = R::from_params(R::params(config)).map_err(|e| SimError::Model {
            key: "plant.robot.params".into(),
            source: e,
        })?;
        let bounds = nominal.input_bounds();
        let rest_input: [f64; NU] = nominal.safe_input().into();
        self.finish::<NX, NU>(bounds, rest_input, |actuator| {
            R::plant(config, nominal, actuator, dist, h)
        })
    }

    /// A model file robot's plant of `NX` states and `NU` inputs, resting
    /// at the file's initial state unless `initial_state` is given.
    fn assemble_file_sized<const NX: usize, const NU: usize>(
        &self,
        model: Arc<ModelFile>,
        dist: Disturbances,
        h: f64,
    ) -> Result<Box<dyn Plant>, SimError> {
        let bounds = recede_model::Bounds {
            lower: std::array::from_fn(|i| model.input_min[i]),
            upper: std::array::from_fn(|i| model.input_max[i]),
        };
        let rest_input: [f64; NU] = std::array::from_fn(|i| model.safe_input[i]);
        let rest_state = SVector::<f64, NX>::from_fn(|i, _| model.initial_state[i]);
        let truth = FileTruth::<NX, NU>::new(model);
        self.finish::<NX, NU>(bounds, rest_input, |actuator| {
            Ok(Box::new(TruePlant::new(
                truth, actuator, dist, h, rest_state,
            )?))
        })
    }

    /// The plant `build` makes behind the actuators (`bounds` and
    /// `rest_input` unless `[plant.actuator]` says otherwise), at its rest
    /// state unless `initial_state` is given.
    fn finish<const NX: usize, const NU: usize>(
        &self,
        bounds: recede_model::Bounds<NU>,
        rest_input: [f64; NU],
        build: impl FnOnce(Actuator<NU>) -> Result<Box<dyn Plant>, SimError>,
    ) -> Result<Box<dyn Plant>, SimError> {
        let a = &self.actuator;
        let pick = |v: &Option<Vec<f64>>, default: [f64; NU]| {
            v.as_ref()
                .map_or(default, |v| std::array::from_fn(|i| v[i]))
        };
        let mut actuator = Actuator::new(
            pick(&a.lower, bounds.lower),
            pick(&a.upper, bounds.upper),
            rest_input,
        );
        actuator.rate_limit_per_sec = pick(&a.rate_limit_per_sec, [f64::INFINITY; NU]);
        actuator.lag_time_constant_secs = a.lag_time_constant_secs;
        let mut plant = build(actuator)?;
        if let Some(x0) = &self.initial_state {
            plant.set_state(x0).map_err(|_| {
                SimError::Config(fail(
                    "plant.initial_state",
                    &format!("{NX} entries"),
                    x0.len(),
                ))
            })?;
        }
        Ok(plant)
    }
}

impl DisturbanceConfig {
    fn validate(&self, key: &str, robot: &RobotConfig) -> Result<(), ConfigError> {
        match self {
            DisturbanceConfig::Push {
                start_secs,
                duration_secs,
                force_n,
            } => {
                if let RobotConfig::ModelFile(_)
                | RobotConfig::Urdf(_)
                | RobotConfig::LinearDiscrete(_) = robot
                {
                    return Err(fail(
                        &format!("{key}.kind"),
                        "a disturbance this robot feels (a model file does not say where a push acts)",
                        "push",
                    ));
                }
                non_negative(&format!("{key}.start_secs"), *start_secs)?;
                non_negative(&format!("{key}.duration_secs"), *duration_secs)?;
                finite_all(&format!("{key}.force_n"), force_n)
            }
            DisturbanceConfig::Gust {
                start_secs,
                duration_secs,
                mean_wind_mps,
                std_mps,
                correlation_time_secs,
            } => {
                if !robot.feels_gusts() {
                    return Err(fail(
                        &format!("{key}.kind"),
                        "a disturbance this robot feels (gusts act on the quadrotor only)",
                        "gust",
                    ));
                }
                non_negative(&format!("{key}.start_secs"), *start_secs)?;
                non_negative(&format!("{key}.duration_secs"), *duration_secs)?;
                finite_all(&format!("{key}.mean_wind_mps"), mean_wind_mps)?;
                non_negative(&format!("{key}.std_mps"), *std_mps)?;
                positive(
                    &format!("{key}.correlation_time_secs"),
                    *correlation_time_secs,
                )
            }
        }
    }

    fn disturbance(&self) -> Disturbance {
        match *self {
            DisturbanceConfig::Push {
                start_secs,
                duration_secs,
                force_n,
            } => Disturbance::Push {
                start_secs,
                duration_secs,
                force_n: Vector3::from(force_n),
            },
            DisturbanceConfig::Gust {
                start_secs,
                duration_secs,
                mean_wind_mps,
                std_mps,
                correlation_time_secs,
            } => Disturbance::Gust {
                start_secs,
                duration_secs,
                mean_wind_mps: Vector3::from(mean_wind_mps),
                std_mps,
                correlation_time_secs,
            },
        }
    }
}
