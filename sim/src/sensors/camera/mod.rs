//! Ray-cast cameras: one ray per pixel centre against the world, then
//! colour (simple Lambert shading), depth or surface temperature per pixel.
//!
//! Casting works on packets of `TILE` x `TILE` pixels: objects are culled
//! per tile against the pyramid of its rays ([`Tiles`]), prepared once per
//! frame relative to the eye in `f32` ([`packet::Prim`]), and each packet
//! is tested against its tile's objects nearest first, stopping once no
//! object left can be nearer than every ray's hit.

mod packet;
mod shade;
mod tiles;

use nalgebra::{Isometry3, Vector3};
use recede_msg::CameraIntrinsics;

use crate::world::World;
pub use packet::BODY;
use packet::{Frame, Lanes, Nearest, Packet, LANES, SKY, TILE};
pub use shade::{depth, infrared, rgb};
pub use tiles::Tiles;

/// Farthest distance a camera ray is followed, m.
pub const CAMERA_FAR_M: f64 = 1000.0;
/// Direction towards the sun, world frame (unit), for shading.
const SUN: [f64; 3] = [0.3651483716701107, 0.18257418583505536, 0.912870929175277];

/// Colour of the plant's own body ([`BodyShape`]) in the cameras.
pub const BODY_COLOR_RGB: [u8; 3] = [200, 200, 210];
/// Surface temperature of the plant's own body, K (silicone near room
/// temperature, warmer than the default ambient 290 K).
pub const BODY_TEMPERATURE_K: f64 = 303.0;

/// A deformable body the cameras see besides the world's objects (the
/// continuum arm's rod): capsules of `radius_m` between consecutive
/// `points` (world frame; the plant's `shape_points`). Empty for a rigid
/// robot: its body is not drawn.
#[derive(Debug, Clone, Copy, Default)]
pub struct BodyShape<'a> {
    pub points: &'a [[f64; 3]],
    pub radius_m: f64,
}

impl<'a> BodyShape<'a> {
    /// No body.
    pub const NONE: BodyShape<'static> = BodyShape {
        points: &[],
        radius_m: 0.0,
    };

    /// The capsules' segments, base first (none without a radius).
    pub fn segments(self) -> impl Iterator<Item = ([f64; 3], [f64; 3])> + 'a {
        let points = if self.radius_m > 0.0 {
            self.points
        } else {
            &[]
        };
        points.windows(2).map(|w| (w[0], w[1]))
    }
}

/// What each pixel's ray met, row-major, one array per field (so the cast
/// writes them and the shading reads them with SIMD).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Hits {
    /// Distance along the optical axis, m (infinite for no hit).
    pub depth_m: Vec<f32>,
    /// `u32::MAX` for sky, `u32::MAX - 1` for the ground, [`BODY`] for the
    /// plant's own body, else the object.
    pub surface: Vec<u32>,
    /// Cosine between the surface normal and the sun direction (>= 0).
    pub sun_cos: Vec<f32>,
}

impl Hits {
    pub fn len(&self) -> usize {
        self.depth_m.len()
    }

    pub fn is_empty(&self) -> bool {
        self.depth_m.is_empty()
    }
}

/// The rays of a pinhole camera, precomputed in the optical frame.
#[derive(Debug, Clone)]
pub struct CameraRays {
    pub intrinsics: CameraIntrinsics,
    /// Per tile (row-major), the unit directions of its pixels as x, y and
    /// z lanes; lane `l` is pixel `(l % TILE, l / TILE)` of the tile, and
    /// lanes past the image's edge repeat the edge pixel.
    tiles: Vec<[Lanes; 3]>,
}

impl CameraRays {
    pub fn new(intrinsics: CameraIntrinsics) -> Self {
        let (w, h) = (intrinsics.width_px, intrinsics.height_px);
        let (cols, rows) = (w.div_ceil(TILE as u32), h.div_ceil(TILE as u32));
        let mut tiles = vec![[[0.0; LANES]; 3]; (cols * rows) as usize];
        for (i, tile) in tiles.iter_mut().enumerate() {
            let (tx, ty) = (i as u32 % cols, i as u32 / cols);
            for l in 0..LANES {
                let u = (tx * TILE as u32 + (l % TILE) as u32).min(w - 1);
                let v = (ty * TILE as u32 + (l / TILE) as u32).min(h - 1);
                let d = intrinsics.ray(u, v).normalize();
                for a in 0..3 {
                    tile[a][l] = d[a] as f32;
                }
            }
        }
        Self { intrinsics, tiles }
    }

