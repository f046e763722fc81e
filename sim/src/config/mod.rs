//! Typed configuration for the scenario file's `[plant]`, `[world]` and
//! `[[sensors]]` sections. Each section deserialises on its own (serde,
//! unknown keys rejected, units in names) and has a `validate` pass whose
//! errors name the key.

pub(crate) mod check;
mod plant;
mod sensors;
mod world;

pub use plant::{ActuatorConfig, DisturbanceConfig, PlantConfig, RobotConfig};
pub use sensors::{
    validate_sensors, DropoutConfig, MountConfig, MountFrame, OutageConfig, OutlierConfig,
    SensorConfig, SensorModelConfig,
};
pub use world::{GroundConfig, ObjectConfig, PathConfig, ShapeConfig, WorldConfig};
