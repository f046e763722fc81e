use thiserror::Error;

/// Errors raised when a controller is configured or built; a running step
/// never returns one (it reports a [`crate::StepReport`] instead).
#[derive(Debug, Clone, PartialEq, Error)]
pub enum MpcError {
    #[error("`{key}`: expected {expected}, found {found}")]
    Config {
        key: String,
        expected: String,
        found: String,
    },
    #[error("OSQP setup failed: {0}")]
    Setup(String),
    #[error("{what} has a non-finite value")]
    NonFinite { what: &'static str },
}
