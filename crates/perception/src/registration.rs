//! The depth image seen from the infrared camera, to place hot blobs: each
//! depth pixel's footprint reprojected into the infrared image, computed
//! only where a blob asks.

use nalgebra::{Isometry3, Point3, Vector3};
use recede_msg::{CameraIntrinsics, DepthImage};

/// Neighbouring depths further apart than this fraction of the depth
/// make a depth edge.
const EDGE_FRACTION: f64 = 0.05;

/// `x.ceil() as i64`, inline: the target has no rounding instruction
/// without SSE4.1, and libm's `ceil` and `floor` were a fifth of the
/// reprojection's time. Saturating like `as` (a wild depth projects far
/// off the image; it must not overflow).
fn ceil(x: f64) -> i64 {
    let t = x as i64;
    if (t as f64) < x {
        t.saturating_add(1)
    } else {
        t
    }
}

/// `x.floor() as i64`, inline (see [`ceil`]).
fn floor(x: f64) -> i64 {
    let t = x as i64;
    if (t as f64) > x {
        t.saturating_sub(1)
    } else {
        t
    }
}

/// Depth pixels per side of a tile, the unit in which the registration
/// skips depth pixels that cannot reach the infrared pixels asked for.
const TILE: usize = 8;

/// The depth camera's image seen from the infrared camera: per infrared
/// pixel the nearest depth (infrared optical z), `NaN` where none.
///
/// Computed only where asked ([`Registration::cover`]: a blob's bounding
/// box), when an infrared frame finds a blob to place: a depth frame is
/// kept (one copy) until then. Reprojecting the whole depth image for each
/// infrared frame was 9.5% of the flagship's CPU time, for blobs of a few
/// hundred pixels. The depth image is cut into tiles of [`TILE`] pixels a
/// side; a tile's reach (the infrared pixels its footprints can touch) is
/// bounded from its corners at its nearest and farthest depth, and only
/// the tiles reaching the box are reprojected. A cell holds the nearest
/// depth among the pixels whose footprint covers it, whatever their order,
/// so the cells of the box are those of the whole image's reprojection, to
/// the bit (`tests::cover_equals_the_whole_reprojection`).
#[derive(Debug, Clone)]
pub struct Registration {
    ir: CameraIntrinsics,
    ir_from_depth: Isometry3<f64>,
    depth_k: CameraIntrinsics,
    z: Vec<f32>,
    /// The last depth image (empty when its size was not the camera's).
    depth: Vec<f32>,
    /// Row-major.
    tiles: Vec<Tile>,
    /// A new depth image: `z` and the tiles are not yet reset.
    fresh: bool,
    stamp_secs: f64,
}

/// One tile of the depth image.
#[derive(Debug, Clone, Copy)]
struct Tile {
    /// The rays through its corner pixels' centres (unit optical z in the
    /// depth camera), turned into the infrared camera's axes.
    corners: [Vector3<f64>; 4],
    /// Its pixels' valid depths this image, `(lo, hi)`, as the bits of
    /// the `f32`s (`lo > hi`: none).
    depth: (i32, i32),
    /// The infrared pixels `[x0, x1, y0, y1]` its pixels can write (none
    /// when `x0 > x1`).
    reach: [i64; 4],
    /// Reprojected for this image.
    done: bool,
}

impl Registration {
    /// `ir_from_depth` maps depth-optical to infrared-optical coordinates.
    pub fn new(
        ir: CameraIntrinsics,
        depth_k: CameraIntrinsics,
        ir_from_depth: Isometry3<f64>,
    ) -> Self {
        let mut r = Self {
            ir,
            ir_from_depth,
            depth_k,
            z: vec![f32::NAN; ir.pixel_count()],
            depth: Vec::with_capacity(depth_k.pixel_count()),
            tiles: Vec::new(),
            fresh: false,
            stamp_secs: f64::NEG_INFINITY,
        };
        let count = r.tile_columns() * (depth_k.height_px as usize).div_ceil(TILE);
        r.tiles = (0..count)
            .map(|t| {
                let ((u0, u1), (v0, v1)) = r.tile_pixels(t);
                let ray =
                    |u: usize, v: usize| ir_from_depth.rotation * depth_k.ray(u as u32, v as u32);
                Tile {
                    corners: [
                        ray(u0, v0),
                        ray(u1 - 1, v0),
                        ray(u0, v1 - 1),
                        ray(u1 - 1, v1 - 1),
                    ],
                    depth: (i32::MAX, 0),
                    reach: [0, -1, 0, -1],
                    done: false,
                }
            })
            .collect();
        r
    }

