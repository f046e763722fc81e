//! P2: quadrotor figure-eight tracking with unmodelled drag, exactly as
//! docs/benchmarks.md, with three prediction models: `nominal`, `residual` (an
//! MLP trained here on flights that are not the figure-eight) and `oracle`
//! (the true drag model, the limit a residual can reach).
//!
//! Every line is a run of configs/bench/p2_v*.toml through the loop
//! `recede run` uses (`recede_runner::run::run_with`: rt's lockstep loop,
//! the simulator's true plant, `Controller::from_config`), scored by a step
//! hook ([`score`]); the residual reaches the controller as a model file in
//! `[controller.residual]`, as a user's does. The oracle's model cannot be
//! named in a file: its own MPC runs as the policy of the same loop
//! ([`oracle`]).
//!
//! Self-contained and repeatable: training data come from flights that are
//! not the figure-eight ([`flights`], a fixed seed), flown by the nominal
//! controller on the true plant, always at least 2 m above the
//! figure-eight's plane, so the evaluated trajectory is never sampled.

pub mod flights;
pub mod oracle;
#[cfg(test)]
mod tests;

use std::path::Path;
use std::time::Instant;

use anyhow::{ensure, Result};
use recede_control::ReferenceConfig;
use recede_learn::{
    Dataset, MlpResidual, Network, Normalization, ResidualSpec, Support, TrainOptions, TrainReport,
};
use recede_model::robots::quadrotor::{NU, NX};
use recede_model::robots::Quadrotor;
use recede_model::ResidualEvaluation;
use recede_mpc::MpcConfig;
use recede_runner::run::{run_with, RunOptions};
use recede_runner::scenario::Scenario;
use recede_runner::stats::Percentiles;
use recede_runner::train::TrainConfig;
use serde::Serialize;

use crate::learned;
use crate::scenarios;
use crate::score::TrackingScore;
pub use flights::{generate_data, Circle, Flight, Wander};

pub const AMPLITUDE_M: f64 = 10.0;
pub const HEIGHT_M: f64 = 2.0;
/// Training flights stay at least this far above the figure-eight's plane.
pub const MIN_CLEARANCE_M: f64 = 2.0;

/// Everything a P2 run depends on; [`Default`] is the benchmark.
#[derive(Debug, Clone)]
pub struct P2Options {
    pub speeds_m_s: Vec<f64>,
    /// Laps flown, and the lap from which the RMSE is taken (P2: 3 and 1,
    /// i.e. laps 2 and 3).
    pub laps: f64,
    pub evaluated_from_lap: f64,
    pub data: DataOptions,
    pub spec: ResidualSpec,
    pub training: TrainOptions,
    /// The models flown at each speed, in this order.
    pub models: Vec<P2Model>,
}

/// The MPC's prediction model in a P2 line: the nominal quadrotor (no
/// drag), nominal plus the residual trained here, nominal plus the true
/// drag.
pub use crate::learned::ModelKind as P2Model;

/// The training flights.
#[derive(Debug, Clone, PartialEq)]
pub struct DataOptions {
    pub seed: u64,
    /// Circles, then wander flights (each flight its own random draw).
    pub flights: usize,
    pub wander_flights: usize,
    pub flight_secs: f64,
    pub min_speed_m_s: f64,
    pub max_speed_m_s: f64,
    pub target: TargetKind,
}

/// What a training sample's target is: a control period, or one plant
/// step about its midpoint (the default).
pub use recede_runner::datalog::LogTarget as TargetKind;

impl Default for DataOptions {
    fn default() -> Self {
        Self {
            seed: 2,
            flights: 16,
            wander_flights: 24,
            flight_secs: 10.0,
            min_speed_m_s: 0.5,
            max_speed_m_s: 15.0,
            target: TargetKind::PlantStep,
        }
    }
}

