//! The Riccati solve against the condensed QP solved densely: one round
//! with a given active set against the dense KKT system, and the whole
//! active-set method against the dense backend's box solve.

use nalgebra::{DMatrix, DVector, SMatrix, SVector};

use super::{Cost, Dynamics, RiccatiBox, RiccatiFailure};
use crate::dense_qp::test_rng::Rng;
use crate::dense_qp::DenseSolver;
use crate::qp::Csc;
use crate::report::QpStatus;
use crate::OsqpConfig;

const NX: usize = 3;
const NU: usize = 2;

/// A random LQ problem in corrections: unstable-ish dynamics, positive
/// definite weights (one state weight zero), offsets and defects.
struct Lq {
    n: usize,
    a: Vec<SMatrix<f64, NX, NX>>,
    b: Vec<SMatrix<f64, NX, NU>>,
    e: Vec<SVector<f64, NX>>,
    q: SMatrix<f64, NX, NX>,
    qn: SMatrix<f64, NX, NX>,
    r: SMatrix<f64, NU, NU>,
    xo: Vec<SVector<f64, NX>>,
    uo: Vec<SVector<f64, NU>>,
    lo: Vec<SVector<f64, NU>>,
    hi: Vec<SVector<f64, NU>>,
    dx0: SVector<f64, NX>,
}

impl Lq {
    fn random(rng: &mut Rng, n: usize) -> Self {
        let mut mat = |rows: usize, cols: usize, scale: f64| {
            DMatrix::from_fn(rows, cols, |_, _| scale * rng.uniform())
        };
        let a = (0..n)
            .map(|_| {
                SMatrix::<f64, NX, NX>::identity()
                    + SMatrix::from_iterator(mat(NX, NX, 0.3).iter().copied())
            })
            .collect();
        let b = (0..n)
            .map(|_| SMatrix::from_iterator(mat(NX, NU, 1.0).iter().copied()))
            .collect();
        let e = (0..n)
            .map(|_| SVector::from_iterator(mat(NX, 1, 0.1).iter().copied()))
            .collect();
        let xo = (0..=n)
            .map(|_| SVector::from_iterator(mat(NX, 1, 2.0).iter().copied()))
            .collect();
        let uo = (0..n)
            .map(|_| SVector::from_iterator(mat(NU, 1, 0.5).iter().copied()))
            .collect();
        let lo: Vec<SVector<f64, NU>> = (0..n)
            .map(|_| SVector::from_iterator(mat(NU, 1, 0.2).iter().map(|v| -0.1 - v.abs())))
            .collect();
        let hi = (0..n)
            .map(|_| SVector::from_iterator(mat(NU, 1, 0.2).iter().map(|v| 0.1 + v.abs())))
            .collect();
        let dx0 = SVector::from_iterator(mat(NX, 1, 0.5).iter().copied());
        let m = SMatrix::<f64, NX, NX>::from_iterator(mat(NX, NX, 1.0).iter().copied());
        Self {
            n,
            a,
            b,
            e,
            q: SMatrix::from_diagonal(&SVector::from([1.0, 0.0, 3.0])),
            qn: m.transpose() * m + SMatrix::identity(),
            r: SMatrix::from_diagonal(&SVector::from([0.1, 0.5])),
            xo,
            uo,
            lo,
            hi,
            dx0,
        }
    }

