//! The dense backend's exact solve of a box-constrained QP
//! (`[controller.qp] active_set`): when every row of `A` bounds a single
//! variable and no variable has two rows (P1's fully condensed QP: input
//! boxes only), `min 1/2 x'Px + q'x, lo <= x <= hi` is solved by the
//! primal-dual active-set method (Hintermüller, Ito and Kunisch 2002):
//! fix the guessed active variables at their bounds, solve the free ones'
//! equations `P_FF x_F = -(q_F + P_FA x_A)` by a dense Cholesky, then free
//! every fixed variable whose multiplier has the wrong sign and fix every
//! free one outside its box, until nothing changes. That fixed point is
//! the QP's exact KKT point (to rounding), not an ADMM iterate at eps 1e-3.
//! The first guess is the warm start's bounds (the shifted plan's
//! saturated inputs), so a step whose saturation did not change is one
//! factorisation. Why not ADMM here: its linear convergence is P1's tail
//! (100-230 iterations in the swing-up, docs/performance.md). The method
//! can cycle on matrices that are not M-matrices: after [`MAX_ROUNDS`]
//! the solve falls back to the dense ADMM from the same warm start,
//! counted (`Solve::exact_fallback`). ADMM's own factorisation is then
//! made on demand: in this mode `refactor` only marks it stale.

use super::{c_max, c_min, DenseSolver, Info, RowKind, INFTY, MIN_SCALING};
use crate::dense_factor::{cholesky_rows, dot, solve_rows};

/// Active-set rounds before the ADMM fallback: each is one Cholesky of
/// the free block; P1's swing-up needs at most a handful.
pub(super) const MAX_ROUNDS: u32 = 25;
/// Relative tolerance on a bound's violation and a multiplier's sign:
/// rounding level, so that the fixed point is the exact one.
const TOL: f64 = 1e-9;

/// Workspace of the exact box solve; everything allocated at setup.
#[derive(Debug)]
pub(super) struct BoxQp {
    /// Per variable: its bound row and that entry's index into `A`'s values.
    row_of: Vec<Option<(usize, usize)>>,
    /// `P`, full and row-major, filled once per `P` update.
    h: Vec<f64>,
    h_stale: bool,
    /// The free block, then its Cholesky factor (row-major `nf x nf`).
    k: Vec<f64>,
    inv_diag: Vec<f64>,
    lo: Vec<f64>,
    hi: Vec<f64>,
    /// Per variable: -1 fixed at `lo`, 1 at `hi`, 0 free.
    side: Vec<i8>,
    free: Vec<usize>,
    x: Vec<f64>,
    rhs: Vec<f64>,
    grad: Vec<f64>,
    /// Solves handed to ADMM since setup.
    pub fallbacks: u64,
}

impl BoxQp {
    /// The workspace when `A` (rows as `(column, value index)` lists) is a
    /// box: one entry per row, at most one row per variable.
    pub fn new(n: usize, a_row_ptr: &[usize], a_row_entries: &[(usize, usize)]) -> Option<Self> {
        let mut row_of = vec![None; n];
        for r in 0..a_row_ptr.len() - 1 {
            let entries = &a_row_entries[a_row_ptr[r]..a_row_ptr[r + 1]];
            let [(c, at)] = entries else {
                return None;
            };
            if row_of[*c].is_some() {
                return None;
            }
            row_of[*c] = Some((r, *at));
        }
        let zeros = |k: usize| vec![0.0; k];
        Some(Self {
            row_of,
            h: zeros(n * n),
            h_stale: true,
            k: zeros(n * n),
            inv_diag: zeros(n),
            lo: zeros(n),
            hi: zeros(n),
            side: vec![0; n],
            free: Vec::with_capacity(n),
            x: zeros(n),
            rhs: zeros(n),
            grad: zeros(n),
            fallbacks: 0,
        })
    }

    /// `P` changed: refill the dense copy at the next solve.
    pub fn p_changed(&mut self) {
        self.h_stale = true;
    }
}

/// A bound of OSQP's with its infinity (`1e30` and beyond) made infinite.
fn finite_or(v: f64, inf: f64) -> f64 {
    if v.abs() >= INFTY * MIN_SCALING {
        inf
    } else {
        v
    }
}

