//! Writes recordings to temporary `.rrd` files and decodes them back.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use nalgebra::{Isometry3, Point3, UnitQuaternion, Vector3};
use recede_viz::{
    paths, CameraSpec, Curve, Level, Obstacle, ObstacleSource, Recorder, RecorderConfig, RobotKind,
    RobotPose, Series, Stamp, VizError, When,
};
use rerun::{ChunkStore, ChunkStoreConfig};

/// Decodes an `.rrd` into its one recording's chunk store.
fn decode(path: &Path) -> ChunkStore {
    let mut file = std::fs::File::open(path).expect("open rrd");
    let stores =
        ChunkStore::from_rrd_reader(&ChunkStoreConfig::DEFAULT, &mut file).expect("decode rrd");
    let mut recordings: Vec<ChunkStore> = stores
        .into_values()
        .filter(|store| store.id().kind() == rerun::StoreKind::Recording)
        .collect();
    assert_eq!(recordings.len(), 1, "one recording in the file");
    recordings.remove(0)
}

fn entities(store: &ChunkStore) -> BTreeSet<String> {
    store
        .all_entities_sorted()
        .iter()
        .map(|path| path.to_string().trim_start_matches('/').to_owned())
        .collect()
}

fn camera(name: &str) -> CameraSpec {
    CameraSpec {
        name: name.to_owned(),
        resolution_px: [4, 3],
        focal_length_px: [3.0, 3.0],
        principal_point_px: [2.0, 1.5],
        body_from_camera: Isometry3::identity(),
    }
}

