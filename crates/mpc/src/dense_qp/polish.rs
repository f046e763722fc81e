//! The dense backend's active-set step (`[controller.qp] polish`): when
//! ADMM has not converged after [`FIRST_ATTEMPT`] iterations, the rows its
//! iterate holds at a bound are guessed active (OSQP's polish rule: `z - l
//! < -y` lower, `u - z < y` upper) and the QP with those rows as
//! equalities and the others dropped is solved exactly, by the method of
//! multipliers on `P + delta I + A' diag(w) A` (`w` large on the active
//! rows, zero elsewhere: the same reduced system and elimination as
//! ADMM's, in a second factor). Its multipliers are clipped to their sign
//! and the result is accepted only if it meets the solve's own tolerances
//! (primal and dual residuals, as a converged ADMM iterate would), so a
//! wrong guess gets up to two corrections (a primal-dual active-set
//! step: wrong-signed multipliers dropped, violated rows added; [`ROUNDS`]
//! factorisations in all), and then ADMM goes on. Attempts are
//! spaced 60, 120, 240... iterations apart and skipped while the guess is
//! the one that failed. Why: past an obstacle the flagship's keep-out rows
//! and their slacks are active, and ADMM's linear convergence needs
//! hundreds of iterations there (docs/performance.md, issue 13).

use super::{c_max, c_min, norm_inf, DenseSolver, Info, RowKind};
use crate::dense_factor::ReducedSystem;

/// The first attempt, in ADMM iterations: the flagship's usual steps take
/// 6-18, and a first attempt at 30 stopped 1,200 of them at 30 instead
/// (and shifted the others' rho: more iterations in all); at 60 a hundred
/// (docs/performance.md).
pub(super) const FIRST_ATTEMPT: u32 = 60;
/// The weight of an active row: the equality's penalty, and the step of
/// its multiplier's update.
const ACTIVE_WEIGHT: f64 = 1e6;
/// The proximal weight keeping the system definite where neither `P` nor
/// an active row binds a direction.
const DELTA: f64 = 1e-7;
/// Multiplier updates at most; each contracts the equality residual by
/// `1 / (1 + w lambda)`, so two or three are the usual.
const PASSES: usize = 10;
/// Active-set corrections after a first guess that fails.
const ROUNDS: usize = 3;

/// Workspace of the active-set step; everything allocated at setup.
#[derive(Debug)]
pub(super) struct Polish {
    system: ReducedSystem,
    /// Per row: -1 at its lower bound, 1 at its upper, 0 dropped.
    side: Vec<i8>,
    weights: Vec<f64>,
    target: Vec<f64>,
    x: Vec<f64>,
    y: Vec<f64>,
    z: Vec<f64>,
    ax: Vec<f64>,
    px: Vec<f64>,
    aty: Vec<f64>,
    rhs: Vec<f64>,
    work: Vec<f64>,
    next_at: u32,
    gap: u32,
    /// The first attempt's iteration ([`FIRST_ATTEMPT`]; tests lower it).
    pub first: u32,
    /// Attempts and acceptances of the last solve.
    pub attempts: u32,
    pub accepted: bool,
}

impl Polish {
    pub fn new(system: ReducedSystem, n: usize, m: usize) -> Self {
        Self {
            system,
            side: vec![0; m],
            weights: vec![0.0; m],
            target: vec![0.0; m],
            x: vec![0.0; n],
            y: vec![0.0; m],
            z: vec![0.0; m],
            ax: vec![0.0; m],
            px: vec![0.0; n],
            aty: vec![0.0; n],
            rhs: vec![0.0; n],
            work: vec![0.0; m],
            next_at: FIRST_ATTEMPT,
            gap: FIRST_ATTEMPT,
            first: FIRST_ATTEMPT,
            attempts: 0,
            accepted: false,
        }
    }

    /// Before a solve: the schedule restarts and no guess has failed.
    pub fn reset(&mut self) {
        self.next_at = self.first;
        self.gap = self.first;
        self.side.fill(2);
        self.attempts = 0;
        self.accepted = false;
    }
}

