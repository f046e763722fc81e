//! Partial condensing (acados' `cond_N`): the horizon cut into blocks of
//! `K` stages, each condensed onto its input corrections and the state
//! correction at its start, the blocks tied together by the linearised
//! dynamics as equality rows. `K = 1` is the sparse multiple-shooting QP.
//! The KKT system OSQP factorises is block-banded, so its cost is linear
//! in N where full condensing's dense Hessian grows as N².
//!
//! Variables: block `b` holds `[dx_{s_b}, du_{s_b} .. du_{e_b - 1}]`
//! (block 0 without its state: `dx_0` is measured), then the slacks as in
//! full condensing. Within block `b`, `dx_k = M_k w_b + c_k`, with
//! `M_{s_b} = [I 0]`, `M_{k+1} = A_k M_k + [0 B_k 0]` and the free
//! response `c` (`dx_0` in block 0, zero elsewhere, rolled through the
//! defects). Block `b` owns the costs and constraint rows of nodes
//! `max(s_b, 1) .. e_b` (the last block also `N`); row `b` of the coupling
//! says `dx_{e_b} = M_{e_b} w_b + c_{e_b}`. Columns of `M_k` past the
//! inputs applied before node `k` are zero and left out of the pattern.
//!
//! Rows of `A`: `[input rows (N NU) | coupling rows ((blocks - 1) NX) |
//! node 1 ..= N constraint rows | slack rows]`.

use nalgebra::SVector;

use crate::condense::Weight;
use crate::constraints::ConstraintRow;
use crate::layout::{Layout, OSQP_INFINITY};
use crate::qp_values::{Linearization, QpValues};
use crate::OcpSpec;

/// Where each block's variables, Hessian values and `M` columns live.
#[derive(Debug, Clone)]
pub(crate) struct BlockLayout {
    /// Per-node constraint rows, as in full condensing.
    pub node: Layout,
    pub nx: usize,
    pub n_blocks: usize,
    /// First stage of each block, and `N` at the end.
    start_stage: Vec<usize>,
    /// First variable of each block, and the block variable count.
    start_var: Vec<usize>,
    /// First value of each block's dense upper triangle in `P`.
    start_p: Vec<usize>,
    /// First column of `M_{s_b}` in the flat store of `M` columns.
    start_m: Vec<usize>,
}

impl BlockLayout {
    pub fn new(node: Layout, nx: usize, stages_per_block: usize) -> Self {
        let (n, nu) = (node.horizon, node.nu);
        let k = stages_per_block.clamp(1, n.max(1));
        let n_blocks = n.div_ceil(k);
        let mut start_stage: Vec<usize> = (0..n_blocks).map(|b| b * k).collect();
        start_stage.push(n);
        let (mut start_var, mut start_p, mut start_m) = (vec![0], vec![0], vec![0]);
        for b in 0..n_blocks {
            let stages = start_stage[b + 1] - start_stage[b];
            let nv = if b == 0 { 0 } else { nx } + stages * nu;
            start_var.push(start_var[b] + nv);
            start_p.push(start_p[b] + nv * (nv + 1) / 2);
            start_m.push(start_m[b] + (stages + 1) * nv);
        }
        Self {
            node,
            nx,
            n_blocks,
            start_stage,
            start_var,
            start_p,
            start_m,
        }
    }

    fn last(&self, b: usize) -> bool {
        b + 1 == self.n_blocks
    }

    /// First and one-past-last stage of block `b`.
    pub fn stages(&self, b: usize) -> (usize, usize) {
        (self.start_stage[b], self.start_stage[b + 1])
    }

    /// State variables at the start of block `b` (none for block 0).
    pub fn n_dx(&self, b: usize) -> usize {
        if b == 0 {
            0
        } else {
            self.nx
        }
    }

    pub fn n_block_vars(&self, b: usize) -> usize {
        self.start_var[b + 1] - self.start_var[b]
    }

    pub fn first_var(&self, b: usize) -> usize {
        self.start_var[b]
    }

    /// The block that owns node `k` (1..=N).
    pub fn block_of_node(&self, k: usize) -> usize {
        (k / self.stages_per_block()).min(self.n_blocks - 1)
    }

    fn stages_per_block(&self) -> usize {
        self.start_stage[1] - self.start_stage[0]
    }

    /// Nodes whose cost and rows block `b` holds.
    pub fn owned(&self, b: usize) -> std::ops::Range<usize> {
        let (s, e) = self.stages(b);
        s.max(1)..if self.last(b) { e + 1 } else { e }
    }

