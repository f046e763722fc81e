//! From the cast to images: colour (Lambert shading), depth and surface
//! temperature per pixel, each with its noise and outliers.

use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use recede_msg::{CameraIntrinsics, DepthImage, Image, InfraredImage, RgbImage};

use super::packet::{BODY, GROUND, SKY};
use super::{Hits, BODY_COLOR_RGB, BODY_TEMPERATURE_K};
use crate::sensors::gauss::FastGauss;
use crate::sensors::Faults;
use crate::world::{Surface, World};

const AMBIENT_LIGHT: f32 = 0.35;

/// Per-pixel noise comes from a fast generator seeded once per frame from
/// the sensor's own stream, so it stays deterministic and per-sensor.
fn pixel_rng(rng: &mut ChaCha8Rng) -> FastGauss {
    FastGauss::new(Xoshiro256PlusPlus::seed_from_u64(rng.random()))
}

/// Pixels shaded per batch: noise and outliers for a batch are drawn
/// first, into buffers on the stack, so the shading loop has no branches
/// for them. A multiple of five, the normal draws per random word.
const BATCH: usize = 160;

/// A per-frame table of one property of every surface, indexed by
/// [`Hits::surface`] plus three (wrapping): the plant's body, the ground,
/// the sky, then the objects in order; so no match per pixel.
struct Palette<T>(Vec<T>);

impl<T: Copy> Palette<T> {
    fn new(world: &World, of: impl Fn(Surface) -> T, sky: T, body: T) -> Self {
        let objects = (0..world.objects().len()).map(|i| of(Surface::Object(i)));
        Self(
            [body, of(Surface::Ground), sky]
                .into_iter()
                .chain(objects)
                .collect(),
        )
    }

    #[inline]
    fn get(&self, id: u32) -> T {
        const _: () = assert!(
            BODY.wrapping_add(3) == 0 && GROUND.wrapping_add(3) == 1 && SKY.wrapping_add(3) == 2
        );
        self.0[(id.wrapping_add(3) as usize).min(self.0.len() - 1)]
    }
}

/// One batch's noise (`scale` times standard normal draws, or zeros) and
/// outliers (drawn per pixel, in order, only when configured).
struct Batch {
    noise: [f32; 3 * BATCH],
    outliers: [f32; BATCH],
}

impl Batch {
    fn new() -> Self {
        Self {
            noise: [0.0; 3 * BATCH],
            outliers: [0.0; BATCH],
        }
    }

    fn draw(
        &mut self,
        pixels: usize,
        per_pixel: usize,
        scale: f32,
        g: &mut FastGauss,
        faults: &mut Faults,
    ) {
        if scale > 0.0 {
            g.fill(&mut self.noise[..pixels * per_pixel], scale);
        }
        if faults.outliers.probability > 0.0 {
            for o in &mut self.outliers[..pixels] {
                *o = faults.scalar_outlier().unwrap_or(0.0) as f32;
            }
        }
    }
}

fn image<P>(k: &CameraIntrinsics, data: Vec<P>) -> Image<P> {
    Image {
        width_px: k.width_px,
        height_px: k.height_px,
        data,
    }
}

/// The nearest 8-bit level to `v` (ties to even; NaN reads 0). Adding
/// 1.5 * 2^23 leaves the rounded integer in the low mantissa bits: a few
/// instructions, where `round` is a library call on baseline x86-64 and
/// `as u8` adds range checks.
#[inline]
fn level(v: f32) -> u8 {
    const SHIFT: f32 = 12_582_912.0;
    let clamped = if v > 0.0 { v } else { 0.0 };
    let clamped = if clamped < 255.0 { clamped } else { 255.0 };
    (clamped + SHIFT).to_bits() as u8
}

