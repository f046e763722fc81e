//! Robot kinematics for drawing, and each robot's simple static body.
//!
//! The moving parts are transforms ([`crate::paths::ROBOT`], `POLE`, `LINK1`,
//! `LINK2`); the primitives hang under them and are logged once, static.

use nalgebra::{Isometry3, Translation3, UnitQuaternion, Vector3};
use rerun::{
    Arrows3D, Boxes3D, Color, Cylinders3D, FillMode, LineStrips3D, Points3D, RecordingStream,
    RecordingStreamResult, Transform3D,
};

use crate::paths;
use crate::types::{RobotKind, RobotPose};

const BODY_GREY: Color = rgb(90, 90, 100);
const ROTOR_FRONT: Color = rgb(220, 60, 60);
const ROTOR_BACK: Color = rgb(60, 110, 220);
const HEADING: Color = rgb(240, 200, 40);
const POLE_COLOR: Color = rgb(200, 120, 40);
const ARM_COLOR: Color = rgb(60, 160, 90);

/// A colour from red, green, blue bytes (opaque).
pub(crate) const fn rgb(r: u8, g: u8, b: u8) -> Color {
    Color(rerun::datatypes::Rgba32::from_rgb(r, g, b))
}

/// A colour with alpha.
pub(crate) const fn rgba(r: u8, g: u8, b: u8, a: u8) -> Color {
    Color(rerun::datatypes::Rgba32::from_unmultiplied_rgba(r, g, b, a))
}

/// Rotation that turns the arm plane / pole plane into the world x-z plane:
/// a counter-clockwise angle in the (x, z) plane is a rotation about -y.
fn about_minus_y(angle_rad: f64) -> UnitQuaternion<f64> {
    UnitQuaternion::from_axis_angle(&-Vector3::y_axis(), angle_rad)
}

/// Cart-pole: the pole frame in the cart frame. The pole's geometry runs from
/// the pivot along the pole frame's +z; theta = 0 is upright and the tip lands
/// at `(-L sin(theta), 0, L cos(theta))`, matching `recede-model`.
pub fn cart_from_pole(pole_angle_rad: f64) -> Isometry3<f64> {
    // Rotation about +y by -theta maps +z to (-sin theta, 0, cos theta).
    Isometry3::from_parts(Translation3::identity(), about_minus_y(pole_angle_rad))
}

/// Two-link arm: link 1's frame in the base frame. Link geometry runs along
/// the link frame's +x.
pub fn base_from_link1(q1_rad: f64) -> Isometry3<f64> {
    Isometry3::from_parts(Translation3::identity(), about_minus_y(q1_rad))
}

/// Two-link arm: the elbow (link 1's tip) in link 1's frame; fixed, static.
pub fn link1_from_elbow(link1_length_m: f64) -> Isometry3<f64> {
    Isometry3::from_parts(
        Translation3::new(link1_length_m, 0.0, 0.0),
        UnitQuaternion::identity(),
    )
}

/// Two-link arm: link 2's frame in the elbow frame.
pub fn elbow_from_link2(q2_rad: f64) -> Isometry3<f64> {
    Isometry3::from_parts(Translation3::identity(), about_minus_y(q2_rad))
}

/// Rotor positions of the X quadrotor in the body frame (as in `recede-model`).
pub fn rotor_positions(arm_length_m: f64) -> [Vector3<f64>; 4] {
    std::array::from_fn(|i| {
        let a = std::f64::consts::FRAC_PI_4 + i as f64 * std::f64::consts::FRAC_PI_2;
        Vector3::new(arm_length_m * a.cos(), arm_length_m * a.sin(), 0.0)
    })
}

/// An isometry as a rerun transform.
pub fn to_transform(iso: &Isometry3<f64>) -> Transform3D {
    Transform3D::from_translation_rotation(f32x3(&iso.translation.vector), quat(&iso.rotation))
}