impl DenseSolver {
    /// At a termination check of iteration `iter` that found no verdict:
    /// the active-set step when due. True when its solution met the
    /// tolerances and replaced the iterate (`info` then holds its
    /// residuals).
    pub(super) fn try_polish(&mut self, iter: u32) -> bool {
        let Some(pol) = self.polish.as_mut() else {
            return false;
        };
        if iter < pol.next_at {
            return false;
        }
        pol.next_at = iter + pol.gap;
        pol.gap = pol.gap.saturating_mul(2);
        let it = &self.it;
        let mut changed = false;
        for r in 0..self.m {
            let side = match self.kinds[r] {
                RowKind::Free => 0,
                RowKind::Equality => -1,
                RowKind::Inequality if it.z[r] - self.l[r] < -it.y[r] => -1,
                RowKind::Inequality if self.u[r] - it.z[r] < it.y[r] => 1,
                RowKind::Inequality => 0,
            };
            changed |= side != pol.side[r];
            pol.side[r] = side;
            pol.y[r] = if side == 0 { 0.0 } else { it.y[r] };
        }
        if !changed {
            return false;
        }
        pol.x.copy_from_slice(&it.x);
        for _ in 0..ROUNDS {
            if let Some(pol) = self.polish.as_mut() {
                pol.attempts += 1;
            }
            if !self.solve_equality_qp() {
                return false;
            }
            let (pri_res, dua_res, ok) = self.polished_residuals();
            if ok {
                self.accept_polished(iter, pri_res, dua_res);
                return true;
            }
            if !self.correct_active_set() {
                return false;
            }
        }
        false
    }

    /// The equality-constrained QP of the guessed rows, by the proximal
    /// method of multipliers from `pol.x` and `pol.y`; leaves `x`, `A x`
    /// and the (unclipped) multipliers in the workspace.
    fn solve_equality_qp(&mut self) -> bool {
        let pol = self.polish.as_mut().expect("polish is on");
        for r in 0..self.m {
            let side = pol.side[r];
            pol.weights[r] = if side == 0 { 0.0 } else { ACTIVE_WEIGHT };
            pol.target[r] = match side {
                -1 => self.l[r],
                1 => self.u[r],
                _ => 0.0,
            };
        }
        let p = (&self.p.indptr[..], &self.p.indices[..], &self.p.values[..]);
        let a = &self.a.values;
        if pol.system.factor(p, a, &pol.weights, DELTA).is_err() {
            return false;
        }
        for _ in 0..PASSES {
            // (P + delta I + A' W A) x = delta x - q + A' (W b - y).
            for r in 0..self.m {
                pol.work[r] = pol.weights[r] * pol.target[r] - pol.y[r];
            }
            self.a.tr_mul(&pol.work, &mut pol.rhs);
            for i in 0..self.n {
                pol.rhs[i] += DELTA * pol.x[i] - self.q[i];
            }
            pol.system.solve(a, &pol.weights, &mut pol.rhs);
            pol.x.copy_from_slice(&pol.rhs);
            self.a.mul(&pol.x, &mut pol.ax);
            let mut gap: f64 = 0.0;
            for r in 0..self.m {
                if pol.side[r] != 0 {
                    let e = pol.ax[r] - pol.target[r];
                    pol.y[r] += ACTIVE_WEIGHT * e;
                    gap = c_max(gap, e.abs() / (1.0 + pol.target[r].abs()));
                }
            }
            if gap < 1e-12 {
                break;
            }
        }
        pol.x.iter().chain(&pol.y).all(|v| v.is_finite())
    }

    /// The polished point's residuals, with its multipliers clipped to
    /// their bound's sign (in `pol.z`, `pol.aty`: `pol.y` stays unclipped
    /// for the active-set correction) and `z` the projection of `A x`:
    /// (primal, dual, whether both meet the solve's tolerances).
    fn polished_residuals(&mut self) -> (f64, f64, bool) {
        let pol = self.polish.as_mut().expect("polish is on");
        for r in 0..self.m {
            pol.work[r] = clipped(self.kinds[r], pol.side[r], pol.y[r]);
            pol.z[r] = c_min(c_max(pol.ax[r], self.l[r]), self.u[r]);
        }
        let pri_res = (0..self.m).fold(0.0, |m, r| c_max(m, (pol.ax[r] - pol.z[r]).abs()));
        let (eps_abs, eps_rel) = (self.settings.eps_abs, self.settings.eps_rel);
        let eps_prim = eps_abs + eps_rel * c_max(norm_inf(&pol.z), norm_inf(&pol.ax));
        self.p.sym_mul(&pol.x, &mut pol.px);
        self.a.tr_mul(&pol.work, &mut pol.aty);
        let dua = (0..self.n).map(|i| (self.q[i] + pol.px[i] + pol.aty[i]).abs());
        let dua_res = dua.fold(0.0, c_max);
        let norm_dual = c_max(
            c_max(norm_inf(&pol.aty), norm_inf(&pol.px)),
            norm_inf(&self.q),
        );
        let ok = pri_res < eps_prim && dua_res < eps_abs + eps_rel * norm_dual;
        (pri_res, dua_res, ok)
    }

