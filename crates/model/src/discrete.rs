use nalgebra::{SMatrix, SVector};
use serde::{Deserialize, Serialize};

use crate::{Dynamics, ImplicitMidpoint, Linearization, NewtonStats, Rk4};

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

/// Which scheme a scenario discretises its model with (`[controller]
/// integrator`): explicit RK4 in `rk4_substeps` substeps (the default), or
/// the A-stable implicit midpoint rule in one step per interval.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntegratorKind {
    #[default]
    Rk4,
    ImplicitMidpoint,
}

impl IntegratorKind {
    pub fn is_rk4(&self) -> bool {
        *self == Self::Rk4
    }
}

/// A discretisation of a continuous model over one interval.
#[derive(Debug, Clone, PartialEq)]
pub enum Integrator {
    Rk4(Rk4),
    ImplicitMidpoint(ImplicitMidpoint),
}

impl Integrator {
    /// The scheme `kind` over `dt_secs` (`substeps` only for RK4).
    pub fn new(kind: IntegratorKind, dt_secs: f64, substeps: usize) -> Self {
        match kind {
            IntegratorKind::Rk4 => Self::Rk4(Rk4::new(dt_secs, substeps)),
            IntegratorKind::ImplicitMidpoint => {
                Self::ImplicitMidpoint(ImplicitMidpoint::new(dt_secs))
            }
        }
    }

    /// Newton's counts for the implicit midpoint rule; `None` for RK4.
    pub fn newton_stats(&self) -> Option<NewtonStats> {
        match self {
            Self::Rk4(_) => None,
            Self::ImplicitMidpoint(m) => Some(m.stats()),
        }
    }
}

impl From<Rk4> for Integrator {
    fn from(rk4: Rk4) -> Self {
        Self::Rk4(rk4)
    }
}

impl From<ImplicitMidpoint> for Integrator {
    fn from(m: ImplicitMidpoint) -> Self {
        Self::ImplicitMidpoint(m)
    }
}

/// A continuous model integrated over each interval by RK4 or the implicit
/// midpoint rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Discretized<D> {
    pub dynamics: D,
    pub integrator: Integrator,
}

impl<D> Discretized<D> {
    pub fn new(dynamics: D, integrator: impl Into<Integrator>) -> Self {
        Self {
            dynamics,
            integrator: integrator.into(),
        }
    }
}

impl<D, const NX: usize, const NU: usize> DiscreteModel<NX, NU> for Discretized<D>
where
    D: Dynamics<NX, NU>,
{
    fn step(&self, x: &SVector<f64, NX>, u: &SVector<f64, NU>) -> SVector<f64, NX> {
        match &self.integrator {
            Integrator::Rk4(rk4) => rk4.step(&self.dynamics, x, u),
            Integrator::ImplicitMidpoint(m) => m.step(&self.dynamics, x, u),
        }
    }

    fn linearize(&self, x: &SVector<f64, NX>, u: &SVector<f64, NU>) -> Linearization<NX, NU> {
        match &self.integrator {
            Integrator::Rk4(rk4) => rk4.linearize(&self.dynamics, x, u),
            Integrator::ImplicitMidpoint(m) => m.linearize(&self.dynamics, x, u),
        }
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
