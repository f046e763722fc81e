//! OSQP 0.6's Ruiz equilibration (`scale_data`), the same operations in
//! the same order, with the passes over `P` and `A` fused: 2 over `P` and
//! 1 over `A` per iteration instead of 5 and 4. `osqp_update_P_A`
//! recomputes the scaling at every matrix update; on P1 in blocks at N =
//! 320 that was 17% of the step's instructions (`scale_data` and
//! `unscale_data`). The result is bit for bit OSQP's: each value goes
//! through the same roundings (`(x D_i) D_j`, then `x c`), norms are
//! maxima (exact), and the mean of the column norms is summed in OSQP's
//! order (docs/performance.md, "Linear in the horizon, session 13").

const MIN_SCALING: f64 = 1e-4;
const MAX_SCALING: f64 = 1e4;

/// A matrix in compressed-column form, values mutable.
pub(crate) struct CscMut<'a> {
    pub indptr: &'a [i64],
    pub indices: &'a [i64],
    pub values: &'a mut [f64],
}

impl CscMut<'_> {
    fn columns(&self) -> usize {
        self.indptr.len() - 1
    }

    /// Column `j`'s row indices and values.
    fn column(&mut self, j: usize) -> (&[i64], &mut [f64]) {
        let (a, b) = (self.indptr[j] as usize, self.indptr[j + 1] as usize);
        (&self.indices[a..b], &mut self.values[a..b])
    }
}

/// The scaling OSQP keeps: `P~ = c D P D`, `q~ = c D q`, `A~ = E A D`,
/// `l~ = E l`, `u~ = E u`.
pub(crate) struct Scaling<'a> {
    pub d: &'a mut [f64],
    pub d_inv: &'a mut [f64],
    pub e: &'a mut [f64],
    pub e_inv: &'a mut [f64],
    pub c: &'a mut f64,
    pub c_inv: &'a mut f64,
}

/// Work vectors, allocated once: four of `n`, two of `m`.
#[derive(Debug)]
pub(crate) struct RuizScratch {
    dt: Vec<f64>,
    dta: Vec<f64>,
    cost_norms: Vec<f64>,
    et: Vec<f64>,
    et_next: Vec<f64>,
}

impl RuizScratch {
    pub fn new(n: usize, m: usize) -> Self {
        Self {
            dt: vec![0.0; n],
            dta: vec![0.0; n],
            cost_norms: vec![0.0; n],
            et: vec![0.0; m],
            et_next: vec![0.0; m],
        }
    }
}

/// OSQP's `c_max(a, b)`.
fn c_max(a: f64, b: f64) -> f64 {
    if a > b {
        a
    } else {
        b
    }
}

fn limit_scaling(v: f64) -> f64 {
    let v = if v < MIN_SCALING { 1.0 } else { v };
    if v > MAX_SCALING {
        MAX_SCALING
    } else {
        v
    }
}

/// Column norms of the symmetric matrix whose upper triangle is `p`.
fn sym_triu_norms(p: &CscMut, out: &mut [f64]) {
    out.fill(0.0);
    for j in 0..p.columns() {
        for at in p.indptr[j] as usize..p.indptr[j + 1] as usize {
            let i = p.indices[at] as usize;
            let x = p.values[at].abs();
            out[j] = c_max(x, out[j]);
            if i != j {
                out[i] = c_max(x, out[i]);
            }
        }
    }
}

/// Column and row norms of `a`.
fn norms(a: &CscMut, cols: &mut [f64], rows: &mut [f64]) {
    rows.fill(0.0);
    for (j, col) in cols.iter_mut().enumerate() {
        let mut max = 0.0;
        for at in a.indptr[j] as usize..a.indptr[j + 1] as usize {
            let x = a.values[at].abs();
            max = c_max(x, max);
            let r = a.indices[at] as usize;
            rows[r] = c_max(x, rows[r]);
        }
        *col = max;
    }
}

