//! The built-in robots. Each has typed parameters (serde, unknown keys
//! rejected, defaults = the reference problems'), a `validate` pass and a
//! [`Robot`] descriptor; [`for_each_robot!`](crate::for_each_robot) is the
//! one list of them that every layer's dispatch is generated from.

pub mod arm;
pub mod cartpole;
pub mod continuum_arm;
pub mod diffdrive;
mod extent;
pub mod pcc;
pub mod quadrotor;
mod robot;
pub mod soft_cartpole;
pub mod soft_link;

pub use arm::{Arm, ArmParams};
pub use cartpole::{CartPole, CartPoleParams};
pub use continuum_arm::{ContinuumArm, ContinuumArmParams};
pub use diffdrive::{DiffDrive, DiffDriveParams};
pub use extent::{BodyBall, BodyBalls, MAX_BODY_BALLS};
pub use quadrotor::{Quadrotor, QuadrotorParams};
pub use robot::{Body, Pose, Robot};
pub use soft_cartpole::{SoftCartPole, SoftCartPoleParams};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};

use crate::file::{self, FileError, LinearOptions, ModelFile};
use crate::urdf::UrdfOptions;
use crate::ModelError;

/// Something to do with a robot whatever its type: [`RobotConfig::visit`]
/// builds the robot a `[robot]` table describes and hands it over with its
/// sizes, so generic code needs no match over the robots.
pub trait RobotVisitor {
    type Output;
    fn visit<R: Robot<NX, NU>, const NX: usize, const NU: usize>(self, robot: R) -> Self::Output;
}

macro_rules! robot_config {
    ([] $(($variant:ident, $module:ident, $robot:ident, $params:ident)),* $(,)?) => {
        /// The `[robot]` table of a scenario: which robot, with its
        /// parameters. A URDF arm (`kind = "urdf"`) is a [`ModelFileConfig`]
        /// too: it loads into the same [`ModelFile`], so every layer runs
        /// it as it runs a model file.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(from = "RobotTable", into = "RobotTable")]
        pub enum RobotConfig {
            $($variant($params),)*
            /// A robot described by a model file or a URDF
            /// (docs/adding-a-robot.md).
            ModelFile(ModelFileConfig),
        }

        /// The `[robot]` table as written: one `kind` per robot, model
        /// file and URDF apart.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "kind", rename_all = "snake_case")]
        pub enum RobotTable {
            $($variant($params),)*
            ModelFile(ModelFileConfig),
            Urdf(UrdfFile),
            LinearDiscrete(LinearFile),
        }

        impl From<RobotTable> for RobotConfig {
            fn from(table: RobotTable) -> Self {
                match table {
                    $(RobotTable::$variant(p) => Self::$variant(p),)*
                    RobotTable::ModelFile(f)
                    | RobotTable::Urdf(UrdfFile(f))
                    | RobotTable::LinearDiscrete(LinearFile(f)) => Self::ModelFile(f),
                }
            }
        }

        impl From<RobotConfig> for RobotTable {
            fn from(config: RobotConfig) -> Self {
                match config {
                    $(RobotConfig::$variant(p) => Self::$variant(p),)*
                    RobotConfig::ModelFile(f) if f.urdf.is_some() => Self::Urdf(UrdfFile(f)),
                    RobotConfig::ModelFile(f) if f.linear.is_some() => Self::LinearDiscrete(LinearFile(f)),
                    RobotConfig::ModelFile(f) => Self::ModelFile(f),
                }
            }
        }

        impl RobotConfig {
            /// The robot's name as written in a scenario's `kind`.
            pub fn kind(&self) -> &'static str {
                match self {
                    $(Self::$variant(_) => <$robot as Robot<{ $module::NX }, { $module::NU }>>::KIND,)*
                    Self::ModelFile(f) => f.kind(),
                }
            }

            pub fn validate(&self) -> Result<(), ModelError> {
                match self {
                    $(Self::$variant(p) => p.validate(),)*
                    Self::ModelFile(f) => f.model().map(|_| ()).map_err(ModelError::from),
                }
            }

            /// (states, inputs); (0, 0) for a model file that does not load
            /// ([`Self::validate`] says why).
            pub fn dimensions(&self) -> (usize, usize) {
                match self {
                    $(Self::$variant(_) => ($module::NX, $module::NU),)*
                    Self::ModelFile(f) => f.model().map_or((0, 0), |m| (m.nx(), m.nu())),
                }
            }

            /// How many of the first states are a world position obstacles
            /// can block (3, 2, or 0: [`Robot::POSITION_STATES`]).
            pub fn position_states(&self) -> usize {
                match self {
                    $(Self::$variant(_) => {
                        <$robot as Robot<{ $module::NX }, { $module::NU }>>::POSITION_STATES
                    })*
                    Self::ModelFile(f) => f.model().map_or(0, |m| m.position_states),
                }
            }

            /// Builds the robot (parameters checked) and hands it to
            /// `visitor`; robots of the Rust list only.
            pub fn visit<V: RobotVisitor>(&self, visitor: V) -> Result<V::Output, ModelError> {
                match self {
                    $(Self::$variant(p) => Ok(visitor.visit($robot::new(*p)?)),)*
                    Self::ModelFile(f) => Err(ModelError::NotInList(f.kind())),
                }
            }
        }
    };
}

