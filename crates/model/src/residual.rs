use nalgebra::{SMatrix, SVector};
use serde::{Deserialize, Serialize};

use num_dual::DualSVec64;

use crate::discretize::{derivatives, seeded};
use crate::{c, Dynamics, Scalar, Tangent};

/// What physics alone gets wrong: an additive correction to the state
/// derivative, `x' = f(x, u) + g(x, u)`.
///
/// Generic over the scalar like [`Dynamics`], so the SQP linearisation sees
/// the exact derivative of the sum. A learned model implements this in the
/// `learn` crate; [`ZeroResidual`] is the null model.
pub trait Residual<const NX: usize, const NU: usize> {
    /// Adds `g(x, u)` to `xdot`.
    fn add_to<T: Scalar>(&self, x: &SVector<T, NX>, u: &SVector<T, NU>, xdot: &mut SVector<T, NX>);

    /// True when `g` is zero everywhere by construction, so a model with it
    /// can skip it and compute exactly what the nominal model computes.
    fn is_zero(&self) -> bool {
        false
    }

    /// `g(x, u)` at a real point with its Jacobians. The default
    /// differentiates [`Self::add_to`] with duals, one pass on `x` and one
    /// on `u`; a residual with a cheaper way overrides it.
    fn tangent(&self, x: &SVector<f64, NX>, u: &SVector<f64, NU>) -> Tangent<NX, NU> {
        let mut gx = SVector::<DualSVec64<NX>, NX>::from_element(DualSVec64::from_re(0.0));
        self.add_to(&seeded(x), &u.map(DualSVec64::from_re), &mut gx);
        let mut gu = SVector::<DualSVec64<NU>, NX>::from_element(DualSVec64::from_re(0.0));
        self.add_to(&x.map(DualSVec64::from_re), &seeded(u), &mut gu);
        Tangent {
            value: gx.map(|g| g.re),
            d_x: derivatives(&gx),
            d_u: derivatives(&gu),
        }
    }

    /// [`Self::tangent`] written into `out` (every entry), for a caller
    /// that keeps one buffer: the tangent is 1.9 kB for 13 states and 4
    /// inputs, and returning it through `Option`s cost copies on P2's
    /// linearisation. The default copies [`Self::tangent`].
    fn tangent_into(&self, x: &SVector<f64, NX>, u: &SVector<f64, NU>, out: &mut Tangent<NX, NU>) {
        *out = self.tangent(x, u);
    }
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

    fn is_zero(&self) -> bool {
        true
    }
}

/// Where the integrator evaluates the residual.
///
/// `EveryStage` integrates `f + g` as written: RK4 evaluates `g` at its
/// four stages, and a linearisation differentiates all of them.
/// `OncePerStep` evaluates `g` at the start of each integration step and
/// holds it over the step: `x' = f(x, u) + g(x_k, u_k)`. That is a different
/// (coarser) model, still differentiated exactly, at a quarter of the
/// residual evaluations; on P2 it tracks as well (docs/performance.md, "The
/// residual inside the integrator").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResidualEvaluation {
    EveryStage,
    #[default]
    OncePerStep,
}

/// A nominal model plus a residual, itself a model.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WithResidual<D, R> {
    pub nominal: D,
    pub residual: R,
    pub evaluation: ResidualEvaluation,
}

impl<D, R> WithResidual<D, R> {
    /// The sum with the default evaluation ([`ResidualEvaluation::OncePerStep`]).
    pub fn new(nominal: D, residual: R) -> Self {
        Self {
            nominal,
            residual,
            evaluation: ResidualEvaluation::default(),
        }
    }

    pub fn with_evaluation(mut self, evaluation: ResidualEvaluation) -> Self {
        self.evaluation = evaluation;
        self
    }
}

impl<D, R> WithResidual<D, R> {
    /// True when the integrator holds the residual over its steps.
    fn holds<const NX: usize, const NU: usize>(&self) -> bool
    where
        R: Residual<NX, NU>,
    {
        self.evaluation == ResidualEvaluation::OncePerStep && !self.residual.is_zero()
    }
}

impl<D, R, const NX: usize, const NU: usize> Dynamics<NX, NU> for WithResidual<D, R>
where
    D: Dynamics<NX, NU>,
    R: Residual<NX, NU>,
{
    fn derivative<T: Scalar>(&self, x: &SVector<T, NX>, u: &SVector<T, NU>) -> SVector<T, NX> {
        let mut xdot = self.nominal.derivative(x, u);
        if self.evaluation == ResidualEvaluation::EveryStage {
            self.residual.add_to(x, u, &mut xdot);
        }
        xdot
    }

    fn held<T: Scalar>(&self, x: &SVector<T, NX>, u: &SVector<T, NU>) -> Option<SVector<T, NX>> {
        if !self.holds() {
            return None;
        }
        let mut g = SVector::from_element(c(0.0));
        self.residual.add_to(x, u, &mut g);
        Some(g)
    }

    fn held_tangent(&self, x: &SVector<f64, NX>, u: &SVector<f64, NU>) -> Option<Tangent<NX, NU>> {
        self.holds().then(|| self.residual.tangent(x, u))
    }

    #[inline]
    fn held_tangent_into(
        &self,
        x: &SVector<f64, NX>,
        u: &SVector<f64, NU>,
        out: &mut Option<Tangent<NX, NU>>,
    ) -> bool {
        if !self.holds() {
            return false;
        }
        self.residual
            .tangent_into(x, u, out.get_or_insert_with(Tangent::zeros));
        true
    }

    fn project<T: Scalar>(&self, x: &mut SVector<T, NX>) {
        self.nominal.project(x);
    }

    fn project_tangent(&self, x: &SVector<f64, NX>) -> Option<SMatrix<f64, NX, NX>> {
        self.nominal.project_tangent(x)
    }

    /// The nominal model's, plus the residual's when it is evaluated at
    /// every stage. Inlined: the tangent is 1.9 kB, and a call returning
    /// it through `Option` copies it (measured: P2's residual step +10 us).
    #[inline(always)]
    fn derivative_tangent(
        &self,
        x: &SVector<f64, NX>,
        u: &SVector<f64, NU>,
    ) -> Option<Tangent<NX, NU>> {
        let mut t = self.nominal.derivative_tangent(x, u)?;
        if self.evaluation == ResidualEvaluation::EveryStage && !self.residual.is_zero() {
            let mut value = t.value;
            self.residual.add_to(x, u, &mut value);
            let g = self.residual.tangent(x, u);
            t.value = value;
            t.d_x += g.d_x;
            t.d_u += g.d_u;
        }
        Some(t)
    }

    /// The nominal model's: a residual is a correction of a continuous
    /// derivative, and a controller refuses one on a discrete-time robot.
    fn discrete_period_secs(&self) -> Option<f64> {
        self.nominal.discrete_period_secs()
    }

    fn is_linear(&self) -> bool {
        self.nominal.is_linear() && self.residual.is_zero()
    }
}
