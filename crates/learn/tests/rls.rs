//! Online adaptation: RLS on the last layer converges on a drift, tracks a
//! change, and stays bounded under garbage.

mod common;

use nalgebra::SVector;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use recede_learn::{
    Activation, AdaptedParameters, MlpResidual, Rls, RlsConfig, RlsOutcome, Support, SupportGuard,
};
use recede_model::Residual;

use common::{cartpole_spec, random_model};

type Model = MlpResidual<4, 1>;

fn sample(rng: &mut ChaCha8Rng) -> (SVector<f64, 4>, SVector<f64, 1>) {
    let x = SVector::<f64, 4>::from_fn(|_, _| rng.random_range(-2.0..2.0));
    let u = SVector::<f64, 1>::new(rng.random_range(-10.0..10.0));
    (x, u)
}

/// The plant's residual: what `teacher` predicts (its last layer differs
/// from the model's, so RLS can represent it exactly).
fn truth(teacher: &Model, x: &SVector<f64, 4>, u: &SVector<f64, 1>) -> SVector<f64, 4> {
    let mut r = SVector::zeros();
    teacher.add_to(x, u, &mut r);
    r
}

fn rms_error(model: &Model, teacher: &Model, seed: u64) -> f64 {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut e2 = 0.0;
    for _ in 0..200 {
        let (x, u) = sample(&mut rng);
        let mut g = SVector::zeros();
        model.add_to(&x, &u, &mut g);
        e2 += (g - truth(teacher, &x, &u)).norm_squared();
    }
    (e2 / 200.0).sqrt()
}

/// A teacher with the model's hidden layers and a shifted last layer.
fn drifted(model: &Model, shift: f64, seed: u64) -> Model {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut net = model.network().clone();
    let last = net.layers.last_mut().unwrap();
    for w in last.weight.iter_mut().chain(last.bias.iter_mut()) {
        *w += rng.random_range(-shift..shift);
    }
    Model::new(
        model.spec().clone(),
        net,
        model.normalization().clone(),
        model.support().clone(),
    )
    .unwrap()
}

fn base() -> Model {
    random_model(cartpole_spec(Activation::Tanh, SupportGuard::Clip), 31)
}

fn config() -> RlsConfig {
    RlsConfig {
        forgetting_factor: 0.99,
        initial_covariance: 10.0,
        max_covariance_trace: 1e3,
        max_step: 0.5,
        max_innovation: 50.0,
        ..RlsConfig::default()
    }
}

#[test]
fn rls_converges_on_a_drift_and_tracks_a_second_one() {
    let mut model = base();
    let teacher = drifted(&model, 0.6, 1);
    let before = rms_error(&model, &teacher, 7);
    assert!(before > 0.3, "the drift is visible: {before}");
    let mut rls = Rls::new(&model, config()).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    for _ in 0..400 {
        let (x, u) = sample(&mut rng);
        let r = truth(&teacher, &x, &u);
        let outcome = rls.update(&mut model, &x, &u, &r);
        assert!(matches!(
            outcome,
            RlsOutcome::Updated | RlsOutcome::UpdatedClamped
        ));
    }
    let after = rms_error(&model, &teacher, 7);
    assert!(after < 1e-3 * before, "RMS error {before} -> {after}");

    // The plant changes again; forgetting lets the model follow. With a
    // converged (small) covariance the old fit fades like lambda^k.
    let teacher2 = drifted(&teacher, 0.6, 3);
    let jump = rms_error(&model, &teacher2, 8);
    let mut tracked = Vec::new();
    for k in 1..=1200 {
        let (x, u) = sample(&mut rng);
        let r = truth(&teacher2, &x, &u);
        rls.update(&mut model, &x, &u, &r);
        if k % 400 == 0 {
            tracked.push(rms_error(&model, &teacher2, 8));
        }
    }
    assert!(tracked[0] < 0.1 * jump, "{jump} -> {tracked:?}");
    assert!(tracked[2] < 1e-3 * jump, "{jump} -> {tracked:?}");
    assert!(rls.covariance_trace() <= config().max_covariance_trace * (1.0 + 1e-12));
    // Only the last layer moved.
    assert_eq!(model.network().layers[0], base().network().layers[0]);
    assert_eq!(model.network().layers[1], base().network().layers[1]);
}

#[test]
fn rls_stays_bounded_under_garbage() {
    let mut model = base();
    let teacher = drifted(&model, 0.6, 4);
    let mut rls = Rls::new(&model, config()).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let weight_bound = |m: &Model| {
        let l = m.network().layers.last().unwrap();
        l.weight
            .iter()
            .chain(&l.bias)
            .fold(0.0_f64, |a, w| a.max(w.abs()))
    };
    let start_bound = weight_bound(&model);
    let mut n_garbage = 0;
    for k in 0..2000 {
        let (mut x, u) = sample(&mut rng);
        let mut r = truth(&teacher, &x, &u);
        // A burst of bad data from sample 500 to 700, and some scattered.
        if (500..700).contains(&k) || k % 37 == 0 {
            n_garbage += 1;
            match k % 4 {
                0 => r[2] = f64::NAN,
                1 => r[3] = 1e12,
                2 => x[1] = f64::INFINITY,
                _ => r[2] = -1e12,
            }
        }
        rls.update(&mut model, &x, &u, &r);
        assert!(weight_bound(&model).is_finite());
        assert!(
            weight_bound(&model) < start_bound + 10.0,
            "weights stay bounded"
        );
        let trace = rls.covariance_trace();
        assert!(trace.is_finite() && trace > 0.0 && trace <= 1e3 * (1.0 + 1e-12));
    }
    let s = rls.stats();
    assert_eq!(
        s.rejected_non_finite + s.rejected_innovation,
        n_garbage,
        "every bad sample was rejected: {s:?}"
    );
    assert!(s.rejected_innovation > 0 && s.rejected_non_finite > 0);
    assert_eq!(s.updated, 2000 - n_garbage);
    // And it still learned from the good data.
    assert!(rms_error(&model, &teacher, 9) < 1e-3);
}

