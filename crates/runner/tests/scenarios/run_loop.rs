//! `recede run`'s loop (`run_with`): goals, repeatability, the recording, a
//! recorder that cannot write, a viewer that goes away. (The program's
//! exit code for a recorder that cannot write: tests/cli.rs.)

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use recede_rt::StepRecord;
use recede_runner::record::Recording;
use recede_runner::run::{run_with, RunOptions, RunSummary};
use recede_runner::scenario::Scenario;

fn root() -> PathBuf {
    crate::workspace_root()
}

fn load(file: &str) -> Scenario {
    Scenario::load(&root().join(file)).unwrap_or_else(|e| panic!("{file}: {e:#}"))
}

fn lockstep(duration: Option<f64>) -> RunOptions {
    RunOptions {
        duration_secs: duration,
        ..RunOptions::default()
    }
}

#[test]
fn every_scenario_reaches_its_goal_in_lockstep() {
    // Whole runs, whose goals an uncontrolled robot misses: the cart-pole
    // starts hanging and must be up and still; the quadrotor, launched at
    // 6 m/s, must be back at the start of the eight after three laps (at
    // hover thrust it would be 100 m away); the arm and the ground robot
    // must reach set points away from their starts.
    for (file, duration) in [
        ("configs/cartpole.toml", Some(3.0)),
        ("configs/quadrotor_figure8.toml", None),
        ("configs/arm_payload.toml", None),
        ("tests/data/diffdrive_goto.toml", None),
    ] {
        let s = run_with(&load(file), &lockstep(duration), None)
            .unwrap_or_else(|e| panic!("{file}: {e:#}"));
        assert!(s.goal_reached, "{file}: final state {:?}", s.final_state);
        assert_eq!(s.safety.collisions, 0, "{file}: {:?}", s.safety);
        assert_eq!(s.fallbacks, 0, "{file}");
        assert_eq!(s.safety.constraint_violations, 0, "{file}");
        assert_eq!(s.mode, "lockstep");
        // The flagship flies on its sensors.
        let estimator = if file.contains("figure8") {
            "ekf"
        } else {
            "truth"
        };
        assert_eq!(s.estimator, estimator, "{file}");
        assert!(!s.stopped);
    }
}

/// The summary without its wall-clock figures, and the true states.
fn repeatable(file: &str, seed: u64, workers: usize) -> (serde_json::Value, Vec<u64>) {
    let mut states = Vec::new();
    let mut hook = |r: &StepRecord<'_>| states.extend(r.true_state.iter().map(|v| v.to_bits()));
    let options = RunOptions {
        duration_secs: Some(0.3),
        seed: Some(seed),
        render_workers: Some(workers),
        ..RunOptions::default()
    };
    let s: RunSummary = run_with(&load(file), &options, Some(&mut hook)).unwrap();
    let mut v = serde_json::to_value(&s).unwrap();
    for key in [
        "wall_secs",
        "realtime_factor",
        "step_us",
        "feedback_us",
        "prepare_us",
    ] {
        v.as_object_mut().unwrap().remove(key);
    }
    (v, states)
}

#[test]
fn same_seed_same_run_whatever_the_worker_threads() {
    let file = "configs/quadrotor_figure8.toml";
    let (a, xa) = repeatable(file, 5, 0);
    let (b, xb) = repeatable(file, 5, 0);
    let (c, xc) = repeatable(file, 5, 3);
    assert!(!xa.is_empty());
    assert_eq!(a, b);
    assert!(xa == xb, "same trajectory");
    assert_eq!(a, c, "3 render workers");
    assert!(xa == xc, "same trajectory with 3 render workers");
}

