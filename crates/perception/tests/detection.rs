//! Obstacles from synthetic depth images and scans of known scenes; hot
//! targets from synthetic infrared images with registered depth.

mod common;

use common::{render_depth, render_infrared, rng, world_from_camera, Thing, AMBIENT_K};
use nalgebra::{Isometry3, Vector3};
use recede_msg::{CameraIntrinsics, LidarScan};
use recede_perception::{
    ObstacleConfig, ObstacleMapper, ObstacleShape, Registration, TargetConfig, TargetFinder,
};

fn cyl(x: f64, y: f64, radius: f64) -> Thing {
    Thing::Cylinder {
        x,
        y,
        radius,
        height: 1.5,
        temperature_k: AMBIENT_K,
    }
}

/// Runs `frames` depth frames from a camera moving along x and returns
/// (recall, worst position error, worst radius error) against `scene`.
fn detect(
    scene: &[Thing],
    cylinders_only: bool,
    eye_z: f64,
    frames: usize,
) -> (ObstacleMapper, f64, f64, f64) {
    let k = CameraIntrinsics::from_hfov(160, 120, 1.5);
    let config = ObstacleConfig::default();
    let mut mapper = ObstacleMapper::new(
        &config,
        cylinders_only,
        ObstacleMapper::points_per_image(&config, &k),
    );
    let mut r = rng(8);
    for f in 0..frames {
        let pose = world_from_camera(Vector3::new(0.1 * f as f64, 0.0, eye_z), 0.0, 0.15);
        let img = render_depth(scene, &k, &pose, 10.0, 0.01, &mut r);
        mapper.depth_frame(f as f64 / 30.0, &img, &k, &pose);
    }
    let (mut found, mut pos_err, mut rad_err) = (0, 0.0f64, 0.0f64);
    for thing in scene {
        let (c, radius) = match *thing {
            Thing::Cylinder { x, y, radius, .. } => (Vector3::new(x, y, 0.0), radius),
            Thing::Sphere { centre, radius, .. } => (centre, radius),
        };
        let nearest = mapper.obstacles().iter().min_by(|a, b| {
            let d = |o: &recede_perception::Obstacle| (o.position_m.xy() - c.xy()).norm();
            d(a).total_cmp(&d(b))
        });
        if let Some(o) = nearest {
            let e = (o.position_m.xy() - c.xy()).norm();
            if e < 0.5 {
                found += 1;
                pos_err = pos_err.max(e);
                rad_err = rad_err.max((o.radius_m - radius).abs());
            }
        }
    }
    let recall = found as f64 / scene.len() as f64;
    (mapper, recall, pos_err, rad_err)
}

#[test]
fn cylinders_in_front_of_a_ground_robot_are_found_with_their_size() {
    let scene = [
        cyl(3.0, 0.0, 0.3),
        cyl(4.5, 1.5, 0.2),
        cyl(5.0, -1.8, 0.4),
        cyl(6.5, 1.2, 0.25),
    ];
    let (mapper, recall, pos_err, rad_err) = detect(&scene, true, 0.4, 6);
    assert_eq!(recall, 1.0, "{:?}", mapper.obstacles());
    assert!(pos_err < 0.12, "position error {pos_err}");
    assert!(rad_err < 0.08, "radius error {rad_err}");
    assert_eq!(
        mapper.obstacles().len(),
        scene.len(),
        "{:?}",
        mapper.obstacles()
    );
    assert!(mapper
        .obstacles()
        .iter()
        .all(|o| matches!(o.shape, ObstacleShape::Cylinder { .. }) && o.position_std_m > 0.0));
}

#[test]
fn a_flying_robot_tells_pillars_from_balls() {
    let scene = [
        Thing::Cylinder {
            x: 4.0,
            y: 0.8,
            radius: 0.3,
            height: 6.0,
            temperature_k: AMBIENT_K,
        },
        Thing::Sphere {
            centre: Vector3::new(4.5, -1.0, 2.0),
            radius: 0.4,
            temperature_k: AMBIENT_K,
        },
    ];
    let (mapper, recall, pos_err, rad_err) = detect(&scene, false, 2.0, 5);
    assert_eq!(recall, 1.0, "{:?}", mapper.obstacles());
    assert!(pos_err < 0.12 && rad_err < 0.1, "{pos_err} {rad_err}");
    let ball = mapper
        .obstacles()
        .iter()
        .find(|o| o.position_m.y < 0.0)
        .unwrap();
    assert_eq!(ball.shape, ObstacleShape::Sphere);
    assert!((ball.position_m.z - 2.0).abs() < 0.15, "{ball:?}");
    let pillar = mapper
        .obstacles()
        .iter()
        .find(|o| o.position_m.y > 0.0)
        .unwrap();
    assert!(matches!(pillar.shape, ObstacleShape::Cylinder { .. }));
}

