//! The continuum arm bending around a ball with its whole body
//! (`configs/soft_arm_obstacle.toml`): with the keep-out rows on its
//! body's points the rod's true shape never touches the ball over both
//! laps of the circle; blind (the same file without the rows) the rod hits
//! it on the circle's left half. Collisions and clearance are the rod's
//! (its nodes and radius), not its PCC view's.

use recede_runner::run::{run_with, RunOptions};
use recede_runner::scenario::Scenario;

fn load() -> Scenario {
    let path = crate::workspace_root().join("configs/soft_arm_obstacle.toml");
    Scenario::load(&path).unwrap_or_else(|e| panic!("{e:#}"))
}

#[test]
fn the_arm_keeps_its_body_clear_of_the_ball() {
    let s = run_with(&load(), &RunOptions::default(), None).unwrap();
    assert_eq!(s.control_steps, 1600);
    assert_eq!(s.safety.collisions, 0, "{:?}", s.safety);
    let clearance = s.min_clearance_m.unwrap();
    assert!(clearance > 0.002, "clearance {clearance} m");
    assert_eq!(s.fallbacks, 0);
    // Still drawing the circle: within 30 mm RMS (20 mm without the ball).
    let rmse = s.end_effector_rmse_m.unwrap();
    assert!(rmse < 0.03, "tip RMSE {rmse} m");
}

#[test]
fn blind_the_arm_hits_the_ball() {
    let mut scenario = load();
    scenario.file.perception.constraints.known_obstacles = false;
    let options = RunOptions {
        duration_secs: Some(3.5),
        ..RunOptions::default()
    };
    let s = run_with(&scenario, &options, None).unwrap();
    assert!(s.safety.collisions >= 1, "{:?}", s.safety);
    assert_eq!(s.safety.first_collision_with.as_deref(), Some("ball"));
    assert!(s.safety.max_penetration_m > 0.003, "{:?}", s.safety);
    assert!(s.min_clearance_m.unwrap() < -0.003);
}

/// The recording draws the ball (the world's objects, in the arm's
/// x-z view) beside the rod.
#[test]
fn the_recording_shows_the_ball() {
    use recede_runner::record::Recording;
    use recede_viz::paths;
    let dir = tempfile::tempdir().unwrap();
    let rrd = dir.path().join("arm_obstacle.rrd");
    let options = RunOptions {
        duration_secs: Some(0.1),
        recording: Recording::File(rrd.clone()),
        ..RunOptions::default()
    };
    run_with(&load(), &options, None).unwrap();
    let (entities, _) = crate::soft_arm_sensed::decode(&rrd);
    let ball = format!("{}/{}", paths::OBSTACLES_TRUE, paths::ELLIPSOIDS);
    for path in [ball.as_str(), paths::ARM_SHAPE] {
        assert!(entities.contains(path), "{path} missing from {entities:?}");
    }
}
