//! The residual's exact (dual-number) derivative against finite differences:
//! through `Rk4::linearize` of `WithResidual<CartPole, MlpResidual>`, and
//! directly for the quadrotor layout with every feature kind and guard mode.

mod common;

use nalgebra::{SMatrix, SVector};
use num_dual::DualSVec64;
use proptest::prelude::*;
use recede_learn::{Activation, MlpResidual, Support, SupportGuard};
use recede_model::robots::CartPole;
use recede_model::{Residual, ResidualEvaluation, Rk4, WithResidual};

use common::{cartpole_spec, central_difference, quadrotor_spec, random_model, unit_quaternion};

fn fd_step_jacobians<D: recede_model::Dynamics<4, 1>>(
    rk4: &Rk4,
    model: &D,
    x: &SVector<f64, 4>,
    u: &SVector<f64, 1>,
) -> (SMatrix<f64, 4, 4>, SMatrix<f64, 4, 1>) {
    let h = 1e-6;
    let mut a = SMatrix::<f64, 4, 4>::zeros();
    for j in 0..4 {
        let (mut xp, mut xm) = (*x, *x);
        xp[j] += h;
        xm[j] -= h;
        let d = (rk4.step(model, &xp, u) - rk4.step(model, &xm, u)) / (2.0 * h);
        a.set_column(j, &d);
    }
    let (mut up, mut um) = (*u, *u);
    up[0] += h;
    um[0] -= h;
    let b = (rk4.step(model, x, &up) - rk4.step(model, x, &um)) / (2.0 * h);
    (a, b)
}

#[test]
fn linearize_with_mlp_residual_matches_finite_differences() {
    for (seed, activation, evaluation) in [
        (1, Activation::Tanh, ResidualEvaluation::EveryStage),
        (2, Activation::Softplus, ResidualEvaluation::EveryStage),
        (3, Activation::Relu, ResidualEvaluation::EveryStage),
        (1, Activation::Tanh, ResidualEvaluation::OncePerStep),
        (2, Activation::Softplus, ResidualEvaluation::OncePerStep),
    ] {
        let residual: MlpResidual<4, 1> =
            random_model(cartpole_spec(activation, SupportGuard::Clip), seed);
        let model = WithResidual::new(CartPole::default(), residual).with_evaluation(evaluation);
        let rk4 = Rk4::new(0.02, 2);
        let x = SVector::<f64, 4>::new(0.3, 2.5, -0.7, 1.1);
        let u = SVector::<f64, 1>::new(4.0);
        let lin = rk4.linearize(&model, &x, &u);
        let (a, b) = fd_step_jacobians(&rk4, &model, &x, &u);
        assert!(
            (lin.a - a).abs().max() < 1e-6,
            "{activation:?} {evaluation:?}: A differs by {}",
            (lin.a - a).abs().max()
        );
        assert!(
            (lin.b - b).abs().max() < 1e-6,
            "{activation:?} {evaluation:?}: B"
        );
        assert_eq!(lin.x_next, rk4.step(&model, &x, &u));
        // The residual really is in there: A differs from the nominal's.
        let nominal = rk4.linearize(&CartPole::default(), &x, &u);
        assert!((lin.a - nominal.a).abs().max() > 1e-4);
    }
}

