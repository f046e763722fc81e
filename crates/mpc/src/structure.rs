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
use crate::qp_values::{Linearization, QpValues};
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

    /// The linearisation and the matrix values, whichever the structure.
    fn parts(&self) -> (&Linearization<NX, NU>, &QpValues) {
        match self {
            Self::Full(c) => (&c.lin, &c.values),
            Self::Blocks(b) => (&b.lin, &b.values),
        }
    }

    fn values_mut(&mut self) -> &mut QpValues {
        match self {
            Self::Full(c) => &mut c.values,
            Self::Blocks(b) => &mut b.values,
        }
    }

    pub fn patterns(&self) -> (&[usize], &[usize], &[usize], &[usize]) {
        self.parts().1.patterns()
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
        let values = self.parts().1;
        (&values.p, &values.a)
    }

    /// Whether `P` or `A` changed since they were last handed over.
    pub fn changed(&self) -> bool {
        let values = self.parts().1;
        values.p_changed || values.a_changed
    }

    pub fn forget_values(&mut self) {
        self.values_mut().forget();
    }

    pub fn reuses_jacobians(&self) -> bool {
        match self {
            Self::Full(c) => c.reuses_jacobians(),
            Self::Blocks(b) => b.reuses_jacobians(),
        }
    }

    pub fn keep_constraint_matrix(&mut self) {
        self.values_mut().a_changed = false;
    }

    pub fn linearize<M: DiscreteModel<NX, NU>>(
        &mut self,
        model: &M,
        xs: &[SVector<f64, NX>],
        us: &[SVector<f64, NU>],
    ) {
        match self {
            Self::Full(c) => c.lin.linearize(model, xs, us),
            Self::Blocks(b) => b.lin.linearize(model, xs, us),
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

    /// The linearisation along the plan (the stage-wise solve's data).
    pub fn linearization(&self) -> &Linearization<NX, NU> {
        self.parts().0
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
        let lin = self.parts().0;
        (&lin.a[k], &lin.b[k], &lin.defect[k])
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

    /// Variable and `A` row of slack `slack` (among the node's) at node `k`.
    pub fn slack(&self, layout: &Layout, k: usize, slack: usize) -> (usize, usize) {
        match self {
            Self::Full(_) => layout.slack(k, slack),
            Self::Blocks(b) => b.layout.slack(k, slack),
        }
    }

    /// Duals `from` moved `steps` stages along the horizon into `to` (as
    /// the plan is shifted): the input, node and slack rows of stage `k`
    /// take those of `k + steps`, interpolated, the last repeated past the
    /// end. Blocks keep all theirs in place (their coupling rows sit at
    /// fixed stages and cannot move with the plan).
    pub fn shift_duals(&self, layout: &Layout, steps: f64, from: &[f64], to: &mut [f64]) {
        to.copy_from_slice(from);
        if matches!(self, Self::Blocks(_)) {
            return;
        }
        let (n, nu) = (layout.horizon, layout.nu);
        for j in 0..n {
            for i in 0..nu {
                to[j * nu + i] = shifted(|jj| from[jj * nu + i], j as f64 + steps, n - 1);
            }
        }
        for k in 1..=n {
            let at = k as f64 + steps;
            for r in 0..layout.rows_per_node {
                to[self.node_row(layout, k) + r] =
                    shifted(|kk| from[self.node_row(layout, kk) + r], at, n);
            }
            for s in 0..layout.slacks_per_node {
                to[self.slack(layout, k, s).1] =
                    shifted(|kk| from[self.slack(layout, kk, s).1], at, n);
            }
        }
    }

    /// The QP's own state correction at stage `k` when a block (other
    /// than the first) starts there: the plan's correction restarts from
    /// it, so the linear rollout's error (the coupling rows' ADMM
    /// residual, amplified by unstable dynamics) grows over one block
    /// only. None when fully condensed (the states are not variables).
    pub fn block_start_state(&self, k: usize, solution: &[f64]) -> Option<SVector<f64, NX>> {
        match self {
            Self::Full(_) => None,
            Self::Blocks(b) => b.start_state(k, solution),
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

/// `value` at fractional index `at`, linear between indices, `value(last)`
/// from `last` on.
fn shifted(value: impl Fn(usize) -> f64, at: f64, last: usize) -> f64 {
    let i = at.floor();
    if i >= last as f64 {
        return value(last);
    }
    let (i0, frac) = (i as usize, at - i);
    if frac == 0.0 {
        value(i0)
    } else {
        value(i0) * (1.0 - frac) + value(i0 + 1) * frac
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BoundedSides, Condensing, SoftPenalty};

    /// Every row tagged with its stage (inputs) or node, per structure:
    /// a shift by one stage must hand each row its successor's tag.
    fn tags<const NX: usize, const NU: usize>(
        qp: &Structure<NX, NU>,
        layout: &Layout,
    ) -> (Vec<f64>, Vec<bool>) {
        let rows = qp.n_rows(layout);
        let (mut tag, mut along) = (vec![-1.0; rows], vec![false; rows]);
        for j in 0..layout.horizon {
            for i in 0..NU {
                (tag[j * NU + i], along[j * NU + i]) = (j as f64 + 0.1 * i as f64, true);
            }
        }
        for k in 1..=layout.horizon {
            for r in 0..layout.rows_per_node {
                let row = qp.node_row(layout, k) + r;
                (tag[row], along[row]) = (100.0 * k as f64 + r as f64, true);
            }
            for s in 0..layout.slacks_per_node {
                let row = qp.slack(layout, k, s).1;
                (tag[row], along[row]) = (1e4 * k as f64 + s as f64, true);
            }
        }
        (tag, along)
    }

    fn check_shift(condensing: Condensing, block: Option<usize>) -> bool {
        let soft = Some(SoftPenalty { l1: 1.0, l2: 1.0 });
        let sides = vec![
            BoundedSides::Both,
            BoundedSides::Both,
            BoundedSides::Lower,
            BoundedSides::Upper,
        ];
        let layout = Layout::new(7, 2, vec![None, soft, None, soft], sides);
        let config = QpConfig {
            condensing,
            block,
            ..Default::default()
        };
        let qp = Structure::<3, 2>::new(&layout, &config);
        let (from, along) = tags(&qp, &layout);
        let mut to = vec![0.0; from.len()];
        qp.shift_duals(&layout, 1.0, &from, &mut to);
        if matches!(qp, Structure::Blocks(_)) {
            assert_eq!(to, from, "blocks keep their duals in place");
            return false;
        }
        let (n, nu) = (layout.horizon, 2);
        for (row, (&f, &t)) in from.iter().zip(&to).enumerate() {
            if !along[row] {
                assert_eq!(t, f, "row {row} is not along the horizon and is kept");
            } else if row < n * nu {
                let expect = if row / nu + 1 < n { f + 1.0 } else { f };
                assert_eq!(t, expect, "input row {row}");
            } else {
                // Node rows: node k takes node k + 1's; node N keeps its own.
                let step = if f >= 1e4 { 1e4 } else { 100.0 };
                let node = (f / step).floor() as usize;
                let expect = if node < n { f + step } else { f };
                assert_eq!(t, expect, "node row {row}");
            }
        }
        // Half a stage: halfway between neighbours, the last repeated.
        qp.shift_duals(&layout, 0.5, &from, &mut to);
        assert_eq!(to[0], 0.5);
        assert_eq!(to[(n - 1) * nu], (n - 1) as f64);
        let first_node = qp.node_row(&layout, 1);
        assert_eq!(to[first_node], 150.0);
        true
    }

    #[test]
    fn duals_shift_with_the_plan_when_fully_condensed_only() {
        assert!(check_shift(Condensing::Full, None));
        assert!(!check_shift(Condensing::Partial, Some(3)));
        assert!(!check_shift(Condensing::None, None));
    }
}