    /// Takes a depth image (reprojected where first needed): a size other
    /// than the depth camera's gives no depth.
    pub fn update(&mut self, stamp_secs: f64, depth: &DepthImage) {
        self.stamp_secs = stamp_secs;
        self.depth.clear();
        let fits = depth.width_px == self.depth_k.width_px
            && depth.height_px == self.depth_k.height_px
            && depth.data.len() == self.depth_k.pixel_count();
        if fits {
            self.depth.extend_from_slice(&depth.data);
        }
        self.fresh = true;
    }

    /// The registered depth, row-major over the infrared image, final
    /// within the infrared pixels `x0..=x1`, `y0..=y1` (elsewhere partial).
    pub(crate) fn cover(&mut self, [x0, x1, y0, y1]: [i64; 4]) -> &[f32] {
        if self.fresh {
            self.fresh = false;
            self.z.fill(f32::NAN);
            self.bound_tiles();
        }
        for t in 0..self.tiles.len() {
            let [a0, a1, b0, b1] = self.tiles[t].reach;
            if !self.tiles[t].done && a0 <= x1 && x0 <= a1 && b0 <= y1 && y0 <= b1 {
                self.reproject_tile(t);
                self.tiles[t].done = true;
            }
        }
        &self.z
    }

    fn tile_columns(&self) -> usize {
        (self.depth_k.width_px as usize).div_ceil(TILE)
    }

    /// The depth pixels `(u0..u1, v0..v1)` of tile `t`.
    fn tile_pixels(&self, t: usize) -> ((usize, usize), (usize, usize)) {
        let (w, h) = (
            self.depth_k.width_px as usize,
            self.depth_k.height_px as usize,
        );
        let (u0, v0) = (
            (t % self.tile_columns()) * TILE,
            (t / self.tile_columns()) * TILE,
        );
        ((u0, (u0 + TILE).min(w)), (v0, (v0 + TILE).min(h)))
    }

    /// Bounds each tile's reach. A pixel's projected centre and footprint
    /// are, in each of its column, row and depth alone, a ratio of affine
    /// functions with a positive denominator (the infrared z), so monotone:
    /// over a tile and its depth range they are extreme at the eight
    /// corners. One pixel of margin covers rounding; a corner at or behind
    /// the infrared camera leaves the tile unbounded.
    fn bound_tiles(&mut self) {
        const ALL: [i64; 4] = [i64::MIN, i64::MAX, i64::MIN, i64::MAX];
        for tile in &mut self.tiles {
            (tile.depth, tile.done) = ((i32::MAX, 0), false);
        }
        let (w, columns) = (self.depth_k.width_px as usize, self.tile_columns());
        if !self.depth.is_empty() {
            for (v, row) in self.depth.chunks_exact(w).enumerate() {
                let tiles = &mut self.tiles[(v / TILE) * columns..];
                for (tile, chunk) in tiles.iter_mut().zip(row.chunks(TILE)) {
                    // A positive finite f32's bits, as an i32, lie in
                    // (0, +inf's) and order as the values do: integer
                    // minima without branches (a fifth of the cost with
                    // float comparisons and NaN tests).
                    let (mut lo, mut hi) = tile.depth;
                    for &d in chunk {
                        let b = d.to_bits() as i32;
                        let valid = b > 0 && b < 0x7f80_0000;
                        lo = lo.min(if valid { b } else { i32::MAX });
                        hi = hi.max(if valid { b } else { 0 });
                    }
                    tile.depth = (lo, hi);
                }
            }
        }
        let (t, ir, dk) = (self.ir_from_depth.translation.vector, self.ir, self.depth_k);
        for tile in &mut self.tiles {
            let (lo, hi) = tile.depth;
            if lo > hi {
                tile.reach = [0, -1, 0, -1];
                continue;
            }
            let (lo, hi) = (f32::from_bits(lo as u32), f32::from_bits(hi as u32));
            let (mut x, mut y) = (
                (f64::INFINITY, f64::NEG_INFINITY),
                (f64::INFINITY, f64::NEG_INFINITY),
            );
            let mut scale = 0.0f64;
            let mut bounded = true;
            for d in [lo as f64, hi as f64] {
                for a in &tile.corners {
                    let p = a * d + t;
                    let inv = 1.0 / p.z;
                    let (px, py) = (
                        ir.fx_px * p.x * inv + ir.cx_px,
                        ir.fy_px * p.y * inv + ir.cy_px,
                    );
                    bounded &= p.z > 1e-3;
                    (x.0, x.1) = (x.0.min(px), x.1.max(px));
                    (y.0, y.1) = (y.0.min(py), y.1.max(py));
                    scale = scale.max(d * inv);
                }
            }
            let hu = 0.5 * scale * ir.fx_px / dk.fx_px;
            let hv = 0.5 * scale * ir.fy_px / dk.fy_px;
            let edges = [
                x.0 - hu - 0.5,
                x.1 + hu - 0.5,
                y.0 - hv - 0.5,
                y.1 + hv - 0.5,
            ];
            tile.reach = if bounded && edges.iter().all(|e| e.abs() < 1e9) {
                [
                    floor(edges[0]) - 1,
                    ceil(edges[1]) + 1,
                    floor(edges[2]) - 1,
                    ceil(edges[3]) + 1,
                ]
            } else {
                ALL
            };
        }
    }

