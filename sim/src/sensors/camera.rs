//! Ray-cast cameras: one ray per pixel centre against the world, then
//! colour (simple Lambert shading), depth or surface temperature per pixel.

use nalgebra::{Isometry3, Point3, Vector3};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use recede_msg::{CameraIntrinsics, DepthImage, Image, InfraredImage, RgbImage};

use super::gauss::FastGauss;
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
    ///
    /// Culling: each object's bounding box is projected into the image and
    /// the object is listed in every tile of `TILE` x `TILE` pixels its
    /// footprint touches; a pixel's ray is tested against the ground and
    /// its tile's objects only.
    pub fn cast(
        &self,
        world: &World,
        world_from_camera: &Isometry3<f64>,
        tiles: &mut Tiles,
        out: &mut Vec<PixelHit>,
    ) {
        out.clear();
        out.reserve(self.dirs.len());
        let k = &self.intrinsics;
        let (w, h) = (k.width_px as usize, k.height_px as usize);
        tiles.fill(k, world, world_from_camera);
        let origin = Point3::from(world_from_camera.translation.vector);
        let rot = world_from_camera.rotation.to_rotation_matrix();
        let sun = Vector3::from(SUN);
        for v in 0..h {
            for u in 0..w {
                let d = &self.dirs[v * w + u];
                let dir = rot * d;
                let ray = Ray { origin, dir };
                let hit = world.cast_among(&ray, CAMERA_FAR_M, tiles.at(u, v));
                out.push(match hit {
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
}

/// Side of a culling tile, pixels.
const TILE: usize = 8;

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
    fn at(&self, u: usize, v: usize) -> &[(f32, u32)] {
        &self.lists[(v / TILE) * self.cols + u / TILE]
    }

    fn fill(&mut self, k: &CameraIntrinsics, world: &World, world_from_camera: &Isometry3<f64>) {
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

fn surface(id: u32) -> Option<Surface> {
    match id {
        SKY => None,
        GROUND => Some(Surface::Ground),
        i => Some(Surface::Object(i as usize)),
    }
}

/// Per-pixel noise comes from a fast generator seeded once per frame from
/// the sensor's own stream, so it stays deterministic and per-sensor.
fn pixel_rng(rng: &mut ChaCha8Rng) -> FastGauss {
    FastGauss::new(Xoshiro256PlusPlus::seed_from_u64(rng.random()))
}

#[inline]
fn gauss(rng: &mut FastGauss) -> f32 {
    rng.next()
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
    let rng = &mut pixel_rng(rng);
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
    let rng = &mut pixel_rng(rng);
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
    let rng = &mut pixel_rng(rng);
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
    tiles: Tiles,
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
            rays.cast(world, world_from_camera, &mut self.tiles, &mut self.hits);
            self.key = Some(key);
        }
        &self.hits
    }

    /// Forgets the last cast (call when the world changes in place).
    pub fn invalidate(&mut self) {
        self.key = None;
    }
}
