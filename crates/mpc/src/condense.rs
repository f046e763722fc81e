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
    /// `G_{k,j}` for `1 <= k <= N`, `j < k`, block `(k - 1) k / 2 + j`
    /// of `NX x NU` column-major values: row `k`'s blocks are one
    /// `NX x k NU` column-major matrix.
    g: Vec<f64>,
    /// A row of `H` blocks, column by column (scratch).
    h_row: Vec<[f64; NU]>,
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
    // `s a` column by column with the sums in registers (`s * a`'s terms
    // in its order); nalgebra's product for small states.
    let mut sa = SMatrix::<f64, NX, NX>::zeros();
    if NX <= PLAIN_PRODUCT_MAX_NX {
        sa = s * a;
    } else {
        times_columns(s, &[true; NX], a.as_slice(), sa.as_mut_slice());
    }
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

/// Which columns of `A_k` are not all zero (only those enter `A_k G`).
fn nonzero_columns<const NX: usize>(a: &SMatrix<f64, NX, NX>) -> [bool; NX] {
    std::array::from_fn(|k| a.column(k).iter().any(|&v| v != 0.0))
}

/// `out = a m` for `m` an `NX x m` column-major matrix (a whole row of `G`
/// blocks at once: each block is `NX x NU` column-major, so consecutive
/// blocks are consecutive columns). Each output column is accumulated in
/// registers over `k` ascending, the dense product's order, so the result
/// is `a * m`'s bit for bit (a zero's sign aside).
fn times_columns<const NX: usize>(
    a: &SMatrix<f64, NX, NX>,
    nonzero: &[bool; NX],
    m: &[f64],
    out: &mut [f64],
) {
    let a = a.as_slice();
    for (column, o) in m.chunks_exact(NX).zip(out.chunks_exact_mut(NX)) {
        // All NX rows of every column that is not zero, unrolled with the
        // sums in registers: a zero entry adds nothing (`x + 0 w = x` for
        // a finite `w`, a zero's sign aside), and skipping the zeros of a
        // sparse column (the quadrotor's unit position columns) would index
        // the sums at run time, which keeps them in memory.
        let mut acc = [0.0; NX];
        for (k, _) in nonzero.iter().enumerate().filter(|(_, &n)| n) {
            let w = column[k];
            let ak: &[f64; NX] = a[k * NX..(k + 1) * NX].try_into().unwrap_or(&[0.0; NX]);
            for (acc, v) in acc.iter_mut().zip(ak) {
                *acc += v * w;
            }
        }
        o.copy_from_slice(&acc);
    }
}

/// `out[r + c rows] = (m v_c)[r]` for the `NX`-columns `v_c` of `g`: `m`'s
/// rows times each column, summed over `k` ascending (`m * g`'s order).
fn rows_times_columns<const NX: usize, const NU: usize>(
    m: &SMatrix<f64, NU, NX>,
    g: &[f64],
    out: &mut [[f64; NU]],
) {
    let m = m.as_slice();
    for (column, o) in g.chunks_exact(NX).zip(out.iter_mut()) {
        let mut acc = [0.0; NU];
        for (k, &w) in column.iter().enumerate() {
            let mk: &[f64; NU] = m[k * NU..(k + 1) * NU].try_into().unwrap_or(&[0.0; NU]);
            for (acc, v) in acc.iter_mut().zip(mk) {
                *acc += v * w;
            }
        }
        *o = acc;
    }
}