/// `d g / d (x, u)` by duals and by central differences, for 13 states and 4 inputs.
fn check_quadrotor(
    model: &MlpResidual<13, 4>,
    x: &SVector<f64, 13>,
    u: &SVector<f64, 4>,
    tol: f64,
) {
    let g = |x: &SVector<f64, 13>, u: &SVector<f64, 4>| {
        let mut xdot = SVector::<f64, 13>::zeros();
        model.add_to(x, u, &mut xdot);
        xdot
    };
    // Duals seeded on the 17 variables (x, u).
    let xd: SVector<DualSVec64<17>, 13> =
        SVector::from_fn(|i, _| DualSVec64::from_re(x[i]).derivative(i));
    let ud: SVector<DualSVec64<17>, 4> =
        SVector::from_fn(|i, _| DualSVec64::from_re(u[i]).derivative(13 + i));
    let mut out = SVector::<DualSVec64<17>, 13>::from_element(DualSVec64::from_re(0.0));
    model.add_to(&xd, &ud, &mut out);
    let value = g(x, u);
    // The reference path (every operation on duals) agrees to rounding.
    let mut reference = SVector::<DualSVec64<17>, 13>::from_element(DualSVec64::from_re(0.0));
    model.add_to_on_scalar(&xd, &ud, &mut reference);
    for i in 0..13 {
        assert!((out[i].re - reference[i].re).abs() < 1e-12 * (1.0 + value[i].abs()));
        let (fast, slow) = (out[i].eps.0, reference[i].eps.0);
        let gap = fast.unwrap_or_default() - slow.unwrap_or_default();
        assert!(
            gap.amax() < 1e-10,
            "row {i}: fast and reference differ by {gap}"
        );
    }
    // The tangent (value and Jacobians in one evaluation) agrees with both.
    let t = model.tangent(x, u);
    assert_eq!(t.value, value);
    for i in 0..13 {
        let e = out[i].eps.0.unwrap_or_default();
        let gap = (t.d_x.row(i).transpose() - e.fixed_rows::<13>(0)).amax()
            + (t.d_u.row(i).transpose() - e.fixed_rows::<4>(13)).amax();
        assert!(gap < 1e-12, "tangent row {i} differs by {gap}");
    }
    let h = 1e-6;
    for j in 0..17 {
        let fd = central_difference(g, x, u, j, h);
        for i in 0..13 {
            // The value on duals is the value on f64, bit for bit.
            assert_eq!(out[i].re, value[i]);
            let ad = out[i].eps.0.map_or(0.0, |e| e[j]);
            assert!(
                (ad - fd[i]).abs() < tol * (1.0 + fd[i].abs()),
                "d g[{i}] / d var[{j}]: dual {ad}, finite difference {}",
                fd[i]
            );
        }
    }
}

fn quad_state(q: [f64; 4], v: [f64; 3], w: [f64; 3]) -> SVector<f64, 13> {
    SVector::<f64, 13>::from_column_slice(&[
        1.0, -2.0, 3.0, q[0], q[1], q[2], q[3], v[0], v[1], v[2], w[0], w[1], w[2],
    ])
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 48,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn quadrotor_residual_dual_derivative_matches_finite_differences(
        r in prop::array::uniform3(0.0..1.0f64),
        v in prop::array::uniform3(-8.0..8.0f64),
        w in prop::array::uniform3(-2.0..2.0f64),
        f in prop::array::uniform4(0.0..8.0f64),
        seed in 0u64..1000,
    ) {
        // |v| v and relu kinks: keep away from exact zeros by construction
        // (the chance of hitting within 1e-6 is negligible).
        let x = quad_state(unit_quaternion(r), v, w);
        let u = SVector::<f64, 4>::from_column_slice(&f);
        for activation in [Activation::Tanh, Activation::Softplus] {
            let model: MlpResidual<13, 4> =
                random_model(quadrotor_spec(activation, SupportGuard::Off), seed);
            check_quadrotor(&model, &x, &u, 2e-5);
        }
    }
}

/// The guards stay exactly differentiable: clipping gives a zero derivative
/// along clipped features, fading a smooth product (checked inside the band).
#[test]
fn guarded_residual_derivatives_match_finite_differences() {
    let x = quad_state(
        unit_quaternion([0.3, 0.6, 0.1]),
        [4.0, -3.0, 1.5],
        [0.2, -0.1, 0.3],
    );
    let u = SVector::<f64, 4>::new(2.0, 3.0, 1.5, 2.5);
    for guard in [SupportGuard::Clip, SupportGuard::Fade { width_std: 4.0 }] {
        let base: MlpResidual<13, 4> = random_model(quadrotor_spec(Activation::Tanh, guard), 7);
        // A support box that the velocity features leave by a little.
        let nf = base.n_features();
        let mut support = Support::unbounded(nf);
        for i in 0..6 {
            support.feature_min[i] = -1.0;
            support.feature_max[i] = 1.0;
        }
        let model = MlpResidual::<13, 4>::new(
            base.spec().clone(),
            base.network().clone(),
            base.normalization().clone(),
            support,
        )
        .unwrap();
        check_quadrotor(&model, &x, &u, 2e-5);
        let stats = model.guard_stats();
        assert!(stats.outside_support > 0 && stats.outside_support == stats.evaluations);
    }
}