crate::for_each_robot!(robot_config);

/// The descriptor's fixed-size questions on plain slices, whatever the
/// robot: `None` when `x` is not the robot's state length.
struct Describe<'a>(&'a [f64]);

impl RobotVisitor for Describe<'_> {
    type Output = Option<([f64; 3], Pose)>;
    fn visit<R: Robot<NX, NU>, const NX: usize, const NU: usize>(self, robot: R) -> Self::Output {
        let x: &[f64; NX] = self.0.try_into().ok()?;
        Some((robot.point(x), robot.pose(x)))
    }
}

struct Names;

impl RobotVisitor for Names {
    type Output = (Vec<String>, Vec<String>, Body);
    fn visit<R: Robot<NX, NU>, const NX: usize, const NU: usize>(self, robot: R) -> Self::Output {
        let owned = |names: &[&str]| names.iter().map(|s| s.to_string()).collect();
        (owned(R::STATE_NAMES), owned(R::INPUT_NAMES), robot.body())
    }
}

struct Units;

impl RobotVisitor for Units {
    type Output = (Vec<String>, Vec<String>);
    fn visit<R: Robot<NX, NU>, const NX: usize, const NU: usize>(self, _: R) -> Self::Output {
        let owned = |units: &[&str]| units.iter().map(|s| s.to_string()).collect();
        (owned(R::STATE_UNITS), owned(R::INPUT_UNITS))
    }
}

impl RobotConfig {
    /// The point drawn as the robot's path and its pose at state `x`;
    /// `None` for a state of the wrong length or invalid parameters.
    pub fn point_and_pose(&self, x: &[f64]) -> Option<([f64; 3], Pose)> {
        if let Self::ModelFile(f) = self {
            let m = f.model().ok()?;
            if x.len() != m.nx() {
                return None;
            }
            let (position_m, attitude, point) = m.placement(x);
            return Some((
                point,
                Pose::Rigid {
                    position_m,
                    attitude,
                },
            ));
        }
        self.visit(Describe(x)).ok().flatten()
    }

    /// Names of the state and input components, and the body to draw.
    pub fn names_and_body(&self) -> Result<(Vec<String>, Vec<String>, Body), ModelError> {
        if let Self::ModelFile(f) = self {
            let m = f.model()?;
            let [length_m, width_m, height_m] = m.box_m;
            let body = Body::GroundBox {
                length_m,
                width_m,
                height_m,
            };
            return Ok((m.state_names.clone(), m.input_names.clone(), body));
        }
        self.visit(Names)
    }

    /// SI units of the state and input components (`""` for a pure
    /// number), in the order of [`Self::names_and_body`]'s names.
    pub fn units(&self) -> Result<(Vec<String>, Vec<String>), ModelError> {
        if let Self::ModelFile(f) = self {
            let m = f.model()?;
            return Ok((m.state_units.clone(), m.input_units.clone()));
        }
        self.visit(Units)
    }

    /// The same robot with a model file's relative path taken from `dir`
    /// (a scenario names it relative to itself).
    pub fn resolved(&self, dir: &Path) -> Self {
        match self {
            Self::ModelFile(f) if f.path.is_relative() => Self::ModelFile(ModelFileConfig {
                path: dir.join(&f.path),
                params: f.params.clone(),
                urdf: f.urdf.clone(),
                linear: f.linear.clone(),
                loaded: OnceLock::new(),
            }),
            other => other.clone(),
        }
    }
}

/// `[robot] kind = "model_file"`: the file and parameter values that
/// replace its defaults. Loaded once, on first use.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelFileConfig {
    pub path: PathBuf,
    #[serde(default)]
    pub params: BTreeMap<String, f64>,
    /// Set for a URDF (`kind = "urdf"`): which joints, tip and payload link.
    #[serde(skip)]
    pub urdf: Option<UrdfOptions>,
    /// Set for a discrete linear robot (`kind = "linear_discrete"`):
    /// which entries are `A` and `B`, and the period.
    #[serde(skip)]
    pub linear: Option<Box<LinearOptions>>,
    #[serde(skip)]
    loaded: OnceLock<Result<Arc<ModelFile>, FileError>>,
}