    fn cost(&self) -> Cost<'_, NX, NU> {
        Cost {
            q: &self.q,
            q_terminal: &self.qn,
            r: &self.r,
            x_offset: &self.xo,
            u_offset: &self.uo,
            soft: &[],
            x_plan: &[],
        }
    }

    fn dynamics(&self) -> Dynamics<'_, NX, NU> {
        Dynamics {
            a: &self.a,
            b: &self.b,
            defect: &self.e,
        }
    }

    fn solve(&self, s: &mut RiccatiBox<NX, NU>) -> Result<u32, RiccatiFailure> {
        self.solve_with(s, super::MAX_ROUNDS)
    }

    fn solve_with(
        &self,
        s: &mut RiccatiBox<NX, NU>,
        dual_rounds: u32,
    ) -> Result<u32, RiccatiFailure> {
        s.solve_with(
            &self.dynamics(),
            &self.cost(),
            (&self.lo, &self.hi),
            &self.dx0,
            dual_rounds,
        )
    }

    /// The condensed QP `min 1/2 u'Hu + g'u` in all input corrections,
    /// with `dx = G u + c`: returns `(H, g, G, c)`.
    fn condensed(&self) -> (DMatrix<f64>, DVector<f64>, DMatrix<f64>, DVector<f64>) {
        let (n, nv) = (self.n, self.n * NU);
        let mut gm = DMatrix::zeros((n + 1) * NX, nv);
        let mut c = DVector::zeros((n + 1) * NX);
        c.rows_mut(0, NX).copy_from(&self.dx0);
        for k in 0..n {
            let prev = gm.rows(k * NX, NX).into_owned();
            let next = DMatrix::from_column_slice(NX, NX, self.a[k].as_slice()) * prev;
            gm.rows_mut((k + 1) * NX, NX).copy_from(&next);
            let b = DMatrix::from_column_slice(NX, NU, self.b[k].as_slice());
            gm.view_mut(((k + 1) * NX, k * NU), (NX, NU)).copy_from(&b);
            let ck = self.a[k]
                * SVector::<f64, NX>::from_column_slice(c.rows(k * NX, NX).as_slice())
                + self.e[k];
            c.rows_mut((k + 1) * NX, NX).copy_from(&ck);
        }
        let mut w = DMatrix::zeros((n + 1) * NX, (n + 1) * NX);
        let mut wo = DVector::zeros((n + 1) * NX);
        for k in 1..=n {
            let qk = if k == n { self.qn } else { self.q };
            w.view_mut((k * NX, k * NX), (NX, NX))
                .copy_from(&DMatrix::from_column_slice(NX, NX, qk.as_slice()));
            wo.rows_mut(k * NX, NX).copy_from(&(qk * self.xo[k]));
        }
        let mut h = gm.transpose() * &w * &gm * 2.0;
        let mut g = gm.transpose() * (&w * &c + &wo) * 2.0;
        for k in 0..n {
            let ro = self.r * self.uo[k] * 2.0;
            for i in 0..NU {
                g[k * NU + i] += ro[i];
                for j in 0..NU {
                    h[(k * NU + i, k * NU + j)] += 2.0 * self.r[(i, j)];
                }
            }
        }
        (h, g, gm, c)
    }
}

fn max_abs_diff(a: impl Iterator<Item = f64>, b: impl Iterator<Item = f64>) -> f64 {
    a.zip(b).fold(0.0, |m, (x, y)| m.max((x - y).abs()))
}

/// One round with a random active set (inputs fixed at either bound) is
/// the equality-constrained QP's solution, states, inputs and the
/// gradients of the fixed inputs (their multipliers), to 1e-9 of the
/// dense condensed KKT solve.
#[test]
fn one_riccati_round_is_the_dense_kkt_solution() {
    let mut rng = Rng(14);
    for case in 0..40 {
        let lq = Lq::random(&mut rng, 3 + case % 17);
        let n = lq.n;
        let mut s = RiccatiBox::<NX, NU>::new(n, 0);
        s.lo.copy_from_slice(&lq.lo);
        s.hi.copy_from_slice(&lq.hi);
        let mut fixed = vec![None; n * NU];
        for k in 0..n {
            for i in 0..NU {
                let pick = rng.uniform();
                s.side[k][i] = if pick < -0.33 {
                    -1
                } else if pick > 0.33 {
                    1
                } else {
                    0
                };
                fixed[k * NU + i] = s.fixed_value(k, i);
            }
        }
        s.backward(&lq.dynamics(), &lq.cost()).unwrap();
        s.forward(&lq.dynamics(), &lq.cost(), &lq.dx0).unwrap();
        // Dense: the free inputs' equations with the fixed ones moved right.
        let (h, g, gm, c) = lq.condensed();
        let free: Vec<usize> = (0..n * NU).filter(|&v| fixed[v].is_none()).collect();
        let mut u = DVector::from_iterator(n * NU, fixed.iter().map(|f| f.unwrap_or(0.0)));
        let rhs = -(&g + &h * &u);
        let hff = DMatrix::from_fn(free.len(), free.len(), |i, j| h[(free[i], free[j])]);
        let rf = DVector::from_fn(free.len(), |i, _| rhs[free[i]]);
        let uf = hff.cholesky().unwrap().solve(&rf);
        for (i, &v) in free.iter().enumerate() {
            u[v] = uf[i];
        }
        let grad = &h * &u + &g;
        let x = &gm * &u + &c;
        let scale = 1.0 + u.amax() + x.amax() + grad.amax();
        let du = max_abs_diff(
            s.du.iter().flat_map(|v| v.iter().copied()),
            u.iter().copied(),
        );
        let dx = max_abs_diff(
            s.dx.iter().flat_map(|v| v.iter().copied()),
            x.iter().copied(),
        );
        let dg = max_abs_diff(
            s.grad.iter().flat_map(|v| v.iter().copied()),
            grad.iter().copied(),
        );
        assert!(du < 1e-9 * scale, "case {case}: inputs off by {du:e}");
        assert!(dx < 1e-9 * scale, "case {case}: states off by {dx:e}");
        assert!(dg < 1e-9 * scale, "case {case}: gradients off by {dg:e}");
        assert!(free.len() < n * NU, "case {case}: something must be fixed");
    }
}