    /// Columns of `M_k` that can be nonzero in block `b`: the state, then
    /// the inputs applied before node `k`.
    pub fn active(&self, b: usize, k: usize) -> usize {
        self.n_dx(b) + (k - self.stages(b).0) * self.node.nu
    }

    /// Flat index of column `col` of `M_k` in block `b`.
    pub fn m_index(&self, b: usize, k: usize, col: usize) -> usize {
        self.start_m[b] + (k - self.stages(b).0) * self.n_block_vars(b) + col
    }

    pub fn m_len(&self) -> usize {
        self.start_m[self.n_blocks]
    }

    /// Variable of input `i` at stage `j`.
    pub fn input_var(&self, j: usize, i: usize) -> usize {
        let b = (j / self.stages_per_block()).min(self.n_blocks - 1);
        self.start_var[b] + self.n_dx(b) + (j - self.stages(b).0) * self.node.nu + i
    }

    pub fn n_variables(&self) -> usize {
        self.start_var[self.n_blocks] + self.node.n_slacks()
    }

    fn n_coupling_rows(&self) -> usize {
        (self.n_blocks - 1) * self.nx
    }

    pub fn coupling_row(&self, b: usize, r: usize) -> usize {
        self.node.n_inputs() + b * self.nx + r
    }

    /// First `A` row of node `k` (1..=N).
    pub fn node_row(&self, k: usize) -> usize {
        self.node.n_inputs() + self.n_coupling_rows() + (k - 1) * self.node.rows_per_node
    }

    /// Variable and `A` row of slack `slack` (among the node's) at node `k`.
    pub fn slack(&self, k: usize, slack: usize) -> (usize, usize) {
        let s = (k - 1) * self.node.slacks_per_node + slack;
        let rows_before = self.node.n_inputs()
            + self.n_coupling_rows()
            + self.node.horizon * self.node.rows_per_node;
        (self.start_var[self.n_blocks] + s, rows_before + s)
    }

    pub fn n_rows(&self) -> usize {
        self.slack(self.node.horizon + 1, 0).1
    }

    /// Index into `P`'s values of entry (r, c), r <= c, of block `b`'s
    /// dense triangle (block-local indices).
    pub fn p_index(&self, b: usize, r: usize, c: usize) -> usize {
        self.start_p[b] + c * (c + 1) / 2 + r
    }

    /// `P`: a dense upper triangle per block, a diagonal over slacks.
    pub fn p_pattern(&self) -> (Vec<usize>, Vec<usize>) {
        let mut indptr = vec![0];
        let mut indices = Vec::new();
        for b in 0..self.n_blocks {
            let first = self.start_var[b];
            for c in 0..self.n_block_vars(b) {
                indices.extend(first..=first + c);
                indptr.push(indices.len());
            }
        }
        let first_slack = self.start_var[self.n_blocks];
        for s in 0..self.node.n_slacks() {
            indices.push(first_slack + s);
            indptr.push(indices.len());
        }
        (indptr, indices)
    }

    /// `A`'s pattern, column by column in the order `fill_constraint_matrix`
    /// writes the values.
    pub fn a_pattern(&self) -> (Vec<usize>, Vec<usize>) {
        let mut indptr = vec![0];
        let mut indices = Vec::new();
        let per = self.node.rows_per_node;
        for b in 0..self.n_blocks {
            let (s, _) = self.stages(b);
            for col in 0..self.n_block_vars(b) {
                let dx = self.n_dx(b);
                if col < dx {
                    indices.push(self.coupling_row(b - 1, col));
                } else {
                    let local = col - dx;
                    indices.push((s + local / self.node.nu) * self.node.nu + local % self.node.nu);
                }
                if !self.last(b) {
                    indices.extend((0..self.nx).map(|r| self.coupling_row(b, r)));
                }
                for k in self.owned(b).filter(|&k| self.active(b, k) > col) {
                    let base = self.node_row(k);
                    indices.extend(base..base + per);
                }
                indptr.push(indices.len());
            }
        }
        self.node.push_slack_columns(
            |k| self.node_row(k),
            |k, s| self.slack(k, s).1,
            &mut indptr,
            &mut indices,
        );
        (indptr, indices)
    }
}

