//! The dense backend's linear system `K = P + sigma I + A' diag(rho) A`,
//! factorised with its diagonal variables eliminated first.
//!
//! A soft row's slack has a diagonal `P` entry, its own bound row and one
//! row it shares with the inputs: its column of `K` couples it to the
//! inputs of that row only. Eliminating such variables (a Schur complement
//! onto the others, the "dense" ones) leaves a Cholesky of the inputs'
//! block alone: on the flagship 80 variables instead of 120, a third of the
//! arithmetic, and each elimination folds into its row's weight
//! (`rho - rho^2 a_s^2 / d_s`), so the complement costs no more to build
//! than the block. The factor is stored by rows, so that both the
//! factorisation and the forward sweep run on contiguous dot products.

use crate::qp::QpError;

/// A variable eliminated onto the dense ones.
#[derive(Debug, Clone, Copy)]
struct Eliminated {
    var: usize,
    /// Its `P` diagonal's index into `P`'s values, if stored.
    p_diag: Option<usize>,
    /// The one row it shares with dense variables: (row, index of its
    /// entry in `A`'s values).
    mixed: Option<(usize, usize)>,
}

/// `K`'s partition and factor; everything allocated in [`Self::new`].
#[derive(Debug, Clone)]
pub(crate) struct ReducedSystem {
    /// Dense position of each variable, `usize::MAX` for an eliminated one.
    dense_of: Vec<usize>,
    dense_vars: Vec<usize>,
    eliminated: Vec<Eliminated>,
    /// Per row of `A`: its entries on dense variables (dense position,
    /// index into `A`'s values), and its eliminated entry if any.
    row_ptr: Vec<usize>,
    row_dense: Vec<(usize, usize)>,
    row_elim: Vec<Option<(usize, usize)>>,
    /// `K`'s diagonal on the eliminated variables.
    pivots: Vec<f64>,
    /// Per row: the weight of its dense part in the complement.
    weights: Vec<f64>,
    /// The complement's Cholesky factor `L`, row-major `nd x nd`.
    l: Vec<f64>,
    /// `1 / L_ii`: multiplications instead of divisions.
    inv_diag: Vec<f64>,
    /// Per dense variable: the first dense position of its `P` column when
    /// the column's rows are the dense positions from there to its own (a
    /// condensed Hessian's upper triangle), so that it is one slice add.
    p_run: Vec<Option<usize>>,
    /// `row_dense`'s values, gathered by `factor` (contiguous per row).
    row_vals: Vec<f64>,
    /// Per row: its first dense position when its dense positions are
    /// one run (a condensed row's), so that `solve` works on slices.
    row_run: Vec<Option<usize>>,
    /// The dense part of a right-hand side.
    work: Vec<f64>,
}

