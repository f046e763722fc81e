//! Plain data the recorder accepts. Nothing here refers to the simulator or
//! the controller; the loop converts its own types into these.

use nalgebra::{Isometry3, Point3, Translation3, UnitQuaternion, Vector3};

/// When a value holds: at a control step and simulated time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stamp {
    /// Control step index ([`crate::paths::STEP`] timeline).
    pub step: u64,
    /// Simulated time in seconds ([`crate::paths::SIM_TIME`] timeline).
    pub sim_time_secs: f64,
}

impl Stamp {
    /// A stamp at `step` and `sim_time_secs`.
    pub fn new(step: u64, sim_time_secs: f64) -> Self {
        Self {
            step,
            sim_time_secs,
        }
    }
}

/// Whether something is logged once for the whole recording or at a time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum When {
    /// Holds for the whole recording (rerun `log_static`).
    Static,
    /// Holds from this stamp on.
    At(Stamp),
}

impl From<Stamp> for When {
    fn from(stamp: Stamp) -> Self {
        Self::At(stamp)
    }
}

/// The robot to draw, with the dimensions of its simple body.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RobotKind {
    /// X-configuration quadrotor: rotor `i` at `arm_length_m (cos a_i, sin a_i, 0)`,
    /// `a_i = pi/4 + i pi/2` (as in `recede-model`).
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
    /// Ground robot: a box with a heading arrow along body +x.
    DiffDrive {
        length_m: f64,
        width_m: f64,
        height_m: f64,
    },
    /// Planar two-link arm in the world x-z plane, base at the origin of
    /// [`crate::paths::ROBOT`].
    TwoLinkArm {
        link1_length_m: f64,
        link2_length_m: f64,
    },
}

/// Where the robot is at one instant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RobotPose {
    /// A rigid body (quadrotor, diff-drive): the body frame in the world.
    Rigid { world_from_body: Isometry3<f64> },
    /// Cart-pole state as in `recede-model`: cart position along x and pole
    /// angle from upright (theta = 0 up); the pole tip is at
    /// `(p - L sin(theta), 0, L cos(theta))`.
    CartPole {
        cart_position_m: f64,
        pole_angle_rad: f64,
    },
    /// Two-link arm joint angles as in `recede-model`: `q1` from the plane's
    /// +x axis, `q2` relative to link 1, counter-clockwise positive, with the
    /// arm plane's (x, y) drawn as world (x, z) so gravity points down.
    TwoLinkArm { q1_rad: f64, q2_rad: f64 },
}

impl RobotPose {
    /// A rigid pose from a position and an attitude (body to world).
    pub fn rigid(position: Point3<f64>, attitude: UnitQuaternion<f64>) -> Self {
        Self::Rigid {
            world_from_body: Isometry3::from_parts(Translation3::from(position.coords), attitude),
        }
    }

    /// A ground robot at `(x, y)` on the z = 0 plane with heading `yaw_rad`.
    pub fn planar(x_m: f64, y_m: f64, yaw_rad: f64) -> Self {
        Self::Rigid {
            world_from_body: Isometry3::new(Vector3::new(x_m, y_m, 0.0), Vector3::z() * yaw_rad),
        }
    }
}

/// A pinhole camera rigidly attached to the robot body.
#[derive(Debug, Clone, PartialEq)]
pub struct CameraSpec {
    /// Name, used in the entity path ([`crate::paths::camera`]).
    pub name: String,
    /// Image size in pixels `[width, height]`.
    pub resolution_px: [u32; 2],
    /// Focal lengths `[fx, fy]` in pixels.
    pub focal_length_px: [f64; 2],
    /// Principal point `[cx, cy]` in pixels.
    pub principal_point_px: [f64; 2],
    /// The camera's optical frame (x right, y down, z forward) in the body
    /// frame of [`crate::paths::ROBOT`].
    pub body_from_camera: Isometry3<f64>,
}

/// An obstacle shape in the world frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Obstacle {
    /// A sphere.
    Sphere { center: Point3<f64>, radius_m: f64 },
    /// An ellipsoid with semi-axes along its rotated axes.
    Ellipsoid {
        center: Point3<f64>,
        half_sizes_m: Vector3<f64>,
        rotation: UnitQuaternion<f64>,
    },
    /// A box (a pillar, a wall).
    Box {
        center: Point3<f64>,
        half_sizes_m: Vector3<f64>,
        rotation: UnitQuaternion<f64>,
    },
}

