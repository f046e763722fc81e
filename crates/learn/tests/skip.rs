//! The linear skip term (`Network::skip`): its training gradient and its
//! inference Jacobian against finite differences, outside the clip guard's
//! box too; RLS on the extended regressor `[h; 1; s]` following a residual
//! that keeps growing outside the box (which the last layer alone cannot);
//! model files with and without it.

mod common;

use nalgebra::SVector;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use recede_learn::{
    Activation, LearnError, MlpResidual, Network, Rls, RlsConfig, Support, SupportGuard,
};
use recede_model::Residual;

use common::{
    cartpole_spec, central_difference, edit_header, get_meta, quadrotor_spec, random_model,
    random_network, unit_quaternion, with_random_skip,
};

fn all_params(net: &Network) -> Vec<f64> {
    let mut p: Vec<f64> = net
        .layers
        .iter()
        .flat_map(|l| l.weight.iter().chain(l.bias.iter()).copied())
        .collect();
    p.extend(net.skip.iter().flatten());
    p
}

fn param_mut(net: &mut Network, mut k: usize) -> &mut f64 {
    for l in &mut net.layers {
        let n = l.weight.len() + l.bias.len();
        if k < n {
            return if k < l.weight.len() {
                &mut l.weight[k]
            } else {
                &mut l.bias[k - l.weight.len()]
            };
        }
        k -= n;
    }
    &mut net.skip.as_mut().expect("a skip term")[k]
}

#[test]
fn backprop_through_the_skip_term_matches_finite_differences() {
    let input = [0.3, -1.2, 0.7, 2.0];
    let target = [0.5, -0.25];
    let spec = cartpole_spec(Activation::Tanh, SupportGuard::Off);
    let mut net = random_network(&spec, 1, 3, 0.9).with_zero_skip();
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    for w in net.skip.iter_mut().flatten() {
        *w = rng.random_range(-1.0..1.0);
    }
    let mut grad = Network::zeros(&spec.layer_sizes(1), Activation::Tanh).with_zero_skip();
    let loss = net.loss_gradient(&input, &target, &mut grad);
    assert_eq!(loss, net.loss(&input, &target));
    let analytic = all_params(&grad);
    assert_eq!(analytic.len(), net.n_params());
    let h = 1e-6;
    let n_skip = net.skip.as_ref().unwrap().len();
    for k in 0..analytic.len() {
        let (mut plus, mut minus) = (net.clone(), net.clone());
        *param_mut(&mut plus, k) += h;
        *param_mut(&mut minus, k) -= h;
        let fd = (plus.loss(&input, &target) - minus.loss(&input, &target)) / (2.0 * h);
        assert!(
            (fd - analytic[k]).abs() < 1e-7,
            "parameter {k}: backprop {}, finite difference {fd}",
            analytic[k]
        );
    }
    // The skip term's gradient is there: d loss / d S_oi = 2 e_o s_i / n_out.
    let skip_grad = &analytic[analytic.len() - n_skip..];
    assert!(skip_grad.iter().any(|g| g.abs() > 1e-2));
}

/// `d g / d (x, u)` of the fast path against central differences and the
/// dual-number reference, for the quadrotor layout.
fn check_jacobian(model: &MlpResidual<13, 4>, x: &SVector<f64, 13>, u: &SVector<f64, 4>) {
    use num_dual::DualSVec64;
    let g = |x: &SVector<f64, 13>, u: &SVector<f64, 4>| {
        let mut xdot = SVector::<f64, 13>::zeros();
        model.add_to(x, u, &mut xdot);
        xdot
    };
    let t = model.tangent(x, u);
    assert_eq!(t.value, g(x, u));
    let xd: SVector<DualSVec64<17>, 13> =
        SVector::from_fn(|i, _| DualSVec64::from_re(x[i]).derivative(i));
    let ud: SVector<DualSVec64<17>, 4> =
        SVector::from_fn(|i, _| DualSVec64::from_re(u[i]).derivative(13 + i));
    let mut reference = SVector::<DualSVec64<17>, 13>::from_element(DualSVec64::from_re(0.0));
    model.add_to_on_scalar(&xd, &ud, &mut reference);
    let h = 1e-6;
    for j in 0..17 {
        let fd = central_difference(g, x, u, j, h);
        for i in 0..13 {
            let ad = if j < 13 {
                t.d_x[(i, j)]
            } else {
                t.d_u[(i, j - 13)]
            };
            assert!(
                (ad - fd[i]).abs() < 2e-5 * (1.0 + fd[i].abs()),
                "d g[{i}] / d var[{j}]: tangent {ad}, finite difference {}",
                fd[i]
            );
            let slow = reference[i].eps.0.map_or(0.0, |e| e[j]);
            assert!((ad - slow).abs() < 1e-10, "tangent and reference differ");
            assert_eq!(reference[i].re, t.value[i], "values differ");
        }
    }
}

