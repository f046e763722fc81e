//! OSQP through its C interface, with every return code checked.
//!
//! The `osqp` crate's `Problem` asserts on every non-zero exit code: a KKT
//! factorisation that meets an exact zero pivot (a condensed Hessian of a
//! wild linearisation, with entries far beyond `sigma / eps`) makes
//! `update_P_A`, a rho update inside `solve` or a constraint-type change in
//! `update_bounds` panic. Here each becomes an error the controller turns
//! into a status, and the factorisation is redone before the next solve.

use std::ptr;

use osqp_sys as ffi;

use crate::report::QpStatus;
use crate::rho_schedule::RhoSchedule;
use crate::ruiz;
use crate::OsqpConfig;

/// A failed OSQP call (its exit code is not part of the contract).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct QpError;

/// A sparse matrix in compressed-column form, borrowed.
pub(crate) struct Csc<'a> {
    pub nrows: usize,
    pub ncols: usize,
    pub indptr: &'a [usize],
    pub indices: &'a [usize],
    pub values: &'a [f64],
}

impl Csc<'_> {
    /// OSQP's view. Indices are `usize`, which OSQP reads as its 64-bit
    /// `c_int` (osqp-sys builds with `DLONG` on 64-bit targets).
    fn to_ffi(&self) -> ffi::csc {
        ffi::csc {
            nzmax: self.values.len() as ffi::osqp_int,
            m: self.nrows as ffi::osqp_int,
            n: self.ncols as ffi::osqp_int,
            p: self.indptr.as_ptr() as *mut ffi::osqp_int,
            i: self.indices.as_ptr() as *mut ffi::osqp_int,
            x: self.values.as_ptr() as *mut f64,
            nz: -1,
        }
    }

    /// Column pointers start at 0, increase and end at the value count;
    /// row indices are in range and increasing within a column.
    pub(crate) fn is_valid(&self) -> bool {
        self.indptr.len() == self.ncols + 1
            && self.indptr[0] == 0
            && self.indptr[self.ncols] == self.values.len()
            && self.indices.len() == self.values.len()
            && self.indptr.windows(2).all(|w| {
                w[0] <= w[1]
                    && w[1] <= self.indices.len()
                    && self.indices[w[0]..w[1]].windows(2).all(|r| r[0] < r[1])
                    && self.indices[w[0]..w[1]].iter().all(|&r| r < self.nrows)
            })
    }
}

/// One OSQP workspace with a fixed sparsity pattern.
pub(crate) struct Solver {
    work: *mut ffi::OSQPWorkspace,
    n: usize,
    m: usize,
    nnz_p: usize,
    nnz_a: usize,
    /// The last factorisation failed: solving would read a broken one.
    broken: bool,
    /// The configured rho, where [`Solver::reset_rho`] returns.
    rho: f64,
    /// The iteration cap of a solve, over all its stages.
    max_iterations: u32,
    /// Rho adapted every this many iterations, doubling by stages
    /// (`rho_schedule.rs`); `None`: OSQP's own rule (adaptation off, its
    /// time-based interval, or a time limit, which OSQP times per call).
    staged_interval: Option<u32>,
    /// Ruiz scaling on, and the matrix updates between its
    /// recomputations (`osqp.rescale_every`; 0: never after the first).
    scaled: bool,
    rescale_every: u32,
    /// Matrix updates since the scaling was last computed; `None` until
    /// it has been computed on real values (setup sees zeros).
    since_scaling: Option<u32>,
    ruiz: ruiz::RuizScratch,
}

// The workspace is owned by this value alone and OSQP keeps no global state.
unsafe impl Send for Solver {}

impl std::fmt::Debug for Solver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Solver")
            .field("n", &self.n)
            .field("m", &self.m)
            .field("broken", &self.broken)
            .finish_non_exhaustive()
    }
}

