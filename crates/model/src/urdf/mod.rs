//! URDF serial arms (`[robot] kind = "urdf"`): a URDF file parsed by
//! `urdf-rs`, its controlled joints turned at load into a [`Chain`] (joint
//! placements, axes, lumped inertias and the payload precomputed), and
//! run as a [`ModelFile`] robot of `2n` states `[q, q']` and `n` joint
//! efforts, so the controller, the simulator and the logs take it like a
//! model file. Joints that are not controlled are locked at zero.
//! Parameters (`params`): `payload_mass_kg`, `payload_x_m`, `payload_y_m`,
//! `payload_z_m` (in the payload link's frame), `friction_scale`,
//! `gravity_mps2`, `coulomb_rate_radps`.

// Without the parser no chain is ever built: its constructors go unused.
#[cfg_attr(not(feature = "urdf"), allow(dead_code))]
mod chain;
#[cfg(feature = "urdf")]
mod load;
mod reach;
mod tangent;

use std::collections::BTreeMap;
use std::path::Path;

pub(crate) use chain::Chain;
pub use chain::MAX_JOINTS;

use crate::file::{FileError, ModelFile};

/// Which part of a URDF is the robot: the controlled joints (root to tip;
/// every revolute, continuous and prismatic joint when absent), the link
/// the end effector is (the last joint's child when absent) and the link
/// that carries the payload (the end effector's when absent).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct UrdfOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub joints: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_link: Option<String>,
}

/// The parameters a URDF robot takes, with their defaults.
pub fn default_parameters() -> BTreeMap<String, f64> {
    [
        ("payload_mass_kg", 0.0),
        ("payload_x_m", 0.0),
        ("payload_y_m", 0.0),
        ("payload_z_m", 0.0),
        ("friction_scale", 1.0),
        ("gravity_mps2", crate::GRAVITY),
        ("coulomb_rate_radps", 0.1),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// Loads the URDF at `path` as a robot: `options` pick the joints,
/// `overrides` replace the default parameters (an unknown name is an
/// error).
pub fn load(
    path: &Path,
    options: &UrdfOptions,
    overrides: &BTreeMap<String, f64>,
) -> Result<ModelFile, FileError> {
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| FileError::Read {
        file: origin.clone(),
        message: e.to_string(),
    })?;
    parse(&text, &origin, options, overrides)
}

/// [`load`] from the URDF's text; `origin` names it in errors.
pub fn parse(
    text: &str,
    origin: &str,
    options: &UrdfOptions,
    overrides: &BTreeMap<String, f64>,
) -> Result<ModelFile, FileError> {
    #[cfg(feature = "urdf")]
    return load::build(text, origin, options, overrides);
    #[cfg(not(feature = "urdf"))]
    {
        let _ = (text, options, overrides);
        Err(FileError::Urdf {
            file: origin.to_string(),
            element: "kind = \"urdf\"".to_string(),
            problem: "this build reads no URDF (recede-model's `urdf` feature is off; \
                      the C library enables it with `--features urdf`)"
                .to_string(),
        })
    }
}
