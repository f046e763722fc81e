//! A dense ADMM backend for small QPs (`[controller.qp] solver = "dense"`).
//!
//! OSQP 0.6's algorithm, step for step (its `osqp_solve`: relaxation
//! `alpha`, `sigma`, per-row rho with equality rows at 1e3 rho and free
//! rows at 1e-6, adaptive rho from the residual ratio every
//! `adaptive_rho_interval` iterations (doubled when rho cycles:
//! `rho_schedule.rs`), termination on eps_abs / eps_rel
//! every `check_termination_every`, the 10x "inaccurate" check at the end,
//! primal and dual infeasibility certificates, rho carried from solve to
//! solve, iterates cold-started after an infeasible verdict), without Ruiz
//! scaling. What differs is the linear system: instead of OSQP's sparse
//! quasi-definite KKT system factorised by QDLDL, the reduced system
//! `(P + sigma I + A' diag(rho) A) x~ = sigma x - q + A' (rho z - y)` (the
//! KKT system with the dual block eliminated; then `z~ = A x~`), whose
//! matrix is dense for a fully condensed QP, factorised by a dense Cholesky
//! once per matrix or rho change, with the soft rows' slacks eliminated
//! first (`dense_factor.rs`). `A' diag(rho) A` is accumulated row by row,
//! so an input-box row costs one entry. Beyond OSQP: an exact
//! active-set step once ADMM is slow (`[controller.qp] polish`,
//! `polish.rs`).
//! Everything is allocated in [`DenseSolver::new`].

use std::time::Instant;

use nalgebra::DVector;

use crate::dense_factor::{dot, ReducedSystem};

mod box_qp;
mod polish;

/// A deterministic generator (splitmix64) in [-1, 1) for the backend's
/// random QPs (and the Riccati solver's): the unit tests need no crate.
#[cfg(test)]
pub(crate) mod test_rng {
    pub(crate) struct Rng(pub(crate) u64);

    impl Rng {
        pub(crate) fn uniform(&mut self) -> f64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
        }
    }
}
use crate::qp::{Csc, QpError, Solve};
use crate::report::QpStatus;
use crate::rho_schedule::RhoSchedule;
use crate::OsqpConfig;
use box_qp::BoxQp;
use polish::Polish;

/// OSQP 0.6's constants (`constants.h`).
const INFTY: f64 = 1e30;
const MIN_SCALING: f64 = 1e-4;
const DIVISION_TOL: f64 = 1.0 / INFTY;
const RHO_MIN: f64 = 1e-6;
const RHO_MAX: f64 = 1e6;
const RHO_EQ_OVER_RHO_INEQ: f64 = 1e3;
const RHO_TOL: f64 = 1e-4;
const EPS_PRIM_INF: f64 = 1e-4;
const EPS_DUAL_INF: f64 = 1e-4;
const ADAPTIVE_RHO_TOLERANCE: f64 = 5.0;
/// OSQP's interval when it is not timed: 4 termination checks, or 100
/// iterations without checks (the timed choice would not repeat).
const ADAPTIVE_RHO_MULTIPLE_TERMINATION: u32 = 4;
const ADAPTIVE_RHO_FIXED: u32 = 100;

/// OSQP's `c_max` / `c_min` (NaN-propagating the way its macros do).
fn c_max(a: f64, b: f64) -> f64 {
    if a > b {
        a
    } else {
        b
    }
}

fn c_min(a: f64, b: f64) -> f64 {
    if a < b {
        a
    } else {
        b
    }
}

fn norm_inf(v: &[f64]) -> f64 {
    v.iter().fold(0.0, |m, x| c_max(m, x.abs()))
}

/// Row kinds, as OSQP's `constr_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RowKind {
    Free,
    Inequality,
    Equality,
}

fn row_kind(l: f64, u: f64) -> RowKind {
    if l < -INFTY * MIN_SCALING && u > INFTY * MIN_SCALING {
        RowKind::Free
    } else if u - l < RHO_TOL {
        RowKind::Equality
    } else {
        RowKind::Inequality
    }
}