fn decode_entities(path: &Path) -> BTreeSet<String> {
    use rerun::{ChunkStore, ChunkStoreConfig};
    let mut file = std::fs::File::open(path).expect("open rrd");
    let stores =
        ChunkStore::from_rrd_reader(&ChunkStoreConfig::DEFAULT, &mut file).expect("decode rrd");
    stores
        .into_values()
        .filter(|s| s.id().kind() == rerun::StoreKind::Recording)
        .flat_map(|s| {
            s.all_entities_sorted()
                .iter()
                .map(|p| p.to_string().trim_start_matches('/').to_owned())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn the_recording_holds_the_run() {
    use recede_viz::paths;
    let dir = tempfile::tempdir().unwrap();
    let rrd = dir.path().join("q.rrd");
    let options = RunOptions {
        duration_secs: Some(0.25),
        recording: Recording::File(rrd.clone()),
        ..RunOptions::default()
    };
    let s = run_with(&load("configs/quadrotor_figure8.toml"), &options, None).unwrap();
    assert_eq!(s.recorder_dropped, 0);
    assert!(s.recording.as_deref().is_some_and(|r| r.contains("q.rrd")));
    let entities = decode_entities(&rrd);
    let mut want: Vec<String> = [
        paths::ROBOT,
        paths::REFERENCE,
        paths::PREDICTION,
        paths::PLOT_STATE,
        paths::PLOT_COMMAND,
        paths::PLOT_STEP_TIME_US,
        paths::PLOT_QP_ITERATIONS,
        paths::PLOT_ESTIMATOR_STD,
    ]
    .iter()
    .map(|p| p.to_string())
    .collect();
    want.push(paths::child(paths::OBSTACLES_TRUE, paths::BOXES));
    want.push(paths::child(paths::OBSTACLES_TRUE, paths::ELLIPSOIDS));
    for camera in ["rgb_front", "depth_front", "ir_front"] {
        want.push(paths::camera(camera));
        want.push(paths::camera_image(camera));
    }
    for path in want {
        assert!(entities.contains(&path), "{path} missing from {entities:?}");
    }

    // The cart-pole's arm of the body, and a diff-drive's lidar points.
    let rrd = dir.path().join("d.rrd");
    let options = RunOptions {
        duration_secs: Some(0.5),
        recording: Recording::File(rrd.clone()),
        ..RunOptions::default()
    };
    run_with(&load("tests/data/diffdrive_goto.toml"), &options, None).unwrap();
    let entities = decode_entities(&rrd);
    assert!(entities.contains(paths::LIDAR), "{entities:?}");
}

#[test]
fn a_recording_that_cannot_be_written_is_an_error_before_the_run() {
    let mut steps = 0;
    let mut hook = |_: &StepRecord<'_>| steps += 1;
    let options = RunOptions {
        recording: Recording::File("/nonexistent-dir/run.rrd".into()),
        ..RunOptions::default()
    };
    let e = run_with(&load("configs/cartpole.toml"), &options, Some(&mut hook)).unwrap_err();
    assert!(format!("{e:#}").contains("nonexistent-dir"), "{e:#}");
    assert_eq!(steps, 0, "no control step ran");
}

#[test]
fn a_viewer_that_goes_away_does_not_stop_the_loop() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // The "viewer": accepts and hangs up for a moment, then is gone.
    let viewer = std::thread::spawn(move || {
        listener.set_nonblocking(true).unwrap();
        let until = std::time::Instant::now() + Duration::from_millis(300);
        while std::time::Instant::now() < until {
            while let Ok((stream, _)) = listener.accept() {
                drop(stream);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    let options = RunOptions {
        duration_secs: Some(3.0),
        recording: Recording::Connect(addr.to_string()),
        ..RunOptions::default()
    };
    let s = run_with(&load("configs/cartpole.toml"), &options, None).unwrap();
    viewer.join().unwrap();
    assert_eq!(s.control_steps, 150);
    assert!(s.recording.is_some_and(|r| r.contains("viewer")));
    assert!(s.goal_reached, "{:?}", s.final_state);
}

/// The figure-eight's quadrotor and yard without sensors, hovering at
/// (0, 0, 2) and sent to `target` (the controller knows no obstacles).
fn quadrotor_sent_to(target: [f64; 3], secs: f64) -> Scenario {
    let path = root().join("configs/quadrotor_figure8.toml");
    let mut doc: toml::Table = toml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    doc.remove("sensors");
    doc.remove("estimator");
    doc.remove("perception");
    let x0 = "[0.0, 0.0, 2.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]";
    let [x, y, z] = target;
    let edits: toml::Table = toml::from_str(&format!(
        "[scenario]\ninitial_state = {x0}\nduration_secs = {secs:?}\n\
         [reference]\nkind = \"setpoint\"\n\
         state = [{x:?}, {y:?}, {z:?}, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]\n\
         input = [2.4525, 2.4525, 2.4525, 2.4525]"
    ))
    .unwrap();
    for (section, values) in edits {
        let table = doc[&section].as_table_mut().unwrap();
        if section == "reference" {
            table.clear();
        }
        table.extend(values.as_table().unwrap().clone());
    }
    Scenario::parse(&toml::to_string(&doc).unwrap(), &path).unwrap()
}

#[test]
fn a_quadrotor_through_a_pillar_or_the_ground_reports_the_collision() {
    // pillar_n stands at (0, 4.5) between the start and (0, 8, 2).
    let s = run_with(
        &quadrotor_sent_to([0.0, 8.0, 2.0], 6.0),
        &lockstep(None),
        None,
    )
    .unwrap();
    let x = &s.final_state;
    let miss = ((x[0]).powi(2) + (x[1] - 8.0).powi(2) + (x[2] - 2.0).powi(2)).sqrt();
    assert!(miss < 0.5, "arrived: final state {x:?}");
    assert_eq!(s.safety.collisions, 1, "{:?}", s.safety);
    assert_eq!(s.safety.first_collision_with.as_deref(), Some("pillar_n"));
    let t = s.safety.first_collision_secs.unwrap();
    assert!(t > 0.0 && t < 6.0, "{t}");
    assert!(!s.goal_reached, "a run through a pillar is no success");

    // Sent 1 m below the ground it touches the ground.
    let s = run_with(
        &quadrotor_sent_to([3.0, 0.0, -1.0], 3.0),
        &lockstep(None),
        None,
    )
    .unwrap();
    assert!(s.safety.collisions >= 1, "{:?}", s.safety);
    assert_eq!(s.safety.first_collision_with.as_deref(), Some("ground"));
    assert!(!s.goal_reached);

    // The same flight kept at 2 m touches nothing.
    let s = run_with(
        &quadrotor_sent_to([3.0, 0.0, 2.0], 3.0),
        &lockstep(None),
        None,
    )
    .unwrap();
    assert_eq!(s.safety.collisions, 0, "{:?}", s.safety);
    assert_eq!(s.safety.first_collision_secs, None);
}
