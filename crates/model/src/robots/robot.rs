//! What every layer needs to know about a robot besides its dynamics, and
//! the one list of robots every layer's dispatch is generated from.

use nalgebra::SVector;

use crate::{Bounds, Dynamics, ModelError};

/// A robot: its dynamics plus what the simulator, the controller, the
/// viewer and the command line need to know about it.
pub trait Robot<const NX: usize, const NU: usize>: Dynamics<NX, NU> + Copy {
    /// The `kind` of a scenario's `[robot]` table.
    const KIND: &'static str;
    /// Names of the state and input components (recordings, logs).
    const STATE_NAMES: &'static [&'static str; NX];
    const INPUT_NAMES: &'static [&'static str; NU];
    /// SI units of the state and input components (`""` for a pure number,
    /// e.g. a quaternion's), as logs and Python's column names carry them.
    const STATE_UNITS: &'static [&'static str; NX];
    const INPUT_UNITS: &'static [&'static str; NU];
    /// How many of the first states are a position in the world that
    /// obstacles can block (3 or 2); 0 for robots fixed to their base.
    const POSITION_STATES: usize;

    type Params: Copy;

    /// The robot with checked parameters.
    fn from_params(params: Self::Params) -> Result<Self, ModelError>;
    fn input_bounds(&self) -> Bounds<NU>;
    /// The input a plan starts from and falls back to: hover thrust for the
    /// quadrotor, zero otherwise.
    fn safe_input(&self) -> SVector<f64, NU> {
        SVector::zeros()
    }
    /// The point viewers draw the path of (world frame, m): the body's
    /// position, or the tip of a pole or an arm.
    fn point(&self, x: &[f64; NX]) -> [f64; 3];
    /// Where the body is drawn at state `x`.
    fn pose(&self, x: &[f64; NX]) -> Pose;
    /// The body's shape and size, for drawing.
    fn body(&self) -> Body;
    /// A deformable body's point at fraction `f` of its length (world
    /// frame, m) and its Jacobian in the state (rows x, y, z): what
    /// keep-out rows on the whole body hold clear. `None` for a rigid body
    /// (their rows use its position states).
    fn body_point(&self, _x: &[f64; NX], _f: f64) -> Option<([f64; 3], [[f64; NX]; 3])> {
        None
    }
}

/// A robot's simple body (what the viewer draws), in metres.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Body {
    /// X-configuration quadrotor: rotor `i` at `arm_length_m (cos a_i, sin a_i, 0)`.
    Quadrotor {
        arm_length_m: f64,
        rotor_radius_m: f64,
    },
    /// Cart on a rail along world x, pole pivoting in the x-z plane.
    CartPole {
        pole_length_m: f64,
        cart_width_m: f64,
        cart_height_m: f64,
    },
    /// A box on the ground with a heading along body +x.
    GroundBox {
        length_m: f64,
        width_m: f64,
        height_m: f64,
    },
    /// Planar two-link arm in the world x-z plane.
    TwoLinkArm {
        link1_length_m: f64,
        link2_length_m: f64,
    },
}

/// Where a body is at one instant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pose {
    /// A rigid body: position (m) and body-to-world attitude `[w, x, y, z]`.
    Rigid {
        position_m: [f64; 3],
        attitude: [f64; 4],
    },
    /// Cart position along x and pole angle from upright.
    CartPole {
        cart_position_m: f64,
        pole_angle_rad: f64,
    },
    /// Joint angles of a two-link arm.
    TwoLinkArm { q1_rad: f64, q2_rad: f64 },
}

impl Pose {
    /// A ground robot at `(x, y)` on z = 0 with heading `yaw_rad`.
    pub fn planar(x_m: f64, y_m: f64, yaw_rad: f64) -> Self {
        let (s, c) = (0.5 * yaw_rad).sin_cos();
        Self::Rigid {
            position_m: [x_m, y_m, 0.0],
            attitude: [c, 0.0, 0.0, s],
        }
    }
}

/// The robot list. `for_each_robot!(callback)` calls
/// `callback! { [] $(($Variant, module, Type, Params)),* }` with one entry
/// per robot (the `[robot]` kind is `Type::KIND`, the sizes `module::NX`,
/// `module::NU`); every layer generates its dispatch from it. Tokens after
/// the callback's name are passed inside the brackets (`for_each_robot!(cb,
/// $)` hands a `$` over, for callbacks that define macros of their own).
/// Adding a robot adds one line here (docs/adding-a-robot.md).
#[macro_export]
macro_rules! for_each_robot {
    ($callback:ident $(, $extra:tt)*) => {
        $callback! {
            [$($extra)*]
            (CartPole, cartpole, CartPole, CartPoleParams),
            (Quadrotor, quadrotor, Quadrotor, QuadrotorParams),
            (DiffDrive, diffdrive, DiffDrive, DiffDriveParams),
            (Arm, arm, Arm, ArmParams),
            (SoftCartPole, soft_cartpole, SoftCartPole, SoftCartPoleParams),
            (ContinuumArm, continuum_arm, ContinuumArm, ContinuumArmParams),
        }
    };
}