fn state(v: [f64; 3]) -> SVector<f64, 13> {
    let q = unit_quaternion([0.3, 0.6, 0.1]);
    SVector::<f64, 13>::from_column_slice(&[
        0.0, 0.0, 1.0, q[0], q[1], q[2], q[3], v[0], v[1], v[2], 0.2, -0.1, 0.3,
    ])
}

/// A quadrotor model with a skip term and a support box that the velocity
/// features leave.
fn boxed_model(guard: SupportGuard) -> MlpResidual<13, 4> {
    let base: MlpResidual<13, 4> = random_model(quadrotor_spec(Activation::Tanh, guard), 7);
    let mut support = Support::unbounded(base.n_features());
    for i in 0..6 {
        support.feature_min[i] = -1.0;
        support.feature_max[i] = 1.0;
    }
    let boxed = MlpResidual::new(
        base.spec().clone(),
        base.network().clone(),
        base.normalization().clone(),
        support,
    )
    .unwrap();
    with_random_skip(&boxed, 8, 0.5)
}

#[test]
fn skip_term_jacobian_matches_finite_differences_inside_and_outside_the_box() {
    let u = SVector::<f64, 4>::new(2.0, 3.0, 1.5, 2.5);
    for guard in [
        SupportGuard::Off,
        SupportGuard::Clip,
        SupportGuard::Fade { width_std: 4.0 },
    ] {
        let model = boxed_model(guard);
        for v in [[0.3, -0.2, 0.1], [4.0, -3.0, 1.5]] {
            check_jacobian(&model, &state(v), &u);
        }
    }
    // Outside the box with the clip guard, the MLP is flat along the
    // velocity but the skip term is not: the residual keeps changing.
    let clip = boxed_model(SupportGuard::Clip);
    let mut no_skip_net = clip.network().clone();
    no_skip_net.skip = None;
    let no_skip = MlpResidual::<13, 4>::new(
        clip.spec().clone(),
        no_skip_net,
        clip.normalization().clone(),
        clip.support().clone(),
    )
    .unwrap();
    let x = state([4.0, -3.0, 1.5]);
    let (with, without) = (clip.tangent(&x, &u), no_skip.tangent(&x, &u));
    let body_velocity_slope =
        |t: &recede_model::Tangent<13, 4>| t.d_x.view((7, 7), (3, 3)).abs().max();
    // Without the skip term the velocity Jacobian is only the rotation of a
    // held value (the output map), with it the skip's slope adds on.
    assert!(body_velocity_slope(&with) > body_velocity_slope(&without) + 1e-3);
}

