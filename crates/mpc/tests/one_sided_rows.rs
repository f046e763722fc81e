//! Soft general rows declared one-sided ([`BoundedSides`]) take one slack
//! instead of two: the same plan as the row declared two-sided, as the
//! mirrored row on the other side, and as the hard row where the penalty is
//! exact, in every QP structure; a hook that breaks its declaration has the
//! row dropped and counted.

use nalgebra::{Matrix2, SVector, Vector1, Vector2};
use recede_model::LinearModel;
use recede_mpc::{
    BoundedSides, Condensing, ConstraintRow, FallbackConfig, Mpc, MpcConfig, OsqpConfig, QpConfig,
    QpSolver, SoftPenalty, StageConstraints, StepOutcome,
};

const DT: f64 = 0.1;
const N: usize = 10;
const WALL: f64 = 2.0;

/// A double integrator: position, velocity; input: acceleration in [-1, 1].
fn model() -> LinearModel<2, 1> {
    LinearModel {
        a: Matrix2::new(1.0, DT, 0.0, 1.0),
        b: Vector2::new(0.5 * DT * DT, DT),
        c: Vector2::zeros(),
    }
}

/// `p <= WALL` written as one general row: `p` bounded above
/// (`mirrored = false`) or `-p` bounded below, declared with `sides`;
/// `soft: None` makes it hard. `breaks_declaration` also gives the
/// undeclared side a finite bound.
#[derive(Clone, Copy)]
struct Wall {
    sides: BoundedSides,
    mirrored: bool,
    soft: Option<SoftPenalty>,
    breaks_declaration: bool,
}

impl StageConstraints<2> for Wall {
    fn rows(&self) -> usize {
        1
    }

    fn soft_penalty(&self, _row: usize) -> Option<SoftPenalty> {
        self.soft
    }

    fn bounded_sides(&self, _row: usize) -> BoundedSides {
        self.sides
    }

    fn evaluate(&self, _: usize, _: f64, x: &SVector<f64, 2>, out: &mut [ConstraintRow<2>]) {
        let sign = if self.mirrored { -1.0 } else { 1.0 };
        let far = if self.breaks_declaration {
            1e3
        } else {
            f64::INFINITY
        };
        let (lower, upper) = if self.mirrored {
            (-WALL, far)
        } else {
            (-far, WALL)
        };
        out[0] = ConstraintRow {
            value: sign * x[0],
            gradient: Vector2::new(sign, 0.0),
            lower,
            upper,
        };
    }
}

/// Drive to p = 10, through the wall the cost would cross.
fn config(qp: QpConfig) -> MpcConfig {
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
        state_bounds: vec![],
        sqp_iterations: 1,
        initial_guess: Default::default(),
        osqp: OsqpConfig {
            eps_abs: 1e-10,
            eps_rel: 1e-10,
            max_iterations: 200_000,
            check_termination_every: 1,
            ..OsqpConfig::default()
        },
        qp,
        fallback: FallbackConfig {
            accept_inaccurate: false,
            ..Default::default()
        },
        governor: None,
    }
}

struct Plan {
    outcome: StepOutcome,
    failure: Option<recede_mpc::Failure>,
    faults: usize,
    positions: Vec<f64>,
    inputs: Vec<f64>,
}

/// One step from `x0`.
fn solve(wall: Wall, qp: &QpConfig, x0: Vector2<f64>) -> Plan {
    let spec = config(qp.clone()).to_spec::<2, 1>().expect("valid config");
    let mut mpc = Mpc::new(model(), wall, spec, &x0, &Vector1::zeros()).unwrap();
    mpc.set_constant_reference(&SVector::from([10.0, 0.0]), &Vector1::zeros());
    let mut command = Vector1::zeros();
    let report = mpc.step(&x0, 0.0, &mut command);
    let (xs, us) = mpc.plan();
    Plan {
        outcome: report.outcome,
        failure: report.failure,
        faults: report.constraint_faults,
        positions: xs[1..].iter().map(|x| x[0]).collect(),
        inputs: us.iter().map(|u| u[0]).collect(),
    }
}

