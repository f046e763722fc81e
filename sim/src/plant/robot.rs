//! What the simulator needs to know about a robot of the robot list
//! (`recede_model::for_each_robot!`): its `[plant.robot]` table and the true
//! dynamics built from it. Each plant file implements it for its robot.

use nalgebra::SVector;
use recede_model::robots::Robot;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{Actuator, Disturbances, Plant, TrueDynamics, TruePlant};
use crate::{ConfigError, SimError};

/// A robot the simulator can run.
pub trait PlantRobot<const NX: usize, const NU: usize>: Robot<NX, NU> {
    /// The robot's `[plant.robot]` table (besides `kind`): its nominal
    /// parameters and the effects its controller does not know.
    type Config: std::fmt::Debug + Clone + PartialEq + Serialize + DeserializeOwned;
    type Truth: TrueDynamics<NX, NU> + 'static;
    /// Whether wind gusts act on it.
    const FEELS_GUSTS: bool = false;

    fn params(config: &Self::Config) -> Self::Params;
    /// The plant of `params` with nothing its controller does not know.
    fn exact(params: Self::Params) -> Self::Config;
    /// Checks the unmodelled effects; errors name `key.<field>`.
    fn validate(config: &Self::Config, key: &str) -> Result<(), ConfigError>;
    fn truth(config: &Self::Config, nominal: Self) -> Self::Truth;
    /// The plant behind `actuator`, at [`Self::rest_state`]: by default
    /// [`Self::truth`] on the model's state. A robot whose true plant has a
    /// finer state than its model (the soft cart-pole's links of several
    /// segments) builds its own, reporting the model's state.
    fn plant(
        config: &Self::Config,
        nominal: Self,
        actuator: Actuator<NU>,
        disturbances: Disturbances,
        step_secs: f64,
    ) -> Result<Box<dyn Plant>, SimError> {
        Ok(Box::new(TruePlant::new(
            Self::truth(config, nominal),
            actuator,
            disturbances,
            step_secs,
            Self::rest_state(),
        )?))
    }
    /// Where it starts unless the scenario says otherwise.
    fn rest_state() -> SVector<f64, NX> {
        SVector::zeros()
    }
}
