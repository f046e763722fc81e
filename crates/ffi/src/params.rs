//! The robot's physical parameters by name, changed at run time without
//! allocating.
//!
//! At creation the parameters are serialised once into a table of names
//! and values (the robot's own serde names, as a scenario's `[robot]` table
//! writes them). A change builds the robot's parameter struct again from
//! that table through serde's in-memory `MapDeserializer` (no text, no
//! allocation on success), checks it as a scenario's is, and swaps it into
//! the prediction model.

use recede_control::{ControlError, Controller};
use recede_model::robots::{self, RobotConfig};
use serde::de::value::{Error as ValueError, MapDeserializer};
use serde::Deserialize;

use crate::guard::Fault;

/// Names and current values of the robot's parameters.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Parameters {
    names: Vec<String>,
    values: Vec<f64>,
}

impl Parameters {
    /// The numeric parameters of `robot`. A robot whose table holds
    /// anything but numbers gets none (rebuilding it from numbers alone
    /// would reset the rest to defaults).
    pub(crate) fn of(robot: &RobotConfig) -> Result<Self, String> {
        let table = toml::Table::try_from(robot).map_err(|e| e.to_string())?;
        let mut parameters = Self::default();
        for (name, value) in table {
            match value {
                _ if name == "kind" => {}
                toml::Value::Float(v) => {
                    parameters.names.push(name);
                    parameters.values.push(v);
                }
                _ => return Ok(Self::default()),
            }
        }
        Ok(parameters)
    }

    pub(crate) fn len(&self) -> usize {
        self.names.len()
    }

    fn index(&self, name: &str) -> Result<usize, Fault> {
        self.names
            .iter()
            .position(|n| n == name)
            .ok_or(Fault::Unknown {
                what: "parameter name",
                expected: "one of the robot's `[robot]` keys (see recede_parameter_name)",
            })
    }

    pub(crate) fn get(&self, name: &str) -> Result<f64, Fault> {
        Ok(self.values[self.index(name)?])
    }

    pub(crate) fn name(&self, index: usize) -> Option<&str> {
        self.names.get(index).map(String::as_str)
    }

    /// Sets `name` to `value` in `robot` and in the controller's model;
    /// nothing changes when the value is refused.
    pub(crate) fn set(
        &mut self,
        robot: &mut RobotConfig,
        controller: &mut Controller,
        name: &str,
        value: f64,
    ) -> Result<(), Fault> {
        let index = self.index(name)?;
        if !value.is_finite() {
            return Err(Fault::NonFinite {
                what: "parameter value",
                index: 0,
            });
        }
        let pairs = self
            .names
            .iter()
            .zip(&self.values)
            .enumerate()
            .map(|(i, (n, v))| (n.as_str(), if i == index { value } else { *v }));
        let mut candidate = robot.clone();
        rebuild(&mut candidate, pairs)?;
        controller
            .set_robot_params(&candidate)
            .map_err(Fault::Invalid)?;
        *robot = candidate;
        self.values[index] = value;
        Ok(())
    }
}

macro_rules! rebuild_params {
    ([] $(($variant:ident, $module:ident, $robot:ident, $params:ident)),* $(,)?) => {
        /// Replaces `robot`'s parameters with those of `pairs`.
        fn rebuild<'a>(
            robot: &mut RobotConfig,
            pairs: impl Iterator<Item = (&'a str, f64)>,
        ) -> Result<(), Fault> {
            let map = MapDeserializer::<_, ValueError>::new(pairs);
            let rebuilt = match robot {
                $(RobotConfig::$variant(p) => robots::$params::deserialize(map).map(|v| *p = v),)*
                // `Parameters::of` lists none for a model file (its table
                // holds a path), so no name reaches here.
                RobotConfig::ModelFile(_) => {
                    return Err(Fault::Unknown {
                        what: "parameter name",
                        expected: "a built-in robot's parameter (a model file robot has none settable here)",
                    })
                }
            };
            // The names and the struct are the same serde description: a
            // failure here is a bug, reported rather than panicking.
            rebuilt.map_err(|_| {
                Fault::Invalid(ControlError::WrongRobot {
                    expected: "parameters that deserialise",
                    got: robot.kind(),
                })
            })
        }
    };
}

recede_model::for_each_robot!(rebuild_params);
