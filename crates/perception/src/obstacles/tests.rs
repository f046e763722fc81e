//! The depth path's shortcuts against the computation they replace, on
//! random scenes, cameras and poses: the same points (bearing steps
//! included) and the same clusters' members, to the bit.

use super::*;
use nalgebra::{Translation3, UnitQuaternion};
use proptest::prelude::*;
use rand::RngExt;
use rand_chacha::ChaCha8Rng;

/// Ground at z = 0, vertical cylinders `(x, y, radius, height)` and
/// spheres `(centre, radius)`.
struct Scene {
    cylinders: Vec<(f64, f64, f64, f64)>,
    spheres: Vec<(Vector3<f64>, f64)>,
}

impl Scene {
    fn random(rng: &mut ChaCha8Rng) -> Self {
        let at = |rng: &mut ChaCha8Rng| (rng.random_range(-9.0..9.0), rng.random_range(-9.0..9.0));
        Self {
            cylinders: (0..rng.random_range(0..12))
                .map(|_| {
                    let (x, y) = at(rng);
                    (
                        x,
                        y,
                        rng.random_range(0.05..1.0),
                        rng.random_range(0.3..4.0),
                    )
                })
                .collect(),
            spheres: (0..rng.random_range(0..4))
                .map(|_| {
                    let (x, y) = at(rng);
                    let c = Vector3::new(x, y, rng.random_range(0.5..3.0));
                    (c, rng.random_range(0.1..0.8))
                })
                .collect(),
        }
    }

    /// Distance along `d` from `o` to the nearest surface.
    fn cast(&self, o: &Vector3<f64>, d: &Vector3<f64>) -> Option<f64> {
        let mut best = (d.z < 0.0).then(|| -o.z / d.z);
        let mut take = |t: f64| {
            if t > 1e-6 && best.is_none_or(|b| t < b) {
                best = Some(t);
            }
        };
        for &(x, y, r, height) in &self.cylinders {
            let (ox, oy) = (o.x - x, o.y - y);
            let a = d.x * d.x + d.y * d.y;
            let b = 2.0 * (ox * d.x + oy * d.y);
            let disc = b * b - 4.0 * a * (ox * ox + oy * oy - r * r);
            if a > 1e-12 && disc >= 0.0 {
                let t = (-b - disc.sqrt()) / (2.0 * a);
                if (0.0..=height).contains(&(o.z + t * d.z)) {
                    take(t);
                }
            }
        }
        for &(c, r) in &self.spheres {
            let oc = o - c;
            let (b, dd) = (oc.dot(d), d.norm_squared());
            let disc = b * b - dd * (oc.norm_squared() - r * r);
            if disc >= 0.0 {
                take((-b - disc.sqrt()) / dd);
            }
        }
        best
    }

    fn render(
        &self,
        k: &CameraIntrinsics,
        pose: &Isometry3<f64>,
        rng: &mut ChaCha8Rng,
    ) -> DepthImage {
        let mut img = DepthImage::filled(k.width_px, k.height_px, f32::NAN);
        for v in 0..k.height_px {
            for u in 0..k.width_px {
                let d = pose.rotation * k.ray(u, v);
                if let Some(t) = self.cast(&pose.translation.vector, &d) {
                    let z = t * (1.0 + 0.003 * rng.random_range(-1.0..1.0));
                    img.data[(v * k.width_px + u) as usize] = z as f32;
                }
            }
        }
        img
    }
}

/// A camera 0.3 to 3 m up, any heading, pitched down up to 0.5 rad and
/// rolled a little (optical frame: z ahead, x right, y down).
fn pose(rng: &mut ChaCha8Rng) -> Isometry3<f64> {
    let flu_from_optical =
        UnitQuaternion::from_rotation_matrix(&nalgebra::Rotation3::from_matrix_unchecked(
            nalgebra::Matrix3::new(0.0, 0.0, 1.0, -1.0, 0.0, 0.0, 0.0, -1.0, 0.0),
        ));
    let r = UnitQuaternion::from_euler_angles(
        rng.random_range(-0.1..0.1),
        rng.random_range(-0.1..0.5),
        rng.random_range(-3.2..3.2),
    );
    let t = Translation3::new(
        rng.random_range(-3.0..3.0),
        rng.random_range(-3.0..3.0),
        rng.random_range(0.3..3.0),
    );
    Isometry3::from_parts(t, r * flu_from_optical)
}

