//! The residual inside the controller: a zero residual changes nothing, bad
//! model files are clear errors naming the file, online adaptation learns
//! from measured transitions and can be switched off.

use nalgebra::{SVector, Vector3};
use recede_control::{Controller, ControllerConfig, ReferenceConfig, ResidualConfig};
use recede_learn::{Feature, MlpResidual, Output, ResidualSpec, RlsConfig, SupportGuard};
use recede_model::robots::quadrotor::{rotation_from_quaternion, state_quaternion};
use recede_model::robots::{Quadrotor, QuadrotorParams, RobotConfig};
use recede_model::{c, Discretized, Residual, ResidualEvaluation, Rk4, Scalar, WithResidual};
use recede_mpc::Mpc;

const CONTROLLER: &str = r#"
horizon_steps = 20
dt_secs = 0.05
period_secs = 0.01
state_weights = [100, 100, 100, 0, 10, 10, 10, 1, 1, 1, 0.1, 0.1, 0.1]
input_weights = [0.1, 0.1, 0.1, 0.1]
input_min = [0.0, 0.0, 0.0, 0.0]
input_max = [8.0, 8.0, 8.0, 8.0]
"#;

fn config() -> ControllerConfig {
    toml::from_str(CONTROLLER).unwrap()
}

fn robot() -> RobotConfig {
    RobotConfig::Quadrotor(QuadrotorParams::default())
}

fn figure_eight(speed: f64) -> ReferenceConfig {
    ReferenceConfig::FigureEight {
        amplitude_m: 10.0,
        height_m: 2.0,
        peak_speed_m_s: speed,
        hover_input: vec![2.4525; 4],
        flat_feedforward: false,
    }
}

fn start(reference: &ReferenceConfig) -> Vec<f64> {
    let (mut x, mut u) = (vec![0.0; 13], vec![0.0; 4]);
    reference.sample(0.0, &mut x, &mut u);
    x
}

/// P2's drag residual (configs/residual_quadrotor.toml, where it is written
/// once) with `hidden` layers.
fn drag_spec(hidden: Vec<usize>) -> ResidualSpec {
    let mut file: toml::Table =
        toml::from_str(include_str!("../../../configs/residual_quadrotor.toml")).unwrap();
    file.remove("target");
    file.remove("training");
    let spec: ResidualSpec = toml::Value::Table(file).try_into().unwrap();
    ResidualSpec { hidden, ..spec }
}

/// P2's body-frame drag as a residual (the true plant of these tests).
struct Drag;

impl Residual<13, 4> for Drag {
    fn add_to<T: Scalar>(&self, x: &SVector<T, 13>, _: &SVector<T, 4>, xdot: &mut SVector<T, 13>) {
        let r = rotation_from_quaternion(&state_quaternion(x));
        let v: Vector3<T> = x.fixed_rows::<3>(7).into_owned();
        let vb = r.transpose() * v;
        let (d1, d2) = ([0.30, 0.30, 0.10], [0.025, 0.025, 0.015]);
        let fb = Vector3::from_fn(|i, _| -(vb[i] * d1[i] + vb[i] * vb[i].abs() * d2[i]));
        let a = r * fb;
        for i in 0..3 {
            xdot[7 + i] += a[i] * c::<T>(1.0);
        }
    }
}

/// Closed loop against the drag plant (RK4, 10 x 1 ms per period);
/// returns the commands applied.
fn fly(controller: &mut Controller, reference: &ReferenceConfig, steps: usize) -> Vec<[f64; 4]> {
    let plant = WithResidual::new(Quadrotor::default(), Drag)
        .with_evaluation(ResidualEvaluation::EveryStage);
    let rk4 = Rk4::new(0.001, 1);
    let mut x = SVector::<f64, 13>::from_column_slice(&start(reference));
    let (mut xr, mut ur) = (vec![0.0; 13], vec![0.0; 4]);
    let mut u = [0.0; 4];
    let mut applied = Vec::new();
    for k in 0..steps {
        controller
            .track(reference, k as f64 * 0.01, &mut xr, &mut ur)
            .unwrap();
        controller.step(x.as_slice(), &mut u).unwrap();
        applied.push(u);
        let uv = SVector::from(u);
        for _ in 0..10 {
            x = rk4.step(&plant, &x, &uv);
        }
    }
    applied
}

fn residual_file(dir: &tempfile::TempDir, model: &MlpResidual<13, 4>) -> std::path::PathBuf {
    let path = dir.path().join("residual.safetensors");
    model.save(&path).unwrap();
    path
}