/// A compressed-column matrix with owned values.
#[derive(Debug)]
struct Columns {
    indptr: Vec<usize>,
    indices: Vec<usize>,
    values: Vec<f64>,
}

impl Columns {
    fn from(m: &Csc) -> Self {
        Self {
            indptr: m.indptr.to_vec(),
            indices: m.indices.to_vec(),
            values: m.values.to_vec(),
        }
    }

    fn column(&self, c: usize) -> impl Iterator<Item = (usize, f64)> + '_ {
        let range = self.indptr[c]..self.indptr[c + 1];
        self.indices[range.clone()]
            .iter()
            .copied()
            .zip(self.values[range].iter().copied())
    }

    /// `out = M x`.
    fn mul(&self, x: &[f64], out: &mut [f64]) {
        out.fill(0.0);
        for (c, xc) in x.iter().enumerate() {
            for (r, v) in self.column(c) {
                out[r] += v * xc;
            }
        }
    }

    /// `out = M' y`.
    fn tr_mul(&self, y: &[f64], out: &mut [f64]) {
        for (c, o) in out.iter_mut().enumerate() {
            *o = self.column(c).map(|(r, v)| v * y[r]).sum();
        }
    }

    /// `out = M x` for a symmetric `M` stored as its upper triangle. A
    /// column whose rows are a run ending at the diagonal (a condensed
    /// Hessian's) is one slice update and one dot product.
    fn sym_mul(&self, x: &[f64], out: &mut [f64]) {
        out.fill(0.0);
        for (c, xc) in x.iter().enumerate() {
            let (start, end) = (self.indptr[c], self.indptr[c + 1]);
            let rows = &self.indices[start..end];
            let run = rows.last() == Some(&c) && rows[0] + rows.len() == c + 1;
            if run {
                let first = rows[0];
                let values = &self.values[start..end - 1];
                for (o, v) in out[first..c].iter_mut().zip(values) {
                    *o += v * xc;
                }
                out[c] += self.values[end - 1] * xc + dot(values, &x[first..c]);
                continue;
            }
            for (r, v) in self.column(c) {
                out[r] += v * xc;
                if r != c {
                    out[c] += v * x[r];
                }
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Settings {
    sigma: f64,
    alpha: f64,
    adaptive_rho: bool,
    adaptive_rho_interval: u32,
    max_iterations: u32,
    eps_abs: f64,
    eps_rel: f64,
    check_every: u32,
    time_limit_secs: Option<f64>,
    /// The configured rho (clamped), where solves start with polish on.
    rho: f64,
}

/// The ADMM iterates and the residual work vectors.
#[derive(Debug)]
struct Iterates {
    x: Vec<f64>,
    z: Vec<f64>,
    y: Vec<f64>,
    x_prev: Vec<f64>,
    z_prev: Vec<f64>,
    delta_x: Vec<f64>,
    delta_y: Vec<f64>,
    /// The right-hand side, then `x~`.
    xt: DVector<f64>,
    zt: Vec<f64>,
    ax: Vec<f64>,
    px: Vec<f64>,
    aty: Vec<f64>,
    /// Scratch for the infeasibility checks (`P dx`, `A dx`, `A' dy`).
    scratch_n: Vec<f64>,
    scratch_m: Vec<f64>,
}

/// Residuals of the last `update_info`.
#[derive(Debug, Clone, Copy, Default)]
struct Info {
    iterations: u32,
    pri_res: f64,
    dua_res: f64,
}

/// A QP `min 1/2 x'Px + q'x, l <= Ax <= u` solved by dense ADMM.
#[derive(Debug)]
pub(crate) struct DenseSolver {
    n: usize,
    m: usize,
    settings: Settings,
    /// Carried from solve to solve, as OSQP's `settings->rho`.
    rho: f64,
    p: Columns,
    a: Columns,
    q: Vec<f64>,
    l: Vec<f64>,
    u: Vec<f64>,
    kinds: Vec<RowKind>,
    rho_vec: Vec<f64>,
    rho_inv: Vec<f64>,
    /// `P + sigma I + A' diag(rho) A` and its factor.
    system: ReducedSystem,
    broken: bool,
    it: Iterates,
    info: Info,
    /// The last solve's primal and dual solution (NaN after a verdict of
    /// infeasibility, as OSQP's).
    x_out: Vec<f64>,
    y_out: Vec<f64>,
    /// The active-set step (`[controller.qp] polish`), if on.
    polish: Option<Polish>,
    /// The exact box solve (`[controller.qp] active_set`), if on; ADMM's
    /// factorisation is then deferred to a solve that falls back to it.
    box_qp: Option<BoxQp>,
    /// ADMM's factor does not match `P`, `A` or rho (deferred).
    stale: bool,
}

impl DenseSolver {
    /// Sets the solver up (allocates everything); `p` upper triangular.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        p: &Csc,
        q: &[f64],
        a: &Csc,
        l: &[f64],
        u: &[f64],
        config: &OsqpConfig,
        polish: bool,
        active_set: bool,
    ) -> Result<Self, String> {
        let (n, m) = (p.ncols, a.nrows);
        let shapes_ok = p.nrows == n && a.ncols == n && q.len() == n && l.len() == m;
        if !(shapes_ok && u.len() == m && p.is_valid() && a.is_valid()) {
            return Err("inconsistent QP shapes or sparsity".into());
        }
        if p.indptr
            .windows(2)
            .enumerate()
            .any(|(c, w)| p.indices[w[0]..w[1]].iter().any(|&r| r > c))
        {
            return Err("P is not upper triangular".into());
        }
        if l.iter()
            .zip(u)
            .any(|(l, u)| l.is_nan() || u.is_nan() || l > u)
        {
            return Err("a lower bound above its upper bound".into());
        }
        let a_cols = Columns::from(a);
        let mut a_row_ptr = vec![0; m + 1];
        for &r in &a_cols.indices {
            a_row_ptr[r + 1] += 1;
        }
        for r in 0..m {
            a_row_ptr[r + 1] += a_row_ptr[r];
        }
        let mut a_row_entries = vec![(0, 0); a_cols.values.len()];
        let mut next = a_row_ptr.clone();
        for c in 0..n {
            for at in a_cols.indptr[c]..a_cols.indptr[c + 1] {
                let r = a_cols.indices[at];
                a_row_entries[next[r]] = (c, at);
                next[r] += 1;
            }
        }
        let check_every = config.check_termination_every;
        let adaptive_rho_interval = match config.adaptive_rho_interval {
            0 if check_every > 0 => ADAPTIVE_RHO_MULTIPLE_TERMINATION * check_every,
            0 => ADAPTIVE_RHO_FIXED,
            k => k,
        };
        let settings = Settings {
            sigma: config.sigma,
            alpha: config.alpha,
            adaptive_rho: config.adaptive_rho,
            adaptive_rho_interval,
            max_iterations: config.max_iterations,
            eps_abs: config.eps_abs,
            eps_rel: config.eps_rel,
            check_every,
            time_limit_secs: config.time_limit_secs,
            rho: c_min(c_max(config.rho, RHO_MIN), RHO_MAX),
        };
        let system = ReducedSystem::new(n, p.indptr, p.indices, &a_row_ptr, &a_row_entries);
        let zeros = |k: usize| vec![0.0; k];
        let mut solver = Self {
            n,
            m,
            settings,
            rho: c_min(c_max(config.rho, RHO_MIN), RHO_MAX),
            p: Columns::from(p),
            a: a_cols,
            q: q.to_vec(),
            l: l.to_vec(),
            u: u.to_vec(),
            kinds: vec![RowKind::Inequality; m],
            rho_vec: zeros(m),
            rho_inv: zeros(m),
            system,
            broken: false,
            it: Iterates {
                x: zeros(n),
                z: zeros(m),
                y: zeros(m),
                x_prev: zeros(n),
                z_prev: zeros(m),
                delta_x: zeros(n),
                delta_y: zeros(m),
                xt: DVector::zeros(n),
                zt: zeros(m),
                ax: zeros(m),
                px: zeros(n),
                aty: zeros(n),
                scratch_n: zeros(n),
                scratch_m: zeros(m),
            },
            info: Info::default(),
            x_out: zeros(n),
            y_out: zeros(m),
            polish: None,
            box_qp: None,
            stale: false,
        };
        if active_set {
            let boxed = BoxQp::new(n, &a_row_ptr, &a_row_entries);
            let Some(boxed) = boxed else {
                return Err(
                    "qp.active_set needs a QP whose rows each bound one variable, \
                            at most one per variable (a fully condensed QP with input bounds \
                            alone)"
                        .into(),
                );
            };
            solver.box_qp = Some(boxed);
        }
        if polish {
            solver.polish = Some(Polish::new(solver.system.clone(), n, m));
        }
        for r in 0..m {
            solver.kinds[r] = row_kind(l[r], u[r]);
        }
        solver.set_rho_vec();
        if solver.factor_now().is_err() {
            return Err("the dense factorisation of the initial QP failed".into());
        }
        Ok(solver)
    }

    /// `rho_vec` from the row kinds and the current rho.
    fn set_rho_vec(&mut self) {
        for r in 0..self.m {
            self.rho_vec[r] = match self.kinds[r] {
                RowKind::Free => RHO_MIN,
                RowKind::Inequality => self.rho,
                RowKind::Equality => RHO_EQ_OVER_RHO_INEQ * self.rho,
            };
            self.rho_inv[r] = 1.0 / self.rho_vec[r];
        }
    }

    /// Assembles and factorises `P + sigma I + A' diag(rho) A`
    /// (`dense_factor.rs`). A pivot that is not positive and finite leaves
    /// the solver broken until the next success. With the exact box
    /// solve on, only marks the factor stale (`factor_now` on demand).
    fn refactor(&mut self) -> Result<(), QpError> {
        if self.box_qp.is_some() {
            self.stale = true;
            self.broken = false;
            return Ok(());
        }
        self.factor_now()
    }

    fn factor_now(&mut self) -> Result<(), QpError> {
        self.stale = false;
        let p = (&self.p.indptr[..], &self.p.indices[..], &self.p.values[..]);
        let factored = self
            .system
            .factor(p, &self.a.values, &self.rho_vec, self.settings.sigma);
        self.broken = factored.is_err();
        factored
    }

    /// Back to the configured rho (an adapted one is carried from solve
    /// to solve); refactorises when it changes.
    pub fn reset_rho(&mut self) -> Result<(), QpError> {
        if self.rho == self.settings.rho {
            return Ok(());
        }
        self.rho = self.settings.rho;
        self.set_rho_vec();
        self.refactor()
    }

    /// New values for `P` and `A` (same patterns as at setup), refactorised.
    pub fn update_p_a(&mut self, p: &[f64], a: &[f64]) -> Result<(), QpError> {
        if p.len() != self.p.values.len() || a.len() != self.a.values.len() {
            return Err(QpError);
        }
        self.p.values.copy_from_slice(p);
        self.a.values.copy_from_slice(a);
        if let Some(b) = self.box_qp.as_mut() {
            b.p_changed();
        }
        self.refactor()
    }

    pub fn update_lin_cost(&mut self, q: &[f64]) -> Result<(), QpError> {
        if q.len() != self.n {
            return Err(QpError);
        }
        self.q.copy_from_slice(q);
        Ok(())
    }

    /// New bounds (`l <= u` checked); a row whose kind changes changes its
    /// rho, which refactorises.
    pub fn update_bounds(&mut self, l: &[f64], u: &[f64]) -> Result<(), QpError> {
        if l.len() != self.m
            || u.len() != self.m
            || l.iter()
                .zip(u)
                .any(|(l, u)| l.is_nan() || u.is_nan() || l > u)
        {
            return Err(QpError);
        }
        self.l.copy_from_slice(l);
        self.u.copy_from_slice(u);
        let mut changed = false;
        for r in 0..self.m {
            let kind = row_kind(l[r], u[r]);
            changed |= kind != self.kinds[r];
            self.kinds[r] = kind;
        }
        if changed {
            self.set_rho_vec();
            self.refactor()
        } else {
            Ok(())
        }
    }

    /// A primal warm start (`z = A x`); the duals stay the last solve's.
    pub fn warm_start_x(&mut self, x: &[f64]) -> Result<(), QpError> {
        if x.len() != self.n {
            return Err(QpError);
        }
        self.it.x.copy_from_slice(x);
        self.a.mul(&self.it.x, &mut self.it.z);
        Ok(())
    }

    /// Primal and dual warm start (`z = A x`).
    pub fn warm_start(&mut self, x: &[f64], y: &[f64]) -> Result<(), QpError> {
        if y.len() != self.m {
            return Err(QpError);
        }
        self.warm_start_x(x)?;
        self.it.y.copy_from_slice(y);
        Ok(())
    }

    /// The dual solution of the last solve, one per row of `A`.
    pub fn duals(&self) -> &[f64] {
        &self.y_out
    }

    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// One ADMM iteration (OSQP's `update_xz_tilde`, `update_x`,
    /// `update_z`, `update_y`).
    fn iterate(&mut self) {
        let (s, it) = (&self.settings, &mut self.it);
        std::mem::swap(&mut it.x, &mut it.x_prev);
        std::mem::swap(&mut it.z, &mut it.z_prev);
        // rhs = sigma x_prev - q + A' (rho z_prev - y), in `zt` then `xt`.
        for r in 0..self.m {
            it.zt[r] = self.rho_vec[r] * it.z_prev[r] - it.y[r];
        }
        self.a.tr_mul(&it.zt, it.xt.as_mut_slice());
        for i in 0..self.n {
            it.xt[i] += s.sigma * it.x_prev[i] - self.q[i];
        }
        self.system
            .solve(&self.a.values, &self.rho_vec, it.xt.as_mut_slice());
        self.a.mul(it.xt.as_slice(), &mut it.zt);
        let alpha = s.alpha;
        for i in 0..self.n {
            it.x[i] = alpha * it.xt[i] + (1.0 - alpha) * it.x_prev[i];
            it.delta_x[i] = it.x[i] - it.x_prev[i];
        }
        for r in 0..self.m {
            let relaxed = alpha * it.zt[r] + (1.0 - alpha) * it.z_prev[r];
            let z = relaxed + self.rho_inv[r] * it.y[r];
            it.z[r] = c_min(c_max(z, self.l[r]), self.u[r]);
            it.delta_y[r] = self.rho_vec[r] * (relaxed - it.z[r]);
            it.y[r] += it.delta_y[r];
        }
    }

    /// Residuals at the current iterate (OSQP's `update_info`).
    fn update_info(&mut self, iterations: u32) {
        let it = &mut self.it;
        self.a.mul(&it.x, &mut it.ax);
        let pri = it.ax.iter().zip(&it.z).map(|(a, z)| (a - z).abs());
        let pri_res = pri.fold(0.0, c_max);
        self.p.sym_mul(&it.x, &mut it.px);
        self.a.tr_mul(&it.y, &mut it.aty);
        let dua = (0..self.n).map(|i| (self.q[i] + it.px[i] + it.aty[i]).abs());
        let dua_res = dua.fold(0.0, c_max);
        self.info = Info {
            iterations,
            pri_res,
            dua_res,
        };
    }

    /// OSQP's `check_termination`; `approximate` relaxes every tolerance
    /// tenfold. `None` while no verdict is reached.
    fn check_termination(&mut self, approximate: bool) -> Option<QpStatus> {
        let Info {
            pri_res, dua_res, ..
        } = self.info;
        if pri_res > INFTY || dua_res > INFTY || pri_res.is_nan() || dua_res.is_nan() {
            // OSQP spins on a NaN iterate until its iteration limit; a
            // verdict now saves those iterations.
            return Some(QpStatus::NonConvex);
        }
        let scale = if approximate { 10.0 } else { 1.0 };
        let (eps_abs, eps_rel) = (scale * self.settings.eps_abs, scale * self.settings.eps_rel);
        let it = &self.it;
        let (mut primal_ok, mut primal_inf) = (self.m == 0, false);
        if self.m > 0 {
            let eps_prim = eps_abs + eps_rel * c_max(norm_inf(&it.z), norm_inf(&it.ax));
            if pri_res < eps_prim {
                primal_ok = true;
            } else {
                primal_inf = self.is_primal_infeasible(scale * EPS_PRIM_INF);
            }
        }
        let it = &self.it;
        let norm_dual = c_max(
            c_max(norm_inf(&it.aty), norm_inf(&it.px)),
            norm_inf(&self.q),
        );
        let (mut dual_ok, mut dual_inf) = (false, false);
        if dua_res < eps_abs + eps_rel * norm_dual {
            dual_ok = true;
        } else {
            dual_inf = self.is_dual_infeasible(scale * EPS_DUAL_INF);
        }
        if primal_ok && dual_ok {
            Some(if approximate {
                QpStatus::SolvedInaccurate
            } else {
                QpStatus::Solved
            })
        } else if primal_inf {
            Some(QpStatus::PrimalInfeasible)
        } else if dual_inf {
            Some(QpStatus::DualInfeasible)
        } else {
            None
        }
    }

    fn is_primal_infeasible(&mut self, eps: f64) -> bool {
        let it = &mut self.it;
        for r in 0..self.m {
            let (l, u) = (self.l[r], self.u[r]);
            if u > INFTY * MIN_SCALING {
                it.delta_y[r] = if l < -INFTY * MIN_SCALING {
                    0.0
                } else {
                    c_min(it.delta_y[r], 0.0)
                };
            } else if l < -INFTY * MIN_SCALING {
                it.delta_y[r] = c_max(it.delta_y[r], 0.0);
            }
        }
        let norm = norm_inf(&it.delta_y);
        if norm <= DIVISION_TOL {
            return false;
        }
        let lhs: f64 = (0..self.m)
            .map(|r| self.u[r] * c_max(it.delta_y[r], 0.0) + self.l[r] * c_min(it.delta_y[r], 0.0))
            .sum();
        if lhs >= eps * norm {
            return false;
        }
        self.a.tr_mul(&it.delta_y, &mut it.scratch_n);
        norm_inf(&it.scratch_n) < eps * norm
    }

    fn is_dual_infeasible(&mut self, eps: f64) -> bool {
        let it = &mut self.it;
        let norm = norm_inf(&it.delta_x);
        if norm <= DIVISION_TOL {
            return false;
        }
        let q_dx: f64 = self.q.iter().zip(&it.delta_x).map(|(q, d)| q * d).sum();
        if q_dx >= eps * norm {
            return false;
        }
        self.p.sym_mul(&it.delta_x, &mut it.scratch_n);
        if norm_inf(&it.scratch_n) >= eps * norm {
            return false;
        }
        self.a.mul(&it.delta_x, &mut it.scratch_m);
        (0..self.m).all(|r| {
            let adx = it.scratch_m[r];
            !((self.u[r] < INFTY * MIN_SCALING && adx > eps * norm)
                || (self.l[r] > -INFTY * MIN_SCALING && adx < -eps * norm))
        })
    }

    /// OSQP's rho estimate from the residuals of the last `update_info`.
    fn rho_estimate(&self) -> f64 {
        let it = &self.it;
        let pri_norm = c_max(norm_inf(&it.z), norm_inf(&it.ax));
        let pri = self.info.pri_res / (pri_norm + DIVISION_TOL);
        let dua_norm = c_max(
            c_max(norm_inf(&self.q), norm_inf(&it.aty)),
            norm_inf(&it.px),
        );
        let dua = self.info.dua_res / (dua_norm + DIVISION_TOL);
        c_min(c_max(self.rho * (pri / dua).sqrt(), RHO_MIN), RHO_MAX)
    }

    /// Runs ADMM from the current iterates. A broken factorisation, or a
    /// rho update whose refactorisation fails, is reported as non-convex.
    pub fn solve(&mut self) -> Solve<'_> {
        let started = Instant::now();
        let mut solve = Solve::failed();
        if self.broken {
            return solve;
        }
        if self.box_qp.is_some() {
            if self.solve_box() {
                solve.status = QpStatus::Solved;
                solve.iterations = self.info.iterations;
                solve.primal_residual = self.info.pri_res;
                solve.solve_secs = started.elapsed().as_secs_f64();
                solve.x = Some(&self.x_out[..]);
                return solve;
            }
            solve.exact_fallback = true;
            if let Some(b) = self.box_qp.as_mut() {
                b.fallbacks += 1;
            }
            if self.stale && self.factor_now().is_err() {
                solve.solve_secs = started.elapsed().as_secs_f64();
                return solve;
            }
        }
        let s = self.settings;
        if let Some(pol) = self.polish.as_mut() {
            pol.reset();
        }
        let mut status = None;
        let mut checked = false;
        let mut schedule = RhoSchedule::new(s.adaptive_rho_interval);
        let mut iter = 1;
        while iter <= s.max_iterations {
            self.iterate();
            if let Some(limit) = s.time_limit_secs {
                if started.elapsed().as_secs_f64() >= limit {
                    status = Some(QpStatus::TimeLimitReached);
                    break;
                }
            }
            checked = s.check_every > 0 && iter % s.check_every == 0;
            if checked {
                self.update_info(iter);
                status = self.check_termination(false);
                if status.is_some() {
                    break;
                }
                if self.try_polish(iter) {
                    status = Some(QpStatus::Solved);
                    break;
                }
            }
            // With the active-set step, rho adapts only in a solve that
            // reached it (`polish.rs`: the stalled ones).
            let adapting = self.polish.as_ref().is_none_or(|p| iter >= p.first);
            let due = schedule.adapts_at(iter);
            if s.adaptive_rho && adapting && due {
                if !checked {
                    self.update_info(iter);
                }
                let rho = self.rho_estimate();
                if rho > self.rho * ADAPTIVE_RHO_TOLERANCE
                    || rho < self.rho / ADAPTIVE_RHO_TOLERANCE
                {
                    schedule.updated(self.rho, rho);
                    self.rho = rho;
                    self.set_rho_vec();
                    solve.rho_updates += 1;
                    if self.factor_now().is_err() {
                        solve.iterations = iter;
                        solve.solve_secs = started.elapsed().as_secs_f64();
                        return solve;
                    }
                }
            }
            iter += 1;
        }
        if !checked {
            self.update_info(iter - 1);
            if let Some(verdict) = self.check_termination(false) {
                status = Some(verdict);
            }
        }
        let status = match status {
            None => self
                .check_termination(true)
                .unwrap_or(QpStatus::MaxIterationsReached),
            Some(QpStatus::TimeLimitReached) => self
                .check_termination(true)
                .unwrap_or(QpStatus::TimeLimitReached),
            Some(status) => status,
        };
        let has_iterate = matches!(
            status,
            QpStatus::Solved
                | QpStatus::SolvedInaccurate
                | QpStatus::MaxIterationsReached
                | QpStatus::TimeLimitReached
        );
        if has_iterate {
            self.x_out.copy_from_slice(&self.it.x);
            self.y_out.copy_from_slice(&self.it.y);
        } else {
            // OSQP's `store_solution`: no solution, and the next solve
            // cannot start from a certificate.
            self.x_out.fill(f64::NAN);
            self.y_out.fill(f64::NAN);
            self.it.x.fill(0.0);
            self.it.z.fill(0.0);
            self.it.y.fill(0.0);
        }
        if self.polish.is_some() && self.rho != s.rho {
            // Every solve starts from the configured rho: one adapted in a
            // stalled solve would set the next ordinary ones' cost.
            self.rho = s.rho;
            self.set_rho_vec();
            let _ = self.refactor();
        }
        solve.status = status;
        solve.iterations = self.info.iterations;
        solve.primal_residual = self.info.pri_res;
        solve.solve_secs = started.elapsed().as_secs_f64();
        solve.x = has_iterate.then_some(&self.x_out[..]);
        solve
    }
}