/// The residual the benchmark trains and how: configs/residual_quadrotor.toml,
/// what `recede train` reads too (compiled in; written nowhere else). The
/// body-frame velocity and its quadratic-drag shape in, a body-frame
/// acceleration on v' out, one hidden layer of 16. Attitude and thrust
/// features were tried and dropped: the drag does not depend on them, they
/// leave the training box on the fast eights (the guard then clips) and
/// cost evaluation time.
pub fn residual_config() -> TrainConfig {
    const PATH: &str = "configs/residual_quadrotor.toml";
    const TEXT: &str = include_str!("../../../../configs/residual_quadrotor.toml");
    // A file in the repository, parsed by a test (`the_residual_file_parses`).
    TrainConfig::parse(TEXT, Path::new(PATH)).expect("configs/residual_quadrotor.toml parses")
}

pub fn residual_spec() -> ResidualSpec {
    residual_config().spec
}

impl Default for P2Options {
    fn default() -> Self {
        Self {
            speeds_m_s: vec![3.0, 6.0, 9.0, 12.0],
            laps: 3.0,
            evaluated_from_lap: 1.0,
            data: DataOptions::default(),
            spec: residual_config().spec,
            training: residual_config().training,
            models: vec![P2Model::Nominal, P2Model::Residual, P2Model::Oracle],
        }
    }
}

/// How the residual model's MPC integrates the residual: held over each
/// 0.05 s interval, which tracks as well as evaluating it at every RK4
/// stage at a quarter of the evaluations (docs/performance.md, "The residual
/// inside the integrator"). The oracle integrates the true drag exactly.
pub const RESIDUAL: ResidualEvaluation = ResidualEvaluation::OncePerStep;

/// P2's controller: N = 20 x 0.05 s, one RTI iteration per 0.01 s step,
/// the weights of docs/benchmarks.md (q_w unweighted: the attitude error is the
/// quaternion's vector part), thrusts in [0, 8] N.
pub fn mpc_config() -> Result<MpcConfig> {
    Ok(crate::scenarios::p2(9.0)?.file.controller.mpc)
}

/// What the MPC and the plant do on one closed loop.
#[derive(Debug, Clone, Serialize)]
pub struct P2Line {
    pub problem: &'static str,
    pub v_max: f64,
    pub model: &'static str,
    /// Position RMSE at the control instants of the evaluated laps, m.
    pub rmse_m: f64,
    /// The policy's step as the loop times it (reference, guidance and the
    /// controller's step: what `recede run` reports as `step_us`).
    pub step_us: Percentiles,
    /// Where the controller's step goes: from the state to the command
    /// (OSQP's solve included), and the preparation for the next step
    /// (linearising, condensing, matrix updates). The oracle's own MPC
    /// reports none (zeros).
    pub feedback_us: Percentiles,
    pub prepare_us: Percentiles,
    /// OSQP's ADMM iterations per step.
    pub qp_iterations: Percentiles,
    /// Applied thrusts at 0 or 8 N (within 1e-9), over all control steps.
    pub saturated_fraction: f64,
    pub control_steps: usize,
    pub evaluated_steps: usize,
    pub fallbacks: usize,
    /// Residual evaluations outside the training support (residual model only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outside_support_fraction: Option<f64>,
}

pub fn figure_eight(v_max: f64) -> ReferenceConfig {
    ReferenceConfig::FigureEight {
        amplitude_m: AMPLITUDE_M,
        height_m: HEIGHT_M,
        peak_speed_m_s: v_max,
        hover_input: vec![Quadrotor::default().hover_thrust_n(); NU],
        flat_feedforward: false,
    }
}

/// One lap of the figure-eight at peak speed `v_max`, s.
pub fn lap_secs(v_max: f64) -> f64 {
    let w = v_max / (AMPLITUDE_M * std::f64::consts::SQRT_2);
    2.0 * std::f64::consts::PI / w
}

