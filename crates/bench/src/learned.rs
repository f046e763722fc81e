//! The harness of the learned-residual benchmarks (P2's quadrotor and its
//! arm), written once: a closed loop of a controller whose model is
//! `nominal + residual` on the true plant, what it measures, the transitions
//! it logs for training, and training. The controller is the one
//! `Controller::from_config` builds from a scenario file (what `recede run`
//! runs) or, for models a scenario cannot name (the oracle's true drag, the
//! arm's), the benchmark's own MPC.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use nalgebra::SVector;
use recede_control::Controller;
use recede_control::{ReferenceConfig, ResidualConfig};
use recede_learn::{Dataset, MlpResidual, ResidualSpec, TrainOptions, TrainReport};
use recede_model::{
    Bounds, Discretized, Dynamics, Residual, ResidualEvaluation, Rk4, WithResidual,
};
use recede_mpc::{Mpc, MpcConfig, StepReport};
use recede_rt::{
    Estimate, LoopConfig, LoopReport, Mode, NullSink, Policy, PolicyError, StepHook, StepStatus,
    TruthEstimator,
};
use recede_sim::plant::Plant;
use recede_sim::Simulator;

use crate::micros_since;
use recede_runner::adapters::{status, SimWorld, DEFAULT_RENDER_WORKERS};
use recede_runner::datalog::Nominal;
use recede_runner::scenario::Scenario;
use recede_runner::stats::Percentiles;

/// An MPC of the benchmarks: a robot's nominal model plus a residual.
pub type ResidualMpc<D, R, const NX: usize, const NU: usize> =
    Mpc<Discretized<WithResidual<D, R>>, (), NX, NU>;

/// What a training sample's target is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    /// `(x_next - nominal_next) / period` over a control period, paired with
    /// the state at its start: what a robot logging at the control rate
    /// has. Its error is the unmodelled term's change over half a period.
    ControlPeriod,
    /// The same over one plant step (one per control period, cycling
    /// through the period's steps), paired with the step's midpoint state:
    /// second order in the plant step, what a robot with a state estimate
    /// at the plant's rate has.
    PlantStep,
}

/// How a closed loop runs and what it logs.
#[derive(Debug, Clone, Copy)]
pub struct Rig {
    pub period_secs: f64,
    pub plant_step_secs: f64,
    /// The model the logged targets are the residual of.
    pub nominal: Nominal,
    /// Transitions logged for training, if any.
    pub log: Option<TargetKind>,
    /// Makes a midpoint state valid (the quadrotor renormalises its
    /// quaternion; others leave it).
    pub midpoint: fn(&mut [f64]),
}

/// What a closed loop measured.
#[derive(Debug, Clone)]
pub struct Flown<const NX: usize, const NU: usize> {
    pub step_us: Vec<f64>,
    /// From the state to the command (OSQP's solve included), and the
    /// preparation for the next step.
    pub feedback_us: Vec<f64>,
    pub prepare_us: Vec<f64>,
    pub qp_iterations: Vec<f64>,
    pub fallbacks: usize,
    /// Applied inputs at a bound (within 1e-9), over all control steps.
    pub saturated: usize,
    pub steps: usize,
    /// The logged transitions (empty unless [`Rig::log`]).
    pub data: Dataset<NX, NU>,
}

impl<const NX: usize, const NU: usize> Flown<NX, NU> {
    pub fn step_percentiles(&self) -> Percentiles {
        Percentiles::of(&self.step_us)
    }

    pub fn saturated_fraction(&self) -> f64 {
        self.saturated as f64 / (self.steps * NU) as f64
    }
}

/// A controller the harness can fly.
pub trait Stepper<const NX: usize, const NU: usize> {
    /// Writes the references of the nodes `t, t + dt, ...` from `sample`.
    fn set_references(
        &mut self,
        t: f64,
        sample: &impl Fn(f64, &mut [f64], &mut [f64]),
    ) -> Result<()>;
    /// One control step from `x`; the plan is then shifted by `period_secs`.
    fn step(
        &mut self,
        x: &SVector<f64, NX>,
        period_secs: f64,
        u: &mut SVector<f64, NU>,
    ) -> Result<StepReport>;
}

