use nalgebra::{Point2, Vector3};
use serde::{Deserialize, Serialize};

/// Pinhole intrinsics of a camera (no distortion), in pixels, for the
/// optical frame (x right, y down, z forward).
///
/// Pixel `(u, v)` covers `[u, u+1) x [v, v+1)`; its centre is at
/// `(u + 0.5, v + 0.5)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CameraIntrinsics {
    pub width_px: u32,
    pub height_px: u32,
    pub fx_px: f64,
    pub fy_px: f64,
    pub cx_px: f64,
    pub cy_px: f64,
}

impl CameraIntrinsics {
    /// Intrinsics with a horizontal field of view `hfov_rad`, square pixels
    /// and the principal point at the image centre.
    pub fn from_hfov(width_px: u32, height_px: u32, hfov_rad: f64) -> Self {
        let f = 0.5 * width_px as f64 / (0.5 * hfov_rad).tan();
        Self {
            width_px,
            height_px,
            fx_px: f,
            fy_px: f,
            cx_px: 0.5 * width_px as f64,
            cy_px: 0.5 * height_px as f64,
        }
    }

    /// The number of pixels.
    pub fn pixel_count(&self) -> usize {
        self.width_px as usize * self.height_px as usize
    }

    /// Direction through the centre of pixel `(u, v)` in the optical frame,
    /// scaled so that its z component is 1 (so `depth * ray` is the point).
    pub fn ray(&self, u: u32, v: u32) -> Vector3<f64> {
        Vector3::new(
            (u as f64 + 0.5 - self.cx_px) / self.fx_px,
            (v as f64 + 0.5 - self.cy_px) / self.fy_px,
            1.0,
        )
    }

    /// Projects a point in the optical frame to continuous pixel
    /// coordinates; `None` behind the camera.
    pub fn project(&self, p_camera: &Vector3<f64>) -> Option<Point2<f64>> {
        if p_camera.z <= 0.0 {
            return None;
        }
        Some(Point2::new(
            self.fx_px * p_camera.x / p_camera.z + self.cx_px,
            self.fy_px * p_camera.y / p_camera.z + self.cy_px,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ray_through_pixel_projects_back_to_its_centre() {
        let k = CameraIntrinsics::from_hfov(160, 120, 1.2);
        let p = k.ray(17, 90) * 3.5;
        let px = k.project(&p).expect("in front");
        assert!((px.x - 17.5).abs() < 1e-12 && (px.y - 90.5).abs() < 1e-12);
        assert!(k.project(&Vector3::new(0.0, 0.0, -1.0)).is_none());
    }
}
