//! Packet ray casting: the rays of one image tile are tested together
//! against one primitive at a time, in `f32` and relative to the eye, in
//! branch-free loops over the lanes that the compiler turns into SIMD code
//! (NaN from a miss, e.g. the square root of a negative discriminant, fails
//! every comparison, so it needs no separate test).

use nalgebra::{Isometry3, Point3, Vector3};

use super::BodyShape;
use crate::world::{Shape, World};

/// Rays per packet: one tile of `TILE` x `TILE` pixels, row-major.
pub const TILE: usize = 8;
pub const LANES: usize = TILE * TILE;
pub type Lanes = [f32; LANES];

/// `u32::MAX` for sky, `u32::MAX - 1` for the ground, else the object.
pub const SKY: u32 = u32::MAX;
pub const GROUND: u32 = u32::MAX - 1;
/// The plant's own deformable body (the continuum arm's rod).
pub const BODY: u32 = u32::MAX - 2;

/// The rays of one packet in world orientation, from the eye.
#[derive(Debug, Clone)]
pub struct Packet {
    pub d: [Lanes; 3],
    /// `d . sun`, for shading curved surfaces.
    pub d_sun: Lanes,
}

/// Per lane, the nearest hit so far (`t` along the unit ray).
#[derive(Debug, Clone)]
pub struct Nearest {
    pub t: Lanes,
    pub id: [u32; LANES],
    /// Cosine between the surface normal and the sun direction (>= 0).
    pub sun_cos: Lanes,
}

impl Nearest {
    /// The largest `t` over the lanes: no primitive farther than this can
    /// change the packet.
    #[inline]
    pub fn farthest(&self) -> f32 {
        // Eight running maxima, so the loop vectorises (`t` is never NaN).
        let mut m = [0.0f32; 8];
        for chunk in self.t.chunks_exact(8) {
            for (m, &t) in m.iter_mut().zip(chunk) {
                *m = max(*m, t);
            }
        }
        m.into_iter().fold(0.0, max)
    }

    /// Infinite distance for the lanes that met nothing.
    pub fn sky_at_infinity(&mut self) {
        for l in 0..LANES {
            let m = mask(self.id[l] == SKY);
            self.t[l] = f32::from_bits(blend(m, f32::INFINITY.to_bits(), self.t[l].to_bits()));
        }
    }

    /// Takes `(t, sun_cos)` for lane `l` where it is a hit in front of the
    /// eye nearer than the current one (NaN never is).
    #[inline(always)]
    fn keep(&mut self, l: usize, id: u32, t: f32, sun_cos: f32) {
        let m = mask((t > 0.0) & (t < self.t[l]));
        self.t[l] = f32::from_bits(blend(m, t.to_bits(), self.t[l].to_bits()));
        self.id[l] = blend(m, id, self.id[l]);
        self.sun_cos[l] = f32::from_bits(blend(m, sun_cos.to_bits(), self.sun_cos[l].to_bits()));
    }
}

/// All ones where `c` holds, else zero. Lanes are updated by blending with
/// such masks: written as `if`, the update becomes a conditional store and
/// the compiler gives up on SIMD for the whole loop.
#[inline(always)]
fn mask(c: bool) -> u32 {
    0u32.wrapping_sub(c as u32)
}

#[inline(always)]
fn blend(mask: u32, new: u32, old: u32) -> u32 {
    (new & mask) | (old & !mask)
}

/// `a.max(b)` without NaN handling (one instruction).
#[inline(always)]
fn max(a: f32, b: f32) -> f32 {
    if a > b {
        a
    } else {
        b
    }
}

#[inline(always)]
fn min(a: f32, b: f32) -> f32 {
    if a < b {
        a
    } else {
        b
    }
}

