//! Ray-cast cameras: one ray per pixel centre against the world, then
//! colour (simple Lambert shading), depth or surface temperature per pixel.

use nalgebra::{Isometry3, Point3, Vector3};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use recede_msg::{CameraIntrinsics, DepthImage, Image, InfraredImage, RgbImage};

use super::Faults;
use crate::world::{Ray, Surface, World};

/// Farthest distance a camera ray is followed, m.
pub const CAMERA_FAR_M: f64 = 1000.0;
/// Direction towards the sun, world frame (unit), for shading.
const SUN: [f64; 3] = [0.3651483716701107, 0.18257418583505536, 0.912870929175277];
const AMBIENT_LIGHT: f32 = 0.35;

/// What one pixel's ray met.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PixelHit {
    /// Distance along the optical axis, m (infinite for no hit).
    pub depth_m: f32,
    /// `u32::MAX` for sky, `u32::MAX - 1` for the ground, else the object.
    pub surface: u32,
    /// Cosine between the surface normal and the sun direction (>= 0).
    pub sun_cos: f32,
}

const SKY: u32 = u32::MAX;
const GROUND: u32 = u32::MAX - 1;

/// The rays of a pinhole camera, precomputed in the optical frame.
#[derive(Debug, Clone)]
pub struct CameraRays {
    pub intrinsics: CameraIntrinsics,
    /// Unit direction per pixel, row-major.
    dirs: Vec<Vector3<f64>>,
}

impl CameraRays {
    pub fn new(intrinsics: CameraIntrinsics) -> Self {
        let (w, h) = (intrinsics.width_px, intrinsics.height_px);
        let dirs = (0..h)
            .flat_map(|v| (0..w).map(move |u| (u, v)))
            .map(|(u, v)| intrinsics.ray(u, v).normalize())
            .collect();
        Self { intrinsics, dirs }
    }

    /// Casts every pixel's ray from `world_from_camera` into `out`.
    pub fn cast(&self, world: &World, world_from_camera: &Isometry3<f64>, out: &mut Vec<PixelHit>) {
        out.clear();
        out.reserve(self.dirs.len());
        let origin = Point3::from(world_from_camera.translation.vector);
        let rot = world_from_camera.rotation.to_rotation_matrix();
        let sun = Vector3::from(SUN);
        for d in &self.dirs {
            let dir = rot * d;
            let ray = Ray {
                origin,
                dir,
                inv_dir: dir.map(|c| 1.0 / c),
            };
            out.push(match world.cast(&ray, CAMERA_FAR_M) {
                None => PixelHit {
                    depth_m: f32::INFINITY,
                    surface: SKY,
                    sun_cos: 0.0,
                },
                Some(h) => PixelHit {
                    depth_m: (h.hit.t * d.z) as f32,
                    surface: match h.surface {
                        Surface::Ground => GROUND,
                        Surface::Object(i) => i as u32,
                    },
                    sun_cos: h.hit.normal.dot(&sun).max(0.0) as f32,
                },
            });
        }
    }
}

fn surface(id: u32) -> Option<Surface> {
    match id {
        SKY => None,
        GROUND => Some(Surface::Ground),
        i => Some(Surface::Object(i as usize)),
    }
}

fn gauss(rng: &mut ChaCha8Rng) -> f32 {
    rng.sample::<f32, _>(StandardNormal)
}

/// Colour with Lambert shading under a fixed sun plus ambient light.
pub fn rgb(
    k: &CameraIntrinsics,
    hits: &[PixelHit],
    world: &World,
    noise_std_levels: f32,
    rng: &mut ChaCha8Rng,
    faults: &mut Faults,
) -> RgbImage {
    let data = hits
        .iter()
        .map(|p| {
            let (base, light) = match surface(p.surface) {
                None => (world.sky_color_rgb, 1.0),
                Some(s) => (
                    world.color_rgb(s),
                    AMBIENT_LIGHT + (1.0 - AMBIENT_LIGHT) * p.sun_cos,
                ),
            };
            let outlier = faults.scalar_outlier().unwrap_or(0.0) as f32;
            base.map(|c| {
                let n = if noise_std_levels > 0.0 {
                    gauss(rng) * noise_std_levels
                } else {
                    0.0
                };
                (c as f32 * light + n + outlier).round().clamp(0.0, 255.0) as u8
            })
        })
        .collect();
    Image {
        width_px: k.width_px,
        height_px: k.height_px,
        data,
    }
}

