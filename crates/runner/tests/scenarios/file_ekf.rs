//! The EKF for robots brought by file (issue 16): the model-file cart-pole
//! and the six-joint URDF arm reach their goals acting on the filter's
//! estimate (built on their own model, measured as their description
//! says), and a description that cannot give a sensor's measurement is
//! refused at load, naming the file, the key and what was expected.

use recede_runner::run::{run_with, RunOptions, RunSummary};
use recede_runner::scenario::Scenario;

fn run(file: &str, seed: u64) -> RunSummary {
    let path = crate::workspace_root().join(file);
    let scenario = Scenario::load(&path).unwrap_or_else(|e| panic!("{file}: {e:#}"));
    let options = RunOptions {
        seed: Some(seed),
        ..RunOptions::default()
    };
    run_with(&scenario, &options, None).unwrap_or_else(|e| panic!("{file} seed {seed}: {e:#}"))
}

/// Reached the goal on the estimate, nothing withheld or gated, every
/// state's estimate within `bounds` (RMSE over the control instants).
fn check(s: &RunSummary, what: &str, bounds: &[f64]) {
    assert_eq!(s.estimator, "ekf", "{what}");
    assert!(s.goal_reached, "{what}: final state {:?}", s.final_state);
    assert_eq!(s.estimate_faults, Some(0), "{what}");
    for stats in &s.perception_sensors {
        assert_eq!(
            (stats.rejected, stats.non_finite, stats.too_late),
            (0, 0, 0),
            "{what}: {stats:?}"
        );
        assert!(stats.delivered > 0, "{what}: {stats:?}");
    }
    assert_eq!(s.estimate_state_rmse.len(), bounds.len(), "{what}");
    for (i, (e, b)) in s.estimate_state_rmse.iter().zip(bounds).enumerate() {
        assert!(e < b, "{what}: state {i} estimate RMSE {e} (bound {b})");
    }
}

#[test]
fn the_model_file_cart_pole_swings_up_on_its_estimate() {
    // Measured (seeds 0 to 7): p 1.2 mm, theta 0.4 mrad, v 0.04 m/s,
    // omega 0.02 rad/s.
    for seed in 0..3 {
        let s = run("configs/cartpole_model_file.toml", seed);
        check(&s, &format!("seed {seed}"), &[0.003, 0.001, 0.06, 0.04]);
    }
}

#[test]
fn the_urdf_arm_reaches_its_poses_on_its_estimate() {
    let s = run("configs/arm6_urdf.toml", 0);
    let angles = [0.005; 6];
    let rates = [0.5; 6];
    check(&s, "arm6_urdf", &[angles, rates].concat());
}

#[test]
fn the_model_file_vtol_flies_across_on_its_estimate() {
    // A fix only (x, z): the pitch and every rate come from the model.
    // Measured: x, z 6 mm, theta 0.05 rad, rates 0.05 to 0.12.
    let s = run("configs/vtol_model_file.toml", 0);
    assert_eq!(s.estimator, "ekf");
    assert!(s.goal_reached, "final state {:?}", s.final_state);
    assert_eq!(s.estimate_faults, Some(0));
    let fix = &s.perception_sensors[0];
    assert!(
        fix.delivered > 500 && fix.rejected * 100 <= fix.delivered,
        "{fix:?}"
    );
    let bounds = [0.01, 0.01, 0.08, 0.15, 0.1, 0.2];
    for (i, (e, b)) in s.estimate_state_rmse.iter().zip(bounds).enumerate() {
        assert!(*e < b, "state {i} estimate RMSE {e} (bound {b})");
    }
}

/// A scenario in a scratch directory beside a model file `model`.
fn load_scratch(tag: &str, model: &str, scenario: &str) -> Result<Scenario, String> {
    let dir = std::env::temp_dir().join(format!("recede_file_ekf_{tag}_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("robot.toml"), model).unwrap();
    let path = dir.join("scenario.toml");
    std::fs::write(&path, scenario).unwrap();
    let result = Scenario::load(&path).map_err(|e| format!("{e:#}"));
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn cartpole_file() -> String {
    std::fs::read_to_string(crate::workspace_root().join("configs/models/cartpole.toml")).unwrap()
}

/// configs/cartpole_model_file.toml on the scratch model file.
fn cartpole_scenario() -> String {
    std::fs::read_to_string(crate::workspace_root().join("configs/cartpole_model_file.toml"))
        .unwrap()
        .replace("models/cartpole.toml", "robot.toml")
}

#[test]
fn an_encoder_on_a_state_that_does_not_exist_is_refused() {
    let model = cartpole_file().replace("states = [\"theta\"]", "states = [\"phi\"]");
    let e = load_scratch("state", &model, &cartpole_scenario()).unwrap_err();
    for part in [
        "robot.toml",
        "`encoders.states[0]`",
        "the name of a [[state]]",
        "`phi`",
    ] {
        assert!(e.contains(part), "{part:?} not in: {e}");
    }
}

#[test]
fn a_fix_without_a_position_mapping_is_refused() {
    let model = cartpole_file().replace("position = [\"p\", \"0\", \"0\"]\n", "");
    assert!(!model.contains("position = ["));
    let e = load_scratch("fix", &model, &cartpole_scenario()).unwrap_err();
    for part in [
        "robot.toml",
        "`mapping.position`",
        "a position mapping for the position fix `cart_fix`",
    ] {
        assert!(e.contains(part), "{part:?} not in: {e}");
    }
    // The same file with the truth estimator measures nothing: it loads.
    let truth = cartpole_scenario().replace("kind = \"ekf\"", "kind = \"truth\"");
    load_scratch("truth", &model, &truth).unwrap();
}

#[test]
fn encoders_on_a_file_that_names_none_are_refused() {
    let model = cartpole_file().replace("[encoders]\nstates = [\"theta\"]\n", "");
    assert!(!model.contains("[encoders]"));
    let e = load_scratch("enc", &model, &cartpole_scenario()).unwrap_err();
    for part in [
        "robot.toml",
        "`encoders.states`",
        "the encoders `pole_encoder`",
    ] {
        assert!(e.contains(part), "{part:?} not in: {e}");
    }
}
