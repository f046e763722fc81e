//! A control step with a learned residual and online adaptation allocates
//! nothing on the heap after setup.

use recede_control::{Controller, ControllerConfig, ResidualConfig};
use recede_learn::{Feature, MlpResidual, Output, ResidualSpec, RlsConfig, SupportGuard};
use recede_model::robots::{QuadrotorParams, RobotConfig};
use recede_mpc::StepOutcome;
use recede_test_support::{counting, CountingAllocator};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

#[test]
fn step_with_residual_and_adaptation_does_not_allocate() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.safetensors");
    MlpResidual::<13, 4>::zero(ResidualSpec {
        features: vec![
            Feature::BodyVelocity {
                quat_start: 3,
                vel_start: 7,
            },
            Feature::InputSum,
        ],
        outputs: vec![Output::WorldFromBody {
            quat_start: 3,
            start: 7,
        }],
        hidden: vec![8],
        activation: Default::default(),
        guard: SupportGuard::Clip,
    })
    .unwrap()
    .save(&path)
    .unwrap();
    let mut config: ControllerConfig = toml::from_str(
        "horizon_steps = 10\ndt_secs = 0.05\nperiod_secs = 0.01\n\
         state_weights = [100, 100, 100, 0, 10, 10, 10, 1, 1, 1, 0.1, 0.1, 0.1]\n\
         input_weights = [0.1, 0.1, 0.1, 0.1]\n",
    )
    .unwrap();
    config.residual = Some(ResidualConfig {
        model: path,
        evaluation: Default::default(),
        adaptation: Some(RlsConfig::default()),
    });
    let robot = RobotConfig::Quadrotor(QuadrotorParams::default());
    let mut x = [0.0; 13];
    x[2] = 2.0;
    x[3] = 1.0;
    x[7] = 1.0;
    let mut c = Controller::from_config(&robot, &config, &x).unwrap();
    c.set_constant_reference(&x, &[2.4525; 4]).unwrap();
    let mut u = [0.0; 4];
    c.step(&x, &mut u).unwrap();
    for k in 0..5 {
        x[0] += 0.01;
        x[7] += 0.001 * k as f64;
        let (n, report) = counting(|| c.step(&x, &mut u).unwrap());
        assert_eq!(n, 0, "step {k}");
        // A real solve, not a fallback that skips the work.
        assert_eq!(report.outcome, StepOutcome::Solved, "step {k}: {report:?}");
        assert!(report.qp_iterations > 0, "step {k}: {report:?}");
        assert!(u.iter().all(|v| (0.0..=8.0).contains(v)), "step {k}: {u:?}");
    }
    assert_eq!(
        c.residual_stats().unwrap().adaptation.unwrap().updated
            + c.residual_stats()
                .unwrap()
                .adaptation
                .unwrap()
                .rejected_innovation,
        5
    );
}

/// A model file robot's control step (the VTOL of configs/models, whose
/// tape the MPC evaluates on duals) allocates nothing either.
#[test]
fn model_file_step_does_not_allocate() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/models/vtol.toml");
    let robot = RobotConfig::ModelFile(recede_model::robots::ModelFileConfig::new(
        path,
        Default::default(),
    ));
    let config: ControllerConfig = toml::from_str(
        "horizon_steps = 20\ndt_secs = 0.05\nperiod_secs = 0.02\n\
         state_weights = [20, 20, 1, 1, 1, 0.1]\ninput_weights = [0.01, 0.01]\n",
    )
    .unwrap();
    let mut x = [0.0, 1.0, 0.0, 0.0, 0.0, 0.0];
    let mut c = Controller::from_config(&robot, &config, &x).unwrap();
    c.set_constant_reference(&[1.0, 1.5, 0.0, 0.0, 0.0, 0.0], &[4.905; 2])
        .unwrap();
    let mut u = [0.0; 2];
    c.step(&x, &mut u).unwrap();
    for k in 0..5 {
        x[0] += 0.01;
        let (n, report) = counting(|| c.step(&x, &mut u).unwrap());
        assert_eq!(n, 0, "step {k}");
        assert_eq!(report.outcome, StepOutcome::Solved, "step {k}: {report:?}");
        assert!(report.qp_iterations > 0, "step {k}: {report:?}");
        assert!(
            u.iter().all(|v| (0.0..=10.0).contains(v)),
            "step {k}: {u:?}"
        );
    }
}

/// A discrete linear robot's control step (P3's quadcopter map, applied
/// once per interval, linearised once) allocates nothing either; and a
/// `[controller]` that does not fit the map is refused, naming the key.
#[test]
fn linear_discrete_step_does_not_allocate() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/p3_quadcopter_lmpc.json");
    let robot = RobotConfig::ModelFile(recede_model::robots::ModelFileConfig::linear(
        path,
        recede_model::file::LinearOptions {
            a: "Ad".into(),
            b: "Bd".into(),
            period_secs: 0.1,
        },
    ));
    let text = "horizon_steps = 10\ndt_secs = 0.1\n\
         state_weights = [0, 0, 5, 5, 5, 5, 0, 0, 0, 2.5, 2.5, 2.5]\n\
         input_weights = [0.05, 0.05, 0.05, 0.05]\n\
         input_min = [-0.9916, -0.9916, -0.9916, -0.9916]\n\
         input_max = [2.4084, 2.4084, 2.4084, 2.4084]\n";
    let config: ControllerConfig = toml::from_str(text).unwrap();
    let mut x = [0.0; 12];
    let mut c = Controller::from_config(&robot, &config, &x).unwrap();
    let mut goal = [0.0; 12];
    goal[2] = 1.0;
    c.set_constant_reference(&goal, &[0.0; 4]).unwrap();
    let mut u = [0.0; 4];
    c.step(&x, &mut u).unwrap();
    for k in 0..5 {
        x[2] += 0.01;
        let (n, report) = counting(|| c.step(&x, &mut u).unwrap());
        assert_eq!(n, 0, "step {k}");
        assert_eq!(report.outcome, StepOutcome::Solved, "step {k}: {report:?}");
        assert!(report.qp_iterations > 0, "step {k}: {report:?}");
    }
    let other_dt: ControllerConfig =
        toml::from_str(&text.replace("dt_secs = 0.1", "dt_secs = 0.05")).unwrap();
    let err = Controller::from_config(&robot, &other_dt, &x)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`dt_secs`")
            && err.contains("period_secs, 0.1")
            && err.contains("p3_quadcopter_lmpc.json"),
        "{err}"
    );
}