/// A solid prepared for one frame: eye-relative, with everything that is
/// the same for all rays of the frame folded in.
#[derive(Debug, Clone, Copy)]
pub enum Prim {
    Sphere {
        /// Centre minus eye.
        c: [f32; 3],
        /// `|c|^2 - r^2`.
        c2: f32,
        c_sun: f32,
        inv_r: f32,
    },
    /// A box in its own frame (turned by `cos`, `sin` about z): the slab
    /// planes relative to the eye, and per axis the sun cosine of the face
    /// a ray can enter through (the one facing the eye).
    Box {
        cos: f32,
        sin: f32,
        lo: [f32; 3],
        hi: [f32; 3],
        face_sun: [f32; 3],
    },
    /// An upright cylinder, relative to the eye; `cap_z` is the plane of
    /// the cap facing the eye (NaN when the eye is level with the side).
    Cylinder {
        o: [f32; 3],
        c: f32,
        r2: f32,
        half_height: f32,
        inv_r: f32,
        sun_xy: [f32; 2],
        cap_z: f32,
        cap_sun: f32,
    },
    /// A capsule (a segment `a`-`b` swept by a ball), relative to the eye:
    /// one segment of a deformable body. `u` is the unit axis, `len` the
    /// segment's length, and `c = |a x u|^2 - r^2` (in `f64` before
    /// rounding: the difference of two nearly equal numbers for a thin rod
    /// far away).
    Capsule {
        a: [f32; 3],
        b: [f32; 3],
        u: [f32; 3],
        len: f32,
        a_u: f32,
        c: f32,
        /// `|a|^2 - r^2` and `|b|^2 - r^2`, the end balls' constants.
        a2: f32,
        b2: f32,
        a_sun: f32,
        u_sun: f32,
        b_sun: f32,
        inv_r: f32,
    },
}

/// The cosine between a world-frame normal and the sun, clamped at 0.
fn sun_cos(normal: Vector3<f64>, sun: &Vector3<f64>) -> f32 {
    normal.dot(sun).max(0.0) as f32
}

impl Prim {
    pub fn new(shape: &Shape, eye: &Point3<f64>, sun: &Vector3<f64>) -> Self {
        let v3 = |v: Vector3<f64>| [v.x as f32, v.y as f32, v.z as f32];
        match *shape {
            Shape::Sphere { center, radius } => {
                let c = center - eye;
                Prim::Sphere {
                    c: v3(c),
                    c2: (c.norm_squared() - radius * radius) as f32,
                    c_sun: c.dot(sun) as f32,
                    inv_r: (1.0 / radius) as f32,
                }
            }
            Shape::Box {
                center,
                half_extents: h,
                yaw,
            } => {
                let (sin, cos) = (yaw.rad.sin(), yaw.rad.cos());
                let w = eye - center;
                let o = Vector3::new(cos * w.x + sin * w.y, -sin * w.x + cos * w.y, w.z);
                let normal = |a: usize| {
                    // The face on the eye's side; none when the eye is
                    // between the two planes (no ray enters through them).
                    let s = if o[a] > h[a] {
                        1.0
                    } else if o[a] < -h[a] {
                        -1.0
                    } else {
                        return 0.0;
                    };
                    let mut n = Vector3::zeros();
                    n[a] = s;
                    let n = Vector3::new(cos * n.x - sin * n.y, sin * n.x + cos * n.y, n.z);
                    sun_cos(n, sun)
                };
                Prim::Box {
                    cos: cos as f32,
                    sin: sin as f32,
                    lo: v3(-h - o),
                    hi: v3(h - o),
                    face_sun: [normal(0), normal(1), normal(2)],
                }
            }
            Shape::Cylinder {
                center,
                radius,
                half_height,
            } => {
                let o = eye - center;
                let (cap_z, cap_sun) = if o.z > half_height {
                    (half_height, sun_cos(Vector3::z(), sun))
                } else if o.z < -half_height {
                    (-half_height, sun_cos(-Vector3::z(), sun))
                } else {
                    (f64::NAN, 0.0)
                };
                Prim::Cylinder {
                    o: v3(o),
                    c: (o.x * o.x + o.y * o.y - radius * radius) as f32,
                    r2: (radius * radius) as f32,
                    half_height: half_height as f32,
                    inv_r: (1.0 / radius) as f32,
                    sun_xy: [sun.x as f32, sun.y as f32],
                    cap_z: cap_z as f32,
                    cap_sun,
                }
            }
        }
    }