/// Depth along the optical axis with noise `a + b z^2`; `NaN` outside
/// `[min_range_m, max_range_m]` or where nothing was hit.
pub fn depth(
    k: &CameraIntrinsics,
    hits: &[PixelHit],
    range_m: (f64, f64),
    noise: (f64, f64),
    rng: &mut ChaCha8Rng,
    faults: &mut Faults,
) -> DepthImage {
    let (min, max) = (range_m.0 as f32, range_m.1 as f32);
    let (a, b) = (noise.0 as f32, noise.1 as f32);
    let data = hits
        .iter()
        .map(|p| {
            let z = p.depth_m;
            if !(z >= min && z <= max) {
                return f32::NAN;
            }
            let std = a + b * z * z;
            let n = if std > 0.0 { gauss(rng) * std } else { 0.0 };
            let outlier = faults.scalar_outlier().unwrap_or(0.0) as f32;
            let d = z + n + outlier;
            if d > 0.0 {
                d
            } else {
                f32::NAN
            }
        })
        .collect();
    Image {
        width_px: k.width_px,
        height_px: k.height_px,
        data,
    }
}

/// Surface temperature per pixel, K; the sky reads the world's sky
/// temperature.
pub fn infrared(
    k: &CameraIntrinsics,
    hits: &[PixelHit],
    world: &World,
    noise_std_k: f32,
    rng: &mut ChaCha8Rng,
    faults: &mut Faults,
) -> InfraredImage {
    let data = hits
        .iter()
        .map(|p| {
            let t = surface(p.surface).map_or(world.sky_temperature_k, |s| world.temperature_k(s))
                as f32;
            let n = if noise_std_k > 0.0 {
                gauss(rng) * noise_std_k
            } else {
                0.0
            };
            let outlier = faults.scalar_outlier().unwrap_or(0.0) as f32;
            t + n + outlier
        })
        .collect();
    Image {
        width_px: k.width_px,
        height_px: k.height_px,
        data,
    }
}

/// The last cast, reused by another camera at the same instant with the
/// same pose and intrinsics (for example the colour and depth streams of
/// one RGB-D sensor). Keyed on exact bits, so it never changes a result.
#[derive(Debug, Clone, Default)]
pub struct RenderCache {
    key: Option<Vec<u64>>,
    pub hits: Vec<PixelHit>,
}

impl RenderCache {
    /// The hits for this camera now, casting only when the key changed.
    pub fn hits(
        &mut self,
        rays: &CameraRays,
        world: &World,
        world_from_camera: &Isometry3<f64>,
    ) -> &[PixelHit] {
        let k = &rays.intrinsics;
        let t = &world_from_camera.translation.vector;
        let q = world_from_camera.rotation.coords;
        let key: Vec<u64> = [
            world.time_secs(),
            k.width_px as f64,
            k.height_px as f64,
            k.fx_px,
            k.fy_px,
            k.cx_px,
            k.cy_px,
            t.x,
            t.y,
            t.z,
            q.x,
            q.y,
            q.z,
            q.w,
        ]
        .iter()
        .map(|v| v.to_bits())
        .collect();
        if self.key.as_ref() != Some(&key) {
            rays.cast(world, world_from_camera, &mut self.hits);
            self.key = Some(key);
        }
        &self.hits
    }

    /// Forgets the last cast (call when the world changes in place).
    pub fn invalidate(&mut self) {
        self.key = None;
    }
}
