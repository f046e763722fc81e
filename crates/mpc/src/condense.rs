//! Linearisation along the plan and full condensing: the states are
//! eliminated through the linearised dynamics, leaving a dense QP in the
//! input corrections.
//!
//! With `dx_{k+1} = A_k dx_k + B_k du_k + d_k`, each `dx_k` is an affine
//! function of `dx_0` and `du_0 .. du_{k-1}` with blocks
//! `G_{k,j} = A_{k-1} .. A_{j+1} B_j`. The Hessian blocks
//! `H_{i,j} = sum_{k>i} G_{k,i}' Q_k G_{k,j}` equal `B_i' S_{i+1} G_{i+1,j}`
//! with the cost-to-go Hessians `S_N = Q_N`, `S_k = Q_k + A_k' S_{k+1} A_k`:
//! O(N^2 NX^2 NU) work for the G blocks (which the constraint rows need
//! too), O(N NX^3) for S, and O(N^2 NX NU^2) for H; no O(N^3) term.

use nalgebra::{SMatrix, SVector};

use crate::constraints::ConstraintRow;
use crate::layout::Layout;
use crate::qp_values::{Linearization, QpValues};
use crate::OcpSpec;

#[derive(Debug)]
pub(crate) struct Condensed<const NX: usize, const NU: usize> {
    pub lin: Linearization<NX, NU>,
    /// State corrections, `dx_0 ..= dx_N` (scratch for the feedback).
    pub dx: Vec<SVector<f64, NX>>,
    /// `G_{k,j}` for `1 <= k <= N`, `j < k`, at `(k - 1) k / 2 + j`.
    g: Vec<SMatrix<f64, NX, NU>>,
    pub values: QpValues,
}

/// A state weight, added as a diagonal when it is one (as every weight from
/// a scenario file is).
pub(crate) enum Weight<'a, const NX: usize> {
    Diagonal(SVector<f64, NX>),
    Full(&'a SMatrix<f64, NX, NX>),
}

impl<'a, const NX: usize> Weight<'a, NX> {
    pub fn new(q: &'a SMatrix<f64, NX, NX>) -> Self {
        let off_diagonal = (0..NX).any(|i| (0..NX).any(|j| i != j && q[(i, j)] != 0.0));
        if off_diagonal {
            Self::Full(q)
        } else {
            Self::Diagonal(q.diagonal())
        }
    }

    /// `Q v`.
    pub fn times(&self, v: &SVector<f64, NX>) -> SVector<f64, NX> {
        match self {
            Self::Diagonal(d) => d.component_mul(v),
            Self::Full(q) => *q * v,
        }
    }

    /// `Q + m`.
    fn plus(&self, m: &SMatrix<f64, NX, NX>) -> SMatrix<f64, NX, NX> {
        match self {
            Self::Diagonal(d) => {
                let mut out = *m;
                for (r, w) in d.iter().enumerate() {
                    out[(r, r)] += *w;
                }
                out
            }
            Self::Full(q) => *q + m,
        }
    }
}

/// `A' S A` for a symmetric `S`: the lower triangle computed (as
/// `tr_mul` computes it), the upper mirrored, so the result is exactly
/// symmetric at half the second product's cost.
fn sandwich<const NX: usize>(
    a: &SMatrix<f64, NX, NX>,
    s: &SMatrix<f64, NX, NX>,
) -> SMatrix<f64, NX, NX> {
    let sa = s * a;
    let mut out = SMatrix::<f64, NX, NX>::zeros();
    for col in 0..NX {
        for row in col..NX {
            let v = a.column(row).dot(&sa.column(col));
            out[(row, col)] = v;
            out[(col, row)] = v;
        }
    }
    out
}

