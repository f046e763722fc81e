//! Soft state bounds: exact when the L1 penalty is large and the hard
//! problem is feasible; still solvable, with a violation that shrinks as
//! the penalty grows, when it is not.

use nalgebra::{Matrix2, SVector, Vector1, Vector2};
use recede_model::LinearModel;
use recede_mpc::{
    Failure, FallbackConfig, Mpc, MpcConfig, OsqpConfig, QpStatus, SoftPenalty, StateBoundConfig,
    StepOutcome,
};

const DT: f64 = 0.1;
const N: usize = 10;

/// A double integrator: position, velocity; input: acceleration in [-1, 1].
fn model() -> LinearModel<2, 1> {
    LinearModel {
        a: Matrix2::new(1.0, DT, 0.0, 1.0),
        b: Vector2::new(0.5 * DT * DT, DT),
        c: Vector2::zeros(),
    }
}

/// Drive to p = 10 (the cost wants speed) with the velocity bounded.
fn config(v_min: Option<f64>, v_max: Option<f64>, soft: Option<SoftPenalty>) -> MpcConfig {
    MpcConfig {
        horizon_steps: N,
        dt_secs: DT,
        rk4_substeps: 1,
        integrator: Default::default(),
        period_secs: None,
        state_weights: vec![10.0, 0.0],
        terminal_weights: None,
        input_weights: vec![0.1],
        input_min: Some(vec![-1.0]),
        input_max: Some(vec![1.0]),
        state_bounds: vec![StateBoundConfig {
            index: 1,
            min: v_min,
            max: v_max,
            soft,
        }],
        sqp_iterations: 1,
        initial_guess: Default::default(),
        osqp: OsqpConfig {
            eps_abs: 1e-10,
            eps_rel: 1e-10,
            max_iterations: 200_000,
            check_termination_every: 1,
            ..OsqpConfig::default()
        },
        qp: Default::default(),
        fallback: FallbackConfig {
            accept_inaccurate: false,
            ..Default::default()
        },
        governor: None,
    }
}

struct Plan {
    outcome: StepOutcome,
    failure: Option<Failure>,
    velocities: Vec<f64>,
    inputs: Vec<f64>,
}

fn solve(cfg: &MpcConfig, x0: Vector2<f64>) -> Plan {
    solve_towards(cfg, x0, 0.0)
}

/// As `solve`, with reference velocity `v_ref`.
fn solve_towards(cfg: &MpcConfig, x0: Vector2<f64>, v_ref: f64) -> Plan {
    let spec = cfg.to_spec::<2, 1>().expect("valid config");
    let mut mpc = Mpc::new(model(), (), spec, &x0, &Vector1::zeros()).unwrap();
    mpc.set_constant_reference(&SVector::from([10.0, v_ref]), &Vector1::zeros());
    let mut command = Vector1::zeros();
    let report = mpc.step(&x0, 0.0, &mut command);
    let (xs, us) = mpc.plan();
    Plan {
        outcome: report.outcome,
        failure: report.failure,
        velocities: xs[1..].iter().map(|x| x[1]).collect(),
        inputs: us.iter().map(|u| u[0]).collect(),
    }
}