/// A residual linear in the features beyond the box (the shape of drag at
/// speeds no training flight reached): the model's MLP is clipped there, so
/// RLS on `[h; 1]` cannot follow it; on `[h; 1; s]` it can.
#[test]
fn rls_on_the_extended_regressor_follows_a_residual_growing_outside_the_box() {
    type Model = MlpResidual<4, 1>;
    let base: Model = random_model(cartpole_spec(Activation::Tanh, SupportGuard::Clip), 31);
    let mut support = Support::unbounded(base.n_features());
    for i in 0..base.n_features() {
        support.feature_min[i] = -1.0;
        support.feature_max[i] = 1.0;
    }
    let boxed = Model::new(
        base.spec().clone(),
        base.network().clone(),
        base.normalization().clone(),
        support,
    )
    .unwrap();
    let with_skip = Model::new(
        boxed.spec().clone(),
        boxed.network().clone().with_zero_skip(),
        boxed.normalization().clone(),
        boxed.support().clone(),
    )
    .unwrap();
    // The truth: the same MLP plus a skip term the model does not have.
    let teacher = with_random_skip(&boxed, 6, 0.8);
    let truth = |x: &SVector<f64, 4>, u: &SVector<f64, 1>| {
        let mut r = SVector::zeros();
        teacher.add_to(x, u, &mut r);
        r
    };
    // States well outside the box (|features| from 2 to 4).
    let sample = |rng: &mut ChaCha8Rng| {
        let s = |rng: &mut ChaCha8Rng| {
            rng.random_range(2.0..4.0) * rng.random_range(-1.0..1.0_f64).signum()
        };
        let x = SVector::<f64, 4>::new(0.0, s(rng), s(rng), s(rng));
        (x, SVector::<f64, 1>::new(s(rng)))
    };
    let rms = |model: &Model| {
        let mut rng = ChaCha8Rng::seed_from_u64(99);
        let mut e2 = 0.0;
        for _ in 0..200 {
            let (x, u) = sample(&mut rng);
            let mut g = SVector::zeros();
            model.add_to(&x, &u, &mut g);
            e2 += (g - truth(&x, &u)).norm_squared();
        }
        (e2 / 200.0).sqrt()
    };
    let config = RlsConfig {
        forgetting_factor: 0.99,
        initial_covariance: 10.0,
        max_step: 0.5,
        max_innovation: 100.0,
        ..RlsConfig::default()
    };
    let adapt = |mut model: Model| {
        let mut rls = Rls::new(&model, config).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for _ in 0..600 {
            let (x, u) = sample(&mut rng);
            rls.update(&mut model, &x, &u, &truth(&x, &u));
        }
        (rms(&model), rls.stats().updated)
    };
    let before = rms(&with_skip);
    let (after_skip, updated) = adapt(with_skip);
    let (after_last_layer, _) = adapt(boxed);
    assert!(updated > 500, "RLS updated {updated} times");
    assert!(before > 1.0, "the truth differs outside the box: {before}");
    assert!(
        after_skip < 1e-3 * before,
        "with the skip term RLS converges: {before} -> {after_skip}"
    );
    assert!(
        after_last_layer > 0.1 * before,
        "the last layer alone cannot follow it: {before} -> {after_last_layer}"
    );
}