impl PartialEq for ModelFileConfig {
    fn eq(&self, other: &Self) -> bool {
        self.path == other.path
            && self.params == other.params
            && self.urdf == other.urdf
            && self.linear == other.linear
    }
}

impl ModelFileConfig {
    pub const KIND: &'static str = "model_file";
    pub const URDF_KIND: &'static str = "urdf";
    pub const LINEAR_KIND: &'static str = "linear_discrete";

    pub fn new(path: impl Into<PathBuf>, params: BTreeMap<String, f64>) -> Self {
        Self {
            path: path.into(),
            params,
            urdf: None,
            linear: None,
            loaded: OnceLock::new(),
        }
    }

    /// A URDF arm: the file, which joints (and tip, payload link), and
    /// parameter values ([`crate::urdf::default_parameters`]).
    pub fn urdf(
        path: impl Into<PathBuf>,
        options: UrdfOptions,
        params: BTreeMap<String, f64>,
    ) -> Self {
        Self {
            path: path.into(),
            params,
            urdf: Some(options),
            linear: None,
            loaded: OnceLock::new(),
        }
    }

    /// A discrete linear robot: the file of its `A` and `B`, and which
    /// entries they are ([`LinearOptions`]).
    pub fn linear(path: impl Into<PathBuf>, options: LinearOptions) -> Self {
        Self {
            path: path.into(),
            params: BTreeMap::new(),
            urdf: None,
            linear: Some(Box::new(options)),
            loaded: OnceLock::new(),
        }
    }

    /// The scenario's `kind`: `"model_file"`, `"urdf"` or `"linear_discrete"`.
    pub fn kind(&self) -> &'static str {
        if self.urdf.is_some() {
            Self::URDF_KIND
        } else if self.linear.is_some() {
            Self::LINEAR_KIND
        } else {
            Self::KIND
        }
    }

    /// The compiled model (loaded on the first call, then shared).
    pub fn model(&self) -> Result<Arc<ModelFile>, FileError> {
        self.loaded
            .get_or_init(|| {
                match (&self.urdf, &self.linear) {
                    (Some(options), _) => crate::urdf::load(&self.path, options, &self.params),
                    (None, Some(options)) => file::linear::load(&self.path, options),
                    (None, None) => file::load_with(&self.path, &self.params),
                }
                .map(Arc::new)
            })
            .clone()
    }
}

/// `[robot] kind = "urdf"` as written.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UrdfConfig {
    /// The URDF, relative to the scenario.
    pub path: PathBuf,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub joints: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_link: Option<String>,
    #[serde(default)]
    pub params: BTreeMap<String, f64>,
}

/// A URDF robot's [`ModelFileConfig`], read and written as a
/// [`UrdfConfig`] (the simulator's `[plant.robot]` holds one too).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "UrdfConfig", into = "UrdfConfig")]
pub struct UrdfFile(pub ModelFileConfig);

impl From<UrdfConfig> for UrdfFile {
    fn from(c: UrdfConfig) -> Self {
        let options = UrdfOptions {
            joints: c.joints,
            tip: c.tip,
            payload_link: c.payload_link,
        };
        Self(ModelFileConfig::urdf(c.path, options, c.params))
    }
}

impl From<UrdfFile> for UrdfConfig {
    fn from(UrdfFile(f): UrdfFile) -> Self {
        let options = f.urdf.unwrap_or_default();
        Self {
            path: f.path,
            joints: options.joints,
            tip: options.tip,
            payload_link: options.payload_link,
            params: f.params,
        }
    }
}

/// `[robot] kind = "linear_discrete"` as written: the file of `A` and `B`
/// (JSON or TOML, relative to the scenario), their keys (`"A"`, `"B"`
/// unless given) and the period the map spans.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinearConfig {
    pub path: PathBuf,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub a: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub b: Option<String>,
    pub period_secs: f64,
}

/// A discrete linear robot's [`ModelFileConfig`], read and written as a
/// [`LinearConfig`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "LinearConfig", into = "LinearConfig")]
pub struct LinearFile(pub ModelFileConfig);

impl From<LinearConfig> for LinearFile {
    fn from(c: LinearConfig) -> Self {
        let options = LinearOptions {
            a: c.a.unwrap_or_else(|| "A".into()),
            b: c.b.unwrap_or_else(|| "B".into()),
            period_secs: c.period_secs,
        };
        Self(ModelFileConfig::linear(c.path, options))
    }
}

impl From<LinearFile> for LinearConfig {
    fn from(LinearFile(f): LinearFile) -> Self {
        let o = f.linear.map_or(
            LinearOptions {
                a: "A".into(),
                b: "B".into(),
                period_secs: f64::NAN,
            },
            |o| *o,
        );
        Self {
            path: f.path,
            a: Some(o.a),
            b: Some(o.b),
            period_secs: o.period_secs,
        }
    }
}