fn max_difference(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

/// Total violation of `v <= v_max` over nodes 1..=N.
fn violation(plan: &Plan, v_max: f64) -> f64 {
    plan.velocities.iter().map(|v| (v - v_max).max(0.0)).sum()
}

#[test]
fn a_large_l1_penalty_is_exact_when_the_hard_bound_is_feasible() {
    let x0 = Vector2::new(0.0, 0.0);
    let (lo, hi) = (Some(-0.5), Some(0.5));
    let hard = solve(&config(lo, hi, None), x0);
    assert_eq!(hard.outcome, StepOutcome::Solved, "{:?}", hard.failure);
    // The bound is active: the test compares something.
    let top = hard.velocities.iter().fold(f64::MIN, |m, v| m.max(*v));
    assert!((top - 0.5).abs() < 1e-6, "hard bound not active: {top}");

    for penalty in [
        SoftPenalty { l1: 100.0, l2: 0.0 },
        SoftPenalty { l1: 100.0, l2: 1.0 },
    ] {
        let soft = solve(&config(lo, hi, Some(penalty)), x0);
        assert_eq!(soft.outcome, StepOutcome::Solved, "{penalty:?}");
        let du = max_difference(&soft.inputs, &hard.inputs);
        let dv = max_difference(&soft.velocities, &hard.velocities);
        assert!(du < 1e-6 && dv < 1e-6, "{penalty:?}: du {du}, dv {dv}");
    }

    // A small penalty is not exact: the bound is crossed.
    let weak = solve(&config(lo, hi, Some(SoftPenalty { l1: 0.01, l2: 0.0 })), x0);
    assert_eq!(weak.outcome, StepOutcome::Solved);
    assert!(violation(&weak, 0.5) > 0.1, "{:?}", weak.velocities);
}

#[test]
fn soft_bounds_solve_where_hard_ones_are_infeasible() {
    // Moving at 2 m/s, the bound v <= 0 cannot be met before v = 1.9 at
    // node 1 whatever the input: the hard problem is infeasible.
    let x0 = Vector2::new(0.0, 2.0);
    let hard = solve(&config(None, Some(0.0), None), x0);
    assert!(hard.outcome.is_fallback());
    assert_eq!(hard.failure, Some(Failure::Qp(QpStatus::PrimalInfeasible)));

    // Full braking, the least violation there is: v_k = 2 - 0.1 k.
    let least: f64 = (1..=N).map(|k| 2.0 - DT * k as f64).sum();

    for (name, penalties) in [
        (
            "l2",
            [0.01, 0.1, 1.0, 10.0, 1e3].map(|l2| SoftPenalty { l1: 0.0, l2 }),
        ),
        (
            "l1",
            [0.01, 0.1, 1.0, 10.0, 1e3].map(|l1| SoftPenalty { l1, l2: 0.0 }),
        ),
    ] {
        let mut violations = Vec::new();
        for penalty in penalties {
            let soft = solve(&config(None, Some(0.0), Some(penalty)), x0);
            assert_eq!(soft.outcome, StepOutcome::Solved, "{penalty:?}");
            violations.push(violation(&soft, 0.0));
        }
        for w in violations.windows(2) {
            assert!(w[1] <= w[0] + 1e-6, "{name}: not shrinking {violations:?}");
        }
        assert!(
            violations[0] > least + 1.0,
            "{name}: the weakest penalty should barely brake: {violations:?}"
        );
        let strongest = violations[violations.len() - 1];
        assert!(
            (strongest - least).abs() < 0.05,
            "{name}: the strongest penalty should brake fully: {strongest} vs {least}"
        );
    }

    // A large L1 penalty is exact: full braking, to solver accuracy.
    let exact = solve(
        &config(None, Some(0.0), Some(SoftPenalty { l1: 1e3, l2: 0.0 })),
        x0,
    );
    assert!((violation(&exact, 0.0) - least).abs() < 1e-6);
    assert!(exact.inputs.iter().all(|u| (u + 1.0).abs() < 1e-6));
}

#[test]
fn the_penalty_is_exactly_l1_s_plus_l2_s_squared() {
    // Where the bound v <= 0 is violated at every node (as it must be
    // from v = 2), the slack is s_k = v_k, and the penalty
    // l1 v + l2 v^2 = l2 (v + l1 / (2 l2))^2 + const: the same problem as
    // no bound with weight l2 on v and reference -l1 / (2 l2).
    let x0 = Vector2::new(0.0, 2.0);
    for (l1, l2) in [(0.0, 0.05), (0.0, 0.2), (0.1, 0.05), (0.3, 0.2)] {
        let mut cfg = config(None, Some(0.0), Some(SoftPenalty { l1, l2 }));
        cfg.state_weights = vec![0.5, 0.0];
        let soft = solve(&cfg, x0);
        assert_eq!(soft.outcome, StepOutcome::Solved);
        assert!(soft.velocities.iter().all(|v| *v > 1e-3));
        let mut equivalent = config(None, None, None);
        equivalent.state_bounds.clear();
        equivalent.state_weights = vec![0.5, l2];
        let plain = solve_towards(&equivalent, x0, -l1 / (2.0 * l2));
        assert_eq!(plain.outcome, StepOutcome::Solved);
        let du = max_difference(&soft.inputs, &plain.inputs);
        assert!(du < 1e-6, "l1 {l1}, l2 {l2}: inputs differ by {du}");
        // Not a vacuous comparison: the inputs are not all at a bound.
        assert!(
            soft.inputs.iter().any(|u| u.abs() < 1.0 - 1e-3),
            "l1 {l1}, l2 {l2}: {:?}",
            soft.inputs
        );
    }
}

/// Soft bounds (slack variables, two rows each) in a QP condensed in
/// blocks or not at all: the same plan as fully condensed, where the
/// bound binds and where the hard problem is infeasible.
#[test]
fn soft_bounds_give_the_same_plan_with_every_qp_structure() {
    use recede_mpc::{Condensing, QpConfig, QpSolver};
    let cases = [
        (Vector2::new(0.0, 0.0), Some(-0.5), Some(0.5)),
        (Vector2::new(0.0, 2.0), None, Some(0.0)),
    ];
    for (x0, lo, hi) in cases {
        for penalty in [
            SoftPenalty { l1: 100.0, l2: 0.0 },
            SoftPenalty { l1: 0.1, l2: 0.2 },
        ] {
            let cfg = config(lo, hi, Some(penalty));
            let full = solve(&cfg, x0);
            assert_eq!(full.outcome, StepOutcome::Solved, "{penalty:?}");
            let others = [
                (Condensing::Partial, Some(3), QpSolver::Osqp),
                (Condensing::None, None, QpSolver::Osqp),
                (Condensing::Full, None, QpSolver::Dense),
            ];
            for (condensing, block, solver) in others {
                let mut other_cfg = cfg.clone();
                other_cfg.qp = QpConfig {
                    condensing,
                    block,
                    solver,
                    ..Default::default()
                };
                let other = solve(&other_cfg, x0);
                assert_eq!(
                    other.outcome,
                    StepOutcome::Solved,
                    "{condensing:?} {solver:?} {penalty:?}"
                );
                let du = max_difference(&other.inputs, &full.inputs);
                let dv = max_difference(&other.velocities, &full.velocities);
                assert!(
                    du < 1e-6 && dv < 1e-6,
                    "{condensing:?} {solver:?} {penalty:?}: du {du}, dv {dv}"
                );
            }
        }
    }
}

/// The dense backend eliminates the slacks before its Cholesky
/// (`dense_factor.rs`): on soft bounds that are active (feasible) and
/// violated (infeasible as hard bounds), with one slack per row or two
/// (both sides bounded), it plans what OSQP plans.
#[test]
fn the_dense_backend_with_its_slacks_eliminated_plans_what_osqp_plans() {
    let cases = [
        (Vector2::new(0.0, 0.0), Some(-0.5), Some(0.5), 100.0, 0.0),
        (Vector2::new(0.0, 0.0), None, Some(0.5), 100.0, 1.0),
        (Vector2::new(0.0, 2.0), None, Some(0.0), 1.0, 0.0),
        (Vector2::new(0.0, 2.0), Some(-3.0), Some(0.0), 0.0, 10.0),
    ];
    for (x0, lo, hi, l1, l2) in cases {
        let mut cfg = config(lo, hi, Some(SoftPenalty { l1, l2 }));
        let osqp = solve(&cfg, x0);
        cfg.qp.solver = recede_mpc::QpSolver::Dense;
        let dense = solve(&cfg, x0);
        assert_eq!(osqp.outcome, StepOutcome::Solved, "{x0:?} {lo:?} {hi:?}");
        assert_eq!(dense.outcome, StepOutcome::Solved, "{x0:?} {lo:?} {hi:?}");
        let du = max_difference(&dense.inputs, &osqp.inputs);
        let dv = max_difference(&dense.velocities, &osqp.velocities);
        assert!(
            du < 1e-6 && dv < 1e-6,
            "{x0:?} {lo:?} {hi:?}: du {du}, dv {dv}"
        );
    }
}
