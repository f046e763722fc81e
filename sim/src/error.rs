use thiserror::Error;

/// A configuration value is unusable; `key` is its dotted path in the
/// scenario file (sensors by name: `sensors.depth_front.rate_hz`).
#[derive(Debug, Clone, PartialEq, Error)]
#[error("{key}: expected {expected}, got {got}")]
pub struct ConfigError {
    pub key: String,
    pub expected: String,
    pub got: String,
}

/// Everything the simulator can refuse.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum SimError {
    #[error("invalid configuration")]
    Config(#[from] ConfigError),
    #[error("invalid model parameters at `{key}`")]
    Model {
        key: String,
        source: recede_model::ModelError,
    },
    #[error("command has {got} entries, the plant takes {expected}")]
    CommandLength { expected: usize, got: usize },
    #[error("command entry {index} is not finite ({value})")]
    NonFiniteCommand { index: usize, value: f64 },
    #[error("state has {got} entries, the plant has {expected}")]
    StateLength { expected: usize, got: usize },
    #[error("time step must be finite and >= 0, got {0}")]
    BadTimeStep(f64),
    #[error("cannot step back in time from {now_secs} s to {target_secs} s")]
    TimeReversal { now_secs: f64, target_secs: f64 },
    /// A discrete-time robot stepped at another rate than its map's.
    #[error("the plant steps every {step_secs} s, but the robot's discrete map spans {period_secs} s: set [scenario] `plant_rate_hz` to {} Hz", 1.0 / period_secs)]
    DiscretePeriod { step_secs: f64, period_secs: f64 },
    #[error("the true state became non-finite at t = {t_secs} s")]
    NonFiniteState { t_secs: f64 },
}
