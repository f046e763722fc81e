//! Large set-point steps reach their goal without flipping the robot: the
//! reference governor keeps the OCP's tracking error bounded, and an upset
//! quadrotor is turned upright by its recovery policy, not held at hover
//! thrust.

use nalgebra::SVector;
use recede_control::Controller;
use recede_model::robots::quadrotor::{self, Quadrotor};
use recede_model::robots::{CartPole, DiffDrive, RobotConfig};
use recede_model::{Dynamics, Rk4};
use recede_mpc::MpcConfig;

/// `configs/quadrotor_pillars.toml`'s controller (without obstacles).
const PILLARS: &str = r#"
horizon_steps = 15
dt_secs = 0.1
period_secs = 0.04
state_weights = [20, 20, 50, 0, 10, 10, 20, 2, 2, 2, 0.1, 0.1, 0.1]
input_weights = [0.5, 0.5, 0.5, 0.5]
input_min = [0.0, 0.0, 0.0, 0.0]
input_max = [8.0, 8.0, 8.0, 8.0]
[fallback]
max_consecutive_failures = 10
safe_input = [2.4525, 2.4525, 2.4525, 2.4525]
"#;

/// P2's controller (benchmarks.md): N = 20 x 0.05 s, a step every 0.01 s.
const P2: &str = r#"
horizon_steps = 20
dt_secs = 0.05
period_secs = 0.01
state_weights = [100, 100, 100, 0, 10, 10, 10, 1, 1, 1, 0.1, 0.1, 0.1]
input_weights = [0.1, 0.1, 0.1, 0.1]
input_min = [0.0, 0.0, 0.0, 0.0]
input_max = [8.0, 8.0, 8.0, 8.0]
[osqp]
alpha = 1.0
check_termination_every = 3
[fallback]
safe_input = [2.4525, 2.4525, 2.4525, 2.4525]
"#;

/// What a closed loop did.
#[derive(Debug)]
struct Flight {
    max_tilt_rad: f64,
    min_z_m: f64,
    /// Distance to the goal at the end.
    miss_m: f64,
    fallbacks: usize,
}

/// Tilt of the body's z axis from the vertical: `cos = 1 - 2 (x^2 + y^2)`.
fn tilt(x: &SVector<f64, 13>) -> f64 {
    let (qx, qy) = (x[quadrotor::QUATERNION + 1], x[quadrotor::QUATERNION + 2]);
    (1.0 - 2.0 * (qx * qx + qy * qy)).clamp(-1.0, 1.0).acos()
}

/// Flies `config` from hover at (0, 0, 2) to hover at `goal` for `secs`.
fn fly(config: &str, goal: [f64; 3], secs: f64, x0: Option<SVector<f64, 13>>) -> Flight {
    let config: MpcConfig = toml::from_str(config).unwrap();
    let robot = Quadrotor::default();
    let mut x = x0.unwrap_or_else(|| Quadrotor::hover_state([0.0, 0.0, 2.0]));
    let mut c =
        Controller::new(&RobotConfig::Quadrotor(robot.params), &config, x.as_slice()).unwrap();
    let target = Quadrotor::hover_state(goal);
    c.set_constant_reference(target.as_slice(), robot.hover_input().as_slice())
        .unwrap();
    let period = c.period_secs();
    let substeps = 4;
    let rk4 = Rk4::new(period / substeps as f64, 1);
    let mut u = vec![0.0; 4];
    let mut flight = Flight {
        max_tilt_rad: 0.0,
        min_z_m: f64::INFINITY,
        miss_m: 0.0,
        fallbacks: 0,
    };
    for _ in 0..(secs / period).round() as usize {
        let report = c.step(x.as_slice(), &mut u).unwrap();
        flight.fallbacks += usize::from(report.outcome.is_fallback());
        assert!(
            u.iter().all(|f| f.is_finite() && (0.0..=8.0).contains(f)),
            "{u:?}"
        );
        for _ in 0..substeps {
            x = rk4.step(&robot, &x, &SVector::from_column_slice(&u));
        }
        flight.max_tilt_rad = flight.max_tilt_rad.max(tilt(&x));
        flight.min_z_m = flight.min_z_m.min(x[2]);
    }
    flight.miss_m = (x.fixed_rows::<3>(0) - target.fixed_rows::<3>(0)).norm();
    flight
}

/// Beyond this the quadrotor counts as upset (recede_control's
/// `quadrotor_upset` enters at 1.3 rad).
const MAX_TILT_RAD: f64 = 1.1;