impl ReducedSystem {
    /// The partition for `P`'s pattern (upper triangle, compressed
    /// columns) and `A`'s rows (`(column, value index)` per row).
    pub fn new(
        n: usize,
        p_indptr: &[usize],
        p_indices: &[usize],
        a_row_ptr: &[usize],
        a_row_entries: &[(usize, usize)],
    ) -> Self {
        let m = a_row_ptr.len() - 1;
        let mut coupled = vec![false; n];
        let mut p_diag = vec![None; n];
        for c in 0..n {
            for at in p_indptr[c]..p_indptr[c + 1] {
                let r = p_indices[at];
                if r == c {
                    p_diag[c] = Some(at);
                } else {
                    coupled[r] = true;
                    coupled[c] = true;
                }
            }
        }
        let mut rows_of = vec![Vec::new(); n];
        for r in 0..m {
            for &(c, at) in &a_row_entries[a_row_ptr[r]..a_row_ptr[r + 1]] {
                rows_of[c].push((r, at));
            }
        }
        let row_len = |r: usize| a_row_ptr[r + 1] - a_row_ptr[r];
        // Greedy: a variable is eliminated when `P` does not couple it, it
        // shares at most one row with others, and no row of its holds an
        // eliminated variable already (so the eliminated block is diagonal).
        let mut row_taken = vec![false; m];
        let mut eliminated = Vec::new();
        let mut dense_of = vec![usize::MAX; n];
        let mut dense_vars = Vec::new();
        for v in 0..n {
            let rows = &rows_of[v];
            let mixed: Vec<_> = rows.iter().filter(|(r, _)| row_len(*r) > 1).collect();
            if !coupled[v] && mixed.len() <= 1 && rows.iter().all(|(r, _)| !row_taken[*r]) {
                for (r, _) in rows {
                    row_taken[*r] = true;
                }
                eliminated.push(Eliminated {
                    var: v,
                    p_diag: p_diag[v],
                    mixed: mixed.first().map(|&&e| e),
                });
            } else {
                dense_of[v] = dense_vars.len();
                dense_vars.push(v);
            }
        }
        let mut elim_of = vec![usize::MAX; n];
        for (e, el) in eliminated.iter().enumerate() {
            elim_of[el.var] = e;
        }
        let mut row_ptr = vec![0; m + 1];
        let mut row_dense = Vec::new();
        let mut row_elim = vec![None; m];
        for r in 0..m {
            for &(c, at) in &a_row_entries[a_row_ptr[r]..a_row_ptr[r + 1]] {
                if dense_of[c] != usize::MAX {
                    row_dense.push((dense_of[c], at));
                } else {
                    row_elim[r] = Some((elim_of[c], at));
                }
            }
            row_ptr[r + 1] = row_dense.len();
        }
        let nd = dense_vars.len();
        let row_run = (0..m)
            .map(|r| {
                let entries = &row_dense[row_ptr[r]..row_ptr[r + 1]];
                let first = entries.first()?.0;
                (entries.last()?.0 == first + entries.len() - 1).then_some(first)
            })
            .collect();
        let p_run = dense_vars
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let rows = &p_indices[p_indptr[v]..p_indptr[v + 1]];
                let first = dense_of[*rows.first()?];
                let run = first != usize::MAX
                    && first + rows.len() == i + 1
                    && rows
                        .iter()
                        .enumerate()
                        .all(|(t, &r)| dense_of[r] == first + t);
                run.then_some(first)
            })
            .collect();
        Self {
            p_run,
            dense_of,
            dense_vars,
            pivots: vec![0.0; eliminated.len()],
            eliminated,
            row_ptr,
            row_vals: vec![0.0; row_dense.len()],
            row_dense,
            row_elim,
            weights: vec![0.0; m],
            l: vec![0.0; nd * nd],
            inv_diag: vec![0.0; nd],
            row_run,
            work: vec![0.0; nd],
        }
    }

    /// How many variables the Cholesky factor covers.
    #[cfg(test)]
    pub fn dense_len(&self) -> usize {
        self.dense_vars.len()
    }

    /// Assembles and factorises `K` for `P`'s and `A`'s values. A pivot
    /// that is not positive and finite is an error (the factor is then
    /// unusable until the next success).
    pub fn factor(
        &mut self,
        p: (&[usize], &[usize], &[f64]),
        a_values: &[f64],
        rho: &[f64],
        sigma: f64,
    ) -> Result<(), QpError> {
        let (p_indptr, p_indices, p_values) = p;
        for (d, e) in self.pivots.iter_mut().zip(&self.eliminated) {
            *d = sigma + e.p_diag.map_or(0.0, |at| p_values[at]);
        }
        for (r, elim) in self.row_elim.iter().enumerate() {
            if let Some((e, at)) = *elim {
                self.pivots[e] += rho[r] * a_values[at] * a_values[at];
            }
        }
        if !self.pivots.iter().all(|d| d.is_finite() && *d > 0.0) {
            return Err(QpError);
        }
        self.weights.copy_from_slice(rho);
        for (e, el) in self.eliminated.iter().enumerate() {
            if let Some((r, at)) = el.mixed {
                let ra = rho[r] * a_values[at];
                self.weights[r] -= ra * ra / self.pivots[e];
            }
        }
        let nd = self.dense_vars.len();
        let k = &mut self.l;
        for (i, &v) in self.dense_vars.iter().enumerate() {
            // Only the lower triangle is read.
            k[i * nd..i * nd + i].fill(0.0);
            k[i * nd + i] = sigma;
            if let Some(first) = self.p_run[i] {
                let values = &p_values[p_indptr[v]..p_indptr[v + 1]];
                for (kij, p) in k[i * nd + first..=i * nd + i].iter_mut().zip(values) {
                    *kij += p;
                }
                continue;
            }
            // `P`'s upper column `v` is `K`'s lower row of `v`'s position.
            for at in p_indptr[v]..p_indptr[v + 1] {
                let j = self.dense_of[p_indices[at]];
                if j != usize::MAX {
                    let (hi, lo) = if i >= j { (i, j) } else { (j, i) };
                    k[hi * nd + lo] += p_values[at];
                }
            }
        }
        for (v, &(_, at)) in self.row_vals.iter_mut().zip(&self.row_dense) {
            *v = a_values[at];
        }
        let m = self.weights.len();
        let mut r = 0;
        while r < m {
            let entries = &self.row_dense[self.row_ptr[r]..self.row_ptr[r + 1]];
            let Some(&(first, _)) = entries.first() else {
                r += 1;
                continue;
            };
            // A row's dense positions increase (`new`); a condensed row
            // covers a run of them, whose products are one slice update.
            let contiguous = self.row_run[r].is_some();
            let vals = &self.row_vals[self.row_ptr[r]..self.row_ptr[r + 1]];
            let w = self.weights[r];
            // The next row over the same run (a node's keep-out rows): both
            // in one pass over `K`, each entry still adding row `r`'s term
            // first, so the sums are the row-by-row ones bit for bit.
            let twin = contiguous
                && r + 1 < m
                && self.row_run[r + 1] == Some(first)
                && self.row_ptr[r + 2] - self.row_ptr[r + 1] == entries.len();
            if twin {
                let vals2 = &self.row_vals[self.row_ptr[r + 1]..self.row_ptr[r + 2]];
                let w2 = self.weights[r + 1];
                for x in 0..entries.len() {
                    let (wi, wi2) = (w * vals[x], w2 * vals2[x]);
                    let i = first + x;
                    let row = &mut k[i * nd + first..i * nd + i + 1];
                    for ((kij, aj), bj) in row.iter_mut().zip(&vals[..=x]).zip(&vals2[..=x]) {
                        *kij = *kij + wi * aj + wi2 * bj;
                    }
                }
                r += 2;
                continue;
            }
            for (x, &(i, _)) in entries.iter().enumerate() {
                let wi = w * vals[x];
                let row = &mut k[i * nd..i * nd + i + 1];
                if contiguous {
                    for (kij, aj) in row[first..].iter_mut().zip(&vals[..=x]) {
                        *kij += wi * aj;
                    }
                } else {
                    for (&(j, _), aj) in entries[..=x].iter().zip(&vals[..=x]) {
                        row[j] += wi * aj;
                    }
                }
            }
            r += 1;
        }
        cholesky_rows(k, nd, &mut self.inv_diag)
    }

    /// Solves `K x = b` in place with the last factor (made with the same
    /// `a_values` and `rho`: the rows' values are the factor's copies).
    pub fn solve(&mut self, a_values: &[f64], rho: &[f64], b: &mut [f64]) {
        for (w, &v) in self.work.iter_mut().zip(&self.dense_vars) {
            *w = b[v];
        }
        // The complement's right-hand side: b_D - K_DS D^-1 b_S.
        for (e, el) in self.eliminated.iter().enumerate() {
            if let Some((r, at)) = el.mixed {
                let t = rho[r] * a_values[at] * b[el.var] / self.pivots[e];
                let vals = &self.row_vals[self.row_ptr[r]..self.row_ptr[r + 1]];
                if let Some(first) = self.row_run[r] {
                    for (w, v) in self.work[first..first + vals.len()].iter_mut().zip(vals) {
                        *w -= v * t;
                    }
                } else {
                    let entries = &self.row_dense[self.row_ptr[r]..self.row_ptr[r + 1]];
                    for (&(i, _), v) in entries.iter().zip(vals) {
                        self.work[i] -= v * t;
                    }
                }
            }
        }
        solve_rows(&self.l, &self.inv_diag, &mut self.work);
        for (e, el) in self.eliminated.iter().enumerate() {
            let mut rhs = b[el.var];
            if let Some((r, at)) = el.mixed {
                let vals = &self.row_vals[self.row_ptr[r]..self.row_ptr[r + 1]];
                let ax: f64 = if let Some(first) = self.row_run[r] {
                    let work = &self.work[first..first + vals.len()];
                    vals.iter().zip(work).map(|(v, w)| v * w).sum()
                } else {
                    let entries = &self.row_dense[self.row_ptr[r]..self.row_ptr[r + 1]];
                    entries
                        .iter()
                        .zip(vals)
                        .map(|(&(i, _), v)| v * self.work[i])
                        .sum()
                };
                rhs -= rho[r] * a_values[at] * ax;
            }
            b[el.var] = rhs / self.pivots[e];
        }
        for (w, &v) in self.work.iter().zip(&self.dense_vars) {
            b[v] = *w;
        }
    }
}

