//! The plant's body in the cast: a ray against one capsule (closed forms,
//! and the surface it reports), and the rod in a full frame.

use super::packet::{self, Packet, LANES};
use super::*;
use crate::world::{Object, Shape, Yaw};
use nalgebra::{Point3, Translation3, UnitQuaternion};

/// Distance from `p` to the segment `a`-`b`.
fn to_segment(p: Vector3<f64>, a: Vector3<f64>, b: Vector3<f64>) -> f64 {
    let ab = b - a;
    let s = ((p - a).dot(&ab) / ab.norm_squared()).clamp(0.0, 1.0);
    (p - a - s * ab).norm()
}

/// One packet of `dirs` (unit, world frame) from the origin against
/// the capsule `a`-`b` of radius `r`: (t, sun cosine) per ray, `t`
/// infinite for a miss.
fn cast_capsule(dirs: &[Vector3<f64>], a: [f64; 3], b: [f64; 3], r: f64) -> Vec<(f64, f64)> {
    let sun = Vector3::from(SUN);
    let prim = packet::Prim::capsule(a, b, r, &Point3::origin(), &sun);
    let mut p = Packet {
        d: [[0.0; LANES]; 3],
        d_sun: [0.0; LANES],
    };
    for (l, d) in dirs.iter().enumerate() {
        for k in 0..3 {
            p.d[k][l] = d[k] as f32;
        }
        p.d_sun[l] = d.dot(&sun) as f32;
    }
    let mut best = CastScratch::default().nearest;
    best.t = [f32::INFINITY; LANES];
    prim.cast(packet::BODY, &p, &mut best);
    (0..dirs.len())
        .map(|l| (best.t[l] as f64, best.sun_cos[l] as f64))
        .collect()
}

/// Closed forms: a ray across the side (a circle of the cylinder in
/// the ray's plane), straight at an end ball, past the end, and from
/// behind the eye.
#[test]
fn a_ray_meets_a_capsule_where_the_closed_forms_say() {
    let (a, b, r) = ([1.0, -0.5, 0.0], [1.0, 0.5, 0.0], 0.1);
    // In the x-z plane the side is the circle (x - 1)^2 + z^2 = r^2:
    // t^2 - 2 t d_x + 1 - r^2 = 0.
    let side: Vec<Vector3<f64>> = [0.0, 0.03, -0.06, 0.09]
        .iter()
        .map(|h| Vector3::new(1.0, 0.0, *h).normalize())
        .collect();
    for (d, (t, _)) in side.iter().zip(cast_capsule(&side, a, b, r)) {
        let want = d.x - (d.x * d.x - 1.0 + r * r).sqrt();
        assert!((t - want).abs() < 1e-5, "{d:?}: {t} vs {want}");
    }
    // Along the axis: the end ball at 1 m, met at 1 - r; its normal
    // faces the eye.
    let along = [Vector3::y()];
    let (t, sun_cos) = cast_capsule(&along, [0.0, 1.0, 0.0], [0.0, 2.0, 0.0], r)[0];
    assert!((t - 0.9).abs() < 1e-6, "{t}");
    assert!((sun_cos - (-SUN[1]).max(0.0)).abs() < 1e-6);
    let (t, _) = cast_capsule(&along, [0.05, 1.0, 0.0], [0.05, 2.0, 0.0], r)[0];
    assert!(
        (t - (1.0 - (r * r - 0.05f64.powi(2)).sqrt())).abs() < 1e-5,
        "{t}"
    );
    // Past the end: 0.164 m from the end's centre, more than r.
    let past = [Vector3::new(1.0, 0.7, 0.0).normalize()];
    assert_eq!(cast_capsule(&past, a, b, r)[0].0, f64::INFINITY);
    // A capsule behind the eye is not seen.
    let back = [-Vector3::x()];
    assert_eq!(cast_capsule(&back, a, b, r)[0].0, f64::INFINITY);
}