/// Colour with Lambert shading under a fixed sun plus ambient light.
pub fn rgb(
    k: &CameraIntrinsics,
    hits: &Hits,
    world: &World,
    noise_std_levels: f32,
    rng: &mut ChaCha8Rng,
    faults: &mut Faults,
) -> RgbImage {
    let g = &mut pixel_rng(rng);
    // Per surface, the colour under ambient light and the part that scales
    // with the sun's cosine.
    let lit = |c: [u8; 3]| {
        let c = c.map(f32::from);
        (
            c.map(|c| c * AMBIENT_LIGHT),
            c.map(|c| c * (1.0 - AMBIENT_LIGHT)),
        )
    };
    let sky = (world.sky_color_rgb.map(f32::from), [0.0; 3]);
    let palette = Palette::new(world, |s| lit(world.color_rgb(s)), sky, lit(BODY_COLOR_RGB));
    let mut data = vec![[0u8; 3]; hits.len()];
    let mut batch = Batch::new();
    let mut lit = [0.0f32; 3 * BATCH];
    for (i, out) in data.chunks_mut(BATCH).enumerate() {
        let px = i * BATCH..i * BATCH + out.len();
        batch.draw(out.len(), 3, noise_std_levels, g, faults);
        // Per pixel the noise-free colour (a palette look-up each, so not
        // SIMD), then per channel the noise and rounding (SIMD).
        let surface = hits.surface[px.clone()].iter().zip(&hits.sun_cos[px]);
        for ((v, (&id, &sun_cos)), &o) in lit.chunks_exact_mut(3).zip(surface).zip(&batch.outliers)
        {
            let (ambient, sun) = palette.get(id);
            for c in 0..3 {
                v[c] = ambient[c] + sun[c] * sun_cos + o;
            }
        }
        let out = out.as_flattened_mut();
        for ((level_out, &v), &n) in out.iter_mut().zip(&lit).zip(&batch.noise) {
            *level_out = level(v + n);
        }
    }
    image(k, data)
}

/// Depth along the optical axis with noise `a + b z^2`; `NaN` outside
/// `[min_range_m, max_range_m]` or where nothing was hit.
pub fn depth(
    k: &CameraIntrinsics,
    hits: &Hits,
    range_m: (f64, f64),
    noise: (f64, f64),
    rng: &mut ChaCha8Rng,
    faults: &mut Faults,
) -> DepthImage {
    let (min, max) = (range_m.0 as f32, range_m.1 as f32);
    let (a, b) = (noise.0 as f32, noise.1 as f32);
    let scale = if a > 0.0 || b > 0.0 { 1.0 } else { 0.0 };
    let g = &mut pixel_rng(rng);
    let mut data = vec![0.0f32; hits.len()];
    let mut batch = Batch::new();
    for (i, out) in data.chunks_mut(BATCH).enumerate() {
        let z = &hits.depth_m[i * BATCH..i * BATCH + out.len()];
        batch.draw(out.len(), 1, scale, g, faults);
        for (((d, &z), &n), &o) in out.iter_mut().zip(z).zip(&batch.noise).zip(&batch.outliers) {
            let noisy = z + n * (a + b * z * z) + o;
            *d = if z >= min && z <= max && noisy > 0.0 {
                noisy
            } else {
                f32::NAN
            };
        }
    }
    image(k, data)
}

/// Surface temperature per pixel, K; the sky reads the world's sky
/// temperature.
pub fn infrared(
    k: &CameraIntrinsics,
    hits: &Hits,
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
        BODY_TEMPERATURE_K as f32,
    );
    let mut data = vec![0.0f32; hits.len()];
    let mut batch = Batch::new();
    for (i, out) in data.chunks_mut(BATCH).enumerate() {
        let surface = &hits.surface[i * BATCH..i * BATCH + out.len()];
        batch.draw(out.len(), 1, noise_std_k, g, faults);
        for (((t, &id), &n), &o) in out
            .iter_mut()
            .zip(surface)
            .zip(&batch.noise)
            .zip(&batch.outliers)
        {
            *t = palette.get(id) + n + o;
        }
    }
    image(k, data)
}

#[cfg(test)]
mod tests {
    use super::level;

    #[test]
    fn levels_round_to_nearest_and_clamp() {
        for (v, want) in [
            (-3.0, 0),
            (f32::NAN, 0),
            (0.49, 0),
            (0.51, 1),
            (1.5, 2),
            (2.5, 2),
            (127.2, 127),
            (254.6, 255),
            (300.0, 255),
            (f32::INFINITY, 255),
        ] {
            assert_eq!(level(v), want, "{v}");
        }
    }
}
