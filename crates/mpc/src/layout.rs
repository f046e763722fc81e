//! The shape of the condensed QP, fixed when the controller is built.
//!
//! Variables `z = [du_0 .. du_{N-1}, s]`: input corrections, then one slack
//! per soft constraint row per node. Rows of `A`:
//! `[input rows (N*NU) | node 1 .. node N constraint rows | slack rows]`,
//! where a hard row takes one row of `A` and a soft row two (its upper and
//! lower side, each relaxed by the slack). Every entry that can ever be
//! nonzero is in the pattern, explicit zeros included, so updates never
//! change the sparsity OSQP factorised at setup.

use crate::SoftPenalty;

/// Values above this are infinite for OSQP 0.6 (`OSQP_INFTY`).
pub(crate) const OSQP_INFINITY: f64 = 1e30;

#[derive(Debug, Clone)]
pub(crate) struct Layout {
    pub horizon: usize,
    pub nu: usize,
    /// Constraint rows per node (state bounds first, then the hook's).
    pub rows_per_node: usize,
    /// Per row of a node: its penalty when soft.
    pub soft: Vec<Option<SoftPenalty>>,
    /// Per row of a node: first `A` row within the node's block.
    pub a_row_in_node: Vec<usize>,
    /// Per row of a node: index among the node's soft rows, if soft.
    pub soft_index: Vec<Option<usize>>,
    pub a_rows_per_node: usize,
    pub soft_per_node: usize,
}

impl Layout {
    pub fn new(horizon: usize, nu: usize, soft: Vec<Option<SoftPenalty>>) -> Self {
        let mut a_row_in_node = Vec::with_capacity(soft.len());
        let mut soft_index = Vec::with_capacity(soft.len());
        let (mut a_rows, mut n_soft) = (0, 0);
        for s in &soft {
            a_row_in_node.push(a_rows);
            if s.is_some() {
                soft_index.push(Some(n_soft));
                n_soft += 1;
                a_rows += 2;
            } else {
                soft_index.push(None);
                a_rows += 1;
            }
        }
        Self {
            horizon,
            nu,
            rows_per_node: soft.len(),
            soft,
            a_row_in_node,
            soft_index,
            a_rows_per_node: a_rows,
            soft_per_node: n_soft,
        }
    }

    pub fn n_inputs(&self) -> usize {
        self.horizon * self.nu
    }

    pub fn n_slacks(&self) -> usize {
        self.horizon * self.soft_per_node
    }

    pub fn n_variables(&self) -> usize {
        self.n_inputs() + self.n_slacks()
    }

    pub fn n_rows(&self) -> usize {
        self.n_inputs() + self.horizon * self.a_rows_per_node + self.n_slacks()
    }

    /// First `A` row of node `k` (1..=N).
    pub fn node_row(&self, k: usize) -> usize {
        self.n_inputs() + (k - 1) * self.a_rows_per_node
    }

    /// Variable and `A` row of the slack of soft row `soft` at node `k`.
    pub fn slack(&self, k: usize, soft: usize) -> (usize, usize) {
        let s = (k - 1) * self.soft_per_node + soft;
        (
            self.n_inputs() + s,
            self.n_inputs() + self.horizon * self.a_rows_per_node + s,
        )
    }

    /// Index into `P`'s values of entry (r, c) of the dense input block, r <= c.
    pub fn p_index(&self, r: usize, c: usize) -> usize {
        c * (c + 1) / 2 + r
    }

    /// `P`: a dense upper triangle over the inputs, a diagonal over slacks.
    pub fn p_pattern(&self) -> (Vec<usize>, Vec<usize>) {
        let n = self.n_inputs();
        let mut indptr = Vec::with_capacity(self.n_variables() + 1);
        let mut indices = Vec::with_capacity(n * (n + 1) / 2 + self.n_slacks());
        indptr.push(0);
        for c in 0..n {
            indices.extend(0..=c);
            indptr.push(indices.len());
        }
        for s in 0..self.n_slacks() {
            indices.push(n + s);
            indptr.push(indices.len());
        }
        (indptr, indices)
    }

    /// Offset into `A`'s values of the column of input `(j, i)`: its input
    /// row, then `a_rows_per_node` rows for each node `k = j+1 ..= N`.
    pub fn a_input_column(&self, j: usize, i: usize) -> usize {
        // Columns of earlier stages j' < j hold NU * (1 + (N - j') * per)
        // entries; sum_{j'<j} (N - j') = j N - j (j - 1) / 2.
        let per = self.a_rows_per_node;
        let earlier = self.nu * (j + per * (j * self.horizon - (j * j - j) / 2));
        earlier + i * (1 + (self.horizon - j) * per)
    }

    pub fn a_pattern(&self) -> (Vec<usize>, Vec<usize>) {
        let mut indptr = vec![0];
        let mut indices = Vec::new();
        for j in 0..self.horizon {
            for i in 0..self.nu {
                indices.push(j * self.nu + i);
                for k in j + 1..=self.horizon {
                    let base = self.node_row(k);
                    indices.extend(base..base + self.a_rows_per_node);
                }
                indptr.push(indices.len());
            }
        }
        for k in 1..=self.horizon {
            for (r, soft) in self.soft_index.iter().enumerate() {
                if let Some(s) = soft {
                    let row = self.node_row(k) + self.a_row_in_node[r];
                    indices.extend([row, row + 1, self.slack(k, *s).1]);
                    indptr.push(indices.len());
                }
            }
        }
        (indptr, indices)
    }
}
