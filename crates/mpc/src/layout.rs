//! The shape of the condensed QP, fixed when the controller is built.
//!
//! Variables `z = [du_0 .. du_{N-1}, s]`: input corrections, then the
//! slacks of the soft constraint rows, node by node. Rows of `A`:
//! `[input rows (N*NU) | node 1 .. node N constraint rows | slack rows]`.
//! Every constraint row takes one row of `A`, dense in the inputs; a soft
//! row `lower <= h <= upper` becomes `lower <= h + s_lo - s_hi <= upper`
//! with one slack per side that can be finite ([`BoundedSides`]), each
//! bounded below by zero in its own (sparse) slack row. Every entry that
//! can ever be nonzero is in the pattern, explicit zeros included, so
//! updates never change the sparsity OSQP factorised at setup.

use crate::constraints::BoundedSides;
use crate::SoftPenalty;

/// Values above this are infinite for OSQP 0.6 (`OSQP_INFTY`).
pub(crate) const OSQP_INFINITY: f64 = 1e30;

#[derive(Debug, Clone)]
pub(crate) struct Layout {
    pub horizon: usize,
    pub nu: usize,
    /// Constraint rows per node (state bounds first, then the hook's); one
    /// `A` row each.
    pub rows_per_node: usize,
    /// Per row of a node: the sides that can be finite.
    pub sides: Vec<BoundedSides>,
    /// Per row of a node: index of its first slack among the node's, if soft.
    first_slack: Vec<Option<usize>>,
    /// Per slack of a node: its row's penalty.
    slack_penalty: Vec<SoftPenalty>,
    pub slacks_per_node: usize,
}

impl Layout {
    pub fn new(
        horizon: usize,
        nu: usize,
        soft: Vec<Option<SoftPenalty>>,
        sides: Vec<BoundedSides>,
    ) -> Self {
        debug_assert_eq!(soft.len(), sides.len());
        let mut first_slack = Vec::with_capacity(soft.len());
        let mut slack_penalty = Vec::new();
        for (s, side) in soft.iter().zip(&sides) {
            first_slack.push(s.map(|_| slack_penalty.len()));
            if let Some(penalty) = s {
                slack_penalty.extend(side.slack_signs().iter().map(|_| *penalty));
            }
        }
        Self {
            horizon,
            nu,
            rows_per_node: soft.len(),
            sides,
            first_slack,
            slacks_per_node: slack_penalty.len(),
            slack_penalty,
        }
    }

    /// The slacks of row `r` of a node: index among the node's slacks and
    /// coefficient in the row (+1 relaxes the lower bound, -1 the upper).
    pub fn row_slacks(&self, r: usize) -> impl Iterator<Item = (usize, f64)> + '_ {
        let first = self.first_slack[r];
        let signs: &'static [f64] = match first {
            Some(_) => self.sides[r].slack_signs(),
            None => &[],
        };
        let first = first.unwrap_or(0);
        signs
            .iter()
            .enumerate()
            .map(move |(i, &sign)| (first + i, sign))
    }

    pub fn n_inputs(&self) -> usize {
        self.horizon * self.nu
    }

    pub fn n_slacks(&self) -> usize {
        self.horizon * self.slacks_per_node
    }

    pub fn n_variables(&self) -> usize {
        self.n_inputs() + self.n_slacks()
    }

    pub fn n_rows(&self) -> usize {
        self.n_inputs() + self.horizon * self.rows_per_node + self.n_slacks()
    }

    /// First `A` row of node `k` (1..=N).
    pub fn node_row(&self, k: usize) -> usize {
        self.n_inputs() + (k - 1) * self.rows_per_node
    }

    /// Variable and `A` row of slack `slack` (among the node's) at node `k`.
    pub fn slack(&self, k: usize, slack: usize) -> (usize, usize) {
        let s = (k - 1) * self.slacks_per_node + slack;
        (
            self.n_inputs() + s,
            self.n_inputs() + self.horizon * self.rows_per_node + s,
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
    /// row, then `rows_per_node` rows for each node `k = j+1 ..= N`.
    pub fn a_input_column(&self, j: usize, i: usize) -> usize {
        // Columns of earlier stages j' < j hold NU * (1 + (N - j') * per)
        // entries; sum_{j'<j} (N - j') = j N - j (j - 1) / 2.
        let per = self.rows_per_node;
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
                    indices.extend(base..base + self.rows_per_node);
                }
                indptr.push(indices.len());
            }
        }
        self.push_slack_columns(
            |k| self.node_row(k),
            |k, s| self.slack(k, s).1,
            &mut indptr,
            &mut indices,
        );
        (indptr, indices)
    }

    /// The slack columns of `A`'s pattern, node by node: each slack's
    /// entry in its row (`node_row(k) + r`) and in its own slack row.
    pub fn push_slack_columns(
        &self,
        node_row: impl Fn(usize) -> usize,
        slack_row: impl Fn(usize, usize) -> usize,
        indptr: &mut Vec<usize>,
        indices: &mut Vec<usize>,
    ) {
        for k in 1..=self.horizon {
            for r in 0..self.rows_per_node {
                for (s, _) in self.row_slacks(r) {
                    indices.extend([node_row(k) + r, slack_row(k, s)]);
                    indptr.push(indices.len());
                }
            }
        }
    }

    /// Values of the slack columns of `A`, in the order of
    /// [`Self::push_slack_columns`].
    pub fn fill_slack_columns(&self, values: &mut [f64]) {
        let mut at = 0;
        for _k in 1..=self.horizon {
            for r in 0..self.rows_per_node {
                for (_, sign) in self.row_slacks(r) {
                    values[at] = sign;
                    values[at + 1] = 1.0;
                    at += 2;
                }
            }
        }
    }

    /// The penalty of slack `slack` of a node (that of its row).
    pub fn slack_penalty(&self, slack: usize) -> SoftPenalty {
        self.slack_penalty[slack]
    }

    /// `P`'s diagonal over the slacks, node by node: `2 l2` each.
    pub fn fill_slack_diagonal(&self, values: &mut [f64]) {
        let per = self.slacks_per_node;
        for (at, v) in values[..self.n_slacks()].iter_mut().enumerate() {
            *v = 2.0 * self.slack_penalty[at % per].l2;
        }
    }
}
