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

use std::time::Instant;

use crate::p2::RESIDUAL;
use anyhow::{ensure, Result};
use nalgebra::{SVector, Vector2};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use recede_learn::{
    Activation, Dataset, Feature, MlpResidual, Output, ResidualSpec, SupportGuard, TrainOptions,
    TrainReport,
};
use recede_model::robots::arm::{ArmParams, NU, NX};
use recede_model::robots::Arm;
use recede_model::{
    Discretized, Dynamics, Residual, ResidualEvaluation, Rk4, Scalar, WithResidual, ZeroResidual,
};
use recede_mpc::{Mpc, MpcConfig};
use recede_sim::plant::{Actuator, ArmTruth, Disturbances, TruePlant};
use serde::Serialize;

use crate::learned::{self, ResidualMpc, Rig, TargetKind};
use recede_runner::datalog::Nominal;
use recede_runner::stats::Percentiles;

/// Control period, s (100 Hz), and the plant's RK4 step.
pub const PERIOD_SECS: f64 = 0.01;
pub const PLANT_STEP_SECS: f64 = 0.001;
/// What the controller does not know.
pub const EXTRA_PAYLOAD_KG: f64 = 0.5;
pub const VISCOUS_FRICTION: [f64; 2] = [0.1, 0.1];
pub const COULOMB_FRICTION: [f64; 2] = [0.2, 0.1];
/// The simulator's default smoothing of the Coulomb term (`tanh(dq / s)`).
pub const COULOMB_SMOOTHING_RADPS: f64 = 0.01;
/// The reference's torque (true arm) stays within this share of the limits.
const TORQUE_MARGIN: f64 = 0.8;

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

pub fn truth() -> ArmTruth {
    ArmTruth::new(
        Arm::default(),
        EXTRA_PAYLOAD_KG,
        VISCOUS_FRICTION,
        COULOMB_FRICTION,
        COULOMB_SMOOTHING_RADPS,
        nalgebra::Vector3::zeros(),
    )
}

/// The true payload and friction as a residual on the nominal arm, generic
/// over the scalar: the oracle.
#[derive(Debug, Clone, Copy)]
pub struct TrueArmResidual {
    nominal: Arm,
    actual: Arm,
}

impl TrueArmResidual {
    pub fn new() -> Result<Self> {
        let nominal = Arm::default();
        let actual = Arm::new(ArmParams {
            payload_mass_kg: nominal.params.payload_mass_kg + EXTRA_PAYLOAD_KG,
            ..nominal.params
        })?;
        Ok(Self { nominal, actual })
    }

    /// Joint friction torques at rates `dq`.
    fn friction<T: Scalar>(dq: T, j: usize) -> T {
        dq * VISCOUS_FRICTION[j]
            + (dq * (1.0 / COULOMB_SMOOTHING_RADPS)).tanh() * COULOMB_FRICTION[j]
    }
}

impl Residual<NX, NU> for TrueArmResidual {
    fn add_to<T: Scalar>(&self, x: &SVector<T, NX>, u: &SVector<T, NU>, xdot: &mut SVector<T, NX>) {
        let tau = SVector::<T, NU>::from_fn(|j, _| u[j] - Self::friction(x[2 + j], j));
        let d = self.actual.derivative(x, &tau) - self.nominal.derivative(x, u);
        xdot[2] += d[2];
        xdot[3] += d[3];
    }
}

/// A joint reference: per joint `q_j(t) = centre_j + sum_k a_jk sin(w_jk t +
/// phase_jk)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sines {
    pub seed: u64,
    pub center_rad: [f64; 2],
    pub amplitude_rad: [[f64; 3]; 2],
    pub rate_rad_s: [[f64; 3]; 2],
    pub phase_rad: [[f64; 3]; 2],
}