#[test]
fn recording_contains_every_entity_path_on_both_timelines() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("run.rrd");
    let recorder = Recorder::to_file(&file).unwrap();

    recorder.declare_robot(RobotKind::Quadrotor {
        arm_length_m: 0.2,
        rotor_radius_m: 0.08,
    });
    for name in ["rgb", "depth", "ir"] {
        recorder.declare_camera(&camera(name));
    }
    recorder.declare_series(Series::State, &["x", "y", "z"]);
    recorder.declare_series(Series::Command, &["f0", "f1", "f2", "f3"]);
    let path: Vec<Point3<f64>> = (0..20)
        .map(|i| Point3::new(f64::from(i).cos(), f64::from(i).sin(), 1.0))
        .collect();
    recorder.log_reference(When::Static, &path);
    recorder.log_obstacles(
        When::Static,
        ObstacleSource::True,
        &[
            Obstacle::Sphere {
                center: Point3::new(1.0, 0.0, 1.0),
                radius_m: 0.3,
            },
            Obstacle::Box {
                center: Point3::new(-1.0, 0.0, 1.0),
                half_sizes_m: Vector3::new(0.2, 0.2, 1.0),
                rotation: UnitQuaternion::identity(),
            },
        ],
    );
    for step in 0..10_u64 {
        let t = Stamp::new(step, step as f64 * 0.01);
        recorder.log_pose(
            t,
            RobotPose::rigid(Point3::new(0.0, 0.0, 1.0), UnitQuaternion::identity()),
        );
        recorder.log_prediction(t, &path[..5]);
        recorder.log_targets(t, &[Point3::new(2.0, 0.0, 1.0)]);
        recorder.log_obstacles(
            t,
            ObstacleSource::Perceived,
            &[Obstacle::Ellipsoid {
                center: Point3::new(1.05, 0.0, 1.0),
                half_sizes_m: Vector3::new(0.35, 0.3, 0.3),
                rotation: UnitQuaternion::identity(),
            }],
        );
        recorder.log_rgb(t, "rgb", [4, 3], &[128; 36]);
        recorder.log_depth(t, "depth", [4, 3], &[2.5; 12]);
        recorder.log_infrared(t, "ir", [4, 3], &[300.0; 12]);
        recorder.log_lidar(t, &[Point3::new(1.0, 0.0, 0.0), Point3::new(0.0, 1.0, 0.0)]);
        recorder.log_series(t, Series::State, &[0.0, 0.0, 1.0]);
        recorder.log_series(t, Series::Command, &[2.0, 2.0, 2.0, 2.0]);
        recorder.log_series(t, Series::CommandBounds, &[0.0, 8.0]);
        recorder.log_series(t, Series::Tracking, &[0.0, 0.1, 0.0, 0.0, 1.0, 1.0]);
        recorder.log_series(t, Series::StepTimeUs, &[400.0]);
        recorder.log_series(t, Series::QpIterations, &[12.0]);
        recorder.log_series(t, Series::ResidualNorm, &[0.01]);
        recorder.log_series(t, Series::EstimatorStd, &[0.02, 0.02, 0.03]);
        recorder.log_series(t, Series::Tip, &[0.05, 0.06, -0.3, -0.31]);
        recorder.log_series(t, Series::TipError, &[14.1]);
        for curve in Curve::ALL {
            recorder.log_curve(t, curve, &path[..3]);
        }
    }
    recorder.log_event(Stamp::new(5, 0.05), Level::Warn, "fallback: shifted plan");
    let stats = recorder.finish().unwrap();
    assert_eq!(stats.dropped, 0);
    assert_eq!(stats.rejected, 0);
    assert!(stats.queued > 100);

    let store = decode(&file);
    let found = entities(&store);
    let mut expected: Vec<String> = [
        paths::WORLD,
        paths::ROBOT,
        paths::REFERENCE,
        paths::PREDICTION,
        paths::TARGETS,
        paths::LIDAR,
        paths::EVENTS,
    ]
    .iter()
    .map(|p| (*p).to_owned())
    .collect();
    for part in ["arms", "rotors", "hub", "heading"] {
        expected.push(paths::child(paths::BODY, part));
    }
    for root in [paths::OBSTACLES_TRUE, paths::OBSTACLES_PERCEIVED] {
        expected.push(paths::child(root, paths::ELLIPSOIDS));
        expected.push(paths::child(root, paths::BOXES));
    }
    for name in ["rgb", "depth", "ir"] {
        expected.push(paths::camera(name));
        expected.push(paths::camera_image(name));
    }
    for series in Series::ALL {
        expected.push(series.path().to_owned());
    }
    for curve in Curve::ALL {
        expected.push(curve.path().to_owned());
    }
    for path in &expected {
        assert!(found.contains(path), "missing {path}; found {found:?}");
    }

    let timelines = store.schema().timelines();
    let sim_time = timelines
        .iter()
        .find(|(name, _)| name.as_str() == paths::SIM_TIME)
        .map(|(_, timeline)| timeline.typ());
    assert_eq!(sim_time, Some(rerun::time::TimeType::DurationNs));
    // Every chunk of the moving robot frame sits on both timelines.
    let robot_chunks: Vec<_> = store
        .iter_physical_chunks()
        .filter(|chunk| chunk.entity_path().to_string().trim_start_matches('/') == paths::ROBOT)
        .collect();
    assert!(!robot_chunks.is_empty());
    for chunk in robot_chunks {
        let names: Vec<&str> = chunk.timelines().keys().map(|n| n.as_str()).collect();
        assert!(names.contains(&paths::SIM_TIME), "{names:?}");
        assert!(names.contains(&paths::STEP), "{names:?}");
    }
}

/// The step values of every temporal row of `entity`, sorted.
fn steps_of(store: &ChunkStore, entity: &str) -> Vec<i64> {
    let mut steps: Vec<i64> = store
        .iter_physical_chunks()
        .filter(|chunk| chunk.entity_path().to_string().trim_start_matches('/') == entity)
        .filter_map(|chunk| {
            let column = chunk
                .timelines()
                .iter()
                .find(|(name, _)| name.as_str() == paths::STEP)?
                .1;
            // The stream's own wall-clock timeline stays beside ours.
            assert!(
                chunk.timelines().keys().any(|n| n.as_str() == "log_time"),
                "{entity} lost log_time"
            );
            Some(column.times_raw().to_vec())
        })
        .flatten()
        .collect();
    steps.sort_unstable();
    steps
}

