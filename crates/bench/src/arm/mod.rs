//! P2's second robot (issue 6, item 6): the two-link arm of
//! `recede_model::robots::Arm` tracking a joint trajectory while it carries a
//! tip payload its controller does not know about and its joints have
//! viscous and Coulomb friction (the simulator's `ArmTruth`), with three
//! prediction models: `nominal`, `residual` (an MLP trained here on other
//! trajectories) and `oracle` (the true payload and friction).
//!
//! The references are sums of sinusoids per joint, drawn from a seed and
//! scaled until the torque the true arm needs stays within 80% of its
//! limits. Training flies other draws (other seeds, never the evaluated
//! ones) with the nominal MPC on the true plant. Every MPC gets the
//! nominal model's inverse-dynamics torque along the reference as its input
//! reference (a feedforward the controller can compute); what is left is
//! what the nominal model misses. The JSON lines have `problem = "p2_arm"`;
//! `rmse_m` is the tip's position RMSE, `rmse_rad` the joint angles'.

mod oracle;
mod reference;
#[cfg(test)]
mod tests;

use std::time::Instant;

use crate::p2::RESIDUAL;
use anyhow::{ensure, Result};
use nalgebra::SVector;
use recede_learn::{
    Activation, Dataset, Feature, MlpResidual, Output, ResidualSpec, SupportGuard, TrainOptions,
    TrainReport,
};
use recede_model::robots::arm::{NU, NX};
use recede_model::robots::Arm;
use recede_model::{Discretized, Residual, ResidualEvaluation, Rk4, WithResidual, ZeroResidual};
use recede_mpc::{Mpc, MpcConfig};
use recede_sim::plant::{Actuator, ArmTruth, Disturbances, TruePlant};
use serde::Serialize;

use crate::learned::{self, ResidualMpc, Rig, TargetKind};
pub use oracle::{
    truth, TrueArmResidual, COULOMB_FRICTION, COULOMB_SMOOTHING_RADPS, EXTRA_PAYLOAD_KG,
    VISCOUS_FRICTION,
};
use recede_runner::datalog::Nominal;
use recede_runner::stats::Percentiles;
pub use reference::Sines;

/// The true arm's RK4 step, s.
pub const PLANT_STEP_SECS: f64 = 0.001;

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

/// The arm's controller: N = 20 x 0.02 s, one RTI iteration per 0.01 s
/// step (its `period_secs`, the one place the period is written), joint angles weighted 1000, rates 1, torque deviation from the
/// reference 0.01, torques within the arm's limits.
pub fn mpc_config() -> MpcConfig {
    let b = Arm::default().input_bounds();
    MpcConfig {
        horizon_steps: 20,
        dt_secs: 0.02,
        rk4_substeps: 1,
        period_secs: Some(0.01),
        state_weights: vec![1000.0, 1000.0, 1.0, 1.0],
        terminal_weights: None,
        input_weights: vec![0.01; NU],
        input_min: Some(b.lower.to_vec()),
        input_max: Some(b.upper.to_vec()),
        state_bounds: vec![],
        sqp_iterations: 1,
        osqp: Default::default(),
        qp: Default::default(),
        fallback: recede_mpc::FallbackConfig {
            safe_input: Some(vec![0.0; NU]),
            ..Default::default()
        },
        governor: None,
    }
}

type ArmMpc<R> = ResidualMpc<Arm, R, NX, NU>;

fn controller<R: Residual<NX, NU>>(
    residual: R,
    evaluation: ResidualEvaluation,
    x0: &SVector<f64, NX>,
    u0: &SVector<f64, NU>,
) -> Result<ArmMpc<R>> {
    let config = mpc_config();
    let spec = config.to_spec::<NX, NU>()?;
    let model = Discretized::new(
        WithResidual::new(Arm::default(), residual).with_evaluation(evaluation),
        Rk4::new(spec.dt_secs, config.rk4_substeps),
    );
    Ok(Mpc::new(model, (), spec, x0, u0)?)
}

fn plant(x0: &SVector<f64, NX>) -> Result<TruePlant<ArmTruth, NX, NU>> {
    let b = Arm::default().input_bounds();
    Ok(TruePlant::new(
        truth(),
        Actuator::new(b.lower, b.upper, [0.0; NU]),
        Disturbances::none(),
        PLANT_STEP_SECS,
        *x0,
    )?)
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

/// What a closed loop also hands back: the MPC (for its residual's guard
/// counters) and, for training, the logged samples.
pub struct Flown<R: Residual<NX, NU>> {
    pub line: ArmLine,
    pub mpc: ArmMpc<R>,
    pub data: Dataset<NX, NU>,
}

impl<R: Residual<NX, NU>> std::fmt::Debug for Flown<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flown")
            .field("line", &self.line)
            .field("samples", &self.data.len())
            .finish_non_exhaustive()
    }
}