#[test]
fn ground_alone_makes_no_obstacle_and_a_track_seen_through_expires() {
    let (mapper, ..) = detect(&[], true, 0.4, 5);
    assert!(mapper.obstacles().is_empty());
    // A cylinder that is confirmed, then gone (the scene changes): the
    // free-space check drops it.
    let k = CameraIntrinsics::from_hfov(160, 120, 1.5);
    let config = ObstacleConfig::default();
    let mut mapper = ObstacleMapper::new(&config, true, 20_000);
    let pose = world_from_camera(Vector3::new(0.0, 0.0, 0.4), 0.0, 0.15);
    let mut r = rng(2);
    let scene = [cyl(3.0, 0.0, 0.3)];
    for f in 0..4 {
        let img = render_depth(&scene, &k, &pose, 10.0, 0.01, &mut r);
        mapper.depth_frame(f as f64 * 0.03, &img, &k, &pose);
    }
    assert_eq!(mapper.obstacles().len(), 1);
    for f in 4..4 + config.expiry_misses as usize {
        let img = render_depth(&[], &k, &pose, 10.0, 0.01, &mut r);
        mapper.depth_frame(f as f64 * 0.03, &img, &k, &pose);
    }
    assert!(mapper.obstacles().is_empty());
}

#[test]
fn a_wall_becomes_a_row_of_bounded_circles() {
    // A wide, flat obstacle: a row of touching cylinders 4 m long.
    let scene: Vec<Thing> = (0..21)
        .map(|i| cyl(4.0, -2.0 + 0.2 * i as f64, 0.1))
        .collect();
    let (mapper, ..) = detect(&scene, true, 0.4, 4);
    let obstacles = mapper.obstacles();
    assert!(obstacles.len() >= 2, "{obstacles:?}");
    let config = ObstacleConfig::default();
    assert!(obstacles
        .iter()
        .all(|o| o.radius_m <= config.max_radius_m + 0.1));
    // Every wall point seen head-on is covered by some circle's near side.
    for y in [-1.0, 0.0, 1.0] {
        let p = Vector3::new(3.9, y, 0.5);
        let covered = obstacles
            .iter()
            .any(|o| o.centre_distance(&p) <= o.radius_m + 0.25);
        assert!(covered, "y = {y}: {obstacles:?}");
    }
}

#[test]
fn lidar_scans_give_circles() {
    let config = ObstacleConfig::default();
    let mut mapper = ObstacleMapper::new(&config, true, 4096);
    let scene = [cyl(2.5, 1.0, 0.25), cyl(4.0, -1.5, 0.4)];
    let pose = Isometry3::translation(0.0, 0.0, 0.3);
    let mut r = rng(5);
    for f in 0..4 {
        let n = 720;
        let inc = std::f64::consts::TAU / n as f64;
        let ranges = (0..n)
            .map(|i| {
                let a = -std::f64::consts::PI + i as f64 * inc;
                let d = Vector3::new(a.cos(), a.sin(), 0.0);
                common::cast(&scene, &pose.translation.vector, &d).map_or(f32::NAN, |(t, _)| {
                    (t + common::normal(&mut r) * 0.01) as f32
                })
            })
            .collect();
        let scan = LidarScan {
            angle_min_rad: -std::f64::consts::PI,
            angle_increment_rad: inc,
            range_max_m: 10.0,
            ranges_m: ranges,
        };
        mapper.scan_frame(f as f64 * 0.1, &scan, &pose);
    }
    assert_eq!(mapper.obstacles().len(), 2, "{:?}", mapper.obstacles());
    for (x, y, rad) in [(2.5, 1.0, 0.25), (4.0, -1.5, 0.4)] {
        let o = mapper
            .obstacles()
            .iter()
            .min_by(|a, b| {
                let d = |o: &recede_perception::Obstacle| {
                    (o.position_m.x - x).abs() + (o.position_m.y - y).abs()
                };
                d(a).total_cmp(&d(b))
            })
            .unwrap();
        assert!(
            (o.position_m.xy() - nalgebra::Vector2::new(x, y)).norm() < 0.1
                && (o.radius_m - rad).abs() < 0.08,
            "{o:?}"
        );
    }
}

