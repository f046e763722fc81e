//! The QP the controller solves, against an independent dense reference.
//!
//! With a linear model one step from any guess is the exact linear-MPC
//! solution. The reference builds the same problem in the full `(x, u)`
//! variables (equalities for `x0` and the dynamics, inequalities for the
//! bounds) and solves it exactly by enumerating active sets: for each, the
//! KKT system by LU, accepted when primal feasible with correctly signed
//! multipliers (the problem is strictly convex in `u`, so that point is
//! the unique optimum).

use nalgebra::{DMatrix, DVector, SMatrix, SVector};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use recede_model::robots::CartPole;
use recede_model::{DiscreteModel, Discretized, LinearModel, Rk4};
use recede_mpc::{
    Condensing, FallbackConfig, Mpc, MpcConfig, OsqpConfig, QpConfig, QpSolver, QpStatus,
    StateBoundConfig, StepOutcome,
};

/// A small linear MPC problem, sizes and values drawn at random.
#[derive(Debug, Clone)]
struct Problem {
    nx: usize,
    nu: usize,
    n: usize,
    /// Column-major, as nalgebra stores them.
    a: Vec<f64>,
    b: Vec<f64>,
    c: Vec<f64>,
    q: Vec<f64>,
    q_terminal: Vec<f64>,
    r: Vec<f64>,
    u_min: Vec<f64>,
    u_max: Vec<f64>,
    /// A hard bound on one state component at nodes 1..=N.
    state_bound: Option<(usize, Option<f64>, Option<f64>)>,
    x0: Vec<f64>,
    /// Another measured state, for a first step that moves the plan away
    /// from the initial guess.
    x_first: Vec<f64>,
    x_guess: Vec<f64>,
    u_guess: Vec<f64>,
    /// Nodes 0..=N.
    x_ref: Vec<f64>,
    /// Nodes 0..N.
    u_ref: Vec<f64>,
}

fn values(len: usize, lo: f64, hi: f64) -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec(lo..hi, len)
}

fn problem() -> impl Strategy<Value = Problem> {
    (2usize..=3, 1usize..=2, 2usize..=3).prop_flat_map(|(nx, nu, n)| {
        let model = (
            values(nx * nx, -0.5, 0.5),
            values(nx * nu, -1.0, 1.0),
            values(nx, -0.5, 0.5),
        );
        let weights = (
            values(nx, 0.1, 10.0),
            values(nx, 0.1, 10.0),
            values(nu, 0.1, 10.0),
        );
        let inputs = (values(nu, -1.5, 0.0), values(nu, 0.2, 2.0));
        // Which state bound (none, min, max, both), on which component,
        // and how far outside a feasible trajectory it lies.
        let bound = (
            0usize..4,
            0..nx,
            values(n * nu, 0.0, 1.0),
            0.0..0.5,
            0.0..0.5,
        );
        let states = (
            values(nx, -2.0, 2.0),
            values(nx, -2.0, 2.0),
            values(nx, -2.0, 2.0),
            values(nu, -1.0, 1.0),
            values((n + 1) * nx, -2.0, 2.0),
            values(n * nu, -1.0, 1.0),
        );
        (model, weights, inputs, bound, states).prop_map(
            move |(
                (a0, b, c),
                (q, q_terminal, r),
                (u_min, width),
                (kind, index, u_frac, margin_lo, margin_hi),
                (x0, x_first, x_guess, u_guess, x_ref, u_ref),
            )| {
                // Stable-ish: 0.8 I plus a perturbation.
                let mut a = a0;
                for i in 0..nx {
                    a[i * nx + i] += 0.8;
                }
                let u_max: Vec<f64> = u_min.iter().zip(&width).map(|(l, w)| l + w).collect();
                let mut p = Problem {
                    nx,
                    nu,
                    n,
                    a,
                    b,
                    c,
                    q,
                    q_terminal,
                    r,
                    u_min,
                    u_max,
                    state_bound: None,
                    x0,
                    x_first,
                    x_guess,
                    u_guess,
                    x_ref,
                    u_ref,
                };
                if kind > 0 {
                    // Bounds a feasible input sequence satisfies, plus a
                    // margin: the QP is feasible by construction.
                    let us: Vec<f64> = (0..n * nu)
                        .map(|k| {
                            let i = k % nu;
                            p.u_min[i] + u_frac[k] * (p.u_max[i] - p.u_min[i])
                        })
                        .collect();
                    let xs = p.rollout(&us);
                    let along = (1..=n).map(|k| xs[k * nx + index]);
                    let lo = along.clone().fold(f64::INFINITY, f64::min) - margin_lo;
                    let hi = along.fold(f64::NEG_INFINITY, f64::max) + margin_hi;
                    p.state_bound = Some((
                        index,
                        (kind & 1 == 1).then_some(lo),
                        (kind & 2 == 2).then_some(hi),
                    ));
                }
                p
            },
        )
    })
}