pub(crate) fn f32x3(v: &Vector3<f64>) -> [f32; 3] {
    [v.x as f32, v.y as f32, v.z as f32]
}

pub(crate) fn quat(q: &UnitQuaternion<f64>) -> rerun::Quaternion {
    rerun::Quaternion::from_xyzw([q.i as f32, q.j as f32, q.k as f32, q.w as f32])
}

/// Logs the static primitives of `kind` under the robot's frames.
pub(crate) fn log_body(rec: &RecordingStream, kind: &RobotKind) -> RecordingStreamResult<()> {
    let body = |part: &str| paths::child(paths::BODY, part);
    match *kind {
        RobotKind::Quadrotor {
            arm_length_m,
            rotor_radius_m,
        } => {
            let r = rotor_positions(arm_length_m).map(|p| f32x3(&p));
            // Arms: rotor 0 to rotor 2 and rotor 1 to rotor 3 through the centre.
            rec.log_static(
                body("arms"),
                &LineStrips3D::new([[r[0], r[2]], [r[1], r[3]]])
                    .with_radii([0.012_f32])
                    .with_colors([BODY_GREY]),
            )?;
            // Rotors 0 and 3 face +x (front) and are red, the others blue.
            rec.log_static(
                body("rotors"),
                &Cylinders3D::from_lengths_and_radii([0.01_f32; 4], [rotor_radius_m as f32; 4])
                    .with_centers(r)
                    .with_colors([ROTOR_FRONT, ROTOR_BACK, ROTOR_BACK, ROTOR_FRONT])
                    .with_fill_mode(FillMode::Solid),
            )?;
            let hub = (0.25 * arm_length_m) as f32;
            rec.log_static(
                body("hub"),
                &Boxes3D::from_half_sizes([[hub, hub, 0.4 * hub]])
                    .with_colors([BODY_GREY])
                    .with_fill_mode(FillMode::Solid),
            )?;
            rec.log_static(
                body("heading"),
                &Arrows3D::from_vectors([[arm_length_m as f32, 0.0, 0.0]])
                    .with_colors([HEADING])
                    .with_radii([0.008_f32]),
            )?;
        }
        RobotKind::CartPole {
            pole_length_m,
            cart_width_m,
            cart_height_m,
        } => {
            rec.log_static(
                body("cart"),
                &Boxes3D::from_half_sizes([[
                    0.5 * cart_width_m as f32,
                    0.25 * cart_width_m as f32,
                    0.5 * cart_height_m as f32,
                ]])
                .with_colors([BODY_GREY])
                .with_fill_mode(FillMode::Solid),
            )?;
            let tip = [0.0, 0.0, pole_length_m as f32];
            rec.log_static(
                paths::POLE_GEOMETRY,
                &LineStrips3D::new([[[0.0, 0.0, 0.0], tip]])
                    .with_radii([0.015_f32])
                    .with_colors([POLE_COLOR]),
            )?;
            rec.log_static(
                paths::child(paths::POLE_GEOMETRY, "bob"),
                &Points3D::new([tip])
                    .with_radii([0.04_f32])
                    .with_colors([POLE_COLOR]),
            )?;
        }
        RobotKind::DiffDrive {
            length_m,
            width_m,
            height_m,
        } => {
            rec.log_static(
                body("chassis"),
                &Boxes3D::from_centers_and_half_sizes(
                    [[0.0, 0.0, 0.5 * height_m as f32]],
                    [[
                        0.5 * length_m as f32,
                        0.5 * width_m as f32,
                        0.5 * height_m as f32,
                    ]],
                )
                .with_colors([BODY_GREY])
                .with_fill_mode(FillMode::Solid),
            )?;
            rec.log_static(
                body("heading"),
                &Arrows3D::from_vectors([[length_m as f32, 0.0, 0.0]])
                    .with_origins([[0.0, 0.0, height_m as f32 + 0.01]])
                    .with_colors([HEADING])
                    .with_radii([0.015_f32]),
            )?;
        }
        RobotKind::TwoLinkArm {
            link1_length_m,
            link2_length_m,
        } => {
            rec.log_static(
                paths::ELBOW,
                &to_transform(&link1_from_elbow(link1_length_m)),
            )?;
            rec.log_static(
                body("base"),
                &Boxes3D::from_half_sizes([[0.05_f32, 0.05, 0.05]])
                    .with_colors([BODY_GREY])
                    .with_fill_mode(FillMode::Solid),
            )?;
            for (path, length) in [
                (paths::LINK1_GEOMETRY, link1_length_m),
                (paths::LINK2_GEOMETRY, link2_length_m),
            ] {
                let end = [length as f32, 0.0, 0.0];
                rec.log_static(
                    path,
                    &LineStrips3D::new([[[0.0, 0.0, 0.0], end]])
                        .with_radii([0.02_f32])
                        .with_colors([ARM_COLOR]),
                )?;
                rec.log_static(
                    paths::child(path, "joint"),
                    &Points3D::new([[0.0_f32, 0.0, 0.0]])
                        .with_radii([0.03_f32])
                        .with_colors([BODY_GREY]),
                )?;
            }
        }
    }
    Ok(())
}

