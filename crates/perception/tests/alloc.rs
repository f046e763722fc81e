//! The file robots' filter allocates nothing per reading, command or
//! estimate after setup (its timeline's storage is reserved at setup, its
//! filters are fixed-size): the URDF arm with six encoders, the model-file
//! cart-pole with a fix and an encoder; the continuum arm with a tip fix
//! and a tip IMU.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use common::sensor;
use nalgebra::{Isometry3, Vector3};
use recede_model::robots::{ModelFileConfig, RobotConfig};
use recede_msg::{Measurement, Reading, SensorId, SensorKind, Stamp};
use recede_perception::{EkfConfig, Perception, PerceptionConfig};
use recede_test_support::{allocations_in, CountingAllocator};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

fn models() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../configs/models")
}

/// Encoders at 500 Hz (and a fix at 100 Hz when `fix`), a command every
/// 10 ms, an estimate at each command; `secs` long.
fn stream(channels: usize, fix: bool, secs: f64) -> Vec<(f64, Option<Reading>)> {
    let mut out = Vec::new();
    let steps = (secs * 500.0) as usize;
    for k in 1..=steps {
        let t = k as f64 / 500.0;
        out.push((
            t,
            Some(Reading {
                sensor: SensorId(0),
                stamp: Stamp::new(t, 0.001),
                measurement: Measurement::Encoders {
                    ticks: (0..channels).map(|c| (k / 50 + c) as i64).collect(),
                },
            }),
        ));
        if fix && k % 5 == 0 {
            out.push((
                t,
                Some(Reading {
                    sensor: SensorId(1),
                    stamp: Stamp::new(t, 0.002),
                    measurement: Measurement::PositionFix {
                        position_m: Vector3::new(0.001 * k as f64, 0.0, 0.0),
                        yaw_rad: 0.0,
                    },
                }),
            ));
        }
        if k % 5 == 0 {
            out.push((t, None));
        }
    }
    out
}

fn drive(p: &mut Perception, events: &[(f64, Option<Reading>)], nu: usize) {
    let command = [0.1; 6];
    for (t, reading) in events {
        match reading {
            Some(r) => {
                p.on_reading(r);
            }
            None => {
                p.on_command(*t, &command[..nu]);
                p.estimate(*t);
            }
        }
    }
}

fn check(robot: RobotConfig, x0: &[f64], channels: usize, fix: bool, nu: usize) {
    let sensors = vec![
        sensor(
            0,
            "enc",
            SensorKind::Encoders,
            500.0,
            Isometry3::identity(),
            None,
        ),
        sensor(
            1,
            "fix",
            SensorKind::PositionFix,
            100.0,
            Isometry3::identity(),
            None,
        ),
    ];
    let sensors = if fix { sensors } else { sensors[..1].to_vec() };
    let config = EkfConfig {
        encoder_ticks_per_rev: 4096,
        gate_chi2_encoders: 1e9,
        gate_chi2_position_fix: 1e9,
        ..EkfConfig::default()
    };
    let mut p = Perception::new(&config, &PerceptionConfig::default(), &robot, &sensors, x0)
        .expect("perception builds");
    // Past the history window, so the timeline is at its steady length.
    let warm = stream(channels, fix, 1.0);
    drive(&mut p, &warm, nu);
    let later: Vec<_> = stream(channels, fix, 2.0)
        .into_iter()
        .filter(|(t, _)| *t > 1.0)
        .collect();
    let n = allocations_in(|| drive(&mut p, &later, nu));
    assert_eq!(
        n, 0,
        "allocations over 1 s of readings, commands and estimates"
    );
    assert_eq!(p.estimate_faults(), 0);
    assert!(p.last_estimate().state.iter().all(|v| v.is_finite()));
}

