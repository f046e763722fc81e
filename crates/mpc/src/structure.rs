//! The QP the controller hands to OSQP: fully condensed (`condense.rs`) or
//! condensed in blocks (`blocks.rs`), chosen once at setup by
//! [`QpConfig::stages_per_block`]. Both fix their sparsity at setup; a step
//! only rewrites values.

use nalgebra::{SMatrix, SVector};
use recede_model::DiscreteModel;

use crate::blocks::Blocks;
use crate::condense::Condensed;
use crate::constraints::ConstraintRow;
use crate::layout::{Layout, OSQP_INFINITY};
use crate::{OcpSpec, QpConfig};

// One value per controller, built once: no point boxing the larger variant
// behind another indirection on the hot path.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(crate) enum Structure<const NX: usize, const NU: usize> {
    Full(Condensed<NX, NU>),
    Blocks(Blocks<NX, NU>),
}

impl<const NX: usize, const NU: usize> Structure<NX, NU> {
    pub fn new(layout: &Layout, config: &QpConfig) -> Self {
        let k = config.stages_per_block(layout.horizon, NX, NU);
        if k >= layout.horizon {
            Self::Full(Condensed::new(layout))
        } else {
            Self::Blocks(Blocks::new(layout.clone(), k))
        }
    }

    /// Stages per block (the horizon when fully condensed).
    pub fn stages_per_block(&self, layout: &Layout) -> usize {
        match self {
            Self::Full(_) => layout.horizon,
            Self::Blocks(b) => b.layout.stages(0).1,
        }
    }

    pub fn n_variables(&self, layout: &Layout) -> usize {
        match self {
            Self::Full(_) => layout.n_variables(),
            Self::Blocks(b) => b.layout.n_variables(),
        }
    }

    pub fn n_rows(&self, layout: &Layout) -> usize {
        match self {
            Self::Full(_) => layout.n_rows(),
            Self::Blocks(b) => b.layout.n_rows(),
        }
    }

    pub fn patterns(&self) -> (&[usize], &[usize], &[usize], &[usize]) {
        match self {
            Self::Full(c) => c.patterns(),
            Self::Blocks(b) => b.patterns(),
        }
    }

    /// The bounds OSQP is set up with (before the first feedback).
    pub fn initial_bounds(&self, l: &mut [f64], u: &mut [f64]) {
        match self {
            Self::Full(_) => {
                l.fill(-OSQP_INFINITY);
                u.fill(OSQP_INFINITY);
            }
            Self::Blocks(b) => b.initial_bounds(l, u),
        }
    }

    pub fn values(&self) -> (&[f64], &[f64]) {
        match self {
            Self::Full(c) => (&c.p_values, &c.a_values),
            Self::Blocks(b) => (&b.p_values, &b.a_values),
        }
    }

    /// Whether `P` or `A` changed since they were last handed over.
    pub fn changed(&self) -> bool {
        match self {
            Self::Full(c) => c.p_changed || c.a_changed,
            Self::Blocks(b) => b.p_changed || b.a_changed,
        }
    }

    pub fn forget_values(&mut self) {
        match self {
            Self::Full(c) => c.forget_values(),
            Self::Blocks(b) => b.forget_values(),
        }
    }

    pub fn reuses_jacobians(&self) -> bool {
        match self {
            Self::Full(c) => c.reuses_jacobians(),
            Self::Blocks(b) => b.reuses_jacobians(),
        }
    }

    pub fn keep_constraint_matrix(&mut self) {
        match self {
            Self::Full(c) => c.a_changed = false,
            Self::Blocks(b) => b.a_changed = false,
        }
    }

    pub fn linearize<M: DiscreteModel<NX, NU>>(
        &mut self,
        model: &M,
        xs: &[SVector<f64, NX>],
        us: &[SVector<f64, NU>],
    ) {
        match self {
            Self::Full(c) => c.linearize(model, xs, us),
            Self::Blocks(b) => b.linearize(model, xs, us),
        }
    }

    pub fn condense(&mut self, layout: &Layout, spec: &OcpSpec<NX, NU>) {
        match self {
            Self::Full(c) => c.condense(layout, spec),
            Self::Blocks(b) => b.condense(spec),
        }
    }

    pub fn fill_constraint_matrix(&mut self, layout: &Layout, rows: &[ConstraintRow<NX>]) {
        match self {
            Self::Full(c) => c.fill_constraint_matrix(layout, rows),
            Self::Blocks(b) => b.fill_constraint_matrix(rows),
        }
    }

    /// `A_k`, `B_k` and the defect of interval `k`.
    pub fn interval(
        &self,
        k: usize,
    ) -> (
        &SMatrix<f64, NX, NX>,
        &SMatrix<f64, NX, NU>,
        &SVector<f64, NX>,
    ) {
        match self {
            Self::Full(c) => (&c.a[k], &c.b[k], &c.defect[k]),
            Self::Blocks(b) => (&b.a[k], &b.b[k], &b.defect[k]),
        }
    }

    /// The variable of input 0 at stage `j` (its inputs are contiguous).
    pub fn input_var(&self, layout: &Layout, j: usize) -> usize {
        match self {
            Self::Full(_) => j * layout.nu,
            Self::Blocks(b) => b.layout.input_var(j, 0),
        }
    }

    /// First `A` row of node `k` (1..=N).
    pub fn node_row(&self, layout: &Layout, k: usize) -> usize {
        match self {
            Self::Full(_) => layout.node_row(k),
            Self::Blocks(b) => b.layout.node_row(k),
        }
    }

    /// Variable and `A` row of the slack of soft row `soft` at node `k`.
    pub fn slack(&self, layout: &Layout, k: usize, soft: usize) -> (usize, usize) {
        match self {
            Self::Full(_) => layout.slack(k, soft),
            Self::Blocks(b) => b.layout.slack(k, soft),
        }
    }

    /// What node `k`'s state correction is when the QP's variables are
    /// zero (filled by the feedback's cost and bounds).
    pub fn free_response(&self, k: usize) -> SVector<f64, NX> {
        match self {
            Self::Full(c) => c.dx[k],
            Self::Blocks(b) => b.free_response(k),
        }
    }
}