/// The points of one depth frame as they were taken before the shortcuts:
/// every sampled pixel's ray from `CameraIntrinsics::ray`, its bearing
/// step before the ground, height and grid tests (with `floor`).
fn reference_points(
    m: &ObstacleMapper,
    image: &DepthImage,
    k: &CameraIntrinsics,
    world_from_camera: &Isometry3<f64>,
) -> Vec<Pt> {
    let c = &m.config;
    let stride = c.pixel_stride as usize;
    let (w, h) = (image.width_px as usize, image.height_px as usize);
    let o = world_from_camera.translation.vector;
    let origin = (o.x - c.grid_half_extent_m, o.y - c.grid_half_extent_m);
    let last_u = (w - 1) / stride * stride;
    let mut points = Vec::new();
    for v in (0..h).step_by(stride) {
        for u in (0..w).step_by(stride) {
            let z = image.data[v * w + u] as f64;
            if !(z.is_finite() && z > 0.0 && z <= c.max_range_m) {
                continue;
            }
            let ray = k.ray(u as u32, v as u32);
            let p = world_from_camera * Point3::from(ray * z);
            let side = Vector3::new(0.5 * stride as f64 / k.fx_px, 0.0, 0.0);
            let (a, b) = (
                world_from_camera.rotation * (ray - side),
                world_from_camera.rotation * (ray + side),
            );
            let step = crate::kalman::wrap_angle(b.y.atan2(b.x) - a.y.atan2(a.x)).abs();
            let row = &image.data[v * w..(v + 1) * w];
            let neighbour = |du: isize| {
                let n = u as isize + du * stride as isize;
                (0..w as isize).contains(&n).then(|| row[n as usize] as f64)
            };
            let cut = [
                hidden_edge(z, neighbour(-1), c.max_range_m),
                hidden_edge(z, neighbour(1), c.max_range_m),
            ];
            if p.z < c.ground_height_m + c.ground_tolerance_m || p.z > c.max_height_m {
                continue;
            }
            if points.len() == m.points.capacity() {
                continue;
            }
            let i = ((p.x - origin.0) / c.cell_size_m).floor();
            let j = ((p.y - origin.1) / c.cell_size_m).floor();
            if !(i >= 0.0 && j >= 0.0 && (i as usize) < m.side && (j as usize) < m.side) {
                continue;
            }
            points.push(Pt {
                p: p.coords.map(|v| v as f32),
                cell: (j as usize * m.side + i as usize) as u32,
                border: u == 0 || u == last_u,
                row: v as u32,
                half_step: (0.5 * step) as f32,
                cut,
                column: u as u32,
            });
        }
    }
    points
}

/// The frame's points equal the reference's (their bearing steps filled
/// in, as a fitted cluster's are), and each cluster's members are the
/// points of its cells in point order, as one scan per cluster found them.
#[test]
fn depth_points_and_members_equal_the_reference() {
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
    let (points, clusters, detections) = (
        AtomicUsize::new(0),
        AtomicUsize::new(0),
        AtomicUsize::new(0),
    );
    proptest!(ProptestConfig::with_cases(64), |(seed: u64, stride in 1u32..4, cylinders_only: bool)| {
        let mut rng = crate::registration::testing::rng(seed);
        let k = CameraIntrinsics::from_hfov(
            rng.random_range(40..=160),
            rng.random_range(30..=120),
            rng.random_range(1.0..1.7),
        );
        let config = ObstacleConfig { pixel_stride: stride, ..ObstacleConfig::default() };
        let mut m = ObstacleMapper::new(&config, cylinders_only, ObstacleMapper::points_per_image(&config, &k));
        let scene = Scene::random(&mut rng);
        for frame in 0..3 {
            let pose = pose(&mut rng);
            let image = scene.render(&k, &pose, &mut rng);
            m.depth_frame(frame as f64 / 30.0, &image, &k, &pose);
            let reference = reference_points(&m, &image, &k, &pose);
            let fitted: Vec<bool> = m.points.iter().map(|p| !p.half_step.is_nan()).collect();
            m.members.clear();
            m.members.extend(0..m.points.len() as u32);
            m.fill_half_steps();
            prop_assert_eq!(format!("{:?}", m.points), format!("{reference:?}"));
            let n = m.cluster_ends.len() - 1;
            for label in 1..=n {
                let old: Vec<u32> = (0..m.points.len() as u32)
                    .filter(|&i| m.cells[m.points[i as usize].cell as usize].label == label as u32)
                    .collect();
                let group = m.cluster_ends[label - 1] as usize..m.cluster_ends[label] as usize;
                prop_assert_eq!(&m.by_cluster[group], &old[..]);
            }
            points.fetch_add(fitted.iter().filter(|f| **f).count(), Relaxed);
            clusters.fetch_add(n, Relaxed);
            detections.fetch_add(m.detections.len(), Relaxed);
        }
    });
    // The cases fit clusters: points with their steps used, detections.
    let (points, clusters, detections) = (
        points.into_inner(),
        clusters.into_inner(),
        detections.into_inner(),
    );
    assert!(
        points > 5000 && clusters > 100 && detections > 40,
        "{points} {clusters} {detections}"
    );
}
