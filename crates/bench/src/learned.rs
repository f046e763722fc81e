//! The harness of the learned-residual benchmarks (P2's quadrotor and its
//! arm), written once: training flights through `recede run`'s loop with a
//! transition log (what `recede run --log-data` writes, read back as
//! `recede train` reads it), training, and the sequence train, save,
//! evaluate. The controller is the one `Controller::from_config` builds
//! from a scenario file or, for models a scenario cannot name (the
//! oracle's true drag, the arm's), the benchmark's own MPC as rt's
//! `Policy` in the same loop.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{ensure, Context, Result};
use nalgebra::SVector;
use recede_control::{ReferenceConfig, ResidualConfig};
use recede_learn::{Dataset, MlpResidual, ResidualSpec, TrainOptions, TrainReport};
use recede_model::{Discretized, Dynamics, Residual, ResidualEvaluation, Rk4, WithResidual};
use recede_mpc::{Mpc, MpcConfig};
use recede_rt::{
    Estimate, LoopConfig, LoopReport, Mode, NullSink, Policy, PolicyError, StepHook, StepStatus,
    TruthEstimator,
};
use recede_sim::Simulator;

use recede_runner::adapters::{status, SimWorld, DEFAULT_RENDER_WORKERS};
use recede_runner::datalog::{DataLog, LogTarget, Transitions};
use recede_runner::run::{run_logged, RunOptions, RunSummary};
use recede_runner::scenario::Scenario;
use recede_runner::train::{dataset, Target};

/// An MPC of the benchmarks: a robot's nominal model plus a residual.
pub type ResidualMpc<D, R, const NX: usize, const NU: usize> =
    Mpc<Discretized<WithResidual<D, R>>, (), NX, NU>;

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

    /// A transition log, `recede-<tag>-<process id>-<n>.arrows` (`n`
    /// counts this process's logs: flights run in parallel).
    pub fn log(tag: &str) -> Self {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let n = COUNT.fetch_add(1, Ordering::Relaxed);
        Self(std::env::temp_dir().join(format!("recede-{tag}-{}-{n}.arrows", std::process::id())))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
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

/// A training flight: `scenario` run for `secs` through `recede run`'s
/// loop (`run_logged`) with a transition log of `target` rows in the
/// temporary directory (`tag` names it), read back into samples as
/// `recede train` reads a log; `hook` sees every control step.
pub fn data_flight<const NX: usize, const NU: usize>(
    tag: &str,
    scenario: &Scenario,
    secs: f64,
    target: LogTarget,
    hook: Option<&mut dyn StepHook>,
) -> Result<(Dataset<NX, NU>, RunSummary)> {
    let file = TempFile::log(tag);
    let mut log = DataLog::create_for(&file.0, &scenario.file.robot, false, target)?;
    let options = RunOptions {
        duration_secs: Some(secs),
        ..RunOptions::default()
    };
    let summary = run_logged(scenario, &options, &mut log, hook)?;
    log.finish()?;
    let logged = Transitions::read(&file.0)?;
    let (data, dropped) = dataset::<NX, NU>(&[logged], Target::Target)?;
    ensure!(
        dropped == 0,
        "{}: {dropped} logged transitions were not finite",
        scenario.path.display()
    );
    Ok((data, summary))
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
