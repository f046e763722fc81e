use thiserror::Error;

use crate::policy::PolicyError;
use crate::world::WorldError;

#[derive(Debug, Error)]
pub enum RtError {
    #[error("loop configuration: `{key}`: {message}")]
    Config { key: &'static str, message: String },
    // The source is printed by the caller's error chain: naming it here
    // too would repeat its text.
    #[error("world")]
    World(#[source] WorldError),
    #[error("controller")]
    Policy(#[source] PolicyError),
    #[error("estimator: {0}")]
    Estimator(String),
    #[error("the {0} task panicked")]
    TaskPanicked(&'static str),
}