    /// Casts every pixel's ray from `world_from_camera` against the world
    /// and `body` into `out` (row-major); `scratch` is reused across frames.
    pub fn cast(
        &self,
        world: &World,
        body: BodyShape<'_>,
        world_from_camera: &Isometry3<f64>,
        scratch: &mut CastScratch,
        out: &mut Hits,
    ) {
        let k = &self.intrinsics;
        let (w, h) = (k.width_px as usize, k.height_px as usize);
        out.depth_m.resize(w * h, 0.0);
        out.surface.resize(w * h, 0);
        out.sun_cos.resize(w * h, 0.0);
        let CastScratch {
            tiles,
            frame,
            packet,
            nearest,
        } = scratch;
        tiles.fill(k, world, body, world_from_camera);
        frame.prepare(world, body, world_from_camera, &Vector3::from(SUN));
        let cols = w.div_ceil(TILE);
        for (i, dirs) in self.tiles.iter().enumerate() {
            // Without objects, only the ground is left, which needs only z.
            frame.packet(dirs, !tiles.list(i).is_empty(), packet);
            frame.ground(packet, CAMERA_FAR_M as f32, nearest);
            let mut farthest = nearest.farthest();
            for &(near, object) in tiles.list(i) {
                if near >= farthest {
                    break;
                }
                if let Some(prim) = frame.prims.get(object as usize) {
                    prim.cast(frame.surface(object), packet, nearest);
                    farthest = nearest.farthest();
                }
            }
            nearest.sky_at_infinity();
            let (u0, v0) = ((i % cols) * TILE, (i / cols) * TILE);
            let n = TILE.min(w - u0);
            for (r, v) in (v0..(v0 + TILE).min(h)).enumerate() {
                let (px, lanes) = (v * w + u0..v * w + u0 + n, r * TILE..r * TILE + n);
                let (t, z) = (&nearest.t[lanes.clone()], &dirs[2][lanes.clone()]);
                // Along the optical axis; stays infinite for the sky.
                for ((d, &t), &z) in out.depth_m[px.clone()].iter_mut().zip(t).zip(z) {
                    *d = t * z;
                }
                out.surface[px.clone()].copy_from_slice(&nearest.id[lanes.clone()]);
                out.sun_cos[px].copy_from_slice(&nearest.sun_cos[lanes]);
            }
        }
    }
}

/// Per-frame working storage of [`CameraRays::cast`], kept so that
/// steady-state rendering does not allocate.
#[derive(Debug, Clone)]
pub struct CastScratch {
    tiles: Tiles,
    frame: Frame,
    packet: Packet,
    nearest: Nearest,
}

impl Default for CastScratch {
    fn default() -> Self {
        Self {
            tiles: Tiles::default(),
            frame: Frame::default(),
            packet: Packet {
                d: [[0.0; LANES]; 3],
                d_sun: [0.0; LANES],
            },
            nearest: Nearest {
                t: [0.0; LANES],
                id: [SKY; LANES],
                sun_cos: [0.0; LANES],
            },
        }
    }
}

/// The last cast, reused by another camera at the same instant with the
/// same pose and intrinsics (for example the colour and depth streams of
/// one RGB-D sensor). Keyed on exact bits (the body's points and radius
/// too), so it never changes a result.
#[derive(Debug, Clone, Default)]
pub struct RenderCache {
    key: Option<[u64; 15]>,
    /// The body's points of the last cast (storage kept across frames).
    body_key: Vec<[f64; 3]>,
    scratch: CastScratch,
    pub hits: Hits,
}

impl RenderCache {
    /// The hits for this camera now, casting only when the key changed.
    pub fn hits(
        &mut self,
        rays: &CameraRays,
        world: &World,
        body: BodyShape<'_>,
        world_from_camera: &Isometry3<f64>,
    ) -> &Hits {
        let k = &rays.intrinsics;
        let t = &world_from_camera.translation.vector;
        let q = world_from_camera.rotation.coords;
        let key = [
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
            body.radius_m,
        ]
        .map(f64::to_bits);
        let bits = |p: &[f64; 3]| p.map(f64::to_bits);
        let same_body = self.body_key.len() == body.points.len()
            && self
                .body_key
                .iter()
                .zip(body.points)
                .all(|(a, b)| bits(a) == bits(b));
        if self.key != Some(key) || !same_body {
            rays.cast(
                world,
                body,
                world_from_camera,
                &mut self.scratch,
                &mut self.hits,
            );
            self.key = Some(key);
            self.body_key.clear();
            self.body_key.extend_from_slice(body.points);
        }
        &self.hits
    }