#[test]
fn hot_objects_in_infrared_are_placed_with_registered_depth() {
    let hot = Thing::Sphere {
        centre: Vector3::new(4.0, -0.8, 0.6),
        radius: 0.3,
        temperature_k: 450.0,
    };
    let warm = Thing::Cylinder {
        x: 5.0,
        y: 2.0,
        radius: 0.25,
        height: 1.8,
        temperature_k: 310.0,
    };
    let cold = cyl(3.0, 0.5, 0.3);
    let scene = [hot, warm, cold];
    // Depth and infrared cameras side by side on the same body.
    let body = Isometry3::translation(0.0, 0.0, 0.5);
    let depth_k = CameraIntrinsics::from_hfov(160, 120, 1.5);
    let ir_k = CameraIntrinsics::from_hfov(160, 120, 1.0);
    let body_from_depth = world_from_camera(Vector3::new(0.1, 0.02, 0.0), 0.0, 0.1);
    let body_from_ir = world_from_camera(Vector3::new(0.1, -0.03, -0.02), 0.0, 0.1);
    let mut registration =
        Registration::new(ir_k, depth_k, body_from_ir.inverse() * body_from_depth);
    let config = TargetConfig::default();
    let mut finder = TargetFinder::new(&config, ir_k);
    let mut r = rng(3);
    for f in 0..3 {
        let t = f as f64 / 30.0;
        let depth = render_depth(
            &scene,
            &depth_k,
            &(body * body_from_depth),
            10.0,
            0.01,
            &mut r,
        );
        registration.update(t, &depth);
        let ir = render_infrared(&scene, &ir_k, &(body * body_from_ir), 0.3, &mut r);
        finder.frame(t, &ir, Some(&mut registration), &(body * body_from_ir));
    }
    let targets = finder.targets();
    assert_eq!(targets.len(), 2, "{targets:?} {:?}", finder.last_blobs());
    let hottest = finder.hottest().unwrap();
    assert!((hottest.temperature_k - 450.0).abs() < 5.0, "{hottest:?}");
    // The hot surface faces the camera: within the radius of the centre.
    let e = (hottest.position_m - Vector3::new(4.0, -0.8, 0.6)).norm();
    assert!(e < 0.35, "{hottest:?}");
    let warm_t = targets.iter().find(|t| t.id != hottest.id).unwrap();
    assert!((warm_t.temperature_k - 310.0).abs() < 3.0, "{warm_t:?}");
    assert!((warm_t.position_m.xy() - nalgebra::Vector2::new(5.0, 2.0)).norm() < 0.35);

    // A warm object seen only through a sliver narrower than two depth
    // pixels (just past the cold cylinder's edge) cannot be placed: its
    // blob is left out rather than put on the occluder.
    let sliver = Thing::Cylinder {
        x: 5.0,
        y: 1.2,
        radius: 0.25,
        height: 1.8,
        temperature_k: 310.0,
    };
    let hidden = [hot, sliver, cold];
    let mut finder2 = TargetFinder::new(&config, ir_k);
    for f in 0..3 {
        let t = f as f64 / 30.0;
        let depth = render_depth(
            &hidden,
            &depth_k,
            &(body * body_from_depth),
            10.0,
            0.01,
            &mut r,
        );
        registration.update(t, &depth);
        let ir = render_infrared(&hidden, &ir_k, &(body * body_from_ir), 0.3, &mut r);
        finder2.frame(t, &ir, Some(&mut registration), &(body * body_from_ir));
    }
    assert_eq!(finder2.last_blobs().len(), 2, "{:?}", finder2.last_blobs());
    assert_eq!(finder2.targets().len(), 1, "{:?}", finder2.targets());
    assert!(finder2.unplaced_blobs >= 3);

    // Without a depth image close in time the blobs are not placed.
    let mut blind = TargetFinder::new(&config, ir_k);
    let ir = render_infrared(&scene, &ir_k, &(body * body_from_ir), 0.3, &mut r);
    blind.frame(5.0, &ir, Some(&mut registration), &(body * body_from_ir));
    assert!(blind.targets().is_empty());
    assert_eq!(blind.unplaced_blobs, 2);
}