impl Problem {
    fn a(&self) -> DMatrix<f64> {
        DMatrix::from_column_slice(self.nx, self.nx, &self.a)
    }

    fn b(&self) -> DMatrix<f64> {
        DMatrix::from_column_slice(self.nx, self.nu, &self.b)
    }

    /// States 0..=N from `x0` under inputs `us` (flat, node-major).
    fn rollout(&self, us: &[f64]) -> Vec<f64> {
        let (a, b) = (self.a(), self.b());
        let mut x = DVector::from_column_slice(&self.x0);
        let mut out = x.as_slice().to_vec();
        for k in 0..self.n {
            let u = DVector::from_column_slice(&us[k * self.nu..(k + 1) * self.nu]);
            x = &a * &x + &b * u + DVector::from_column_slice(&self.c);
            out.extend(x.iter());
        }
        out
    }

    fn config(&self, qp: &QpConfig) -> MpcConfig {
        MpcConfig {
            horizon_steps: self.n,
            dt_secs: 0.1,
            rk4_substeps: 1,
            integrator: Default::default(),
            period_secs: None,
            state_weights: self.q.clone(),
            terminal_weights: Some(self.q_terminal.clone()),
            input_weights: self.r.clone(),
            input_min: Some(self.u_min.clone()),
            input_max: Some(self.u_max.clone()),
            state_bounds: self
                .state_bound
                .iter()
                .map(|&(index, min, max)| StateBoundConfig {
                    index,
                    min,
                    max,
                    soft: None,
                })
                .collect(),
            sqp_iterations: 1,
            initial_guess: Default::default(),
            osqp: tight_osqp_for(qp),
            qp: qp.clone(),
            fallback: FallbackConfig {
                accept_inaccurate: false,
                safe_input: Some(
                    self.u_min
                        .iter()
                        .zip(&self.u_max)
                        .map(|(l, u)| 0.5 * (l + u))
                        .collect(),
                ),
                ..Default::default()
            },
            governor: None,
        }
    }
}

fn tight_osqp() -> OsqpConfig {
    OsqpConfig {
        eps_abs: 1e-10,
        eps_rel: 1e-10,
        max_iterations: 200_000,
        check_termination_every: 1,
        // Accuracy over speed here: Ruiz scaling helps OSQP reach 1e-10.
        scaling_iterations: Some(10),
        ..OsqpConfig::default()
    }
}

/// [`tight_osqp`], without Ruiz scaling for the dense solver (it has none).
fn tight_osqp_for(qp: &QpConfig) -> OsqpConfig {
    OsqpConfig {
        scaling_iterations: match qp.solver {
            QpSolver::Osqp | QpSolver::Riccati => tight_osqp().scaling_iterations,
            QpSolver::Dense => Some(0),
        },
        ..tight_osqp()
    }
}

/// The controller's answer: command, planned states (flat, 0..=N) and
/// inputs (flat, 0..N).
struct MpcAnswer {
    command: Vec<f64>,
    xs: Vec<f64>,
    us: Vec<f64>,
}

fn solve_with_mpc<const NX: usize, const NU: usize>(p: &Problem, qp: &QpConfig) -> MpcAnswer {
    assert_eq!((p.nx, p.nu), (NX, NU));
    let model = LinearModel::<NX, NU> {
        a: SMatrix::from_column_slice(&p.a),
        b: SMatrix::from_column_slice(&p.b),
        c: SVector::from_column_slice(&p.c),
    };
    let spec = p.config(qp).to_spec::<NX, NU>().expect("valid config");
    let mut mpc = Mpc::new(
        model,
        (),
        spec,
        &SVector::from_column_slice(&p.x_guess),
        &SVector::from_column_slice(&p.u_guess),
    )
    .expect("controller builds");
    let (x_ref, u_ref) = mpc.references_mut();
    for (k, x) in x_ref.iter_mut().enumerate() {
        *x = SVector::from_column_slice(&p.x_ref[k * NX..(k + 1) * NX]);
    }
    for (k, u) in u_ref.iter_mut().enumerate() {
        *u = SVector::from_column_slice(&p.u_ref[k * NU..(k + 1) * NU]);
    }
    let mut command = SVector::<f64, NU>::zeros();
    // A first step elsewhere (period 0: no shift), so that the step that
    // counts starts from a plan that is neither the guess nor the answer.
    // It may be infeasible there (the state bound), which must not matter.
    mpc.step(&SVector::from_column_slice(&p.x_first), 0.0, &mut command);
    let report = mpc.step(&SVector::from_column_slice(&p.x0), 0.0, &mut command);
    assert_eq!(report.qp_status, QpStatus::Solved, "{qp:?}: {report:?}");
    assert_eq!(report.outcome, StepOutcome::Solved);
    let (xs, us) = mpc.plan();
    MpcAnswer {
        command: command.as_slice().to_vec(),
        xs: xs.iter().flat_map(|x| x.iter().copied()).collect(),
        us: us.iter().flat_map(|u| u.iter().copied()).collect(),
    }
}

