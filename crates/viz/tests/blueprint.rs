//! The recording as a viewer opens it: a blueprint that shows what was
//! logged, encoded images, and the static scene ahead of the run.

use std::collections::BTreeSet;
use std::io::BufReader;
use std::path::Path;

use nalgebra::{Isometry3, Point3, UnitQuaternion, Vector3};
use recede_viz::{
    paths, CameraSpec, Layout, Obstacle, ObstacleSource, Recorder, RobotKind, RobotPose, Series,
    Stamp, When,
};
use rerun::external::re_log_encoding::DecoderApp;
use rerun::log::{Chunk, LogMsg};
use rerun::StoreKind;

/// Every message of an `.rrd`, in file order.
fn messages(path: &Path) -> Vec<LogMsg> {
    let file = std::fs::File::open(path).expect("open rrd");
    DecoderApp::decode_lazy(BufReader::new(file))
        .map(|msg| msg.expect("decode rrd message"))
        .collect()
}

/// The chunks of the stores of `kind`, in file order.
fn chunks(msgs: &[LogMsg], kind: StoreKind) -> Vec<Chunk> {
    msgs.iter()
        .filter_map(|msg| match msg {
            LogMsg::ArrowMsg(store, arrow) if store.kind() == kind => {
                Some(Chunk::from_arrow_msg(arrow).expect("chunk"))
            }
            _ => None,
        })
        .collect()
}

fn path_of(chunk: &Chunk) -> String {
    chunk
        .entity_path()
        .to_string()
        .trim_start_matches('/')
        .to_owned()
}

fn camera(name: &str) -> CameraSpec {
    CameraSpec {
        name: name.to_owned(),
        resolution_px: [16, 12],
        focal_length_px: [12.0, 12.0],
        principal_point_px: [8.0, 6.0],
        body_from_camera: Isometry3::identity(),
    }
}

fn layout() -> Layout {
    let mut layout = Layout::framing(&[Point3::new(-10.0, -5.0, 2.0), Point3::new(10.0, 5.0, 2.0)]);
    layout.cameras = vec!["rgb".into(), "depth".into(), "ir".into()];
    layout.estimator = true;
    layout.residual = true;
    layout
}

/// A short run in the order `recede run` logs: the static scene, the
/// blueprint, then steps.
fn record(file: &Path, layout: &Layout) {
    let recorder = Recorder::to_file(file).unwrap();
    recorder.declare_robot(RobotKind::Quadrotor {
        arm_length_m: 0.2,
        rotor_radius_m: 0.08,
    });
    for name in &layout.cameras {
        recorder.declare_camera(&camera(name));
    }
    for series in Series::ALL {
        recorder.declare_series(series, &["a", "b"]);
    }
    recorder.log_reference(
        When::Static,
        &[Point3::origin(), Point3::new(1.0, 0.0, 1.0)],
    );
    recorder.log_labelled_obstacles(
        When::Static,
        ObstacleSource::True,
        &[Obstacle::Box {
            center: Point3::new(5.0, 0.0, 0.5),
            half_sizes_m: Vector3::repeat(0.5),
            rotation: UnitQuaternion::identity(),
        }],
        &["crate1"],
    );
    recorder.send_blueprint(layout);
    // Noisy pixels, as a camera makes them.
    let noise = |i: usize| ((i * 7919) % 251) as f32 / 251.0;
    let rgb: Vec<u8> = (0..16 * 12 * 3).map(|i| (noise(i) * 255.0) as u8).collect();
    let depth: Vec<f32> = (0..16 * 12).map(|i| 2.0 + noise(i)).collect();
    let ir: Vec<f32> = (0..16 * 12).map(|i| 293.0 + 10.0 * noise(i)).collect();
    for step in 0..5_u64 {
        let t = Stamp::new(step, step as f64 * 0.01);
        recorder.log_pose(
            t,
            RobotPose::rigid(Point3::new(0.0, 0.0, 1.0), UnitQuaternion::identity()),
        );
        recorder.log_estimate(t, Point3::new(0.01, 0.0, 1.0));
        for series in Series::ALL {
            recorder.log_series(t, series, &[1.0, 2.0]);
        }
        recorder.log_rgb(t, "rgb", [16, 12], &rgb);
        recorder.log_depth(t, "depth", [16, 12], &depth);
        recorder.log_infrared(t, "ir", [16, 12], &ir);
        recorder.log_event(t, recede_viz::Level::Info, "step");
    }
    let stats = recorder.finish().unwrap();
    assert_eq!((stats.dropped, stats.rejected), (0, 0));
}