/// Rays in every direction about a slanted capsule: each hit lies on
/// its surface (at `r` from the segment) with the surface's normal,
/// the ray is outside the capsule before it, and a miss passes farther
/// than `r` from the segment.
#[test]
fn capsule_hits_lie_on_the_surface_and_misses_pass_outside() {
    let (a, b, r) = ([0.4, 0.1, -0.05], [0.55, -0.05, 0.1], 0.03);
    let (av, bv) = (Vector3::from(a), Vector3::from(b));
    let sun = Vector3::from(SUN);
    let (mut hits, mut misses) = (0, 0);
    for chunk in 0..40 {
        let dirs: Vec<Vector3<f64>> = (0..LANES)
            .map(|l| {
                let i = (chunk * LANES + l) as f64;
                // A grid of directions around the capsule's centre.
                let (u, v): (f64, f64) = ((i % 50.0) / 50.0 - 0.5, (i / 50.0).floor() / 51.0 - 0.5);
                let c: Vector3<f64> = 0.5 * (av + bv);
                (c + Vector3::new(0.0, 0.4 * u, 0.4 * v)).normalize()
            })
            .collect();
        for (d, (t, sun_cos)) in dirs.iter().zip(cast_capsule(&dirs, a, b, r)) {
            if t.is_finite() {
                hits += 1;
                let p = t * d;
                assert!((to_segment(p, av, bv) - r).abs() < 1e-5, "{d:?} {t}");
                assert!(to_segment((t - 1e-4) * d, av, bv) > r, "{d:?} {t}");
                let ab = bv - av;
                let s = ((p - av).dot(&ab) / ab.norm_squared()).clamp(0.0, 1.0);
                let normal = (p - av - s * ab) / r;
                assert!((sun_cos - normal.dot(&sun).max(0.0)).abs() < 2e-3, "{d:?}");
            } else {
                misses += 1;
                let nearest = (0..=4000)
                    .map(|k| to_segment(d * (0.2 + 0.6 * k as f64 / 4000.0), av, bv))
                    .fold(f64::INFINITY, f64::min);
                assert!(nearest > r - 1e-4, "{d:?}: missed at {nearest}");
            }
        }
    }
    assert!(hits > 100 && misses > 100, "{hits} hits, {misses} misses");
}

/// The body's capsules in a full cast: the rod across a camera's view
/// is where it is, in front of the objects behind it, and its surface
/// id is the body's.
#[test]
fn the_cast_sees_the_body_in_front_of_the_world() {
    let mut world = World::new(290.0, 250.0, [1, 2, 3]);
    world.add_object(Object::new(
        "wall",
        Shape::Box {
            center: Point3::new(0.0, 1.0, 0.0),
            half_extents: Vector3::new(2.0, 0.05, 2.0),
            yaw: Yaw::zero(),
        },
        [9, 9, 9],
        300.0,
    ));
    // A rod of 10 segments hanging along z at y = 0.5, x = 0.1, r 1 cm.
    let points: Vec<[f64; 3]> = (0..=10).map(|i| [0.1, 0.5, -0.05 * i as f64]).collect();
    let body = BodyShape {
        points: &points,
        radius_m: 0.01,
    };
    let k = CameraIntrinsics::from_hfov(64, 48, 1.2);
    let rays = CameraRays::new(k);
    // Looking along +y from the origin, level: optical z = world y.
    let pose = Isometry3::from_parts(
        Translation3::new(0.0, 0.0, -0.25),
        UnitQuaternion::from_euler_angles(-std::f64::consts::FRAC_PI_2, 0.0, 0.0),
    );
    let mut hits = Hits::default();
    rays.cast(&world, body, &pose, &mut CastScratch::default(), &mut hits);
    let mut rod = 0;
    for v in 0..k.height_px {
        for u in 0..k.width_px {
            let i = (v * k.width_px + u) as usize;
            let d = pose.rotation * k.ray(u, v).normalize();
            let p =
                pose.translation.vector + d * (hits.depth_m[i] as f64 / k.ray(u, v).normalize().z);
            if hits.surface[i] == BODY {
                rod += 1;
                let dist = (Vector3::new(p.x, p.y, 0.0) - Vector3::new(0.1, 0.5, 0.0)).norm();
                assert!(
                    (dist - 0.01).abs() < 1e-4 || p.z < -0.49,
                    "({u}, {v}) {p:?}"
                );
            } else {
                assert_eq!(hits.surface[i], 0, "({u}, {v})");
                assert!((p.y - 0.95).abs() < 1e-4, "({u}, {v}) {p:?}");
            }
        }
    }
    // About 2 cm at 0.5 m over fx = 32 / tan(0.6) = 47 px: 1.9 columns
    // by the rod's rows in the view.
    assert!(rod > 20, "{rod} pixels of the rod");
    // Without the body the wall is everywhere.
    rays.cast(
        &world,
        BodyShape::NONE,
        &pose,
        &mut CastScratch::default(),
        &mut hits,
    );
    assert!(hits.surface.iter().all(|&s| s == 0));
}