/// Rows gathered on the recorder thread and handed over in chunks (by
/// count and at the end) all arrive: every step of every entity, once.
#[test]
fn every_row_of_a_long_run_arrives_once() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("long.rrd");
    let mut config = RecorderConfig::file(&file);
    // Room for the whole run: the test pushes faster than any recorder drains.
    config.channel_capacity = 20_000;
    let recorder = Recorder::new(config).unwrap();
    recorder.declare_series(Series::Command, &["f0", "f1"]);
    let n = 3000_u64;
    for step in 0..n {
        let t = Stamp::new(step, step as f64 * 0.01);
        recorder.log_pose(
            t,
            RobotPose::rigid(
                Point3::new(step as f64 * 0.001, 0.0, 1.0),
                UnitQuaternion::identity(),
            ),
        );
        recorder.log_series(t, Series::Command, &[1.0, step as f64]);
        recorder.log_series(t, Series::StepTimeUs, &[400.0]);
        if step % 100 == 0 {
            recorder.log_event(t, Level::Info, format!("step {step}"));
        }
    }
    let stats = recorder.finish().unwrap();
    assert_eq!((stats.dropped, stats.rejected), (0, 0));
    let store = decode(&file);
    let all: Vec<i64> = (0..n as i64).collect();
    assert_eq!(steps_of(&store, paths::ROBOT), all);
    assert_eq!(steps_of(&store, Series::Command.path()), all);
    assert_eq!(steps_of(&store, Series::StepTimeUs.path()), all);
    let hundreds: Vec<i64> = (0..n as i64).step_by(100).collect();
    assert_eq!(steps_of(&store, paths::EVENTS), hundreds);
}

#[test]
fn each_robot_kind_logs_its_frames_and_geometry() {
    let cases: [(RobotKind, RobotPose, &[&str]); 3] = [
        (
            RobotKind::CartPole {
                pole_length_m: 0.8,
                cart_width_m: 0.4,
                cart_height_m: 0.2,
            },
            RobotPose::CartPole {
                cart_position_m: 0.5,
                pole_angle_rad: 3.0,
            },
            &[
                paths::ROBOT,
                paths::POLE,
                paths::POLE_GEOMETRY,
                "world/robot/body/cart",
            ],
        ),
        (
            RobotKind::DiffDrive {
                length_m: 0.5,
                width_m: 0.4,
                height_m: 0.2,
            },
            RobotPose::planar(1.0, 2.0, 0.3),
            &[
                paths::ROBOT,
                "world/robot/body/chassis",
                "world/robot/body/heading",
            ],
        ),
        (
            RobotKind::TwoLinkArm {
                link1_length_m: 1.0,
                link2_length_m: 0.7,
            },
            RobotPose::TwoLinkArm {
                q1_rad: 0.2,
                q2_rad: 0.4,
            },
            &[
                paths::LINK1,
                paths::LINK1_GEOMETRY,
                paths::ELBOW,
                paths::LINK2,
                paths::LINK2_GEOMETRY,
                "world/robot/body/base",
            ],
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (i, (kind, pose, expected)) in cases.iter().enumerate() {
        let file = dir.path().join(format!("robot{i}.rrd"));
        let recorder = Recorder::to_file(&file).unwrap();
        recorder.declare_robot(*kind);
        recorder.log_pose(Stamp::new(0, 0.0), *pose);
        recorder.log_pose(Stamp::new(1, 0.01), *pose);
        let stats = recorder.finish().unwrap();
        assert_eq!((stats.dropped, stats.rejected), (0, 0));
        let found = entities(&decode(&file));
        for path in *expected {
            assert!(
                found.contains(*path),
                "{kind:?}: missing {path}; found {found:?}"
            );
        }
    }
}

#[test]
fn mis_sized_image_is_rejected_counted_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.rrd");
    let recorder = Recorder::to_file(&file).unwrap();
    recorder.declare_camera(&camera("rgb"));
    recorder.log_rgb(Stamp::new(0, 0.0), "rgb", [4, 3], &[0; 35]);
    let stats = recorder.finish().unwrap();
    assert_eq!(stats.rejected, 1);
    let found = entities(&decode(&file));
    assert!(found.contains(paths::EVENTS), "{found:?}");
    assert!(!found.contains(&paths::camera_image("rgb")), "{found:?}");
}

#[test]
fn dropping_the_recorder_leaves_a_complete_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dropped.rrd");
    {
        let recorder = Recorder::to_file(&file).unwrap();
        recorder.log_series(Stamp::new(0, 0.0), Series::StepTimeUs, &[1.0]);
        recorder.log_event(Stamp::new(0, 0.0), Level::Info, "started");
    }
    let found = entities(&decode(&file));
    assert!(found.contains(paths::PLOT_STEP_TIME_US), "{found:?}");
    assert!(found.contains(paths::EVENTS), "{found:?}");
}

