//! The built-in robots. Each has typed parameters (serde, unknown keys
//! rejected, defaults = the reference problems'), a `validate` pass and a
//! [`Robot`] descriptor; [`for_each_robot!`](crate::for_each_robot) is the
//! one list of them that every layer's dispatch is generated from.

pub mod arm;
pub mod cartpole;
pub mod diffdrive;
pub mod quadrotor;
mod robot;
pub mod soft_cartpole;
pub mod soft_link;

pub use arm::{Arm, ArmParams};
pub use cartpole::{CartPole, CartPoleParams};
pub use diffdrive::{DiffDrive, DiffDriveParams};
pub use quadrotor::{Quadrotor, QuadrotorParams};
pub use robot::{Body, Pose, Robot};
pub use soft_cartpole::{SoftCartPole, SoftCartPoleParams};

use serde::{Deserialize, Serialize};

use crate::ModelError;

/// Something to do with a robot whatever its type: [`RobotConfig::visit`]
/// builds the robot a `[robot]` table describes and hands it over with its
/// sizes, so generic code needs no match over the robots.
pub trait RobotVisitor {
    type Output;
    fn visit<R: Robot<NX, NU>, const NX: usize, const NU: usize>(self, robot: R) -> Self::Output;
}

macro_rules! robot_config {
    ([] $(($variant:ident, $module:ident, $robot:ident, $params:ident)),* $(,)?) => {
        /// The `[robot]` table of a scenario: which robot, with its parameters.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "kind", rename_all = "snake_case")]
        pub enum RobotConfig {
            $($variant($params),)*
        }

        impl RobotConfig {
            /// The robot's name as written in a scenario's `kind`.
            pub fn kind(&self) -> &'static str {
                match self {
                    $(Self::$variant(_) => <$robot as Robot<{ $module::NX }, { $module::NU }>>::KIND,)*
                }
            }

            pub fn validate(&self) -> Result<(), ModelError> {
                match self {
                    $(Self::$variant(p) => p.validate(),)*
                }
            }

            /// (states, inputs).
            pub fn dimensions(&self) -> (usize, usize) {
                match self {
                    $(Self::$variant(_) => ($module::NX, $module::NU),)*
                }
            }

            /// How many of the first states are a world position obstacles
            /// can block (3, 2, or 0: [`Robot::POSITION_STATES`]).
            pub fn position_states(&self) -> usize {
                match self {
                    $(Self::$variant(_) => {
                        <$robot as Robot<{ $module::NX }, { $module::NU }>>::POSITION_STATES
                    })*
                }
            }

            /// Builds the robot (parameters checked) and hands it to `visitor`.
            pub fn visit<V: RobotVisitor>(&self, visitor: V) -> Result<V::Output, ModelError> {
                match self {
                    $(Self::$variant(p) => Ok(visitor.visit($robot::new(*p)?)),)*
                }
            }
        }
    };
}

crate::for_each_robot!(robot_config);

/// The descriptor's fixed-size questions on plain slices, whatever the
/// robot: `None` when `x` is not the robot's state length.
struct Describe<'a>(&'a [f64]);

impl RobotVisitor for Describe<'_> {
    type Output = Option<([f64; 3], Pose)>;
    fn visit<R: Robot<NX, NU>, const NX: usize, const NU: usize>(self, robot: R) -> Self::Output {
        let x: &[f64; NX] = self.0.try_into().ok()?;
        Some((robot.point(x), robot.pose(x)))
    }
}

struct Names;

impl RobotVisitor for Names {
    type Output = (&'static [&'static str], &'static [&'static str], Body);
    fn visit<R: Robot<NX, NU>, const NX: usize, const NU: usize>(self, robot: R) -> Self::Output {
        (R::STATE_NAMES, R::INPUT_NAMES, robot.body())
    }
}

impl RobotConfig {
    /// The point drawn as the robot's path and its pose at state `x`;
    /// `None` for a state of the wrong length or invalid parameters.
    pub fn point_and_pose(&self, x: &[f64]) -> Option<([f64; 3], Pose)> {
        self.visit(Describe(x)).ok().flatten()
    }

    /// Names of the state and input components, and the body to draw.
    pub fn names_and_body(
        &self,
    ) -> Result<(&'static [&'static str], &'static [&'static str], Body), ModelError> {
        self.visit(Names)
    }
}
