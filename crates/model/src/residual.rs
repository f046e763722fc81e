use nalgebra::SVector;

use crate::{Dynamics, Scalar};

/// What physics alone gets wrong: an additive correction to the state
/// derivative, `x' = f(x, u) + g(x, u)`.
///
/// Generic over the scalar like [`Dynamics`], so the SQP linearisation sees
/// the exact derivative of the sum. A learned model implements this in the
/// `learn` crate; [`ZeroResidual`] is the null model.
pub trait Residual<const NX: usize, const NU: usize> {
    /// Adds `g(x, u)` to `xdot`.
    fn add_to<T: Scalar>(&self, x: &SVector<T, NX>, u: &SVector<T, NU>, xdot: &mut SVector<T, NX>);
}

/// The residual that is always zero: a model with it is the nominal model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ZeroResidual;

impl<const NX: usize, const NU: usize> Residual<NX, NU> for ZeroResidual {
    #[inline(always)]
    fn add_to<T: Scalar>(
        &self,
        _x: &SVector<T, NX>,
        _u: &SVector<T, NU>,
        _xdot: &mut SVector<T, NX>,
    ) {
    }
}

/// A nominal model plus a residual, itself a model.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WithResidual<D, R> {
    pub nominal: D,
    pub residual: R,
}

impl<D, R, const NX: usize, const NU: usize> Dynamics<NX, NU> for WithResidual<D, R>
where
    D: Dynamics<NX, NU>,
    R: Residual<NX, NU>,
{
    fn derivative<T: Scalar>(&self, x: &SVector<T, NX>, u: &SVector<T, NU>) -> SVector<T, NX> {
        let mut xdot = self.nominal.derivative(x, u);
        self.residual.add_to(x, u, &mut xdot);
        xdot
    }

    fn project<T: Scalar>(&self, x: &mut SVector<T, NX>) {
        self.nominal.project(x);
    }
}