impl DenseSolver {
    /// The exact solve from the warm start's active bounds; true when it
    /// converged, with the solution in the iterates, `x_out`, `y_out` and
    /// `info` as a converged ADMM solve leaves them.
    pub(super) fn solve_box(&mut self) -> bool {
        let n = self.n;
        let Some(b) = self.box_qp.as_mut() else {
            return false;
        };
        if b.h_stale {
            b.h.fill(0.0);
            for c in 0..n {
                for (r, v) in self.p.column(c) {
                    b.h[r * n + c] = v;
                    b.h[c * n + r] = v;
                }
            }
            b.h_stale = false;
        }
        for c in 0..n {
            let (lo, hi) = match b.row_of[c] {
                None => (f64::NEG_INFINITY, f64::INFINITY),
                Some((r, _)) if self.kinds[r] == RowKind::Free => {
                    (f64::NEG_INFINITY, f64::INFINITY)
                }
                Some((r, at)) => {
                    let a = self.a.values[at];
                    if !(a.is_finite() && a != 0.0) {
                        return false;
                    }
                    let l = finite_or(self.l[r], f64::NEG_INFINITY) / a;
                    let u = finite_or(self.u[r], f64::INFINITY) / a;
                    if a > 0.0 {
                        (l, u)
                    } else {
                        (u, l)
                    }
                }
            };
            b.lo[c] = lo;
            b.hi[c] = hi;
            let x = self.it.x[c];
            b.side[c] = if x <= lo + TOL * (1.0 + lo.abs()) {
                -1
            } else if x >= hi - TOL * (1.0 + hi.abs()) {
                1
            } else {
                0
            };
        }
        let gtol = TOL * (1.0 + super::norm_inf(&self.q));
        for round in 1..=MAX_ROUNDS {
            b.free.clear();
            for c in 0..n {
                match b.side[c] {
                    -1 => b.x[c] = b.lo[c],
                    1 => b.x[c] = b.hi[c],
                    _ => {
                        b.x[c] = 0.0;
                        b.free.push(c);
                    }
                }
            }
            let nf = b.free.len();
            for (i, &c) in b.free.iter().enumerate() {
                b.rhs[i] = -self.q[c] - dot(&b.h[c * n..c * n + n], &b.x);
                let row = &b.h[c * n..c * n + n];
                for (j, &cj) in b.free[..=i].iter().enumerate() {
                    b.k[i * nf + j] = row[cj];
                }
            }
            if cholesky_rows(&mut b.k[..nf * nf], nf, &mut b.inv_diag[..nf]).is_err() {
                return false;
            }
            solve_rows(&b.k[..nf * nf], &b.inv_diag[..nf], &mut b.rhs[..nf]);
            for (i, &c) in b.free.iter().enumerate() {
                b.x[c] = b.rhs[i];
            }
            let mut changed = false;
            for c in 0..n {
                let side = match b.side[c] {
                    0 if b.x[c] < b.lo[c] - TOL * (1.0 + b.lo[c].abs()) => -1,
                    0 if b.x[c] > b.hi[c] + TOL * (1.0 + b.hi[c].abs()) => 1,
                    0 => 0,
                    s => {
                        b.grad[c] = self.q[c] + dot(&b.h[c * n..c * n + n], &b.x);
                        let wrong = (s < 0 && b.grad[c] < -gtol) || (s > 0 && b.grad[c] > gtol);
                        if wrong {
                            0
                        } else {
                            s
                        }
                    }
                };
                changed |= side != b.side[c];
                b.side[c] = side;
            }
            if !b.x.iter().all(|v| v.is_finite()) {
                return false;
            }
            if !changed {
                self.accept_box(round);
                return true;
            }
        }
        false
    }

