//! `[controller.qp]`: how the OCP becomes a QP (the condensing), chosen by
//! problem size unless the scenario says.
//!
//! Full condensing (the QP in the input corrections alone) has the fewest
//! ADMM iterations and wins while its dense Hessian is small; its cost
//! grows as N². Partial condensing into blocks of `block` stages
//! (`blocks.rs`) keeps a block-banded KKT system that OSQP factorises in
//! time linear in N; `none` is blocks of one stage, the sparse
//! multiple-shooting QP. docs/performance.md, "Linear in the horizon", has
//! the measurements behind [`QpConfig::stages_per_block`].

use serde::{Deserialize, Serialize};

use crate::MpcError;

/// Which QP the OCP is condensed into.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Condensing {
    /// Full condensing while `N * NU` is at most [`full_max_inputs`],
    /// partial beyond.
    #[default]
    Auto,
    Full,
    Partial,
    /// No condensing: every node's state is a variable.
    None,
}

/// Up to this many input variables (`N * NU`) `auto` condenses fully, for
/// a model with `nx` states: the crossovers measured back to back lie
/// between 40 and 80 inputs for P1 (NX = 4) and between 80 and 160 for P2
/// (NX = 13), and blocks carry `NX` state variables each, so the bound
/// grows with NX. Every scenario in configs/ stays fully condensed.
pub fn full_max_inputs(nx: usize) -> usize {
    8 * nx + 32
}

/// Input variables per block when `partial` is chosen without a `block`.
pub const PARTIAL_INPUTS_PER_BLOCK: usize = 16;

/// Which solver runs ADMM on the QP (`dense_qp.rs`, docs/performance.md
/// "A dense backend for small condensed QPs").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QpSolver {
    /// OSQP 0.6 through its C interface: sparse KKT system, QDLDL.
    #[default]
    Osqp,
    /// OSQP's algorithm on the reduced system, factorised by a dense
    /// Cholesky: for small fully condensed QPs. No Ruiz scaling.
    Dense,
    /// The uncondensed QP solved exactly by a primal-dual active-set
    /// method whose every round is one Riccati recursion (`riccati.rs`):
    /// time linear in N. Only for OCPs whose inequalities are input bounds
    /// alone (setup refuses state bounds and constraint rows); OSQP on the
    /// blocks of `condensing` (`auto`: partial) is its counted fallback.
    /// `auto` condensing picks it by itself beyond [`full_max_inputs`].
    Riccati,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QpConfig {
    pub condensing: Condensing,
    /// Stages per block for partial condensing; chosen from the input
    /// count when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub block: Option<usize>,
    /// The solver; OSQP when absent.
    #[serde(skip_serializing_if = "is_osqp")]
    pub solver: QpSolver,
    /// The dense solver's active-set step once ADMM is slow (`dense_qp/
    /// polish.rs`), with rho adapted only in those slow solves and reset
    /// to `osqp.rho` after them; off when absent. Only with `solver =
    /// "dense"`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub polish: bool,
    /// The dense solver solves a QP whose rows are all bounds on single
    /// variables exactly, by a primal-dual active-set method, with ADMM as
    /// its counted fallback (`dense_qp/box_qp.rs`); off when absent. Only
    /// with `solver = "dense"` and such a QP (setup refuses others).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub active_set: bool,
}

fn is_osqp(solver: &QpSolver) -> bool {
    *solver == QpSolver::Osqp
}

