//! Perceived obstacles as soft keep-out constraints: the ground robot and
//! the quadrotor go round an obstacle on their way to a set point.

use nalgebra::{SVector, Vector3};
use recede_control::guidance::ObstacleConstraintConfig;
use recede_control::Controller;
use recede_model::robots::{DiffDrive, Quadrotor, RobotConfig};
use recede_model::{Dynamics, Rk4};
use recede_mpc::MpcConfig;
use recede_msg::{Obstacle, ObstacleShape};

fn cylinder(x: f64, y: f64, r: f64) -> Obstacle {
    Obstacle {
        id: 1,
        shape: ObstacleShape::Cylinder { top_m: 3.0 },
        position_m: Vector3::new(x, y, 1.0),
        radius_m: r,
        position_std_m: 0.02,
        radius_std_m: 0.02,
        hits: 10,
        last_seen_secs: 0.0,
    }
}

fn closed_loop<D: Dynamics<NX, NU>, const NX: usize, const NU: usize>(
    plant: &D,
    controller: &mut Controller,
    x0: SVector<f64, NX>,
    steps: usize,
    obstacle: &Obstacle,
) -> (SVector<f64, NX>, f64) {
    let rk4 = Rk4::new(controller.period_secs() / 10.0, 1);
    let mut x = x0;
    let mut u = vec![0.0; NU];
    let mut min_gap = f64::INFINITY;
    for _ in 0..steps {
        let p = Vector3::new(x[0], x[1], if NX == 13 { x[2] } else { 0.0 });
        assert!(controller.set_obstacles(std::slice::from_ref(obstacle), &p));
        controller.step(x.as_slice(), &mut u).unwrap();
        for _ in 0..10 {
            x = rk4.step(plant, &x, &SVector::from_column_slice(&u));
        }
        min_gap = min_gap.min(obstacle.surface_distance(&p));
    }
    (x, min_gap)
}

#[test]
fn the_ground_robot_goes_round_an_obstacle_on_its_line() {
    let config: MpcConfig = toml::from_str(
        "horizon_steps = 25\ndt_secs = 0.08\nperiod_secs = 0.04\n\
         state_weights = [4, 4, 0.5, 0.5, 0.1]\ninput_weights = [0.5, 0.2]\n\
         state_bounds = [{ index = 3, min = -1.0, max = 1.0 }, { index = 4, min = -1.5, max = 1.5 }]\n",
    )
    .unwrap();
    let robot = RobotConfig::DiffDrive(Default::default());
    let keep_out = ObstacleConstraintConfig {
        max_obstacles: 2,
        margin_m: 0.3,
        ..ObstacleConstraintConfig::default()
    };
    let x0 = [0.0; 5];
    let mut c = Controller::with_obstacles(&robot, &config, None, Some(&keep_out), &x0).unwrap();
    c.set_constant_reference(&[6.0, 0.0, 0.0, 0.0, 0.0], &[0.0, 0.0])
        .unwrap();
    // Slightly off the straight line, so the way round is decided.
    let obstacle = cylinder(3.0, 0.1, 0.4);
    let (x, gap) = closed_loop(
        &DiffDrive::default(),
        &mut c,
        SVector::from(x0),
        300,
        &obstacle,
    );
    assert!(gap > 0.15, "came within {gap} m of the surface");
    assert!((x[0] - 6.0).abs() < 0.3 && x[1].abs() < 0.3, "ended at {x}");

    // Without the rows the same controller drives through it.
    let mut blind = Controller::with_residual(&robot, &config, None, &x0).unwrap();
    blind
        .set_constant_reference(&[6.0, 0.0, 0.0, 0.0, 0.0], &[0.0, 0.0])
        .unwrap();
    let (_, gap) = closed_loop(
        &DiffDrive::default(),
        &mut blind,
        SVector::from(x0),
        300,
        &obstacle,
    );
    assert!(gap < 0.0, "{gap}");
}

#[test]
fn the_quadrotor_flies_round_a_pillar() {
    let config: MpcConfig = toml::from_str(
        "horizon_steps = 15\ndt_secs = 0.1\nperiod_secs = 0.02\n\
         state_weights = [20, 20, 50, 0, 10, 10, 20, 2, 2, 2, 0.1, 0.1, 0.1]\n\
         input_weights = [0.5, 0.5, 0.5, 0.5]\n\
         state_bounds = [{ index = 7, min = -1.5, max = 1.5 }, { index = 8, min = -1.5, max = 1.5 }]\n",
    )
    .unwrap();
    let robot = RobotConfig::Quadrotor(Default::default());
    let keep_out = ObstacleConstraintConfig {
        max_obstacles: 2,
        margin_m: 0.4,
        ..ObstacleConstraintConfig::default()
    };
    let x0 = Quadrotor::hover_state([0.0, 0.0, 1.5]);
    let mut c =
        Controller::with_obstacles(&robot, &config, None, Some(&keep_out), x0.as_slice()).unwrap();
    let mut goal = Quadrotor::hover_state([5.0, 0.0, 1.5]);
    goal[3] = 1.0;
    c.set_constant_reference(goal.as_slice(), &[2.4525; 4])
        .unwrap();
    let obstacle = cylinder(2.5, -0.1, 0.3);
    let (x, gap) = closed_loop(&Quadrotor::default(), &mut c, x0, 300, &obstacle);
    assert!(gap > 0.2, "came within {gap} m of the surface");
    assert!((x[0] - 5.0).abs() < 0.3 && x[1].abs() < 0.3, "ended at {x}");
}