/// The transforms of `pose`, each with its entity path, handed to `emit`.
pub(crate) fn pose_transforms(pose: &RobotPose, mut emit: impl FnMut(&'static str, &Transform3D)) {
    match *pose {
        RobotPose::Rigid { world_from_body } => {
            emit(paths::ROBOT, &to_transform(&world_from_body));
        }
        RobotPose::CartPole {
            cart_position_m,
            pole_angle_rad,
        } => {
            emit(
                paths::ROBOT,
                &Transform3D::from_translation([cart_position_m as f32, 0.0, 0.0]),
            );
            emit(paths::POLE, &to_transform(&cart_from_pole(pole_angle_rad)));
        }
        RobotPose::TwoLinkArm { q1_rad, q2_rad } => {
            emit(paths::LINK1, &to_transform(&base_from_link1(q1_rad)));
            emit(paths::LINK2, &to_transform(&elbow_from_link2(q2_rad)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::Point3;

    fn close(a: &Point3<f64>, b: &Point3<f64>) -> bool {
        (a - b).norm() < 1e-12
    }

    #[test]
    fn pole_tip_matches_model_convention() {
        let (l, theta) = (0.8, 0.3_f64);
        let tip = cart_from_pole(theta) * Point3::new(0.0, 0.0, l);
        assert!(close(
            &tip,
            &Point3::new(-l * theta.sin(), 0.0, l * theta.cos())
        ));
    }

    #[test]
    fn arm_tip_matches_planar_forward_kinematics() {
        let (l1, l2, q1, q2) = (1.0, 0.7, 0.4_f64, -1.1_f64);
        let tip = base_from_link1(q1)
            * link1_from_elbow(l1)
            * elbow_from_link2(q2)
            * Point3::new(l2, 0.0, 0.0);
        let x = l1 * q1.cos() + l2 * (q1 + q2).cos();
        let y = l1 * q1.sin() + l2 * (q1 + q2).sin();
        // Arm plane (x, y) drawn as world (x, z).
        assert!(close(&tip, &Point3::new(x, 0.0, y)));
    }

    #[test]
    fn rotors_sit_on_the_diagonals() {
        let r = rotor_positions(0.2);
        let d = 0.2 / 2f64.sqrt();
        assert!((r[0] - Vector3::new(d, d, 0.0)).norm() < 1e-12);
        assert!((r[1] - Vector3::new(-d, d, 0.0)).norm() < 1e-12);
        assert!((r[2] - Vector3::new(-d, -d, 0.0)).norm() < 1e-12);
        assert!((r[3] - Vector3::new(d, -d, 0.0)).norm() < 1e-12);
    }
}