#[test]
fn the_blueprint_is_sent_activated_with_the_eye_and_the_sim_time_timeline() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("run.rrd");
    record(&file, &layout());
    let msgs = messages(&file);
    let activation = msgs.iter().find_map(|m| match m {
        LogMsg::BlueprintActivationCommand(cmd) => Some(cmd.clone()),
        _ => None,
    });
    let activation = activation.expect("a blueprint activation command");
    assert!(activation.make_default && activation.make_active);
    assert_eq!(activation.blueprint_id.kind(), StoreKind::Blueprint);

    let blueprint = chunks(&msgs, StoreKind::Blueprint);
    let paths: BTreeSet<String> = blueprint.iter().map(path_of).collect();
    assert!(paths.contains("viewport"), "{paths:?}");
    assert!(paths.contains("time_panel"), "{paths:?}");
    assert!(
        paths.iter().any(|p| p.ends_with("/EyeControls3D")),
        "{paths:?}"
    );
    // 3D + 3 cameras + 6 plots + event log, each with its contents.
    let views = paths
        .iter()
        .filter(|p| p.starts_with("view/") && p.matches('/').count() == 1);
    assert_eq!(views.count(), 11, "{paths:?}");
    let time_panel = blueprint
        .iter()
        .find(|c| path_of(c) == "time_panel")
        .unwrap();
    let text: String = time_panel
        .components()
        .values()
        .map(|column| format!("{column:?}"))
        .collect();
    assert!(
        text.contains(paths::SIM_TIME),
        "time panel on sim_time: {text}"
    );
}

#[test]
fn every_entity_the_blueprint_shows_is_logged() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("run.rrd");
    let layout = layout();
    record(&file, &layout);
    let logged: BTreeSet<String> = chunks(&messages(&file), StoreKind::Recording)
        .iter()
        .map(path_of)
        .collect();
    let shown = layout.entities();
    assert!(shown.len() >= 12, "{shown:?}");
    for entity in shown {
        assert!(
            logged.contains(&entity),
            "{entity} is in a view but not logged: {logged:?}"
        );
    }
}

/// The arm's layout faces the x-z plane from -y, framed on its points,
/// and shows its plots (tensions with bounds, tip, tip error), each logged.
#[test]
fn the_arm_layout_faces_its_plane_and_shows_its_plots() {
    let points = [
        Point3::origin(),
        Point3::new(0.0, 0.0, -0.45),
        Point3::new(0.11, 0.0, -0.36),
    ];
    let layout = Layout::arm_plane(&points);
    assert!(layout.arm);
    let eye = layout.eye - layout.look_at;
    assert!(
        eye.y < -0.3 && eye.x.abs() < 1e-12 && eye.z.abs() < 1e-12,
        "{eye:?}"
    );
    assert!(
        (layout.look_at.z + 0.225).abs() < 1e-12,
        "{:?}",
        layout.look_at
    );
    let shown = layout.entities();
    for series in [
        Series::Command,
        Series::CommandBounds,
        Series::Tip,
        Series::TipError,
    ] {
        assert!(shown.contains(&series.path().to_owned()), "{shown:?}");
    }
    assert!(!shown.contains(&Series::Tracking.path().to_owned()));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("arm.rrd");
    record(&file, &layout);
    let logged: BTreeSet<String> = chunks(&messages(&file), StoreKind::Recording)
        .iter()
        .map(path_of)
        .collect();
    for entity in shown {
        assert!(logged.contains(&entity), "{entity} not logged");
    }
}

#[test]
fn images_are_stored_encoded() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("run.rrd");
    record(&file, &layout());
    let recording = chunks(&messages(&file), StoreKind::Recording);
    for (camera, component) in [
        ("rgb", "EncodedImage:blob"),
        ("depth", "EncodedDepthImage:blob"),
        ("ir", "EncodedImage:blob"),
    ] {
        let path = paths::camera_image(camera);
        let images: Vec<&Chunk> = recording.iter().filter(|c| path_of(c) == path).collect();
        assert!(!images.is_empty(), "no image from {camera}");
        for chunk in images {
            let components: Vec<String> = chunk
                .component_descriptors()
                .map(|d| format!("{d:?}"))
                .collect();
            assert!(
                components.iter().any(|c| c.contains(component)),
                "{camera}: {components:?}"
            );
            assert!(
                !components.iter().any(|c| c.contains("Image:buffer")),
                "{camera} stored raw: {components:?}"
            );
        }
    }
}

#[test]
fn the_static_scene_is_written_before_the_first_step() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("run.rrd");
    record(&file, &layout());
    let recording = chunks(&messages(&file), StoreKind::Recording);
    let first_step = recording
        .iter()
        .position(|c| !c.is_static())
        .expect("per-step data");
    let last_static = recording
        .iter()
        .rposition(|c| c.is_static() && path_of(c) != paths::EVENTS)
        .expect("a static scene");
    assert!(
        last_static < first_step,
        "static chunk {last_static} ({}) after the first per-step chunk {first_step} ({})",
        path_of(&recording[last_static]),
        path_of(&recording[first_step])
    );
    let statics: BTreeSet<String> = recording[..first_step].iter().map(path_of).collect();
    for entity in [
        paths::REFERENCE,
        "world/robot/body/arms",
        "world/obstacles/true/boxes",
    ] {
        assert!(
            statics.contains(entity),
            "{entity} not in the static scene: {statics:?}"
        );
    }
}