impl Sines {
    /// A random draw from `seed`, shrunk until the true arm's torque along
    /// it stays within 80% of the limits.
    pub fn random(seed: u64) -> Result<Self> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let reach = [rng.random_range(0.4..0.9), rng.random_range(0.5..1.1)];
        let mut s = Self {
            seed,
            center_rad: [rng.random_range(-1.3..-0.3), rng.random_range(-1.0..1.0)],
            amplitude_rad: [[0.0; 3]; 2],
            rate_rad_s: [[0.0; 3]; 2],
            phase_rad: [[0.0; 3]; 2],
        };
        for j in 0..2 {
            let weights: [f64; 3] = std::array::from_fn(|_| rng.random_range(0.1..1.0));
            let total: f64 = weights.iter().sum();
            for k in 0..3 {
                s.amplitude_rad[j][k] = reach[j] * weights[k] / total;
                s.rate_rad_s[j][k] = rng.random_range(0.5..3.0);
                s.phase_rad[j][k] = rng.random_range(0.0..std::f64::consts::TAU);
            }
        }
        let actual = TrueArmResidual::new()?;
        let limits = Arm::default().input_bounds().upper;
        for _ in 0..40 {
            if s.peak_torque_share(&actual, &limits, 20.0) <= TORQUE_MARGIN {
                return Ok(s);
            }
            for a in s.amplitude_rad.iter_mut().flatten() {
                *a *= 0.9;
            }
        }
        anyhow::bail!("no feasible amplitude for the arm reference of seed {seed}")
    }

    /// Angles, rates and accelerations at `t`.
    pub fn at(&self, t: f64) -> ([f64; 2], [f64; 2], [f64; 2]) {
        let (mut q, mut dq, mut ddq) = ([0.0; 2], [0.0; 2], [0.0; 2]);
        for j in 0..2 {
            q[j] = self.center_rad[j];
            for k in 0..3 {
                let (a, w) = (self.amplitude_rad[j][k], self.rate_rad_s[j][k]);
                let (s, c) = (w * t + self.phase_rad[j][k]).sin_cos();
                q[j] += a * s;
                dq[j] += a * w * c;
                ddq[j] -= a * w * w * s;
            }
        }
        (q, dq, ddq)
    }

    /// Reference state and the torque `arm` needs to follow it exactly at
    /// `t` (inverse dynamics: `M(q) (ddq - f(x, 0))`, since the arm's
    /// acceleration is affine in the torque), with `residual` added.
    fn torque<R: Residual<NX, NU>>(
        &self,
        arm: &Arm,
        residual: &R,
        t: f64,
        x: &mut [f64],
        u: &mut [f64],
    ) {
        let (q, dq, ddq) = self.at(t);
        let xs = SVector::<f64, NX>::new(q[0], q[1], dq[0], dq[1]);
        x.copy_from_slice(xs.as_slice());
        // a(u) = A0 + B u (affine in u, also with the residual's payload and
        // friction, whose torque part is linear too): solve for u column by
        // column from three evaluations.
        let accel = |u: &SVector<f64, NU>| {
            let mut d = arm.derivative(&xs, u);
            residual.add_to(&xs, u, &mut d);
            Vector2::new(d[2], d[3])
        };
        let a0 = accel(&SVector::zeros());
        let b = nalgebra::Matrix2::from_columns(&[
            accel(&SVector::<f64, NU>::new(1.0, 0.0)) - a0,
            accel(&SVector::<f64, NU>::new(0.0, 1.0)) - a0,
        ]);
        let need = Vector2::new(ddq[0], ddq[1]) - a0;
        let tau = b.lu().solve(&need).unwrap_or_else(Vector2::zeros);
        u.copy_from_slice(tau.as_slice());
    }

    /// The MPC's reference at `t`: the state and the nominal arm's
    /// inverse-dynamics torque.
    pub fn sample(&self, t: f64, x: &mut [f64], u: &mut [f64]) {
        self.torque(&Arm::default(), &ZeroResidual, t, x, u);
    }

    /// Largest `|tau_j| / limit_j` the true arm needs over 0..horizon s.
    fn peak_torque_share(&self, actual: &TrueArmResidual, limits: &[f64; NU], horizon: f64) -> f64 {
        let (mut x, mut u) = ([0.0; NX], [0.0; NU]);
        let mut peak: f64 = 0.0;
        for k in 0..(horizon / 0.005) as usize {
            self.torque(&actual.nominal, actual, k as f64 * 0.005, &mut x, &mut u);
            for j in 0..NU {
                peak = peak.max(u[j].abs() / limits[j]);
            }
        }
        peak
    }
}

