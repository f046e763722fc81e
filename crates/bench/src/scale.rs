//! `recede bench scale`: how the step grows with the horizon. P1's OCP
//! (cart-pole swing-up, dt 0.02 s, the same plant and closed loop as
//! `bench p1`) at N = 20 .. 320 and P2's (nominal quadrotor, figure-eight
//! at 9 m/s, dt 0.05 s) at N = 20 .. 80, under each QP structure asked for
//! (`[controller.qp]`, docs/performance.md "Linear in the horizon").

use anyhow::Result;
use recede_mpc::{Condensing, InitialGuess, MpcConfig, QpConfig, QpSolver};
use serde::Serialize;

use recede_runner::stats::Percentiles;

pub const P1_HORIZONS: [usize; 5] = [20, 40, 80, 160, 320];
pub const P2_HORIZONS: [usize; 3] = [20, 40, 80];
/// P2's line: the 9 m/s figure-eight, one lap evaluated after the first.
const P2_SPEED_M_S: f64 = 9.0;
const P2_LAPS: f64 = 2.0;

#[derive(Debug, Clone)]
pub struct ScaleOptions {
    /// One set of lines per structure, in this order.
    pub structures: Vec<QpConfig>,
    /// P1 and P2 horizons; the sizes by default.
    pub p1_horizons: Vec<usize>,
    pub p2_horizons: Vec<usize>,
    /// P1's lines keep configs/bench/p1.toml's solver (the dense backend's
    /// exact box solve) wherever the structure condenses fully; off when
    /// the solvers are asked for (`--qp-solver`). P2's lines run the
    /// structures' solver as before.
    pub p1_file_solver: bool,
}

impl Default for ScaleOptions {
    fn default() -> Self {
        Self {
            p1_file_solver: true,
            structures: vec![QpConfig::default()],
            p1_horizons: P1_HORIZONS.to_vec(),
            p2_horizons: P2_HORIZONS.to_vec(),
        }
    }
}

/// ADMM iterations per step.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Iterations {
    pub median: f64,
    pub max: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScaleLine {
    pub problem: &'static str,
    pub horizon: usize,
    /// The structure asked for, and the stages per block it came to (the
    /// horizon: fully condensed; 1: not condensed).
    pub condensing: Condensing,
    pub stages_per_block: usize,
    /// The QP solver that ran (`[controller.qp] solver`, or the Riccati
    /// active set where `auto` condensing chose it).
    pub solver: QpSolver,
    /// The first step's plan (`[controller] initial_guess`).
    pub initial_guess: InitialGuess,
    /// The dense solver's exact box solve (`[controller.qp] active_set`):
    /// `qp_iterations` are its rounds then.
    pub active_set: bool,
    pub step_us: Percentiles,
    pub qp_iterations: Iterations,
    /// P1: the benchmark's closed-loop cost (123971.2 at N = 40).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closed_loop_cost: Option<f64>,
    /// P2: position RMSE over the second lap, m.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rmse_m: Option<f64>,
    /// P1: swung up and held at the end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub success: Option<bool>,
    pub fallbacks: usize,
}

/// The problem's controller at this horizon and structure. The dense
/// solver has no Ruiz scaling and refuses a QP that asks for it (blocks
/// ask for 5 iterations by default): its lines run unscaled.
fn with(mut mpc: MpcConfig, horizon: usize, qp: &QpConfig) -> MpcConfig {
    mpc.horizon_steps = horizon;
    mpc.qp = qp.clone();
    if qp.solver == QpSolver::Dense {
        mpc.osqp.scaling_iterations = Some(0);
    }
    mpc
}

/// P1's controller at this horizon and structure, with p1.toml's solver
/// where the structure condenses fully and `file_solver` asks for it.
/// Horizons longer than the file's start from the reference
/// (`initial_guess = "reference"`): from the hanging pole held at every
/// node, the real-time iteration keeps loops its first plans put down a
/// long horizon and flies them (docs/performance.md, "Long horizons: the
/// first guess"); P1's own N = 40 and shorter keep the benchmark's guess.
fn p1_with(horizon: usize, qp: &QpConfig, file_solver: bool) -> Result<MpcConfig> {
    let mut file = crate::p1::config(None)?;
    if horizon > file.horizon_steps {
        file.initial_guess = InitialGuess::Reference;
    }
    let mut chosen = qp.clone();
    if file_solver && qp.stages_per_block(horizon, 4, 1) >= horizon {
        chosen.solver = file.qp.solver;
        chosen.polish = file.qp.polish;
        chosen.active_set = file.qp.active_set;
    }
    Ok(with(file, horizon, &chosen))
}

/// The solver a benchmark controller of `nx` states and `nu` inputs runs:
/// P1's and P2's OCPs have no constraint rows, so with input bounds alone
/// `auto` takes the Riccati active set where it would condense in blocks.
fn chosen_solver(config: &MpcConfig, nx: usize, nu: usize) -> QpSolver {
    let box_only = config.state_bounds.is_empty();
    config
        .qp
        .chosen_solver(config.horizon_steps, nx, nu, box_only)
}

/// [`chosen_solver`] for P2's quadrotor.
fn p2_solver(config: &MpcConfig) -> QpSolver {
    chosen_solver(config, 13, 4)
}

