//! The continuum arm's control step (its scenario's OCP: N = 15, 20 ms in
//! two RK4 substeps, tensions in [0, 40] N) allocates nothing on the heap
//! after setup, and keeps every tension within its bounds.

use recede_control::{Controller, ControllerConfig};
use recede_model::robots::{ContinuumArmParams, RobotConfig};
use recede_mpc::StepOutcome;
use recede_test_support::{counting, CountingAllocator};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

#[test]
fn continuum_arm_step_does_not_allocate() {
    let config: ControllerConfig = toml::from_str(
        "horizon_steps = 15\ndt_secs = 0.02\nrk4_substeps = 2\n\
         state_weights = [100.0, 100.0, 100.0, 0.1, 0.1, 0.1]\n\
         input_weights = [1e-4, 1e-4, 1e-4, 1e-4, 1e-4, 1e-4]\n",
    )
    .unwrap();
    let robot = RobotConfig::ContinuumArm(ContinuumArmParams::default());
    let mut x = [0.2, -0.1, 0.3, 0.5, 0.0, -0.5];
    let mut c = Controller::from_config(&robot, &config, &x).unwrap();
    c.set_constant_reference(&[1.0, 0.5, 0.0, 0.0, 0.0, 0.0], &[0.0; 6])
        .unwrap();
    let mut u = [0.0; 6];
    c.step(&x, &mut u).unwrap();
    for k in 0..5 {
        x[0] += 0.05;
        x[2] -= 0.02;
        let (n, report) = counting(|| c.step(&x, &mut u).unwrap());
        assert_eq!(n, 0, "step {k}: {report:?}");
        assert_eq!(report.outcome, StepOutcome::Solved, "step {k}: {report:?}");
        assert!(report.qp_iterations > 0);
        assert!(
            u.iter().all(|t| (-1e-6..=40.0 + 1e-6).contains(t)),
            "step {k}: {u:?}"
        );
    }
}

/// Sampling the circle whose input is the model's tensions
/// (`input_from_model`) allocates nothing either: the table is built at
/// setup, a sample interpolates it.
#[test]
fn model_input_circle_samples_without_allocating() {
    use recede_control::{EndEffectorCircleConfig, Plane, ReferenceConfig};
    let robot = RobotConfig::ContinuumArm(ContinuumArmParams::default());
    let mut reference = ReferenceConfig::EndEffectorCircle(
        EndEffectorCircleConfig {
            center_m: [0.18, 0.0, -0.36],
            radius_m: 0.04,
            plane: Plane::Xz,
            speed_m_s: 0.08,
            start_secs: 1.0,
            laps: Some(2.0),
            posture: vec![0.48, 4.24, 3.95],
            input: vec![0.0; 6],
            input_from_model: true,
        }
        .into(),
    );
    reference.resolve(&robot).unwrap();
    let (mut x, mut u) = ([0.0; 6], [0.0; 6]);
    for k in 0..50 {
        let t = 0.17 * k as f64;
        let (n, _) = counting(|| reference.sample(t, &mut x, &mut u));
        assert_eq!(n, 0, "sample at {t} s");
        assert!(u.iter().any(|v| *v > 1.0), "no tension at {t} s: {u:?}");
    }
}

/// With keep-out rows on the body's points and a ball set between steps
/// (`set_obstacles`, as guidance does every step), a step allocates
/// nothing and the rows are there: the controller accepts the obstacle.
#[test]
fn continuum_arm_step_with_body_rows_does_not_allocate() {
    use nalgebra::Vector3;
    use recede_control::guidance::ObstacleConstraintConfig;
    use recede_msg::{Obstacle, ObstacleShape};
    let config: ControllerConfig = toml::from_str(
        "horizon_steps = 15\ndt_secs = 0.02\nrk4_substeps = 2\n\
         state_weights = [10.0, 10.0, 10.0, 0.1, 0.1, 0.1]\n\
         input_weights = [0.3, 0.3, 0.03, 0.03, 0.03, 0.03]\n",
    )
    .unwrap();
    let rows = ObstacleConstraintConfig {
        max_obstacles: 1,
        margin_m: 0.02,
        uncertainty_sigmas: 0.0,
        penalty_l1: 1e4,
        penalty_l2: 1e6,
        known_obstacles: true,
        ..ObstacleConstraintConfig::default()
    };
    let robot = RobotConfig::ContinuumArm(ContinuumArmParams::default());
    let mut x = [0.2, -0.1, 0.3, 0.5, 0.0, -0.5];
    let mut c = Controller::with_obstacles(&robot, &config.mpc, None, Some(&rows), &x).unwrap();
    let ball = [Obstacle {
        id: 0,
        shape: ObstacleShape::Sphere,
        position_m: Vector3::new(-0.04, 0.0, -0.2),
        radius_m: 0.012,
        position_std_m: 0.0,
        radius_std_m: 0.0,
        hits: 1,
        last_seen_secs: 0.0,
    }];
    c.set_constant_reference(&[-1.0, 3.0, 3.0, 0.0, 0.0, 0.0], &[0.0; 6])
        .unwrap();
    let mut u = [0.0; 6];
    assert!(c.set_obstacles(&ball, &Vector3::zeros()));
    c.step(&x, &mut u).unwrap();
    for k in 0..5 {
        x[0] -= 0.05;
        let (n, report) = counting(|| {
            assert!(c.set_obstacles(&ball, &Vector3::new(0.1, 0.0, -0.4)));
            c.step(&x, &mut u).unwrap()
        });
        assert_eq!(n, 0, "step {k}: {report:?}");
        assert_eq!(report.outcome, StepOutcome::Solved, "step {k}: {report:?}");
    }
    // Without rows the arm's controller takes no obstacle.
    let mut plain = Controller::from_config(&robot, &config, &x).unwrap();
    assert!(!plain.set_obstacles(&ball, &Vector3::zeros()));
}