/// The whole active-set method on random box-constrained LQ problems is
/// the dense backend's exact box solve of their condensed QP: the same
/// inputs, multipliers of the bounds' signs, and bounds that are active.
#[test]
fn the_riccati_active_set_is_the_dense_box_solution() {
    matches_the_dense_box_solution(super::MAX_ROUNDS);
}

/// The primal active-set method alone (what the solve turns to when the
/// primal-dual rounds cycle) reaches the same solutions.
#[test]
fn the_primal_active_set_is_the_dense_box_solution() {
    matches_the_dense_box_solution(0);
}

fn matches_the_dense_box_solution(dual_rounds: u32) {
    let mut rng = Rng(41);
    let mut active_total = 0;
    for case in 0..30 {
        let lq = Lq::random(&mut rng, 5 + case);
        active_total += check_against_dense(case, &lq, dual_rounds).1;
    }
    assert!(active_total > 100, "only {active_total} active bounds");
}

/// Dynamics pushed far from their offsets with narrow boxes: most inputs
/// saturate at the solution (as in P1's first QPs from the reference
/// guess at long horizons). Every path reaches the dense box solution:
/// the primal-dual rounds, one round then the restart from the
/// gradients' signs, and projected Newton (then the primal method) alone.
#[test]
fn mostly_saturated_problems_are_the_dense_box_solution() {
    let mut rng = Rng(16);
    let mut saturated = 0;
    for case in 0..20 {
        let mut lq = Lq::random(&mut rng, 10 + 2 * case);
        for a in &mut lq.a {
            *a *= 0.92;
        }
        lq.dx0 *= 3.0;
        for (lo, hi) in lq.lo.iter_mut().zip(&mut lq.hi) {
            *lo *= 0.5;
            *hi *= 0.5;
        }
        let (_, active) = check_against_dense(case, &lq, super::MAX_ROUNDS);
        saturated += usize::from(4 * active > 3 * lq.n * NU);
        for dual_rounds in [1, 0] {
            assert_eq!(check_against_dense(case, &lq, dual_rounds).1, active);
        }
    }
    assert!(saturated > 15, "{saturated} mostly saturated cases");
}

