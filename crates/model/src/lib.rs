//! Robot dynamics for recede.
//!
//! A model is written once, as a continuous-time derivative generic over the
//! scalar ([`Dynamics`]). The same code then runs on `f64` for simulation and
//! on forward-mode dual numbers ([`num_dual`]) for exact Jacobians of the
//! discretised step ([`Rk4::linearize`]), so no hand-derived Jacobian can
//! drift away from the model it differentiates.
//!
//! Conventions: SI units, z up, g = [`GRAVITY`], quaternions `[w, x, y, z]`
//! body-to-world.

mod bounds;
mod discrete;
mod discretize;
mod error;
pub mod file;
mod implicit;
mod residual;
pub mod robots;
pub mod urdf;

pub use bounds::Bounds;
pub use discrete::{DiscreteModel, Discretized, Integrator, IntegratorKind, LinearModel};
pub use discretize::{Linearization, Rk4, Tangent};
pub use error::ModelError;
pub use implicit::{ImplicitMidpoint, NewtonFailure, NewtonStats};
pub use residual::{Residual, ResidualEvaluation, WithResidual, ZeroResidual};

use nalgebra::{SMatrix, SVector};
use num_dual::DualNum;

/// Standard gravity, m/s^2, as fixed by the reference problems.
pub const GRAVITY: f64 = 9.81;

/// A scalar a model can be evaluated on: `f64`, or a dual number carrying
/// derivatives alongside the value.
pub trait Scalar: DualNum<Primitive = f64> + Copy + nalgebra::Scalar {}
impl<T: DualNum<Primitive = f64> + Copy + nalgebra::Scalar> Scalar for T {}

/// Continuous-time dynamics `x' = f(x, u)` with `NX` states and `NU` inputs.
///
/// Implementations must only use operations available on [`Scalar`] so that
/// derivatives are exact; branching on values is fine (it picks a smooth
/// piece), reading `.re()` to compute part of the result is not.
///
/// Divide by a scalar-typed value as `a * b.recip()`, not `a / b`: dual
/// division computes its value that way, so the `f64` step and the value
/// part of [`Rk4::linearize`] then agree bit for bit.
pub trait Dynamics<const NX: usize, const NU: usize> {
    /// The state derivative at `(x, u)`.
    fn derivative<T: Scalar>(&self, x: &SVector<T, NX>, u: &SVector<T, NU>) -> SVector<T, NX>;

    /// Brings a state back onto its manifold after an integration step (for
    /// example renormalises a quaternion). The identity by default.
    fn project<T: Scalar>(&self, _x: &mut SVector<T, NX>) {}

    /// A term of the derivative that the integrator evaluates once per
    /// step, at the step's start, and holds over the step's stages (a
    /// zero-order hold). [`Self::derivative`] must then leave it out. None by
    /// default; a model with a costly learned residual may hold it
    /// ([`ResidualEvaluation::OncePerStep`]).
    fn held<T: Scalar>(&self, _x: &SVector<T, NX>, _u: &SVector<T, NU>) -> Option<SVector<T, NX>> {
        None
    }

    /// [`Self::held`] at a real point with its Jacobians, so that
    /// [`Rk4::linearize`] evaluates it once for both of its passes. `None`
    /// (the default) makes the passes evaluate [`Self::held`] on duals.
    fn held_tangent(
        &self,
        _x: &SVector<f64, NX>,
        _u: &SVector<f64, NU>,
    ) -> Option<Tangent<NX, NU>> {
        None
    }

    /// [`Self::held_tangent`] written into `out` (made on first use, so a
    /// model holding nothing never makes it), true when the model holds a
    /// term and gives its tangent: what [`Rk4::linearize`] calls, into one
    /// buffer it keeps (the tangent is 1.9 kB for 13 states and 4 inputs;
    /// returned through `Option`s it was copied several times). The
    /// default copies [`Self::held_tangent`]; a model overriding one
    /// overrides both.
    fn held_tangent_into(
        &self,
        x: &SVector<f64, NX>,
        u: &SVector<f64, NU>,
        out: &mut Option<Tangent<NX, NU>>,
    ) -> bool {
        match self.held_tangent(x, u) {
            Some(t) => {
                *out = Some(t);
                true
            }
            None => false,
        }
    }

    /// [`Self::derivative`] at a real point with its exact Jacobians, for
    /// a model with a cheaper way than duals through the whole derivative
    /// (a URDF chain: RNEA alone on duals). [`Rk4::linearize`] then
    /// carries them through its stages by the chain rule. The value must
    /// be [`Self::derivative`]'s on `f64`, bit for bit; a model that
    /// projects ([`Self::project`]) must give its projection's Jacobian
    /// too ([`Self::project_tangent`]). `None` (the default): the
    /// integrator differentiates on duals.
    fn derivative_tangent(
        &self,
        _x: &SVector<f64, NX>,
        _u: &SVector<f64, NU>,
    ) -> Option<Tangent<NX, NU>> {
        None
    }

    /// The Jacobian of [`Self::project`] at `x` (before projecting), which
    /// [`Rk4::linearize`] applies after each substep of a model that gives
    /// [`Self::derivative_tangent`]. `None` (the default): the identity, a
    /// model that does not project.
    fn project_tangent(&self, _x: &SVector<f64, NX>) -> Option<SMatrix<f64, NX, NX>> {
        None
    }

    /// `Some(period)` for a discrete-time model (OSQP's quadcopter, P3):
    /// [`Self::derivative`] is then the state one period later, `x+ =
    /// F(x, u)`, which integrators apply once per period instead of
    /// RK4. `None` (the default): continuous time.
    fn discrete_period_secs(&self) -> Option<f64> {
        None
    }

    /// True when [`Self::derivative`] is affine in `(x, u)` with the same
    /// Jacobians everywhere, so its discretisation is linear
    /// time-invariant and a controller may linearise it once.
    fn is_linear(&self) -> bool {
        false
    }
}

/// Lifts a plain value into any scalar type (a constant, zero derivative).
#[inline(always)]
pub fn c<T: Scalar>(value: f64) -> T {
    T::from(value)
}
