use std::path::Path;

use recede_model::robots::RobotConfig;
use serde::Deserialize;

use crate::{ControlError, ControllerConfig};

/// The controller's view of a scenario file: its `[robot]` and
/// `[controller]` tables. Other tables (world, sensors, ...) belong to
/// other readers and are ignored here.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ControllerFile {
    pub robot: RobotConfig,
    pub controller: ControllerConfig,
}

impl ControllerFile {
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Self, ControlError> {
        toml::from_str(text).map_err(|e| ControlError::Parse {
            origin: origin.to_string(),
            message: e.to_string(),
        })
    }

    pub fn from_path(path: &Path) -> Result<Self, ControlError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ControlError::Parse {
            origin: origin.clone(),
            message: e.to_string(),
        })?;
        let mut file = Self::from_toml_str(&text, &origin)?;
        // A robot model file is named relative to the scenario file.
        file.robot = file.robot.resolved(path.parent().unwrap_or(Path::new("")));
        Ok(file)
    }
}