/// The partially condensed QP's data, allocated once.
#[derive(Debug)]
pub(crate) struct Blocks<const NX: usize, const NU: usize> {
    pub layout: BlockLayout,
    pub lin: Linearization<NX, NU>,
    /// Columns of every `M_k`, block by block ([`BlockLayout::m_index`]).
    m: Vec<SVector<f64, NX>>,
    /// Free responses: node `k` of block `b` at `k + b` (a block's last
    /// node is the next one's first, with a different free response).
    c: Vec<SVector<f64, NX>>,
    pub values: QpValues,
}

impl<const NX: usize, const NU: usize> Blocks<NX, NU> {
    pub fn new(node: Layout, stages_per_block: usize) -> Self {
        let layout = BlockLayout::new(node, NX, stages_per_block);
        let n = layout.node.horizon;
        Self {
            lin: Linearization::new(n),
            m: vec![SVector::zeros(); layout.m_len()],
            c: vec![SVector::zeros(); n + 1 + layout.n_blocks],
            values: QpValues::new(layout.p_pattern(), layout.a_pattern()),
            layout,
        }
    }

    pub fn reuses_jacobians(&self) -> bool {
        self.lin.lti && self.values.a_handed_over()
    }

    /// Bounds OSQP is set up with: the coupling rows as equalities (so
    /// OSQP gives them its equality step size from the start), the rest free.
    pub fn initial_bounds(&self, l: &mut [f64], u: &mut [f64]) {
        l.fill(-OSQP_INFINITY);
        u.fill(OSQP_INFINITY);
        for b in 0..self.layout.n_blocks - 1 {
            for r in 0..NX {
                let row = self.layout.coupling_row(b, r);
                (l[row], u[row]) = (0.0, 0.0);
            }
        }
    }

    /// The `M` columns of every block, then `P = 2 H` block by block.
    /// Skipped for a linear time-invariant model once done.
    pub fn condense(&mut self, spec: &OcpSpec<NX, NU>) {
        if self.lin.lti && self.values.p_handed_over() {
            self.values.p_changed = false;
            return;
        }
        let lay = &self.layout;
        let n = lay.node.horizon;
        let (q, q_terminal) = (Weight::new(&spec.q), Weight::new(&spec.q_terminal));
        for blk in 0..lay.n_blocks {
            let (s, e) = lay.stages(blk);
            let nv = lay.n_block_vars(blk);
            for col in 0..nv {
                let mut m0 = SVector::zeros();
                if col < lay.n_dx(blk) {
                    m0[col] = 1.0;
                }
                self.m[lay.m_index(blk, s, col)] = m0;
            }
            for k in s..e {
                let active = lay.active(blk, k);
                for col in 0..active {
                    self.m[lay.m_index(blk, k + 1, col)] =
                        self.lin.a[k] * self.m[lay.m_index(blk, k, col)];
                }
                for i in 0..NU {
                    self.m[lay.m_index(blk, k + 1, active + i)] =
                        self.lin.b[k].column(i).into_owned();
                }
                for col in active + NU..nv {
                    self.m[lay.m_index(blk, k + 1, col)] = SVector::zeros();
                }
            }
            let p = &mut self.values.p[lay.p_index(blk, 0, 0)..lay.p_index(blk, 0, nv)];
            p.fill(0.0);
            for k in lay.owned(blk) {
                let w = if k == n { &q_terminal } else { &q };
                let active = lay.active(blk, k);
                // M_k's active columns, and P's columns as slices: the same
                // sums in the same order, without an index per entry.
                let first = lay.m_index(blk, k, 0);
                let mk = &self.m[first..first + active];
                for (c2, m2) in mk.iter().enumerate() {
                    let wm = w.times(m2);
                    let column = &mut p[c2 * (c2 + 1) / 2..][..=c2];
                    for (entry, m1) in column.iter_mut().zip(mk) {
                        *entry += 2.0 * m1.dot(&wm);
                    }
                }
            }
            for j in s..e {
                let first = lay.n_dx(blk) + (j - s) * NU;
                for a in 0..NU {
                    for bb in 0..=a {
                        let (r, c) = (first + bb, first + a);
                        p[c * (c + 1) / 2 + r] += 2.0 * spec.r[(bb, a)];
                    }
                }
            }
        }
        let first = self.layout.p_index(self.layout.n_blocks, 0, 0);
        self.layout
            .node
            .fill_slack_diagonal(&mut self.values.p[first..]);
        self.values.commit_p();
    }

