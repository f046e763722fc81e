//! A zero residual is exactly the nominal model: same step, same Jacobians,
//! bit for bit, on both robots' layouts.

mod common;

use nalgebra::SVector;
use recede_learn::{Activation, MlpResidual, SupportGuard};
use recede_model::robots::CartPole;
use recede_model::{Dynamics, Residual, ResidualEvaluation, Rk4, WithResidual, ZeroResidual};

use common::{cartpole_spec, quadrotor_spec, unit_quaternion};

#[test]
fn zero_mlp_gives_the_nominal_step_and_jacobians_exactly() {
    let rk4 = Rk4::new(0.02, 1);
    let guards = [SupportGuard::Clip, SupportGuard::Fade { width_std: 1.0 }];
    let evaluations = [
        ResidualEvaluation::EveryStage,
        ResidualEvaluation::OncePerStep,
    ];
    for (guard, evaluation) in guards.into_iter().flat_map(|g| evaluations.map(|e| (g, e))) {
        let zero = MlpResidual::<4, 1>::zero(cartpole_spec(Activation::Tanh, guard)).unwrap();
        let with = WithResidual::new(CartPole::default(), zero).with_evaluation(evaluation);
        let null = WithResidual::new(CartPole::default(), ZeroResidual).with_evaluation(evaluation);
        for (k, theta) in [-3.0, -0.4, 0.0, 0.7, 3.1].into_iter().enumerate() {
            let x = SVector::<f64, 4>::new(0.1 * k as f64, theta, -0.5 + 0.3 * k as f64, 1.5);
            let u = SVector::<f64, 1>::new(-20.0 + 10.0 * k as f64);
            let nominal = rk4.linearize(&CartPole::default(), &x, &u);
            let mlp = rk4.linearize(&with, &x, &u);
            assert_eq!(mlp, nominal);
            assert_eq!(rk4.linearize(&null, &x, &u), nominal);
            assert_eq!(
                with.derivative(&x, &u),
                CartPole::default().derivative(&x, &u)
            );
        }
        assert!(with.residual.guard_stats().evaluations > 0);
        assert_eq!(with.residual.guard_stats().outside_support, 0);
    }
}

#[test]
fn zero_mlp_adds_nothing_on_the_quadrotor_layout() {
    let zero = MlpResidual::<13, 4>::zero(quadrotor_spec(Activation::Softplus, SupportGuard::Clip))
        .unwrap();
    let q = unit_quaternion([0.2, 0.4, 0.9]);
    let x = SVector::<f64, 13>::from_column_slice(&[
        0.0, 1.0, 2.0, q[0], q[1], q[2], q[3], 5.0, -4.0, 1.0, 0.1, 0.2, 0.3,
    ]);
    let u = SVector::<f64, 4>::new(1.0, 2.0, 3.0, 4.0);
    let before = SVector::<f64, 13>::from_fn(|i, _| i as f64 * 0.37 - 2.0);
    let mut xdot = before;
    zero.add_to(&x, &u, &mut xdot);
    assert_eq!(xdot, before);
}