/// For each column of `a`, the rows from its first entry that is not zero
/// to its last (empty for a zero column). A linearised rigid body has many:
/// the quadrotor's position columns are unit vectors, its velocity columns
/// end at the velocity rows (34% of the product's terms are skipped).
fn column_spans<const NX: usize>(a: &SMatrix<f64, NX, NX>) -> [(usize, usize); NX] {
    std::array::from_fn(|k| {
        let column = a.column(k);
        match column.iter().position(|&v| v != 0.0) {
            Some(first) => {
                let last = column.iter().rposition(|&v| v != 0.0).unwrap_or(first);
                (first, last + 1)
            }
            None => (0, 0),
        }
    })
}

/// `a m`, each column of `a` taken over its span only. The terms are summed
/// in the dense product's order (`k` ascending) and the skipped ones are
/// zero, so the result is `a * m`'s bit for bit (a zero's sign aside).
fn times_by_spans<const NX: usize, const NU: usize>(
    a: &SMatrix<f64, NX, NX>,
    spans: &[(usize, usize); NX],
    m: &SMatrix<f64, NX, NU>,
) -> SMatrix<f64, NX, NU> {
    let mut out = SMatrix::<f64, NX, NU>::zeros();
    let (a, o) = (a.as_slice(), out.as_mut_slice());
    // `k` outside: the NU columns' updates are independent of each other,
    // so they do not wait on each other's stores.
    for (k, &(lo, hi)) in spans.iter().enumerate() {
        let ak = &a[k * NX + lo..k * NX + hi];
        for c in 0..NU {
            let w = m[(k, c)];
            for (o, v) in o[c * NX + lo..c * NX + hi].iter_mut().zip(ak) {
                *o += v * w;
            }
        }
    }
    out
}

/// Up to this many states `G`'s blocks are plain products: the spans'
/// loop bookkeeping cost more than the 4x4 product itself on P1's
/// cart-pole (15% of its step's instructions, docs/performance.md "P1
/// solved exactly"), and the soft cart-pole's implicit-midpoint `A` (10
/// states) is dense, so spans skip nothing there (its step x0.78). Both
/// sum the same terms in the same order. The quadrotor's sparse 13-state
/// `A` keeps the spans.
const PLAIN_PRODUCT_MAX_NX: usize = 10;

fn g_index(k: usize, j: usize) -> usize {
    (k - 1) * k / 2 + j
}

impl<const NX: usize, const NU: usize> Condensed<NX, NU> {
    pub fn new(layout: &Layout) -> Self {
        let n = layout.horizon;
        Self {
            lin: Linearization::new(n),
            dx: vec![SVector::zeros(); n + 1],
            g: vec![SMatrix::zeros(); n * (n + 1) / 2],
            values: QpValues::new(layout.p_pattern(), layout.a_pattern()),
        }
    }

    /// True once a linear time-invariant model's Jacobians (and everything
    /// condensed from them) are in place and reused.
    pub fn reuses_jacobians(&self) -> bool {
        self.lin.lti && self.values.a_handed_over()
    }