    /// The capsule of radius `r` along `p`-`q` (world frame), seen from `eye`.
    pub fn capsule(
        p: [f64; 3],
        q: [f64; 3],
        r: f64,
        eye: &Point3<f64>,
        sun: &Vector3<f64>,
    ) -> Self {
        let v3 = |v: Vector3<f64>| [v.x as f32, v.y as f32, v.z as f32];
        let (a, b) = (Point3::from(p) - eye, Point3::from(q) - eye);
        let len = (b - a).norm();
        // A degenerate segment is a ball: any axis will do.
        let u = if len > 0.0 {
            (b - a) / len
        } else {
            Vector3::x()
        };
        Prim::Capsule {
            a: v3(a),
            b: v3(b),
            u: v3(u),
            len: len as f32,
            a_u: a.dot(&u) as f32,
            c: (a.cross(&u).norm_squared() - r * r) as f32,
            a2: (a.norm_squared() - r * r) as f32,
            b2: (b.norm_squared() - r * r) as f32,
            a_sun: a.dot(sun) as f32,
            u_sun: u.dot(sun) as f32,
            b_sun: b.dot(sun) as f32,
            inv_r: (1.0 / r) as f32,
        }
    }

    /// Casts the packet against this primitive (object `id`), keeping the
    /// nearer hits.
    pub fn cast(&self, id: u32, p: &Packet, best: &mut Nearest) {
        let [dx, dy, dz] = &p.d;
        match *self {
            Prim::Sphere {
                c,
                c2,
                c_sun,
                inv_r,
            } => {
                for l in 0..LANES {
                    let b = c[0] * dx[l] + c[1] * dy[l] + c[2] * dz[l];
                    let t = b - (b * b - c2).sqrt();
                    // Normal (t d - c) / r.
                    let sc = max((t * p.d_sun[l] - c_sun) * inv_r, 0.0);
                    best.keep(l, id, t, sc);
                }
            }
            Prim::Box {
                cos,
                sin,
                lo,
                hi,
                face_sun,
            } => {
                for l in 0..LANES {
                    let d = [cos * dx[l] + sin * dy[l], cos * dy[l] - sin * dx[l], dz[l]];
                    let mut near = [0.0f32; 3];
                    let mut far = [0.0f32; 3];
                    for a in 0..3 {
                        let inv = 1.0 / d[a];
                        let (t0, t1) = (lo[a] * inv, hi[a] * inv);
                        near[a] = min(t0, t1);
                        far[a] = max(t0, t1);
                    }
                    let t_in = max(near[0], max(near[1], near[2]));
                    let t_out = min(far[0], min(far[1], far[2]));
                    let sc = if near[0] == t_in {
                        face_sun[0]
                    } else if near[1] == t_in {
                        face_sun[1]
                    } else {
                        face_sun[2]
                    };
                    let t = if t_in <= t_out { t_in } else { f32::NAN };
                    best.keep(l, id, t, sc);
                }
            }
            Prim::Cylinder {
                o,
                c,
                r2,
                half_height,
                inv_r,
                sun_xy,
                cap_z,
                cap_sun,
            } => {
                for l in 0..LANES {
                    let (x, y, z) = (dx[l], dy[l], dz[l]);
                    // Side: (o + t d)_xy on the circle, within the height.
                    let a = x * x + y * y;
                    let b = o[0] * x + o[1] * y;
                    let ts = (-b - (b * b - a * c).sqrt()) / a;
                    let side = (ts > 0.0) & ((o[2] + ts * z).abs() <= half_height);
                    let ts = if side { ts } else { f32::INFINITY };
                    let side_sun =
                        ((o[0] + ts * x) * sun_xy[0] + (o[1] + ts * y) * sun_xy[1]) * inv_r;
                    // The cap facing the eye, inside the circle.
                    let tc = (cap_z - o[2]) / z;
                    let (px, py) = (o[0] + tc * x, o[1] + tc * y);
                    let cap = (tc > 0.0) & (tc < ts) & (px * px + py * py <= r2);
                    let t = if cap { tc } else { ts };
                    let sc = if cap { cap_sun } else { max(side_sun, 0.0) };
                    best.keep(l, id, t, sc);
                }
            }
            Prim::Capsule {
                a,
                b,
                u,
                len,
                a_u,
                c,
                a2,
                b2,
                a_sun,
                u_sun,
                b_sun,
                inv_r,
            } => {
                for l in 0..LANES {
                    let (x, y, z) = (dx[l], dy[l], dz[l]);
                    // Side: the infinite cylinder about the axis, where
                    // |(t d - a) x u|^2 = r^2, kept only between the ends.
                    let d_u = x * u[0] + y * u[1] + z * u[2];
                    let d_a = x * a[0] + y * a[1] + z * a[2];
                    let qa = 1.0 - d_u * d_u;
                    let qb = d_a - a_u * d_u;
                    let ts = (qb - (qb * qb - qa * c).sqrt()) / qa;
                    let s = ts * d_u - a_u;
                    let ts = if (ts > 0.0) & (s >= 0.0) & (s <= len) {
                        ts
                    } else {
                        f32::INFINITY
                    };
                    // The end balls (NaN where missed, so not taken).
                    let d_b = x * b[0] + y * b[1] + z * b[2];
                    let ta = d_a - (d_a * d_a - a2).sqrt();
                    let tb = d_b - (d_b * d_b - b2).sqrt();
                    let ta = if ta > 0.0 { ta } else { f32::INFINITY };
                    let tb = if tb > 0.0 { tb } else { f32::INFINITY };
                    let t = min(ts, min(ta, tb));
                    // Normal (t d - centre) / r, the centre on the axis.
                    let t_sun = t * p.d_sun[l];
                    let side_sun = (t_sun - a_sun - s * u_sun) * inv_r;
                    let ball = if ta < tb { a_sun } else { b_sun };
                    let sc = if ts <= min(ta, tb) {
                        side_sun
                    } else {
                        (t_sun - ball) * inv_r
                    };
                    best.keep(l, id, t, max(sc, 0.0));
                }
            }
        }
    }
}