/// Whose obstacles: the world's, or what perception made of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObstacleSource {
    /// Ground truth from the simulated world.
    True,
    /// Perception's estimate.
    Perceived,
}

/// A group of time series, each one entity under `plots/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Series {
    /// State components ([`crate::paths::PLOT_STATE`]).
    State,
    /// Tracked components against their reference, in pairs `[actual,
    /// reference, ...]` ([`crate::paths::PLOT_TRACKING`]).
    Tracking,
    /// Applied command components ([`crate::paths::PLOT_COMMAND`]).
    Command,
    /// The command's bounds ([`crate::paths::PLOT_COMMAND_BOUNDS`]).
    CommandBounds,
    /// Controller step time in us, the summary's `step_us`
    /// ([`crate::paths::PLOT_STEP_TIME_US`]).
    StepTimeUs,
    /// QP iterations ([`crate::paths::PLOT_QP_ITERATIONS`]).
    QpIterations,
    /// Learned residual magnitude ([`crate::paths::PLOT_RESIDUAL_NORM`]).
    ResidualNorm,
    /// Estimator standard deviations ([`crate::paths::PLOT_ESTIMATOR_STD`]).
    EstimatorStd,
    /// A continuum arm's tip against its reference, `[x, x ref, z, z ref]`
    /// ([`crate::paths::PLOT_TIP`]).
    Tip,
    /// A continuum arm's tip error, mm ([`crate::paths::PLOT_TIP_ERROR_MM`]).
    TipError,
}

impl Series {
    /// All groups.
    pub const ALL: [Series; 10] = [
        Series::State,
        Series::Tracking,
        Series::Command,
        Series::CommandBounds,
        Series::StepTimeUs,
        Series::QpIterations,
        Series::ResidualNorm,
        Series::EstimatorStd,
        Series::Tip,
        Series::TipError,
    ];

    /// The entity path of this group.
    pub fn path(self) -> &'static str {
        use crate::paths;
        match self {
            Series::State => paths::PLOT_STATE,
            Series::Tracking => paths::PLOT_TRACKING,
            Series::Command => paths::PLOT_COMMAND,
            Series::CommandBounds => paths::PLOT_COMMAND_BOUNDS,
            Series::StepTimeUs => paths::PLOT_STEP_TIME_US,
            Series::QpIterations => paths::PLOT_QP_ITERATIONS,
            Series::ResidualNorm => paths::PLOT_RESIDUAL_NORM,
            Series::EstimatorStd => paths::PLOT_ESTIMATOR_STD,
            Series::Tip => paths::PLOT_TIP,
            Series::TipError => paths::PLOT_TIP_ERROR_MM,
        }
    }
}

/// A deformable body's curves and points (the continuum arm's), each one
/// entity under [`crate::paths::ARM`], world frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    /// The true rod: its nodes, base to tip, as a strip with dots
    /// ([`crate::paths::ARM_SHAPE`]).
    RodShape,
    /// The estimate's section ends (piecewise constant curvature), base
    /// first, as chords with dots ([`crate::paths::ARM_SECTIONS`]).
    Sections,
    /// The true tip, a point ([`crate::paths::ARM_TIP`]).
    Tip,
    /// The tip's reference now, a point ([`crate::paths::ARM_TIP_REFERENCE`]).
    TipReference,
    /// The rod's surface as a depth camera sees it: back-projected pixels,
    /// world frame, dots only ([`crate::paths::ARM_PERCEIVED`]).
    PerceivedShape,
}

impl Curve {
    /// All curves.
    pub const ALL: [Curve; 5] = [
        Curve::RodShape,
        Curve::Sections,
        Curve::Tip,
        Curve::TipReference,
        Curve::PerceivedShape,
    ];

    /// The entity path of this curve.
    pub fn path(self) -> &'static str {
        use crate::paths;
        match self {
            Curve::RodShape => paths::ARM_SHAPE,
            Curve::Sections => paths::ARM_SECTIONS,
            Curve::Tip => paths::ARM_TIP,
            Curve::TipReference => paths::ARM_TIP_REFERENCE,
            Curve::PerceivedShape => paths::ARM_PERCEIVED,
        }
    }
}

/// Severity of a logged event (rerun's `TextLogLevel`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
    Critical,
}

impl Level {
    /// Rerun's spelling of the level.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Trace => "TRACE",
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
            Level::Critical => "CRITICAL",
        }
    }
}