fn solve_with_mpc_dyn(p: &Problem, qp: &QpConfig) -> MpcAnswer {
    match (p.nx, p.nu) {
        (2, 1) => solve_with_mpc::<2, 1>(p, qp),
        (2, 2) => solve_with_mpc::<2, 2>(p, qp),
        (3, 1) => solve_with_mpc::<3, 1>(p, qp),
        (3, 2) => solve_with_mpc::<3, 2>(p, qp),
        other => unreachable!("sizes {other:?}"),
    }
}

/// The dense reference's answer.
#[derive(Debug)]
struct Reference {
    xs: Vec<f64>,
    us: Vec<f64>,
    active_input_bounds: usize,
    active_state_bounds: usize,
}

/// One inequality row `lower <= g'w <= upper` with a unit `g`.
struct Row {
    column: usize,
    lower: f64,
    upper: f64,
    is_state: bool,
}

fn solve_reference(p: &Problem) -> Option<Reference> {
    let (nx, nu, n) = (p.nx, p.nu, p.n);
    let nw = (n + 1) * nx + n * nu;
    let xi = |k: usize, i: usize| k * nx + i;
    let ui = |k: usize, j: usize| (n + 1) * nx + k * nu + j;
    // Cost 1/2 w'Hw + h'w (twice the controller's, same minimiser).
    let mut h_mat = DMatrix::<f64>::zeros(nw, nw);
    let mut h = DVector::<f64>::zeros(nw);
    for k in 1..=n {
        let w = if k == n { &p.q_terminal } else { &p.q };
        for i in 0..nx {
            h_mat[(xi(k, i), xi(k, i))] = 2.0 * w[i];
            h[xi(k, i)] = -2.0 * w[i] * p.x_ref[k * nx + i];
        }
    }
    for k in 0..n {
        for j in 0..nu {
            h_mat[(ui(k, j), ui(k, j))] = 2.0 * p.r[j];
            h[ui(k, j)] = -2.0 * p.r[j] * p.u_ref[k * nu + j];
        }
    }
    // Equalities: x_0 = x0; x_{k+1} - A x_k - B u_k = c.
    let neq = (n + 1) * nx;
    let mut e_mat = DMatrix::<f64>::zeros(neq, nw);
    let mut e = DVector::<f64>::zeros(neq);
    let (a, b) = (p.a(), p.b());
    for i in 0..nx {
        e_mat[(i, xi(0, i))] = 1.0;
        e[i] = p.x0[i];
    }
    for k in 0..n {
        for i in 0..nx {
            let row = (k + 1) * nx + i;
            e_mat[(row, xi(k + 1, i))] = 1.0;
            for l in 0..nx {
                e_mat[(row, xi(k, l))] = -a[(i, l)];
            }
            for j in 0..nu {
                e_mat[(row, ui(k, j))] = -b[(i, j)];
            }
            e[row] = p.c[i];
        }
    }
    let mut rows = Vec::new();
    for k in 0..n {
        for j in 0..nu {
            rows.push(Row {
                column: ui(k, j),
                lower: p.u_min[j],
                upper: p.u_max[j],
                is_state: false,
            });
        }
    }
    if let Some((index, min, max)) = p.state_bound {
        for k in 1..=n {
            rows.push(Row {
                column: xi(k, index),
                lower: min.unwrap_or(f64::NEG_INFINITY),
                upper: max.unwrap_or(f64::INFINITY),
                is_state: true,
            });
        }
    }
    // The KKT matrix of the equality-constrained problem, inverted once;
    // an active set adds unit rows, whose multipliers then solve a small
    // Schur-complement system.
    let (nw, neq) = (h.len(), e.len());
    let mut kkt = DMatrix::<f64>::zeros(nw + neq, nw + neq);
    kkt.view_mut((0, 0), (nw, nw)).copy_from(&h_mat);
    kkt.view_mut((nw, 0), (neq, nw)).copy_from(&e_mat);
    kkt.view_mut((0, nw), (nw, neq))
        .copy_from(&e_mat.transpose());
    let mut rhs = DVector::<f64>::zeros(nw + neq);
    rhs.rows_mut(0, nw).copy_from(&(-&h));
    rhs.rows_mut(nw, neq).copy_from(&e);
    let inverse = kkt
        .clone()
        .try_inverse()
        .expect("the equality KKT is regular");
    assert!((&kkt * &inverse - DMatrix::identity(nw + neq, nw + neq)).amax() < 1e-9);
    let solver = ActiveSets {
        free: &inverse * &rhs,
        inverse,
        nw,
        rows,
    };
    // More active rows than inputs cannot be linearly independent.
    for m in 0..=(n * nu).min(solver.rows.len()) {
        let mut chosen = Vec::with_capacity(m);
        if let Some(w) = solver.search(0, m, &mut chosen) {
            let active = |state: bool| {
                chosen
                    .iter()
                    .filter(|(r, _)| solver.rows[*r].is_state == state)
                    .count()
            };
            return Some(Reference {
                xs: w.as_slice()[..(n + 1) * nx].to_vec(),
                us: w.as_slice()[(n + 1) * nx..].to_vec(),
                active_input_bounds: active(false),
                active_state_bounds: active(true),
            });
        }
    }
    None
}