fn max_difference(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

/// Every structure, and full condensing solved by the dense backend
/// (general rows dense in the inputs, slack columns).
fn structures() -> [QpConfig; 4] {
    [
        QpConfig {
            condensing: Condensing::Full,
            block: None,
            ..Default::default()
        },
        QpConfig {
            condensing: Condensing::Full,
            solver: QpSolver::Dense,
            ..Default::default()
        },
        QpConfig {
            condensing: Condensing::Partial,
            block: Some(3),
            ..Default::default()
        },
        QpConfig {
            condensing: Condensing::None,
            block: None,
            ..Default::default()
        },
    ]
}

fn wall(sides: BoundedSides, mirrored: bool, soft: Option<SoftPenalty>) -> Wall {
    Wall {
        sides,
        mirrored,
        soft,
        breaks_declaration: false,
    }
}

#[test]
fn one_slack_per_declared_side_gives_the_same_plan() {
    // Moving at 1.5 m/s from 1 m, the wall at 2 m cannot be met (braking
    // at 1 m/s^2 needs 1.1 m): every penalty leaves a violation.
    let x0 = Vector2::new(1.0, 1.5);
    for qp in structures() {
        for penalty in [
            SoftPenalty { l1: 100.0, l2: 0.0 },
            SoftPenalty { l1: 0.5, l2: 2.0 },
            SoftPenalty { l1: 0.0, l2: 5.0 },
        ] {
            let soft = Some(penalty);
            let two_sided = solve(wall(BoundedSides::Both, false, soft), &qp, x0);
            assert_eq!(two_sided.outcome, StepOutcome::Solved, "{qp:?} {penalty:?}");
            let crossed = two_sided.positions.iter().fold(f64::MIN, |m, p| m.max(*p));
            assert!(crossed > WALL + 0.01, "{qp:?} {penalty:?}: {crossed}");
            for (sides, mirrored) in [
                (BoundedSides::Upper, false),
                (BoundedSides::Lower, true),
                (BoundedSides::Both, true),
            ] {
                let one = solve(wall(sides, mirrored, soft), &qp, x0);
                assert_eq!(one.outcome, StepOutcome::Solved);
                assert_eq!(one.faults, 0);
                let du = max_difference(&one.inputs, &two_sided.inputs);
                let dp = max_difference(&one.positions, &two_sided.positions);
                assert!(
                    du < 1e-6 && dp < 1e-6,
                    "{qp:?} {penalty:?} {sides:?} mirrored {mirrored}: du {du}, dp {dp}"
                );
            }
        }
    }
}

#[test]
fn a_large_l1_penalty_on_a_one_sided_row_is_exact_where_the_hard_row_is_feasible() {
    // From 1 m at 1 m/s the wall can be met (braking needs 0.5 m): it
    // binds, and an exact penalty stops at it as the hard row does.
    let x0 = Vector2::new(1.0, 1.0);
    for qp in structures() {
        let hard = solve(wall(BoundedSides::Both, false, None), &qp, x0);
        assert_eq!(hard.outcome, StepOutcome::Solved, "{qp:?}");
        let top = hard.positions.iter().fold(f64::MIN, |m, p| m.max(*p));
        assert!(
            (top - WALL).abs() < 1e-6,
            "{qp:?}: the wall does not bind: {top}"
        );
        // Exact: above the row's multiplier (the cost's pull, ~160 per
        // metre at a node).
        let exact = Some(SoftPenalty { l1: 1e3, l2: 1.0 });
        for (sides, mirrored) in [(BoundedSides::Upper, false), (BoundedSides::Lower, true)] {
            let soft = solve(wall(sides, mirrored, exact), &qp, x0);
            assert_eq!(
                soft.outcome,
                StepOutcome::Solved,
                "{qp:?} {sides:?} {:?}",
                soft.failure
            );
            let du = max_difference(&soft.inputs, &hard.inputs);
            assert!(du < 1e-6, "{qp:?} {sides:?}: du {du}");
        }
    }
}

#[test]
fn a_row_bounded_on_an_undeclared_side_is_dropped_and_counted() {
    let x0 = Vector2::new(1.0, 1.0);
    let qp = QpConfig::default();
    let soft = Some(SoftPenalty { l1: 1e3, l2: 1.0 });
    let mut broken = wall(BoundedSides::Upper, false, soft);
    broken.breaks_declaration = true;
    let plan = solve(broken, &qp, x0);
    // Every node's row was dropped: the plan drives through the wall.
    assert_eq!(plan.faults, N);
    assert_eq!(plan.outcome, StepOutcome::Solved);
    let top = plan.positions.iter().fold(f64::MIN, |m, p| m.max(*p));
    assert!(top > WALL + 0.1, "{top}");
    // The same bounds declared two-sided are used.
    let mut declared = broken;
    declared.sides = BoundedSides::Both;
    let kept = solve(declared, &qp, x0);
    assert_eq!(kept.faults, 0);
    let top = kept.positions.iter().fold(f64::MIN, |m, p| m.max(*p));
    assert!(top <= WALL + 1e-6, "{top}");
}