#[test]
fn skip_term_round_trips_and_files_without_it_keep_their_meaning() {
    let plain: MlpResidual<13, 4> =
        random_model(quadrotor_spec(Activation::Softplus, SupportGuard::Clip), 21);
    let bytes = plain.to_bytes();
    // A file without the term has no `linear_skip` key and no tensor.
    assert!(!get_meta(&bytes, "architecture").contains("linear_skip"));
    let loaded = MlpResidual::<13, 4>::from_bytes(&bytes).unwrap();
    assert!(loaded.network().skip.is_none());
    assert_eq!(loaded.to_bytes(), bytes);
    // The file written by the stand-alone exporter (before skip terms).
    let exported =
        MlpResidual::<13, 4>::from_bytes(include_bytes!("data/exported_f32.safetensors")).unwrap();
    assert!(exported.network().skip.is_none());
    // The flagship's residual as shipped before skip terms (main e9a9ca1):
    // it loads without one and writes back the same bytes.
    let old = include_bytes!("data/flagship_before_skip.safetensors");
    let flagship = MlpResidual::<13, 4>::from_bytes(old).unwrap();
    assert!(flagship.network().skip.is_none());
    assert_eq!(flagship.to_bytes(), old.to_vec());

    let skip = with_random_skip(&plain, 3, 0.7);
    let bytes = skip.to_bytes();
    assert!(get_meta(&bytes, "architecture").contains("\"linear_skip\":true"));
    let loaded = MlpResidual::<13, 4>::from_bytes(&bytes).unwrap();
    assert_eq!(loaded.network(), skip.network());
    assert_eq!(loaded.to_bytes(), bytes);
    let x = state([5.0, -1.0, 2.0]);
    let u = SVector::<f64, 4>::new(2.0, 3.0, 1.5, 2.5);
    assert_eq!(loaded.tangent(&x, &u).value, skip.tangent(&x, &u).value);
    assert_ne!(skip.tangent(&x, &u).value, plain.tangent(&x, &u).value);

    // The flag without the tensor, and the tensor without the flag.
    let no_flag = edit_header(&bytes, |h| {
        let arch = h["__metadata__"]["architecture"]
            .as_str()
            .unwrap()
            .to_string();
        h["__metadata__"]["architecture"] =
            serde_json::Value::String(arch.replace(",\"linear_skip\":true", ""));
    });
    assert!(matches!(
        MlpResidual::<13, 4>::from_bytes(&no_flag),
        Err(LearnError::Invalid { .. })
    ));
    let no_tensor = edit_header(&bytes, |h| {
        let h = h.as_object_mut().unwrap();
        let tensor = h.remove("skip.weight").unwrap();
        h.insert("skip.weights".to_string(), tensor);
    });
    assert!(matches!(
        MlpResidual::<13, 4>::from_bytes(&no_tensor),
        Err(LearnError::MissingTensor { .. })
    ));
}

/// Trained on a box, asked outside it: a residual linear in the features
/// (plus a bounded nonlinear part) is followed by the skip term where the
/// clipped MLP alone stays at the boundary's value.
#[test]
fn training_with_a_skip_term_extrapolates_beyond_the_box() {
    use recede_learn::{train, Dataset, TrainOptions};
    let truth = |x: &SVector<f64, 4>, u: &SVector<f64, 1>| {
        let mut r = SVector::<f64, 4>::zeros();
        r[2] = 0.8 * x[1] - 0.5 * u[0] + 0.2 * x[3].sin();
        r[3] = -0.6 * x[2] + 0.3 * x[1] + 0.1 * x[3].cos();
        r
    };
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let mut data = Dataset::<4, 1>::new();
    for _ in 0..2000 {
        let x = SVector::<f64, 4>::from_fn(|_, _| rng.random_range(-1.0..1.0));
        let u = SVector::<f64, 1>::new(rng.random_range(-1.0..1.0));
        data.push(x, u, truth(&x, &u));
    }
    let spec = cartpole_spec(Activation::Tanh, SupportGuard::Clip);
    let fit = |linear_skip: bool| {
        let options = TrainOptions {
            max_epochs: 40,
            learning_rate: 3e-3,
            linear_skip,
            ..TrainOptions::default()
        };
        train(&data, &spec, &options, |_| {}).unwrap().0
    };
    let (with, without) = (fit(true), fit(false));
    assert!(with.network().skip.is_some() && without.network().skip.is_none());
    let error = |model: &MlpResidual<4, 1>, reach: f64| {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut e2 = 0.0;
        for _ in 0..200 {
            let x = SVector::<f64, 4>::from_fn(|_, _| rng.random_range(-reach..reach));
            let u = SVector::<f64, 1>::new(rng.random_range(-reach..reach));
            let mut g = SVector::zeros();
            model.add_to(&x, &u, &mut g);
            e2 += (g - truth(&x, &u)).norm_squared();
        }
        (e2 / 200.0).sqrt()
    };
    // Both fit the box; outside it (up to 3x) only the skip term follows.
    assert!(error(&with, 1.0) < 0.05 && error(&without, 1.0) < 0.05);
    let (far_with, far_without) = (error(&with, 3.0), error(&without, 3.0));
    assert!(
        far_with < 0.3 * far_without,
        "outside the box: with the skip term {far_with}, without {far_without}"
    );
}