#[test]
fn the_urdf_arms_filter_allocates_nothing_per_step() {
    let robot = RobotConfig::ModelFile(ModelFileConfig::urdf(
        models().join("arm6.urdf"),
        Default::default(),
        BTreeMap::new(),
    ));
    check(robot, &[0.0; 12], 6, false, 6);
}

#[test]
fn the_model_file_cart_poles_filter_allocates_nothing_per_step() {
    let robot = RobotConfig::ModelFile(ModelFileConfig::new(
        models().join("cartpole.toml"),
        BTreeMap::new(),
    ));
    check(robot, &[0.0, 0.1, 0.0, 0.0], 1, true, 1);
}

/// The continuum arm hanging still: a tip fix at 100 Hz and a tip IMU at
/// 500 Hz (gravity along the tip's -x), a command every 5 ms.
#[test]
fn the_continuum_arms_filter_allocates_nothing_per_step() {
    let robot = RobotConfig::ContinuumArm(Default::default());
    let sensors = vec![
        sensor(
            0,
            "imu",
            SensorKind::Imu,
            500.0,
            Isometry3::identity(),
            None,
        ),
        sensor(
            1,
            "fix",
            SensorKind::PositionFix,
            100.0,
            Isometry3::identity(),
            None,
        ),
    ];
    let mut p = Perception::new(
        &EkfConfig::default(),
        &PerceptionConfig::default(),
        &robot,
        &sensors,
        &[0.0; 6],
    )
    .expect("perception builds");
    let stream = |from: usize, to: usize| {
        let mut out = Vec::new();
        for k in from..to {
            let t = k as f64 / 500.0;
            out.push((
                t,
                Some(Reading {
                    sensor: SensorId(0),
                    stamp: Stamp::new(t, 0.001),
                    measurement: Measurement::Imu {
                        specific_force_mps2: Vector3::new(-9.81, 0.0, 0.0),
                        gyro_radps: Vector3::zeros(),
                    },
                }),
            ));
            if k % 5 == 0 {
                out.push((
                    t,
                    Some(Reading {
                        sensor: SensorId(1),
                        stamp: Stamp::new(t, 0.002),
                        measurement: Measurement::PositionFix {
                            position_m: Vector3::new(0.0, 0.0, -0.45),
                            yaw_rad: 0.0,
                        },
                    }),
                ));
            }
            if k % 5 == 0 {
                out.push((t, None));
            }
        }
        out
    };
    // Tensions that hold nothing: the arm hangs.
    let drive = |p: &mut Perception, events: &[(f64, Option<Reading>)]| {
        for (t, reading) in events {
            match reading {
                Some(r) => {
                    p.on_reading(r);
                }
                None => {
                    p.on_command(*t, &[0.0; 6]);
                    p.estimate(*t);
                }
            }
        }
    };
    drive(&mut p, &stream(1, 501));
    let later = stream(501, 1001);
    let n = allocations_in(|| drive(&mut p, &later));
    assert_eq!(
        n, 0,
        "allocations over 1 s of readings, commands and estimates"
    );
    assert_eq!(p.estimate_faults(), 0);
    let x = &p.last_estimate().state;
    assert!(x.iter().all(|v| v.abs() < 0.1), "hanging still: {x:?}");
    assert!(p.sensor_stats().iter().all(|s| s.rejected == 0));
}

