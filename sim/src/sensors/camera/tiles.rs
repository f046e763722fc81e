//! Screen-space culling: which objects each image tile can see.

use nalgebra::{Isometry3, Point3};
use recede_msg::CameraIntrinsics;

use super::packet::TILE;
use crate::world::World;

/// Per image tile, the objects whose projected bounding box touches it.
/// Reused across frames, so steady-state rendering does not allocate.
#[derive(Debug, Clone, Default)]
pub struct Tiles {
    cols: usize,
    /// Per tile: (lower bound on the distance from the camera, object),
    /// nearest first.
    lists: Vec<Vec<(f32, u32)>>,
}

impl Tiles {
    /// The objects of tile `i` (row-major over tiles), nearest first.
    pub fn list(&self, i: usize) -> &[(f32, u32)] {
        &self.lists[i]
    }

    /// Lists, for every tile, the objects whose projected bounding box
    /// touches it (with a one-pixel margin).
    pub fn fill(
        &mut self,
        k: &CameraIntrinsics,
        world: &World,
        world_from_camera: &Isometry3<f64>,
    ) {
        let (w, h) = (k.width_px as usize, k.height_px as usize);
        self.cols = w.div_ceil(TILE);
        let rows = h.div_ceil(TILE);
        self.lists.resize_with(self.cols * rows, Vec::new);
        self.lists.iter_mut().for_each(Vec::clear);
        let camera_from_world = world_from_camera.inverse();
        let eye = Point3::from(world_from_camera.translation.vector);
        for (i, o) in world.objects().iter().enumerate() {
            let b = o.shape.aabb();
            // Distance from the eye to the box: no hit on the object is nearer
            // (rounded down to stay a lower bound in f32).
            let gap = (eye.coords - eye.coords.sup(&b.min.coords).inf(&b.max.coords)).norm();
            let near = (gap as f32) * (1.0 - 1e-6);
            let mut umin = f64::INFINITY;
            let mut umax = f64::NEG_INFINITY;
            let mut vmin = f64::INFINITY;
            let mut vmax = f64::NEG_INFINITY;
            let mut behind = 0;
            let mut straddles = false;
            for c in 0..8 {
                let p = Point3::new(
                    if c & 1 == 0 { b.min.x } else { b.max.x },
                    if c & 2 == 0 { b.min.y } else { b.max.y },
                    if c & 4 == 0 { b.min.z } else { b.max.z },
                );
                let q = camera_from_world * p;
                if q.z <= 1e-6 {
                    behind += 1;
                    straddles = true;
                    continue;
                }
                let x = k.fx_px * q.x / q.z + k.cx_px;
                let y = k.fy_px * q.y / q.z + k.cy_px;
                umin = umin.min(x);
                umax = umax.max(x);
                vmin = vmin.min(y);
                vmax = vmax.max(y);
            }
            if behind == 8 {
                continue;
            }
            let (u0, u1, v0, v1) = if straddles {
                // Part of the box is behind the camera: its image is unbounded.
                (0, w - 1, 0, h - 1)
            } else {
                if umax < -1.0 || vmax < -1.0 || umin > w as f64 + 1.0 || vmin > h as f64 + 1.0 {
                    continue;
                }
                let clamp = |x: f64, n: usize| (x.max(0.0) as usize).min(n - 1);
                (
                    clamp(umin - 1.0, w),
                    clamp(umax + 1.0, w),
                    clamp(vmin - 1.0, h),
                    clamp(vmax + 1.0, h),
                )
            };
            for ty in v0 / TILE..=v1 / TILE {
                for tx in u0 / TILE..=u1 / TILE {
                    self.lists[ty * self.cols + tx].push((near, i as u32));
                }
            }
        }
        for list in &mut self.lists {
            list.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        }
    }
}
