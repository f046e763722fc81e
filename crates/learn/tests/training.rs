//! Training on a known synthetic residual: P2's body-frame drag.

mod common;

use nalgebra::{SVector, Vector3};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use recede_learn::{
    train, Dataset, Feature, LearnError, MlpResidual, ResidualSpec, SupportGuard, TrainOptions,
};
use recede_model::Residual;

use common::{p2_drag_spec, unit_quaternion};

const D1: [f64; 3] = [0.30, 0.30, 0.10];
const D2: [f64; 3] = [0.025, 0.025, 0.015];

/// The true plant's drag acceleration (mass 1 kg), world frame, as in P2.
fn drag(x: &SVector<f64, 13>) -> SVector<f64, 13> {
    let r = recede_learn::rotation(x, 3);
    let v = Vector3::new(x[7], x[8], x[9]);
    let vb = r.transpose() * v;
    let fb = Vector3::from_fn(|i, _| -(D1[i] * vb[i] + D2[i] * vb[i].abs() * vb[i]));
    let aw = r * fb;
    let mut out = SVector::<f64, 13>::zeros();
    out.fixed_rows_mut::<3>(7).copy_from(&aw);
    out
}

fn random_state(rng: &mut ChaCha8Rng, v_max: f64) -> (SVector<f64, 13>, SVector<f64, 4>) {
    let q = unit_quaternion([rng.random(), rng.random(), rng.random()]);
    let mut x = SVector::<f64, 13>::zeros();
    x[3] = q[0];
    x[4] = q[1];
    x[5] = q[2];
    x[6] = q[3];
    for i in 7..10 {
        x[i] = rng.random_range(-v_max..v_max);
    }
    for i in 10..13 {
        x[i] = rng.random_range(-1.0..1.0);
    }
    let u = SVector::<f64, 4>::from_fn(|_, _| rng.random_range(0.0..8.0));
    (x, u)
}

fn drag_dataset(n: usize, seed: u64) -> Dataset<13, 4> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut data = Dataset::new();
    for _ in 0..n {
        let (x, u) = random_state(&mut rng, 8.0);
        data.push(x, u, drag(&x));
    }
    data
}

fn options() -> TrainOptions {
    TrainOptions {
        seed: 42,
        max_epochs: 150,
        batch_size: 32,
        learning_rate: 3e-3,
        patience: 25,
        ..TrainOptions::default()
    }
}

#[test]
fn training_recovers_body_frame_drag() {
    let data = drag_dataset(1500, 1);
    let mut seen = Vec::new();
    let (model, report) = train(&data, &p2_drag_spec(), &options(), |e| seen.push(*e)).unwrap();
    assert_eq!(seen, report.epochs);
    assert!(report.n_train + report.n_validation == 1500 && report.n_validation == 300);
    let best = report.best_validation_loss;
    assert!(
        best < 1e-3 * report.initial_validation_loss,
        "validation loss {best} vs initial {}",
        report.initial_validation_loss
    );
    assert!(report.epochs[0].validation_loss > best);
    assert_eq!(report.epochs[report.best_epoch - 1].validation_loss, best);

    // Fresh points inside the training box: the learned drag matches.
    let mut rng = ChaCha8Rng::seed_from_u64(99);
    let (mut err2, mut ref2) = (0.0, 0.0);
    for _ in 0..500 {
        let (x, u) = random_state(&mut rng, 6.0);
        let truth = drag(&x);
        let mut learned = SVector::<f64, 13>::zeros();
        model.add_to(&x, &u, &mut learned);
        err2 += (learned - truth).norm_squared();
        ref2 += truth.norm_squared();
        for i in (0..7).chain(10..13) {
            assert_eq!(learned[i], 0.0, "only v' is corrected");
        }
    }
    let relative = (err2 / ref2).sqrt();
    assert!(relative < 0.03, "relative RMS error {relative}");
    for r in &report.validation_rmse {
        assert!(*r < 0.05, "validation RMSE {r} m/s^2");
    }
}