/// Cholesky in place of the row-major lower triangle of `k` (`n x n`):
/// `L_ij = (K_ij - L_i. L_j.) / L_jj` over contiguous row prefixes. Four
/// columns `j` at a time share the loads of row `i`'s prefix
/// ([`dot4`]); each `L_ij` is summed exactly as [`dot`] sums it.
pub(crate) fn cholesky_rows(k: &mut [f64], n: usize, inv_diag: &mut [f64]) -> Result<(), QpError> {
    for i in 0..n {
        let (done, rest) = k.split_at_mut(i * n);
        let row_i = &mut rest[..n];
        let mut j0 = 0;
        while j0 + 4 <= i {
            let rows = [0, 1, 2, 3].map(|t| &done[(j0 + t) * n..(j0 + t) * n + j0 + t]);
            let sums = dot4(&row_i[..j0], rows.map(|r| &r[..j0]));
            for t in 0..4 {
                let j = j0 + t;
                let tail = tail_dot(&row_i[j0..j], &rows[t][j0..j]);
                let s = row_i[j] - (lanes_total(sums[t]) + tail);
                row_i[j] = s * inv_diag[j];
            }
            j0 += 4;
        }
        for j in j0..i {
            let s = row_i[j] - dot(&row_i[..j], &done[j * n..j * n + j]);
            row_i[j] = s * inv_diag[j];
        }
        let d = row_i[i] - dot(&row_i[..i], &row_i[..i]);
        if !(d.is_finite() && d > 0.0) {
            return Err(QpError);
        }
        row_i[i] = d.sqrt();
        inv_diag[i] = 1.0 / row_i[i];
    }
    Ok(())
}