/// The scenario P2 flies at `v_max`: configs/bench/p2_v*.toml at the four
/// speeds docs/benchmarks.md fixes; at another speed, the same problem on
/// that speed's figure-eight.
pub fn scenario(v_max: f64) -> Result<Scenario> {
    if [3.0, 6.0, 9.0, 12.0].contains(&v_max) {
        return scenarios::p2(v_max);
    }
    let mut s = scenarios::p2(9.0)?;
    let f = &mut s.file;
    f.reference = figure_eight(v_max);
    f.reference
        .sample(0.0, &mut f.scenario.initial_state, &mut [0.0; NU]);
    f.scenario.duration_secs = 3.0 * lap_secs(v_max);
    Ok(s)
}

/// Control steps in one lap of `scenario(v_max)`.
pub fn lap_steps(v_max: f64) -> Result<usize> {
    Ok((lap_secs(v_max) / scenario(v_max)?.period_secs()).round() as usize)
}

pub use crate::learned::with_residual;
pub use crate::learned::LineModel;

/// The P2 closed loop at `v_max`: `laps` of the figure-eight, the RMSE from
/// lap `evaluated_from_lap` on.
pub fn closed_loop(
    name: &'static str,
    model: LineModel<'_>,
    v_max: f64,
    laps: f64,
    evaluated_from_lap: f64,
) -> Result<P2Line> {
    let scenario = scenario(v_max)?;
    match model {
        LineModel::Nominal => fly_eight(name, &scenario, v_max, laps, evaluated_from_lap),
        LineModel::Residual(path) => {
            let scenario = with_residual(scenario, path);
            fly_eight(name, &scenario, v_max, laps, evaluated_from_lap)
        }
        LineModel::Oracle => oracle_eight(name, &scenario, v_max, laps, evaluated_from_lap),
    }
}

/// The nominal P2 closed loop with the controller section `mpc` instead of
/// the file's (`recede bench scale` changes the horizon and the QP).
pub fn nominal_with(
    mpc: MpcConfig,
    v_max: f64,
    laps: f64,
    evaluated_from_lap: f64,
) -> Result<P2Line> {
    let mut scenario = scenario(v_max)?;
    scenario.file.controller.mpc = mpc;
    fly_eight("nominal", &scenario, v_max, laps, evaluated_from_lap)
}

/// `laps` of `scenario`'s figure-eight at `v_max` with the scenario's own
/// controller, run as `recede run` runs it.
fn fly_eight(
    name: &'static str,
    scenario: &Scenario,
    v_max: f64,
    laps: f64,
    evaluated_from_lap: f64,
) -> Result<P2Line> {
    let lap = lap_secs(v_max);
    let options = RunOptions {
        duration_secs: Some(laps * lap),
        ..RunOptions::default()
    };
    let steps = (laps * lap / scenario.period_secs()).round() as usize;
    let mut score = eight_score(
        scenario.file.reference.clone(),
        evaluated_from_lap * lap,
        steps,
    );
    let summary = run_with(scenario, &options, Some(&mut score))?;
    let mut line = line(name, v_max, &score)?;
    line.feedback_us = summary.feedback_us;
    line.prepare_us = summary.prepare_us;
    // None for the nominal model: it has no residual to leave.
    line.outside_support_fraction = summary.residual_clipped_fraction;
    line.fallbacks = line.fallbacks.max(summary.fallbacks);
    Ok(line)
}

/// The oracle's line: its own MPC as the policy of the same loop.
fn oracle_eight(
    name: &'static str,
    scenario: &Scenario,
    v_max: f64,
    laps: f64,
    evaluated_from_lap: f64,
) -> Result<P2Line> {
    let f = &scenario.file;
    let lap = lap_secs(v_max);
    let mut policy = oracle::oracle_policy(
        &f.controller.mpc,
        f.reference.clone(),
        &f.scenario.initial_state,
    )?;
    let steps = (laps * lap / scenario.period_secs()).round() as usize;
    let mut score = eight_score(f.reference.clone(), evaluated_from_lap * lap, steps);
    let report = learned::run_policy(scenario, laps * lap, &mut policy, &mut score)?;
    let mut line = line(name, v_max, &score)?;
    line.fallbacks = line.fallbacks.max(report.fallbacks);
    Ok(line)
}

