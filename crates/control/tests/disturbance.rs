//! Integral action the MPC way: a constant force the model does not know is
//! estimated online as the residual's adapted bias (`parameters = "bias"`)
//! and the MPC plans with it, so the loop reaches its set point; without
//! adaptation it settles away from it.

use nalgebra::SVector;
use recede_control::{Controller, ControllerConfig, ResidualConfig};
use recede_learn::{AdaptedParameters, Feature, MlpResidual, Output, ResidualSpec, RlsConfig};
use recede_model::robots::{Quadrotor, QuadrotorParams, RobotConfig};
use recede_model::{c, Residual, ResidualEvaluation, Rk4, Scalar, WithResidual};

const CONTROLLER: &str = r#"
horizon_steps = 20
dt_secs = 0.05
period_secs = 0.01
state_weights = [100, 100, 100, 0, 10, 10, 10, 1, 1, 1, 0.1, 0.1, 0.1]
input_weights = [0.1, 0.1, 0.1, 0.1]
input_min = [0.0, 0.0, 0.0, 0.0]
input_max = [8.0, 8.0, 8.0, 8.0]
"#;

/// A steady wind and a heavier payload: a constant acceleration (m/s^2).
const PUSH: [f64; 3] = [1.5, -1.0, -0.8];

struct Push;

impl Residual<13, 4> for Push {
    fn add_to<T: Scalar>(&self, _: &SVector<T, 13>, _: &SVector<T, 4>, xdot: &mut SVector<T, 13>) {
        for (i, a) in PUSH.iter().enumerate() {
            xdot[7 + i] += c::<T>(*a);
        }
    }
}

/// Hovers at `x0` for `steps` periods against the pushed plant; returns the
/// final position error (m) and the controller.
fn hover(adaptation: Option<RlsConfig>, steps: usize) -> (f64, Controller) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bias.safetensors");
    // A residual that starts at zero: the bias on v' is all there is to learn.
    MlpResidual::<13, 4>::zero(ResidualSpec {
        features: vec![Feature::InputSum],
        outputs: vec![Output::Vector3 { start: 7 }],
        hidden: vec![8],
        activation: Default::default(),
        guard: Default::default(),
    })
    .unwrap()
    .save(&path)
    .unwrap();
    let mut config: ControllerConfig = toml::from_str(CONTROLLER).unwrap();
    config.residual = Some(ResidualConfig {
        model: path,
        evaluation: Default::default(),
        adaptation,
    });
    let mut x0 = [0.0; 13];
    x0[2] = 2.0;
    x0[3] = 1.0;
    let robot = RobotConfig::Quadrotor(QuadrotorParams::default());
    let mut controller = Controller::from_config(&robot, &config, &x0).unwrap();
    let hover_input = Quadrotor::default().hover_input();
    controller
        .set_constant_reference(&x0, hover_input.as_slice())
        .unwrap();
    let plant = WithResidual::new(Quadrotor::default(), Push)
        .with_evaluation(ResidualEvaluation::EveryStage);
    let rk4 = Rk4::new(0.001, 1);
    let mut x = SVector::<f64, 13>::from_column_slice(&x0);
    let mut u = [0.0; 4];
    for _ in 0..steps {
        controller.step(x.as_slice(), &mut u).unwrap();
        let uv = SVector::from(u);
        for _ in 0..10 {
            x = rk4.step(&plant, &x, &uv);
        }
    }
    let error = (0..3).map(|i| (x[i] - x0[i]).powi(2)).sum::<f64>().sqrt();
    (error, controller)
}

#[test]
fn an_adapted_bias_cancels_a_constant_unknown_force() {
    let steps = 600;
    let (fixed, _) = hover(None, steps);
    let bias = RlsConfig {
        parameters: AdaptedParameters::Bias,
        forgetting_factor: 0.99,
        ..RlsConfig::default()
    };
    let (adapted, controller) = hover(Some(bias), steps);
    // Without the estimate the MPC trades position error against tilt and
    // thrust away from hover: it settles off the set point.
    assert!(fixed > 0.05, "no adaptation: {fixed} m off");
    assert!(
        adapted < 0.005,
        "bias adaptation: {adapted} m off (without: {fixed})"
    );
    let stats = controller.residual_stats().unwrap().adaptation.unwrap();
    assert_eq!(stats.updated as usize, steps - 1, "{stats:?}");

    // The estimate is the push itself, in the model the MPC plans with.
    let Controller::Quadrotor(q) = &controller else {
        panic!("a quadrotor controller")
    };
    let mut xdot = SVector::<f64, 13>::zeros();
    let mut x = SVector::<f64, 13>::zeros();
    x[3] = 1.0;
    q.mpc
        .model()
        .dynamics
        .residual
        .add_to(&x, &Quadrotor::default().hover_input(), &mut xdot);
    for (i, a) in PUSH.iter().enumerate() {
        assert!(
            (xdot[7 + i] - a).abs() < 0.02,
            "estimated {xdot:?}, pushed {PUSH:?}"
        );
    }
}
