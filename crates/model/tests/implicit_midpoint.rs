//! The implicit midpoint rule on the soft cart-pole's 1-segment model:
//! Jacobians against finite differences (with and without a held residual),
//! second-order convergence to RK4 at small steps, stability where one RK4
//! step of the same length diverges, and Newton's failure as a count and
//! non-finite values rather than a panic.

mod common;

use nalgebra::SVector;
use recede_model::robots::soft_cartpole::{NU, NX};
use recede_model::robots::SoftCartPole;
use recede_model::{
    Dynamics, ImplicitMidpoint, NewtonFailure, Residual, ResidualEvaluation, Rk4, Scalar,
    WithResidual,
};

const PI: f64 = std::f64::consts::PI;

/// A smooth made-up correction on the cart's and the pole's accelerations,
/// so the held term's Jacobians are not zero.
#[derive(Debug, Clone, Copy)]
struct Wobble;

impl Residual<NX, NU> for Wobble {
    fn add_to<T: Scalar>(&self, x: &SVector<T, NX>, u: &SVector<T, NU>, xdot: &mut SVector<T, NX>) {
        xdot[5] += x[1].sin() * x[6] * 0.3 + u[0] * 0.05;
        xdot[6] += x[2] * x[5] * 0.2 - x[7].cos() * 0.1;
    }
}

fn states() -> [SVector<f64, NX>; 4] {
    [
        SVector::from_column_slice(&[0.0, PI, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]),
        SVector::from_column_slice(&[0.3, 2.5, 0.4, 0.02, -0.03, 1.0, -2.0, 1.5, 0.1, -0.4]),
        SVector::from_column_slice(&[-0.5, 0.4, -0.8, -0.05, 0.05, -2.0, 6.0, -4.0, 0.3, 0.8]),
        SVector::from_column_slice(&[1.0, -0.2, 1.2, 0.04, 0.0, 0.5, 9.0, 8.0, -0.5, 1.0]),
    ]
}

/// Richardson-extrapolated central differences of the step (see
/// tests/soft_cartpole.rs) against the linearisation, relative 1e-6.
fn check_jacobians<D: Dynamics<NX, NU>>(model: &D, what: &str) {
    let mut m = ImplicitMidpoint::new(0.02);
    // Tight enough that Newton's tolerance stays far below the differences.
    m.tolerance = 1e-12;
    m.max_iterations = 100;
    for x in states() {
        let u = SVector::<f64, NU>::new(12.0);
        let lin = m.solve(model, &x, &u).expect("converges");
        assert_eq!(
            lin.x_next,
            m.step(model, &x, &u),
            "{what}: value is the step's"
        );
        common::assert_jacobians_match_differences(|x, u| m.step(model, x, u), &lin, &x, &u, what);
    }
    assert_eq!(m.stats().failures, 0);
}

#[test]
fn jacobians_match_finite_differences() {
    check_jacobians(&SoftCartPole::default(), "nominal");
    let held = WithResidual::new(SoftCartPole::default(), Wobble);
    assert_eq!(held.evaluation, ResidualEvaluation::OncePerStep);
    check_jacobians(&held, "held residual");
    let every = WithResidual::new(SoftCartPole::default(), Wobble)
        .with_evaluation(ResidualEvaluation::EveryStage);
    check_jacobians(&every, "residual at the midpoint");
}

/// 0.4 s of a bent, swinging, pushed link against RK4 at 0.25 ms: the
/// rule's error falls as h^2 once the link's fast modes are resolved (5,
/// 2.5, 1.25 ms); at the scenario's 20 ms, where they are not (|lambda| h
/// = 3.9 for the 195 rad/s mode), the cart and the link's base angle stay
/// within 1 cm and 0.01 rad while one RK4 step of 20 ms (past RK4's
/// |lambda| h = 2.8) blows up.
#[test]
fn second_order_against_fine_rk4_and_stable_where_rk4_is_not() {
    let model = SoftCartPole::default();
    let x0 = states()[2];
    let u = SVector::<f64, NU>::new(5.0);
    let duration = 0.4;
    let reference = {
        let rk = Rk4::new(0.00025, 1);
        (0..1600).fold(x0, |x, _| rk.step(&model, &x, &u))
    };
    let error = |dt: f64| {
        let m = ImplicitMidpoint::new(dt);
        let n = (duration / dt).round() as usize;
        let x = (0..n).fold(x0, |x, _| m.step(&model, &x, &u));
        assert_eq!(m.stats().failures, 0, "dt {dt}");
        (x - reference).abs()
    };
    let (e5, e2, e1) = (
        error(0.005).amax(),
        error(0.0025).amax(),
        error(0.00125).amax(),
    );
    // Measured: 0.45, 0.083, 0.019.
    assert!(e5 / e2 > 3.0 && e5 / e2 < 6.0, "{e5} / {e2}");
    assert!(e2 / e1 > 3.5 && e2 / e1 < 4.5, "{e2} / {e1}");
    let e20 = error(0.02);
    assert!(e20[0] < 0.01 && e20[1] < 0.01, "{e20:?}");
    let rk = Rk4::new(0.02, 1);
    let explicit = (0..20).fold(x0, |x, _| rk.step(&model, &x, &u));
    let blown = explicit.iter().any(|v| !v.is_finite()) || (explicit - reference).amax() > 1e3;
    assert!(
        blown,
        "one RK4 step of 20 ms should not be stable: {explicit:?}"
    );
}

#[test]
fn newton_failure_is_counted_and_non_finite() {
    let model = SoftCartPole::default();
    let x = states()[3];
    let u = SVector::<f64, NU>::new(30.0);
    let mut m = ImplicitMidpoint::new(0.02);
    m.max_iterations = 1;
    assert_eq!(m.solve(&model, &x, &u), Err(NewtonFailure::NotConverged));
    let lin = m.linearize(&model, &x, &u);
    assert!(lin.x_next.iter().chain(lin.a.iter()).all(|v| v.is_nan()));
    assert!(m.step(&model, &x, &u).iter().all(|v| v.is_nan()));
    let stats = m.stats();
    assert_eq!((stats.steps, stats.failures), (3, 3), "{stats:?}");

    let ok = ImplicitMidpoint::new(0.02);
    ok.solve(&model, &x, &u)
        .expect("converges with the default bound");
    let stats = ok.stats();
    assert_eq!((stats.steps, stats.failures), (1, 0), "{stats:?}");
    assert!(stats.iterations >= 2 && stats.iterations <= 30, "{stats:?}");
}
