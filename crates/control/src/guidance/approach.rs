//! Target-driven references (`[perception.approach]`): go to within a
//! distance of a target and face it.

use nalgebra::Vector3;
use recede_model::robots::RobotConfig;
use serde::{Deserialize, Serialize};

use crate::ControlError;

/// `[perception.approach]`: go to within `standoff_m` of the hottest
/// target and face it (the scenario's reference until one is seen).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApproachConfig {
    /// Distance short of the target's hot surface to stop at, m.
    pub standoff_m: f64,
    /// Only a target at least this hot is approached, K.
    #[serde(default)]
    pub min_temperature_k: f64,
}

impl ApproachConfig {
    pub fn validate(&self) -> Result<(), ControlError> {
        for (key, v) in [
            ("standoff_m", self.standoff_m),
            ("min_temperature_k", self.min_temperature_k),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(ControlError::Parse {
                    origin: format!("perception.approach.{key}"),
                    message: format!("expected a finite value >= 0, found {v}"),
                });
            }
        }
        Ok(())
    }
}

/// `a` wrapped into [-pi, pi).
fn wrap_angle(a: f64) -> f64 {
    (a + std::f64::consts::PI).rem_euclid(std::f64::consts::TAU) - std::f64::consts::PI
}

/// Writes into `reference` (the robot's state layout) a state at rest
/// `standoff_m` short of `target_m` on the line from the robot's estimated
/// position `state`, facing the target. The heading is unwrapped next to
/// the current one, so the robot never turns the long way round; a
/// quadrotor keeps its altitude and its quaternion's sign. Returns false
/// (and writes nothing) for robots without a position (cart-pole, arm) or
/// sizes that do not match.
pub fn approach_target(
    robot: &RobotConfig,
    state: &[f64],
    target_m: &Vector3<f64>,
    standoff_m: f64,
    reference: &mut [f64],
) -> bool {
    let (nx, _) = robot.dimensions();
    if state.len() != nx || reference.len() != nx {
        return false;
    }
    let here = Vector3::new(state[0], state[1], 0.0);
    let mut to = Vector3::new(target_m.x, target_m.y, 0.0) - here;
    let dist = to.norm();
    if dist > 1e-9 {
        to /= dist;
    } else {
        to = Vector3::x();
    }
    let heading = to.y.atan2(to.x);
    let goal = Vector3::new(target_m.x, target_m.y, 0.0) - to * standoff_m.min(dist);
    match robot {
        RobotConfig::DiffDrive(_) => {
            reference.fill(0.0);
            reference[0] = goal.x;
            reference[1] = goal.y;
            reference[2] = state[2] + wrap_angle(heading - state[2]);
            true
        }
        RobotConfig::Quadrotor(_) => {
            reference.fill(0.0);
            reference[0] = goal.x;
            reference[1] = goal.y;
            reference[2] = state[2];
            let (s, c) = (0.5 * heading).sin_cos();
            let sign = if c * state[3] + s * state[6] < 0.0 {
                -1.0
            } else {
                1.0
            };
            reference[3] = sign * c;
            reference[6] = sign * s;
            true
        }
        RobotConfig::CartPole(_)
        | RobotConfig::Arm(_)
        | RobotConfig::SoftCartPole(_)
        | RobotConfig::ContinuumArm(_)
        | RobotConfig::ModelFile(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use recede_model::robots::DiffDriveParams;

    #[test]
    fn ground_robot_stops_short_facing_the_target() {
        let robot = RobotConfig::DiffDrive(DiffDriveParams::default());
        let state = [0.0, 0.0, 3.0, 0.0, 0.0];
        let mut r = [0.0; 5];
        assert!(approach_target(
            &robot,
            &state,
            &Vector3::new(0.0, -4.0, 0.3),
            1.0,
            &mut r
        ));
        assert!((r[0]).abs() < 1e-12 && (r[1] + 3.0).abs() < 1e-12);
        // Facing -y, reached from a heading of 3 rad by the short way: 3 pi / 2.
        assert!(
            (r[2] - 1.5 * std::f64::consts::PI).abs() < 1e-12,
            "{}",
            r[2]
        );
    }
}
