//! The continuum arm's recording (the rod, the estimate's sections, the
//! tip and its reference, the predicted tip path, its blueprint).

use std::collections::BTreeSet;
use std::io::BufReader;

use recede_runner::record::Recording;
use recede_runner::run::{run_with, RunOptions};
use recede_runner::scenario::Scenario;
use recede_viz::paths;
use rerun::external::re_log_encoding::DecoderApp;
use rerun::log::{Chunk, LogMsg};
use rerun::StoreKind;

fn load(file: &str) -> Scenario {
    let path = crate::workspace_root().join(file);
    Scenario::load(&path).unwrap_or_else(|e| panic!("{file}: {e:#}"))
}

/// Entity paths of the recording and the blueprint's chunks, as text.
pub(crate) fn decode(path: &std::path::Path) -> (BTreeSet<String>, String) {
    let file = std::fs::File::open(path).expect("open rrd");
    let msgs: Vec<LogMsg> = DecoderApp::decode_lazy(BufReader::new(file))
        .map(|m| m.expect("decode rrd message"))
        .collect();
    let mut entities = BTreeSet::new();
    let mut blueprint = String::new();
    for msg in &msgs {
        if let LogMsg::ArrowMsg(store, arrow) = msg {
            let chunk = Chunk::from_arrow_msg(arrow).expect("chunk");
            let path = chunk.entity_path().to_string();
            match store.kind() {
                StoreKind::Recording => {
                    entities.insert(path.trim_start_matches('/').to_owned());
                }
                StoreKind::Blueprint => {
                    blueprint.push_str(&path);
                    for column in chunk.components().values() {
                        blueprint.push_str(&format!("{column:?}"));
                    }
                }
            }
        }
    }
    (entities, blueprint)
}

#[test]
fn the_arm_recording_holds_the_rod_the_sections_the_tips_and_their_plots() {
    let dir = tempfile::tempdir().unwrap();
    let rrd = dir.path().join("arm.rrd");
    let options = RunOptions {
        duration_secs: Some(0.3),
        recording: Recording::File(rrd.clone()),
        ..RunOptions::default()
    };
    let s = run_with(&load("configs/soft_arm.toml"), &options, None).unwrap();
    assert_eq!(s.control_steps, 60);
    let (entities, blueprint) = decode(&rrd);
    for path in [
        paths::ARM_SHAPE,
        paths::ARM_SECTIONS,
        paths::ARM_TIP,
        paths::ARM_TIP_REFERENCE,
        paths::PREDICTION,
        paths::REFERENCE,
        paths::PLOT_TIP,
        paths::PLOT_TIP_ERROR_MM,
        paths::PLOT_COMMAND,
        paths::PLOT_COMMAND_BOUNDS,
    ] {
        assert!(entities.contains(path), "{path} missing from {entities:?}");
    }
    // The rod replaces the generic body.
    assert!(!entities.contains(paths::ROBOT), "{entities:?}");
    // The arm's blueprint: its plots, activated with the recording.
    for shown in [
        paths::PLOT_TIP_ERROR_MM,
        paths::PLOT_TIP,
        paths::PLOT_COMMAND_BOUNDS,
        "tendon tensions",
        "EyeControls3D",
        "viewport",
    ] {
        assert!(blueprint.contains(shown), "{shown} not in the blueprint");
    }
}

/// The sensed arm's EKF, from a tip fix and a tip IMU, against the rod's
/// PCC view over the first lap: every sensor delivers, few readings are
/// gated out, the curvatures are tracked to under 1 1/m, no fallback.
#[test]
fn the_sensed_arm_is_estimated_from_its_tip_sensors() {
    let options = RunOptions {
        duration_secs: Some(3.0),
        ..RunOptions::default()
    };
    let s = run_with(&load("configs/soft_arm_sensed.toml"), &options, None).unwrap();
    assert_eq!(s.estimator, "ekf");
    assert_eq!(s.fallbacks, 0);
    for (name, sensor) in &s.sensors {
        assert!(sensor.delivered > 250, "{name}: {sensor:?}");
        assert!(
            sensor.rejected * 5 < sensor.delivered,
            "{name} gated out: {sensor:?}"
        );
    }
    let rmse = &s.estimate_state_rmse;
    assert_eq!(rmse.len(), 6);
    for (j, e) in rmse[..3].iter().enumerate() {
        assert!(*e < 1.0, "kappa {j}: estimate RMSE {e} 1/m ({rmse:?})");
    }
}
