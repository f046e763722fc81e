//! A rigid robot's collision body as a few balls about its position point:
//! what the simulator's contact check counts as a collision, and what
//! keep-out rows measured from the body (`[perception.constraints]
//! body_extent`) keep clear. A quadrotor passing a pillar side-on reaches
//! 0.19 m towards it, diagonally 0.24 m: a single margin must assume the
//! worst, the balls need not.

use nalgebra::{Quaternion, UnitQuaternion, Vector3};

use super::robot::{Body, Pose};

/// Most balls in a rigid body ([`Body::balls`]): a quadrotor's hub and rotors.
pub const MAX_BODY_BALLS: usize = 5;

/// One ball of a body: its centre relative to the position point (world
/// frame) and its radius, m.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct BodyBall {
    pub offset_m: Vector3<f64>,
    pub radius_m: f64,
}

/// The balls of one body at one pose ([`Body::balls`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BodyBalls {
    balls: [BodyBall; MAX_BODY_BALLS],
    len: usize,
}

impl BodyBalls {
    pub fn as_slice(&self) -> &[BodyBall] {
        &self.balls[..self.len]
    }

    fn push(&mut self, offset_m: Vector3<f64>, radius_m: f64) {
        self.balls[self.len] = BodyBall { offset_m, radius_m };
        self.len += 1;
    }
}

impl Body {
    /// The body's balls at `pose`; `None` for bodies without a rigid pose
    /// (a cart-pole, a planar arm), which keep-out rows do not act on.
    ///
    /// A quadrotor: its hub and one ball per rotor (on the diagonals, as
    /// the viewer draws them), each of the rotor's radius. A ground box:
    /// three balls of half its width along its length, at half its height
    /// (the chassis' rounded outline, inside the drawn box). A degenerate
    /// attitude (a wild state) is taken level.
    pub fn balls(&self, pose: &Pose) -> Option<BodyBalls> {
        let Pose::Rigid { attitude, .. } = pose else {
            return None;
        };
        let q = Quaternion::new(attitude[0], attitude[1], attitude[2], attitude[3]);
        let rotation = if q.norm().is_finite() && q.norm() > 1e-9 {
            UnitQuaternion::from_quaternion(q)
        } else {
            UnitQuaternion::identity()
        };
        let mut out = BodyBalls {
            balls: [BodyBall::default(); MAX_BODY_BALLS],
            len: 0,
        };
        match *self {
            Body::Quadrotor {
                arm_length_m,
                rotor_radius_m,
            } => {
                out.push(Vector3::zeros(), rotor_radius_m);
                for i in 0..4 {
                    let a = std::f64::consts::FRAC_PI_4 + i as f64 * std::f64::consts::FRAC_PI_2;
                    let arm = Vector3::new(arm_length_m * a.cos(), arm_length_m * a.sin(), 0.0);
                    out.push(rotation * arm, rotor_radius_m);
                }
            }
            Body::GroundBox {
                length_m,
                width_m,
                height_m,
            } => {
                let radius = 0.5 * width_m;
                for k in [-1.0, 0.0, 1.0] {
                    let along = k * 0.5 * (length_m - width_m).max(0.0);
                    out.push(rotation * Vector3::new(along, 0.0, 0.5 * height_m), radius);
                }
            }
            Body::CartPole { .. } | Body::TwoLinkArm { .. } => return None,
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUAD: Body = Body::Quadrotor {
        arm_length_m: 0.17,
        rotor_radius_m: 0.068,
    };

    fn reach(body: &Body, pose: &Pose, d: &Vector3<f64>) -> f64 {
        body.balls(pose)
            .unwrap()
            .as_slice()
            .iter()
            .map(|b| b.offset_m.dot(d) + b.radius_m)
            .fold(f64::NEG_INFINITY, f64::max)
    }

    #[test]
    fn a_level_quadrotor_reaches_farther_diagonally_than_side_on() {
        let level = Pose::Rigid {
            position_m: [1.0, 2.0, 3.0],
            attitude: [1.0, 0.0, 0.0, 0.0],
        };
        let h = std::f64::consts::FRAC_1_SQRT_2;
        let diagonal = Vector3::new(h, h, 0.0);
        assert!((reach(&QUAD, &level, &Vector3::y()) - (0.17 * h + 0.068)).abs() < 1e-12);
        assert!((reach(&QUAD, &level, &diagonal) - (0.17 + 0.068)).abs() < 1e-12);
        assert!((reach(&QUAD, &level, &Vector3::z()) - 0.068).abs() < 1e-12);
        // A degenerate attitude is drawn level.
        let wild = Pose::Rigid {
            position_m: [0.0; 3],
            attitude: [0.0; 4],
        };
        assert_eq!(QUAD.balls(&wild), QUAD.balls(&level));
    }

    #[test]
    fn a_ground_box_turns_with_its_heading_and_articulated_bodies_have_no_balls() {
        let body = Body::GroundBox {
            length_m: 0.6,
            width_m: 0.5,
            height_m: 0.3,
        };
        // Heading +y: along world x it reaches half its width, along y
        // half its length.
        let pose = Pose::planar(0.0, 0.0, std::f64::consts::FRAC_PI_2);
        assert!((reach(&body, &pose, &Vector3::x()) - 0.25).abs() < 1e-12);
        assert!((reach(&body, &pose, &Vector3::y()) - 0.30).abs() < 1e-12);
        let cart = Body::CartPole {
            pole_length_m: 1.0,
            cart_width_m: 0.4,
            cart_height_m: 0.2,
        };
        assert!(cart.balls(&pose).is_none());
    }
}