/// The depth and infrared path allocates nothing per frame after setup:
/// obstacles from depth, blobs placed through the registration (tiles,
/// bounds, bearing steps and clusters in buffers sized at construction).
#[test]
fn depth_and_infrared_frames_allocate_nothing() {
    use common::{render_depth, render_infrared, rng, world_from_camera, Thing};
    use recede_msg::CameraIntrinsics;
    use recede_perception::{
        ObstacleConfig, ObstacleMapper, Registration, TargetConfig, TargetFinder,
    };
    let scene = [
        Thing::Cylinder {
            x: 4.0,
            y: 0.5,
            radius: 0.3,
            height: 2.0,
            temperature_k: 293.0,
        },
        Thing::Cylinder {
            x: 5.0,
            y: -1.0,
            radius: 0.25,
            height: 1.8,
            temperature_k: 310.0,
        },
        Thing::Sphere {
            centre: Vector3::new(4.0, 1.5, 0.8),
            radius: 0.3,
            temperature_k: 450.0,
        },
    ];
    let (dk, ik) = (
        CameraIntrinsics::from_hfov(160, 120, 1.5),
        CameraIntrinsics::from_hfov(160, 120, 1.0),
    );
    let config = ObstacleConfig::default();
    let mut mapper = ObstacleMapper::new(
        &config,
        false,
        ObstacleMapper::points_per_image(&config, &dk),
    );
    let body_from_depth = world_from_camera(Vector3::new(0.1, 0.0, 0.0), 0.0, 0.2);
    let body_from_ir = world_from_camera(Vector3::new(0.1, 0.0, -0.03), 0.0, 0.2);
    let mut registration = Registration::new(ik, dk, body_from_ir.inverse() * body_from_depth);
    let mut finder = TargetFinder::new(&TargetConfig::default(), ik);
    let mut r = rng(5);
    let frames: Vec<_> = (0..6)
        .map(|f| {
            let body = Isometry3::translation(0.2 * f as f64, 0.0, 1.0);
            let depth = render_depth(&scene, &dk, &(body * body_from_depth), 10.0, 0.01, &mut r);
            let ir = render_infrared(&scene, &ik, &(body * body_from_ir), 0.3, &mut r);
            (f as f64 / 30.0, body, depth, ir)
        })
        .collect();
    let mut run = |frames: &[(
        f64,
        Isometry3<f64>,
        recede_msg::DepthImage,
        recede_msg::InfraredImage,
    )]| {
        for (t, body, depth, ir) in frames {
            mapper.depth_frame(*t, depth, &dk, &(body * body_from_depth));
            registration.update(*t, depth);
            finder.frame(*t, ir, Some(&mut registration), &(body * body_from_ir));
        }
    };
    run(&frames[..2]);
    let n = allocations_in(|| run(&frames[2..]));
    assert_eq!(n, 0, "allocations over four depth and infrared frames");
    assert!(
        !finder.last_blobs().is_empty() && finder.last_blobs().iter().any(|b| b.depth_m.is_some())
    );
    assert!(!mapper.last_detections().is_empty());
}

/// The arm's shape from a world-fixed depth camera: the first frame fills
/// the buffer's capacity, later frames (more or fewer arm pixels, one
/// overflowing) allocate nothing.
#[test]
fn arm_shape_frames_allocate_nothing() {
    use common::{render_depth, rng, world_from_camera, Thing};
    use nalgebra::Point3;
    use recede_msg::CameraIntrinsics;
    use recede_perception::ArmShape;
    let k = CameraIntrinsics::from_hfov(160, 120, 1.0);
    let camera = world_from_camera(Vector3::new(-0.6, 0.0, 0.2), 0.0, 0.0);
    let mut r = rng(3);
    let frames: Vec<_> = (0..5)
        .map(|f| {
            let scene = [Thing::Cylinder {
                x: 0.05 * f as f64,
                y: 0.0,
                radius: 0.01 + 0.01 * f as f64,
                height: 0.4,
                temperature_k: 300.0,
            }];
            render_depth(&scene, &k, &camera, 5.0, 0.001, &mut r)
        })
        .collect();
    let mut shape = ArmShape::new(k, camera, Point3::new(0.0, 0.0, 0.2), 0.5, 600);
    shape.update(&frames[0]);
    let mut counts = Vec::with_capacity(frames.len());
    let n = allocations_in(|| {
        for depth in &frames[1..] {
            counts.push(shape.update(depth).len());
        }
    });
    assert_eq!(n, 0, "allocations over four arm frames");
    assert!(counts[0] > 50 && shape.overflow() > 0, "{counts:?}");
}
