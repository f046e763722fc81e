//! P1: cart-pole swing-up by nonlinear MPC, exactly as benchmarks.md.

use std::time::Instant;

use anyhow::Result;
use nalgebra::{Vector1, Vector4};
use recede_model::robots::CartPole;
use recede_model::{Discretized, Rk4};
use recede_mpc::{Mpc, MpcConfig, OsqpConfig};
use serde::Serialize;

use super::{micros_since, IterationStats};
use crate::stats::Percentiles;

pub const STEPS: usize = 200;
const PERIOD_SECS: f64 = 0.02;
const FORCE_LIMIT_N: f64 = 80.0;

#[derive(Debug, Clone, Serialize)]
pub struct P1Result {
    pub problem: &'static str,
    /// `default` (the crate's OSQP settings) or `max_iter_50` (OSQP capped
    /// at 50 iterations, capped iterates accepted).
    pub variant: &'static str,
    pub steps: usize,
    pub step_us: Percentiles,
    pub feedback_us: Percentiles,
    pub prepare_us: Percentiles,
    pub osqp_solve_us: Percentiles,
    pub success: bool,
    pub closed_loop_cost: f64,
    pub reference_cost: f64,
    pub cost_deviation: f64,
    pub bound_violations: usize,
    pub fallbacks: usize,
    pub qp_iterations: IterationStats,
    pub final_state: [f64; 4],
}

/// P1's controller settings; `osqp` left at the crate's defaults unless given.
pub fn config(osqp: Option<OsqpConfig>) -> MpcConfig {
    MpcConfig {
        horizon_steps: 40,
        dt_secs: PERIOD_SECS,
        rk4_substeps: 1,
        period_secs: None,
        state_weights: vec![1e3, 1e3, 1e-2, 1e-2],
        terminal_weights: None,
        input_weights: vec![1e-2],
        input_min: Some(vec![-FORCE_LIMIT_N]),
        input_max: Some(vec![FORCE_LIMIT_N]),
        state_bounds: vec![],
        sqp_iterations: 1,
        osqp: osqp.unwrap_or_default(),
        fallback: Default::default(),
        governor: None,
    }
}

pub type P1Controller = Mpc<Discretized<CartPole>, (), 4, 1>;

pub fn controller(osqp: Option<OsqpConfig>) -> Result<P1Controller> {
    let spec = config(osqp).to_spec::<4, 1>()?;
    let model = Discretized::new(CartPole::default(), Rk4::new(PERIOD_SECS, 1));
    let x0 = Vector4::new(0.0, std::f64::consts::PI, 0.0, 0.0);
    let mut mpc = Mpc::new(model, (), spec, &x0, &Vector1::zeros())?;
    mpc.set_constant_reference(&Vector4::zeros(), &Vector1::zeros());
    Ok(mpc)
}

/// The two variants `recede bench p1` reports.
pub fn run_variants() -> Result<Vec<P1Result>> {
    let capped = OsqpConfig {
        max_iterations: 50,
        ..OsqpConfig::default()
    };
    Ok(vec![
        run_variant("default", None)?,
        run_variant("max_iter_50", Some(capped))?,
    ])
}

pub fn run(osqp: Option<OsqpConfig>) -> Result<P1Result> {
    run_variant("custom", osqp)
}

fn run_variant(variant: &'static str, osqp: Option<OsqpConfig>) -> Result<P1Result> {
    let mut mpc = controller(osqp)?;
    let plant = CartPole::default();
    let plant_rk4 = Rk4::new(0.002, 1);
    let mut x = Vector4::new(0.0, std::f64::consts::PI, 0.0, 0.0);
    let mut u = Vector1::zeros();
    let (mut step, mut feedback, mut prepare, mut solve) = (vec![], vec![], vec![], vec![]);
    let mut iterations = vec![];
    let (mut cost, mut violations, mut fallbacks) = (0.0, 0, 0);
    for _ in 0..STEPS {
        let started = Instant::now();
        let report = mpc.step(&x, PERIOD_SECS, &mut u);
        step.push(micros_since(started));
        feedback.push(report.feedback_secs * 1e6);
        prepare.push(report.prepare_secs * 1e6);
        solve.push(report.osqp_solve_secs * 1e6);
        iterations.push(report.qp_iterations);
        fallbacks += usize::from(report.outcome.is_fallback());
        violations += usize::from(u[0].abs() > FORCE_LIMIT_N + 1e-6);
        cost += 1e3 * (x[0] * x[0] + x[1] * x[1])
            + 1e-2 * (x[2] * x[2] + x[3] * x[3])
            + 1e-2 * u[0] * u[0];
        for _ in 0..10 {
            x = plant_rk4.step(&plant, &x, &u);
        }
    }
    let reference_cost = 123_971.2;
    Ok(P1Result {
        problem: "p1",
        variant,
        steps: STEPS,
        step_us: Percentiles::of(&step),
        feedback_us: Percentiles::of(&feedback),
        prepare_us: Percentiles::of(&prepare),
        osqp_solve_us: Percentiles::of(&solve),
        success: x[1].abs() < 0.05 && x[3].abs() < 0.1 && x[0].abs() < 0.1,
        closed_loop_cost: cost,
        reference_cost,
        cost_deviation: (cost - reference_cost) / reference_cost,
        bound_violations: violations,
        fallbacks,
        qp_iterations: IterationStats::of(&iterations),
        final_state: [x[0], x[1], x[2], x[3]],
    })
}
