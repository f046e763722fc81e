//! Culling: which objects the rays of each image tile may meet.

use nalgebra::{Isometry3, Point3, Vector3};
use recede_msg::CameraIntrinsics;

use super::packet::TILE;
use super::BodyShape;
use crate::world::{Shape, World};

/// Per image tile, the objects its rays may meet.
/// Reused across frames, so steady-state rendering does not allocate.
#[derive(Debug, Clone, Default)]
pub struct Tiles {
    cols: usize,
    /// Per tile: (lower bound on the distance from the camera, object),
    /// nearest first.
    lists: Vec<Vec<(f32, u32)>>,
    /// Inward unit normals of the two planes bounding each tile column
    /// (and row) of rays.
    col_planes: Vec<[Vector3<f64>; 2]>,
    row_planes: Vec<[Vector3<f64>; 2]>,
    /// Scratch: whether the current object reaches each tile column.
    in_cols: Vec<bool>,
}

impl Tiles {
    /// The objects of tile `i` (row-major over tiles), nearest first.
    pub fn list(&self, i: usize) -> &[(f32, u32)] {
        &self.lists[i]
    }

    /// Lists, for every tile, the objects (then the body's capsules,
    /// numbered after them) that reach into the pyramid of its rays:
    /// between the planes through the eye and its first and last pixel
    /// columns, and between those through its first and last rows.
    pub fn fill(
        &mut self,
        k: &CameraIntrinsics,
        world: &World,
        body: BodyShape<'_>,
        world_from_camera: &Isometry3<f64>,
    ) {
        let (w, h) = (k.width_px as usize, k.height_px as usize);
        self.cols = w.div_ceil(TILE);
        let rows = h.div_ceil(TILE);
        self.lists.resize_with(self.cols * rows, Vec::new);
        self.lists.iter_mut().for_each(Vec::clear);
        fill_planes(&mut self.col_planes, self.cols, w, k.fx_px, k.cx_px, 0);
        fill_planes(&mut self.row_planes, rows, h, k.fy_px, k.cy_px, 1);
        let camera_from_world = world_from_camera.inverse();
        let eye = Point3::from(world_from_camera.translation.vector);
        let objects = world.objects().iter().map(|o| {
            let b = o.shape.aabb();
            (
                b.min.coords,
                b.max.coords,
                Bound::new(&o.shape, &camera_from_world),
            )
        });
        let capsules = body.segments().map(|(p, q)| {
            let (p, q) = (Vector3::from(p), Vector3::from(q));
            let r = Vector3::repeat(body.radius_m);
            let bound = Bound::Capsule {
                a: (camera_from_world * Point3::from(p)).coords,
                b: (camera_from_world * Point3::from(q)).coords,
                r: body.radius_m,
            };
            (p.inf(&q) - r, p.sup(&q) + r, bound)
        });
        for (i, (lo, hi, bound)) in objects.chain(capsules).enumerate() {
            // Distance from the eye to the box: no hit on the object is nearer
            // (rounded down to stay a lower bound in f32).
            let gap = (eye.coords - eye.coords.sup(&lo).inf(&hi)).norm();
            let near = (gap as f32) * (1.0 - 1e-6);
            let reaches = |p: &[Vector3<f64>; 2]| bound.reaches(&p[0]) && bound.reaches(&p[1]);
            self.in_cols.clear();
            self.in_cols.extend(self.col_planes.iter().map(reaches));
            for (ty, row) in self.row_planes.iter().enumerate() {
                if !reaches(row) {
                    continue;
                }
                for (tx, _) in self.in_cols.iter().enumerate().filter(|(_, &c)| c) {
                    self.lists[ty * self.cols + tx].push((near, i as u32));
                }
            }
        }
        for list in &mut self.lists {
            list.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        }
    }
}

/// The planes through the eye and the first and last pixel centres of each
/// of the `n` tiles along image `axis` (0: columns, 1: rows), whose pixel
/// centres are at `(p + 0.5 - c) / f` in the optical frame.
fn fill_planes(
    planes: &mut Vec<[Vector3<f64>; 2]>,
    n: usize,
    size: usize,
    f: f64,
    c: f64,
    axis: usize,
) {
    let slope = |p: usize| (p.min(size - 1) as f64 + 0.5 - c) / f;
    planes.clear();
    planes.extend((0..n).map(|i| {
        let mut first = Vector3::new(0.0, 0.0, -slope(i * TILE));
        let mut last = Vector3::new(0.0, 0.0, slope(i * TILE + TILE - 1));
        first[axis] = 1.0;
        last[axis] = -1.0;
        [first.normalize(), last.normalize()]
    }));
}

/// A solid's extent in the camera frame, for plane tests.
enum Bound {
    Sphere {
        c: Vector3<f64>,
        r: f64,
    },
    /// Centre and the three half-axes.
    Box {
        c: Vector3<f64>,
        axes: [Vector3<f64>; 3],
    },
    /// Centre, unit axis, radius and half height.
    Cylinder {
        c: Vector3<f64>,
        axis: Vector3<f64>,
        r: f64,
        half_height: f64,
    },
    /// The segment's ends and the radius.
    Capsule {
        a: Vector3<f64>,
        b: Vector3<f64>,
        r: f64,
    },
}

impl Bound {
    fn new(shape: &Shape, camera_from_world: &Isometry3<f64>) -> Self {
        let c = (camera_from_world * shape.center()).coords;
        let rot = |v: Vector3<f64>| camera_from_world.rotation * v;
        match *shape {
            Shape::Sphere { radius, .. } => Bound::Sphere { c, r: radius },
            Shape::Box {
                half_extents: h,
                yaw,
                ..
            } => {
                let (s, co) = yaw.rad.sin_cos();
                Bound::Box {
                    c,
                    axes: [
                        rot(Vector3::new(co, s, 0.0) * h.x),
                        rot(Vector3::new(-s, co, 0.0) * h.y),
                        rot(Vector3::z() * h.z),
                    ],
                }
            }
            Shape::Cylinder {
                radius,
                half_height,
                ..
            } => Bound::Cylinder {
                c,
                axis: rot(Vector3::z()),
                r: radius,
                half_height,
            },
        }
    }

    /// Whether some of the solid is on the positive side of the plane
    /// through the eye with unit normal `n` (with a margin for rounding).
    fn reaches(&self, n: &Vector3<f64>) -> bool {
        // The signed distance of the solid's farthest point along `n`, and
        // the size of the numbers it came from (for the margin).
        let (far, size) = match self {
            Bound::Sphere { c, r } => (n.dot(c) + r, c.norm()),
            Bound::Box { c, axes } => (
                n.dot(c) + axes.iter().map(|a| n.dot(a).abs()).sum::<f64>(),
                c.norm(),
            ),
            Bound::Cylinder {
                c,
                axis,
                r,
                half_height,
            } => {
                let along = n.dot(axis);
                let extent = half_height * along.abs() + r * (1.0 - along * along).max(0.0).sqrt();
                (n.dot(c) + extent, c.norm())
            }
            // The segment's farther end, plus the radius.
            Bound::Capsule { a, b, r } => (n.dot(a).max(n.dot(b)) + r, a.norm().max(b.norm())),
        };
        far >= -1e-6 * (1.0 + size)
    }
}