/// The result of one solve, read from the workspace.
pub(crate) struct Solve<'a> {
    pub status: QpStatus,
    pub iterations: u32,
    pub solve_secs: f64,
    /// OSQP's primal residual (largest constraint violation, unscaled) at
    /// the returned iterate.
    pub primal_residual: f64,
    /// Rho updates inside the solve: each one refactorised the KKT system.
    pub rho_updates: u32,
    /// The primal iterate, for the statuses that have one.
    pub x: Option<&'a [f64]>,
    /// The dense backend's exact box solve did not converge and ADMM
    /// solved instead (`dense_qp/box_qp.rs`).
    pub exact_fallback: bool,
}

impl Solve<'_> {
    /// What a solve that never ran, or broke, reports: non-convex, no
    /// iterate; either backend fills in what it got through.
    pub(crate) fn failed() -> Self {
        Solve {
            status: QpStatus::NonConvex,
            iterations: 0,
            solve_secs: 0.0,
            primal_residual: f64::INFINITY,
            rho_updates: 0,
            x: None,
            exact_fallback: false,
        }
    }
}

impl Solver {
    /// Sets OSQP up (allocates); `p` must be upper triangular.
    pub fn new(
        p: &Csc,
        q: &[f64],
        a: &Csc,
        l: &[f64],
        u: &[f64],
        config: &OsqpConfig,
        scaling_iterations: u32,
    ) -> Result<Self, String> {
        let (n, m) = (p.ncols, a.nrows);
        let shapes_ok = p.nrows == n && a.ncols == n && q.len() == n && l.len() == m;
        if !(shapes_ok && u.len() == m && p.is_valid() && a.is_valid()) {
            return Err("inconsistent QP shapes or sparsity".into());
        }
        if l.iter()
            .zip(u)
            .any(|(l, u)| l.is_nan() || u.is_nan() || l > u)
        {
            return Err("a lower bound above its upper bound".into());
        }
        let settings = settings(config, scaling_iterations);
        let (mut p_ffi, mut a_ffi) = (p.to_ffi(), a.to_ffi());
        let data = ffi::OSQPData {
            n: n as ffi::osqp_int,
            m: m as ffi::osqp_int,
            P: &mut p_ffi,
            A: &mut a_ffi,
            q: q.as_ptr() as *mut f64,
            l: l.as_ptr() as *mut f64,
            u: u.as_ptr() as *mut f64,
        };
        let mut work: *mut ffi::OSQPWorkspace = ptr::null_mut();
        // SAFETY: the shapes and the CSC structure were checked above and
        // OSQP copies the data it is given.
        let code = unsafe { ffi::osqp_setup(&mut work, &data, &settings) };
        if code != 0 {
            if !work.is_null() {
                // SAFETY: a partially set-up workspace is OSQP's to free.
                unsafe { ffi::osqp_cleanup(work) };
            }
            return Err(format!("osqp_setup returned {code}"));
        }
        Ok(Self {
            work,
            n,
            m,
            nnz_p: p.values.len(),
            nnz_a: a.values.len(),
            broken: false,
            rho: config.rho,
            max_iterations: config.max_iterations,
            staged_interval: (config.adaptive_rho
                && config.adaptive_rho_interval > 0
                && config.time_limit_secs.is_none())
            .then_some(config.adaptive_rho_interval),
            scaled: scaling_iterations > 0,
            rescale_every: config.rescale_every,
            since_scaling: None,
            ruiz: ruiz::RuizScratch::new(n, m),
        })
    }

    /// Back to the configured rho (OSQP carries an adapted one from solve
    /// to solve); refactorises.
    pub fn reset_rho(&mut self) -> Result<(), QpError> {
        // SAFETY: the workspace is valid while `self` lives.
        let code = unsafe { ffi::osqp_update_rho(self.work, self.rho) };
        self.broken |= code != 0;
        check(code)
    }

