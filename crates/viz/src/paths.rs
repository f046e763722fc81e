//! Every entity path and timeline the recorder writes, in one place.
//!
//! Tests, the README and the loop refer to these names; nothing else in the
//! crate spells a path out. The world frame is right-handed, z up
//! ([`WORLD`] carries `ViewCoordinates::RIGHT_HAND_Z_UP`).
//!
//! | path | archetype | timing |
//! |---|---|---|
//! | `world` | ViewCoordinates (z up) | static |
//! | `world/robot` | Transform3D `world_from_body` (cart for the cart-pole, base for the arm) | per step |
//! | `world/robot/body/{arms,rotors,hub,heading}` | quadrotor primitives | static |
//! | `world/robot/body/cart` | cart-pole cart box | static |
//! | `world/robot/body/{chassis,heading}` | diff-drive box and heading arrow | static |
//! | `world/robot/body/base` | two-link arm base box | static |
//! | `world/robot/pole` | Transform3D `cart_from_pole` (cart-pole) | per step |
//! | `world/robot/pole/geometry` | pole line strip and bob (cart-pole) | static |
//! | `world/robot/link1` | Transform3D `base_from_link1` (arm) | per step |
//! | `world/robot/link1/geometry` | link 1 line strip (arm) | static |
//! | `world/robot/link1/elbow` | Transform3D `link1_from_elbow`, link 1's length (arm) | static |
//! | `world/robot/link1/elbow/link2` | Transform3D `elbow_from_link2` (arm) | per step |
//! | `world/robot/link1/elbow/link2/geometry` | link 2 line strip (arm) | static |
//! | `world/robot/cameras/{name}` | Transform3D `body_from_camera` + Pinhole | static |
//! | `world/robot/cameras/{name}/image` | EncodedImage (RGB and infrared as JPEG) or EncodedDepthImage (16-bit PNG, mm); see [`crate::encode`] | per frame |
//! | `world/robot/lidar` | Points3D in the body frame | per scan |
//! | `world/reference` | LineStrips3D | static or per step |
//! | `world/estimate` | Points3D, the estimated position or tip | per step |
//! | `world/prediction` | LineStrips3D + Points3D, the MPC's predicted positions | per step |
//! | `world/targets` | Points3D | static or per step |
//! | `world/obstacles/true/{ellipsoids,boxes}` | Ellipsoids3D / Boxes3D, wireframe, grey-green, labelled by name | static or per step |
//! | `world/obstacles/perceived/{ellipsoids,boxes}` | Ellipsoids3D / Boxes3D, solid, orange | per step |
//! | `world/arm/shape` | LineStrips3D + Points3D, a continuum arm's true rod nodes | per step |
//! | `world/arm/sections` | LineStrips3D + Points3D, the estimate's section ends (PCC chords) | per step |
//! | `world/arm/tip`, `world/arm/tip_reference` | Points3D, the true tip and its reference now | per step |
//! | `world/arm/perceived` | Points3D, the rod's surface as a world-fixed depth camera sees it | per image |
//! | `plots/tip`, `plots/tip_error_mm` | Scalars, a continuum arm's tip against its reference, and the error | per step |
//! | `plots/state`, `plots/tracking`, `plots/command`, `plots/command_bounds`, `plots/step_time_us`, `plots/qp_iterations`, `plots/residual_norm`, `plots/estimator_std` | Scalars (+ static SeriesLines names) | per step |
//! | `events` | TextLog with a level | per event |
//!
//! A blueprint (the default layout, [`crate::Layout`]) goes with the
//! recording in its own store; see [`crate::RecorderHandle::send_blueprint`].
//!
//! Timelines: [`SIM_TIME`] (duration, seconds of simulated time) and [`STEP`]
//! (sequence, the control step). Rerun adds its own `log_time` (wall clock).

/// Simulated time, a duration timeline in seconds.
pub const SIM_TIME: &str = "sim_time";
/// Control step index, a sequence timeline.
pub const STEP: &str = "step";

