//! A continuum arm's shape as a world-fixed depth camera sees it: every
//! pixel whose depth back-projects into the arm's workspace (the ball the
//! arm can reach, about its base) is a point on the rod's surface facing
//! the camera, in the world frame. Nothing is fitted: the points are what
//! the recording draws beside the true rod, and what a shape estimator
//! would start from.
//!
//! The buffer is sized once ([`ArmShape::new`]); a frame with more arm
//! pixels than it holds keeps the first ones in row order and counts the
//! rest ([`ArmShape::overflow`]), so a frame never allocates.

use nalgebra::{Isometry3, Point3};
use recede_msg::{CameraIntrinsics, DepthImage};

/// Back-projects a world-fixed depth camera's images into arm points.
#[derive(Debug, Clone)]
pub struct ArmShape {
    intrinsics: CameraIntrinsics,
    world_from_camera: Isometry3<f64>,
    centre: Point3<f64>,
    radius_m: f64,
    points: Vec<[f64; 3]>,
    overflow: u64,
}

impl ArmShape {
    /// For a camera with `intrinsics` at `world_from_camera` (its optical
    /// frame: x right, y down, z forward); pixels that land within
    /// `radius_m` of `centre` are the arm's; at most `capacity` a frame.
    pub fn new(
        intrinsics: CameraIntrinsics,
        world_from_camera: Isometry3<f64>,
        centre: Point3<f64>,
        radius_m: f64,
        capacity: usize,
    ) -> Self {
        Self {
            intrinsics,
            world_from_camera,
            centre,
            radius_m,
            points: Vec::with_capacity(capacity),
            overflow: 0,
        }
    }

    /// The arm's points in `depth` (which must be this camera's: an image
    /// of another size gives none), replacing the last frame's.
    pub fn update(&mut self, depth: &DepthImage) -> &[[f64; 3]] {
        self.points.clear();
        let k = &self.intrinsics;
        if depth.width_px != k.width_px || depth.height_px != k.height_px {
            return &self.points;
        }
        let r2 = self.radius_m * self.radius_m;
        for (i, &z) in depth.data.iter().enumerate() {
            // NaN (no return, out of range) is not positive either.
            if z.is_nan() || z <= 0.0 {
                continue;
            }
            let (u, v) = (i as u32 % k.width_px, i as u32 / k.width_px);
            // `ray` has unit z: the depth is along the optical axis.
            let p = self.world_from_camera * Point3::from(k.ray(u, v) * f64::from(z));
            if (p - self.centre).norm_squared() > r2 {
                continue;
            }
            if self.points.len() == self.points.capacity() {
                self.overflow += 1;
                continue;
            }
            self.points.push(p.coords.into());
        }
        &self.points
    }

    /// The last frame's points, world frame.
    pub fn points(&self) -> &[[f64; 3]] {
        &self.points
    }

    /// Arm pixels left out for want of room, over every frame so far.
    pub fn overflow(&self) -> u64 {
        self.overflow
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::{Translation3, UnitQuaternion, Vector3};

    /// A vertical rod of radius `r` at x = 0.1, y = 0.5 seen from the
    /// origin along +y, drawn by hand: each pixel's ray against the
    /// cylinder, depth along the axis; a far wall behind it.
    #[test]
    fn points_on_the_rod_and_none_of_the_wall() {
        let k = CameraIntrinsics::from_hfov(40, 30, 1.0);
        let pose = Isometry3::from_parts(
            Translation3::new(0.0, 0.0, -0.2),
            UnitQuaternion::from_euler_angles(-std::f64::consts::FRAC_PI_2, 0.0, 0.0),
        );
        let (c, r) = (Vector3::new(0.1, 0.5, 0.0), 0.02);
        let mut depth = DepthImage::filled(k.width_px, k.height_px, f32::NAN);
        let mut rod = 0;
        for v in 0..k.height_px {
            for u in 0..k.width_px {
                let ray = k.ray(u, v);
                let d = pose.rotation * ray.normalize();
                let o = pose.translation.vector;
                // |(o + t d - c)_xy| = r.
                let (w, dxy) = ((o - c).xy(), d.xy());
                let (a, b, cc) = (dxy.norm_squared(), w.dot(&dxy), w.norm_squared() - r * r);
                let t = (-b - (b * b - a * cc).sqrt()) / a;
                let z = if t.is_finite() {
                    rod += 1;
                    t * ray.normalize().z
                } else {
                    // The wall at y = 2: out of the workspace.
                    (2.0 - o.y) / d.y * ray.normalize().z
                };
                depth.data[(v * k.width_px + u) as usize] = z as f32;
            }
        }
        let mut shape = ArmShape::new(k, pose, Point3::new(0.1, 0.5, -0.2), 0.5, 4096);
        let points = shape.update(&depth).to_vec();
        assert_eq!(points.len(), rod);
        assert!(rod > 20, "{rod}");
        for p in &points {
            let off = (Vector3::from(*p) - c).xy().norm();
            assert!((off - r).abs() < 1e-5, "{p:?}: {off}");
        }
        // A small buffer keeps what fits and counts the rest.
        let mut small = ArmShape::new(k, pose, Point3::new(0.1, 0.5, -0.2), 0.5, 10);
        assert_eq!(small.update(&depth).len(), 10);
        assert_eq!(small.overflow(), rod as u64 - 10);
    }
}
