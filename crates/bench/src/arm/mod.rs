//! P2's second robot (issue 6, item 6): the two-link arm of
//! `recede_model::robots::Arm` tracking a joint trajectory while it carries a
//! tip payload its controller does not know about and its joints have
//! viscous and Coulomb friction (the simulator's `ArmTruth`), with three
//! prediction models: `nominal`, `residual` (an MLP trained here on other
//! trajectories) and `oracle` (the true payload and friction).
//!
//! The problem is configs/bench/arm.toml: the references are sums of
//! sinusoids per joint ([`reference::draw`], from a seed, scaled until the
//! torque the true arm needs stays within 80% of its limits), a `sines`
//! reference whose input the controller computes (`input =
//! "inverse_dynamics"`: the nominal arm's torque along it, a feedforward
//! the MPC then corrects); the file holds seed 1001's, other seeds replace
//! it ([`scenario`]). Every evaluated line runs through the loop `recede
//! run` uses (`run_with`, scored by a step hook); the residual reaches the
//! controller as a model file, the oracle (a model no file can name) is its
//! own MPC as the loop's policy. Training flies other draws (other seeds,
//! never the evaluated ones) with the scenario's nominal controller on the
//! true plant, through the same loop with a plant-step transition log. The JSON lines have `problem = "p2_arm"`; `rmse_m` is the
//! tip's position RMSE, `rmse_rad` the joint angles'.

mod oracle;
mod reference;
#[cfg(test)]
mod tests;

use std::time::Instant;

use anyhow::{ensure, Result};
use nalgebra::SVector;
use recede_control::ReferenceConfig;
use recede_learn::{
    Activation, Dataset, Feature, MlpResidual, Output, ResidualSpec, SupportGuard, TrainOptions,
    TrainReport,
};
use recede_model::robots::arm::{NU, NX};
use recede_model::robots::Arm;
use recede_model::ResidualEvaluation;
use recede_mpc::MpcConfig;
use recede_runner::datalog::LogTarget;
use recede_runner::run::{run_with, RunOptions};
use recede_runner::scenario::Scenario;
use recede_runner::stats::Percentiles;
use serde::Serialize;

use crate::learned::{self, LineModel, ModelKind, MpcPolicy};
use crate::scenarios;
use crate::score::TrackingScore;
pub use oracle::{
    truth, TrueArmResidual, COULOMB_FRICTION, COULOMB_SMOOTHING_RADPS, EXTRA_PAYLOAD_KG,
    VISCOUS_FRICTION,
};
pub use reference::draw;

/// Everything an arm run depends on; [`Default`] is the benchmark.
#[derive(Debug, Clone)]
pub struct ArmOptions {
    /// Seeds of the evaluated trajectories.
    pub evaluated_seeds: Vec<u64>,
    pub evaluated_secs: f64,
    /// The RMSE is taken from this time on (the start-up transient is out).
    pub evaluated_from_secs: f64,
    /// Seeds of the training trajectories (disjoint from the evaluated ones).
    pub training_seeds: Vec<u64>,
    pub training_secs: f64,
    pub spec: ResidualSpec,
    pub training: TrainOptions,
}

impl Default for ArmOptions {
    fn default() -> Self {
        Self {
            evaluated_seeds: vec![1001, 1002],
            evaluated_secs: 12.0,
            evaluated_from_secs: 2.0,
            training_seeds: (1..=16).collect(),
            training_secs: 10.0,
            spec: residual_spec(),
            training: TrainOptions {
                seed: 0,
                max_epochs: 200,
                batch_size: 64,
                learning_rate: 3e-3,
                patience: 20,
                validation_fraction: 0.2,
                ..TrainOptions::default()
            },
        }
    }
}

/// The arm's residual: joint angles as sines and cosines (gravity and the
/// mass matrix are sums of these), the second link's absolute angle, joint
/// rates (friction, Coriolis) and torques (the payload changes the inverse
/// mass matrix they go through) in; joint accelerations out.
pub fn residual_spec() -> ResidualSpec {
    ResidualSpec {
        features: vec![
            Feature::SinCos { index: 0 },
            Feature::SinCos { index: 1 },
            Feature::SinCosSum {
                first: 0,
                second: 1,
            },
            Feature::State { index: 2 },
            Feature::State { index: 3 },
            Feature::Inputs,
        ],
        outputs: vec![Output::State { index: 2 }, Output::State { index: 3 }],
        hidden: vec![16],
        activation: Activation::Tanh,
        guard: SupportGuard::Clip,
    }
}