    /// New values for `P` and `A` (same pattern as at setup), refactorised.
    pub fn update_p_a(&mut self, p: &[f64], a: &[f64]) -> Result<(), QpError> {
        if p.len() != self.nnz_p || a.len() != self.nnz_a {
            return Err(QpError);
        }
        let keep = self.scaled
            && self
                .since_scaling
                .is_some_and(|k| self.rescale_every == 0 || k + 1 < self.rescale_every);
        let code = if self.scaled {
            self.update_p_a_scaled_here(p, a, keep)
        } else {
            // SAFETY: lengths match the workspace's; null index arrays mean
            // "all values, in order".
            unsafe {
                ffi::osqp_update_P_A(
                    self.work,
                    p.as_ptr(),
                    ptr::null(),
                    p.len() as ffi::osqp_int,
                    a.as_ptr(),
                    ptr::null(),
                    a.len() as ffi::osqp_int,
                )
            }
        };
        self.broken = code != 0;
        self.since_scaling = match (code, keep) {
            (0, true) => self.since_scaling.map(|k| k + 1),
            (0, false) => Some(0),
            _ => None,
        };
        if self.broken {
            Err(QpError)
        } else {
            Ok(())
        }
    }

    /// `osqp_update_P_A` with the scaling done here: recomputed
    /// (`ruiz.rs`, OSQP's own, bit for bit) or, with `keep`, the last one
    /// applied to the new values (`c D P D`, `E A D`). The values are
    /// written straight into OSQP's copies, which OSQP is then handed with
    /// its scaling switched off for the call, so that it neither unscales
    /// nor recomputes the scaling.
    fn update_p_a_scaled_here(&mut self, p: &[f64], a: &[f64], keep: bool) -> ffi::osqp_int {
        // SAFETY: the workspace, its data, scaling and settings are valid
        // while `self` lives; `P` and `A` have the pattern they were set
        // up with (`nnz` values, `n` columns, checked lengths), `q` and `D`
        // have `n` entries, `l`, `u` and `E` `m`.
        unsafe {
            let work = &mut *self.work;
            let data = &*work.data;
            let scaling = &mut *work.scaling;
            let matrix = |m: *mut ffi::csc, len: usize| {
                let m = &*m;
                ruiz::CscMut {
                    indptr: std::slice::from_raw_parts(m.p, m.n as usize + 1),
                    indices: std::slice::from_raw_parts(m.i, len),
                    values: std::slice::from_raw_parts_mut(m.x, len),
                }
            };
            let (mut pm, mut am) = (matrix(data.P, p.len()), matrix(data.A, a.len()));
            pm.values.copy_from_slice(p);
            am.values.copy_from_slice(a);
            let (n, m) = (self.n, self.m);
            let mut sc = ruiz::Scaling {
                d: std::slice::from_raw_parts_mut(scaling.D, n),
                d_inv: std::slice::from_raw_parts_mut(scaling.Dinv, n),
                e: std::slice::from_raw_parts_mut(scaling.E, m),
                e_inv: std::slice::from_raw_parts_mut(scaling.Einv, m),
                c: &mut scaling.c,
                c_inv: &mut scaling.cinv,
            };
            if keep {
                ruiz::apply(&mut pm, &mut am, &sc);
            } else {
                ruiz::rescale(
                    (*work.settings).scaling as u32,
                    &mut pm,
                    &mut am,
                    std::slice::from_raw_parts_mut(data.q, n),
                    std::slice::from_raw_parts_mut(data.l, m),
                    std::slice::from_raw_parts_mut(data.u, m),
                    &mut sc,
                    &mut self.ruiz,
                );
            }
            let settings = &mut *work.settings;
            let iterations = settings.scaling;
            settings.scaling = 0;
            let (px, ax) = ((*data.P).x, (*data.A).x);
            let code = ffi::osqp_update_P_A(
                self.work,
                px,
                ptr::null(),
                p.len() as ffi::osqp_int,
                ax,
                ptr::null(),
                a.len() as ffi::osqp_int,
            );
            (*(*self.work).settings).scaling = iterations;
            code
        }
    }

