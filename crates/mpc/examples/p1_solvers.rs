//! P1's closed loop (docs/benchmarks.md: cart-pole swing-up, dt 0.02 s,
//! 200 steps, the model as plant at 2 ms) with each QP solver, interleaved
//! round by round, timing `Mpc::step` alone: the controller's own share of
//! `recede bench p1`'s step, without the loop around it.
//!
//! `cargo run --release -p recede-mpc --example p1_solvers -- [ROUNDS] [N...]`
//! prints one JSON line per solver, horizon and round. `iterations` are
//! ADMM iterations, or for `ActiveSet` its rounds (factorisations).
//! `P1_SOLVERS=Dense,ActiveSet` runs only those lines (for callgrind).

#![allow(clippy::print_stdout)] // the figures are this program's output

use std::time::Instant;

use nalgebra::{SVector, Vector1, Vector4};
use recede_model::robots::CartPole;
use recede_model::{Discretized, Rk4};
use recede_mpc::{Mpc, MpcConfig, QpSolver};

const P1: &str = r#"
horizon_steps = 40
dt_secs = 0.02
state_weights = [1e3, 1e3, 1e-2, 1e-2]
input_weights = [1e-2]
input_min = [-80.0]
input_max = [80.0]
"#;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

/// The lines: OSQP, the dense ADMM, and the dense backend's exact box
/// solve (`qp.active_set`).
const SOLVERS: [(&str, QpSolver, bool); 3] = [
    ("Osqp", QpSolver::Osqp, false),
    ("Dense", QpSolver::Dense, false),
    ("ActiveSet", QpSolver::Dense, true),
];

fn run((name, solver, active_set): (&str, QpSolver, bool), horizon: usize) -> String {
    let mut cfg: MpcConfig = toml::from_str(P1).expect("P1 parses");
    cfg.horizon_steps = horizon;
    cfg.qp.solver = solver;
    cfg.qp.active_set = active_set;
    // Fully condensed at every horizon: the dense backend takes no blocks.
    cfg.qp.condensing = recede_mpc::Condensing::Full;
    let model = Discretized::new(CartPole::default(), Rk4::new(0.02, 1));
    let x0 = Vector4::new(0.0, std::f64::consts::PI, 0.0, 0.0);
    let spec = cfg.to_spec().expect("valid");
    let mut mpc = Mpc::new(model, (), spec, &x0, &Vector1::zeros()).expect("builds");
    mpc.set_constant_reference(&SVector::zeros(), &SVector::zeros());
    let plant = Rk4::new(0.002, 1);
    let (mut x, mut u) = (x0, Vector1::zeros());
    let (mut cost, mut fallbacks) = (0.0, 0);
    let mut times = Vec::with_capacity(200);
    let mut iterations = Vec::with_capacity(200);
    let (mut solve, mut prepare) = (Vec::with_capacity(200), Vec::with_capacity(200));
    for _ in 0..200 {
        let started = Instant::now();
        let report = mpc.step(&x, 0.02, &mut u);
        times.push(started.elapsed().as_secs_f64() * 1e6);
        iterations.push(report.qp_iterations);
        solve.push(report.osqp_solve_secs * 1e6);
        prepare.push(report.prepare_secs * 1e6);
        fallbacks += usize::from(report.outcome.is_fallback());
        cost += 1e3 * (x[0] * x[0] + x[1] * x[1])
            + 1e-2 * (x[2] * x[2] + x[3] * x[3])
            + 1e-2 * u[0] * u[0];
        for _ in 0..10 {
            x = plant.step(&CartPole::default(), &x, &u);
        }
    }
    times.sort_by(f64::total_cmp);
    solve.sort_by(f64::total_cmp);
    prepare.sort_by(f64::total_cmp);
    iterations.sort();
    format!(
        "{{\"solver\": \"{name}\", \"horizon\": {horizon}, \"median_us\": {:.1}, \"p99_us\": {:.1}, \"max_us\": {:.1}, \"solve_median_us\": {:.1}, \"prepare_median_us\": {:.1}, \"iterations_median\": {}, \"iterations_max\": {}, \"cost\": {cost:.2}, \"fallbacks\": {fallbacks}, \"active_set_fallbacks\": {}}}",
        percentile(&times, 0.5),
        percentile(&times, 0.99),
        times[times.len() - 1],
        percentile(&solve, 0.5),
        percentile(&prepare, 0.5),
        iterations[100],
        iterations[199],
        mpc.fallback_counts().active_set_fallbacks,
    )
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("integers: rounds, then horizons"))
        .collect();
    let rounds = args.first().copied().unwrap_or(3);
    let horizons = if args.len() > 1 {
        &args[1..]
    } else {
        &[40][..]
    };
    let only = std::env::var("P1_SOLVERS").ok();
    let chosen = |name: &str| {
        only.as_deref()
            .is_none_or(|o| o.split(',').any(|s| s == name))
    };
    for round in 0..rounds {
        for &horizon in horizons {
            for solver in SOLVERS.into_iter().filter(|s| chosen(s.0)) {
                println!("{{\"round\": {round}, \"line\": {}}}", run(solver, horizon));
            }
        }
    }
}