#[test]
fn unwritable_paths_fail_before_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no/such/dir/run.rrd");
    assert!(matches!(
        Recorder::to_file(&missing),
        Err(VizError::MissingDirectory { .. })
    ));
    assert!(matches!(
        Recorder::to_file(dir.path()),
        Err(VizError::PathIsDirectory { .. })
    ));
    let plain_file = dir.path().join("file.txt");
    std::fs::write(&plain_file, b"x").unwrap();
    assert!(matches!(
        Recorder::to_file(plain_file.join("run.rrd")),
        Err(VizError::NotADirectory { .. })
    ));
    assert!(matches!(Recorder::to_file(""), Err(VizError::EmptyPath)));
    let mut config = RecorderConfig::file(dir.path().join("ok.rrd"));
    config.channel_capacity = 0;
    assert!(matches!(Recorder::new(config), Err(VizError::ZeroCapacity)));
}

#[test]
fn bad_viewer_address_is_an_error() {
    assert!(matches!(
        Recorder::connect("rerun+http://:::bad/proxy"),
        Err(VizError::Open { .. })
    ));
}

/// A "viewer" that accepts connections, then goes away mid-run. Logging must
/// stay non-blocking throughout and finishing must end within its timeout.
#[test]
fn vanishing_viewer_never_blocks_the_caller() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut config = RecorderConfig::connect(addr.to_string());
    config.shutdown_timeout = Duration::from_secs(20);
    config.channel_capacity = 64;
    let recorder = Recorder::new(config).unwrap();

    let mut listener = Some(listener);
    let mut slowest = Duration::ZERO;
    let image = vec![7_u8; 160 * 120 * 3];
    for step in 0..3000_u64 {
        if step == 1000 {
            // The viewer disappears: nothing listens on the port any more.
            drop(listener.take());
        }
        if let Some(listener) = &listener {
            listener.set_nonblocking(true).unwrap();
            // Accept and immediately hang up on whatever connects.
            while let Ok((stream, _)) = listener.accept() {
                drop(stream);
            }
        }
        let t = Stamp::new(step, step as f64 * 0.001);
        let start = Instant::now();
        recorder.log_series(t, Series::StepTimeUs, &[0.5]);
        recorder.log_rgb(t, "rgb", [160, 120], &image);
        slowest = slowest.max(start.elapsed());
    }
    assert!(
        slowest < Duration::from_secs(1),
        "a logging call took {slowest:?}"
    );

    let start = Instant::now();
    // Finishing comes back. Whether the flush reports the lost viewer depends
    // on where rerun's gRPC client was when the port closed (it drops what it
    // cannot send once disconnected, and then a flush has nothing to wait
    // for), so both outcomes are accepted; hanging or timing out is not.
    let result = recorder.finish();
    assert!(
        start.elapsed() < Duration::from_secs(25),
        "finish took {:?}: {result:?}",
        start.elapsed()
    );
    match result {
        Ok(_) | Err(VizError::Flush { .. }) => {}
        Err(other) => panic!("finishing after a lost viewer: {other}"),
    }
}