/// Tracks `reference` for `secs` with the model `nominal + residual` on the
/// true arm. Logs one sample per control step: a 1 ms plant step (cycling
/// through the period's steps), its midpoint state, and the residual of
/// the joint accelerations the nominal model misses over it.
pub fn closed_loop<R: Residual<NX, NU>>(
    name: &'static str,
    residual: R,
    evaluation: ResidualEvaluation,
    reference: &Sines,
    secs: f64,
    evaluated_from_secs: f64,
) -> Result<Flown<R>> {
    let arm = Arm::default();
    let sample = |t: f64, x: &mut [f64], u: &mut [f64]| reference.sample(t, x, u);
    let (mut x0, mut u0) = (SVector::<f64, NX>::zeros(), SVector::<f64, NU>::zeros());
    sample(0.0, x0.as_mut_slice(), u0.as_mut_slice());
    let mut mpc = controller(residual, evaluation, &x0, &u0)?;
    let mut plant = plant(&x0)?;
    let period_secs = mpc.spec().period_secs;
    let steps = (secs / period_secs).round() as usize;
    let (mut sq_tip, mut sq_q, mut evaluated) = (0.0, 0.0, 0usize);
    let (mut x_ref, mut u_ref) = ([0.0; NX], [0.0; NU]);
    let score = |t: f64, x: &SVector<f64, NX>| {
        if t >= evaluated_from_secs - 1e-9 {
            sample(t, &mut x_ref, &mut u_ref);
            let xr = SVector::<f64, NX>::from(x_ref);
            let (p, pr) = (arm.tip_position_m(x), arm.tip_position_m(&xr));
            sq_tip += (p[0] - pr[0]).powi(2) + (p[1] - pr[1]).powi(2);
            sq_q += (x[0] - xr[0]).powi(2) + (x[1] - xr[1]).powi(2);
            evaluated += 1;
        }
    };
    let rig = Rig {
        period_secs,
        plant_step_secs: PLANT_STEP_SECS,
        nominal: Nominal::Arm(arm),
        log: Some(TargetKind::PlantStep),
        midpoint: |_| {},
    };
    let bounds = arm.input_bounds();
    let flown = learned::closed_loop(&rig, &mut mpc, &mut plant, &bounds, steps, &sample, score)?;
    ensure!(evaluated > 0, "no control instant in the evaluated window");
    let line = ArmLine {
        problem: "p2_arm",
        trajectory: format!("sines-{}", reference.seed),
        model: name,
        rmse_m: (sq_tip / evaluated as f64).sqrt(),
        rmse_rad: (sq_q / evaluated as f64).sqrt(),
        step_us: flown.step_percentiles(),
        saturated_fraction: flown.saturated_fraction(),
        control_steps: steps,
        evaluated_steps: evaluated,
        fallbacks: flown.fallbacks,
        outside_support_fraction: None,
    };
    Ok(Flown {
        line,
        mpc,
        data: flown.data,
    })
}

/// Training data: the nominal MPC tracking the training references on the
/// true arm (in parallel; each run is deterministic, so the data are too).
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
        .map(|&seed| {
            let reference = Sines::random(seed)?;
            Ok(closed_loop(
                "nominal",
                ZeroResidual,
                RESIDUAL,
                &reference,
                options.training_secs,
                0.0,
            )?
            .data)
        })
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
pub fn run(options: &ArmOptions) -> Result<Vec<ArmLine>> {
    let started = Instant::now();
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
    let oracle = TrueArmResidual::new()?;
    let (secs, from) = (options.evaluated_secs, options.evaluated_from_secs);
    let mut lines = Vec::new();
    for &seed in &options.evaluated_seeds {
        let reference = Sines::random(seed)?;
        let (held, exact) = (RESIDUAL, ResidualEvaluation::EveryStage);
        lines.push(closed_loop("nominal", ZeroResidual, held, &reference, secs, from)?.line);
        let flown = closed_loop("residual", residual.clone(), held, &reference, secs, from)?;
        let residual = &flown.mpc.model().dynamics.residual;
        let mut line = flown.line;
        line.outside_support_fraction = Some(learned::outside_support_fraction(residual));
        lines.push(line);
        lines.push(closed_loop("oracle", oracle, exact, &reference, secs, from)?.line);
    }
    eprintln!("p2_arm: done in {:.1} s", started.elapsed().as_secs_f64());
    Ok(lines)
}