impl<D, R, const NX: usize, const NU: usize> Stepper<NX, NU> for ResidualMpc<D, R, NX, NU>
where
    D: Dynamics<NX, NU>,
    R: Residual<NX, NU>,
{
    fn set_references(
        &mut self,
        t: f64,
        sample: &impl Fn(f64, &mut [f64], &mut [f64]),
    ) -> Result<()> {
        set_references(self, t, sample);
        Ok(())
    }

    fn step(
        &mut self,
        x: &SVector<f64, NX>,
        period_secs: f64,
        u: &mut SVector<f64, NU>,
    ) -> Result<StepReport> {
        Ok(Mpc::step(self, x, period_secs, u))
    }
}

/// The controller a scenario file describes; its period is the file's.
impl<const NX: usize, const NU: usize> Stepper<NX, NU> for Controller {
    fn set_references(
        &mut self,
        t: f64,
        sample: &impl Fn(f64, &mut [f64], &mut [f64]),
    ) -> Result<()> {
        let (_, _, n) = self.dimensions();
        let dt = self.dt_secs();
        let (mut x, mut u) = ([0.0; NX], [0.0; NU]);
        for k in 0..=n {
            sample(t + k as f64 * dt, &mut x, &mut u);
            self.set_reference(k, &x, Some(&u))?;
        }
        Ok(())
    }

    fn step(
        &mut self,
        x: &SVector<f64, NX>,
        _period_secs: f64,
        u: &mut SVector<f64, NU>,
    ) -> Result<StepReport> {
        Ok(Controller::step(self, x.as_slice(), u.as_mut_slice())?)
    }
}

/// A benchmark's own MPC: `nominal + residual` (integrated as
/// `evaluation` says) with the settings `config`, its plan starting at `x0`
/// holding `u0`.
pub fn mpc<D, R, const NX: usize, const NU: usize>(
    nominal: D,
    config: &MpcConfig,
    residual: R,
    evaluation: ResidualEvaluation,
    x0: &SVector<f64, NX>,
    u0: &SVector<f64, NU>,
) -> Result<ResidualMpc<D, R, NX, NU>>
where
    D: Dynamics<NX, NU>,
    R: Residual<NX, NU>,
{
    let spec = config.to_spec::<NX, NU>()?;
    let model = Discretized::new(
        WithResidual::new(nominal, residual).with_evaluation(evaluation),
        Rk4::new(spec.dt_secs, config.rk4_substeps),
    );
    Ok(Mpc::new(model, (), spec, x0, u0)?)
}

/// The model of a learned-residual line's controller.
#[derive(Debug, Clone, Copy)]
pub enum LineModel<'a> {
    /// The scenario file's controller, nominal model.
    Nominal,
    /// The same with `[controller.residual]` naming this model file
    /// ([`with_residual`]).
    Residual(&'a Path),
    /// The benchmark's own MPC with the true model (no scenario can name
    /// it), as the loop's policy ([`MpcPolicy`]).
    Oracle,
}

impl LineModel<'_> {
    /// The line's `model` as reported: `nominal`, `residual` or `oracle`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Nominal => "nominal",
            Self::Residual(_) => "residual",
            Self::Oracle => "oracle",
        }
    }
}

/// Which models a learned-residual benchmark flies (`--models`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ModelKind {
    /// The nominal model, nothing learned.
    Nominal,
    /// Nominal plus the residual trained by the benchmark.
    Residual,
    /// Nominal plus the true unmodelled effect (the benchmark's own MPC).
    Oracle,
}