    /// Reprojects the pixels of tile `t`: each depth pixel off a depth
    /// edge fills the infrared pixels whose centres fall inside its own
    /// footprint (its square projected at its depth), nearest surface
    /// first, so that a coarser depth camera leaves no holes and an edge
    /// does not bleed.
    fn reproject_tile(&mut self, t: usize) {
        if self.depth.is_empty() {
            return;
        }
        let ((u0, u1), (v0, v1)) = self.tile_pixels(t);
        let (w, h) = (
            self.depth_k.width_px as usize,
            self.depth_k.height_px as usize,
        );
        let depth = &self.depth;
        let (iw, ih) = (self.ir.width_px as i64, self.ir.height_px as i64);
        for v in v0..v1 {
            for u in u0..u1 {
                let d = depth[v * w + u] as f64;
                if !(d.is_finite() && d > 0.0) {
                    continue;
                }
                // A pixel on a depth edge mixes two surfaces (and a gap
                // narrower than a depth pixel looks like its border): leave
                // it out rather than lend its depth to the wrong one.
                let differs = |uu: usize, vv: usize| {
                    let n = depth[vv * w + uu] as f64;
                    !(n.is_finite() && (n - d).abs() <= EDGE_FRACTION * d)
                };
                if (u > 0 && differs(u - 1, v))
                    || (u + 1 < w && differs(u + 1, v))
                    || (v > 0 && differs(u, v - 1))
                    || (v + 1 < h && differs(u, v + 1))
                {
                    continue;
                }
                let p = self.ir_from_depth * Point3::from(self.depth_k.ray(u as u32, v as u32) * d);
                let Some(px) = self.ir.project(&p.coords) else {
                    continue;
                };
                // Half the footprint, in infrared pixels.
                let scale = d / p.z;
                let hu = 0.5 * scale * self.ir.fx_px / self.depth_k.fx_px;
                let hv = 0.5 * scale * self.ir.fy_px / self.depth_k.fy_px;
                let (u0, u1) = (ceil(px.x - hu - 0.5), floor(px.x + hu - 0.5));
                let (v0, v1) = (ceil(px.y - hv - 0.5), floor(px.y + hv - 0.5));
                for y in v0.max(0)..v1.min(ih - 1) + 1 {
                    for x in u0.max(0)..u1.min(iw - 1) + 1 {
                        let cell = &mut self.z[(y * iw + x) as usize];
                        if !(cell.is_finite() && (*cell as f64) <= p.z) {
                            *cell = p.z as f32;
                        }
                    }
                }
            }
        }
    }

    /// The infrared image's size, in pixels.
    pub(crate) fn infrared_size(&self) -> (usize, usize) {
        (self.ir.width_px as usize, self.ir.height_px as usize)
    }

    pub fn stamp_secs(&self) -> f64 {
        self.stamp_secs
    }
}