#[test]
fn rls_step_clamp_trace_clamp_and_switch() {
    let mut model = base();
    let frozen = model.clone();
    let teacher = drifted(&model, 2.0, 6);
    let mut rls = Rls::new(
        &model,
        RlsConfig {
            max_step: 1e-3,
            max_covariance_trace: 5.0,
            forgetting_factor: 0.9,
            ..config()
        },
    )
    .unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(10);
    let (x, u) = sample(&mut rng);
    let r = truth(&teacher, &x, &u);
    let before = model.network().layers[2].clone();
    assert_eq!(
        rls.update(&mut model, &x, &u, &r),
        RlsOutcome::UpdatedClamped
    );
    let after = &model.network().layers[2];
    let largest = before
        .weight
        .iter()
        .zip(&after.weight)
        .chain(before.bias.iter().zip(&after.bias))
        .fold(0.0_f64, |m, (a, b)| m.max((a - b).abs()));
    assert!(largest <= 1e-3 * (1.0 + 1e-9) && largest > 0.0);
    // Same sample repeatedly: no excitation, so forgetting would inflate P
    // without the clamp.
    for _ in 0..300 {
        rls.update(&mut model, &x, &u, &r);
    }
    assert!(rls.covariance_trace() <= 5.0 * (1.0 + 1e-12));
    assert!(rls.stats().trace_clamped > 0);

    rls.set_enabled(false);
    let mut model2 = frozen.clone();
    assert_eq!(rls.update(&mut model2, &x, &u, &r), RlsOutcome::Disabled);
    assert_eq!(model2.network(), frozen.network());

    for bad in [
        RlsConfig {
            forgetting_factor: 0.0,
            ..config()
        },
        RlsConfig {
            forgetting_factor: 1.5,
            ..config()
        },
        RlsConfig {
            max_step: f64::NAN,
            ..config()
        },
        RlsConfig {
            max_covariance_trace: -1.0,
            ..config()
        },
    ] {
        assert!(Rls::new(&frozen, bad).is_err());
    }
}

#[test]
fn rls_with_fade_guard_skips_samples_outside_the_support() {
    let base = random_model::<4, 1>(
        cartpole_spec(Activation::Tanh, SupportGuard::Fade { width_std: 1.0 }),
        40,
    );
    let mut support = Support::unbounded(base.n_features());
    support.feature_min[0] = -1.0;
    support.feature_max[0] = 1.0;
    let mut model = Model::new(
        base.spec().clone(),
        base.network().clone(),
        base.normalization().clone(),
        support,
    )
    .unwrap();
    let mut rls = Rls::new(&model, config()).unwrap();
    let x = SVector::<f64, 4>::new(0.0, 3.0, 0.0, 0.0);
    let u = SVector::<f64, 1>::new(0.0);
    let r = SVector::<f64, 4>::new(0.0, 0.0, 1.0, 1.0);
    assert_eq!(
        rls.update(&mut model, &x, &u, &r),
        RlsOutcome::RejectedOutsideSupport
    );
    assert_eq!(model.network(), base.network());
    let inside = SVector::<f64, 4>::new(0.0, 0.5, 0.0, 0.0);
    assert!(matches!(
        rls.update(&mut model, &inside, &u, &r),
        RlsOutcome::Updated | RlsOutcome::UpdatedClamped
    ));
}

#[test]
fn rls_on_the_bias_alone_estimates_a_constant_offset() {
    let mut model = base();
    let frozen = model.clone();
    let offset = SVector::<f64, 4>::new(0.0, 0.0, 0.7, -1.3);
    let mut rls = Rls::new(
        &model,
        RlsConfig {
            parameters: AdaptedParameters::Bias,
            ..config()
        },
    )
    .unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    let mut noise = ChaCha8Rng::seed_from_u64(13);
    for _ in 0..600 {
        let (x, u) = sample(&mut rng);
        // What the model predicts, plus the offset, plus noise of zero mean.
        let mut r = truth(&frozen, &x, &u) + offset;
        for v in r.iter_mut().skip(2) {
            *v += noise.random_range(-0.5..0.5);
        }
        assert!(matches!(
            rls.update(&mut model, &x, &u, &r),
            RlsOutcome::Updated | RlsOutcome::UpdatedClamped
        ));
    }
    // The model is the old one plus the offset, everywhere (to the noise
    // the forgetting leaves: memory ~100 samples).
    for seed in 20..30 {
        let (x, u) = sample(&mut ChaCha8Rng::seed_from_u64(seed));
        let (mut g, mut g0) = (SVector::zeros(), SVector::zeros());
        model.add_to(&x, &u, &mut g);
        frozen.add_to(&x, &u, &mut g0);
        let shift = g - g0;
        assert!(
            (shift - offset).amax() < 0.1,
            "learned offset {shift:?}, expected {offset:?}"
        );
    }
    // Only the last layer's bias moved.
    let (l, l0) = (
        model.network().layers[2].clone(),
        &frozen.network().layers[2],
    );
    assert_eq!(l.weight, l0.weight);
    assert_ne!(l.bias, l0.bias);
    assert_eq!(model.network().layers[..2], frozen.network().layers[..2]);
    assert!(rls.covariance_trace() < 1.0);
}
