//! Synthetic scenes and sensor streams for the perception tests: a tiny
//! ray caster (ground plane, vertical cylinders, spheres) and seeded noise.
#![allow(dead_code)]

use nalgebra::{Isometry3, Point3, Translation3, UnitQuaternion, Vector3};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use recede_msg::{CameraIntrinsics, DepthImage, InfraredImage, SensorId, SensorInfo, SensorKind};

#[derive(Debug, Clone, Copy)]
pub enum Thing {
    /// Vertical cylinder standing on the ground: centre (x, y), radius, height.
    Cylinder {
        x: f64,
        y: f64,
        radius: f64,
        height: f64,
        temperature_k: f64,
    },
    Sphere {
        centre: Vector3<f64>,
        radius: f64,
        temperature_k: f64,
    },
}

pub const AMBIENT_K: f64 = 293.0;

/// Nearest hit along `o + t d` (t > 0): (t, temperature).
pub fn cast(scene: &[Thing], o: &Vector3<f64>, d: &Vector3<f64>) -> Option<(f64, f64)> {
    let mut best: Option<(f64, f64)> = None;
    let mut take = |t: f64, temp: f64| {
        if t > 1e-6 && best.is_none_or(|(b, _)| t < b) {
            best = Some((t, temp));
        }
    };
    if d.z < -1e-12 {
        take(-o.z / d.z, AMBIENT_K);
    }
    for thing in scene {
        match *thing {
            Thing::Cylinder {
                x,
                y,
                radius,
                height,
                temperature_k,
            } => {
                let (ox, oy) = (o.x - x, o.y - y);
                let a = d.x * d.x + d.y * d.y;
                let b = 2.0 * (ox * d.x + oy * d.y);
                let c = ox * ox + oy * oy - radius * radius;
                let disc = b * b - 4.0 * a * c;
                if a > 1e-12 && disc >= 0.0 {
                    let t = (-b - disc.sqrt()) / (2.0 * a);
                    let z = o.z + t * d.z;
                    if (0.0..=height).contains(&z) {
                        take(t, temperature_k);
                    }
                }
            }
            Thing::Sphere {
                centre,
                radius,
                temperature_k,
            } => {
                let oc = o - centre;
                let b = oc.dot(d);
                let c = oc.norm_squared() - radius * radius;
                let disc = b * b - d.norm_squared() * c;
                if disc >= 0.0 {
                    take((-b - disc.sqrt()) / d.norm_squared(), temperature_k);
                }
            }
        }
    }
    best
}

/// Optical frame of a camera at `position` looking along `yaw` (level).
pub fn world_from_camera(position: Vector3<f64>, yaw: f64, pitch_down: f64) -> Isometry3<f64> {
    let flu_from_optical =
        UnitQuaternion::from_rotation_matrix(&nalgebra::Rotation3::from_matrix_unchecked(
            nalgebra::Matrix3::new(0.0, 0.0, 1.0, -1.0, 0.0, 0.0, 0.0, -1.0, 0.0),
        ));
    let r = UnitQuaternion::from_euler_angles(0.0, pitch_down, yaw) * flu_from_optical;
    Isometry3::from_parts(Translation3::from(position), r)
}

/// Renders depth (z along the optical axis, NaN beyond `max_range`) with
/// Gaussian noise `noise_m`.
pub fn render_depth(
    scene: &[Thing],
    k: &CameraIntrinsics,
    pose: &Isometry3<f64>,
    max_range: f64,
    noise_m: f64,
    rng: &mut ChaCha8Rng,
) -> DepthImage {
    let mut img = DepthImage::filled(k.width_px, k.height_px, f32::NAN);
    let o = pose.translation.vector;
    for v in 0..k.height_px {
        for u in 0..k.width_px {
            let ray = k.ray(u, v);
            let d = pose.rotation * ray;
            if let Some((t, _)) = cast(scene, &o, &d) {
                // `ray` has unit z, so t is the optical depth.
                let z = t + rng.sample::<f64, _>(StandardNormal) * noise_m;
                if z <= max_range {
                    img.data[(v * k.width_px + u) as usize] = z as f32;
                }
            }
        }
    }
    img
}

/// Renders temperatures (sky at 250 K).
pub fn render_infrared(
    scene: &[Thing],
    k: &CameraIntrinsics,
    pose: &Isometry3<f64>,
    noise_k: f64,
    rng: &mut ChaCha8Rng,
) -> InfraredImage {
    let mut img = InfraredImage::filled(k.width_px, k.height_px, 250.0);
    let o = pose.translation.vector;
    for v in 0..k.height_px {
        for u in 0..k.width_px {
            let d = pose.rotation * k.ray(u, v);
            let t = cast(scene, &o, &d).map_or(250.0, |(_, t)| t);
            img.data[(v * k.width_px + u) as usize] =
                (t + rng.sample::<f64, _>(StandardNormal) * noise_k) as f32;
        }
    }
    img
}

pub fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

pub fn normal(rng: &mut ChaCha8Rng) -> f64 {
    rng.sample::<f64, _>(StandardNormal)
}

pub fn normal3(rng: &mut ChaCha8Rng) -> Vector3<f64> {
    Vector3::new(normal(rng), normal(rng), normal(rng))
}

pub fn sensor(
    id: u32,
    name: &str,
    kind: SensorKind,
    rate_hz: f64,
    body_from_sensor: Isometry3<f64>,
    intrinsics: Option<CameraIntrinsics>,
) -> SensorInfo {
    SensorInfo {
        id: SensorId(id),
        name: name.into(),
        kind,
        body_from_sensor,
        world_fixed: false,
        rate_hz,
        latency_secs: 0.0,
        intrinsics,
    }
}

pub fn point(v: Vector3<f64>) -> Point3<f64> {
    Point3::from(v)
}