/// The arm's controller: N = 20 x 0.02 s, one RTI iteration per 0.01 s
/// step, joint angles weighted 1000, rates 1, torque deviation from the
/// reference 0.01, torques within the arm's limits.
pub fn mpc_config() -> MpcConfig {
    let b = Arm::default().input_bounds();
    MpcConfig {
        horizon_steps: 20,
        dt_secs: 0.02,
        rk4_substeps: 1,
        period_secs: Some(PERIOD_SECS),
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
    let steps = (secs / PERIOD_SECS).round() as usize;
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
        period_secs: PERIOD_SECS,
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

#[cfg(test)]
mod tests {
    use super::*;
    use recede_sim::plant::{Environment, TrueDynamics};

    #[test]
    fn the_oracle_residual_is_the_true_arm() {
        let truth = truth();
        let oracle = WithResidual::new(Arm::default(), TrueArmResidual::new().unwrap())
            .with_evaluation(ResidualEvaluation::EveryStage);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for _ in 0..50 {
            let x = SVector::<f64, NX>::from_fn(|_, _| rng.random_range(-3.0..3.0));
            let u = SVector::<f64, NU>::from_fn(|_, _| rng.random_range(-10.0..10.0));
            let d = oracle.derivative(&x, &u) - truth.derivative(&x, &u, &Environment::default());
            assert!(d.amax() < 1e-9, "{d}");
        }
    }

    #[test]
    fn references_are_consistent_and_within_torque_limits() {
        let s = Sines::random(1001).unwrap();
        assert_eq!(Sines::random(1001).unwrap(), s);
        assert_ne!(Sines::random(1).unwrap(), s);
        let h = 1e-6;
        for t in [0.0, 0.7, 3.3] {
            let (q, dq, ddq) = s.at(t);
            let (q2, dq2, _) = s.at(t + h);
            for j in 0..2 {
                assert!(((q2[j] - q[j]) / h - dq[j]).abs() < 1e-4);
                assert!(((dq2[j] - dq[j]) / h - ddq[j]).abs() < 1e-3);
            }
        }
        let actual = TrueArmResidual::new().unwrap();
        let limits = Arm::default().input_bounds().upper;
        assert!(s.peak_torque_share(&actual, &limits, 20.0) <= TORQUE_MARGIN);
        // The MPC's input reference is the nominal inverse dynamics: the
        // nominal arm under it has the reference's acceleration.
        let (mut x, mut u) = ([0.0; NX], [0.0; NU]);
        s.sample(1.234, &mut x, &mut u);
        let d = Arm::default().derivative(&SVector::from(x), &SVector::from(u));
        let (_, _, ddq) = s.at(1.234);
        assert!((d[2] - ddq[0]).abs() < 1e-9 && (d[3] - ddq[1]).abs() < 1e-9);
    }

    #[test]
    fn logged_targets_are_what_the_nominal_arm_misses() {
        let reference = Sines::random(5).unwrap();
        let flown = closed_loop("nominal", ZeroResidual, RESIDUAL, &reference, 0.3, 0.0).unwrap();
        assert_eq!(flown.data.len(), 30);
        let truth = truth();
        let env = Environment::default();
        // One plant step about its midpoint is the point value to second
        // order, except where the (sharp) Coulomb term flips sign.
        let close = flown
            .data
            .samples
            .iter()
            .filter(|s| {
                let missed =
                    truth.derivative(&s.x, &s.u, &env) - Arm::default().derivative(&s.x, &s.u);
                (2..4).all(|i| (s.residual[i] - missed[i]).abs() < 0.02 * (1.0 + missed[i].abs()))
            })
            .count();
        assert!(
            close >= 27,
            "{close} of 30 targets close to the true residual"
        );
        // The payload is not small: the nominal model misses m/s^2-scale accelerations.
        assert!(flown.data.samples.iter().any(|s| s.residual[2].abs() > 1.0));
    }

    /// Trained on other references, the residual predicts what the
    /// nominal model misses on an evaluated one far better than zero.
    #[test]
    fn a_residual_trained_on_other_references_predicts_the_payload() {
        let options = ArmOptions {
            training_seeds: vec![1, 2, 3, 4],
            training_secs: 1.5,
            training: TrainOptions {
                max_epochs: 60,
                ..ArmOptions::default().training
            },
            ..ArmOptions::default()
        };
        let data = generate_data(&options).unwrap();
        assert_eq!(data.len(), 4 * 150);
        let (residual, _) = train_residual(&data, &options).unwrap();
        let reference = Sines::random(1001).unwrap();
        let held_out =
            closed_loop("nominal", ZeroResidual, RESIDUAL, &reference, 1.0, 0.0).unwrap();
        let (mut err_zero, mut err_mlp) = (0.0, 0.0);
        for s in &held_out.data.samples {
            let mut g = SVector::<f64, NX>::zeros();
            residual.add_to(&s.x, &s.u, &mut g);
            for i in 2..4 {
                err_zero += s.residual[i].powi(2);
                err_mlp += (s.residual[i] - g[i]).powi(2);
            }
        }
        assert!(
            err_mlp < 0.25 * err_zero,
            "residual error {err_mlp} vs nominal {err_zero}"
        );
        // A line of the bench output.
        let flown = closed_loop("residual", residual, RESIDUAL, &reference, 0.2, 0.1).unwrap();
        assert_eq!(
            (flown.line.control_steps, flown.line.evaluated_steps),
            (20, 10)
        );
        assert_eq!(flown.line.fallbacks, 0);
        let value = serde_json::to_value(&flown.line).unwrap();
        for key in [
            "problem",
            "model",
            "rmse_m",
            "step_us",
            "saturated_fraction",
        ] {
            assert!(value.get(key).is_some(), "{key}");
        }
        assert_eq!(value["problem"], "p2_arm");
    }

    /// README's claim: the learned residual cuts the arm's joint error by
    /// about 90% against the nominal model on trajectories it never saw.
    #[test]
    fn the_learned_residual_cuts_the_joint_error_by_nine_tenths() {
        let lines = run(&ArmOptions::default()).unwrap();
        for seed in ArmOptions::default().evaluated_seeds {
            let rmse = |model| {
                lines
                    .iter()
                    .find(|l| l.model == model && l.trajectory.contains(&seed.to_string()))
                    .unwrap()
                    .rmse_rad
            };
            let (nominal, residual) = (rmse("nominal"), rmse("residual"));
            // "About 90%": at least 85% on each trajectory.
            assert!(
                residual <= 0.15 * nominal,
                "seed {seed}: residual {residual} vs nominal {nominal}"
            );
        }
    }

    #[test]
    fn training_never_uses_an_evaluated_trajectory() {
        let options = ArmOptions {
            training_seeds: vec![1, 1001],
            ..ArmOptions::default()
        };
        assert!(generate_data(&options).is_err());
    }
}
