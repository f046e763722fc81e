//! `[controller.osqp] presolve_prediction`: the preparation solves the next
//! QP for the predicted state and the feedback starts from that solution.
//! It must leave the controller's answers what they were (the feedback
//! solves the measured state's QP to the same tolerances) while moving the
//! ADMM iterations out of the feedback.

mod common;

use common::*;
use nalgebra::{Vector1, Vector4};
use recede_mpc::{Mpc, QpStatus, StepReport};
use recede_test_support::{allocations_in, CountingAllocator};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// Acados' and CasADi's P1 cost with QPs solved to high accuracy.
const REFERENCE_COST: f64 = 123971.2;

/// P1's controller; `tolerance` replaces OSQP's `eps_abs` and `eps_rel`.
fn p1_with_presolve(on: bool, tolerance: Option<f64>) -> Mpc<CartPoleModel, (), 4, 1> {
    let mut config = p1_config();
    config.osqp.presolve_prediction = on;
    if let Some(eps) = tolerance {
        config.osqp.eps_abs = eps;
        config.osqp.eps_rel = eps;
    }
    p1_mpc(config.to_spec().expect("P1 with the presolve is valid"))
}

/// A feedback, then the preparation of the next step, as the C interface
/// runs them.
fn rti(
    mpc: &mut Mpc<CartPoleModel, (), 4, 1>,
    x: &Vector4<f64>,
    u: &mut Vector1<f64>,
) -> StepReport {
    let fed_back = mpc.feedback_step(x, u);
    let prepared = mpc.prepare_next(P1_DT_SECS);
    StepReport {
        prepare_secs: prepared.prepare_secs,
        presolve_qp_iterations: prepared.presolve_qp_iterations,
        presolve_status: prepared.presolve_status,
        ..fed_back
    }
}

struct Run {
    cost: f64,
    forces: Vec<f64>,
    reports: Vec<StepReport>,
    end: Vector4<f64>,
}

/// P1's closed loop; `kick` is added to the measured state at step 60
/// (an impulse the prediction knows nothing about).
fn run(on: bool, kick: Vector4<f64>, tolerance: Option<f64>) -> Run {
    let mut mpc = p1_with_presolve(on, tolerance);
    let (mut x, mut u) = (p1_x0(), Vector1::zeros());
    let (mut cost, mut forces, mut reports) = (0.0, Vec::new(), Vec::new());
    for k in 0..200 {
        if k == 60 {
            x += kick;
        }
        reports.push(rti(&mut mpc, &x, &mut u));
        forces.push(u[0]);
        cost += p1_stage_cost(&x, &u);
        x = p1_plant_step(&x, &u);
    }
    assert_eq!(mpc.fallback_counts().presolve_unused, 0);
    Run {
        cost,
        forces,
        reports,
        end: x,
    }
}

fn median(mut v: Vec<u32>) -> u32 {
    v.sort_unstable();
    v[v.len() / 2]
}

#[test]
fn p1_flies_the_same_closed_loop_with_fewer_feedback_iterations() {
    let (with, without) = (
        run(true, Vector4::zeros(), None),
        run(false, Vector4::zeros(), None),
    );
    for r in [&with, &without] {
        assert!(r.reports.iter().all(|s| !s.outcome.is_fallback()));
        assert!(r.end[1].abs() < 0.05 && r.end[3].abs() < 0.1 && r.end[0].abs() < 0.1);
        let relative = (r.cost - REFERENCE_COST).abs() / REFERENCE_COST;
        assert!(relative < 5e-4, "cost {} vs {REFERENCE_COST}", r.cost);
    }
    // Every preparation but the last one's was presolved to tolerance.
    assert!(with
        .reports
        .iter()
        .all(|s| s.presolve_status == QpStatus::Solved));
    assert!(without
        .reports
        .iter()
        .all(|s| s.presolve_status == QpStatus::NotRun && s.presolve_qp_iterations == 0));
    let feedback = |r: &Run| median(r.reports.iter().map(|s| s.qp_iterations).collect());
    // OSQP checks termination every 5 iterations: the feedback cannot stop
    // earlier than that, and now stops at the first check.
    assert_eq!(feedback(&with), 5, "median feedback iterations");
    assert!(feedback(&without) > 5, "{}", feedback(&without));
    // The same forces, to the QP's tolerance (|F| <= 80 N).
    let worst = with
        .forces
        .iter()
        .zip(&without.forces)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(worst < 1.0, "forces differ by up to {worst} N");
}

/// A measured state the prediction missed (a kick at step 60): the
/// feedback solves the measured state's QP, the presolve is only where it
/// starts. Solved to a tight tolerance, both closed loops apply the same
/// forces at every step.
#[test]
fn with_a_kick_the_prediction_missed_the_forces_are_those_without_the_presolve() {
    let kick = Vector4::new(0.0, 0.05, 0.0, 0.3);
    let tight = Some(1e-7);
    let (with, without) = (run(true, kick, tight), run(false, kick, tight));
    let worst = with
        .forces
        .iter()
        .zip(&without.forces)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(worst < 1e-3, "forces differ by up to {worst} N");
    assert!(
        with.reports[60].qp_iterations > 5,
        "the kick needed a real correction"
    );
    assert!(with.end[1].abs() < 0.05 && with.end[0].abs() < 0.1);
}

#[test]
fn the_presolved_closed_loop_repeats_bit_for_bit() {
    let first = run(true, Vector4::zeros(), None);
    let again = run(true, Vector4::zeros(), None);
    assert_eq!(first.cost.to_bits(), again.cost.to_bits());
    assert!(first
        .forces
        .iter()
        .zip(&again.forces)
        .all(|(a, b)| a.to_bits() == b.to_bits()));
}

#[test]
fn feedback_and_presolving_preparation_do_not_allocate() {
    let mut mpc = p1_with_presolve(true, None);
    let (mut x, mut u) = (p1_x0(), Vector1::zeros());
    for _ in 0..5 {
        rti(&mut mpc, &x, &mut u);
        x = p1_plant_step(&x, &u);
    }
    let mut presolved = 0;
    let n = allocations_in(|| {
        for _ in 0..50 {
            let report = rti(&mut mpc, &x, &mut u);
            presolved += usize::from(report.presolve_status == QpStatus::Solved);
            x = p1_plant_step(&x, &u);
        }
    });
    assert_eq!(presolved, 50);
    assert_eq!(n, 0, "heap allocations in 50 presolved steps");
}
