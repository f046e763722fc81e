//! The QP seam: the controller's one solver, OSQP (`qp.rs`) or the dense
//! ADMM (`dense_qp.rs`), chosen at setup by `[controller.qp] solver`.
//! Both take the same compressed-column data and report the same way.
//! With `solver = "riccati"` OSQP is set up here as the fallback of the
//! controller's stage-wise solve (`controller/stagewise.rs`).

use crate::dense_qp::DenseSolver;
use crate::qp::{Csc, QpError, Solve, Solver};
use crate::{OsqpConfig, QpSolver};

// One per controller, built once: boxing the larger variant would add an
// indirection on the hot path for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(crate) enum Backend {
    Osqp(Solver),
    Dense(DenseSolver),
}

macro_rules! dispatch {
    ($self:ident, $s:ident => $call:expr) => {
        match $self {
            Backend::Osqp($s) => $call,
            Backend::Dense($s) => $call,
        }
    };
}

impl Backend {
    /// Sets the chosen solver up (allocates). The dense one has no Ruiz
    /// scaling: `MpcConfig::to_spec` rejects it with scaling asked for.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        solver: QpSolver,
        p: &Csc,
        q: &[f64],
        a: &Csc,
        l: &[f64],
        u: &[f64],
        config: &OsqpConfig,
        scaling_iterations: u32,
        polish: bool,
        active_set: bool,
    ) -> Result<Self, String> {
        match solver {
            // The Riccati solver's fallback is OSQP (on blocks).
            QpSolver::Osqp | QpSolver::Riccati => {
                Solver::new(p, q, a, l, u, config, scaling_iterations).map(Self::Osqp)
            }
            QpSolver::Dense => {
                DenseSolver::new(p, q, a, l, u, config, polish, active_set).map(Self::Dense)
            }
        }
    }

    pub fn update_p_a(&mut self, p: &[f64], a: &[f64]) -> Result<(), QpError> {
        dispatch!(self, s => s.update_p_a(p, a))
    }

    pub fn update_lin_cost(&mut self, q: &[f64]) -> Result<(), QpError> {
        dispatch!(self, s => s.update_lin_cost(q))
    }

    pub fn update_bounds(&mut self, l: &[f64], u: &[f64]) -> Result<(), QpError> {
        dispatch!(self, s => s.update_bounds(l, u))
    }

    pub fn warm_start_x(&mut self, x: &[f64]) -> Result<(), QpError> {
        dispatch!(self, s => s.warm_start_x(x))
    }

    pub fn warm_start(&mut self, x: &[f64], y: &[f64]) -> Result<(), QpError> {
        dispatch!(self, s => s.warm_start(x, y))
    }

    /// Back to the configured rho, after a solve that failed.
    pub fn reset_rho(&mut self) -> Result<(), QpError> {
        dispatch!(self, s => s.reset_rho())
    }

    pub fn duals(&self) -> &[f64] {
        dispatch!(self, s => s.duals())
    }

    pub fn is_broken(&self) -> bool {
        dispatch!(self, s => s.is_broken())
    }

    pub fn solve(&mut self) -> Solve<'_> {
        dispatch!(self, s => s.solve())
    }
}