/// Every line, each written through `emit` as it finishes.
pub fn run(options: &ScaleOptions, mut emit: impl FnMut(&ScaleLine)) -> Result<Vec<ScaleLine>> {
    let mut lines = Vec::new();
    for qp in &options.structures {
        for &n in &options.p1_horizons {
            let config = p1_with(n, qp, options.p1_file_solver)?;
            let k = config.qp.stages_per_block(n, 4, 1);
            let solver = chosen_solver(&config, 4, 1);
            let active_set = config.qp.active_set;
            let initial_guess = config.initial_guess;
            let r = crate::p1::run_with("scale", config, None)?;
            let line = ScaleLine {
                problem: "p1",
                horizon: n,
                condensing: qp.condensing,
                stages_per_block: k,
                solver,
                initial_guess,
                active_set,
                step_us: r.step_us,
                qp_iterations: Iterations {
                    median: f64::from(r.qp_iterations.median),
                    max: f64::from(r.qp_iterations.max),
                },
                closed_loop_cost: Some(r.closed_loop_cost),
                rmse_m: None,
                success: Some(r.success),
                fallbacks: r.fallbacks,
            };
            emit(&line);
            lines.push(line);
        }
        for &n in &options.p2_horizons {
            let config = with(crate::p2::mpc_config()?, n, qp);
            let k = config.qp.stages_per_block(n, 13, 4);
            let solver = p2_solver(&config);
            let (active_set, initial_guess) = (config.qp.active_set, config.initial_guess);
            let r = crate::p2::nominal_with(config, P2_SPEED_M_S, P2_LAPS, 1.0)?;
            let line = ScaleLine {
                problem: "p2",
                horizon: n,
                condensing: qp.condensing,
                stages_per_block: k,
                solver,
                initial_guess,
                active_set,
                step_us: r.step_us,
                qp_iterations: Iterations {
                    median: r.qp_iterations.median,
                    max: r.qp_iterations.max,
                },
                closed_loop_cost: None,
                rmse_m: Some(r.rmse_m),
                success: None,
                fallbacks: r.fallbacks,
            };
            emit(&line);
            lines.push(line);
        }
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The dense solver at a horizon the automatic structure cuts into
    /// blocks (which ask OSQP for Ruiz scaling) runs instead of being
    /// refused, and says what it ran.
    #[test]
    fn the_dense_solver_runs_where_blocks_are_chosen() {
        let options = ScaleOptions {
            structures: vec![QpConfig {
                solver: QpSolver::Dense,
                ..QpConfig::default()
            }],
            p1_horizons: vec![80],
            p2_horizons: vec![],
            p1_file_solver: false,
        };
        let lines = run(&options, |_| {}).expect("the dense line runs");
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].solver, QpSolver::Dense);
        assert!(lines[0].stages_per_block < 80, "blocks were chosen");
        assert_eq!(lines[0].fallbacks, 0);
    }

    /// Without solvers asked for, P1's fully condensed line runs
    /// p1.toml's exact box solve (at the reference's cost, from the
    /// benchmark's guess); where `auto` leaves full condensing, the
    /// Riccati active set (input bounds only), OSQP on blocks as its
    /// fallback, from the reference guess: swung up and held, at the cost
    /// the longer horizons share (102361.7).
    #[test]
    fn p1_keeps_its_files_solver_where_it_condenses_fully() {
        let options = ScaleOptions {
            p1_horizons: vec![40, 80],
            p2_horizons: vec![],
            ..ScaleOptions::default()
        };
        let lines = run(&options, |_| {}).expect("the lines run");
        assert_eq!(
            (lines[0].solver, lines[0].active_set),
            (QpSolver::Dense, true)
        );
        let cost = lines[0].closed_loop_cost.unwrap();
        assert!((cost - 123_971.2).abs() / 123_971.2 < 1e-6, "cost {cost}");
        assert_eq!(lines[0].initial_guess, InitialGuess::Measured);
        assert!(lines[1].stages_per_block < 80);
        assert_eq!(
            (lines[1].solver, lines[1].active_set),
            (QpSolver::Riccati, false)
        );
        assert_eq!(lines[1].initial_guess, InitialGuess::Reference);
        assert_eq!(lines[1].success, Some(true));
        let cost = lines[1].closed_loop_cost.unwrap();
        assert!((cost - 102_361.7).abs() / 102_361.7 < 1e-4, "cost {cost}");
        assert!(lines.iter().all(|l| l.fallbacks == 0));
    }

    /// P2's lines name the solver `auto` resolves to: the condensed QP's
    /// OSQP at N = 20 (80 inputs), the Riccati active set from N = 35
    /// (thrust bounds only), not the `auto` structure's default solver.
    #[test]
    fn p2_lines_name_the_solver_that_ran() {
        let config = with(crate::p2::mpc_config().unwrap(), 20, &QpConfig::default());
        assert_eq!(p2_solver(&config), QpSolver::Osqp);
        for n in [40, 80] {
            let config = with(crate::p2::mpc_config().unwrap(), n, &QpConfig::default());
            assert_eq!(p2_solver(&config), QpSolver::Riccati, "N = {n}");
        }
    }
}
