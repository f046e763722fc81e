use recede_control::ControlError;
use recede_sim::SimError;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum RtError {
    #[error("loop configuration: `{key}`: {message}")]
    Config { key: &'static str, message: String },
    #[error("simulator")]
    Sim(#[from] SimError),
    #[error("controller")]
    Control(#[from] ControlError),
    #[error("estimator: {0}")]
    Estimator(String),
    #[error("the {0} task panicked")]
    TaskPanicked(&'static str),
}