/// The arm's controller: configs/bench/arm.toml's `[controller]`.
pub fn mpc_config() -> Result<MpcConfig> {
    Ok(scenarios::arm()?.file.controller.mpc)
}

/// The seed of the reference configs/bench/arm.toml holds.
pub const FILE_SEED: u64 = 1001;

/// The arm problem tracking the reference drawn from `seed`:
/// configs/bench/arm.toml with its reference (seed [`FILE_SEED`]'s) and
/// initial state (the reference's start) replaced by the draw's.
pub fn scenario(seed: u64) -> Result<Scenario> {
    let mut s = scenarios::arm()?;
    if seed != FILE_SEED {
        let f = &mut s.file;
        f.reference = ReferenceConfig::Sines(reference::draw(seed)?);
        f.reference
            .sample(0.0, &mut f.scenario.initial_state, &mut [0.0; NU]);
    }
    Ok(s)
}

/// One arm closed loop.
#[derive(Debug, Clone, Serialize)]
pub struct ArmLine {
    pub problem: &'static str,
    /// The evaluated reference (`sines-<seed>`).
    pub trajectory: String,
    pub model: &'static str,
    /// Tip position RMSE at the control instants from `evaluated_from_secs`, m.
    pub rmse_m: f64,
    /// Joint-angle RMSE (both joints), rad.
    pub rmse_rad: f64,
    pub step_us: Percentiles,
    /// Applied torques at a limit (within 1e-9), over all control steps.
    pub saturated_fraction: f64,
    pub control_steps: usize,
    pub evaluated_steps: usize,
    pub fallbacks: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outside_support_fraction: Option<f64>,
}

/// The arm's score: the tip's squared distance and the joints' squared
/// errors from `from_secs` on.
fn arm_score(scenario: &Scenario, from_secs: f64, steps: usize) -> TrackingScore {
    let b = Arm::default().input_bounds();
    let errors = |x: &[f64], r: &[f64]| {
        let arm = Arm::default();
        let (x, r) = (
            SVector::<f64, NX>::from_column_slice(x),
            SVector::<f64, NX>::from_column_slice(r),
        );
        let (p, pr) = (arm.tip_position_m(&x), arm.tip_position_m(&r));
        [
            (p[0] - pr[0]).powi(2) + (p[1] - pr[1]).powi(2),
            (x[0] - r[0]).powi(2) + (x[1] - r[1]).powi(2),
        ]
    };
    let reference = scenario.file.reference.clone();
    TrackingScore::new(
        reference,
        from_secs,
        errors,
        NX,
        (&b.lower, &b.upper),
        steps,
    )
}

/// `secs` of the arm tracking the reference of `seed` with `model`, run as
/// `recede run` runs it; the RMSEs from `evaluated_from_secs` on.
pub fn closed_loop(
    name: &'static str,
    model: LineModel<'_>,
    seed: u64,
    secs: f64,
    evaluated_from_secs: f64,
) -> Result<ArmLine> {
    let mut scenario = scenario(seed)?;
    let steps = (secs / scenario.period_secs()).round() as usize;
    let mut score = arm_score(&scenario, evaluated_from_secs, steps);
    let (fallbacks, outside_support_fraction) = match model {
        LineModel::Nominal | LineModel::Residual(_) => {
            if let LineModel::Residual(path) = model {
                scenario = learned::with_residual(scenario, path);
            }
            let options = RunOptions {
                duration_secs: Some(secs),
                ..RunOptions::default()
            };
            let summary = run_with(&scenario, &options, Some(&mut score))?;
            ensure!(
                summary.unsolved_input_references == 0,
                "{} reference nodes had no inverse-dynamics torque",
                summary.unsolved_input_references
            );
            (summary.fallbacks, summary.residual_clipped_fraction)
        }
        LineModel::Oracle => {
            let f = &scenario.file;
            let x0 = SVector::<f64, NX>::from_column_slice(&f.scenario.initial_state);
            let config = &f.controller.mpc;
            // The first plan holds the reference's torque at the start.
            let mut u0 = SVector::<f64, NU>::zeros();
            if let Some(sines) = f.reference.computed_input() {
                sines.model_input(&Arm::default(), 0.0, &x0, &mut u0);
            }
            let mpc = learned::mpc(
                Arm::default(),
                config,
                TrueArmResidual::new()?,
                ResidualEvaluation::EveryStage,
                &x0,
                &u0,
            )?;
            let mut policy = MpcPolicy::new(mpc, f.reference.clone(), config.period_secs());
            let report = learned::run_policy(&scenario, secs, &mut policy, &mut score)?;
            ensure!(
                policy.unsolved_inputs == 0,
                "reference nodes without a torque"
            );
            (report.fallbacks, None)
        }
    };
    ensure!(
        score.evaluated > 0,
        "no control instant in the evaluated window"
    );
    Ok(ArmLine {
        problem: "p2_arm",
        trajectory: format!("sines-{seed}"),
        model: name,
        rmse_m: score.rmse(0),
        rmse_rad: score.rmse(1),
        step_us: score.step_percentiles(),
        saturated_fraction: score.saturated_fraction(),
        control_steps: score.steps(),
        evaluated_steps: score.evaluated,
        fallbacks: score.fallbacks.max(fallbacks),
        outside_support_fraction,
    })
}