    pub fn update_lin_cost(&mut self, q: &[f64]) -> Result<(), QpError> {
        if q.len() != self.n {
            return Err(QpError);
        }
        // SAFETY: length checked.
        check(unsafe { ffi::osqp_update_lin_cost(self.work, q.as_ptr()) })
    }

    /// New bounds (`l <= u` checked). A row whose type changes (equality,
    /// inequality, free) makes OSQP refactorise, which can fail.
    pub fn update_bounds(&mut self, l: &[f64], u: &[f64]) -> Result<(), QpError> {
        if l.len() != self.m
            || u.len() != self.m
            || l.iter()
                .zip(u)
                .any(|(l, u)| l.is_nan() || u.is_nan() || l > u)
        {
            return Err(QpError);
        }
        // SAFETY: lengths checked.
        let code = unsafe { ffi::osqp_update_bounds(self.work, l.as_ptr(), u.as_ptr()) };
        self.broken |= code != 0;
        check(code)
    }

    /// A primal warm start; the duals stay those of the last solve, in
    /// OSQP's scaled coordinates.
    pub fn warm_start_x(&mut self, x: &[f64]) -> Result<(), QpError> {
        if x.len() != self.n {
            return Err(QpError);
        }
        // SAFETY: length checked.
        check(unsafe { ffi::osqp_warm_start_x(self.work, x.as_ptr()) })
    }

    /// Primal and dual warm start together (OSQP sets `z = A x`).
    pub fn warm_start(&mut self, x: &[f64], y: &[f64]) -> Result<(), QpError> {
        if x.len() != self.n || y.len() != self.m {
            return Err(QpError);
        }
        // SAFETY: lengths checked.
        check(unsafe { ffi::osqp_warm_start(self.work, x.as_ptr(), y.as_ptr()) })
    }

    /// The dual iterate of the last solve (unscaled), one per row of `A`.
    pub fn duals(&self) -> &[f64] {
        // SAFETY: OSQP's solution lives as long as the workspace, and `y`
        // has one entry per constraint row.
        unsafe { std::slice::from_raw_parts((*(*self.work).solution).y, self.m) }
    }

