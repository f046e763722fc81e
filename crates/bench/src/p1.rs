//! P1: cart-pole swing-up by nonlinear MPC, exactly as docs/benchmarks.md.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use nalgebra::{Vector1, Vector4};
use recede_control::Controller;
use recede_model::robots::{CartPole, ModelFileConfig, RobotConfig};
use recede_model::{Discretized, Rk4};
use recede_mpc::{Mpc, MpcConfig, OsqpConfig};
use serde::Serialize;

use crate::{micros_since, IterationStats};
use recede_runner::stats::Percentiles;

pub const STEPS: usize = 200;
const PERIOD_SECS: f64 = 0.02;
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

pub type P1Controller = Mpc<Discretized<CartPole>, (), 4, 1>;

pub fn controller(osqp: Option<OsqpConfig>) -> Result<P1Controller> {
    let spec = config(osqp)?.to_spec::<4, 1>()?;
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

/// P1 the way `recede run configs/bench/p1.toml` assembles it: the
/// controller `Controller::from_config` builds from the file, the true
/// plant the simulator builds from it (the same model, RK4 at 2 ms), in
/// lockstep; only the controller's step is timed.
fn run_variant(variant: &'static str, osqp: Option<OsqpConfig>) -> Result<P1Result> {
    run_with(variant, self::config(osqp)?, None)
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
    let f = &scenario.file;
    let robot_name = match &f.robot {
        RobotConfig::ModelFile(m) => m.path.display().to_string(),
        other => other.kind().to_string(),
    };
    let mut config = f.controller.clone();
    config.mpc = mpc;
    let x0 = &f.scenario.initial_state;
    let mut controller = Controller::from_config(&f.robot, &config, x0)?;
    let (mut x_ref, mut u_ref) = ([0.0; 4], [0.0; 1]);
    f.reference.sample(0.0, &mut x_ref, &mut u_ref);
    controller.set_constant_reference(&x_ref, &u_ref)?;
    let mut plant = scenario.plant_config().build(f.scenario.seed)?;
    let period = scenario.period_secs();
    let substeps = (period / plant.step_secs()).round() as usize;
    let (mut step, mut feedback, mut prepare, mut solve) = (vec![], vec![], vec![], vec![]);
    let mut iterations = vec![];
    let (mut cost, mut violations, mut fallbacks) = (0.0, 0, 0);
    let mut u = [0.0; 1];
    for k in 0..STEPS {
        let t = k as f64 * period;
        let x: [f64; 4] = plant.state().try_into()?;
        let started = Instant::now();
        let report = controller.step(&x, &mut u)?;
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
        for j in 0..substeps {
            plant.step(t + j as f64 * plant.step_secs(), &u)?;
        }
    }
    let x: [f64; 4] = plant.state().try_into()?;
    let reference_cost = 123_971.2;
    Ok(P1Result {
        problem: "p1",
        robot: robot_name,
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
        final_state: x,
        cost_vs_builtin: None,
        step_median_vs_builtin: None,
    })
}
