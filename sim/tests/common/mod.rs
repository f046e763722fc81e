//! Scenario loading shared by the integration tests.
#![allow(dead_code)]

use recede_sim::config::{PlantConfig, SensorConfig, WorldConfig};
use recede_sim::Simulator;
use serde::Deserialize;

/// The sections of a scenario file this crate reads.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub seed: u64,
    pub plant: PlantConfig,
    #[serde(default)]
    pub world: WorldConfig,
    #[serde(default)]
    pub sensors: Vec<SensorConfig>,
}

pub fn quadrotor() -> Scenario {
    toml::from_str(include_str!("../data/quadrotor.toml")).expect("quadrotor.toml parses")
}

pub fn build(s: &Scenario) -> Simulator {
    Simulator::from_config(&s.plant, &s.world, &s.sensors, s.seed).expect("scenario builds")
}

pub fn hover(sim: &Simulator) -> Vec<f64> {
    vec![9.81 / 4.0; sim.plant().input_len()]
}
