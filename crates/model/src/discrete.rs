use nalgebra::{SMatrix, SVector};

use crate::{Dynamics, Linearization, Rk4};

/// A discrete-time model `x+ = F(x, u)` with its Jacobians: what an MPC
/// shoots with. Continuous models become one through [`Discretized`]; a
/// linear model ([`LinearModel`]) is one directly.
pub trait DiscreteModel<const NX: usize, const NU: usize> {
    /// The state one interval later.
    fn step(&self, x: &SVector<f64, NX>, u: &SVector<f64, NU>) -> SVector<f64, NX>;

    /// The step and its exact Jacobians.
    fn linearize(&self, x: &SVector<f64, NX>, u: &SVector<f64, NU>) -> Linearization<NX, NU>;

    /// True when the Jacobians are the same everywhere, so a controller may
    /// linearise once and reuse the result.
    fn is_linear_time_invariant(&self) -> bool {
        false
    }
}

/// A continuous model integrated by RK4 over each interval.
#[derive(Debug, Clone, PartialEq)]
pub struct Discretized<D> {
    pub dynamics: D,
    pub integrator: Rk4,
}

impl<D> Discretized<D> {
    pub fn new(dynamics: D, integrator: Rk4) -> Self {
        Self {
            dynamics,
            integrator,
        }
    }
}

impl<D, const NX: usize, const NU: usize> DiscreteModel<NX, NU> for Discretized<D>
where
    D: Dynamics<NX, NU>,
{
    fn step(&self, x: &SVector<f64, NX>, u: &SVector<f64, NU>) -> SVector<f64, NX> {
        self.integrator.step(&self.dynamics, x, u)
    }

    fn linearize(&self, x: &SVector<f64, NX>, u: &SVector<f64, NU>) -> Linearization<NX, NU> {
        self.integrator.linearize(&self.dynamics, x, u)
    }

    fn is_linear_time_invariant(&self) -> bool {
        self.dynamics.is_linear()
    }
}

/// `x+ = A x + B u + c`: linear MPC problems such as P3.
#[derive(Debug, Clone, PartialEq)]
pub struct LinearModel<const NX: usize, const NU: usize> {
    pub a: SMatrix<f64, NX, NX>,
    pub b: SMatrix<f64, NX, NU>,
    pub c: SVector<f64, NX>,
}

impl<const NX: usize, const NU: usize> DiscreteModel<NX, NU> for LinearModel<NX, NU> {
    fn step(&self, x: &SVector<f64, NX>, u: &SVector<f64, NU>) -> SVector<f64, NX> {
        self.a * x + self.b * u + self.c
    }

    fn linearize(&self, x: &SVector<f64, NX>, u: &SVector<f64, NU>) -> Linearization<NX, NU> {
        Linearization {
            x_next: self.step(x, u),
            a: self.a,
            b: self.b,
        }
    }

    fn is_linear_time_invariant(&self) -> bool {
        true
    }
}