/// The registration as it was before [`Registration::cover`]: every depth
/// pixel reprojected into the whole infrared image, in image order. The
/// reference the tests hold the tiles to.
#[cfg(test)]
impl Registration {
    pub(crate) fn whole_reference(&self) -> Vec<f32> {
        let mut z = vec![f32::NAN; self.ir.pixel_count()];
        if self.depth.is_empty() {
            return z;
        }
        let (w, h) = (
            self.depth_k.width_px as usize,
            self.depth_k.height_px as usize,
        );
        let depth = &self.depth;
        let (iw, ih) = (self.ir.width_px as i64, self.ir.height_px as i64);
        for v in 0..h {
            for u in 0..w {
                let d = depth[v * w + u] as f64;
                if !(d.is_finite() && d > 0.0) {
                    continue;
                }
                let differs = |uu: usize, vv: usize| {
                    let n = depth[vv * w + uu] as f64;
                    !(n.is_finite() && (n - d).abs() <= EDGE_FRACTION * d)
                };
                if (u > 0 && differs(u - 1, v))
                    || (u + 1 < w && differs(u + 1, v))
                    || (v > 0 && differs(u, v - 1))
                    || (v + 1 < h && differs(u, v + 1))
                {
                    continue;
                }
                let p = self.ir_from_depth * Point3::from(self.depth_k.ray(u as u32, v as u32) * d);
                let Some(px) = self.ir.project(&p.coords) else {
                    continue;
                };
                let scale = d / p.z;
                let hu = 0.5 * scale * self.ir.fx_px / self.depth_k.fx_px;
                let hv = 0.5 * scale * self.ir.fy_px / self.depth_k.fy_px;
                let (u0, u1) = (
                    (px.x - hu - 0.5).ceil() as i64,
                    (px.x + hu - 0.5).floor() as i64,
                );
                let (v0, v1) = (
                    (px.y - hv - 0.5).ceil() as i64,
                    (px.y + hv - 0.5).floor() as i64,
                );
                for y in v0.max(0)..v1.min(ih - 1) + 1 {
                    for x in u0.max(0)..u1.min(iw - 1) + 1 {
                        let cell = &mut z[(y * iw + x) as usize];
                        if !(cell.is_finite() && (*cell as f64) <= p.z) {
                            *cell = p.z as f32;
                        }
                    }
                }
            }
        }
        z
    }
}

/// Random cameras, poses and depth images for the tests.
#[cfg(test)]
pub(crate) mod testing {
    use nalgebra::{Isometry3, Translation3, UnitQuaternion};
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use recede_msg::{CameraIntrinsics, DepthImage};

    pub fn rng(seed: u64) -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(seed)
    }

    /// A camera of 8 to 100 by 6 to 80 pixels, 0.5 to 1.7 rad across.
    pub fn camera(rng: &mut ChaCha8Rng) -> CameraIntrinsics {
        CameraIntrinsics::from_hfov(
            rng.random_range(8..=100),
            rng.random_range(6..=80),
            rng.random_range(0.5..1.7),
        )
    }

    /// Infrared from depth: up to 10 cm apart and `max_angle` rad turned
    /// about each axis.
    pub fn pose(rng: &mut ChaCha8Rng, max_angle: f64) -> Isometry3<f64> {
        let mut r = || rng.random_range(-1.0..1.0);
        let t = Translation3::new(0.1 * r(), 0.1 * r(), 0.1 * r());
        let q =
            UnitQuaternion::from_euler_angles(max_angle * r(), max_angle * r(), max_angle * r());
        Isometry3::from_parts(t, q)
    }

    /// Depth from 0.2 to 30 m: a far background or sky, a ground falling
    /// off below a horizon row, boxes and discs at their own depths, 1%
    /// noise and scattered holes.
    pub fn depth(rng: &mut ChaCha8Rng, k: &CameraIntrinsics) -> DepthImage {
        let (w, h) = (k.width_px as usize, k.height_px as usize);
        let far = rng.random_range(5.0..30.0);
        let sky = rng.random_bool(0.5);
        let horizon = rng.random_range(-0.2..0.8) * h as f64;
        let mut img = DepthImage::filled(k.width_px, k.height_px, f32::NAN);
        for v in 0..h {
            for u in 0..w {
                let below = v as f64 + 0.5 - horizon;
                let d = if below > 0.0 {
                    (2.0 * h as f64 / below).min(far)
                } else if sky {
                    f64::NAN
                } else {
                    far
                };
                img.data[v * w + u] = d as f32;
            }
        }
        for _ in 0..rng.random_range(0..8) {
            let d = rng.random_range(0.2..20.0);
            let (cu, cv) = (
                rng.random_range(0.0..w as f64),
                rng.random_range(0.0..h as f64),
            );
            let (ru, rv) = (
                rng.random_range(0.5..0.4 * w as f64),
                rng.random_range(0.5..0.4 * h as f64),
            );
            let disc = rng.random_bool(0.5);
            for v in 0..h {
                for u in 0..w {
                    let (x, y) = ((u as f64 + 0.5 - cu) / ru, (v as f64 + 0.5 - cv) / rv);
                    let inside = if disc {
                        x * x + y * y <= 1.0
                    } else {
                        x.abs() <= 1.0 && y.abs() <= 1.0
                    };
                    let cell = &mut img.data[v * w + u];
                    if inside && (cell.is_nan() || *cell as f64 > d) {
                        *cell = d as f32;
                    }
                }
            }
        }
        for cell in &mut img.data {
            *cell *= (1.0 + 0.01 * rng.random_range(-1.0f64..1.0)) as f32;
            if rng.random_bool(0.02) {
                *cell = if rng.random_bool(0.5) { f32::NAN } else { 0.0 };
            }
        }
        img
    }
}

