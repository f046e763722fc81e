//! The model file as written (TOML), before compilation.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

/// A robot model file (docs/adding-a-robot.md, "A model file").
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Spec {
    /// Shown in recordings and logs; the file's stem when absent.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    pub description: Option<String>,
    #[serde(rename = "state")]
    pub states: Vec<StateSpec>,
    #[serde(rename = "input")]
    pub inputs: Vec<InputSpec>,
    #[serde(default)]
    pub parameters: BTreeMap<String, ParameterSpec>,
    /// Intermediate quantities, `name = "expression"`, in any order (they
    /// are sorted by what they use).
    #[serde(default)]
    pub definitions: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    pub mapping: MappingSpec,
    #[serde(default)]
    pub governor: Option<GovernorSpec>,
    #[serde(default)]
    pub encoders: EncoderSpec,
}

/// `[encoders]`: the states a scenario's `encoders` sensor reads, one
/// channel each in this order (a joint angle, or any state a sensor reads
/// directly: `ticks_per_rev` ticks per 2 pi of the state's unit). The
/// simulator emits them and the EKF fuses them. None when absent.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EncoderSpec {
    #[serde(default)]
    pub states: Vec<Spanned<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StateSpec {
    pub name: Spanned<String>,
    #[serde(default)]
    pub unit: Option<String>,
    /// Where the file's checks evaluate the model (no NaN there).
    #[serde(default)]
    pub initial: f64,
    /// `d(name)/dt` as an expression.
    pub derivative: Spanned<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct InputSpec {
    pub name: Spanned<String>,
    #[serde(default)]
    pub unit: Option<String>,
    /// Actuator limits, also the controller's unless `[controller]` sets them.
    pub min: f64,
    pub max: f64,
    /// The input a plan starts from and falls back to.
    #[serde(default)]
    pub safe: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ParameterSpec {
    /// The default value; a scenario's `[robot] params` overrides it.
    pub value: f64,
    #[serde(default)]
    #[allow(dead_code)]
    pub unit: Option<String>,
}

/// Where the robot is, for perception, obstacles, goals and drawing.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MappingSpec {
    /// How many of the first states are a world position that obstacles
    /// can block (0, 2 or 3).
    #[serde(default)]
    pub position_states: usize,
    /// The body's position, world frame, m: three expressions of the
    /// states and parameters. The origin when absent.
    #[serde(default)]
    pub position: Option<[Spanned<String>; 3]>,
    /// Body-to-world attitude quaternion `[w, x, y, z]`; level when absent.
    #[serde(default)]
    pub attitude: Option<[Spanned<String>; 4]>,
    /// The point drawn as the robot's path; the position when absent.
    #[serde(default)]
    pub point: Option<[Spanned<String>; 3]>,
    /// The body drawn: a box of these sizes (length, width, height), m.
    #[serde(default = "default_box")]
    pub box_m: [f64; 3],
}

impl Default for MappingSpec {
    fn default() -> Self {
        Self {
            position_states: 0,
            position: None,
            attitude: None,
            point: None,
            box_m: default_box(),
        }
    }
}

fn default_box() -> [f64; 3] {
    [0.3, 0.3, 0.1]
}

/// The default reference governor over the first `states` states (see
/// `[controller.governor]`), used when a scenario gives none.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GovernorSpec {
    pub states: usize,
    pub max_lead: f64,
    pub speed: f64,
    /// First index of the governed states' rates, if the state has them.
    #[serde(default)]
    pub velocity_index: Option<usize>,
}
