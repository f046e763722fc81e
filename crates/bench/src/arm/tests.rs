//! The arm benchmark's tests: the oracle, the references, the logged
//! targets and what the trained residual buys.

use nalgebra::SVector;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use recede_learn::TrainOptions;
use recede_model::robots::arm::{NU, NX};
use recede_model::robots::Arm;
use recede_model::{Dynamics, Residual, ResidualEvaluation, WithResidual, ZeroResidual};
use recede_sim::plant::{Environment, TrueDynamics};

use super::reference::TORQUE_MARGIN;
use super::*;
use crate::p2::RESIDUAL;

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
    let s = Sines::random(1001).unwrap();
    assert_eq!(Sines::random(1001).unwrap(), s);
    assert_ne!(Sines::random(1).unwrap(), s);
    let h = 1e-6;
    for t in [0.0, 0.7, 3.3] {
        let (q, dq, ddq) = s.at(t);
        let (q2, dq2, _) = s.at(t + h);
        for j in 0..2 {
            assert!(((q2[j] - q[j]) / h - dq[j]).abs() < 1e-4);
            assert!(((dq2[j] - dq[j]) / h - ddq[j]).abs() < 1e-3);
        }
    }
    let actual = TrueArmResidual::new().unwrap();
    let limits = Arm::default().input_bounds().upper;
    assert!(s.peak_torque_share(&actual, &limits, 20.0) <= TORQUE_MARGIN);
    // The MPC's input reference is the nominal inverse dynamics: the
    // nominal arm under it has the reference's acceleration.
    let (mut x, mut u) = ([0.0; NX], [0.0; NU]);
    s.sample(1.234, &mut x, &mut u);
    let d = Arm::default().derivative(&SVector::from(x), &SVector::from(u));
    let (_, _, ddq) = s.at(1.234);
    assert!((d[2] - ddq[0]).abs() < 1e-9 && (d[3] - ddq[1]).abs() < 1e-9);
}

#[test]
fn logged_targets_are_what_the_nominal_arm_misses() {
    let reference = Sines::random(5).unwrap();
    let flown = closed_loop("nominal", ZeroResidual, RESIDUAL, &reference, 0.3, 0.0).unwrap();
    assert_eq!(flown.data.len(), 30);
    let truth = truth();
    let env = Environment::default();
    // One plant step about its midpoint is the point value to second
    // order, except where the (sharp) Coulomb term flips sign.
    let close = flown
        .data
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
    assert!(flown.data.samples.iter().any(|s| s.residual[2].abs() > 1.0));
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
    let reference = Sines::random(1001).unwrap();
    let held_out = closed_loop("nominal", ZeroResidual, RESIDUAL, &reference, 1.0, 0.0).unwrap();
    let (mut err_zero, mut err_mlp) = (0.0, 0.0);
    for s in &held_out.data.samples {
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
    // A line of the bench output.
    let flown = closed_loop("residual", residual, RESIDUAL, &reference, 0.2, 0.1).unwrap();
    assert_eq!(
        (flown.line.control_steps, flown.line.evaluated_steps),
        (20, 10)
    );
    assert_eq!(flown.line.fallbacks, 0);
    let value = serde_json::to_value(&flown.line).unwrap();
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
