//! P3: linear MPC of OSQP's quadcopter example (QP only).
//!
//! Two closed loops over the same 100 steps from the example's x0:
//! - configs/bench/p3.toml through `recede run`'s loop (rt's lockstep
//!   loop, the simulator's plant: the example's discrete map, the
//!   controller `Controller::from_config` builds for the
//!   `linear_discrete` robot), whose step is timed against OSQP's own
//!   solve time for the QP that step built (`ratio_median`);
//! - for scale, the example's own sparse QP in OSQP alone
//!   ([`example`]), timed as OSQP reports its solve.

mod example;
#[cfg(test)]
mod tests;

use anyhow::Result;
use nalgebra::SVector;
use serde::Serialize;

use crate::IterationStats;
use example::{NU, NX};
use recede_rt::{StepHook, StepRecord};
use recede_runner::run::{run_with as run_scenario, RunOptions};
use recede_runner::scenario::Scenario;
use recede_runner::stats::Percentiles;

pub const STEPS: usize = 100;

#[derive(Debug, Clone, Serialize)]
pub struct P3Result {
    pub problem: &'static str,
    pub steps: usize,
    /// The policy's step as the loop times it (reference and the
    /// controller's step: what `recede run` reports as `step_us`).
    pub step_us: Percentiles,
    pub osqp_solve_us: Percentiles,
    pub ratio_median: f64,
    pub qp_iterations: IterationStats,
    pub fallbacks: usize,
    /// The example's cost along the closed loop, `sum (x - xr)' Q (x - xr)
    /// / 2 + u' R u / 2` over the control instants.
    pub closed_loop_cost: f64,
    pub final_state: [f64; NX],
    /// The example's sparse QP solved by OSQP alone, same loop.
    pub sparse_example_solve_us: Percentiles,
    pub sparse_example_iterations: IterationStats,
    /// Largest difference between the two loops' applied inputs.
    pub max_input_difference: f64,
}

/// What P3 keeps at each control instant.
#[derive(Debug, Default)]
struct P3Score {
    step_us: Vec<f64>,
    solve_us: Vec<f64>,
    iterations: Vec<u32>,
    fallbacks: usize,
    applied: Vec<SVector<f64, NU>>,
    states: Vec<SVector<f64, NX>>,
}

impl StepHook for P3Score {
    fn on_step(&mut self, r: &StepRecord<'_>) {
        if r.true_state.len() != NX || r.command.len() != NU {
            return;
        }
        self.step_us.push(r.compute_secs * 1e6);
        if let Some(status) = r.status {
            self.solve_us.push(status.solver_nanos as f64 * 1e-3);
            self.iterations.push(status.iterations);
            self.fallbacks += usize::from(status.fell_back);
        }
        self.applied.push(SVector::from_column_slice(r.command));
        self.states.push(SVector::from_column_slice(r.true_state));
    }
}

/// The closed loop of `scenario` over [`STEPS`] control steps.
fn fly(scenario: &Scenario) -> Result<(P3Score, Vec<f64>)> {
    let options = RunOptions {
        duration_secs: Some(STEPS as f64 * scenario.period_secs()),
        ..RunOptions::default()
    };
    let mut score = P3Score::default();
    let summary = run_scenario(scenario, &options, Some(&mut score))?;
    anyhow::ensure!(
        score.step_us.len() == STEPS && score.solve_us.len() == STEPS,
        "P3 ran {} control steps ({} solved), not {STEPS}",
        score.step_us.len(),
        score.solve_us.len()
    );
    Ok((score, summary.final_state))
}

/// The example's cost of a closed loop (its 1/2 included).
fn cost(d: &example::P3Data, states: &[SVector<f64, NX>], inputs: &[SVector<f64, NU>]) -> f64 {
    let q = example::diagonal(&d.Q, 0.5);
    let r = example::diagonal(&d.R, 0.5);
    let xr = SVector::<f64, NX>::from_column_slice(&d.xr);
    states
        .iter()
        .zip(inputs)
        .map(|(x, u)| {
            let e = x - xr;
            (0..NX).map(|i| q[i] * e[i] * e[i]).sum::<f64>()
                + (0..NU).map(|i| r[i] * u[i] * u[i]).sum::<f64>()
        })
        .sum()
}

pub fn run() -> Result<P3Result> {
    let d = example::load()?;
    let (score, final_state) = fly(&crate::scenarios::p3()?)?;
    let reference = example::run_example(&d, &score.applied)?;
    let step_p = Percentiles::of(&score.step_us);
    let solve_p = Percentiles::of(&score.solve_us);
    Ok(P3Result {
        problem: "p3",
        steps: STEPS,
        step_us: step_p,
        osqp_solve_us: solve_p,
        ratio_median: step_p.median / solve_p.median.max(1e-9),
        qp_iterations: IterationStats::of(&score.iterations),
        fallbacks: score.fallbacks,
        closed_loop_cost: cost(&d, &score.states, &score.applied),
        final_state: final_state.as_slice().try_into()?,
        sparse_example_solve_us: reference.solve_us,
        sparse_example_iterations: reference.iterations,
        max_input_difference: reference.max_input_difference,
    })
}