/// The angle features (`sin_cos`, `sin_cos_sum`) of an arm-like layout
/// (4 states `[q1, q2, dq1, dq2]`, 2 torques): raw values, dual derivative
/// against central differences, and a bit-exact file round trip.
#[test]
fn angle_features_values_and_derivatives() {
    use recede_learn::{Feature, Output, ResidualSpec};
    let spec = ResidualSpec {
        features: vec![
            Feature::SinCos { index: 0 },
            Feature::SinCos { index: 1 },
            Feature::SinCosSum {
                first: 0,
                second: 1,
            },
            Feature::State { index: 2 },
            Feature::Inputs,
        ],
        outputs: vec![Output::State { index: 2 }, Output::State { index: 3 }],
        hidden: vec![7],
        activation: Activation::Tanh,
        guard: SupportGuard::Off,
    };
    let model: MlpResidual<4, 2> = random_model(spec, 11);
    assert_eq!(model.n_features(), 9);
    let g = |x: &SVector<f64, 4>, u: &SVector<f64, 2>| {
        let mut xdot = SVector::<f64, 4>::zeros();
        model.add_to(x, u, &mut xdot);
        xdot
    };
    for (x, u) in [
        ([0.3, -1.2, 0.7, -2.0], [3.0, -1.5]),
        ([-2.9, 2.4, -0.1, 1.3], [-8.0, 4.0]),
        ([1.2, 0.0, 0.0, 0.0], [0.0, 0.0]),
    ] {
        let x = SVector::<f64, 4>::from(x);
        let u = SVector::<f64, 2>::from(u);
        let f = model.raw_features(&x, &u);
        let expected = [
            x[0].sin(),
            x[0].cos(),
            x[1].sin(),
            x[1].cos(),
            (x[0] + x[1]).sin(),
            (x[0] + x[1]).cos(),
            x[2],
            u[0],
            u[1],
        ];
        assert_eq!(&f[..9], &expected);
        let xd: SVector<DualSVec64<6>, 4> =
            SVector::from_fn(|i, _| DualSVec64::from_re(x[i]).derivative(i));
        let ud: SVector<DualSVec64<6>, 2> =
            SVector::from_fn(|i, _| DualSVec64::from_re(u[i]).derivative(4 + i));
        let mut out = SVector::<DualSVec64<6>, 4>::from_element(DualSVec64::from_re(0.0));
        model.add_to(&xd, &ud, &mut out);
        let value = g(&x, &u);
        let h = 1e-6;
        let mut moved = 0.0f64;
        for j in 0..6 {
            let fd = central_difference(g, &x, &u, j, h);
            for i in 0..4 {
                assert_eq!(out[i].re, value[i]);
                let ad = out[i].eps.0.map_or(0.0, |e| e[j]);
                assert!(
                    (ad - fd[i]).abs() < 1e-6 * (1.0 + fd[i].abs()),
                    "d g[{i}] / d var[{j}]: dual {ad}, finite difference {}",
                    fd[i]
                );
                moved = moved.max(ad.abs());
            }
        }
        // The angles really enter: some derivative is far from zero.
        assert!(moved > 1e-3);
        // Outputs land in xdot[2..4] only.
        assert_eq!((value[0], value[1]), (0.0, 0.0));
    }
    let back = MlpResidual::<4, 2>::from_bytes(&model.to_bytes()).unwrap();
    assert_eq!(back.spec(), model.spec());
    assert_eq!(back.network(), model.network());
    // An index past the state is refused.
    let mut bad = model.spec().clone();
    bad.features[2] = Feature::SinCosSum {
        first: 0,
        second: 4,
    };
    assert!(MlpResidual::<4, 2>::zero(bad).is_err());
}
