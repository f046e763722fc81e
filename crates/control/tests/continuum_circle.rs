//! `end_effector_circle` on the continuum arm: the curvature table solved
//! by inverse kinematics on the PCC model puts the tip on the circle, its
//! rates follow the table, and a circle out of reach is refused naming the
//! key.

use recede_control::{EndEffectorCircleConfig, Plane, ReferenceConfig};
use recede_model::robots::{ContinuumArm, ContinuumArmParams, Robot, RobotConfig};

fn circle(center_m: [f64; 3], radius_m: f64) -> ReferenceConfig {
    ReferenceConfig::EndEffectorCircle(
        EndEffectorCircleConfig {
            center_m,
            radius_m,
            plane: Plane::Xz,
            speed_m_s: 0.12,
            start_secs: 1.0,
            laps: Some(2.0),
            posture: vec![0.0; 3],
            input: vec![0.0; 6],
            input_from_model: false,
        }
        .into(),
    )
}

/// The scenario's circle (configs/soft_arm.toml), its input from the model.
fn reachable_circle() -> ReferenceConfig {
    ReferenceConfig::EndEffectorCircle(
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
    )
}

/// With `input_from_model` the input reference is the PCC model's own
/// tensions along the table: fed to the model at the table's state they
/// give the table's accelerations (central differences of its rates, to
/// 5% of the largest), at rest they hold the first point, all within the
/// tendons' limit. The old circle (60 mm about (0.05, -0.36)) needs about
/// 50 N on the first pair at its top and is refused naming the key.
#[test]
fn the_model_input_follows_the_table() {
    use nalgebra::SVector;
    use recede_model::Dynamics;
    let params = ContinuumArmParams::default();
    let robot = RobotConfig::ContinuumArm(params);
    let arm = ContinuumArm::new(params).unwrap();
    let mut reference = reachable_circle();
    reference.resolve(&robot).unwrap();
    let (mut x, mut u) = ([0.0; 6], [0.0; 6]);
    reference.sample(0.5, &mut x, &mut u);
    let f = arm.derivative(&SVector::from(x), &SVector::from(u));
    assert!(f.norm() < 1e-9, "the hold is not at rest: {f:?}");
    let (mut a, mut b, mut ua) = ([0.0; 6], [0.0; 6], [0.0; 6]);
    let (mut worst, mut scale) = (0.0f64, 0.0f64);
    for k in 0..150 {
        let t = 1.05 + k as f64 * 0.041;
        reference.sample(t, &mut x, &mut u);
        assert!(
            u.iter().all(|v| (0.0..=params.max_tension_n).contains(v)),
            "{u:?}"
        );
        reference.sample(t - 0.005, &mut a, &mut ua);
        reference.sample(t + 0.005, &mut b, &mut ua);
        let f = arm.derivative(&SVector::from(x), &SVector::from(u));
        for i in 0..3 {
            let qdd = (b[3 + i] - a[3 + i]) / 0.01;
            scale = scale.max(qdd.abs());
            worst = worst.max((f[3 + i] - qdd).abs());
        }
    }
    assert!(scale > 1.0 && worst < 0.05 * scale, "{worst} of {scale}");

    let mut old = circle([0.05, 0.0, -0.36], 0.06);
    if let ReferenceConfig::EndEffectorCircle(c) = &mut old {
        c.config.input_from_model = true;
    }
    let e = old.resolve(&robot).unwrap_err().to_string();
    assert!(
        e.contains("input_from_model") && e.contains("max_tension_n"),
        "{e}"
    );
}

#[test]
fn the_table_puts_the_tip_on_the_circle() {
    let params = ContinuumArmParams::default();
    let robot = RobotConfig::ContinuumArm(params);
    let mut reference = circle([0.05, 0.0, -0.36], 0.06);
    reference.resolve(&robot).unwrap();
    reference.validate(6, 6).unwrap();
    let arm = ContinuumArm::new(params).unwrap();
    let (mut x, mut u) = ([0.0; 6], [0.0; 6]);
    let mut worst = 0.0f64;
    for k in 0..400 {
        let t = 1.0 + k as f64 * 0.0157;
        reference.sample(t, &mut x, &mut u);
        let err = reference.end_effector_error_m(t, &x).unwrap();
        worst = worst.max(err);
        // The error is the tip's, from the arm's own kinematics.
        let tip = arm.point(&x);
        assert!(tip[1] == 0.0 && tip.iter().all(|v| v.is_finite()));
    }
    // Rows 5 ms apart, linear between: the chord of 0.6 mm of arc.
    assert!(worst < 2e-4, "tip {worst:e} m from the circle");

    // The table's rates are its angles' central differences: over 20 ms
    // the curvatures move by their rates (within 5% of the largest rate
    // along the lap).
    let (mut a, mut b, mut m) = ([0.0; 6], [0.0; 6], [0.0; 6]);
    let mut scale = 0.0f64;
    let mut worst_rate = 0.0f64;
    for k in 0..100 {
        let t = 1.05 + k as f64 * 0.031;
        reference.sample(t - 0.01, &mut a, &mut u);
        reference.sample(t, &mut m, &mut u);
        reference.sample(t + 0.01, &mut b, &mut u);
        for i in 0..3 {
            scale = scale.max(m[3 + i].abs());
            worst_rate = worst_rate.max(((b[i] - a[i]) / 0.02 - m[3 + i]).abs());
        }
    }
    assert!(
        scale > 0.1 && worst_rate < 0.05 * scale,
        "{worst_rate} of {scale}"
    );
}

/// Straight up the arm's axis from its rest pose (where the tip cannot
/// move along the arm): a tiny circle there is still reached.
#[test]
fn a_point_on_the_axis_is_reached() {
    let robot = RobotConfig::ContinuumArm(ContinuumArmParams::default());
    for center in [[0.0, 0.0, -0.36], [0.05, 0.0, -0.36], [-0.1, 0.0, -0.25]] {
        let mut reference = circle(center, 1e-6);
        reference.resolve(&robot).unwrap();
        let (mut x, mut u) = ([0.0; 6], [0.0; 6]);
        reference.sample(1.5, &mut x, &mut u);
        assert!(reference.end_effector_error_m(1.5, &x).unwrap() < 1e-7);
    }
}

#[test]
fn a_circle_out_of_reach_is_refused() {
    let robot = RobotConfig::ContinuumArm(ContinuumArmParams::default());
    let mut reference = circle([0.0, 0.0, -0.4], 0.1);
    let e = reference.resolve(&robot).unwrap_err().to_string();
    assert!(
        e.contains("center_m") && e.contains("out of the arm's reach"),
        "{e}"
    );
}
