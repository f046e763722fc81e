//! From the cast to images: colour (Lambert shading), depth and surface
//! temperature per pixel, each with its noise and outliers.

use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use recede_msg::{CameraIntrinsics, DepthImage, Image, InfraredImage, RgbImage};

use super::packet::{GROUND, SKY};
use super::PixelHit;
use crate::sensors::gauss::FastGauss;
use crate::sensors::Faults;
use crate::world::{Surface, World};

const AMBIENT_LIGHT: f32 = 0.35;

/// Per-pixel noise comes from a fast generator seeded once per frame from
/// the sensor's own stream, so it stays deterministic and per-sensor.
fn pixel_rng(rng: &mut ChaCha8Rng) -> FastGauss {
    FastGauss::new(Xoshiro256PlusPlus::seed_from_u64(rng.random()))
}

/// A per-frame table of one property of every surface: the objects in
/// order, then the ground, then the sky; indexed by [`PixelHit::surface`]
/// without a match per pixel.
struct Palette<T>(Vec<T>);

impl<T: Copy> Palette<T> {
    fn new(world: &World, of: impl Fn(Surface) -> T, sky: T) -> Self {
        let objects = (0..world.objects().len()).map(|i| of(Surface::Object(i)));
        Self(objects.chain([of(Surface::Ground), sky]).collect())
    }

    #[inline]
    fn get(&self, id: u32) -> T {
        let n = self.0.len() - 2;
        let i = match id {
            SKY => n + 1,
            GROUND => n,
            i => (i as usize).min(n + 1),
        };
        self.0[i]
    }
}

/// `Some` outlier per pixel only when outliers are configured, so the
/// common case costs no call (and draws nothing, as before).
#[inline]
fn outlier(faults: &mut Faults, enabled: bool) -> f32 {
    if enabled {
        faults.scalar_outlier().unwrap_or(0.0) as f32
    } else {
        0.0
    }
}

fn image<P>(k: &CameraIntrinsics, data: Vec<P>) -> Image<P> {
    Image {
        width_px: k.width_px,
        height_px: k.height_px,
        data,
    }
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
    let g = &mut pixel_rng(rng);
    let colour = |c: [u8; 3]| c.map(f32::from);
    let palette = Palette::new(
        world,
        |s| colour(world.color_rgb(s)),
        colour(world.sky_color_rgb),
    );
    let outliers = faults.outliers.probability > 0.0;
    let noisy = noise_std_levels > 0.0;
    let data = hits
        .iter()
        .map(|p| {
            let base = palette.get(p.surface);
            let light = if p.surface == SKY {
                1.0
            } else {
                AMBIENT_LIGHT + (1.0 - AMBIENT_LIGHT) * p.sun_cos
            };
            let offset = outlier(faults, outliers);
            base.map(|c| {
                let n = if noisy {
                    g.next() * noise_std_levels
                } else {
                    0.0
                };
                // Rounds to the nearest level (half up) once clamped; cheaper
                // than `round`, which is a library call on baseline x86-64.
                ((c * light + n + offset).clamp(0.0, 255.0) + 0.5) as u8
            })
        })
        .collect();
    image(k, data)
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
    let g = &mut pixel_rng(rng);
    let outliers = faults.outliers.probability > 0.0;
    let data = hits
        .iter()
        .map(|p| {
            let z = p.depth_m;
            if !(z >= min && z <= max) {
                return f32::NAN;
            }
            let std = a + b * z * z;
            let n = if std > 0.0 { g.next() * std } else { 0.0 };
            let d = z + n + outlier(faults, outliers);
            if d > 0.0 {
                d
            } else {
                f32::NAN
            }
        })
        .collect();
    image(k, data)
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
    let g = &mut pixel_rng(rng);
    let palette = Palette::new(
        world,
        |s| world.temperature_k(s) as f32,
        world.sky_temperature_k as f32,
    );
    let outliers = faults.outliers.probability > 0.0;
    let noisy = noise_std_k > 0.0;
    let data = hits
        .iter()
        .map(|p| {
            let n = if noisy { g.next() * noise_std_k } else { 0.0 };
            palette.get(p.surface) + n + outlier(faults, outliers)
        })
        .collect();
    image(k, data)
}