    /// A primal-dual active-set correction: a guessed row whose
    /// multiplier has the wrong sign is dropped, a dropped row that `A x`
    /// violates is added at the violated bound. False if nothing changes.
    fn correct_active_set(&mut self) -> bool {
        let pol = self.polish.as_mut().expect("polish is on");
        let mut changed = false;
        for r in 0..self.m {
            if self.kinds[r] != RowKind::Inequality {
                continue;
            }
            let side = match pol.side[r] {
                -1 if pol.y[r] > 0.0 => 0,
                1 if pol.y[r] < 0.0 => 0,
                0 if pol.ax[r] < self.l[r] => -1,
                0 if pol.ax[r] > self.u[r] => 1,
                s => s,
            };
            if side != pol.side[r] {
                changed = true;
                pol.side[r] = side;
                pol.y[r] = 0.0;
            }
        }
        changed
    }

    /// The polished point becomes the iterate (`solve` then puts rho back
    /// to the configured one, as after any solve with the step on).
    fn accept_polished(&mut self, iter: u32, pri_res: f64, dua_res: f64) {
        let pol = self.polish.as_mut().expect("polish is on");
        pol.accepted = true;
        self.it.x.copy_from_slice(&pol.x);
        self.it.z.copy_from_slice(&pol.z);
        self.it.y.copy_from_slice(&pol.work);
        self.it.ax.copy_from_slice(&pol.ax);
        self.info = Info {
            iterations: iter,
            pri_res,
            dua_res,
        };
    }
}