/// Up to this many states the products are nalgebra's, block by block:
/// the column kernels' bookkeeping costs more than a 4 x 4 product on P1's
/// cart-pole (its step 26.5 -> 30.1 us with the kernels). Both sum the
/// same terms in the same order.
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
            g: vec![0.0; n * (n + 1) / 2 * NX * NU],
            h_row: vec![[0.0; NU]; n * NU],
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
        let block = NX * NU;
        // G row by row: row k + 1 is A_k times row k (one NX x k NU
        // product), then B_k.
        for k in 0..n {
            let start = g_index(k + 1, 0) * block;
            let (done, rest) = self.g.split_at_mut(start);
            let row = &mut rest[..(k + 1) * block];
            let previous = &done[start - k * block..];
            if NX <= PLAIN_PRODUCT_MAX_NX {
                for (out, g) in row
                    .chunks_exact_mut(block)
                    .zip(previous.chunks_exact(block))
                {
                    let product = a[k] * SMatrix::<f64, NX, NU>::from_column_slice(g);
                    out.copy_from_slice(product.as_slice());
                }
            } else {
                times_columns(&a[k], &nonzero_columns(&a[k]), previous, row);
            }
            row[k * block..].copy_from_slice(b[k].as_slice());
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
            // B_i' S_{i+1}: row `c` of `m_t` is column `c` of the product.
            let m = if NX <= PLAIN_PRODUCT_MAX_NX {
                b[i].transpose() * s
            } else {
                let mut m_t = [[0.0; NU]; NX];
                rows_times_columns(&b[i].transpose(), s.as_slice(), &mut m_t);
                SMatrix::<f64, NU, NX>::from_fn(|r, c| m_t[c][r])
            };
            let g_row = &self.g[g_index(i + 1, 0) * block..g_index(i + 2, 0) * block];
            let h = &mut self.h_row[..(i + 1) * NU];
            if NX <= PLAIN_PRODUCT_MAX_NX {
                for (hj, g) in h.chunks_exact_mut(NU).zip(g_row.chunks_exact(block)) {
                    let product = m * SMatrix::<f64, NX, NU>::from_column_slice(g);
                    for (jb, column) in hj.iter_mut().enumerate() {
                        column.copy_from_slice(product.column(jb).as_slice());
                    }
                }
            } else {
                rows_times_columns(&m, g_row, h);
            }
            for jb in 0..NU {
                for ia in 0..NU {
                    h[i * NU + jb][ia] += spec.r[(ia, jb)];
                }
            }
            for ia in 0..NU {
                // Entry (i NU + ia, c) of H lies at or below the diagonal
                // for c <= i NU + ia; its mirror is row c of column
                // i NU + ia, whose rows start at p_index(0, i NU + ia).
                let column = i * NU + ia;
                let at = layout.p_index(0, column);
                for (p, hc) in self.values.p[at..=at + column].iter_mut().zip(h.iter()) {
                    *p = 2.0 * hc[ia];
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
                    let first = (g_index(k, j) * NU + i) * NX;
                    let column = SVector::<f64, NX>::from_column_slice(&self.g[first..first + NX]);
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

    /// The column products are the dense ones bit for bit, on a matrix
    /// with unit, single-entry, zero and dense columns (no zero's sign
    /// differs here: every sum has a term that is not zero).
    #[test]
    fn column_products_are_the_dense_products() {
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
            a.column_mut(6).fill(0.0);
            a[(9, 6)] = next();
            for i in 3..7 {
                a[(i, 8)] = 0.0;
                a[(12, i)] = 0.0;
            }
            let m = SMatrix::<f64, 13, 12>::from_fn(|_, _| next());
            let nonzero = nonzero_columns(&a);
            assert!(nonzero[0] && !nonzero[5] && nonzero[6] && nonzero[8]);
            let mut out = [0.0; 13 * 12];
            times_columns(&a, &nonzero, m.as_slice(), &mut out);
            assert_eq!(&out[..], (a * m).as_slice());

            let r = SMatrix::<f64, 4, 13>::from_fn(|_, _| next());
            let mut h = [[0.0; 4]; 12];
            rows_times_columns(&r, m.as_slice(), &mut h);
            let expect = r * m;
            for (c, hc) in h.iter().enumerate() {
                assert_eq!(hc[..], expect.column(c).as_slice()[..]);
            }
        }
    }
}
