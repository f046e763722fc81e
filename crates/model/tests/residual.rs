//! A residual held over each integration step is the model it says it is:
//! RK4 of `f + g(x_k, u_k)`, differentiated exactly, close to (and not the
//! same as) RK4 of `f + g` evaluated at every stage.

use nalgebra::SVector;
use recede_model::robots::CartPole;
use recede_model::{c, Dynamics, Residual, ResidualEvaluation, Rk4, Scalar, WithResidual};

/// A smooth residual touching every state and the input.
struct Smooth;

impl Residual<4, 1> for Smooth {
    fn add_to<T: Scalar>(&self, x: &SVector<T, 4>, u: &SVector<T, 1>, xdot: &mut SVector<T, 4>) {
        xdot[2] += x[1].sin() * x[2] * c::<T>(0.3) + u[0] * c::<T>(0.05);
        xdot[3] += -(x[3] * x[3].abs()) * c::<T>(0.2) + x[0] * c::<T>(0.1);
    }
}

fn state() -> (SVector<f64, 4>, SVector<f64, 1>) {
    (
        SVector::<f64, 4>::new(0.2, 0.9, -1.3, 2.1),
        SVector::<f64, 1>::new(3.0),
    )
}

/// RK4 written out with `g` frozen at the start of each substep.
fn held_by_hand(rk4: &Rk4, x: &SVector<f64, 4>, u: &SVector<f64, 1>) -> SVector<f64, 4> {
    let nominal = CartPole::default();
    let h = rk4.dt_secs / rk4.substeps as f64;
    let mut x = *x;
    for _ in 0..rk4.substeps {
        let mut g = SVector::<f64, 4>::zeros();
        Smooth.add_to(&x, u, &mut g);
        let f = |x: &SVector<f64, 4>| nominal.derivative(x, u) + g;
        let k1 = f(&x);
        let k2 = f(&(x + k1 * (0.5 * h)));
        let k3 = f(&(x + k2 * (0.5 * h)));
        let k4 = f(&(x + k3 * h));
        x += (k1 + (k2 + k3) * 2.0 + k4) * (h / 6.0);
    }
    x
}

#[test]
fn a_held_residual_is_rk4_of_the_frozen_sum() {
    let (x, u) = state();
    let model = WithResidual::new(CartPole::default(), Smooth)
        .with_evaluation(ResidualEvaluation::OncePerStep);
    for substeps in [1, 3] {
        let rk4 = Rk4::new(0.05, substeps);
        let by_hand = held_by_hand(&rk4, &x, &u);
        let step = rk4.step(&model, &x, &u);
        assert!((step - by_hand).amax() < 1e-14, "{step} vs {by_hand}");
        assert_eq!(rk4.linearize(&model, &x, &u).x_next, step);
    }
}

#[test]
fn holding_is_a_small_change_that_shrinks_with_the_step() {
    let (x, u) = state();
    let every = WithResidual::new(CartPole::default(), Smooth)
        .with_evaluation(ResidualEvaluation::EveryStage);
    let held = WithResidual::new(CartPole::default(), Smooth)
        .with_evaluation(ResidualEvaluation::OncePerStep);
    let gap = |dt: f64| {
        let rk4 = Rk4::new(dt, 1);
        (rk4.step(&every, &x, &u) - rk4.step(&held, &x, &u)).amax()
    };
    let (coarse, fine) = (gap(0.04), gap(0.02));
    assert!(coarse > 1e-6, "holding changed nothing: {coarse}");
    // Local error O(h^2): halving the step divides the gap by about 4.
    assert!(fine < coarse / 3.0, "{coarse} -> {fine}");
}

#[test]
fn held_jacobians_match_finite_differences() {
    let (x, u) = state();
    let model = WithResidual::new(CartPole::default(), Smooth)
        .with_evaluation(ResidualEvaluation::OncePerStep);
    let rk4 = Rk4::new(0.05, 2);
    let lin = rk4.linearize(&model, &x, &u);
    let h = 1e-6;
    for j in 0..4 {
        let (mut xp, mut xm) = (x, x);
        xp[j] += h;
        xm[j] -= h;
        let column = (rk4.step(&model, &xp, &u) - rk4.step(&model, &xm, &u)) / (2.0 * h);
        assert!((lin.a.column(j) - column).amax() < 1e-7, "A column {j}");
    }
    let (up, um) = (u.add_scalar(h), u.add_scalar(-h));
    let column = (rk4.step(&model, &x, &up) - rk4.step(&model, &x, &um)) / (2.0 * h);
    assert!((lin.b.column(0) - column).amax() < 1e-7, "B");
    // The held term's Jacobians seed the joint pass as they seed the two.
    let two = rk4.linearize_in_two_passes(&model, &x, &u);
    assert!(lin.a == two.a && lin.b == two.b && lin.x_next == two.x_next);
}