/// A multiplier clipped to its bound's sign (equalities unclipped,
/// dropped rows zero).
fn clipped(kind: RowKind, side: i8, y: f64) -> f64 {
    match (kind, side) {
        (_, 0) => 0.0,
        (RowKind::Equality, _) => y,
        (_, -1) => c_min(y, 0.0),
        _ => c_max(y, 0.0),
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_rng::Rng;
    use super::super::DenseSolver;
    use crate::qp::Csc;
    use crate::report::QpStatus;
    use crate::OsqpConfig;

    /// A QP `min 1/2 x'Px + q'x, l <= Ax <= u` with `P` upper by columns.
    struct Qp {
        n: usize,
        m: usize,
        p: (Vec<usize>, Vec<usize>, Vec<f64>),
        q: Vec<f64>,
        a: (Vec<usize>, Vec<usize>, Vec<f64>),
        l: Vec<f64>,
        u: Vec<f64>,
    }

    impl Qp {
        fn p(&self) -> Csc<'_> {
            let (ip, ix, v) = &self.p;
            Csc {
                nrows: self.n,
                ncols: self.n,
                indptr: ip,
                indices: ix,
                values: v,
            }
        }

        fn a(&self) -> Csc<'_> {
            let (ip, ix, v) = &self.a;
            Csc {
                nrows: self.m,
                ncols: self.n,
                indptr: ip,
                indices: ix,
                values: v,
            }
        }

        fn solver(&self, config: &OsqpConfig, polish: bool) -> DenseSolver {
            let (p, a) = (self.p(), self.a());
            DenseSolver::new(&p, &self.q, &a, &self.l, &self.u, config, polish, false).unwrap()
        }

        fn ax(&self, x: &[f64]) -> Vec<f64> {
            let (ip, ix, v) = &self.a;
            let mut out = vec![0.0; self.m];
            for c in 0..self.n {
                for at in ip[c]..ip[c + 1] {
                    out[ix[at]] += v[at] * x[c];
                }
            }
            out
        }

        fn px(&self, x: &[f64]) -> Vec<f64> {
            let (ip, ix, v) = &self.p;
            let mut out = vec![0.0; self.n];
            for c in 0..self.n {
                for at in ip[c]..ip[c + 1] {
                    let r = ix[at];
                    out[r] += v[at] * x[c];
                    if r != c {
                        out[c] += v[at] * x[r];
                    }
                }
            }
            out
        }

        fn objective(&self, x: &[f64]) -> f64 {
            let px = self.px(x);
            (0..self.n)
                .map(|i| 0.5 * x[i] * px[i] + self.q[i] * x[i])
                .sum()
        }

        /// The KKT residuals of `(x, y)`, dense: stationarity, bound
        /// violation, and the complementarity (a multiplier off a bound
        /// or of the wrong sign, times its distance).
        fn kkt(&self, x: &[f64], y: &[f64]) -> (f64, f64, f64) {
            let (px, ax) = (self.px(x), self.ax(x));
            let (ip, ix, v) = &self.a;
            let mut grad: Vec<f64> = (0..self.n).map(|i| px[i] + self.q[i]).collect();
            for c in 0..self.n {
                for at in ip[c]..ip[c + 1] {
                    grad[c] += v[at] * y[ix[at]];
                }
            }
            let stat = grad.iter().fold(0.0_f64, |m, g| m.max(g.abs()));
            let mut viol: f64 = 0.0;
            let mut comp: f64 = 0.0;
            for r in 0..self.m {
                viol = viol.max(self.l[r] - ax[r]).max(ax[r] - self.u[r]);
                let miss = if y[r] < 0.0 {
                    ax[r] - self.l[r]
                } else {
                    self.u[r] - ax[r]
                };
                comp = comp.max((y[r] * miss).abs());
            }
            (stat, viol, comp)
        }
    }

    /// `n` variables: a dense `P = M'M + 0.1 I`, a box row per variable
    /// and `k` dense rows whose bounds `x = 0` satisfies, tight enough that
    /// several are active at the optimum.
    fn random_qp(rng: &mut Rng, n: usize, k: usize) -> Qp {
        let m_rows: Vec<Vec<f64>> = (0..n)
            .map(|_| (0..n).map(|_| rng.uniform()).collect())
            .collect();
        let mut p = (vec![0], Vec::new(), Vec::new());
        for c in 0..n {
            for r in 0..=c {
                let mut v: f64 = (0..n).map(|i| m_rows[i][r] * m_rows[i][c]).sum();
                if r == c {
                    v += 0.1;
                }
                p.1.push(r);
                p.2.push(v);
            }
            p.0.push(p.1.len());
        }
        let q = (0..n).map(|_| 10.0 * rng.uniform()).collect();
        let dense: Vec<Vec<f64>> = (0..k)
            .map(|_| (0..n).map(|_| rng.uniform()).collect())
            .collect();
        let m = n + k;
        let mut a = (vec![0], Vec::new(), Vec::new());
        for c in 0..n {
            a.1.push(c);
            a.2.push(1.0);
            for (j, row) in dense.iter().enumerate() {
                a.1.push(n + j);
                a.2.push(row[c]);
            }
            a.0.push(a.1.len());
        }
        let mut l = vec![-1.0; m];
        let mut u = vec![1.0; m];
        for j in 0..k {
            l[n + j] = -0.2 - 0.3 * rng.uniform().abs();
            u[n + j] = 0.2 + 0.3 * rng.uniform().abs();
        }
        Qp {
            n,
            m,
            p,
            q,
            a,
            l,
            u,
        }
    }

    fn flagship_settings() -> OsqpConfig {
        OsqpConfig {
            alpha: 1.0,
            check_termination_every: 3,
            ..OsqpConfig::default()
        }
    }

    /// The same QP solved by ADMM to 1e-10: the reference optimum.
    fn reference(qp: &Qp) -> (Vec<f64>, f64) {
        let config = OsqpConfig {
            eps_abs: 1e-10,
            eps_rel: 1e-10,
            max_iterations: 200_000,
            ..flagship_settings()
        };
        let mut s = qp.solver(&config, false);
        let solve = s.solve();
        assert_eq!(
            solve.status,
            QpStatus::Solved,
            "the reference did not converge"
        );
        let x = solve.x.unwrap().to_vec();
        let f = qp.objective(&x);
        (x, f)
    }

    /// Random constrained QPs with the step forced at the third
    /// iteration: each accepted step is a KKT point of the QP (dense
    /// residuals) with the reference's optimal cost.
    #[test]
    fn the_active_set_step_solves_random_constrained_qps() {
        let mut rng = Rng(7);
        let mut accepted = 0;
        for case in 0..40 {
            let qp = random_qp(&mut rng, 12, 8);
            let mut s = qp.solver(&flagship_settings(), true);
            s.polish.as_mut().unwrap().first = 3;
            let solve = s.solve();
            assert_eq!(solve.status, QpStatus::Solved, "case {case}");
            if !s.polish.as_ref().unwrap().accepted {
                continue;
            }
            accepted += 1;
            let x = s.x_out.clone();
            let (stat, viol, comp) = qp.kkt(&x, &s.y_out);
            assert!(
                stat < 1e-6 && viol < 1e-6 && comp < 1e-6,
                "case {case}: KKT {stat:e} {viol:e} {comp:e}"
            );
            let (x_ref, f_ref) = reference(&qp);
            let f = qp.objective(&x);
            assert!(
                (f - f_ref).abs() < 1e-7 * (1.0 + f_ref.abs()),
                "case {case}: cost {f} against {f_ref}"
            );
            let dx = x
                .iter()
                .zip(&x_ref)
                .fold(0.0_f64, |m, (a, b)| m.max((a - b).abs()));
            assert!(dx < 1e-4, "case {case}: x off the reference's by {dx:e}");
        }
        assert!(
            accepted >= 20,
            "only {accepted} of 40 solved by the active-set step"
        );
    }

    /// Reads a QP recorded from the flagship (`tests/data`): the problem,
    /// the solver's rho and the warm start it was solved from.
    fn recorded() -> (Qp, f64, Vec<f64>, Vec<f64>) {
        let text = include_str!("../../tests/data/flagship_pillar_qp.txt");
        let mut lines = text.lines();
        let head: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
        let (n, m, rho) = (
            head[1].parse().unwrap(),
            head[3].parse().unwrap(),
            head[5].parse().unwrap(),
        );
        let mut field = |name: &str| -> Vec<f64> {
            let line = lines.next().unwrap();
            let mut words = line.split_whitespace();
            assert_eq!(words.next(), Some(name));
            let len: usize = words.next().unwrap().parse().unwrap();
            let v: Vec<f64> = words.map(|w| w.parse().unwrap()).collect();
            assert_eq!(v.len(), len);
            v
        };
        let ints = |v: Vec<f64>| v.into_iter().map(|x| x as usize).collect::<Vec<_>>();
        let p = (
            ints(field("p_indptr")),
            ints(field("p_indices")),
            field("p_values"),
        );
        let q = field("q");
        let a = (
            ints(field("a_indptr")),
            ints(field("a_indices")),
            field("a_values"),
        );
        let big = |v: Vec<f64>| {
            v.into_iter()
                .map(|x| {
                    if x.abs() >= 1e30 {
                        x.signum() * f64::INFINITY
                    } else {
                        x
                    }
                })
                .collect()
        };
        let (l, u) = (big(field("l")), big(field("u")));
        let (x0, _z0, y0) = (field("x0"), field("z0"), field("y0"));
        (
            Qp {
                n,
                m,
                p,
                q,
                a,
                l,
                u,
            },
            rho,
            x0,
            y0,
        )
    }

    /// A QP the flagship solved past `pillar_eight` with 342 ADMM
    /// iterations (80 inputs, 40 keep-out slacks, 160 rows), from the
    /// warm start and rho it had: plain ADMM needs hundreds of
    /// iterations, the active-set step ends it at the first attempt, at
    /// the reference's optimum.
    #[test]
    fn a_recorded_flagship_qp_past_the_pillar_ends_at_the_first_attempt() {
        let (qp, rho, x0, y0) = recorded();
        let config = OsqpConfig {
            rho,
            ..flagship_settings()
        };
        let mut plain = qp.solver(&config, false);
        plain.warm_start(&x0, &y0).unwrap();
        let slow = plain.solve();
        assert_eq!(slow.status, QpStatus::Solved);
        assert!(
            slow.iterations > 200,
            "plain ADMM took {} iterations",
            slow.iterations
        );
        let mut s = qp.solver(&config, true);
        s.warm_start(&x0, &y0).unwrap();
        let solve = s.solve();
        assert_eq!(solve.status, QpStatus::Solved);
        assert_eq!(solve.iterations, super::FIRST_ATTEMPT);
        assert!(s.polish.as_ref().unwrap().accepted);
        let x = s.x_out.clone();
        let (stat, viol, comp) = qp.kkt(&x, &s.y_out);
        assert!(
            stat < 1e-6 && viol < 1e-6 && comp < 1e-6,
            "KKT {stat:e} {viol:e} {comp:e}"
        );
        let (_, f_ref) = reference(&qp);
        let f = qp.objective(&x);
        assert!(
            (f - f_ref).abs() < 1e-6 * (1.0 + f_ref.abs()),
            "cost {f} against {f_ref}"
        );
    }
}