/// `osqp_update_P_A`'s unscaling of `q`, `l`, `u` under the old scaling,
/// then `scale_data` with `iterations` Ruiz iterations on the new `P` and
/// `A` (unscaled, in place) and on `q`, `l`, `u`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn rescale(
    iterations: u32,
    p: &mut CscMut,
    a: &mut CscMut,
    q: &mut [f64],
    l: &mut [f64],
    u: &mut [f64],
    s: &mut Scaling,
    w: &mut RuizScratch,
) {
    let (n, m) = (q.len(), l.len());
    // unscale_data (P and A are replaced, so only the vectors).
    for (qi, di) in q.iter_mut().zip(s.d_inv.iter()) {
        *qi *= *s.c_inv;
        *qi *= di;
    }
    for r in 0..m {
        l[r] *= s.e_inv[r];
        u[r] *= s.e_inv[r];
    }
    *s.c = 1.0;
    s.d.fill(1.0);
    s.d_inv.fill(1.0);
    s.e.fill(1.0);
    s.e_inv.fill(1.0);
    if iterations > 0 {
        sym_triu_norms(p, &mut w.dt);
        norms(a, &mut w.dta, &mut w.et);
    }
    for it in 0..iterations {
        let last = it + 1 == iterations;
        for j in 0..n {
            let v = limit_scaling(c_max(w.dt[j], w.dta[j]));
            w.dt[j] = 1.0 / v.sqrt();
        }
        for e in w.et.iter_mut() {
            *e = 1.0 / limit_scaling(*e).sqrt();
        }
        // P <- D P D, and its column norms for the cost normalisation.
        w.cost_norms.fill(0.0);
        for j in 0..n {
            let dj = w.dt[j];
            let (rows, vals) = p.column(j);
            let mut max = 0.0;
            for (&i, v) in rows.iter().zip(vals.iter_mut()) {
                let i = i as usize;
                let x = *v * w.dt[i] * dj;
                *v = x;
                let x = x.abs();
                max = c_max(x, max);
                if i != j {
                    w.cost_norms[i] = c_max(x, w.cost_norms[i]);
                }
            }
            // Entries above the diagonal came first: row j's entries
            // (columns past j) come later and take the max there.
            w.cost_norms[j] = c_max(max, w.cost_norms[j]);
        }
        // A <- E A D, and its norms for the next iteration (the cost
        // normalisation does not touch A).
        w.et_next.fill(0.0);
        for j in 0..n {
            let dj = w.dt[j];
            let (rows, vals) = a.column(j);
            let mut max = 0.0;
            for (&r, v) in rows.iter().zip(vals.iter_mut()) {
                let r = r as usize;
                let x = *v * w.et[r] * dj;
                *v = x;
                let x = x.abs();
                max = c_max(x, max);
                w.et_next[r] = c_max(x, w.et_next[r]);
            }
            w.dta[j] = max;
        }
        for j in 0..n {
            q[j] *= w.dt[j];
            s.d[j] *= w.dt[j];
        }
        for r in 0..m {
            s.e[r] *= w.et[r];
        }
        std::mem::swap(&mut w.et, &mut w.et_next);
        // Cost normalisation.
        let mut mean = 0.0;
        for v in &w.cost_norms {
            mean += v;
        }
        mean /= n as f64;
        let norm_q = limit_scaling(q.iter().fold(0.0, |acc, v| c_max(v.abs(), acc)));
        let c_temp = 1.0 / limit_scaling(c_max(mean, norm_q));
        // P <- c P, and its column norms for the next iteration.
        if !last {
            w.dt.fill(0.0);
        }
        if last {
            for v in p.values.iter_mut() {
                *v *= c_temp;
            }
        } else {
            for j in 0..n {
                let (rows, vals) = p.column(j);
                let mut max = 0.0;
                for (&i, v) in rows.iter().zip(vals.iter_mut()) {
                    let i = i as usize;
                    let x = *v * c_temp;
                    *v = x;
                    let x = x.abs();
                    max = c_max(x, max);
                    if i != j {
                        w.dt[i] = c_max(x, w.dt[i]);
                    }
                }
                w.dt[j] = c_max(max, w.dt[j]);
            }
        }
        for v in q.iter_mut() {
            *v *= c_temp;
        }
        *s.c *= c_temp;
    }
    *s.c_inv = 1.0 / *s.c;
    for j in 0..n {
        s.d_inv[j] = 1.0 / s.d[j];
    }
    for r in 0..m {
        s.e_inv[r] = 1.0 / s.e[r];
        l[r] *= s.e[r];
        u[r] *= s.e[r];
    }
}

/// The kept scaling applied to new (unscaled) `P` and `A` in place.
pub(crate) fn apply(p: &mut CscMut, a: &mut CscMut, s: &Scaling) {
    for j in 0..p.columns() {
        for at in p.indptr[j] as usize..p.indptr[j + 1] as usize {
            let i = p.indices[at] as usize;
            p.values[at] = *s.c * (p.values[at] * s.d[i] * s.d[j]);
        }
    }
    for j in 0..a.columns() {
        for at in a.indptr[j] as usize..a.indptr[j + 1] as usize {
            let r = a.indices[at] as usize;
            a.values[at] = a.values[at] * s.e[r] * s.d[j];
        }
    }
}
