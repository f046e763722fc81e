//! The robot list and its descriptors: one entry per robot, and what every
//! layer reads from it agrees with the scenario file and the model.

use recede_model::robots::{Pose, Robot, RobotConfig, RobotVisitor};

/// Every robot in the list, with default parameters, through its `[robot]`
/// table.
fn every_robot() -> Vec<RobotConfig> {
    macro_rules! all {
        ([] $(($variant:ident, $module:ident, $robot:ident, $params:ident)),* $(,)?) => {
            vec![$(RobotConfig::$variant(recede_model::robots::$params::default()),)*]
        };
    }
    recede_model::for_each_robot!(all)
}

struct Check;

impl RobotVisitor for Check {
    type Output = (usize, usize, usize, &'static str);
    fn visit<R: Robot<NX, NU>, const NX: usize, const NU: usize>(self, robot: R) -> Self::Output {
        let bounds = robot.input_bounds();
        let safe = robot.safe_input();
        assert!((0..NU).all(|i| bounds.lower[i] <= safe[i] && safe[i] <= bounds.upper[i]));
        assert!(R::POSITION_STATES == 0 || (2..=3).contains(&R::POSITION_STATES));
        (NX, NU, R::POSITION_STATES, R::KIND)
    }
}

#[test]
fn kinds_sizes_and_names_agree_with_the_scenario_file() {
    let robots = every_robot();
    assert_eq!(robots.len(), 6);
    for robot in &robots {
        let (nx, nu, _, kind) = robot.visit(Check).unwrap();
        assert_eq!(robot.kind(), kind);
        assert_eq!(robot.dimensions(), (nx, nu));
        // The kind is what a scenario file says.
        let table = toml::Value::try_from(robot).unwrap();
        assert_eq!(table["kind"].as_str(), Some(kind));
        let back: RobotConfig = table.try_into().unwrap();
        assert_eq!(&back, robot);
        let (states, inputs, _) = robot.names_and_body().unwrap();
        assert_eq!((states.len(), inputs.len()), (nx, nu));
    }
}

#[test]
fn the_drawn_point_and_pose_follow_the_state() {
    for robot in every_robot() {
        let (nx, _) = robot.dimensions();
        let mut x = vec![0.0; nx];
        if robot.kind() == "quadrotor" {
            x[..4].copy_from_slice(&[1.0, 2.0, 3.0, 1.0]);
        }
        let (point, pose) = robot.point_and_pose(&x).unwrap();
        assert!(point.iter().all(|p| p.is_finite()));
        match pose {
            Pose::Rigid { position_m, .. } => assert_eq!(position_m, point),
            Pose::CartPole { .. } | Pose::TwoLinkArm { .. } => {
                assert!(point[2] > 0.0 || point[0] > 0.0)
            }
        }
        assert!(robot.point_and_pose(&vec![0.0; nx + 1]).is_none());
    }
}