#[test]
fn a_zero_residual_gives_the_nominal_commands_exactly() {
    let reference = figure_eight(9.0);
    let x0 = start(&reference);
    let steps = 25;

    // The nominal controller as it was before the residual seam: the bare
    // quadrotor model, no WithResidual at all.
    let cfg = config();
    let spec = cfg.mpc.to_spec::<13, 4>().unwrap();
    let bare = Discretized::new(Quadrotor::default(), Rk4::new(spec.dt_secs, 1));
    let x0v = SVector::<f64, 13>::from_column_slice(&x0);
    let mut nominal = Mpc::new(bare, (), spec, &x0v, &Quadrotor::default().hover_input()).unwrap();
    let plant = WithResidual::new(Quadrotor::default(), Drag)
        .with_evaluation(ResidualEvaluation::EveryStage);
    let rk4 = Rk4::new(0.001, 1);
    let (mut xr, mut ur) = (vec![0.0; 13], vec![0.0; 4]);
    let mut x = x0v;
    let mut bare_commands = Vec::new();
    for k in 0..steps {
        let (xs, us) = nominal.references_mut();
        for (node, xn) in xs.iter_mut().enumerate() {
            reference.sample(k as f64 * 0.01 + node as f64 * 0.05, &mut xr, &mut ur);
            xn.copy_from_slice(&xr);
            if node < us.len() {
                us[node].copy_from_slice(&ur);
            }
        }
        let mut u = SVector::zeros();
        nominal.step(&x, 0.01, &mut u);
        bare_commands.push([u[0], u[1], u[2], u[3]]);
        for _ in 0..10 {
            x = rk4.step(&plant, &x, &u);
        }
    }

    let mut none = Controller::from_config(&robot(), &cfg, &x0).unwrap();
    assert!(none.residual_stats().is_none());
    assert_eq!(fly(&mut none, &reference, steps), bare_commands);

    // A real MLP with all weights zero, read from a model file.
    let dir = tempfile::tempdir().unwrap();
    let zero = MlpResidual::<13, 4>::zero(drag_spec(vec![16, 16])).unwrap();
    let mut cfg = config();
    cfg.residual = Some(ResidualConfig {
        model: residual_file(&dir, &zero),
        evaluation: Default::default(),
        adaptation: None,
    });
    let mut with_zero = Controller::from_config(&robot(), &cfg, &x0).unwrap();
    assert_eq!(fly(&mut with_zero, &reference, steps), bare_commands);
    let stats = with_zero.residual_stats().unwrap();
    assert!(stats.evaluations > 0);
    assert_eq!(stats.outside_support, 0);
    assert!(stats.adaptation.is_none());
}

#[test]
fn missing_corrupt_and_mismatched_model_files_are_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let x0 = start(&figure_eight(3.0));
    let try_build = |path: std::path::PathBuf| {
        let mut cfg = config();
        cfg.residual = Some(ResidualConfig {
            model: path,
            evaluation: Default::default(),
            adaptation: None,
        });
        Controller::from_config(&robot(), &cfg, &x0).unwrap_err()
    };

    let missing = dir.path().join("nowhere.safetensors");
    let e = try_build(missing.clone()).to_string();
    assert!(e.contains(&missing.display().to_string()), "{e}");

    let corrupt = dir.path().join("corrupt.safetensors");
    std::fs::write(&corrupt, b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}").unwrap();
    let e = try_build(corrupt.clone()).to_string();
    assert!(e.contains(&corrupt.display().to_string()), "{e}");
    assert!(e.contains("safetensors"), "{e}");

    // A cart-pole model (4 states, 1 input) for the quadrotor.
    let cartpole = MlpResidual::<4, 1>::zero(ResidualSpec {
        features: vec![Feature::State { index: 1 }],
        outputs: vec![Output::State { index: 2 }],
        hidden: vec![4],
        activation: Default::default(),
        guard: SupportGuard::Clip,
    })
    .unwrap();
    let other = dir.path().join("cartpole.safetensors");
    cartpole.save(&other).unwrap();
    let e = try_build(other.clone()).to_string();
    assert!(e.contains(&other.display().to_string()), "{e}");
    assert!(e.contains("state dimension"), "{e}");

    // Invalid adaptation settings name the file too.
    let zero = MlpResidual::<13, 4>::zero(drag_spec(vec![])).unwrap();
    let mut cfg = config();
    cfg.residual = Some(ResidualConfig {
        model: residual_file(&dir, &zero),
        evaluation: Default::default(),
        adaptation: Some(RlsConfig {
            forgetting_factor: 1.5,
            ..RlsConfig::default()
        }),
    });
    let e = Controller::from_config(&robot(), &cfg, &x0)
        .unwrap_err()
        .to_string();
    assert!(e.contains("forgetting_factor"), "{e}");
}