struct ActiveSets {
    /// Inverse of `[H E'; E 0]`.
    inverse: DMatrix<f64>,
    /// Its solution with no inequality active: `[w; nu]`.
    free: DVector<f64>,
    nw: usize,
    rows: Vec<Row>,
}

impl ActiveSets {
    /// Depth-first over sets of `m` active rows from `start` on, each at
    /// its lower (`false`) or upper (`true`) bound; `chosen` is a stack
    /// that holds the set found on success.
    fn search(
        &self,
        start: usize,
        m: usize,
        chosen: &mut Vec<(usize, bool)>,
    ) -> Option<DVector<f64>> {
        if chosen.len() == m {
            return self.try_active_set(chosen);
        }
        for r in start..self.rows.len() {
            for upper in [false, true] {
                let bound = if upper {
                    self.rows[r].upper
                } else {
                    self.rows[r].lower
                };
                if !bound.is_finite() {
                    continue;
                }
                chosen.push((r, upper));
                if let Some(w) = self.search(r + 1, m, chosen) {
                    return Some(w);
                }
                chosen.pop();
            }
        }
        None
    }

    /// The KKT system with the rows of `active` as equalities:
    /// `[K0 G'; G 0] [z; mu] = [rhs0; b]` gives `S mu = G z0 - b` with
    /// `S = G K0^-1 G'` and `z = z0 - K0^-1 G' mu`.
    fn try_active_set(&self, active: &[(usize, bool)]) -> Option<DVector<f64>> {
        let m = active.len();
        let columns: Vec<usize> = active.iter().map(|&(r, _)| self.rows[r].column).collect();
        let bounds: Vec<f64> = active
            .iter()
            .map(|&(r, upper)| {
                if upper {
                    self.rows[r].upper
                } else {
                    self.rows[r].lower
                }
            })
            .collect();
        let schur = DMatrix::from_fn(m, m, |i, j| self.inverse[(columns[i], columns[j])]);
        let gap = DVector::from_fn(m, |i, _| self.free[columns[i]] - bounds[i]);
        // (nalgebra's LU does not take an empty system.)
        let mu = if m == 0 {
            DVector::zeros(0)
        } else {
            schur.clone().lu().solve(&gap)?
        };
        // A nearly singular system can "solve" to garbage: check it.
        let residual = (&schur * &mu - &gap).amax();
        if residual.is_nan() || residual > 1e-10 * (1.0 + gap.amax()) {
            return None;
        }
        let mut z = self.free.clone();
        for (i, &c) in columns.iter().enumerate() {
            z -= self.inverse.column(c) * mu[i];
        }
        let w = z.rows(0, self.nw).into_owned();
        let tol = 1e-9;
        let feasible = self
            .rows
            .iter()
            .all(|row| w[row.column] >= row.lower - tol && w[row.column] <= row.upper + tol);
        // Stationarity H w + h + E' nu + G' mu = 0: mu >= 0 on an upper
        // bound, <= 0 on a lower one.
        let signs_ok = active
            .iter()
            .zip(mu.iter())
            .all(|(&(_, upper), &mu)| if upper { mu >= -tol } else { mu <= tol });
        (feasible && signs_ok).then_some(w)
    }
}