/// P2's score: the position error from `from_secs` on.
fn eight_score(reference: ReferenceConfig, from_secs: f64, steps: usize) -> TrackingScore {
    let bounds = Quadrotor::default().input_bounds();
    let position = |x: &[f64], r: &[f64]| [(0..3).map(|i| (x[i] - r[i]).powi(2)).sum(), 0.0];
    TrackingScore::new(
        reference,
        from_secs,
        position,
        NX,
        (&bounds.lower, &bounds.upper),
        steps,
    )
}

fn line(name: &'static str, v_max: f64, score: &TrackingScore) -> Result<P2Line> {
    ensure!(
        score.evaluated > 0,
        "no control instant in the evaluated laps"
    );
    Ok(P2Line {
        problem: "p2",
        v_max,
        model: name,
        rmse_m: score.rmse(0),
        step_us: score.step_percentiles(),
        feedback_us: Percentiles::default(),
        prepare_us: Percentiles::default(),
        qp_iterations: Percentiles::of(&score.qp_iterations),
        saturated_fraction: score.saturated_fraction(),
        control_steps: score.steps(),
        evaluated_steps: score.evaluated,
        fallbacks: score.fallbacks,
        outside_support_fraction: None,
    })
}

/// Trains the benchmark's residual on `data`.
pub fn train_residual(
    data: &Dataset<NX, NU>,
    options: &P2Options,
) -> Result<(MlpResidual<NX, NU>, TrainReport)> {
    learned::train(data, &options.spec, &options.training)
}

/// The whole benchmark: data, training, then every speed with the three
/// models. The trained residual reaches the controller the way a user's
/// does, as a model file named in `[controller.residual]` (written to the
/// temporary directory for the run). Progress goes to stderr.
pub fn run(options: &P2Options) -> Result<Vec<P2Line>> {
    let started = Instant::now();
    let (laps, from) = (options.laps, options.evaluated_from_lap);
    let lines = learned::train_and_evaluate(
        "p2",
        &options.speeds_m_s,
        &options.models,
        || generate_and_train(options),
        |v, model| closed_loop(model.name(), model, v, laps, from),
    )?;
    eprintln!("p2: done in {:.1} s", started.elapsed().as_secs_f64());
    Ok(lines)
}

/// The benchmark's residual architecture with weights from a fixed
/// xorshift stream in [-0.5, 0.5): for timing and profiling, since
/// inference time does not depend on the weights' values.
pub fn untrained_residual(seed: u64) -> Result<MlpResidual<NX, NU>> {
    let spec = residual_spec();
    let mut network = Network::zeros(&spec.layer_sizes(NU), spec.activation);
    let mut state = seed.max(1);
    for layer in &mut network.layers {
        for w in layer.weight.iter_mut().chain(layer.bias.iter_mut()) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            *w = (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
        }
    }
    let (nf, no) = (spec.n_features(NU), spec.n_outputs());
    Ok(MlpResidual::new(
        spec,
        network,
        Normalization::identity(nf, no),
        Support::unbounded(nf),
    )?)
}

/// The training flights and the residual trained on them.
fn generate_and_train(options: &P2Options) -> Result<MlpResidual<NX, NU>> {
    let started = Instant::now();
    let (data, _, lowest) = generate_data(&options.data)?;
    ensure!(
        lowest > HEIGHT_M + MIN_CLEARANCE_M,
        "a training flight came within {MIN_CLEARANCE_M} m of the figure-eight's plane"
    );
    eprintln!(
        "p2: {} training transitions from {} circles and {} wander flights in {:.1} s",
        data.len(),
        options.data.flights,
        options.data.wander_flights,
        started.elapsed().as_secs_f64()
    );
    let trained = Instant::now();
    let (residual, report) = train_residual(&data, options)?;
    eprintln!(
        "p2: trained in {:.1} s, {} epochs (best {}), validation RMSE {:?} m/s^2",
        trained.elapsed().as_secs_f64(),
        report.epochs.len(),
        report.best_epoch,
        report.validation_rmse
    );
    Ok(residual)
}