    /// Values of `A`, in the order of [`BlockLayout::a_pattern`].
    pub fn fill_constraint_matrix(&mut self, rows: &[ConstraintRow<NX>]) {
        let lay = &self.layout;
        let per = lay.node.rows_per_node;
        let mut at = 0;
        for blk in 0..lay.n_blocks {
            let (_, e) = lay.stages(blk);
            for col in 0..lay.n_block_vars(blk) {
                // The input row, or the coupling row that ties this block's
                // first state to the previous block.
                self.values.a[at] = 1.0;
                at += 1;
                if !lay.last(blk) {
                    let end = self.m[lay.m_index(blk, e, col)];
                    for r in 0..NX {
                        self.values.a[at] = -end[r];
                        at += 1;
                    }
                }
                for k in lay.owned(blk).filter(|&k| lay.active(blk, k) > col) {
                    let column = &self.m[lay.m_index(blk, k, col)];
                    for row in &rows[(k - 1) * per..k * per] {
                        self.values.a[at] = row.gradient.dot(column);
                        at += 1;
                    }
                }
            }
        }
        lay.node.fill_slack_columns(&mut self.values.a[at..]);
        self.values.commit_a();
    }

    /// The free response of every block from `dx_0` (block 0) or zero.
    fn free_responses(&mut self, dx0: SVector<f64, NX>) {
        for blk in 0..self.layout.n_blocks {
            let (s, e) = self.layout.stages(blk);
            self.c[s + blk] = if blk == 0 { dx0 } else { SVector::zeros() };
            for k in s..e {
                self.c[k + 1 + blk] = self.lin.a[k] * self.c[k + blk] + self.lin.defect[k];
            }
        }
    }

    /// The state variable of the block starting at stage `k`, if one
    /// (other than block 0, whose start is measured) does.
    pub fn start_state(&self, k: usize, solution: &[f64]) -> Option<SVector<f64, NX>> {
        let lay = &self.layout;
        let b = lay.block_of_node(k);
        if b == 0 || k >= lay.node.horizon || lay.stages(b).0 != k {
            return None;
        }
        let first = lay.first_var(b);
        Some(SVector::from_column_slice(&solution[first..first + NX]))
    }

    /// The free response at node `k` (1..=N), from the block owning it.
    pub fn free_response(&self, k: usize) -> SVector<f64, NX> {
        self.c[k + self.layout.block_of_node(k)]
    }

    /// Linear cost, input bounds and coupling rows for the measured state
    /// (the node rows are the caller's, through [`Self::free_response`]).
    pub fn fill_cost_and_coupling(
        &mut self,
        dx0: SVector<f64, NX>,
        plan: (&[SVector<f64, NX>], &[SVector<f64, NU>]),
        refs: (&[SVector<f64, NX>], &[SVector<f64, NU>]),
        spec: &OcpSpec<NX, NU>,
        q: &mut [f64],
        l: &mut [f64],
        u: &mut [f64],
    ) {
        self.free_responses(dx0);
        let ((xs, us), (x_ref, u_ref)) = (plan, refs);
        let lay = &self.layout;
        let n = lay.node.horizon;
        let (wq, wq_terminal) = (Weight::new(&spec.q), Weight::new(&spec.q_terminal));
        q[..lay.start_var[lay.n_blocks]].fill(0.0);
        for blk in 0..lay.n_blocks {
            let first = lay.first_var(blk);
            for k in lay.owned(blk) {
                let w = if k == n { &wq_terminal } else { &wq };
                let residual = xs[k] + self.c[k + blk] - x_ref[k];
                let g = w.times(&residual) * 2.0;
                let (at, active) = (lay.m_index(blk, k, 0), lay.active(blk, k));
                for (qi, m) in q[first..first + active]
                    .iter_mut()
                    .zip(&self.m[at..at + active])
                {
                    *qi += m.dot(&g);
                }
            }
            if !lay.last(blk) {
                let end = self.c[lay.stages(blk).1 + blk];
                for r in 0..NX {
                    let row = lay.coupling_row(blk, r);
                    (l[row], u[row]) = (end[r], end[r]);
                }
            }
        }
        for j in 0..n {
            let g = spec.r * (us[j] - u_ref[j]) * 2.0;
            for i in 0..NU {
                q[lay.input_var(j, i)] += g[i];
                let row = j * NU + i;
                l[row] = (spec.u_min[i] - us[j][i]).clamp(-OSQP_INFINITY, OSQP_INFINITY);
                u[row] = (spec.u_max[i] - us[j][i]).clamp(-OSQP_INFINITY, OSQP_INFINITY);
            }
        }
    }
}