    /// True when the factorisation must be redone before the next solve.
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// Runs ADMM. A broken factorisation, or a failure inside the solve (a
    /// rho update whose refactorisation fails), is reported as non-convex.
    pub fn solve(&mut self) -> Solve<'_> {
        let failed = Solve::failed();
        if self.broken {
            return failed;
        }
        let (mut iterations, mut solve_secs) = (0, 0.0);
        let mut schedule = self.staged_interval.map(RhoSchedule::new);
        // OSQP's rule in one call for the first stage (a solve that ends
        // there is OSQP's own, bit for bit), then one call per adaptation
        // interval, resuming from OSQP's iterates (warm start on), so that
        // the schedule sees each rho update.
        let mut first = true;
        let code = loop {
            let left = self.max_iterations - iterations;
            let chunk = match schedule {
                Some(s) if first => s.first_stage().min(left),
                Some(s) => s.interval().min(left),
                None => left,
            };
            // SAFETY: the workspace, its settings and info are valid while
            // `self` lives; OSQP reads these fields at each solve.
            let rho_before = unsafe {
                let settings = &mut *(*self.work).settings;
                settings.max_iter = chunk as ffi::osqp_int;
                if let Some(s) = schedule {
                    settings.adaptive_rho_interval = s.interval() as ffi::osqp_int;
                }
                if !first {
                    // The last call's verdict (iteration limit) would stick.
                    (*(*self.work).info).status_val = ffi::OSQP_UNSOLVED as ffi::osqp_int;
                }
                settings.rho
            };
            // SAFETY: the workspace is valid and its factorisation is sound.
            let code = unsafe { ffi::osqp_solve(self.work) };
            // SAFETY: as above.
            let (info, rho_after) = unsafe { (&*(*self.work).info, (*(*self.work).settings).rho) };
            let ran = u32::try_from(info.iter).unwrap_or(0);
            iterations += ran;
            solve_secs += info.solve_time;
            let unfinished = code == 0
                && ran == chunk
                && iterations < self.max_iterations
                && matches!(
                    info.status_val as ffi::ffi_osqp_solve_status,
                    ffi::OSQP_MAX_ITER_REACHED | ffi::OSQP_SOLVED_INACCURATE
                );
            match schedule.as_mut() {
                Some(s) if unfinished => {
                    s.ran_to(iterations);
                    if !first && rho_after != rho_before {
                        s.updated(rho_before, rho_after);
                    }
                    first = false;
                }
                _ => break code,
            }
        };
        // SAFETY: OSQP's info and solution live as long as the workspace,
        // which `self` borrows for the lifetime of the result.
        let (info, x) = unsafe {
            let info = &*(*self.work).info;
            let x = std::slice::from_raw_parts((*(*self.work).solution).x, self.n);
            (info, x)
        };
        let primal_residual = info.pri_res;
        // Counted by OSQP since the last update (which reset its info):
        // over every call of this solve.
        let rho_updates = u32::try_from(info.rho_updates).unwrap_or(0);
        if code != 0 {
            self.broken = true;
            return Solve {
                iterations,
                solve_secs,
                rho_updates,
                ..failed
            };
        }
        let status = match info.status_val as ffi::ffi_osqp_solve_status {
            ffi::OSQP_SOLVED => QpStatus::Solved,
            ffi::OSQP_SOLVED_INACCURATE => QpStatus::SolvedInaccurate,
            ffi::OSQP_MAX_ITER_REACHED => QpStatus::MaxIterationsReached,
            ffi::OSQP_TIME_LIMIT_REACHED => QpStatus::TimeLimitReached,
            ffi::OSQP_PRIMAL_INFEASIBLE | ffi::OSQP_PRIMAL_INFEASIBLE_INACCURATE => {
                QpStatus::PrimalInfeasible
            }
            ffi::OSQP_DUAL_INFEASIBLE | ffi::OSQP_DUAL_INFEASIBLE_INACCURATE => {
                QpStatus::DualInfeasible
            }
            _ => QpStatus::NonConvex,
        };
        let has_iterate = matches!(
            status,
            QpStatus::Solved
                | QpStatus::SolvedInaccurate
                | QpStatus::MaxIterationsReached
                | QpStatus::TimeLimitReached
        );
        Solve {
            status,
            iterations,
            solve_secs,
            primal_residual,
            rho_updates,
            x: has_iterate.then_some(x),
            exact_fallback: false,
        }
    }
}

impl Drop for Solver {
    fn drop(&mut self) {
        // SAFETY: set up in `new`, freed once.
        unsafe { ffi::osqp_cleanup(self.work) };
    }
}

fn check(code: ffi::osqp_int) -> Result<(), QpError> {
    if code == 0 {
        Ok(())
    } else {
        Err(QpError)
    }
}