/// Solves `L L' x = b` in place, `L` row-major: the forward sweep by row
/// dot products (four rows sharing the loads of `b`, each summed as
/// [`dot`] sums it), the backward one by row updates (two rows per pass
/// over `b`, each entry subtracting the higher row's term first).
pub(crate) fn solve_rows(l: &[f64], inv_diag: &[f64], b: &mut [f64]) {
    let n = inv_diag.len();
    let mut i0 = 0;
    while i0 + 4 <= n {
        let rows = [0, 1, 2, 3].map(|t| &l[(i0 + t) * n..(i0 + t) * n + i0 + t]);
        let sums = dot4(&b[..i0], rows.map(|r| &r[..i0]));
        for t in 0..4 {
            let i = i0 + t;
            let tail = tail_dot(&rows[t][i0..i], &b[i0..i]);
            b[i] = (b[i] - (lanes_total(sums[t]) + tail)) * inv_diag[i];
        }
        i0 += 4;
    }
    for i in i0..n {
        b[i] = (b[i] - dot(&l[i * n..i * n + i], &b[..i])) * inv_diag[i];
    }
    let mut i = n;
    while i >= 2 {
        let (hi, lo) = (i - 1, i - 2);
        let xh = b[hi] * inv_diag[hi];
        b[hi] = xh;
        b[lo] -= l[hi * n + lo] * xh;
        let xl = b[lo] * inv_diag[lo];
        b[lo] = xl;
        let (row_h, row_l) = (&l[hi * n..hi * n + lo], &l[lo * n..lo * n + lo]);
        for ((bj, lh), ll) in b[..lo].iter_mut().zip(row_h).zip(row_l) {
            *bj = *bj - lh * xh - ll * xl;
        }
        i -= 2;
    }
    if i == 1 {
        b[0] *= inv_diag[0];
    }
}

