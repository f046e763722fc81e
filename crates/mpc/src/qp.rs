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
        // SAFETY: lengths match the workspace's; null index arrays mean
        // "all values, in order".
        let code = unsafe {
            ffi::osqp_update_P_A(
                self.work,
                p.as_ptr(),
                ptr::null(),
                p.len() as ffi::osqp_int,
                a.as_ptr(),
                ptr::null(),
                a.len() as ffi::osqp_int,
            )
        };
        self.broken = code != 0;
        if self.broken {
            Err(QpError)
        } else {
            Ok(())
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
        // SAFETY: the workspace is valid and its factorisation is sound.
        let code = unsafe { ffi::osqp_solve(self.work) };
        // SAFETY: OSQP's info and solution live as long as the workspace,
        // which `self` borrows for the lifetime of the result.
        let (info, x) = unsafe {
            let info = &*(*self.work).info;
            let x = std::slice::from_raw_parts((*(*self.work).solution).x, self.n);
            (info, x)
        };
        let iterations = u32::try_from(info.iter).unwrap_or(0);
        let solve_secs = info.solve_time;
        let primal_residual = info.pri_res;
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