/// Issue 13: pillars 0.1 to 0.3 m apart (surface to surface), in a row
/// across the view and one along it, seen by the quadrotor's depth camera
/// while it approaches: each is its own obstacle with its own size. An
/// obstacle counts for one pillar at most (a merged circle finds one).
#[test]
fn pillars_a_few_centimetres_apart_stay_apart() {
    // Thinner pillars at 0.1 m are below the camera's resolution at 5 m
    // (a 0.15 m pillar spans under three bearing steps at pixel_stride 2).
    for (radius, gap) in [
        (0.3, 0.1),
        (0.3, 0.2),
        (0.3, 0.3),
        (0.2, 0.25),
        (0.25, 0.15),
    ] {
        let pitch = 2.0 * radius + gap;
        let mut pillars: Vec<(f64, f64)> =
            (0..4).map(|i| (5.0, pitch * (i as f64 - 1.5))).collect();
        // A row along the view, off to the side.
        pillars.extend((0..3).map(|i| (4.0 + pitch * i as f64, 2.2)));
        let scene: Vec<Thing> = pillars
            .iter()
            .map(|&(x, y)| Thing::Cylinder {
                x,
                y,
                radius,
                height: 6.0,
                temperature_k: AMBIENT_K,
            })
            .collect();
        let (mapper, ..) = detect(&scene, false, 2.0, 10);
        let obstacles = mapper.obstacles();
        let mut claimed = vec![false; obstacles.len()];
        let (mut found, mut radius_error, mut smallest) = (0, 0.0_f64, f64::INFINITY);
        for &(x, y) in &pillars {
            let nearest = obstacles
                .iter()
                .enumerate()
                .filter(|(i, _)| !claimed[*i])
                .map(|(i, o)| {
                    (
                        i,
                        o,
                        (o.position_m.xy() - nalgebra::Vector2::new(x, y)).norm(),
                    )
                })
                .min_by(|a, b| a.2.total_cmp(&b.2));
            if let Some((i, o, d)) = nearest {
                if d < 0.5 * pitch {
                    claimed[i] = true;
                    found += 1;
                    radius_error = radius_error.max((o.radius_m - radius).abs());
                    smallest = smallest.min(o.radius_m);
                }
            }
        }
        let recall = found as f64 / pillars.len() as f64;
        let largest = obstacles.iter().map(|o| o.radius_m).fold(0.0, f64::max);
        eprintln!(
            "radius {radius} gap {gap}: recall {recall:.2}, {} obstacles, radii {smallest:.3} to {largest:.3}, radius error {radius_error:.3}",
            obstacles.len()
        );
        assert!(
            recall >= 0.9,
            "radius {radius} gap {gap}: recall {recall}: {obstacles:?}"
        );
        assert!(
            largest < radius + 0.15,
            "radius {radius} gap {gap}: a circle of {largest} m covers two pillars: {obstacles:?}"
        );
        // A pillar half hidden behind its neighbour is not read small
        // (under-reading is the unsafe side): its hidden edge is not taken
        // for its edge, and when its middle is hidden too the curve of
        // what is seen gives its circle. Before, the row along the view at
        // a 0.1 m gap read 0.143 for 0.3; now 0.279.
        assert!(
            smallest > radius - 0.05,
            "radius {radius} gap {gap}: a pillar read {smallest} m: {obstacles:?}"
        );
    }
}

/// Issue 13: a fitted radius has no systematic error. Single pillars (the
/// flagship's 0.15 m among them) at 2 to 6 m, ahead and off to the side,
/// seen by the quadrotor's pitched depth camera while it approaches: the
/// signed mean of the radius errors is within 2 cm, the worst within 5 cm.
/// (A safety margin belongs to the controller's keep-out distance.)
#[test]
fn pillar_radii_are_unbiased() {
    let mut errors = Vec::new();
    for radius in [0.1, 0.15, 0.2, 0.3, 0.4] {
        for range in [2.0, 3.0, 4.0, 5.0, 6.0] {
            for side in [0.0, 0.35, -0.7] {
                let (x, y) = (range + 0.5, side * range);
                let scene = [Thing::Cylinder {
                    x,
                    y,
                    radius,
                    height: 6.0,
                    temperature_k: AMBIENT_K,
                }];
                let (mapper, recall, ..) = detect(&scene, false, 2.0, 5);
                assert_eq!(
                    recall,
                    1.0,
                    "r {radius} at ({x}, {y}): {:?}",
                    mapper.obstacles()
                );
                let o = mapper
                    .obstacles()
                    .iter()
                    .min_by(|a, b| {
                        let d = |o: &recede_perception::Obstacle| {
                            (o.position_m.xy() - nalgebra::Vector2::new(x, y)).norm()
                        };
                        d(a).total_cmp(&d(b))
                    })
                    .unwrap();
                errors.push((o.radius_m - radius, radius, x, y));
            }
        }
    }
    let mean = errors.iter().map(|e| e.0).sum::<f64>() / errors.len() as f64;
    let worst = errors
        .iter()
        .copied()
        .max_by(|a, b| a.0.abs().total_cmp(&b.0.abs()))
        .unwrap();
    for &(e, r, x, y) in &errors {
        eprintln!("r {r:.2} at ({x:.1}, {y:+.2}): error {e:+.3}");
    }
    eprintln!(
        "{} fits: mean radius error {mean:+.4} m, worst {:+.3} (r {} at ({}, {}))",
        errors.len(),
        worst.0,
        worst.1,
        worst.2,
        worst.3
    );
    assert!(mean.abs() <= 0.02, "mean radius error {mean:+.4} m");
    assert!(worst.0.abs() <= 0.05, "worst radius error {worst:?}");
}

