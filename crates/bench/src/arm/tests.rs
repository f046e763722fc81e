//! The arm benchmark's tests: the oracle, the references, the logged
//! targets and what the trained residual buys.

use nalgebra::SVector;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use recede_learn::TrainOptions;
use recede_model::robots::arm::{NU, NX};
use recede_model::robots::Arm;
use recede_model::{Dynamics, Residual, ResidualEvaluation, WithResidual};
use recede_sim::plant::{ArmTruth, Environment, Plant, TrueDynamics};

use super::reference::{self, TORQUE_MARGIN};
use super::*;

#[test]
fn the_oracle_residual_is_the_true_arm() {
    let truth = truth();
    let oracle = WithResidual::new(Arm::default(), TrueArmResidual::new().unwrap())
        .with_evaluation(ResidualEvaluation::EveryStage);
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    for _ in 0..50 {
        let x = SVector::<f64, NX>::from_fn(|_, _| rng.random_range(-3.0..3.0));
        let u = SVector::<f64, NU>::from_fn(|_, _| rng.random_range(-10.0..10.0));
        let d = oracle.derivative(&x, &u) - truth.derivative(&x, &u, &Environment::default());
        assert!(d.amax() < 1e-9, "{d}");
    }
}

#[test]
fn references_are_consistent_and_within_torque_limits() {
    let s = draw(1001).unwrap();
    assert_eq!(draw(1001).unwrap(), s);
    assert_ne!(draw(1).unwrap(), s);
    let h = 1e-6;
    let (mut x, mut x2, mut rate, mut u) = ([0.0; NX], [0.0; NX], [0.0; NX], [0.0; NU]);
    for t in [0.0, 0.7, 3.3] {
        s.sample(t, &mut x, &mut u);
        s.sample(t + h, &mut x2, &mut u);
        s.state_rate(t, &mut rate);
        for i in 0..NX {
            assert!(
                ((x2[i] - x[i]) / h - rate[i]).abs() < 1e-3,
                "t {t} state {i}"
            );
        }
        // The rate states hold the angles' rates.
        assert_eq!([x[2], x[3]], [rate[0], rate[1]]);
    }
    let limits = Arm::default().input_bounds().upper;
    assert!(reference::peak_torque_share(&s, &limits, 20.0).unwrap() <= TORQUE_MARGIN);
    // The controller's input reference is the nominal inverse dynamics:
    // the nominal arm under it has the reference's acceleration.
    let (mut xs, mut us) = (SVector::<f64, NX>::zeros(), SVector::<f64, NU>::zeros());
    s.sample(1.234, xs.as_mut_slice(), us.as_mut_slice());
    assert!(s.model_input(&Arm::default(), 1.234, &xs, &mut us));
    let d = Arm::default().derivative(&xs, &us);
    s.state_rate(1.234, &mut rate);
    assert!((d[2] - rate[2]).abs() < 1e-9 && (d[3] - rate[3]).abs() < 1e-9);
}

/// configs/bench/arm.toml is seed 1001's problem: its reference is the
/// draw, it starts on it, its plant is the truth the oracle knows.
#[test]
fn the_arm_file_is_the_drawn_problem() {
    let drawn = ReferenceConfig::Sines(draw(FILE_SEED).unwrap());
    let mut x0 = vec![0.0; NX];
    drawn.sample(0.0, &mut x0, &mut [0.0; NU]);
    let expected = format!(
        "arm.toml should hold initial_state = {x0:?} and\n[reference]\n{}",
        toml::to_string(&drawn).unwrap()
    );
    let file = scenarios::arm().unwrap_or_else(|e| panic!("{e:#}\n{expected}"));
    let f = &file.file;
    assert_eq!(f.reference, drawn, "{expected}");
    assert_eq!(f.scenario.initial_state, x0, "{expected}");
    let plant = file.plant_config().build(0).unwrap();
    let mut x = SVector::<f64, NX>::from_column_slice(&x0);
    x[2] += 0.3;
    let u = SVector::<f64, NU>::new(3.0, -1.0);
    let (mut a, mut b) = (plant, truth_plant(&x));
    a.set_state(x.as_slice()).unwrap();
    for k in 0..10 {
        Plant::step(a.as_mut(), k as f64 * 0.001, u.as_slice()).unwrap();
        Plant::step(&mut b, k as f64 * 0.001, u.as_slice()).unwrap();
    }
    assert_eq!(Plant::state(a.as_ref()), Plant::state(&b));
    // Another seed: the same problem on that seed's draw.
    let other = scenario(1002).unwrap().file;
    assert_eq!(other.controller, f.controller);
    assert_eq!(other.plant, f.plant);
    assert_eq!(other.reference, ReferenceConfig::Sines(draw(1002).unwrap()));
}