#[test]
fn the_pillars_controller_reaches_steps_of_1_to_100_m_upright() {
    // The default governor: a target moving at 2 m/s.
    for (step, secs) in [(1.0, 4.0), (10.0, 10.0), (50.0, 30.0), (100.0, 56.0)] {
        let f = fly(PILLARS, [step, 0.0, 2.0], secs, None);
        assert!(f.max_tilt_rad < MAX_TILT_RAD, "{step} m: {f:?}");
        assert!(f.min_z_m > 1.0, "{step} m: {f:?}");
        assert!(f.miss_m < 0.3, "{step} m: {f:?}");
        assert_eq!(f.fallbacks, 0, "{step} m: {f:?}");
    }
}

#[test]
fn p2s_controller_reaches_a_50_m_step_upright_and_holds_a_500_m_one() {
    let f = fly(P2, [50.0, 0.0, 2.0], 30.0, None);
    assert!(f.max_tilt_rad < MAX_TILT_RAD && f.min_z_m > 1.0, "{f:?}");
    assert!(f.miss_m < 0.3 && f.fallbacks == 0, "{f:?}");
    // 500 m diagonally, with a climb: 10 s of it, upright, making way.
    let f = fly(P2, [300.0, -400.0, 12.0], 10.0, None);
    assert!(f.max_tilt_rad < MAX_TILT_RAD && f.min_z_m > 1.0, "{f:?}");
    assert!(f.miss_m < 485.0 && f.fallbacks == 0, "{f:?}");
}

#[test]
fn an_inverted_quadrotor_is_turned_upright_and_recovers() {
    // Upside down and tumbling at 5 m: the MPC's linearisation is far
    // off; the ladder and the recovery policy must bring it back.
    let mut x = Quadrotor::hover_state([0.0, 0.0, 5.0]);
    x[quadrotor::QUATERNION] = 0.0;
    x[quadrotor::QUATERNION + 1] = 1.0;
    x[quadrotor::BODY_RATE] = 2.0;
    let f = fly(PILLARS, [0.0, 0.0, 5.0], 8.0, Some(x));
    assert!(f.miss_m < 0.3, "{f:?}");
    assert!(f.min_z_m > -20.0, "{f:?}");
}

/// A planar robot's closed loop: final state after `secs`.
fn closed_loop<D: Dynamics<NX, NU>, const NX: usize, const NU: usize>(
    robot: &RobotConfig,
    plant: &D,
    config: &str,
    x0: SVector<f64, NX>,
    goal: SVector<f64, NX>,
    secs: f64,
    each: &mut dyn FnMut(&SVector<f64, NX>),
) -> SVector<f64, NX> {
    let config: MpcConfig = toml::from_str(config).unwrap();
    let mut c = Controller::new(robot, &config, x0.as_slice()).unwrap();
    c.set_constant_reference(goal.as_slice(), &[0.0; NU])
        .unwrap();
    let period = c.period_secs();
    let rk4 = Rk4::new(period / 10.0, 1);
    let (mut x, mut u) = (x0, vec![0.0; NU]);
    for _ in 0..(secs / period).round() as usize {
        c.step(x.as_slice(), &mut u).unwrap();
        assert!(u.iter().all(|v| v.is_finite()), "{u:?}");
        for _ in 0..10 {
            x = rk4.step(plant, &x, &SVector::from_column_slice(&u));
        }
        each(&x);
    }
    x
}

#[test]
fn the_cart_pole_carries_its_pole_50_m() {
    // configs/cartpole.toml's controller, the pole up, the goal 50 m away.
    let config = "horizon_steps = 40\ndt_secs = 0.02\nstate_weights = [1e3, 1e3, 1e-2, 1e-2]\n\
                  input_weights = [1e-1]\ninput_min = [-80.0]\ninput_max = [80.0]\n";
    let mut worst = 0.0f64;
    let x = closed_loop(
        &RobotConfig::CartPole(Default::default()),
        &CartPole::default(),
        config,
        SVector::zeros(),
        SVector::from([50.0, 0.0, 0.0, 0.0]),
        30.0,
        &mut |x| worst = worst.max(x[1].abs()),
    );
    // It leans (0.58 rad measured) while the cart speeds up; without the
    // governor it fell (2.4 rad).
    assert!(worst < 0.7, "the pole swung to {worst} rad");
    assert!((x[0] - 50.0).abs() < 0.1 && x[1].abs() < 0.05, "{x:?}");
}

#[test]
fn the_ground_robot_drives_50_m() {
    let config = "horizon_steps = 25\ndt_secs = 0.08\nperiod_secs = 0.04\n\
                  state_weights = [10, 10, 0, 1, 1]\ninput_weights = [0.1, 0.1]\n";
    let x = closed_loop(
        &RobotConfig::DiffDrive(Default::default()),
        &DiffDrive::default(),
        config,
        SVector::zeros(),
        SVector::from([-30.0, 40.0, 0.0, 0.0, 0.0]),
        40.0,
        &mut |_| {},
    );
    assert!((x[0] + 30.0).hypot(x[1] - 40.0) < 0.2, "{x:?}");
}