fn max_difference(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

const TOLERANCE: f64 = 1e-6;

/// Every QP structure: full condensing (the default at these sizes), no
/// condensing (blocks of one stage) and blocks of two stages (two blocks
/// of unequal length at N = 3); and full condensing solved by the dense
/// backend.
fn structures() -> [QpConfig; 4] {
    [
        QpConfig::default(),
        QpConfig {
            solver: QpSolver::Dense,
            ..Default::default()
        },
        QpConfig {
            condensing: Condensing::None,
            block: None,
            ..Default::default()
        },
        QpConfig {
            condensing: Condensing::Partial,
            block: Some(2),
            ..Default::default()
        },
    ]
}

fn check(p: &Problem) -> Result<(), TestCaseError> {
    check_with(p, &structures())
}

fn check_with(p: &Problem, structures: &[QpConfig]) -> Result<(), TestCaseError> {
    let reference = solve_reference(p).expect("feasible by construction");
    for qp in structures {
        let answer = solve_with_mpc_dyn(p, qp);
        let du = max_difference(&answer.us, &reference.us);
        prop_assert!(
            du < TOLERANCE,
            "{qp:?}: inputs differ by {du}: {answer_us:?} vs {ref_us:?}",
            answer_us = answer.us,
            ref_us = reference.us
        );
        let dx = max_difference(&answer.xs, &reference.xs);
        prop_assert!(dx < TOLERANCE, "{qp:?}: states differ by {dx}");
        let dc = max_difference(&answer.command, &reference.us[..p.nu]);
        prop_assert!(dc < TOLERANCE, "{qp:?}: command differs by {dc}");
    }
    Ok(())
}

/// Seeds of the random problems checked on every run: fixed, so that CI
/// does not pass or fail by the draw, and wide. Seeds 26 and 39 failed
/// until session 13 (OSQP without condensing, and the dense backend, ran
/// 200,000 iterations with rho in a limit cycle: `rho_schedule.rs`);
/// 1-400 pass (docs/performance.md, "Linear in the horizon, session 13").
/// `QP_REFERENCE_SEEDS=a-b` checks another range.
const SEEDS: std::ops::RangeInclusive<u64> = 1..=40;
const CASES_PER_SEED: u32 = 64;

fn seeds() -> std::ops::RangeInclusive<u64> {
    let Ok(range) = std::env::var("QP_REFERENCE_SEEDS") else {
        return SEEDS;
    };
    let (a, b) = range.split_once('-').expect("QP_REFERENCE_SEEDS=a-b");
    a.parse().expect("a seed")..=b.parse().expect("a seed")
}

#[test]
fn linear_mpc_matches_the_dense_reference() {
    for seed in seeds() {
        let mut runner = TestRunner::new(ProptestConfig {
            cases: CASES_PER_SEED,
            failure_persistence: None,
            rng_seed: proptest::test_runner::RngSeed::Fixed(seed),
            ..ProptestConfig::default()
        });
        if let Err(e) = runner.run(&problem(), |p| check(&p)) {
            panic!("seed {seed}: {e}");
        }
    }
}

/// The random problems exercise the interesting cases: active input
/// bounds, active state bounds, and both at once.
#[test]
fn the_random_problems_have_active_bounds() {
    let mut runner = TestRunner::deterministic();
    let strategy = problem();
    let (mut input, mut state, mut both, mut none) = (0, 0, 0, 0);
    let total = 200;
    for _ in 0..total {
        let p = strategy.new_tree(&mut runner).unwrap().current();
        let r = solve_reference(&p).expect("feasible by construction");
        input += usize::from(r.active_input_bounds > 0);
        state += usize::from(r.active_state_bounds > 0);
        both += usize::from(r.active_input_bounds > 0 && r.active_state_bounds > 0);
        none += usize::from(r.active_input_bounds + r.active_state_bounds == 0);
    }
    assert!(input >= total / 5, "input bounds active in {input}/{total}");
    assert!(
        state >= total / 10,
        "state bounds active in {state}/{total}"
    );
    assert!(both >= total / 20, "both active in {both}/{total}");
    assert!(none >= total / 20, "nothing active in {none}/{total}");
}

/// The reference itself, on a problem solved by hand: N = 2, the first
/// state integrates the input (x+ = x + u), cost sum x_k^2 + u_k^2 with
/// x0 = 1 and |u| <= 0.2: both inputs at -0.2.
#[test]
fn the_reference_solves_a_known_problem() {
    let p = Problem {
        nx: 2,
        nu: 1,
        n: 2,
        a: vec![1.0, 0.0, 0.0, 1.0],
        b: vec![1.0, 0.0],
        c: vec![0.0, 0.0],
        q: vec![1.0, 1.0],
        q_terminal: vec![1.0, 1.0],
        r: vec![1.0],
        u_min: vec![-0.2],
        u_max: vec![0.2],
        state_bound: None,
        x0: vec![1.0, 0.0],
        x_first: vec![0.0, 0.0],
        x_guess: vec![0.0, 0.0],
        u_guess: vec![0.0],
        x_ref: vec![0.0; 6],
        u_ref: vec![0.0; 2],
    };
    let r = solve_reference(&p).unwrap();
    assert!(max_difference(&r.us, &[-0.2, -0.2]) < 1e-12, "{r:?}");
    assert!(max_difference(&r.xs, &[1.0, 0.0, 0.8, 0.0, 0.6, 0.0]) < 1e-12);
    // Without the bound: u_1 = -x_1 / 2 and x_1 + x_2 + u_0 = 0, so
    // u_0 = -0.6, x_1 = 0.4, u_1 = -0.2.
    let mut free = p.clone();
    free.u_min = vec![-10.0];
    free.u_max = vec![10.0];
    let r = solve_reference(&free).unwrap();
    assert!(max_difference(&r.us, &[-0.6, -0.2]) < 1e-12, "{r:?}");
    assert_eq!(r.active_input_bounds, 0);
}

/// With a nonlinear model, extra SQP iterations converge to a point that
/// satisfies the NLP's first-order conditions: no dynamics defects, a
/// fixed point of the iteration, and a reduced gradient (by the adjoint
/// of the exact Jacobians) that vanishes on free inputs and points out of
/// the box on inputs at a bound.
#[test]
fn sqp_iterations_converge_to_a_kkt_point_of_the_nlp() {
    // Fully condensed only: ADMM on a QP condensed in blocks stalls short of
    // 1e-10 here (200k iterations at the fifth SQP iteration, blocks of 2
    // and of 1); the random QPs above check those structures to 1e-6.
    sqp_converges_to_a_kkt_point(QpConfig::default());
    sqp_converges_to_a_kkt_point(QpConfig {
        solver: QpSolver::Dense,
        ..Default::default()
    });
}

fn sqp_converges_to_a_kkt_point(qp: QpConfig) {
    const N: usize = 8;
    let dt = 0.05;
    let force_limit = 4.0;
    let q = [10.0, 10.0, 0.1, 0.1];
    let r = 0.1;
    let cfg = MpcConfig {
        horizon_steps: N,
        dt_secs: dt,
        rk4_substeps: 1,
        integrator: Default::default(),
        period_secs: None,
        state_weights: q.to_vec(),
        terminal_weights: None,
        input_weights: vec![r],
        input_min: Some(vec![-force_limit]),
        input_max: Some(vec![force_limit]),
        state_bounds: Vec::new(),
        sqp_iterations: 20,
        initial_guess: Default::default(),
        osqp: tight_osqp_for(&qp),
        qp,
        fallback: FallbackConfig {
            accept_inaccurate: false,
            ..Default::default()
        },
        governor: None,
    };
    let model = Discretized::new(CartPole::default(), Rk4::new(dt, 1));
    let x0 = SVector::<f64, 4>::new(0.2, 0.6, 0.0, 0.0);
    let mut mpc = Mpc::new(
        model.clone(),
        (),
        cfg.to_spec().unwrap(),
        &x0,
        &SVector::zeros(),
    )
    .unwrap();
    mpc.set_constant_reference(&SVector::zeros(), &SVector::zeros());
    let mut command = SVector::<f64, 1>::zeros();
    let report = mpc.step(&x0, 0.0, &mut command);
    assert_eq!(report.outcome, StepOutcome::Solved, "{report:?}");
    assert_eq!(report.sqp_iterations, 20);
    let (xs, us) = mpc.plan();
    let (xs, us) = (xs.to_vec(), us.to_vec());

    // Dynamics defects vanish.
    assert_eq!(xs[0], x0);
    for k in 0..N {
        let defect = (model.step(&xs[k], &us[k]) - xs[k + 1]).amax();
        assert!(defect < 1e-8, "defect {defect} at interval {k}");
    }

    // A fixed point: twenty more iterations from the same state move
    // nothing.
    mpc.step(&x0, 0.0, &mut command);
    let (xs2, us2) = mpc.plan();
    for k in 0..N {
        assert!((us2[k] - us[k]).amax() < 1e-8, "input {k} moved");
        assert!(
            (xs2[k + 1] - xs[k + 1]).amax() < 1e-8,
            "state {} moved",
            k + 1
        );
    }

    // Reduced gradient of sum_{k=1}^{N} x_k'Q x_k + sum_k u_k'R u_k with
    // the states eliminated by the nonlinear dynamics (terminal weight = Q).
    let q_mat = SMatrix::<f64, 4, 4>::from_diagonal(&SVector::from(q));
    let mut lambda = 2.0 * q_mat * xs[N];
    let mut gradient = [0.0; N];
    for k in (0..N).rev() {
        let lin = model.linearize(&xs[k], &us[k]);
        gradient[k] = 2.0 * r * us[k][0] + (lin.b.transpose() * lambda)[0];
        lambda = 2.0 * q_mat * xs[k] + lin.a.transpose() * lambda;
    }
    let scale = 1.0 + gradient.iter().fold(0.0f64, |m, g| m.max(g.abs()));
    let tol = 1e-6 * scale;
    let (mut at_bound, mut free) = (0, 0);
    for k in 0..N {
        let (u, g) = (us[k][0], gradient[k]);
        assert!(
            u.abs() <= force_limit + 1e-8,
            "input {k} = {u} out of bounds"
        );
        if u <= -force_limit + 1e-7 {
            at_bound += 1;
            assert!(g >= -tol, "at the lower bound, gradient {g} at {k}");
        } else if u >= force_limit - 1e-7 {
            at_bound += 1;
            assert!(g <= tol, "at the upper bound, gradient {g} at {k}");
        } else {
            free += 1;
            assert!(g.abs() <= tol, "free input {k} = {u}, gradient {g}");
        }
    }
    // Both kinds of conditions were exercised.
    assert!(
        at_bound > 0 && free > 0,
        "{at_bound} at a bound, {free} free"
    );
}

/// Found by the proptest above (random seeds). Diagnosis (session 9,
/// correcting the earlier one): the first step's QP at `x_first` is
/// feasible and solved (55 iterations, one rho update). It is the
/// uncondensed structure (`condensing = "none"`) whose second solve, at
/// `x0`, then ran 200,000 iterations at tolerance 1e-10: rho was updated
/// at every adaptation (7,999 times at the interval of 25), flipping
/// between values more than OSQP's factor 5 apart, and never settled.
/// Fixed in session 13: rho's interval doubles once it has reversed
/// direction 20 times (`rho_schedule.rs`), and stretches of fixed rho,
/// under which ADMM converges, end the cycle.
#[test]
fn a_feasible_qp_after_an_infeasible_one_converges() {
    check(&feasible_after_infeasible()).unwrap();
}

/// The case above with the dense backend, which solves it (on its own
/// iterates: rho and the cold start after the infeasible verdict as
/// OSQP's, but no Ruiz scaling).
#[test]
fn the_dense_solver_converges_on_a_feasible_qp_after_an_infeasible_one() {
    let dense = QpConfig {
        solver: QpSolver::Dense,
        ..Default::default()
    };
    check_with(&feasible_after_infeasible(), &[dense]).unwrap();
}

fn feasible_after_infeasible() -> Problem {
    Problem {
        nx: 3,
        nu: 1,
        n: 3,
        a: vec![
            0.8,
            -0.32369081013659196,
            0.0,
            0.28211693360710954,
            0.42363586072864995,
            0.0,
            -0.1878082895457533,
            0.0,
            0.3843220663476109,
        ],
        b: vec![-0.6887275595563149, 0.2917699188229535, 0.0],
        c: vec![-0.2333876820856851, 0.0, 0.0],
        q: vec![1.576359331663938, 2.483914681684632, 0.1],
        q_terminal: vec![3.2553557747916217, 9.785404638716724, 0.1],
        r: vec![9.901168067563463],
        u_min: vec![-0.5973537789407801],
        u_max: vec![-0.19810595448963308],
        state_bound: Some((1, None, Some(0.23777698087043836))),
        x0: vec![0.9843762724317876, 1.4973896160253761, 1.572538767515275],
        x_first: vec![0.28699662822073047, -0.220939285261918, 0.0],
        x_guess: vec![0.0, -1.3811540790351, 0.0],
        u_guess: vec![0.8697742512015652],
        x_ref: vec![
            0.0,
            0.0,
            0.0,
            0.9909344931933677,
            1.2902657180308625,
            0.0,
            -1.45104575443709,
            -0.33480276925459723,
            0.0,
            1.5164893363138359,
            0.9268197431213381,
            0.0,
        ],
        u_ref: vec![0.7285072583083498, -0.9414406182737197, 0.0],
    }
}

/// A QP no input can satisfy (x+ = x + u from x0 = 1 with |u| <= 0.2,
/// and x <= 0 at every node) is reported infeasible by both solvers, and
/// the step falls back; the next feasible one is solved.
#[test]
fn an_infeasible_qp_is_reported_as_such_by_every_solver() {
    for solver in [QpSolver::Osqp, QpSolver::Dense] {
        let mut p = Problem {
            nx: 2,
            nu: 1,
            n: 2,
            a: vec![1.0, 0.0, 0.0, 1.0],
            b: vec![1.0, 0.0],
            c: vec![0.0, 0.0],
            q: vec![1.0, 1.0],
            q_terminal: vec![1.0, 1.0],
            r: vec![1.0],
            u_min: vec![-0.2],
            u_max: vec![0.2],
            state_bound: Some((0, None, Some(0.0))),
            x0: vec![1.0, 0.0],
            x_first: vec![1.0, 0.0],
            x_guess: vec![0.0, 0.0],
            u_guess: vec![0.0],
            x_ref: vec![0.0; 6],
            u_ref: vec![0.0; 2],
        };
        let qp = QpConfig {
            solver,
            ..Default::default()
        };
        let spec = p.config(&qp).to_spec::<2, 1>().unwrap();
        let model = LinearModel::<2, 1> {
            a: SMatrix::from_column_slice(&p.a),
            b: SMatrix::from_column_slice(&p.b),
            c: SVector::zeros(),
        };
        let mut mpc = Mpc::new(model, (), spec, &SVector::zeros(), &SVector::zeros()).unwrap();
        mpc.set_constant_reference(&SVector::zeros(), &SVector::zeros());
        let mut command = SVector::<f64, 1>::zeros();
        let report = mpc.step(&SVector::from_column_slice(&p.x0), 0.0, &mut command);
        assert_eq!(
            report.qp_status,
            QpStatus::PrimalInfeasible,
            "{solver:?}: {report:?}"
        );
        assert!(report.outcome.is_fallback(), "{solver:?}: {report:?}");
        // From x0 = -1 the same bound is met.
        p.x0 = vec![-1.0, 0.0];
        let report = mpc.step(&SVector::from_column_slice(&p.x0), 0.0, &mut command);
        assert_eq!(
            report.outcome,
            StepOutcome::Solved,
            "{solver:?}: {report:?}"
        );
    }
}

/// A case proptest found (seed 9): the first step, from a state where the
/// bound cannot be met, left OSQP's rho where the second, feasible QP did
/// not converge in 200,000 iterations (no condensing). A failed solve now
/// resets rho and hands back the last accepted duals.
#[test]
fn the_sparse_structure_solves_a_feasible_qp_after_an_infeasible_one() {
    let p = Problem {
        nx: 2,
        nu: 1,
        n: 2,
        a: vec![
            0.8,
            -0.39647159891855455,
            -0.35097814041252023,
            1.2951382246182126,
        ],
        b: vec![0.5168516230332594, 0.8068639411188187],
        c: vec![0.0, -0.18189934644602246],
        q: vec![8.515205712572474, 3.0166336105192437],
        q_terminal: vec![6.994341398384444, 7.295779443536961],
        r: vec![0.39157581060764995],
        u_min: vec![-1.1639925525686552],
        u_max: vec![-0.6712518945404928],
        state_bound: Some((1, None, Some(-1.9631563458676784))),
        x0: vec![0.0, -1.1226247137669085],
        x_first: vec![-0.740711857500626, 0.0],
        x_guess: vec![1.1735517256539119, 0.9887826675147099],
        u_guess: vec![0.16733103468960048],
        x_ref: vec![0.0, 0.0, 0.0, -1.944681827842637, -0.9670305215681836, 0.0],
        u_ref: vec![0.0, 0.0],
    };
    check(&p).unwrap();
}