fn truth_plant(x0: &SVector<f64, NX>) -> recede_sim::plant::TruePlant<ArmTruth, NX, NU> {
    let b = Arm::default().input_bounds();
    recede_sim::plant::TruePlant::new(
        truth(),
        recede_sim::plant::Actuator::new(b.lower, b.upper, [0.0; NU]),
        recede_sim::plant::Disturbances::none(),
        0.001,
        *x0,
    )
    .unwrap()
}

#[test]
fn logged_targets_are_what_the_nominal_arm_misses() {
    let data = training_flight(5, 0.3).unwrap();
    assert_eq!(data.len(), 30);
    let truth = truth();
    let env = Environment::default();
    // One plant step about its midpoint is the point value to second
    // order, except where the (sharp) Coulomb term flips sign.
    let close = data
        .samples
        .iter()
        .filter(|s| {
            let missed = truth.derivative(&s.x, &s.u, &env) - Arm::default().derivative(&s.x, &s.u);
            (2..4).all(|i| (s.residual[i] - missed[i]).abs() < 0.02 * (1.0 + missed[i].abs()))
        })
        .count();
    assert!(
        close >= 27,
        "{close} of 30 targets close to the true residual"
    );
    // The payload is not small: the nominal model misses m/s^2-scale accelerations.
    assert!(data.samples.iter().any(|s| s.residual[2].abs() > 1.0));
}

/// Trained on other references, the residual predicts what the
/// nominal model misses on an evaluated one far better than zero.
#[test]
fn a_residual_trained_on_other_references_predicts_the_payload() {
    let options = ArmOptions {
        training_seeds: vec![1, 2, 3, 4],
        training_secs: 1.5,
        training: TrainOptions {
            max_epochs: 60,
            ..ArmOptions::default().training
        },
        ..ArmOptions::default()
    };
    let data = generate_data(&options).unwrap();
    assert_eq!(data.len(), 4 * 150);
    let (residual, _) = train_residual(&data, &options).unwrap();
    let held_out = training_flight(1001, 1.0).unwrap();
    let (mut err_zero, mut err_mlp) = (0.0, 0.0);
    for s in &held_out.samples {
        let mut g = SVector::<f64, NX>::zeros();
        residual.add_to(&s.x, &s.u, &mut g);
        for i in 2..4 {
            err_zero += s.residual[i].powi(2);
            err_mlp += (s.residual[i] - g[i]).powi(2);
        }
    }
    assert!(
        err_mlp < 0.25 * err_zero,
        "residual error {err_mlp} vs nominal {err_zero}"
    );
    // A line of the bench output: the residual as a model file.
    let file = crate::learned::TempFile::new("arm-test");
    residual.save(&file.0).unwrap();
    let line = closed_loop("residual", LineModel::Residual(&file.0), 1001, 0.2, 0.1).unwrap();
    assert_eq!((line.control_steps, line.evaluated_steps), (20, 10));
    assert_eq!(line.fallbacks, 0);
    assert!(line.outside_support_fraction.is_some());
    let value = serde_json::to_value(&line).unwrap();
    for key in [
        "problem",
        "model",
        "rmse_m",
        "step_us",
        "saturated_fraction",
    ] {
        assert!(value.get(key).is_some(), "{key}");
    }
    assert_eq!(value["problem"], "p2_arm");
}

/// README's claim: the learned residual cuts the arm's joint error by
/// about 90% against the nominal model on trajectories it never saw.
#[test]
fn the_learned_residual_cuts_the_joint_error_by_nine_tenths() {
    let lines = run(&ArmOptions::default()).unwrap();
    for line in &lines {
        eprintln!("{}", serde_json::to_string(line).unwrap());
    }
    for seed in ArmOptions::default().evaluated_seeds {
        let rmse = |model| {
            lines
                .iter()
                .find(|l| l.model == model && l.trajectory.contains(&seed.to_string()))
                .unwrap()
                .rmse_rad
        };
        let (nominal, residual) = (rmse("nominal"), rmse("residual"));
        // "About 90%": at least 85% on each trajectory.
        assert!(
            residual <= 0.15 * nominal,
            "seed {seed}: residual {residual} vs nominal {nominal}"
        );
    }
}

#[test]
fn training_never_uses_an_evaluated_trajectory() {
    let options = ArmOptions {
        training_seeds: vec![1, 1001],
        ..ArmOptions::default()
    };
    assert!(generate_data(&options).is_err());
}