/// Root of the 3D scene, z up.
pub const WORLD: &str = "world";
/// The robot's moving frame: `world_from_body` (quadrotor, diff-drive), the
/// cart (cart-pole) or the fixed base (two-link arm).
pub const ROBOT: &str = "world/robot";
/// Static body geometry under [`ROBOT`]; one child entity per primitive.
pub const BODY: &str = "world/robot/body";
/// Cart-pole: the pole's frame, rotated about the pivot by the pole angle.
pub const POLE: &str = "world/robot/pole";
/// Cart-pole: the pole's static geometry.
pub const POLE_GEOMETRY: &str = "world/robot/pole/geometry";
/// Two-link arm: link 1's frame (rotation by `q1` at the base).
pub const LINK1: &str = "world/robot/link1";
/// Two-link arm: link 1's static geometry.
pub const LINK1_GEOMETRY: &str = "world/robot/link1/geometry";
/// Two-link arm: the elbow, a fixed translation to link 1's tip.
pub const ELBOW: &str = "world/robot/link1/elbow";
/// Two-link arm: link 2's frame (at the elbow, rotation by `q2`).
pub const LINK2: &str = "world/robot/link1/elbow/link2";
/// Two-link arm: link 2's static geometry.
pub const LINK2_GEOMETRY: &str = "world/robot/link1/elbow/link2/geometry";
/// Parent of the camera frames; see [`camera`] and [`camera_image`].
pub const CAMERAS: &str = "world/robot/cameras";
/// Lidar points, in the body frame.
pub const LIDAR: &str = "world/robot/lidar";
/// The reference path.
pub const REFERENCE: &str = "world/reference";
/// The estimated position (quadrotor, ground robot) or tip (cart-pole,
/// arm); the body drawn at [`ROBOT`] is the true pose.
pub const ESTIMATE: &str = "world/estimate";
/// The MPC's predicted trajectory (positions) at the current step.
pub const PREDICTION: &str = "world/prediction";
/// Targets (goals, hot spots to visit, reach points).
pub const TARGETS: &str = "world/targets";
/// Obstacles as they are in the simulated world.
pub const OBSTACLES_TRUE: &str = "world/obstacles/true";
/// Obstacles as perception reports them.
pub const OBSTACLES_PERCEIVED: &str = "world/obstacles/perceived";
/// A continuum arm's curves ([`crate::Curve`]).
pub const ARM: &str = "world/arm";
/// The true rod's nodes, base to tip.
pub const ARM_SHAPE: &str = "world/arm/shape";
/// The estimate's section ends (piecewise constant curvature chords).
pub const ARM_SECTIONS: &str = "world/arm/sections";
/// The true tip.
pub const ARM_TIP: &str = "world/arm/tip";
/// The tip's reference now.
pub const ARM_TIP_REFERENCE: &str = "world/arm/tip_reference";
/// The rod's surface points a world-fixed depth camera sees.
pub const ARM_PERCEIVED: &str = "world/arm/perceived";
/// Text log of events (fallbacks, dropouts, rejected measurements).
pub const EVENTS: &str = "events";

/// Time series. One entity per group; the names of its components are logged
/// once as static `SeriesLines`.
pub const PLOT_STATE: &str = "plots/state";
/// Tracked components and their reference, in pairs.
pub const PLOT_TRACKING: &str = "plots/tracking";
/// Applied command.
pub const PLOT_COMMAND: &str = "plots/command";
/// The command's bounds (logged at the first and last instant: lines).
pub const PLOT_COMMAND_BOUNDS: &str = "plots/command_bounds";
/// Controller step time, microseconds (the summary's `step_us`).
pub const PLOT_STEP_TIME_US: &str = "plots/step_time_us";
/// QP iterations per control step.
pub const PLOT_QP_ITERATIONS: &str = "plots/qp_iterations";
/// Magnitude of the learned residual's correction.
pub const PLOT_RESIDUAL_NORM: &str = "plots/residual_norm";
/// Estimator uncertainty: standard deviations (square roots of the
/// covariance diagonal).
pub const PLOT_ESTIMATOR_STD: &str = "plots/estimator_std";

/// A continuum arm's tip and its reference, `[x, x ref, z, z ref]`, m.
pub const PLOT_TIP: &str = "plots/tip";
/// A continuum arm's tip error (distance to the reference), mm.
pub const PLOT_TIP_ERROR_MM: &str = "plots/tip_error_mm";

/// Sub-entity for ellipsoid/sphere obstacles under [`OBSTACLES_TRUE`] or
/// [`OBSTACLES_PERCEIVED`].
pub const ELLIPSOIDS: &str = "ellipsoids";
/// Sub-entity for box obstacles.
pub const BOXES: &str = "boxes";

/// The frame of camera `name`: `world/robot/cameras/{name}`.
pub fn camera(name: &str) -> String {
    format!("{CAMERAS}/{name}")
}

/// The image of camera `name`: `world/robot/cameras/{name}/image`.
pub fn camera_image(name: &str) -> String {
    format!("{CAMERAS}/{name}/image")
}

/// A child of a path: `{parent}/{child}`.
pub fn child(parent: &str, child: &str) -> String {
    format!("{parent}/{child}")
}