/// The residual's output (world-frame acceleration on v') at a state.
fn predicted_drag(controller: &Controller, x: &SVector<f64, 13>) -> Vector3<f64> {
    let Controller::Quadrotor(q) = controller else {
        panic!("a quadrotor controller")
    };
    let mut xdot = SVector::<f64, 13>::zeros();
    q.mpc
        .model()
        .dynamics
        .residual
        .add_to(x, &Quadrotor::default().hover_input(), &mut xdot);
    xdot.fixed_rows::<3>(7).into_owned()
}

#[test]
fn adaptation_learns_the_drag_from_transitions_and_can_be_switched_off() {
    let reference = figure_eight(6.0);
    let x0 = start(&reference);
    let dir = tempfile::tempdir().unwrap();
    // A linear model (no hidden layer) starting at zero: RLS fits drag as a
    // linear function of v_b and |v_b| v_b.
    let zero = MlpResidual::<13, 4>::zero(drag_spec(vec![])).unwrap();
    let mut cfg = config();
    cfg.residual = Some(ResidualConfig {
        model: residual_file(&dir, &zero),
        evaluation: Default::default(),
        adaptation: Some(RlsConfig {
            initial_covariance: 10.0,
            max_step: 1.0,
            ..RlsConfig::default()
        }),
    });

    let mut off = Controller::from_config(&robot(), &cfg, &x0).unwrap();
    assert!(off.set_adaptation_enabled(false));
    fly(&mut off, &reference, 30);
    let stats = off.residual_stats().unwrap().adaptation.unwrap();
    assert!(!stats.enabled);
    assert_eq!(stats.updated, 0);

    let mut on = Controller::from_config(&robot(), &cfg, &x0).unwrap();
    fly(&mut on, &reference, 100);
    let stats = on.residual_stats().unwrap().adaptation.unwrap();
    assert!(stats.enabled);
    assert_eq!(stats.updated, 99, "{stats:?}");

    // Level, at the start's velocity (about 4.24 m/s along x and y): the
    // true drag is -(0.3 * 4.24 + 0.025 * 4.24^2) = -1.72 m/s^2 on both.
    let x = SVector::<f64, 13>::from_column_slice(&x0);
    let learned = predicted_drag(&on, &x);
    let truth = -(0.3 * x[7] + 0.025 * x[7] * x[7]);
    for i in 0..2 {
        assert!(
            (learned[i] - truth).abs() < 0.25 * truth.abs(),
            "learned drag {learned:?}, expected about ({truth}, {truth}, 0)"
        );
    }
    assert_eq!(predicted_drag(&off, &x), Vector3::zeros());

    // A reset forgets the last transition: no update from the jump.
    on.reset(&x0).unwrap();
    let mut u = [0.0; 4];
    on.step(&x0, &mut u).unwrap();
    assert_eq!(on.residual_stats().unwrap().adaptation.unwrap().updated, 99);
}

/// The controller's model linearises a held MLP through the MLP's own
/// tangent (one `f64` evaluation with reverse-mode rows), not the trait's
/// default on duals: the same `Linearization` bit for bit as the bare MLP.
#[test]
fn the_controllers_residual_linearises_through_the_mlps_tangent() {
    let spec = drag_spec(vec![16]);
    let mut net = recede_learn::Network::zeros(&spec.layer_sizes(4), spec.activation);
    let mut k = 0.0_f64;
    for layer in &mut net.layers {
        for w in layer.weight.iter_mut().chain(layer.bias.iter_mut()) {
            k += 1.0;
            *w = (k * 0.7548776662).fract() * 1.6 - 0.8;
        }
    }
    let norm = recede_learn::Normalization::identity(6, 3);
    let support = recede_learn::Support::unbounded(6);
    let mlp = MlpResidual::<13, 4>::new(spec, net, norm, support).unwrap();
    let q = nalgebra::UnitQuaternion::from_euler_angles(0.2, -0.1, 0.4);
    let x = SVector::<f64, 13>::from_column_slice(&[
        1.0, -2.0, 2.0, q.w, q.i, q.j, q.k, 6.0, 5.0, 0.3, 0.6, -0.2, 0.1,
    ]);
    let u = SVector::<f64, 4>::new(2.3, 2.6, 2.5, 2.4);
    let model = recede_control::ResidualModel::Mlp(mlp.clone());
    assert_eq!(model.tangent(&x, &u), mlp.tangent(&x, &u));
    let rk4 = Rk4::new(0.05, 1);
    let through_controller = rk4.linearize(&WithResidual::new(Quadrotor::default(), model), &x, &u);
    let bare = rk4.linearize(&WithResidual::new(Quadrotor::default(), mlp), &x, &u);
    assert_eq!(through_controller, bare);
    assert_ne!(
        bare.a,
        rk4.linearize(&Quadrotor::default(), &x, &u).a,
        "the residual is in the linearisation"
    );
}
