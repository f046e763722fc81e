//! The URDF arm's Cartesian scenario: the circle becomes joint references
//! whose end effector is on the circle, and the arm, with its unknown
//! payload and friction, tracks it closely and ends on the moving
//! reference.

use recede_control::ReferenceConfig;
use recede_model::robots::RobotConfig;
use recede_runner::run::{run_with, RunOptions};
use recede_runner::scenario::Scenario;

fn cartesian() -> Scenario {
    let path = crate::workspace_root().join("configs/arm6_urdf_cartesian.toml");
    Scenario::load(&path).unwrap_or_else(|e| panic!("{e:#}"))
}

#[test]
fn the_joint_references_put_the_end_effector_on_the_circle() {
    let s = cartesian();
    let f = &s.file;
    let RobotConfig::ModelFile(robot) = &f.robot else {
        panic!("a URDF robot")
    };
    let model = robot.model().unwrap();
    let ReferenceConfig::EndEffectorCircle(circle) = &f.reference else {
        panic!("an end-effector circle")
    };
    let (mut x, mut u) = ([0.0; 12], [0.0; 6]);
    let mut worst: f64 = 0.0;
    // Between the table's rows (5 ms apart) as well as on them.
    for k in 0..1400 {
        let t = 1.0 + k as f64 * 0.00437;
        f.reference.sample(t, &mut x, &mut u);
        let tip = model.end_effector(&x).unwrap();
        let target = circle.target(t);
        let d = (0..3)
            .map(|i| (tip[i] - target[i]).powi(2))
            .sum::<f64>()
            .sqrt();
        worst = worst.max(d);
        // The rates are the angles' derivative along the path.
        let (mut x2, mut u2) = ([0.0; 12], [0.0; 6]);
        f.reference.sample(t + 1e-4, &mut x2, &mut u2);
        for i in 0..6 {
            let slope = (x2[i] - x[i]) / 1e-4;
            assert!(
                (slope - x[6 + i]).abs() < 0.05,
                "joint {i} at {t}: {slope} vs {}",
                x[6 + i]
            );
        }
    }
    assert!(worst < 1e-4, "{worst} m off the circle");
}

#[test]
fn the_arm_tracks_the_circle_and_ends_on_it() {
    let s = run_with(&cartesian(), &RunOptions::default(), None).unwrap();
    let rmse = s.end_effector_rmse_m.expect("an end-effector path");
    assert!(rmse < 0.01, "end effector {rmse} m RMSE from the circle");
    assert!(s.goal_reached, "final state {:?}", s.final_state);
    assert_eq!(s.fallbacks, 0);
    assert_eq!(s.safety.collisions, 0);
}

#[test]
fn a_circle_out_of_reach_names_the_key() {
    let path = crate::workspace_root().join("configs/arm6_urdf_cartesian.toml");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("center_m = [0.6, 0.0, 0.6]", "center_m = [2.6, 0.0, 0.6]");
    let e = Scenario::parse(&text, &path).unwrap_err();
    let message = format!("{e:#}");
    assert!(
        message.contains("[reference]")
            && message.contains("center_m")
            && message.contains("out of the arm's reach"),
        "{message}"
    );
}
