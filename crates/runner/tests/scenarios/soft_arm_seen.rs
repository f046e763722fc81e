//! The continuum arm seen by a world-fixed depth camera
//! (`configs/soft_arm_seen.toml`): the camera sees the rod where it is,
//! and the recording draws what it sees beside the rod.

use nalgebra::{Point3, Vector3};
use recede_msg::{Measurement, SensorKind};
use recede_perception::ArmShape;
use recede_runner::record::Recording;
use recede_runner::run::{run_with, RunOptions};
use recede_runner::scenario::Scenario;
use recede_sim::Simulator;
use recede_viz::paths;

fn load() -> Scenario {
    let path = crate::workspace_root().join("configs/soft_arm_seen.toml");
    Scenario::load(&path).unwrap_or_else(|e| panic!("soft_arm_seen: {e:#}"))
}

/// Distance from `p` to the polyline through `nodes`.
fn to_centre_line(p: Vector3<f64>, nodes: &[[f64; 3]]) -> f64 {
    nodes
        .windows(2)
        .map(|w| {
            let (a, b) = (Vector3::from(w[0]), Vector3::from(w[1]));
            let ab = b - a;
            let s = ((p - a).dot(&ab) / ab.norm_squared()).clamp(0.0, 1.0);
            (p - a - s * ab).norm()
        })
        .fold(f64::INFINITY, f64::min)
}

/// The rod bent by two tendons and swinging, a frame every 1/30 s for a
/// second (the cameras' latency set to 0, so each frame is of the rod at
/// the instant it is compared with): every perceived point lies on the
/// rod's surface (its distance to the true centre line is the radius,
/// within the depth noise of 1 mm), and every node of the rod has a
/// perceived point within two radii (the camera sees all of it).
#[test]
fn the_camera_sees_the_rod_where_it_is() {
    let scenario = load();
    let f = &scenario.file;
    let mut sensors = f.sensors.clone();
    for s in &mut sensors {
        s.latency_secs = 0.0;
    }
    let mut sim = Simulator::from_config(&scenario.plant_config(), &f.world, &sensors, 7).unwrap();
    let info = sim
        .sensors()
        .find(|s| s.kind == SensorKind::DepthCamera)
        .cloned()
        .unwrap();
    assert!(info.world_fixed);
    let r = sim.plant().shape_radius_m();
    assert!(r > 0.0);
    let k = info.intrinsics.unwrap();
    let mut shape = ArmShape::new(
        k,
        info.body_from_sensor,
        Point3::origin(),
        0.5,
        k.pixel_count(),
    );
    let command = [12.0, 0.0, 0.0, 6.0, 0.0, 0.0];
    let (mut errors, mut frames) = (Vec::new(), 0);
    let mut tip_x = Vec::new();
    for i in 1..=30 {
        let t = f64::from(i) / 30.0;
        sim.step_to(t, &command).unwrap();
        let nodes = sim.plant().shape_points().to_vec();
        tip_x.push(nodes[nodes.len() - 1][0]);
        for reading in sim.poll(sim.time_secs()) {
            let Measurement::DepthImage(depth) = &reading.measurement else {
                continue;
            };
            // The frame of t = 0 arrives with the first poll.
            if reading.stamp.stamp_secs != sim.time_secs() {
                assert_eq!(reading.stamp.stamp_secs, 0.0);
                continue;
            }
            frames += 1;
            let points = shape.update(depth);
            assert!(points.len() > 150, "{t}: {} points", points.len());
            for p in points {
                errors.push(to_centre_line(Vector3::from(*p), &nodes) - r);
            }
            for n in &nodes {
                let near = points
                    .iter()
                    .map(|p| (Vector3::from(*p) - Vector3::from(*n)).norm())
                    .fold(f64::INFINITY, f64::min);
                assert!(near < 2.0 * r, "{t}: node {n:?} unseen ({near} m)");
            }
        }
    }
    assert_eq!(frames, 30);
    assert_eq!(shape.overflow(), 0);
    // The rod moved: the camera followed a bending arm, not a still one.
    let swing = tip_x.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b))
        - tip_x.iter().fold(f64::INFINITY, |a, &b| a.min(b));
    assert!(swing > 0.02, "tip x moved {swing} m");
    errors.sort_by(f64::total_cmp);
    let rms = (errors.iter().map(|e| e * e).sum::<f64>() / errors.len() as f64).sqrt();
    let p99 = errors[errors.len() * 99 / 100]
        .abs()
        .max(errors[errors.len() / 100].abs());
    let worst = errors[0].abs().max(errors[errors.len() - 1].abs());
    eprintln!(
        "{frames} frames, {} points, swing {swing:.4} m: |distance - r| rms {rms:.2e}, p99 {p99:.2e}, worst {worst:.2e} m",
        errors.len()
    );
    assert!(rms < 1.5e-3, "rms {rms} m over {} points", errors.len());
    assert!(p99 < 3e-3, "99th percentile {p99} m");
    assert!(worst < 6e-3, "worst {worst} m");
}

/// The recording holds both cameras' images and the perceived points, and
/// the arm's blueprint shows them.
#[test]
fn the_recording_draws_what_the_camera_sees() {
    let dir = tempfile::tempdir().unwrap();
    let rrd = dir.path().join("seen.rrd");
    let options = RunOptions {
        duration_secs: Some(0.3),
        recording: Recording::File(rrd.clone()),
        ..RunOptions::default()
    };
    let s = run_with(&load(), &options, None).unwrap();
    assert_eq!(s.fallbacks, 0);
    let (entities, blueprint) = crate::soft_arm_sensed::decode(&rrd);
    let depth = paths::camera_image("arm_depth");
    let infrared = paths::camera_image("arm_infrared");
    for path in [
        paths::ARM_PERCEIVED,
        paths::ARM_SHAPE,
        depth.as_str(),
        infrared.as_str(),
    ] {
        assert!(entities.contains(path), "{path} missing from {entities:?}");
    }
    for shown in [paths::camera("arm_depth"), paths::camera("arm_infrared")] {
        assert!(blueprint.contains(&shown), "{shown} not in the blueprint");
    }
}