impl QpConfig {
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }

    pub fn validate(&self) -> Result<(), MpcError> {
        if self.solver == QpSolver::Riccati && self.condensing == Condensing::Full {
            return Err(MpcError::Config {
                key: "qp.condensing".into(),
                expected: "auto, partial or none with solver = \"riccati\" (its fallback is \
                           OSQP on blocks)"
                    .into(),
                found: "\"full\"".into(),
            });
        }
        if self.block == Some(0) {
            return Err(MpcError::Config {
                key: "qp.block".into(),
                expected: "an integer >= 1 (stages per block)".into(),
                found: "0".into(),
            });
        }
        if self.polish && self.solver != QpSolver::Dense {
            return Err(MpcError::Config {
                key: "qp.polish".into(),
                expected: "solver = \"dense\" (the active-set step is the dense solver's)".into(),
                found: "true".into(),
            });
        }
        if self.active_set && self.solver != QpSolver::Dense {
            return Err(MpcError::Config {
                key: "qp.active_set".into(),
                expected: "solver = \"dense\" (the exact box solve is the dense solver's)".into(),
                found: "true".into(),
            });
        }
        Ok(())
    }

    /// Stages per block for a horizon of `horizon` stages of a model with
    /// `nx` states and `nu` inputs; `horizon` (one block) is full condensing.
    pub fn stages_per_block(&self, horizon: usize, nx: usize, nu: usize) -> usize {
        let partial = || {
            self.block
                .unwrap_or_else(|| (PARTIAL_INPUTS_PER_BLOCK / nu.max(1)).max(1))
                .clamp(1, horizon.max(1))
        };
        match self.condensing {
            // The Riccati solver's fallback QP is never the dense one.
            Condensing::Auto if self.solver == QpSolver::Riccati => partial(),
            Condensing::Full => horizon,
            Condensing::None => 1,
            Condensing::Partial => partial(),
            Condensing::Auto if horizon * nu <= full_max_inputs(nx) => horizon,
            Condensing::Auto => partial(),
        }
    }

    /// The solver that runs, for an OCP whose only inequalities are input
    /// bounds (`box_only`) or not: `auto` condensing with the default
    /// solver takes the Riccati active set where it would otherwise
    /// condense partially (docs/performance.md, "P1 linear in N: Riccati
    /// active set").
    pub fn chosen_solver(&self, horizon: usize, nx: usize, nu: usize, box_only: bool) -> QpSolver {
        let auto_riccati = self.condensing == Condensing::Auto
            && self.solver == QpSolver::Osqp
            && box_only
            && horizon * nu > full_max_inputs(nx);
        if auto_riccati {
            QpSolver::Riccati
        } else {
            self.solver
        }
    }
}

impl std::str::FromStr for QpSolver {
    type Err = MpcError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "osqp" => Ok(Self::Osqp),
            "dense" => Ok(Self::Dense),
            "riccati" => Ok(Self::Riccati),
            other => Err(MpcError::Config {
                key: "qp.solver".into(),
                expected: "one of osqp, dense, riccati".into(),
                found: other.into(),
            }),
        }
    }
}

impl std::str::FromStr for Condensing {
    type Err = MpcError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(Self::Auto),
            "full" => Ok(Self::Full),
            "partial" => Ok(Self::Partial),
            "none" => Ok(Self::None),
            other => Err(MpcError::Config {
                key: "qp.condensing".into(),
                expected: "one of auto, full, partial, none".into(),
                found: other.into(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `auto` takes the Riccati active set where it would condense in
    /// blocks, for input bounds alone; an explicit solver stays.
    #[test]
    fn auto_chooses_the_riccati_solver_for_long_box_only_horizons() {
        let auto = QpConfig::default();
        assert_eq!(auto.chosen_solver(40, 4, 1, true), QpSolver::Osqp);
        assert_eq!(auto.chosen_solver(80, 4, 1, true), QpSolver::Riccati);
        assert_eq!(auto.chosen_solver(80, 4, 1, false), QpSolver::Osqp);
        let dense = QpConfig {
            solver: QpSolver::Dense,
            ..QpConfig::default()
        };
        assert_eq!(dense.chosen_solver(320, 4, 1, true), QpSolver::Dense);
        let riccati = QpConfig {
            solver: QpSolver::Riccati,
            ..QpConfig::default()
        };
        assert!(
            riccati.stages_per_block(20, 4, 1) < 20,
            "its fallback is blocks"
        );
        let full = QpConfig {
            condensing: Condensing::Full,
            ..riccati
        };
        assert!(full.validate().is_err());
    }
}