/// `x'y` in four independent sums, which the compiler can keep in vector
/// registers (one running sum is a chain of dependent additions).
pub(crate) fn dot(x: &[f64], y: &[f64]) -> f64 {
    let mut sums = [0.0; 4];
    let (xc, yc) = (x.chunks_exact(4), y.chunks_exact(4));
    let tail = tail_dot(xc.remainder(), yc.remainder());
    for (a, b) in xc.zip(yc) {
        for k in 0..4 {
            sums[k] += a[k] * b[k];
        }
    }
    lanes_total(sums) + tail
}

/// The last `len % 4` products of [`dot`], summed in order.
fn tail_dot(x: &[f64], y: &[f64]) -> f64 {
    x.iter().zip(y).map(|(a, b)| a * b).sum()
}

fn lanes_total(sums: [f64; 4]) -> f64 {
    (sums[0] + sums[1]) + (sums[2] + sums[3])
}

/// [`dot`]'s four lane sums of `x` against four rows at once, for a
/// length that is a multiple of 4 (no tail).
#[inline(always)]
fn dot4(x: &[f64], ys: [&[f64]; 4]) -> [[f64; 4]; 4] {
    let mut s = [[0.0; 4]; 4];
    let [y0, y1, y2, y3] = ys.map(|y| y.chunks_exact(4));
    for ((((a, b0), b1), b2), b3) in x.chunks_exact(4).zip(y0).zip(y1).zip(y2).zip(y3) {
        for k in 0..4 {
            s[0][k] += a[k] * b0[k];
            s[1][k] += a[k] * b1[k];
            s[2][k] += a[k] * b2[k];
            s[3][k] += a[k] * b3[k];
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `K x` computed densely from `P` (upper, by columns) and `A` (rows).
    #[allow(clippy::too_many_arguments)]
    fn k_times(
        n: usize,
        p: (&[usize], &[usize], &[f64]),
        a_row_ptr: &[usize],
        a_entries: &[(usize, usize)],
        a_values: &[f64],
        rho: &[f64],
        sigma: f64,
        x: &[f64],
    ) -> Vec<f64> {
        let mut out: Vec<f64> = x.iter().map(|v| sigma * v).collect();
        for c in 0..n {
            for at in p.0[c]..p.0[c + 1] {
                let r = p.1[at];
                out[r] += p.2[at] * x[c];
                if r != c {
                    out[c] += p.2[at] * x[r];
                }
            }
        }
        for r in 0..a_row_ptr.len() - 1 {
            let row = &a_entries[a_row_ptr[r]..a_row_ptr[r + 1]];
            let ax: f64 = row.iter().map(|&(c, at)| a_values[at] * x[c]).sum();
            for &(c, at) in row {
                out[c] += rho[r] * a_values[at] * ax;
            }
        }
        out
    }

    /// Two inputs with a dense `P`, two slacks with diagonal `P`, input
    /// box rows, two soft rows (inputs + one slack each) and slack rows:
    /// the slacks are eliminated and `K x = b` is solved exactly.
    #[test]
    fn the_slacks_are_eliminated_and_the_system_is_solved() {
        let n = 4;
        // P upper by columns: (0,0) (0,1) (1,1) (2,2) (3,3).
        let p_indptr = [0, 1, 3, 4, 5];
        let p_indices = [0, 0, 1, 2, 3];
        let p_values = [4.0, 1.0, 3.0, 0.5, 0.0];
        // Rows: u0 | u1 | 2 u0 - u1 + s0 | -u0 + 3 u1 + s1 | s0 | s1.
        let a_row_ptr = [0, 1, 2, 5, 8, 9, 10];
        let a_entries = [
            (0, 0),
            (1, 1),
            (0, 2),
            (1, 3),
            (2, 4),
            (0, 5),
            (1, 6),
            (3, 7),
            (2, 8),
            (3, 9),
        ];
        let a_values = [1.0, 1.0, 2.0, -1.0, 1.0, -1.0, 3.0, 1.0, 1.0, 1.0];
        let rho = [0.1, 0.1, 0.7, 0.2, 0.1, 1e-6];
        let sigma = 1e-6;
        let mut k = ReducedSystem::new(n, &p_indptr, &p_indices, &a_row_ptr, &a_entries);
        assert_eq!(k.dense_len(), 2);
        let p = (&p_indptr[..], &p_indices[..], &p_values[..]);
        k.factor(p, &a_values, &rho, sigma).unwrap();
        let x = [0.3, -1.2, 2.0, -0.7];
        let mut b = k_times(n, p, &a_row_ptr, &a_entries, &a_values, &rho, sigma, &x);
        k.solve(&a_values, &rho, &mut b);
        for (got, want) in b.iter().zip(&x) {
            assert!((got - want).abs() < 1e-9, "{b:?} against {x:?}");
        }
    }

    /// A row over non-adjacent variables (`u0 + 2 u2 + s`) takes the
    /// general assembly path; the slack is still eliminated.
    #[test]
    fn a_row_with_gaps_is_assembled_entry_by_entry() {
        let n = 4;
        // The inputs coupled by a dense block of `P`, the slack alone.
        let p_indptr = [0, 1, 3, 6, 7];
        let p_indices = [0, 0, 1, 0, 1, 2, 3];
        let p_values = [4.0, 1.0, 4.0, 0.5, 1.0, 5.0, 0.1];
        // Rows: u0 + 2 u2 + s | u1 - u2 | s.
        let a_row_ptr = [0, 3, 5, 6];
        let a_entries = [(0, 0), (2, 1), (3, 2), (1, 3), (2, 4), (3, 5)];
        let a_values = [1.0, 2.0, 1.0, 1.0, -1.0, 1.0];
        let rho = [0.4, 0.3, 0.1];
        let mut k = ReducedSystem::new(n, &p_indptr, &p_indices, &a_row_ptr, &a_entries);
        assert_eq!(k.dense_len(), 3);
        let p = (&p_indptr[..], &p_indices[..], &p_values[..]);
        k.factor(p, &a_values, &rho, 1e-6).unwrap();
        let x = [1.5, -0.25, 0.75, 3.0];
        let mut b = k_times(n, p, &a_row_ptr, &a_entries, &a_values, &rho, 1e-6, &x);
        k.solve(&a_values, &rho, &mut b);
        for (got, want) in b.iter().zip(&x) {
            assert!((got - want).abs() < 1e-9, "{b:?} against {x:?}");
        }
    }

    /// The blocked kernels against the one-column-at-a-time ones they
    /// replaced: the same factor and solution bit for bit, for every size
    /// around the blocks' multiples of 4.
    #[test]
    fn blocked_kernels_sum_as_the_plain_ones() {
        fn plain_cholesky(k: &mut [f64], n: usize, inv_diag: &mut [f64]) {
            for i in 0..n {
                let (done, rest) = k.split_at_mut(i * n);
                let row_i = &mut rest[..n];
                for j in 0..i {
                    let s = row_i[j] - dot(&row_i[..j], &done[j * n..j * n + j]);
                    row_i[j] = s * inv_diag[j];
                }
                row_i[i] = (row_i[i] - dot(&row_i[..i], &row_i[..i])).sqrt();
                inv_diag[i] = 1.0 / row_i[i];
            }
        }
        fn plain_solve(l: &[f64], inv_diag: &[f64], b: &mut [f64]) {
            let n = inv_diag.len();
            for i in 0..n {
                b[i] = (b[i] - dot(&l[i * n..i * n + i], &b[..i])) * inv_diag[i];
            }
            for i in (0..n).rev() {
                let xi = b[i] * inv_diag[i];
                b[i] = xi;
                for (bj, lij) in b[..i].iter_mut().zip(&l[i * n..i * n + i]) {
                    *bj -= lij * xi;
                }
            }
        }
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % 20001) as f64 / 10000.0 - 1.0
        };
        for n in (1..=13).chain([80, 81]) {
            // M M' + n I: well conditioned, every entry inexact in binary.
            let m: Vec<f64> = (0..n * n).map(|_| next()).collect();
            let mut k = vec![0.0; n * n];
            for i in 0..n {
                for j in 0..=i {
                    let v = dot(&m[i * n..i * n + n], &m[j * n..j * n + n]);
                    k[i * n + j] = v + if i == j { n as f64 } else { 0.0 };
                }
            }
            let (mut blocked, mut plain) = (k.clone(), k);
            let (mut inv_b, mut inv_p) = (vec![0.0; n], vec![0.0; n]);
            cholesky_rows(&mut blocked, n, &mut inv_b).unwrap();
            plain_cholesky(&mut plain, n, &mut inv_p);
            for i in 0..n {
                for j in 0..=i {
                    let (got, want) = (blocked[i * n + j], plain[i * n + j]);
                    assert_eq!(got.to_bits(), want.to_bits(), "n {n} L[{i}][{j}]");
                }
            }
            let b: Vec<f64> = (0..n).map(|_| next()).collect();
            let (mut x_b, mut x_p) = (b.clone(), b);
            solve_rows(&blocked, &inv_b, &mut x_b);
            plain_solve(&plain, &inv_p, &mut x_p);
            for (got, want) in x_b.iter().zip(&x_p) {
                assert_eq!(got.to_bits(), want.to_bits(), "n {n}");
            }
        }
    }

    /// Two soft rows over the same inputs (a node's keep-out rows), each
    /// with its slack: assembled in one pass, the system is still solved.
    #[test]
    fn twin_rows_are_assembled_together() {
        let n = 5;
        // Inputs u0..u2 with a dense `P`, slacks s0 and s1 on the diagonal.
        let p_indptr = [0, 1, 3, 6, 7, 8];
        let p_indices = [0, 0, 1, 0, 1, 2, 3, 4];
        let p_values = [4.0, 1.0, 4.0, 0.5, 1.0, 5.0, 0.1, 0.2];
        // Rows: u0..u2 boxes | u0 - u1 + 2 u2 + s0 | 3 u0 + u1 - u2 + s1 | s0 | s1.
        let a_row_ptr = [0, 1, 2, 3, 7, 11, 12, 13];
        let a_entries = [
            (0, 0),
            (1, 1),
            (2, 2),
            (0, 3),
            (1, 4),
            (2, 5),
            (3, 6),
            (0, 7),
            (1, 8),
            (2, 9),
            (4, 10),
            (3, 11),
            (4, 12),
        ];
        let a_values = [
            1.0, 1.0, 1.0, 1.0, -1.0, 2.0, 1.0, 3.0, 1.0, -1.0, 1.0, 1.0, 1.0,
        ];
        let rho = [0.1, 0.2, 0.3, 0.9, 0.4, 0.1, 0.05];
        let mut k = ReducedSystem::new(n, &p_indptr, &p_indices, &a_row_ptr, &a_entries);
        assert_eq!(k.dense_len(), 3);
        let p = (&p_indptr[..], &p_indices[..], &p_values[..]);
        k.factor(p, &a_values, &rho, 1e-6).unwrap();
        let x = [0.5, -1.25, 2.0, 0.75, -0.3];
        let mut b = k_times(n, p, &a_row_ptr, &a_entries, &a_values, &rho, 1e-6, &x);
        k.solve(&a_values, &rho, &mut b);
        for (got, want) in b.iter().zip(&x) {
            assert!((got - want).abs() < 1e-9, "{b:?} against {x:?}");
        }
    }

    /// A non-positive pivot (an indefinite `P`) is an error, not a NaN.
    #[test]
    fn an_indefinite_system_is_refused() {
        let (p_indptr, p_indices, p_values) = ([0, 1, 3], [0, 0, 1], [1.0, 2.0, 1.0]);
        let (a_row_ptr, a_entries, a_values) = ([0, 2], [(0, 0), (1, 1)], [1.0, 1.0]);
        let mut k = ReducedSystem::new(2, &p_indptr, &p_indices, &a_row_ptr, &a_entries);
        let p = (&p_indptr[..], &p_indices[..], &p_values[..]);
        assert!(k.factor(p, &a_values, &[1e-6], 1e-6).is_err());
    }
}