#[test]
fn training_is_repeatable_bit_for_bit() {
    let data = drag_dataset(400, 3);
    let opts = TrainOptions {
        max_epochs: 15,
        ..options()
    };
    let (a, ra) = train(&data, &p2_drag_spec(), &opts, |_| {}).unwrap();
    let (b, rb) = train(&data, &p2_drag_spec(), &opts, |_| {}).unwrap();
    assert_eq!(ra, rb);
    assert_eq!(a.to_bytes(), b.to_bytes());
    let (c, _) = train(
        &data,
        &p2_drag_spec(),
        &TrainOptions { seed: 43, ..opts },
        |_| {},
    )
    .unwrap();
    assert_ne!(a.to_bytes(), c.to_bytes(), "the seed matters");
}

#[test]
fn training_stops_early_and_keeps_the_best_epoch() {
    let data = drag_dataset(300, 4);
    let opts = TrainOptions {
        max_epochs: 500,
        patience: 3,
        // A loose threshold ends the run soon after the fast initial progress.
        min_improvement: 1e-2,
        ..options()
    };
    let (model, report) = train(&data, &p2_drag_spec(), &opts, |_| {}).unwrap();
    assert!(report.stopped_early);
    assert_eq!(report.epochs.len(), report.best_epoch + 3);
    // The returned weights are the best epoch's, not the last epoch's.
    let (rerun, _) = train(
        &data,
        &p2_drag_spec(),
        &TrainOptions {
            max_epochs: report.best_epoch,
            patience: usize::MAX,
            ..opts
        },
        |_| {},
    )
    .unwrap();
    assert_eq!(model.to_bytes(), rerun.to_bytes());
}

#[test]
fn training_rejects_bad_data_and_options() {
    let mut data = drag_dataset(50, 5);
    let too_small = Dataset::<13, 4> {
        samples: data.samples[..1].to_vec(),
    };
    assert!(matches!(
        train(&too_small, &p2_drag_spec(), &options(), |_| {}),
        Err(LearnError::Training(_))
    ));
    let bad_opts = TrainOptions {
        validation_fraction: 1.5,
        ..options()
    };
    assert!(matches!(
        train(&data, &p2_drag_spec(), &bad_opts, |_| {}),
        Err(LearnError::Training(_))
    ));
    data.samples[17].residual[8] = f64::NAN;
    let err = train(&data, &p2_drag_spec(), &options(), |_| {}).unwrap_err();
    assert!(err.to_string().contains("sample 17"), "{err}");
    let bad_spec = ResidualSpec {
        features: vec![Feature::State { index: 13 }],
        ..p2_drag_spec()
    };
    assert!(matches!(
        train(&drag_dataset(50, 5), &bad_spec, &options(), |_| {}),
        Err(LearnError::Invalid { .. })
    ));
}

#[test]
fn support_guard_counts_and_acts_outside_the_training_box() {
    let data = drag_dataset(300, 6);
    let opts = TrainOptions {
        max_epochs: 5,
        ..options()
    };
    let (mut model, _): (MlpResidual<13, 4>, _) =
        train(&data, &p2_drag_spec(), &opts, |_| {}).unwrap();
    let mut x = SVector::<f64, 13>::zeros();
    x[3] = 1.0;
    let u = SVector::<f64, 4>::zeros();
    let eval = |m: &MlpResidual<13, 4>, vx: f64| {
        let mut x = x;
        x[7] = vx;
        let mut out = SVector::<f64, 13>::zeros();
        m.add_to(&x, &u, &mut out);
        out[7]
    };
    model.reset_guard_stats();
    eval(&model, 2.0);
    assert_eq!(model.guard_stats().outside_support, 0);
    // Clip: far outside equals the value on the boundary.
    let edge = model.support().feature_max[0];
    assert_eq!(eval(&model, 50.0), eval(&model, edge));
    assert_eq!(model.guard_stats().outside_support, 1);
    assert_eq!(model.guard_stats().evaluations, 3);
    // Fade: zero far outside, continuous at the boundary.
    model
        .set_guard(SupportGuard::Fade { width_std: 0.5 })
        .unwrap();
    assert_eq!(eval(&model, 50.0), 0.0);
    assert!((eval(&model, edge + 1e-9) - eval(&model, edge)).abs() < 1e-6);
    assert!(model.guard_stats().outside_support >= 2);
    assert!(model
        .set_guard(SupportGuard::Fade { width_std: -1.0 })
        .is_err());
    // Non-finite input: no contribution, counted.
    assert_eq!(eval(&model, f64::NAN), 0.0);
    assert_eq!(model.guard_stats().non_finite, 1);
}
