//! The input reference a controller computes from its own model: the
//! input under which the model's state derivative is the reference's.

use nalgebra::{Cholesky, SMatrix, SVector};
use num_dual::DualSVec64;
use recede_model::Dynamics;

/// Gauss-Newton iterations at most; an input-affine model (every built-in
/// robot) is solved by the first.
const MAX_ITERATIONS: usize = 4;

/// Writes into `u` the input under which `model`'s derivative at `x` is
/// closest to `x_rate` (least squares over the states; exact where the
/// input can produce `x_rate`), by Gauss-Newton from zero with the exact
/// input Jacobian. False, `u` untouched, when the Jacobian has no full
/// column rank there or the answer is not finite. Allocates nothing.
pub fn inverse_dynamics<D, const NX: usize, const NU: usize>(
    model: &D,
    x: &SVector<f64, NX>,
    x_rate: &SVector<f64, NX>,
    u: &mut SVector<f64, NU>,
) -> bool
where
    D: Dynamics<NX, NU>,
{
    let lifted_x: SVector<DualSVec64<NU>, NX> = x.map(DualSVec64::from_re);
    let mut guess = SVector::<f64, NU>::zeros();
    for _ in 0..MAX_ITERATIONS {
        let seeded: SVector<DualSVec64<NU>, NU> =
            SVector::from_fn(|i, _| DualSVec64::from_re(guess[i]).derivative(i));
        let derivative = model.derivative(&lifted_x, &seeded);
        let mut jacobian = SMatrix::<f64, NX, NU>::zeros();
        for i in 0..NX {
            if let Some(row) = derivative[i].eps.0 {
                jacobian.set_row(i, &row.transpose());
            }
        }
        let missing = SVector::<f64, NX>::from_fn(|i, _| x_rate[i] - derivative[i].re);
        let Some(step) = Cholesky::new(jacobian.transpose() * jacobian)
            .map(|c| c.solve(&(jacobian.transpose() * missing)))
        else {
            return false;
        };
        guess += step;
        if step.amax() <= 1e-12 * (1.0 + guess.amax()) {
            break;
        }
    }
    if guess.iter().any(|v| !v.is_finite()) {
        return false;
    }
    *u = guess;
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use recede_model::robots::{Arm, CartPole, Quadrotor};

    /// The computed input reproduces the asked derivative on the input's
    /// rows, for the arm (any acceleration) and the cart-pole (one input:
    /// the least-squares fit of two accelerations).
    #[test]
    fn the_model_under_the_input_has_the_asked_rate() {
        let arm = Arm::default();
        let x = SVector::<f64, 4>::new(-0.7, 0.4, 0.3, -1.1);
        let rate = SVector::<f64, 4>::new(0.3, -1.1, 2.5, -4.0);
        let mut u = SVector::<f64, 2>::zeros();
        assert!(inverse_dynamics(&arm, &x, &rate, &mut u));
        let d = arm.derivative(&x, &u);
        assert!((d - rate).amax() < 1e-9, "{d} vs {rate}");
        // Holding still: the gravity torque.
        let at_rest = SVector::<f64, 4>::new(-0.7, 0.4, 0.0, 0.0);
        assert!(inverse_dynamics(&arm, &at_rest, &SVector::zeros(), &mut u));
        assert!(arm.derivative(&at_rest, &u).amax() < 1e-9);
        assert!(u.amax() > 1.0, "gravity needs torque: {u}");

        let cart = CartPole::default();
        let x = SVector::<f64, 4>::new(0.0, 0.3, 0.0, 0.0);
        let rate = SVector::<f64, 4>::new(0.0, 0.0, 1.0, 0.0);
        let mut f = SVector::<f64, 1>::zeros();
        assert!(inverse_dynamics(&cart, &x, &rate, &mut f));
        // The least-squares optimum: the residual is orthogonal to the
        // input's column.
        let b = (cart.derivative(&x, &SVector::from([1.0]))
            - cart.derivative(&x, &SVector::zeros()))
        .normalize();
        let missed = rate - cart.derivative(&x, &f);
        assert!(b.dot(&missed).abs() < 1e-9, "{missed}");
    }

    /// The quadrotor level at rest: the hover thrust on every rotor.
    #[test]
    fn hovering_takes_the_hover_thrust() {
        let q = Quadrotor::default();
        let mut x = SVector::<f64, 13>::zeros();
        x[3] = 1.0;
        let mut u = SVector::<f64, 4>::zeros();
        assert!(inverse_dynamics(&q, &x, &SVector::zeros(), &mut u));
        for j in 0..4 {
            assert!((u[j] - q.hover_thrust_n()).abs() < 1e-9, "{u}");
        }
    }
}