    /// The converged point becomes the solve's result: `x` clipped to its
    /// box (a free variable may sit within [`TOL`] outside), `z = A x`, each
    /// fixed variable's row multiplier from its gradient (`q + P x + a y =
    /// 0`), the residuals measured.
    fn accept_box(&mut self, rounds: u32) {
        let n = self.n;
        let b = self.box_qp.as_mut().expect("the box solve is on");
        let mut dua_res: f64 = 0.0;
        self.it.y.fill(0.0);
        for c in 0..n {
            let x = c_min(c_max(b.x[c], b.lo[c]), b.hi[c]);
            self.it.x[c] = x;
            match (b.side[c], b.row_of[c]) {
                (0, _) => {
                    let g = self.q[c] + dot(&b.h[c * n..c * n + n], &b.x);
                    dua_res = c_max(dua_res, g.abs());
                }
                (_, Some((r, at))) => self.it.y[r] = -b.grad[c] / self.a.values[at],
                (_, None) => {}
            }
        }
        self.a.mul(&self.it.x, &mut self.it.ax);
        let mut pri_res: f64 = 0.0;
        for r in 0..self.m {
            let z = c_min(c_max(self.it.ax[r], self.l[r]), self.u[r]);
            pri_res = c_max(pri_res, (self.it.ax[r] - z).abs());
            self.it.z[r] = z;
        }
        self.x_out.copy_from_slice(&self.it.x);
        self.y_out.copy_from_slice(&self.it.y);
        self.info = Info {
            iterations: rounds,
            pri_res,
            dua_res,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_rng::Rng;
    use super::super::DenseSolver;
    use crate::qp::Csc;
    use crate::report::QpStatus;
    use crate::OsqpConfig;

    /// `min 1/2 x'Px + q'x` over `n` variables, `P = M'M + 0.05 I` dense
    /// (not an M-matrix), one bound row per variable but the last (which
    /// has none), with entries of either sign and scale, one row free, the
    /// boxes tight enough that about half the bounds are active.
    struct BoxQp {
        n: usize,
        p: (Vec<usize>, Vec<usize>, Vec<f64>),
        q: Vec<f64>,
        a: (Vec<usize>, Vec<usize>, Vec<f64>),
        l: Vec<f64>,
        u: Vec<f64>,
    }

    impl BoxQp {
        fn random(rng: &mut Rng, n: usize) -> Self {
            let m: Vec<Vec<f64>> = (0..n)
                .map(|_| (0..n).map(|_| rng.uniform()).collect())
                .collect();
            let mut p = (vec![0], Vec::new(), Vec::new());
            for c in 0..n {
                for r in 0..=c {
                    let v: f64 = (0..n).map(|i| m[i][r] * m[i][c]).sum();
                    p.1.push(r);
                    p.2.push(v + if r == c { 0.05 } else { 0.0 });
                }
                p.0.push(p.1.len());
            }
            let q = (0..n).map(|_| 5.0 * rng.uniform()).collect();
            let rows = n - 1;
            let mut a = (vec![0], Vec::new(), Vec::new());
            for c in 0..n {
                if c < rows {
                    a.1.push(c);
                    a.2.push(if c % 3 == 1 { -0.5 } else { 2.0 });
                }
                a.0.push(a.1.len());
            }
            let mut l: Vec<f64> = (0..rows)
                .map(|_| -0.2 - 0.3 * rng.uniform().abs())
                .collect();
            let mut u: Vec<f64> = (0..rows).map(|_| 0.1 + 0.3 * rng.uniform().abs()).collect();
            l[2] = f64::NEG_INFINITY;
            u[2] = f64::INFINITY;
            Self { n, p, q, a, l, u }
        }

        fn solver(&self, config: &OsqpConfig, active_set: bool) -> Result<DenseSolver, String> {
            let (pp, pi, pv) = &self.p;
            let (ap, ai, av) = &self.a;
            let m = self.l.len();
            let p = Csc {
                nrows: self.n,
                ncols: self.n,
                indptr: pp,
                indices: pi,
                values: pv,
            };
            let a = Csc {
                nrows: m,
                ncols: self.n,
                indptr: ap,
                indices: ai,
                values: av,
            };
            DenseSolver::new(&p, &self.q, &a, &self.l, &self.u, config, false, active_set)
        }

        fn objective(&self, x: &[f64]) -> f64 {
            let (pp, pi, pv) = &self.p;
            let mut f: f64 = self.q.iter().zip(x).map(|(q, x)| q * x).sum();
            for c in 0..self.n {
                for at in pp[c]..pp[c + 1] {
                    let r = pi[at];
                    let w = if r == c { 0.5 } else { 1.0 };
                    f += w * pv[at] * x[r] * x[c];
                }
            }
            f
        }
    }

    fn tight() -> OsqpConfig {
        OsqpConfig {
            eps_abs: 1e-11,
            eps_rel: 1e-11,
            max_iterations: 400_000,
            ..OsqpConfig::default()
        }
    }

    /// Random box QPs: the active-set solution is ADMM's at 1e-11 (cost
    /// and point), its multipliers have their bounds' signs, and every
    /// bound holds.
    #[test]
    fn the_exact_box_solve_finds_admms_optimum() {
        let mut rng = Rng(11);
        let mut active_total = 0;
        for case in 0..30 {
            let qp = BoxQp::random(&mut rng, 14);
            let mut exact = qp.solver(&OsqpConfig::default(), true).unwrap();
            let solve = exact.solve();
            assert_eq!(solve.status, QpStatus::Solved, "case {case}");
            assert!(!solve.exact_fallback, "case {case}");
            let x = solve.x.unwrap().to_vec();
            let mut admm = qp.solver(&tight(), false).unwrap();
            let reference = admm.solve();
            assert_eq!(reference.status, QpStatus::Solved, "case {case}");
            let x_ref = reference.x.unwrap();
            let (f, f_ref) = (qp.objective(&x), qp.objective(x_ref));
            assert!(
                f <= f_ref + 1e-9 * (1.0 + f_ref.abs()),
                "case {case}: {f} vs {f_ref}"
            );
            let dx = x
                .iter()
                .zip(x_ref)
                .fold(0.0_f64, |m, (a, b)| m.max((a - b).abs()));
            assert!(dx < 1e-6, "case {case}: x off ADMM's by {dx:e}");
            let y = exact.duals();
            for (r, &a) in qp.a.2.iter().enumerate() {
                let ax = a * x[r];
                assert!(
                    ax >= qp.l[r] - 1e-12 && ax <= qp.u[r] + 1e-12,
                    "case {case}"
                );
                if y[r] > 0.0 {
                    assert!((ax - qp.u[r]).abs() < 1e-9, "case {case}: row {r}");
                } else if y[r] < 0.0 {
                    assert!((ax - qp.l[r]).abs() < 1e-9, "case {case}: row {r}");
                }
                active_total += usize::from(y[r] != 0.0);
            }
        }
        assert!(
            active_total > 60,
            "only {active_total} active bounds in 30 QPs"
        );
    }

    /// From a warm start at the solution's own bounds the first guess is
    /// right: one factorisation.
    #[test]
    fn a_warm_start_on_the_active_bounds_takes_one_round() {
        let qp = BoxQp::random(&mut Rng(5), 14);
        let mut s = qp.solver(&OsqpConfig::default(), true).unwrap();
        let cold = s.solve();
        let (rounds, x) = (cold.iterations, cold.x.unwrap().to_vec());
        assert!(rounds > 1, "the cold start needed {rounds} round");
        s.warm_start_x(&x).unwrap();
        assert_eq!(s.solve().iterations, 1);
    }

    /// A row with two entries is no box: setup says so.
    #[test]
    fn a_qp_with_a_general_row_is_refused() {
        let mut qp = BoxQp::random(&mut Rng(3), 6);
        // Column 0's entry joins row 1 too.
        qp.a.0 = vec![0, 2, 3, 4, 5, 5, 5];
        qp.a.1 = vec![0, 1, 1, 2, 3];
        qp.a.2 = vec![1.0, 1.0, 1.0, 1.0, 1.0];
        qp.l.truncate(4);
        qp.u.truncate(4);
        assert!(qp.solver(&OsqpConfig::default(), true).is_err());
        assert!(qp.solver(&OsqpConfig::default(), false).is_ok());
    }

    /// A bound row whose entry is zero has no box to project on: the solve
    /// is handed to ADMM, which solves it, and says so.
    #[test]
    fn a_zero_entry_falls_back_to_admm() {
        let mut qp = BoxQp::random(&mut Rng(9), 8);
        qp.a.2[0] = 0.0;
        qp.l[0] = -1.0;
        qp.u[0] = 1.0;
        let mut s = qp.solver(&OsqpConfig::default(), true).unwrap();
        let solve = s.solve();
        assert!(solve.exact_fallback);
        assert_eq!(solve.status, QpStatus::Solved);
        assert_eq!(s.box_qp.as_ref().unwrap().fallbacks, 1);
    }
}