/// OSQP's settings for `config`: no printing, no polishing (it allocates),
/// warm starts on.
fn settings(config: &OsqpConfig, scaling_iterations: u32) -> ffi::OSQPSettings {
    // SAFETY: OSQPSettings is plain data; OSQP fills every field.
    let mut s: ffi::OSQPSettings = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer to a settings struct.
    unsafe { ffi::osqp_set_default_settings(&mut s) };
    s.verbose = 0;
    s.polish = 0;
    s.warm_start = 1;
    s.rho = config.rho;
    s.sigma = config.sigma;
    s.alpha = config.alpha;
    s.scaling = scaling_iterations as ffi::osqp_int;
    s.adaptive_rho = config.adaptive_rho as ffi::osqp_int;
    s.adaptive_rho_interval = config.adaptive_rho_interval as ffi::osqp_int;
    s.max_iter = config.max_iterations as ffi::osqp_int;
    s.eps_abs = config.eps_abs;
    s.eps_rel = config.eps_rel;
    s.check_termination = config.check_termination_every as ffi::osqp_int;
    s.scaled_termination = config.scaled_termination as ffi::osqp_int;
    s.time_limit = config.time_limit_secs.unwrap_or(0.0);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A random QP's data: `P` a dense upper triangle, `A` identity rows
    /// over dense ones, values spread over orders of magnitude (as the
    /// blocks' state weights next to input weights are).
    struct Data {
        p_ptr: Vec<usize>,
        p_idx: Vec<usize>,
        a_ptr: Vec<usize>,
        a_idx: Vec<usize>,
        n: usize,
        m: usize,
    }

    fn pattern(n: usize, dense_rows: usize) -> Data {
        let (mut p_ptr, mut p_idx) = (vec![0], vec![]);
        for c in 0..n {
            p_idx.extend(0..=c);
            p_ptr.push(p_idx.len());
        }
        let (mut a_ptr, mut a_idx) = (vec![0], vec![]);
        for c in 0..n {
            a_idx.push(c);
            a_idx.extend(n..n + dense_rows);
            a_ptr.push(a_idx.len());
        }
        Data {
            p_ptr,
            p_idx,
            a_ptr,
            a_idx,
            n,
            m: n + dense_rows,
        }
    }

    fn values(len: usize, seed: &mut u64) -> Vec<f64> {
        (0..len)
            .map(|_| {
                *seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let r = (*seed >> 11) as f64 / (1u64 << 53) as f64;
                (r - 0.5) * 10f64.powi(((*seed >> 3) % 7) as i32 - 3)
            })
            .collect()
    }

    /// Random values with a dominant diagonal: convex.
    fn hessian(d: &Data, seed: &mut u64) -> Vec<f64> {
        let mut p = values(d.p_idx.len(), seed);
        for c in 0..d.n {
            p[d.p_ptr[c + 1] - 1] = 1e3 * (1.0 + p[d.p_ptr[c + 1] - 1].abs());
        }
        p
    }

    fn solver(d: &Data, p: &[f64], a: &[f64], config: &OsqpConfig) -> Solver {
        let pc = Csc {
            nrows: d.n,
            ncols: d.n,
            indptr: &d.p_ptr,
            indices: &d.p_idx,
            values: p,
        };
        let ac = Csc {
            nrows: d.m,
            ncols: d.n,
            indptr: &d.a_ptr,
            indices: &d.a_idx,
            values: a,
        };
        let (l, u) = (vec![-1.0; d.m], vec![1.0; d.m]);
        Solver::new(&pc, &vec![0.0; d.n], &ac, &l, &u, config, 5).unwrap()
    }

    /// Everything OSQP keeps of the scaled problem, as bits.
    fn state(s: &Solver) -> Vec<u64> {
        // SAFETY: a valid workspace of `n` variables and `m` rows.
        unsafe {
            let w = &*s.work;
            let d = &*w.data;
            let sc = &*w.scaling;
            let slice = |p: *const f64, len: usize| std::slice::from_raw_parts(p, len).to_vec();
            let mut all = slice((*d.P).x, s.nnz_p);
            all.extend(slice((*d.A).x, s.nnz_a));
            all.extend(slice(d.q, s.n));
            all.extend(slice(d.l, s.m));
            all.extend(slice(d.u, s.m));
            all.extend(slice(sc.D, s.n));
            all.extend(slice(sc.Dinv, s.n));
            all.extend(slice(sc.E, s.m));
            all.extend(slice(sc.Einv, s.m));
            all.extend([sc.c, sc.cinv]);
            all.iter().map(|v| v.to_bits()).collect()
        }
    }

    /// The Ruiz scaling recomputed here is OSQP's `scale_data`, bit for
    /// bit, over successive updates (each unscaling the linear cost and
    /// bounds under the previous scaling).
    #[test]
    fn the_scaling_recomputed_here_is_osqps_bit_for_bit() {
        let mut seed = 7;
        for (n, dense) in [(6, 3), (20, 8), (1, 1)] {
            let d = pattern(n, dense);
            let p0 = hessian(&d, &mut seed);
            let a0 = values(d.a_idx.len(), &mut seed);
            let mut osqp = solver(&d, &p0, &a0, &OsqpConfig::default());
            let mut here = solver(&d, &p0, &a0, &OsqpConfig::default());
            for _ in 0..4 {
                let p = hessian(&d, &mut seed);
                let a = values(d.a_idx.len(), &mut seed);
                let q = values(n, &mut seed);
                let l: Vec<f64> = values(d.m, &mut seed).iter().map(|v| v - 1.0).collect();
                let u: Vec<f64> = l.iter().map(|v| v + 2.0).collect();
                for s in [&mut osqp, &mut here] {
                    s.update_lin_cost(&q).unwrap();
                    s.update_bounds(&l, &u).unwrap();
                }
                // SAFETY: lengths match the workspace's.
                let code = unsafe {
                    ffi::osqp_update_P_A(
                        osqp.work,
                        p.as_ptr(),
                        ptr::null(),
                        p.len() as ffi::osqp_int,
                        a.as_ptr(),
                        ptr::null(),
                        a.len() as ffi::osqp_int,
                    )
                };
                assert_eq!(code, 0);
                assert_eq!(here.update_p_a_scaled_here(&p, &a, false), 0);
                assert_eq!(state(&osqp), state(&here), "n = {n}");
            }
        }
    }

    /// Under a kept scaling (`osqp.rescale_every = 0`) the new matrices
    /// are scaled by the old `D`, `E`, `c`: the QP solved is the same, to
    /// the solver's tolerance, as under a recomputed scaling.
    #[test]
    fn a_kept_scaling_solves_the_same_qp() {
        let mut seed = 11;
        let d = pattern(8, 4);
        // Moderate constraint rows: a random QP at 1e-8, not a hard one.
        let rows = |seed: &mut u64| -> Vec<f64> {
            values(d.a_idx.len(), seed)
                .iter()
                .map(|v| v.signum() * (0.1 + v.abs().min(1.0)))
                .collect()
        };
        let (p0, a0) = (hessian(&d, &mut seed), rows(&mut seed));
        let config = OsqpConfig {
            eps_abs: 1e-8,
            eps_rel: 1e-8,
            max_iterations: 100_000,
            ..OsqpConfig::default()
        };
        let (mut kept, mut fresh) = (solver(&d, &p0, &a0, &config), solver(&d, &p0, &a0, &config));
        kept.rescale_every = 0;
        kept.update_p_a(&p0, &a0).unwrap();
        let before = state(&kept);
        let (p, a) = (hessian(&d, &mut seed), rows(&mut seed));
        let q: Vec<f64> = values(d.n, &mut seed).iter().map(|v| 1e3 * v).collect();
        let (l, u) = (vec![-1.0; d.m], vec![1.0; d.m]);
        kept.update_p_a(&p, &a).unwrap();
        fresh.update_p_a(&p, &a).unwrap();
        // D, E and c (the state's tail) are unchanged by the kept update.
        let tail = 2 * d.n + 2 * d.m + 2;
        assert_eq!(
            before[before.len() - tail..],
            state(&kept)[before.len() - tail..]
        );
        let mut solutions = Vec::new();
        for s in [&mut fresh, &mut kept] {
            s.update_lin_cost(&q).unwrap();
            s.update_bounds(&l, &u).unwrap();
            let solve = s.solve();
            assert_eq!(
                solve.status,
                QpStatus::Solved,
                "{} iterations",
                solve.iterations
            );
            solutions.push(solve.x.unwrap().to_vec());
        }
        let diff = solutions[0]
            .iter()
            .zip(&solutions[1])
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(diff < 1e-6, "solutions differ by {diff}");
    }
}
