use thiserror::Error;

use crate::policy::PolicyError;
use crate::world::WorldError;

#[derive(Debug, Error)]
pub enum RtError {
    #[error("loop configuration: `{key}`: {message}")]
    Config { key: &'static str, message: String },
    #[error("world: {0}")]
    World(#[source] WorldError),
    #[error("controller: {0}")]
    Policy(#[source] PolicyError),
    #[error("estimator: {0}")]
    Estimator(String),
    #[error("the {0} task panicked")]
    TaskPanicked(&'static str),
}