/// `lq` solved with `dual_rounds` primal-dual rounds against the dense
/// exact box solve; the rounds taken and the active bounds.
fn check_against_dense(case: usize, lq: &Lq, dual_rounds: u32) -> (u32, usize) {
    let mut active_total = 0;
    {
        let n = lq.n;
        let mut s = RiccatiBox::<NX, NU>::new(n, 0);
        let rounds = lq.solve_with(&mut s, dual_rounds).unwrap();
        let solved_rounds = rounds;
        let (h, g, _, _) = lq.condensed();
        let nv = n * NU;
        let (mut pp, mut pi, mut pv) = (vec![0], Vec::new(), Vec::new());
        for col in 0..nv {
            for row in 0..=col {
                pi.push(row);
                pv.push(h[(row, col)]);
            }
            pp.push(pi.len());
        }
        let ap: Vec<usize> = (0..=nv).collect();
        let ai: Vec<usize> = (0..nv).collect();
        let av = vec![1.0; nv];
        let l: Vec<f64> = lq.lo.iter().flat_map(|v| v.iter().copied()).collect();
        let u: Vec<f64> = lq.hi.iter().flat_map(|v| v.iter().copied()).collect();
        let p = Csc {
            nrows: nv,
            ncols: nv,
            indptr: &pp,
            indices: &pi,
            values: &pv,
        };
        let a = Csc {
            nrows: nv,
            ncols: nv,
            indptr: &ap,
            indices: &ai,
            values: &av,
        };
        let gs: Vec<f64> = g.iter().copied().collect();
        let mut dense =
            DenseSolver::new(&p, &gs, &a, &l, &u, &OsqpConfig::default(), false, true).unwrap();
        let solve = dense.solve();
        assert_eq!(solve.status, QpStatus::Solved, "case {case}");
        assert!(!solve.exact_fallback, "case {case}");
        let x = solve.x.unwrap().to_vec();
        let y = dense.duals().to_vec();
        let mine = s.du.iter().flat_map(|v| v.iter().copied());
        let scale = 1.0 + x.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
        let d = max_abs_diff(mine, x.iter().copied());
        assert!(
            d < 1e-9 * scale,
            "case {case}: {d:e} off the dense solution ({rounds} rounds)"
        );
        for k in 0..n {
            for i in 0..NU {
                let (v, gk) = (k * NU + i, s.grad[k][i]);
                let at_lo = (s.du[k][i] - lq.lo[k][i]).abs() < 1e-12;
                let at_hi = (s.du[k][i] - lq.hi[k][i]).abs() < 1e-12;
                if !(at_lo || at_hi) {
                    assert!(
                        gk.abs() < 1e-8 * (1.0 + gk.abs()),
                        "case {case}: free gradient {gk:e}"
                    );
                }
                // OSQP's multiplier is minus the gradient.
                assert!((y[v] + gk).abs() < 1e-7 * (1.0 + gk.abs()), "case {case}");
                if at_lo {
                    assert!(gk >= -1e-9, "case {case}");
                }
                if at_hi {
                    assert!(gk <= 1e-9, "case {case}");
                }
                active_total += usize::from(at_lo || at_hi);
            }
        }
        // From its own solution's active set: one recursion.
        let warm = (
            lq.lo
                .iter()
                .zip(&s.du)
                .map(|(l, d)| l - d)
                .collect::<Vec<_>>(),
            lq.hi
                .iter()
                .zip(&s.du)
                .map(|(h, d)| h - d)
                .collect::<Vec<_>>(),
        );
        let shifted_uo: Vec<_> = lq.uo.iter().zip(&s.du).map(|(o, d)| o + d).collect();
        let mut again = RiccatiBox::<NX, NU>::new(n, 0);
        let dx: Vec<_> = s.dx.clone();
        let xo: Vec<_> = lq.xo.iter().zip(&dx).map(|(o, d)| o + d).collect();
        let e: Vec<_> = (0..n)
            .map(|k| lq.a[k] * dx[k] + lq.b[k] * s.du[k] + lq.e[k] - dx[k + 1])
            .collect();
        let cost = Cost {
            x_offset: &xo,
            u_offset: &shifted_uo,
            ..lq.cost()
        };
        let rounds = again
            .solve(
                &Dynamics {
                    defect: &e,
                    ..lq.dynamics()
                },
                &cost,
                (&warm.0, &warm.1),
                &SVector::zeros(),
            )
            .unwrap();
        assert_eq!(rounds, 1, "case {case}: re-solving at the solution");
        assert!(again.du.iter().all(|d| d.amax() < 1e-9), "case {case}");
        (solved_rounds, active_total)
    }
}

/// A stage whose reduced Hessian is indefinite (negative input weight,
/// nothing to make up for it) is a failure, not a wrong answer.
#[test]
fn an_indefinite_stage_is_refused() {
    let mut lq = Lq::random(&mut Rng(7), 6);
    lq.r = SMatrix::from_diagonal(&SVector::from([-50.0, -50.0]));
    lq.lo
        .iter_mut()
        .for_each(|l| *l = SVector::repeat(f64::NEG_INFINITY));
    lq.hi
        .iter_mut()
        .for_each(|h| *h = SVector::repeat(f64::INFINITY));
    let mut s = RiccatiBox::<NX, NU>::new(lq.n, 0);
    assert_eq!(lq.solve(&mut s), Err(RiccatiFailure::NotPositiveDefinite));
}

mod soft;
