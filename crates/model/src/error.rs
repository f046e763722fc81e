use thiserror::Error;

/// A model's parameters are unusable.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ModelError {
    /// A parameter is out of its physical range; `key` is its name in the
    /// parameter table, `expected` says what would be valid.
    #[error("parameter `{key}` = {value}: expected {expected}")]
    InvalidParameter {
        key: &'static str,
        value: f64,
        expected: &'static str,
    },
    /// A robot model file that cannot be used (it names the file, the line
    /// and the symbol).
    /// Boxed: every error of the model layer stays small.
    #[error(transparent)]
    File(Box<crate::file::FileError>),
    /// A generic visit ([`crate::robots::RobotConfig::visit`]) reaches the
    /// robots of the Rust list only.
    #[error("a `{0}` robot is not a robot of the Rust list")]
    NotInList(&'static str),
}

impl From<crate::file::FileError> for ModelError {
    fn from(e: crate::file::FileError) -> Self {
        Self::File(Box::new(e))
    }
}

pub(crate) fn check_positive(key: &'static str, value: f64) -> Result<(), ModelError> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(ModelError::InvalidParameter {
            key,
            value,
            expected: "a finite value > 0",
        })
    }
}

pub(crate) fn check_non_negative(key: &'static str, value: f64) -> Result<(), ModelError> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(ModelError::InvalidParameter {
            key,
            value,
            expected: "a finite value >= 0",
        })
    }
}