/// A learned-residual benchmark's sequence, written once: the residual
/// trained (`train`, only when `models` flies it), saved as a model file
/// in the temporary directory (`recede-<tag>-<pid>.safetensors`: it reaches
/// the controller as a user's does, in `[controller.residual]`), then every
/// case flown with every model, in the order given (`fly`).
pub fn train_and_evaluate<C: Copy, L, const NX: usize, const NU: usize>(
    tag: &str,
    cases: &[C],
    models: &[ModelKind],
    train: impl FnOnce() -> Result<MlpResidual<NX, NU>>,
    mut fly: impl FnMut(C, LineModel<'_>) -> Result<L>,
) -> Result<Vec<L>> {
    let model_file = if models.contains(&ModelKind::Residual) {
        let residual = train()?;
        let file = TempFile::new(tag);
        residual.save(&file.0)?;
        Some(file)
    } else {
        None
    };
    let mut lines = Vec::with_capacity(cases.len() * models.len());
    for &case in cases {
        for kind in models {
            let model = match (kind, &model_file) {
                (ModelKind::Nominal, _) => LineModel::Nominal,
                (ModelKind::Residual, Some(file)) => LineModel::Residual(&file.0),
                (ModelKind::Residual, None) => continue,
                (ModelKind::Oracle, _) => LineModel::Oracle,
            };
            lines.push(fly(case, model)?);
        }
    }
    Ok(lines)
}

/// `scenario` with `[controller.residual]` naming the model file `path`,
/// held over each interval ([`crate::p2::RESIDUAL`], the benchmarks'
/// evaluation).
pub fn with_residual(mut scenario: Scenario, path: &Path) -> Scenario {
    scenario.file.controller.residual = Some(ResidualConfig {
        model: path.to_path_buf(),
        evaluation: crate::p2::RESIDUAL,
        adaptation: None,
    });
    scenario
}

/// A trained residual's model file for one run (in the temporary
/// directory), removed when dropped.
#[derive(Debug)]
pub struct TempFile(pub PathBuf);

impl TempFile {
    /// `recede-<tag>-<process id>.safetensors`.
    pub fn new(tag: &str) -> Self {
        Self(std::env::temp_dir().join(format!("recede-{tag}-{}.safetensors", std::process::id())))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Writes the references of the nodes `t, t + dt, ...` from `sample`.
pub fn set_references<D, R, const NX: usize, const NU: usize>(
    mpc: &mut ResidualMpc<D, R, NX, NU>,
    t: f64,
    sample: &impl Fn(f64, &mut [f64], &mut [f64]),
) where
    D: Dynamics<NX, NU>,
    R: Residual<NX, NU>,
{
    let dt = mpc.spec().dt_secs;
    let (xs, us) = mpc.references_mut();
    let n = us.len();
    let mut u = [0.0; NU];
    for (k, x) in xs.iter_mut().enumerate() {
        sample(t + k as f64 * dt, x.as_mut_slice(), &mut u);
        if k < n {
            us[k].copy_from_slice(&u);
        }
    }
}

/// A benchmark's own MPC (a model no scenario file can name: an oracle's)
/// tracking a scenario's reference as rt's [`Policy`], so it runs in the
/// loop `recede run` uses: the reference filled as `Controller::track`
/// fills it (a computed input from the MPC's physics), the step reported
/// as the scenario's controller's is. Allocates nothing per step.
#[derive(Debug)]
pub struct MpcPolicy<D, R, const NX: usize, const NU: usize>
where
    D: Dynamics<NX, NU>,
    R: Residual<NX, NU>,
{
    pub mpc: ResidualMpc<D, R, NX, NU>,
    reference: ReferenceConfig,
    period_secs: f64,
    /// Reference nodes whose computed input had no answer (safe input held).
    pub unsolved_inputs: usize,
}

impl<D, R, const NX: usize, const NU: usize> MpcPolicy<D, R, NX, NU>
where
    D: Dynamics<NX, NU>,
    R: Residual<NX, NU>,
{
    /// `mpc` shifted by `period_secs` after each step, tracking `reference`.
    pub fn new(
        mpc: ResidualMpc<D, R, NX, NU>,
        reference: ReferenceConfig,
        period_secs: f64,
    ) -> Self {
        Self {
            mpc,
            reference,
            period_secs,
            unsolved_inputs: 0,
        }
    }

    /// The reference at the nodes' times from `t` on.
    fn track(&mut self, t: f64) {
        let dt = self.mpc.spec().dt_secs;
        let safe = self.mpc.spec().safe_input;
        let n = self.mpc.plan().1.len();
        for k in 0..=n {
            let tk = t + k as f64 * dt;
            let (mut x, mut u) = (SVector::<f64, NX>::zeros(), SVector::<f64, NU>::zeros());
            self.reference
                .sample(tk, x.as_mut_slice(), u.as_mut_slice());
            if let Some(sines) = self.reference.computed_input() {
                u = safe;
                let nominal = &self.mpc.model().dynamics.nominal;
                self.unsolved_inputs += usize::from(!sines.model_input(nominal, tk, &x, &mut u));
            }
            let (xs, us) = self.mpc.references_mut();
            xs[k] = x;
            if k < n {
                us[k] = u;
            }
        }
    }
}

impl<D, R, const NX: usize, const NU: usize> Policy for MpcPolicy<D, R, NX, NU>
where
    D: Dynamics<NX, NU> + Send + std::fmt::Debug,
    R: Residual<NX, NU> + Send + std::fmt::Debug,
{
    fn dimensions(&self) -> (usize, usize) {
        (NX, NU)
    }

    fn step(
        &mut self,
        t_secs: f64,
        estimate: &Estimate,
        command: &mut [f64],
    ) -> Result<StepStatus, PolicyError> {
        if estimate.state().len() != NX || command.len() != NU {
            return Err(format!(
                "a {NX}-state, {NU}-input policy handed {} states and {} inputs",
                estimate.state().len(),
                command.len()
            )
            .into());
        }
        self.track(t_secs);
        let x = SVector::<f64, NX>::from_column_slice(estimate.state());
        let mut u = SVector::<f64, NU>::zeros();
        let report = self.mpc.step(&x, self.period_secs, &mut u);
        command.copy_from_slice(u.as_slice());
        Ok(status(&report))
    }

    fn late_command(&self, _after_secs: f64, out: &mut [f64]) {
        out.copy_from_slice(self.mpc.plan().1[0].as_slice());
    }

    fn safe_command(&self, out: &mut [f64]) {
        out.copy_from_slice(self.mpc.spec().safe_input.as_slice());
    }
}

/// `steps` control steps of `controller` on `plant` tracking `sample`;
/// `score` sees the time and the true state at every control instant.
/// Inputs within 1e-9 of `bounds` count as saturated.
pub fn closed_loop<S, const NX: usize, const NU: usize>(
    rig: &Rig,
    controller: &mut S,
    plant: &mut dyn Plant,
    bounds: &Bounds<NU>,
    steps: usize,
    sample: &impl Fn(f64, &mut [f64], &mut [f64]),
    mut score: impl FnMut(f64, &SVector<f64, NX>),
) -> Result<Flown<NX, NU>>
where
    S: Stepper<NX, NU>,
{
    let plant_steps = (rig.period_secs / rig.plant_step_secs).round() as usize;
    let (u_min, u_max) = (bounds.lower, bounds.upper);
    let mut flown = Flown {
        step_us: Vec::with_capacity(steps),
        feedback_us: Vec::with_capacity(steps),
        prepare_us: Vec::with_capacity(steps),
        qp_iterations: Vec::with_capacity(steps),
        fallbacks: 0,
        saturated: 0,
        steps,
        data: Dataset::new(),
    };
    let mut u = SVector::<f64, NU>::zeros();
    for k in 0..steps {
        let t = k as f64 * rig.period_secs;
        let x = SVector::<f64, NX>::from_column_slice(plant.state());
        score(t, &x);
        controller.set_references(t, sample)?;
        let started = Instant::now();
        let report = controller.step(&x, rig.period_secs, &mut u)?;
        flown.step_us.push(micros_since(started));
        flown.feedback_us.push(report.feedback_secs * 1e6);
        flown.prepare_us.push(report.prepare_secs * 1e6);
        flown.qp_iterations.push(f64::from(report.qp_iterations));
        flown.fallbacks += usize::from(report.outcome.is_fallback());
        flown.saturated += (0..NU)
            .filter(|&j| u[j] <= u_min[j] + 1e-9 || u[j] >= u_max[j] - 1e-9)
            .count();
        // The plant step whose transition is kept (plant-step targets).
        let kept = k % plant_steps;
        let mut transition = None;
        for j in 0..plant_steps {
            let before = SVector::<f64, NX>::from_column_slice(plant.state());
            plant.step(t + j as f64 * rig.plant_step_secs, u.as_slice())?;
            if j == kept {
                let after = SVector::<f64, NX>::from_column_slice(plant.state());
                let applied = SVector::<f64, NU>::from_column_slice(plant.applied_input());
                transition = Some((before, after, applied));
            }
        }
        let Some(target) = rig.log else { continue };
        let (x_from, x_to, applied, h) = match (target, transition) {
            (TargetKind::PlantStep, Some((before, after, applied))) => {
                (before, after, applied, rig.plant_step_secs)
            }
            _ => {
                let x_next = SVector::<f64, NX>::from_column_slice(plant.state());
                let applied = SVector::<f64, NU>::from_column_slice(plant.applied_input());
                (x, x_next, applied, rig.period_secs)
            }
        };
        let mut predicted = [0.0; NX];
        rig.nominal
            .predict(x_from.as_slice(), applied.as_slice(), h, &mut predicted);
        let residual = SVector::<f64, NX>::from_fn(|i, _| (x_to[i] - predicted[i]) / h);
        let at = match target {
            TargetKind::ControlPeriod => x_from,
            TargetKind::PlantStep => {
                let mut mid = (x_from + x_to) * 0.5;
                (rig.midpoint)(mid.as_mut_slice());
                mid
            }
        };
        flown.data.push(at, applied, residual);
    }
    Ok(flown)
}

/// Trains a benchmark's residual on `data`.
pub fn train<const NX: usize, const NU: usize>(
    data: &Dataset<NX, NU>,
    spec: &ResidualSpec,
    training: &TrainOptions,
) -> Result<(MlpResidual<NX, NU>, TrainReport)> {
    Ok(recede_learn::train(data, spec, training, |_| {})?)
}

/// The share of the residual's evaluations outside its training support.
pub fn outside_support_fraction<const NX: usize, const NU: usize>(
    residual: &MlpResidual<NX, NU>,
) -> f64 {
    let stats = residual.guard_stats();
    stats.outside_support as f64 / stats.evaluations.max(1) as f64
}

/// Runs `policy` (a controller no scenario file can name: an oracle's
/// model) through the loop `recede run` uses for `scenario`: rt's lockstep
/// loop, the simulator's true plant and sensors, the true state as the
/// estimate, `hook` at every control step.
pub fn run_policy(
    scenario: &Scenario,
    duration_secs: f64,
    policy: &mut dyn Policy,
    hook: &mut dyn StepHook,
) -> Result<LoopReport> {
    let f = &scenario.file;
    let mut sim = Simulator::from_config(
        &scenario.plant_config(),
        &f.world,
        &f.sensors,
        f.scenario.seed,
    )
    .with_context(|| format!("{}: building the simulated world", scenario.path.display()))?;
    let mut world = SimWorld::new(&mut sim, DEFAULT_RENDER_WORKERS);
    let mut estimator = TruthEstimator::new(policy.dimensions().0);
    let mut config = LoopConfig::new(Mode::Lockstep, scenario.period_secs(), duration_secs);
    config.actuation_delay_secs = f.timing.actuation_delay_secs;
    config.deadline_secs = f.timing.deadline_secs;
    recede_rt::run(
        &mut world,
        policy,
        &mut estimator,
        &mut NullSink,
        hook,
        &config,
    )
    .with_context(|| format!("running {}", scenario.path.display()))
}