/// One training flight: the scenario's nominal controller tracking the
/// reference of `seed` for `secs` on the true arm, through `recede run`'s
/// loop with a plant-step transition log (`recede run --log-data FILE
/// --log-target plant_step`): one sample per control step, a 1 ms plant
/// step (cycling through the period's steps), its midpoint state, and the
/// joint accelerations the nominal model misses over it.
pub fn training_flight(seed: u64, secs: f64) -> Result<Dataset<NX, NU>> {
    let scenario = scenario(seed)?;
    let (data, summary) =
        learned::data_flight("arm-flight", &scenario, secs, LogTarget::PlantStep, None)?;
    ensure!(
        summary.unsolved_input_references == 0,
        "seed {seed}: {} reference nodes without an inverse-dynamics torque",
        summary.unsolved_input_references
    );
    Ok(data)
}

/// Training data: the nominal controller tracking the training references
/// on the true arm (in parallel; each run is deterministic, so the data are
/// too).
pub fn generate_data(options: &ArmOptions) -> Result<Dataset<NX, NU>> {
    use rayon::prelude::*;
    ensure!(
        options
            .training_seeds
            .iter()
            .all(|s| !options.evaluated_seeds.contains(s)),
        "a training trajectory is an evaluated one"
    );
    let runs = options
        .training_seeds
        .par_iter()
        .map(|&seed| training_flight(seed, options.training_secs))
        .collect::<Result<Vec<_>>>()?;
    let mut data = Dataset::new();
    for run in runs {
        data.samples.extend(run.samples);
    }
    Ok(data)
}

pub fn train_residual(
    data: &Dataset<NX, NU>,
    options: &ArmOptions,
) -> Result<(MlpResidual<NX, NU>, TrainReport)> {
    learned::train(data, &options.spec, &options.training)
}

/// Data, training, then every evaluated trajectory with the three models.
/// The trained residual reaches the controller as a model file (written to
/// the temporary directory for the run).
pub fn run(options: &ArmOptions) -> Result<Vec<ArmLine>> {
    let started = Instant::now();
    let (secs, from) = (options.evaluated_secs, options.evaluated_from_secs);
    let lines = learned::train_and_evaluate(
        "arm",
        &options.evaluated_seeds,
        &[ModelKind::Nominal, ModelKind::Residual, ModelKind::Oracle],
        || {
            let data = generate_data(options)?;
            let (residual, report) = train_residual(&data, options)?;
            eprintln!(
                "p2_arm: {} transitions from {} trajectories, trained in {} epochs, validation RMSE {:?} rad/s^2 ({:.1} s)",
                data.len(),
                options.training_seeds.len(),
                report.epochs.len(),
                report.validation_rmse,
                started.elapsed().as_secs_f64()
            );
            Ok(residual)
        },
        |seed, model| closed_loop(model.name(), model, seed, secs, from),
    )?;
    eprintln!("p2_arm: done in {:.1} s", started.elapsed().as_secs_f64());
    Ok(lines)
}