/// Issue 13: spheres (0.2 to 0.6 m, above, at and below the camera's
/// height, ahead and to the side, 2.5 to 5.5 m away) are read without
/// bias either: a sphere's widest image row is the one through its centre.
#[test]
fn sphere_radii_are_unbiased() {
    let mut errors = Vec::new();
    for radius in [0.2, 0.3, 0.45, 0.6] {
        for range in [2.5, 3.5, 4.5, 5.5] {
            for (side, dz) in [(0.0, 0.0), (0.3, 0.6), (-0.4, -0.4)] {
                let centre = Vector3::new(range + 0.5, side * range, 2.0 + dz);
                let scene = [Thing::Sphere {
                    centre,
                    radius,
                    temperature_k: AMBIENT_K,
                }];
                let (mapper, recall, ..) = detect(&scene, false, 2.0, 5);
                assert_eq!(
                    recall,
                    1.0,
                    "r {radius} at {centre:?}: {:?}",
                    mapper.obstacles()
                );
                let o = mapper
                    .obstacles()
                    .iter()
                    .min_by(|a, b| {
                        let d = |o: &recede_perception::Obstacle| (o.position_m - centre).norm();
                        d(a).total_cmp(&d(b))
                    })
                    .unwrap();
                assert_eq!(
                    o.shape,
                    ObstacleShape::Sphere,
                    "r {radius} at {centre:?}: {o:?}"
                );
                errors.push((o.radius_m - radius, radius, centre));
            }
        }
    }
    let mean = errors.iter().map(|e| e.0).sum::<f64>() / errors.len() as f64;
    let worst = errors
        .iter()
        .copied()
        .max_by(|a, b| a.0.abs().total_cmp(&b.0.abs()))
        .unwrap();
    for &(e, r, c) in &errors {
        eprintln!(
            "r {r:.2} at ({:.1}, {:+.2}, {:.1}): error {e:+.3}",
            c.x, c.y, c.z
        );
    }
    eprintln!(
        "{} fits: mean radius error {mean:+.4} m, worst {:+.3} (r {} at {:?})",
        errors.len(),
        worst.0,
        worst.1,
        worst.2
    );
    assert!(mean.abs() <= 0.02, "mean radius error {mean:+.4} m");
    assert!(worst.0.abs() <= 0.06, "worst radius error {worst:?}");
}

/// A ball whose far part lies beyond the range limit (the flagship's, seen
/// from 7 to 8 m), or whose middle is above the image: what is seen is
/// narrower than the ball, so it is never taken for the ball's size.
#[test]
fn a_ball_cut_by_the_range_limit_is_not_read_small() {
    let radius = 0.6;
    for x in [8.0, 8.3, 8.6] {
        let centre = Vector3::new(x, -0.5, 2.5);
        let scene = [Thing::Sphere {
            centre,
            radius,
            temperature_k: AMBIENT_K,
        }];
        let (mapper, ..) = detect(&scene, false, 2.0, 5);
        for o in mapper.obstacles() {
            eprintln!("ball at {x}: {o:?}");
        }
        let small = mapper
            .obstacles()
            .iter()
            .filter(|o| (o.position_m.xy() - centre.xy()).norm() < 1.0)
            .map(|o| o.radius_m)
            .fold(f64::INFINITY, f64::min);
        assert!(
            small.is_infinite() || small > radius - 0.1,
            "ball at {x}: read {small}"
        );
    }
    // Above the view, its middle beyond the image's top row: what is seen
    // is a slice of it.
    for (x, z) in [(3.0, 3.6), (3.5, 3.7), (4.0, 3.9)] {
        let centre = Vector3::new(x, 0.3, z);
        let scene = [Thing::Sphere {
            centre,
            radius,
            temperature_k: AMBIENT_K,
        }];
        let (mapper, ..) = detect(&scene, false, 2.0, 5);
        let small = mapper
            .obstacles()
            .iter()
            .filter(|o| (o.position_m.xy() - centre.xy()).norm() < 1.0)
            .map(|o| o.radius_m)
            .fold(f64::INFINITY, f64::min);
        eprintln!("ball above at ({x}, {z}): smallest {small}");
        assert!(
            small.is_infinite() || small > radius - 0.1,
            "ball above at ({x}, {z}): read {small}"
        );
    }
}