/// Per frame: the eye, the camera's rotation and the prepared primitives
/// (the world's objects, then the body's capsules).
#[derive(Debug, Clone, Default)]
pub struct Frame {
    /// How many of `prims` are the world's objects.
    pub objects: usize,
    rot: [[f32; 3]; 3],
    sun: [f32; 3],
    /// Eye height above the ground and the ground's sun cosine, when the
    /// eye is above it.
    ground: Option<(f32, f32)>,
    pub prims: Vec<Prim>,
}

impl Frame {
    /// Prepares `world` and `body` as seen from `world_from_camera`,
    /// reusing storage.
    pub fn prepare(
        &mut self,
        world: &World,
        body: BodyShape<'_>,
        world_from_camera: &Isometry3<f64>,
        sun: &Vector3<f64>,
    ) {
        let eye = Point3::from(world_from_camera.translation.vector);
        let r = world_from_camera.rotation.to_rotation_matrix();
        self.rot = std::array::from_fn(|i| std::array::from_fn(|j| r[(i, j)] as f32));
        self.sun = [sun.x as f32, sun.y as f32, sun.z as f32];
        self.ground = world
            .ground
            .filter(|g| eye.z > g.height_m)
            .map(|g| ((eye.z - g.height_m) as f32, sun_cos(Vector3::z(), sun)));
        self.prims.clear();
        self.prims.extend(
            world
                .objects()
                .iter()
                .map(|o| Prim::new(&o.shape, &eye, sun)),
        );
        self.objects = self.prims.len();
        self.prims.extend(
            body.segments()
                .map(|(p, q)| Prim::capsule(p, q, body.radius_m, &eye, sun)),
        );
    }

    /// The surface id of primitive `i`: the object's index, or [`BODY`].
    #[inline]
    pub fn surface(&self, i: u32) -> u32 {
        if (i as usize) < self.objects {
            i
        } else {
            BODY
        }
    }

    /// The packet of optical-frame directions `dirs` in world orientation
    /// (only its z lanes unless `full`).
    pub fn packet(&self, dirs: &[Lanes; 3], full: bool, p: &mut Packet) {
        let (r, s) = (&self.rot, &self.sun);
        let [x, y, z] = dirs;
        let row = |i: usize, l: usize| r[i][0] * x[l] + r[i][1] * y[l] + r[i][2] * z[l];
        for l in 0..LANES {
            p.d[2][l] = row(2, l);
        }
        if full {
            for l in 0..LANES {
                p.d[0][l] = row(0, l);
                p.d[1][l] = row(1, l);
                p.d_sun[l] = p.d[0][l] * s[0] + p.d[1][l] * s[1] + p.d[2][l] * s[2];
            }
        }
    }

    /// The sky beyond `far`, or the ground where the packet meets it.
    pub fn ground(&self, p: &Packet, far: f32, best: &mut Nearest) {
        best.t = [far; LANES];
        best.id = [SKY; LANES];
        best.sun_cos = [0.0; LANES];
        if let Some((height, sun)) = self.ground {
            for l in 0..LANES {
                best.keep(l, GROUND, -height / p.d[2][l], sun);
            }
        }
    }
}