    /// Forgets the last cast (call when the world changes in place).
    pub fn invalidate(&mut self) {
        self.key = None;
    }
}

#[cfg(test)]
mod body_tests;
#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::{Ground, Object, Ray, Shape, Surface, Yaw};
    use nalgebra::{Point3, Translation3, UnitQuaternion};

    /// Every shape kind, turned and stacked so that rays graze edges, caps
    /// and each other; the camera poses put the eye above, level with and
    /// inside the slabs of the boxes and cylinders.
    fn world() -> World {
        let mut w = World::new(290.0, 250.0, [1, 2, 3]).with_ground(Ground {
            height_m: -0.5,
            color_rgb: [4, 5, 6],
            temperature_k: 280.0,
        });
        let shapes = [
            Shape::Sphere {
                center: Point3::new(4.0, 0.5, 0.2),
                radius: 0.7,
            },
            Shape::Box {
                center: Point3::new(6.0, -1.0, 0.5),
                half_extents: Vector3::new(0.5, 1.5, 1.0),
                yaw: Yaw::new(0.6),
            },
            Shape::Cylinder {
                center: Point3::new(5.0, 1.5, 0.0),
                radius: 0.4,
                half_height: 0.8,
            },
            Shape::Box {
                center: Point3::new(9.0, 0.0, 1.0),
                half_extents: Vector3::new(0.2, 6.0, 3.0),
                yaw: Yaw::zero(),
            },
            Shape::Sphere {
                center: Point3::new(3.0, -0.8, 1.4),
                radius: 0.3,
            },
        ];
        for (i, s) in shapes.into_iter().enumerate() {
            w.add_object(Object::new(&format!("o{i}"), s, [9, 9, 9], 300.0));
        }
        w
    }

    #[test]
    fn packets_agree_with_the_reference_caster() {
        let world = world();
        let rays = CameraRays::new(CameraIntrinsics::from_hfov(60, 44, 1.4));
        let optical = UnitQuaternion::from_euler_angles(-std::f64::consts::FRAC_PI_2, 0.0, 0.0)
            * UnitQuaternion::from_euler_angles(0.0, std::f64::consts::FRAC_PI_2, 0.0);
        let sun = Vector3::from(SUN);
        let (mut scratch, mut hits) = (CastScratch::default(), Hits::default());
        let (mut compared, mut differ) = (0, 0);
        for (eye, yaw, pitch) in [
            ([0.0, 0.0, 0.3], 0.0, 0.0),
            ([1.0, 1.2, 2.5], -0.1, 0.5),
            ([2.0, -1.0, 0.0], 0.3, -0.2),
            ([4.9, 1.5, 1.5], 0.0, 1.3),
            ([5.0, -3.0, 0.4], 1.2, 0.1),
        ] {
            let pose = Isometry3::from_parts(
                Translation3::new(eye[0], eye[1], eye[2]),
                UnitQuaternion::from_euler_angles(0.0, pitch, yaw) * optical,
            );
            rays.cast(&world, BodyShape::NONE, &pose, &mut scratch, &mut hits);
            let k = &rays.intrinsics;
            for v in 0..k.height_px {
                for u in 0..k.width_px {
                    let i = (v * k.width_px + u) as usize;
                    let got = (hits.depth_m[i], hits.surface[i], hits.sun_cos[i]);
                    let d = k.ray(u, v).normalize();
                    let ray = Ray::new(pose.translation.vector.into(), pose.rotation * d);
                    let want = world.cast(&ray, CAMERA_FAR_M);
                    let surface = match want.map(|h| h.surface) {
                        None => SKY,
                        Some(Surface::Ground) => packet::GROUND,
                        Some(Surface::Object(i)) => i as u32,
                    };
                    compared += 1;
                    if surface != got.1 {
                        // Only where a ray grazes an edge.
                        differ += 1;
                        continue;
                    }
                    let Some(h) = want else {
                        assert_eq!(got.0, f32::INFINITY);
                        continue;
                    };
                    let depth = h.hit.t * d.z;
                    assert!(
                        (got.0 as f64 - depth).abs() < 1e-4 * depth.max(1.0),
                        "{eye:?} ({u}, {v}): {} vs {depth}",
                        got.0
                    );
                    let sun_cos = h.hit.normal.dot(&sun).max(0.0);
                    assert!(
                        (got.2 as f64 - sun_cos).abs() < 1e-3,
                        "{eye:?} ({u}, {v}): sun {} vs {sun_cos}",
                        got.2
                    );
                }
            }
        }
        assert!(differ * 1000 <= compared, "{differ} of {compared} differ");
    }
}