/// Filling the horizon from a `sines` reference whose torque the
/// controller computes (the arm's inverse dynamics at every node), then
/// the step, allocates nothing; every node is solved, and the nominal arm
/// under a node's torque has the reference's acceleration.
#[test]
fn tracking_a_computed_input_reference_does_not_allocate() {
    use recede_control::ReferenceConfig;
    use recede_model::robots::{Arm, ArmParams};
    use recede_model::Dynamics;

    let reference: ReferenceConfig = toml::from_str(
        "kind = \"sines\"\nstates = [0, 1]\nrate_states = [2, 3]\ncenter = [-0.8, 0.4]\n\
         amplitude = [[0.3, 0.1], [0.2, 0.2]]\nfrequency_rad_s = [[1.0, 2.5], [0.7, 1.9]]\n\
         phase_rad = [[0.0, 1.0], [2.0, 0.5]]\ninput = \"inverse_dynamics\"\n",
    )
    .unwrap();
    reference.validate(4, 2).unwrap();
    let config: ControllerConfig = toml::from_str(
        "horizon_steps = 20\ndt_secs = 0.02\nperiod_secs = 0.01\n\
         state_weights = [1000, 1000, 1, 1]\ninput_weights = [0.01, 0.01]\n",
    )
    .unwrap();
    let robot = RobotConfig::Arm(ArmParams::default());
    let (mut x, mut u) = ([0.0; 4], [0.0; 2]);
    reference.sample(0.0, &mut x, &mut u);
    let mut c = Controller::from_config(&robot, &config, &x).unwrap();
    let (mut xr, mut ur) = ([0.0; 4], [0.0; 2]);
    assert_eq!(c.track(&reference, 0.0, &mut xr, &mut ur).unwrap(), 0);
    c.step(&x, &mut u).unwrap();
    for k in 1..6 {
        let t = 0.01 * k as f64;
        let (n, unsolved) = counting(|| {
            let unsolved = c.track(&reference, t, &mut xr, &mut ur).unwrap();
            c.step(&x, &mut u).unwrap();
            unsolved
        });
        assert_eq!((n, unsolved), (0, 0), "step {k}");
    }
    // The last node filled (t + N dt): its torque is the inverse dynamics.
    let t = 0.05 + 20.0 * 0.02;
    let ReferenceConfig::Sines(sines) = &reference else {
        panic!("a sines reference")
    };
    let mut rate = [0.0; 4];
    sines.state_rate(t, &mut rate);
    let d = Arm::default().derivative(&xr.into(), &ur.into());
    assert!((d[2] - rate[2]).abs() < 1e-9 && (d[3] - rate[3]).abs() < 1e-9);
    assert!(
        ur.iter().any(|v| v.abs() > 1.0),
        "gravity alone needs torque: {ur:?}"
    );
}

/// A URDF arm's control step (its linearisation from the chain's own
/// tangent: RNEA on duals, the mass matrix on f64) allocates nothing.
#[test]
fn urdf_arm_step_does_not_allocate() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/models/arm6.urdf");
    let robot = RobotConfig::ModelFile(recede_model::robots::ModelFileConfig::urdf(
        path,
        Default::default(),
        Default::default(),
    ));
    let config: ControllerConfig = toml::from_str(
        "horizon_steps = 10\ndt_secs = 0.03\nperiod_secs = 0.01\n\
         state_weights = [400, 400, 400, 200, 200, 100, 1, 1, 1, 0.5, 0.5, 0.5]\n\
         input_weights = [0.001, 0.001, 0.002, 0.01, 0.01, 0.02]\n",
    )
    .unwrap();
    let mut x = [0.0; 12];
    let mut c = Controller::from_config(&robot, &config, &x).unwrap();
    let mut goal = [0.0; 12];
    goal[..6].copy_from_slice(&[0.8, 0.6, 0.9, 0.0, 0.6, 0.0]);
    c.set_constant_reference(&goal, &[0.0; 6]).unwrap();
    let mut u = [0.0; 6];
    c.step(&x, &mut u).unwrap();
    for k in 0..5 {
        x[0] += 0.01;
        let (n, report) = counting(|| c.step(&x, &mut u).unwrap());
        assert_eq!(n, 0, "step {k}");
        assert_eq!(report.outcome, StepOutcome::Solved, "step {k}: {report:?}");
        assert!(u.iter().any(|v| *v != 0.0), "step {k}: {u:?}");
    }
}
