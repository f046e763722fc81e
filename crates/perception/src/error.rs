use recede_model::ModelError;
use thiserror::Error;

/// Why perception could not be set up. Runtime problems (a late, gated or
/// non-finite measurement) are not errors: they are counted per sensor.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum PerceptionError {
    /// A configuration value is invalid; `key` is its path in the scenario
    /// (`estimator.gate_chi2_position_fix`, `perception.obstacles.cell_size_m`).
    #[error("`{key}`: expected {expected}, found {found}")]
    Config {
        key: String,
        expected: &'static str,
        found: String,
    },
    #[error(transparent)]
    Robot(#[from] ModelError),
    /// The initial state has the wrong size or is not finite.
    #[error("initial state: expected {expected} finite values, found {found:?}")]
    InitialState { expected: usize, found: Vec<f64> },
    /// A model file or URDF robot's description lacks what a sensor of
    /// the scenario measures (`key` in `file`).
    #[error("{file}: `{key}`: expected {expected}, found {found}")]
    RobotFile {
        file: String,
        key: String,
        expected: String,
        found: String,
    },
    /// A sensor the configuration or the robot needs is missing or unusable.
    #[error("sensor `{name}`: {message}")]
    Sensor { name: String, message: String },
}

pub(crate) fn positive(key: &str, v: f64) -> Result<(), PerceptionError> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(PerceptionError::Config {
            key: key.to_string(),
            expected: "a finite value > 0",
            found: v.to_string(),
        })
    }
}

pub(crate) fn non_negative(key: &str, v: f64) -> Result<(), PerceptionError> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(PerceptionError::Config {
            key: key.to_string(),
            expected: "a finite value >= 0",
            found: v.to_string(),
        })
    }
}

pub(crate) fn at_least(key: &str, v: usize, min: usize) -> Result<(), PerceptionError> {
    if v >= min {
        Ok(())
    } else {
        Err(PerceptionError::Config {
            key: key.to_string(),
            expected: "a larger count",
            found: format!("{v} (minimum {min})"),
        })
    }
}

/// At most `max`: what the loop's fixed-capacity world model can carry.
pub(crate) fn at_most(key: &str, v: usize, max: usize) -> Result<(), PerceptionError> {
    if v <= max {
        Ok(())
    } else {
        Err(PerceptionError::Config {
            key: key.to_string(),
            expected: "a smaller count",
            found: format!("{v} (maximum {max})"),
        })
    }
}
