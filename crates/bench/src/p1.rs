//! P1: cart-pole swing-up by nonlinear MPC, exactly as docs/benchmarks.md.

use std::path::Path;

use anyhow::{Context, Result};
use recede_model::robots::{ModelFileConfig, RobotConfig};
use recede_mpc::{MpcConfig, OsqpConfig};
use serde::Serialize;

use crate::IterationStats;
use recede_rt::{StepHook, StepRecord};
use recede_runner::run::{run_with as run_scenario, RunOptions};
use recede_runner::stats::Percentiles;

pub const STEPS: usize = 200;
const FORCE_LIMIT_N: f64 = 80.0;

#[derive(Debug, Clone, Serialize)]
pub struct P1Result {
    pub problem: &'static str,
    /// `cart_pole` (the built-in) or the model file P1 ran with (`--model`).
    pub robot: String,
    /// `default` (the crate's OSQP settings) or `max_iter_50` (OSQP capped
    /// at 50 iterations, capped iterates accepted).
    pub variant: &'static str,
    pub steps: usize,
    /// The policy's step as the loop times it (guidance, reference and the
    /// controller's step: what `recede run` reports as `step_us`).
    pub step_us: Percentiles,
    pub success: bool,
    pub closed_loop_cost: f64,
    pub reference_cost: f64,
    pub cost_deviation: f64,
    pub bound_violations: usize,
    pub fallbacks: usize,
    pub qp_iterations: IterationStats,
    pub final_state: [f64; 4],
    /// With `--model`: the closed-loop cost relative to the built-in's, run
    /// just before ((file - built-in) / built-in).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_vs_builtin: Option<f64>,
    /// With `--model`: the step median over the built-in's, measured back
    /// to back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step_median_vs_builtin: Option<f64>,
}

/// P1's controller settings (configs/bench/p1.toml's `[controller]`), with
/// `osqp` instead of the file's when given.
pub fn config(osqp: Option<OsqpConfig>) -> Result<MpcConfig> {
    let mut config = crate::scenarios::p1()?.file.controller.mpc;
    if let Some(osqp) = osqp {
        config.osqp = osqp;
    }
    Ok(config)
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

/// P1 with the cart-pole of a model file (`recede bench p1 --model FILE`),
/// and the built-in's run just before it, for the cost and the step time
/// as ratios. Each line twice, alternating, to spread the machine's noise;
/// the second pair is reported.
pub fn run_with_model(model: &Path) -> Result<Vec<P1Result>> {
    let robot = RobotConfig::ModelFile(ModelFileConfig::new(model, Default::default()));
    robot
        .validate()
        .with_context(|| format!("--model {}", model.display()))?;
    anyhow::ensure!(
        robot.dimensions() == (4, 1),
        "--model {}: expected a cart-pole's 4 states and 1 input, found {:?}",
        model.display(),
        robot.dimensions()
    );
    let mut builtin = run_with("default", self::config(None)?, None)?;
    let mut file = run_with("default", self::config(None)?, Some(&robot))?;
    builtin = run_with("default", self::config(None)?, None).map(|b| b.min_step(builtin))?;
    file = run_with("default", self::config(None)?, Some(&robot)).map(|f| f.min_step(file))?;
    file.cost_vs_builtin =
        Some((file.closed_loop_cost - builtin.closed_loop_cost) / builtin.closed_loop_cost);
    file.step_median_vs_builtin = Some(file.step_us.median / builtin.step_us.median);
    Ok(vec![builtin, file])
}

impl P1Result {
    /// Of two runs of the same line, the one with the lower step median
    /// (the other was slowed by the machine); results are otherwise equal.
    fn min_step(self, other: Self) -> Self {
        if other.step_us.median < self.step_us.median {
            other
        } else {
            self
        }
    }
}

/// P1 the way `recede run configs/bench/p1.toml` runs it: the controller
/// `Controller::from_config` builds from the file, the true plant the
/// simulator builds from it (the same model, RK4 at 2 ms), rt's lockstep
/// loop (`recede_runner::run::run_with`); the step time is the loop's
/// measure of the policy's step.
fn run_variant(variant: &'static str, osqp: Option<OsqpConfig>) -> Result<P1Result> {
    run_with(variant, self::config(osqp)?, None)
}

/// What P1 scores at each control instant: its cost, the force bound, the
/// step's time, iterations and fallbacks.
#[derive(Debug, Default)]
struct P1Score {
    cost: f64,
    violations: usize,
    fallbacks: usize,
    step_us: Vec<f64>,
    iterations: Vec<u32>,
}

impl StepHook for P1Score {
    fn on_step(&mut self, r: &StepRecord<'_>) {
        let (x, u) = (r.true_state, r.command);
        if x.len() != 4 || u.len() != 1 {
            return;
        }
        self.step_us.push(r.compute_secs * 1e6);
        if let Some(status) = r.status {
            self.iterations.push(status.iterations);
            self.fallbacks += usize::from(status.fell_back);
        }
        self.violations += usize::from(u[0].abs() > FORCE_LIMIT_N + 1e-6);
        self.cost += 1e3 * (x[0] * x[0] + x[1] * x[1])
            + 1e-2 * (x[2] * x[2] + x[3] * x[3])
            + 1e-2 * u[0] * u[0];
    }
}

/// P1's closed loop with the controller section `mpc` instead of the
/// file's (`recede bench scale` changes the horizon and the QP's
/// structure) and `robot` in place of the file's `[robot]` (and, as P1 has
/// no `[plant]`, as the true plant).
pub fn run_with(
    variant: &'static str,
    mpc: MpcConfig,
    robot: Option<&RobotConfig>,
) -> Result<P1Result> {
    let mut scenario = crate::scenarios::p1()?;
    if let Some(robot) = robot {
        scenario.file.robot = robot.clone();
    }
    scenario.file.controller.mpc = mpc;
    let robot_name = match &scenario.file.robot {
        RobotConfig::ModelFile(m) => m.path.display().to_string(),
        other => other.kind().to_string(),
    };
    let options = RunOptions {
        duration_secs: Some(STEPS as f64 * scenario.period_secs()),
        ..RunOptions::default()
    };
    let mut score = P1Score::default();
    let summary = run_scenario(&scenario, &options, Some(&mut score))?;
    let x: [f64; 4] = summary.final_state.as_slice().try_into()?;
    if score.step_us.len() != STEPS {
        anyhow::bail!("P1 ran {} control steps, not {STEPS}", score.step_us.len());
    }
    let reference_cost = 123_971.2;
    Ok(P1Result {
        problem: "p1",
        robot: robot_name,
        variant,
        steps: STEPS,
        step_us: Percentiles::of(&score.step_us),
        success: x[1].abs() < 0.05 && x[3].abs() < 0.1 && x[0].abs() < 0.1,
        closed_loop_cost: score.cost,
        reference_cost,
        cost_deviation: (score.cost - reference_cost) / reference_cost,
        bound_violations: score.violations,
        fallbacks: score.fallbacks.max(summary.fallbacks),
        qp_iterations: IterationStats::of(&score.iterations),
        final_state: x,
        cost_vs_builtin: None,
        step_median_vs_builtin: None,
    })
}
