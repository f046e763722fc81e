//! Guidance: a world model (whoever filled it) into the controller's
//! keep-out rows and set point, by robot kind.

use nalgebra::Vector3;
use recede_control::guidance::{position, ApproachConfig, Guidance, ObstacleConstraintConfig};
use recede_control::{Controller, ReferenceConfig};
use recede_model::robots::RobotConfig;
use recede_mpc::MpcConfig;
use recede_msg::{Obstacle, ObstacleShape, Target, WorldModel};

fn ground_controller(rows: bool) -> Controller {
    let config: MpcConfig = toml::from_str(
        "horizon_steps = 10\ndt_secs = 0.08\nperiod_secs = 0.04\n\
         state_weights = [4, 4, 0.5, 0.5, 0.1]\ninput_weights = [0.5, 0.2]\n",
    )
    .unwrap();
    let keep_out = ObstacleConstraintConfig {
        max_obstacles: 2,
        ..ObstacleConstraintConfig::default()
    };
    let robot = RobotConfig::DiffDrive(Default::default());
    Controller::with_obstacles(&robot, &config, None, rows.then_some(&keep_out), &[0.0; 5]).unwrap()
}

fn active_rows(c: &mut Controller) -> usize {
    match c {
        Controller::DiffDrive(m) => m.mpc.constraints_mut().active(),
        _ => unreachable!("a ground robot"),
    }
}

fn world(temperature_k: f64) -> WorldModel {
    let mut w = WorldModel::default();
    w.set_obstacles(&[Obstacle {
        id: 1,
        shape: ObstacleShape::Cylinder { top_m: 1.0 },
        position_m: Vector3::new(3.0, 0.0, 0.5),
        radius_m: 0.3,
        ..Obstacle::default()
    }]);
    w.set_targets(&[Target {
        id: 2,
        position_m: Vector3::new(0.0, -4.0, 0.3),
        temperature_k,
        ..Target::default()
    }]);
    w
}

#[test]
fn obstacles_fill_the_rows_and_a_hot_target_becomes_the_set_point() {
    let robot = RobotConfig::DiffDrive(Default::default());
    let approach = ApproachConfig {
        standoff_m: 1.0,
        min_temperature_k: 350.0,
    };
    let mut c = ground_controller(true);
    let mut reference = ReferenceConfig::Setpoint {
        state: vec![12.0, 0.0, 0.0, 0.0, 0.0],
        input: vec![0.0, 0.0],
    };
    let mut g = Guidance::new(&robot, Some(&approach));
    let x = [0.0, 0.0, 3.0, 0.0, 0.0];

    // Too cold: the obstacle is taken, the reference stays.
    g.apply(&mut c, &mut reference, &x, &world(340.0));
    assert_eq!(active_rows(&mut c), 1);
    assert!(!g.approaching());
    assert!(matches!(&reference, ReferenceConfig::Setpoint { state, .. } if state[0] == 12.0));

    g.apply(&mut c, &mut reference, &x, &world(360.0));
    assert!(g.approaching());
    let ReferenceConfig::Setpoint { state, .. } = &reference else {
        unreachable!()
    };
    // 1 m short of the target on the line from the robot, facing it.
    assert!(
        state[0].abs() < 1e-12 && (state[1] + 3.0).abs() < 1e-12,
        "{state:?}"
    );
    assert!((state[2] - 1.5 * std::f64::consts::PI).abs() < 1e-12);

    // Nothing seen: the rows empty again.
    g.apply(&mut c, &mut reference, &x, &WorldModel::default());
    assert_eq!(active_rows(&mut c), 0);

    // A controller built without rows ignores the obstacles.
    let mut blind = ground_controller(false);
    g.apply(&mut blind, &mut reference, &x, &world(360.0));
    assert_eq!(active_rows(&mut blind), 0);
}

#[test]
fn the_position_is_read_by_robot_kind_not_by_state_length() {
    let x = [
        1.0, 2.0, 3.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
    ];
    let quad = RobotConfig::Quadrotor(Default::default());
    assert_eq!(position(&quad, &x), Some(Vector3::new(1.0, 2.0, 3.0)));
    let ground = RobotConfig::DiffDrive(Default::default());
    assert_eq!(
        position(&ground, &x[..5]),
        Some(Vector3::new(1.0, 2.0, 0.0))
    );
    let cart = RobotConfig::CartPole(Default::default());
    assert_eq!(position(&cart, &x[..4]), None);
    let arm = RobotConfig::Arm(Default::default());
    assert_eq!(position(&arm, &x[..4]), None);
}
