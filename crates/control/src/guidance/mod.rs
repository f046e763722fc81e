//! Guidance: what perception sees, turned into the MPC's inputs before a
//! step. The world model's obstacles become soft keep-out rows
//! ([`ObstacleConstraints`]); with `[perception.approach]` the hottest
//! target that is hot enough becomes the set point ([`approach_target`]).
//!
//! Controller-side: it reads `recede-msg`'s [`WorldModel`], whoever filled
//! it (the perception pipeline, a driver), and never the pipeline itself,
//! so the firmware library does not link the EKF, the mapper or the
//! target finder. Runs on the controller's thread: nothing allocates after
//! [`Guidance::new`].

mod approach;
mod body_rows;
mod rows;

use nalgebra::Vector3;
use recede_model::robots::RobotConfig;
use recede_msg::{Obstacle, WorldModel};

pub use approach::{approach_target, ApproachConfig};
pub use body_rows::{body_fraction, BodyPoints, BODY_POINTS};
pub use rows::{BodyExtent, ObstacleConstraintConfig, ObstacleConstraints};

use crate::{Controller, ReferenceConfig};

/// The robot's position in the world from its state, by robot kind: x, y
/// and z for the quadrotor, x and y (z = 0) for the ground robot; `None`
/// for robots that do not move among obstacles (cart-pole, arm) or a
/// state too short for its robot.
pub fn position(robot: &RobotConfig, x: &[f64]) -> Option<Vector3<f64>> {
    match robot {
        RobotConfig::Quadrotor(_) if x.len() >= 3 => Some(Vector3::new(x[0], x[1], x[2])),
        RobotConfig::DiffDrive(_) if x.len() >= 2 => Some(Vector3::new(x[0], x[1], 0.0)),
        // A model file's first 2 or 3 states, when its mapping says so.
        RobotConfig::ModelFile(_) => match robot.position_states() {
            2 if x.len() >= 2 => Some(Vector3::new(x[0], x[1], 0.0)),
            3 if x.len() >= 3 => Some(Vector3::new(x[0], x[1], x[2])),
            _ => None,
        },
        _ => None,
    }
}

/// Where the keep-out rows rank obstacles from (nearest first): the
/// position, or a deformable body's tip (the continuum arm's).
pub fn keep_out_position(robot: &RobotConfig, x: &[f64]) -> Option<Vector3<f64>> {
    match robot {
        RobotConfig::ContinuumArm(p) => {
            let x: &[f64; 6] = x.try_into().ok()?;
            let q = nalgebra::SVector::<f64, 3>::from_fn(|i, _| x[i]);
            let ([tx, tz], _) = recede_model::robots::pcc::point_at(p, &q, 1.0);
            Some(Vector3::new(tx, 0.0, tz))
        }
        _ => position(robot, x),
    }
}

/// Applies a world model to a controller and its reference before each
/// step.
#[derive(Debug, Clone)]
pub struct Guidance {
    robot: RobotConfig,
    /// Head for the hottest target, when one is hot enough.
    approach: Option<ApproachConfig>,
    x_ref: Vec<f64>,
    approaching: bool,
    /// Obstacles known from the start (`known_obstacles`), used instead
    /// of the world model's when there are any.
    known: Vec<Obstacle>,
}

impl Guidance {
    pub fn new(robot: &RobotConfig, approach: Option<&ApproachConfig>) -> Self {
        let (nx, _) = robot.dimensions();
        Self {
            robot: robot.clone(),
            approach: approach.cloned(),
            x_ref: vec![0.0; nx],
            approaching: false,
            known: Vec::new(),
        }
    }

    /// Keep-out rows on `known` obstacles (a map) instead of the perceived
    /// ones.
    pub fn with_known_obstacles(mut self, known: Vec<Obstacle>) -> Self {
        self.known = known;
        self
    }

    /// The obstacles of `world` nearest to the estimated position in `x`
    /// into the controller's keep-out rows (no effect on a controller built
    /// without them); with an approach, the hottest target at least
    /// `min_temperature_k` hot into a set-point `reference`. Never
    /// allocates.
    pub fn apply(
        &mut self,
        controller: &mut Controller,
        reference: &mut ReferenceConfig,
        x: &[f64],
        world: &WorldModel,
    ) {
        if let Some(p) = keep_out_position(&self.robot, x) {
            let obstacles = if self.known.is_empty() {
                world.obstacles()
            } else {
                &self.known
            };
            controller.set_obstacles(obstacles, &p);
        }
        let Some(a) = &self.approach else { return };
        let Some(target) = world
            .hottest_target()
            .filter(|t| t.temperature_k >= a.min_temperature_k)
        else {
            return;
        };
        if approach_target(
            &self.robot,
            x,
            &target.position_m,
            a.standoff_m,
            &mut self.x_ref,
        ) {
            if let ReferenceConfig::Setpoint { state, .. } = reference {
                if state.len() == self.x_ref.len() {
                    state.copy_from_slice(&self.x_ref);
                    self.approaching = true;
                }
            }
        }
    }

    /// Whether the reference has been set to the approach of a target.
    pub fn approaching(&self) -> bool {
        self.approaching
    }
}
