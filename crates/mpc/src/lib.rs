//! Nonlinear model-predictive control by SQP real-time iteration over OSQP.
//!
//! The optimal-control problem is multiple shooting over `N` intervals with
//! quadratic costs against time-varying references, box bounds on inputs,
//! hard or soft (L1 + L2) bounds on states, and general constraints
//! `lower <= h(x) <= upper` through [`StageConstraints`], linearised at every
//! iteration. Each SQP iteration linearises the model along the plan
//! (Gauss-Newton), condenses the states out, and solves the dense QP in the
//! input corrections with OSQP, whose sparsity is fixed at setup (or with the
//! dense ADMM of `dense_qp.rs`, `[controller.qp] solver = "dense"`): a step
//! only updates values, bounds and the linear cost, and warm-starts.
//!
//! A step never fails loudly: a QP that OSQP cannot solve, data or results
//! that are not finite, all become a [`StepReport`] whose outcome says which
//! fallback produced the command (the shifted previous plan, then the safe
//! input).

mod backend;
mod blocks;
mod condense;
mod config;
mod constraints;
mod controller;
mod dense_factor;
mod dense_qp;
mod error;
mod governor;
mod layout;
mod osqp_settings;
mod qp;
mod qp_structure;
mod qp_values;
mod report;
mod rho_schedule;
mod riccati;
mod ruiz;
mod structure;

pub use config::{
    FallbackConfig, InitialGuess, MpcConfig, OcpSpec, SoftPenalty, StateBoundConfig,
    DEFAULT_ACCEPT_PRIMAL_RESIDUAL,
};
pub use constraints::{BoundedSides, ConstraintRow, StageConstraints};
pub use controller::{Mpc, SafePolicy, UpdateError, UpsetTest};
pub use error::MpcError;
pub use governor::GovernorConfig;
pub use osqp_settings::{OsqpConfig, BLOCK_SCALING_ITERATIONS};
pub use qp_structure::{full_max_inputs, Condensing, QpConfig, QpSolver, PARTIAL_INPUTS_PER_BLOCK};
pub use report::{Failure, FallbackCounts, QpStatus, StepOutcome, StepReport};