    /// `G` blocks and the Hessian `P = 2 H` (OSQP minimises 1/2 z'Pz + q'z,
    /// the cost is z'Hz + ...). Skipped for a linear time-invariant model
    /// once done, since nothing it depends on changes.
    pub fn condense(&mut self, layout: &Layout, spec: &OcpSpec<NX, NU>) {
        if self.lin.lti && self.values.p_handed_over() {
            self.values.p_changed = false;
            return;
        }
        let n = layout.horizon;
        let (a, b) = (&self.lin.a, &self.lin.b);
        // G row by row: row k + 1 is A_k times row k, then B_k. The rows lie
        // one after the other, so each is read and written in order with
        // A_k loaded once.
        for k in 0..n {
            let start = g_index(k + 1, 0);
            let (done, rest) = self.g.split_at_mut(start);
            let row = &mut rest[..=k];
            let ak = &a[k];
            if NX <= PLAIN_PRODUCT_MAX_NX {
                for (out, previous) in row.iter_mut().zip(&done[start - k..]) {
                    *out = ak * previous;
                }
            } else {
                let spans = column_spans(ak);
                for (out, previous) in row.iter_mut().zip(&done[start - k..]) {
                    *out = times_by_spans(ak, &spans, previous);
                }
            }
            row[k] = b[k];
        }
        // S_{i+1}, the Hessian of the cost from node i+1 on with respect to
        // the state there: S_N = Q_N, S_i = Q + A_i' S_{i+1} A_i. Then
        // H_{i,j} = B_i' S_{i+1} G_{i+1,j} (G_{i+1,i} = B_i) and
        // H_{i,i} gets R: O(N NX^3 + N^2 NX NU^2) on top of the G blocks,
        // instead of an NX x NX product for every (i, j). G's row i + 1 is
        // contiguous, and so is column c of P's upper triangle (rows 0..=c).
        let q = Weight::new(&spec.q);
        let mut s = spec.q_terminal;
        for i in (0..n).rev() {
            let m = b[i].transpose() * s;
            let g_row = &self.g[g_index(i + 1, 0)..=g_index(i + 1, i)];
            for (j, g) in g_row.iter().enumerate() {
                let mut h = m * g;
                if j == i {
                    h += spec.r;
                }
                for ia in 0..NU {
                    // Entry (i NU + ia, j NU + jb) of H lies at or below
                    // the diagonal; its mirror is row j NU + jb of column
                    // c = i NU + ia, whose rows start at p_index(0, c).
                    let c = i * NU + ia;
                    let at = layout.p_index(0, c) + j * NU;
                    let last = if j == i { ia } else { NU - 1 };
                    for jb in 0..=last {
                        self.values.p[at + jb] = 2.0 * h[(ia, jb)];
                    }
                }
            }
            if i > 0 {
                s = q.plus(&sandwich(&a[i], &s));
            }
        }
        let first = layout.n_inputs() * (layout.n_inputs() + 1) / 2;
        layout.fill_slack_diagonal(&mut self.values.p[first..]);
        self.values.commit_p();
    }

    /// Values of `A`: identity on the inputs, `J_{k,r} G_{k,j}` on the
    /// constraint rows, each slack's sign in its row and 1 in its own.
    pub fn fill_constraint_matrix(&mut self, layout: &Layout, rows: &[ConstraintRow<NX>]) {
        let n = layout.horizon;
        let per = layout.rows_per_node;
        for j in 0..n {
            for i in 0..NU {
                let mut at = layout.a_input_column(j, i);
                self.values.a[at] = 1.0;
                at += 1;
                for k in j + 1..=n {
                    let column = self.g[g_index(k, j)].column(i);
                    for row in &rows[(k - 1) * per..k * per] {
                        self.values.a[at] = row.gradient.dot(&column);
                        at += 1;
                    }
                }
            }
        }
        let first = layout.a_input_column(n, 0);
        layout.fill_slack_columns(&mut self.values.a[first..]);
        self.values.commit_a();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The span product is the dense one bit for bit, on a matrix with unit
    /// and zero columns and gaps inside spans.
    #[test]
    fn span_product_is_the_dense_product() {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % 2001) as f64 / 1000.0 - 1.0 + 1e-3 * (seed % 7) as f64
        };
        for _ in 0..50 {
            let mut a = SMatrix::<f64, 13, 13>::from_fn(|_, _| next());
            for k in 0..3 {
                a.set_column(k, &SVector::<f64, 13>::from_fn(|i, _| f64::from(i == k)));
            }
            a.column_mut(5).fill(0.0);
            for i in 3..7 {
                a[(i, 8)] = 0.0;
                a[(12, i)] = 0.0;
            }
            let m = SMatrix::<f64, 13, 4>::from_fn(|_, _| next());
            let spans = column_spans(&a);
            assert_eq!(spans[0], (0, 1));
            assert_eq!(spans[5], (0, 0));
            assert_eq!(times_by_spans(&a, &spans, &m), a * m);
        }
    }
}