#[cfg(test)]
mod tests {
    /// The inline roundings agree with the standard library's on pixel
    /// coordinates (negative, integral, halves and values just off them)
    /// and beyond `i64`'s range.
    #[test]
    fn inline_ceil_and_floor_match_the_standard_ones() {
        for x in [
            1e30,
            -1e30,
            9.3e18,
            -9.3e18,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
        ] {
            assert_eq!(super::ceil(x), x.ceil() as i64, "ceil {x}");
            assert_eq!(super::floor(x), x.floor() as i64, "floor {x}");
        }
        for i in -4000..4000 {
            let base = i as f64 * 0.125;
            for x in [
                base,
                base + 1e-12,
                base - 1e-12,
                f64::from_bits(base.to_bits() + 1),
            ] {
                assert_eq!(super::ceil(x), x.ceil() as i64, "ceil {x}");
                assert_eq!(super::floor(x), x.floor() as i64, "floor {x}");
            }
        }
    }

    /// Inside any box, the tiles asked for give the whole image's
    /// reprojection to the bit: random cameras (the depth camera coarser or
    /// finer), poses (nearly co-located, and turned up to a radian, some
    /// pixels behind the infrared camera), depth images and boxes, asked
    /// one after another on one image, then on the next.
    #[test]
    fn cover_equals_the_whole_reprojection() {
        use super::testing;
        use super::Registration;
        use proptest::prelude::*;
        use rand::RngExt;
        use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
        // Tiles left out by the first box, and cells with a depth in it.
        let (skipped, placed) = (AtomicUsize::new(0), AtomicUsize::new(0));
        proptest!(ProptestConfig::with_cases(96), |(seed: u64, wide in proptest::bool::ANY)| {
            let mut rng = testing::rng(seed);
            let (ir, dk) = (testing::camera(&mut rng), testing::camera(&mut rng));
            let pose = testing::pose(&mut rng, if wide { 1.2 } else { 0.1 });
            let mut r = Registration::new(ir, dk, pose);
            for frame in 0..2 {
                r.update(frame as f64, &testing::depth(&mut rng, &dk));
                let whole = r.whole_reference();
                let (iw, ih) = (ir.width_px as i64, ir.height_px as i64);
                for query in 0..4 {
                    let (x0, y0) = (rng.random_range(0..iw), rng.random_range(0..ih));
                    let (x1, y1) = (rng.random_range(x0..iw), rng.random_range(y0..ih));
                    let z = r.cover([x0, x1, y0, y1]);
                    for y in y0..=y1 {
                        for x in x0..=x1 {
                            let i = (y * iw + x) as usize;
                            prop_assert_eq!(z[i].to_bits(), whole[i].to_bits(), "pixel ({}, {})", x, y);
                            placed.fetch_add(usize::from(z[i].is_finite()), Relaxed);
                        }
                    }
                    if query == 0 {
                        skipped.fetch_add(r.tiles.iter().filter(|t| !t.done).count(), Relaxed);
                    }
                }
                let all = r.cover([0, iw - 1, 0, ih - 1]).to_vec();
                prop_assert!(all.iter().zip(&whole).all(|(a, b)| a.to_bits() == b.to_bits()));
            }
        });
        // The cases exercise both: tiles left out, depths placed.
        let (skipped, placed) = (skipped.into_inner(), placed.into_inner());
        assert!(
            skipped > 1000 && placed > 10_000,
            "{skipped} tiles skipped, {placed} cells placed"
        );
    }
}
