//! P2: quadrotor figure-eight tracking with unmodelled drag, exactly as
//! docs/benchmarks.md, with three prediction models: `nominal`, `residual` (an
//! MLP trained here on flights that are not the figure-eight) and `oracle`
//! (the true drag model, the limit a residual can reach).
//!
//! Self-contained and repeatable: training data come from flights that are
//! not the figure-eight (a fixed seed), flown by the nominal MPC on the true
//! plant, always at least 2 m above the figure-eight's plane, so the
//! evaluated trajectory is never sampled: circles at random speeds, radii,
//! directions and heights, and "wander" flights (random sums of sinusoids in
//! x, y and z, up to 15 m/s, with strong accelerations along the path and
//! fast climbs and descents) that reach the body-frame velocities (notably
//! along body z) of fast tilted turns, which circles alone do not.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{ensure, Result};
use nalgebra::{SVector, Vector3, Vector4};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use recede_control::{Controller, ReferenceConfig, ResidualConfig};
use recede_learn::{
    Dataset, MlpResidual, Network, Normalization, ResidualSpec, Support, TrainOptions, TrainReport,
};
use recede_model::robots::quadrotor::{rotation_from_quaternion, state_quaternion, NU, NX};
use recede_model::robots::Quadrotor;
use recede_model::{c, Discretized, Residual, ResidualEvaluation, Rk4, Scalar, WithResidual};
use recede_mpc::{Mpc, MpcConfig};
use recede_sim::plant::{Actuator, Disturbances, Plant, QuadrotorTruth, TruePlant};
use serde::Serialize;

use crate::learned::{self, ResidualMpc, Rig, Stepper};
use crate::scenarios;
use recede_runner::datalog::Nominal;
use recede_runner::scenario::Scenario;
use recede_runner::stats::Percentiles;
use recede_runner::train::TrainConfig;

/// Control period, s (100 Hz).
pub const PERIOD_SECS: f64 = 0.01;
/// Plant integration step, s (RK4, quaternion renormalised after each).
pub const PLANT_STEP_SECS: f64 = 0.001;
pub const AMPLITUDE_M: f64 = 10.0;
pub const HEIGHT_M: f64 = 2.0;
/// Training flights stay at least this far above the figure-eight's plane.
pub const MIN_CLEARANCE_M: f64 = 2.0;
const MAX_THRUST_N: f64 = 8.0;

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

/// The MPC's prediction model in a P2 line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum P2Model {
    /// The nominal quadrotor, no drag.
    Nominal,
    /// Nominal plus the residual trained here.
    Residual,
    /// Nominal plus the true drag.
    Oracle,
}

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

pub use crate::learned::TargetKind;

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
    const TEXT: &str = include_str!("../../../configs/residual_quadrotor.toml");
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

/// P2's body-frame drag, written generic over the scalar so the MPC can
/// differentiate it: the oracle's residual. Same constants as the plant.
#[derive(Debug, Clone, Copy)]
pub struct TrueDrag {
    pub linear: [f64; 3],
    pub quadratic: [f64; 3],
    pub mass_kg: f64,
}

impl TrueDrag {
    pub fn of(truth: &QuadrotorTruth) -> Self {
        Self {
            linear: truth.drag_linear.into(),
            quadratic: truth.drag_quadratic.into(),
            mass_kg: truth.nominal.params.mass_kg,
        }
    }
}

impl Residual<NX, NU> for TrueDrag {
    fn add_to<T: Scalar>(&self, x: &SVector<T, NX>, _: &SVector<T, NU>, xdot: &mut SVector<T, NX>) {
        let r = rotation_from_quaternion(&state_quaternion(x));
        let v: Vector3<T> = x.fixed_rows::<3>(7).into_owned();
        let vb = r.transpose() * v;
        let fb = Vector3::from_fn(|i, _| {
            -(vb[i] * self.linear[i] + vb[i] * vb[i].abs() * self.quadratic[i])
        });
        let a = r * fb * c::<T>(1.0 / self.mass_kg);
        for i in 0..3 {
            xdot[7 + i] += a[i];
        }
    }
}

/// What the MPC and the plant do on one closed loop.
#[derive(Debug, Clone, Serialize)]
pub struct P2Line {
    pub problem: &'static str,
    pub v_max: f64,
    pub model: &'static str,
    /// Position RMSE at the control instants of the evaluated laps, m.
    pub rmse_m: f64,
    pub step_us: Percentiles,
    /// Where a step's time goes: from the state to the command (OSQP's
    /// solve included), and the preparation for the next step (linearising,
    /// condensing, matrix updates).
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

/// P2's true plant (drag, RK4 at 1 ms) starting at `x0`.
pub fn plant(x0: &SVector<f64, NX>) -> Result<TruePlant<QuadrotorTruth, NX, NU>> {
    let quad = Quadrotor::default();
    let hover = [quad.hover_thrust_n(); NU];
    Ok(TruePlant::new(
        QuadrotorTruth::p2(quad),
        Actuator::new([0.0; NU], [MAX_THRUST_N; NU], hover),
        Disturbances::none(),
        PLANT_STEP_SECS,
        *x0,
    )?)
}

pub type P2Mpc<R> = ResidualMpc<Quadrotor, R, NX, NU>;

/// P2's MPC with the model `nominal + residual`, its plan starting at `x0`.
pub fn controller<R: Residual<NX, NU>>(
    residual: R,
    evaluation: ResidualEvaluation,
    x0: &SVector<f64, NX>,
) -> Result<P2Mpc<R>> {
    let config = mpc_config()?;
    let spec = config.to_spec::<NX, NU>()?;
    let model = Discretized::new(
        WithResidual::new(Quadrotor::default(), residual).with_evaluation(evaluation),
        Rk4::new(spec.dt_secs, config.rk4_substeps),
    );
    Ok(Mpc::new(
        model,
        (),
        spec,
        x0,
        &Quadrotor::default().hover_input(),
    )?)
}

pub use crate::learned::set_references;

pub fn figure_eight(v_max: f64) -> ReferenceConfig {
    ReferenceConfig::FigureEight {
        amplitude_m: AMPLITUDE_M,
        height_m: HEIGHT_M,
        peak_speed_m_s: v_max,
        hover_input: vec![Quadrotor::default().hover_thrust_n(); NU],
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

/// The model of a P2 line's controller.
#[derive(Debug, Clone, Copy)]
pub enum LineModel<'a> {
    /// The scenario file's controller, nominal model.
    Nominal,
    /// The same with `[controller.residual]` naming this model file
    /// (held over each interval).
    Residual(&'a Path),
    /// The benchmark's own MPC with the true drag (no scenario can name it).
    Oracle,
}

/// The P2 closed loop at `v_max`: the controller `Controller::from_config`
/// builds from the scenario file (the oracle's own MPC aside) on the true
/// plant the simulator builds from it.
pub fn closed_loop(
    name: &'static str,
    model: LineModel<'_>,
    v_max: f64,
    laps: f64,
    evaluated_from_lap: f64,
) -> Result<P2Line> {
    let scenario = scenario(v_max)?;
    let f = &scenario.file;
    let x0 = SVector::<f64, NX>::from_column_slice(&f.scenario.initial_state);
    let mut plant = scenario.plant_config().build(f.scenario.seed)?;
    let reference = &f.reference;
    let sample = |t: f64, x: &mut [f64], u: &mut [f64]| reference.sample(t, x, u);
    let mut config = f.controller.clone();
    match model {
        LineModel::Nominal | LineModel::Residual(_) => {
            if let LineModel::Residual(path) = model {
                config.residual = Some(ResidualConfig {
                    model: path.to_path_buf(),
                    evaluation: RESIDUAL,
                    adaptation: None,
                });
            }
            let mut c = Controller::from_config(&f.robot, &config, x0.as_slice())?;
            let mut line = eight(
                name,
                &mut c,
                plant.as_mut(),
                &sample,
                v_max,
                laps,
                evaluated_from_lap,
            )?;
            // None for the nominal model: it has no residual to leave.
            line.outside_support_fraction = c
                .residual_stats()
                .map(|s| s.outside_support as f64 / s.evaluations.max(1) as f64);
            Ok(line)
        }
        LineModel::Oracle => {
            let oracle = TrueDrag::of(&QuadrotorTruth::p2(Quadrotor::default()));
            let mut mpc = controller(oracle, ResidualEvaluation::EveryStage, &x0)?;
            eight(
                name,
                &mut mpc,
                plant.as_mut(),
                &sample,
                v_max,
                laps,
                evaluated_from_lap,
            )
        }
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
    let scenario = scenario(v_max)?;
    let f = &scenario.file;
    let x0 = SVector::<f64, NX>::from_column_slice(&f.scenario.initial_state);
    let mut plant = scenario.plant_config().build(f.scenario.seed)?;
    let reference = &f.reference;
    let sample = |t: f64, x: &mut [f64], u: &mut [f64]| reference.sample(t, x, u);
    let mut config = f.controller.clone();
    config.mpc = mpc;
    let mut c = Controller::from_config(&f.robot, &config, x0.as_slice())?;
    eight(
        "nominal",
        &mut c,
        plant.as_mut(),
        &sample,
        v_max,
        laps,
        evaluated_from_lap,
    )
}

/// `laps` of the figure-eight at `v_max` with `controller` on `plant`, the
/// RMSE from lap `evaluated_from_lap` on.
fn eight<S: Stepper<NX, NU>>(
    name: &'static str,
    controller: &mut S,
    plant: &mut dyn Plant,
    sample: &impl Fn(f64, &mut [f64], &mut [f64]),
    v_max: f64,
    laps: f64,
    evaluated_from_lap: f64,
) -> Result<P2Line> {
    let lap = lap_secs(v_max);
    let steps = (laps * lap / PERIOD_SECS).round() as usize;
    let from = evaluated_from_lap * lap;
    let (mut sq, mut evaluated) = (0.0, 0usize);
    let (mut x_ref, mut u_ref) = ([0.0; NX], [0.0; NU]);
    let score = |t: f64, x: &SVector<f64, NX>| {
        if t >= from - 1e-9 {
            sample(t, &mut x_ref, &mut u_ref);
            sq += (0..3).map(|i| (x[i] - x_ref[i]).powi(2)).sum::<f64>();
            evaluated += 1;
        }
    };
    let bounds = Quadrotor::default().input_bounds();
    let flown = learned::closed_loop(&rig(None), controller, plant, &bounds, steps, sample, score)?;
    ensure!(evaluated > 0, "no control instant in the evaluated laps");
    Ok(P2Line {
        problem: "p2",
        v_max,
        model: name,
        rmse_m: (sq / evaluated as f64).sqrt(),
        step_us: flown.step_percentiles(),
        feedback_us: Percentiles::of(&flown.feedback_us),
        prepare_us: Percentiles::of(&flown.prepare_us),
        qp_iterations: Percentiles::of(&flown.qp_iterations),
        saturated_fraction: flown.saturated_fraction(),
        control_steps: steps,
        evaluated_steps: evaluated,
        fallbacks: flown.fallbacks,
        outside_support_fraction: None,
    })
}

/// P2's loop: 100 Hz control, the plant at 1 ms, logging `log`.
fn rig(log: Option<TargetKind>) -> Rig {
    Rig {
        period_secs: PERIOD_SECS,
        plant_step_secs: PLANT_STEP_SECS,
        nominal: Nominal::Quadrotor(Quadrotor::default()),
        log,
        midpoint: |x| {
            let q = Vector4::new(x[3], x[4], x[5], x[6]).normalize();
            x[3..7].copy_from_slice(q.as_slice());
        },
    }
}

/// One training flight: a circle (with a slow vertical oscillation) at a
/// speed that swings around its mean (so the vehicle also pitches along its
/// path, as on the eight), well above the figure-eight.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Circle {
    pub center_m: [f64; 3],
    pub radius_m: f64,
    /// Mean speed; the speed is `speed (1 + swing sin(swing_rate t))`.
    pub speed_m_s: f64,
    pub swing: f64,
    pub swing_rate_rad_s: f64,
    /// +1 counter-clockwise, -1 clockwise (seen from above).
    pub direction: f64,
    pub phase_rad: f64,
    pub bob_amplitude_m: f64,
    pub bob_rate_rad_s: f64,
}

impl Circle {
    /// Random circles: peak speed uniform in the given range, radius such
    /// that the centripetal acceleration stays below 14 m/s^2, height 6-8 m.
    pub fn random(rng: &mut ChaCha8Rng, min_speed: f64, max_speed: f64) -> Self {
        let peak = rng.random_range(min_speed..max_speed);
        let swing = rng.random_range(0.0..0.5);
        let speed_m_s = peak / (1.0 + swing);
        let min_radius = (peak * peak / 14.0).max(3.0);
        Self {
            center_m: [
                rng.random_range(-20.0..20.0),
                rng.random_range(-20.0..20.0),
                rng.random_range(6.0..8.0),
            ],
            radius_m: rng.random_range(min_radius..min_radius.max(15.0) + 1.0),
            speed_m_s,
            swing,
            swing_rate_rad_s: rng.random_range(0.3..1.2),
            direction: if rng.random_bool(0.5) { 1.0 } else { -1.0 },
            phase_rad: rng.random_range(0.0..std::f64::consts::TAU),
            bob_amplitude_m: rng.random_range(0.0..1.0),
            bob_rate_rad_s: rng.random_range(0.3..1.5),
        }
    }

    /// Reference state (level, hover thrust) at `t_secs`.
    pub fn sample(&self, t_secs: f64, x: &mut [f64], u: &mut [f64]) {
        let (ws, v) = (self.swing_rate_rad_s, self.speed_m_s);
        let (ss, sc) = (ws * t_secs).sin_cos();
        // Arc length travelled and speed along the circle.
        let arc = v * t_secs + v * self.swing / ws * (1.0 - sc);
        let speed = v * (1.0 + self.swing * ss);
        let a = self.phase_rad + self.direction * arc / self.radius_m;
        let w = self.direction * speed / self.radius_m;
        let (s, co) = a.sin_cos();
        let (bs, bc) = (self.bob_rate_rad_s * t_secs).sin_cos();
        x.fill(0.0);
        x[0] = self.center_m[0] + self.radius_m * co;
        x[1] = self.center_m[1] + self.radius_m * s;
        x[2] = self.center_m[2] + self.bob_amplitude_m * bs;
        x[3] = 1.0;
        x[7] = -self.radius_m * w * s;
        x[8] = self.radius_m * w * co;
        x[9] = self.bob_amplitude_m * self.bob_rate_rad_s * bc;
        u.fill(Quadrotor::default().hover_thrust_n());
    }
}

/// A training flight with a random, smooth 3-D path: per axis a sum of
/// three sinusoids, `p_i(t) = centre_i + sum_k a_ik sin(w_ik t + phase_ik)`.
/// Unlike a circle, the speed along the path changes fast (strong
/// accelerations along the velocity, so the vehicle pitches into and out of
/// its motion as on the eight's fast turns) and it climbs and descends at
/// up to several m/s, which is velocity along the body z axis.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Wander {
    pub center_m: [f64; 3],
    pub amplitude_m: [[f64; 3]; 3],
    pub rate_rad_s: [[f64; 3]; 3],
    pub phase_rad: [[f64; 3]; 3],
}

impl Wander {
    /// Horizontal acceleration bound per axis, m/s^2 (so at most about 14
    /// m/s^2 in all, the circles' bound).
    pub const MAX_HORIZONTAL_ACCEL: f64 = 10.0;
    pub const MAX_VERTICAL_ACCEL: f64 = 6.0;
    pub const MAX_VERTICAL_SPEED: f64 = 8.0;

    /// Peak speed at most `max_speed` (horizontal at most `max_speed`,
    /// vertical at most 8 m/s), drawn from `[min_speed, max_speed)`; the
    /// lowest point of the path is 7 m up.
    pub fn random(rng: &mut ChaCha8Rng, min_speed: f64, max_speed: f64) -> Self {
        let peak = rng.random_range(min_speed..max_speed);
        let vertical: f64 = rng.random_range(0.0..Self::MAX_VERTICAL_SPEED.min(peak));
        // Horizontal speed budget per axis, so that |v_h| <= peak.
        let horizontal = peak / std::f64::consts::SQRT_2;
        let mut amplitude_m = [[0.0; 3]; 3];
        let mut rate_rad_s = [[0.0; 3]; 3];
        let mut phase_rad = [[0.0; 3]; 3];
        for axis in 0..3 {
            let (budget, max_accel) = if axis < 2 {
                (horizontal, Self::MAX_HORIZONTAL_ACCEL)
            } else {
                (vertical, Self::MAX_VERTICAL_ACCEL)
            };
            let weights: [f64; 3] = std::array::from_fn(|_| rng.random_range(0.1..1.0));
            let total: f64 = weights.iter().sum();
            // sum_k a w <= budget (speed), sum_k a w^2 <= max_accel.
            let max_rate = (max_accel / budget.max(1e-9)).clamp(0.2, 1.5);
            for k in 0..3 {
                let w = rng.random_range(0.15..1.0) * max_rate;
                rate_rad_s[axis][k] = w;
                amplitude_m[axis][k] = budget * weights[k] / total / w;
                phase_rad[axis][k] = rng.random_range(0.0..std::f64::consts::TAU);
            }
        }
        let reach_z: f64 = amplitude_m[2].iter().sum();
        Self {
            center_m: [
                rng.random_range(-20.0..20.0),
                rng.random_range(-20.0..20.0),
                7.0 + reach_z,
            ],
            amplitude_m,
            rate_rad_s,
            phase_rad,
        }
    }

    /// Reference state (level, hover thrust) at `t_secs`.
    pub fn sample(&self, t_secs: f64, x: &mut [f64], u: &mut [f64]) {
        x.fill(0.0);
        for axis in 0..3 {
            x[axis] = self.center_m[axis];
            for k in 0..3 {
                let (a, w) = (self.amplitude_m[axis][k], self.rate_rad_s[axis][k]);
                let (s, c) = (w * t_secs + self.phase_rad[axis][k]).sin_cos();
                x[axis] += a * s;
                x[7 + axis] += a * w * c;
            }
        }
        x[3] = 1.0;
        u.fill(Quadrotor::default().hover_thrust_n());
    }
}

/// One training flight's path.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Flight {
    Circle(Circle),
    Wander(Wander),
}

impl Flight {
    pub fn sample(&self, t_secs: f64, x: &mut [f64], u: &mut [f64]) {
        match self {
            Flight::Circle(c) => c.sample(t_secs, x, u),
            Flight::Wander(w) => w.sample(t_secs, x, u),
        }
    }
}

/// The training data: transitions `(x, u, measured residual of x')` of the
/// nominal MPC flying the random flights on the true plant, one per control
/// step (see [`TargetKind`]), the flights, and the lowest height reached.
/// Flights run in parallel (each is its own deterministic closed loop, drawn
/// up front from the seed), so the data do not depend on the thread count.
pub fn generate_data(options: &DataOptions) -> Result<(Dataset<NX, NU>, Vec<Flight>, f64)> {
    use rayon::prelude::*;
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    let (lo, hi) = (options.min_speed_m_s, options.max_speed_m_s);
    let mut flights: Vec<Flight> = (0..options.flights)
        .map(|_| Flight::Circle(Circle::random(&mut rng, lo, hi)))
        .collect();
    flights.extend(
        (0..options.wander_flights).map(|_| Flight::Wander(Wander::random(&mut rng, lo, hi))),
    );
    let runs = flights
        .par_iter()
        .map(|flight| fly(flight, options))
        .collect::<Result<Vec<_>>>()?;
    let mut data = Dataset::new();
    let mut lowest = f64::INFINITY;
    for (samples, low) in runs {
        data.samples.extend(samples.samples);
        lowest = lowest.min(low);
    }
    Ok((data, flights, lowest))
}

/// One training flight: its samples and the lowest height it reached. The
/// nominal controller and the true plant of P2's scenario file, started on
/// the flight's path.
fn fly(flight: &Flight, options: &DataOptions) -> Result<(Dataset<NX, NU>, f64)> {
    let steps = (options.flight_secs / PERIOD_SECS).round() as usize;
    let sample = |t: f64, x: &mut [f64], u: &mut [f64]| flight.sample(t, x, u);
    let mut x0 = [0.0; NX];
    sample(0.0, &mut x0, &mut [0.0; NU]);
    let scenario = scenarios::p2(9.0)?;
    let f = &scenario.file;
    let mut controller = Controller::from_config(&f.robot, &f.controller, &x0)?;
    let mut plant_config = scenario.plant_config();
    plant_config.initial_state = Some(x0.to_vec());
    let mut plant = plant_config.build(f.scenario.seed)?;
    let mut lowest = f64::INFINITY;
    let rig = rig(Some(options.target));
    let bounds = Quadrotor::default().input_bounds();
    let flown = learned::closed_loop(
        &rig,
        &mut controller,
        plant.as_mut(),
        &bounds,
        steps,
        &sample,
        |_, x| lowest = lowest.min(x[2]),
    )?;
    Ok((flown.data, lowest.min(plant.state()[2])))
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
    let model_file = if options.models.contains(&P2Model::Residual) {
        let residual = generate_and_train(options)?;
        let path =
            std::env::temp_dir().join(format!("recede-p2-{}.safetensors", std::process::id()));
        residual.save(&path)?;
        Some(TempFile(path))
    } else {
        None
    };
    let mut lines = Vec::new();
    for &v in &options.speeds_m_s {
        let (laps, from) = (options.laps, options.evaluated_from_lap);
        for model in &options.models {
            let line = match (model, &model_file) {
                (P2Model::Nominal, _) => closed_loop("nominal", LineModel::Nominal, v, laps, from)?,
                (P2Model::Residual, Some(file)) => {
                    closed_loop("residual", LineModel::Residual(&file.0), v, laps, from)?
                }
                (P2Model::Residual, None) => continue,
                (P2Model::Oracle, _) => closed_loop("oracle", LineModel::Oracle, v, laps, from)?,
            };
            lines.push(line);
        }
    }
    eprintln!("p2: done in {:.1} s", started.elapsed().as_secs_f64());
    Ok(lines)
}

/// A file removed when dropped.
#[derive(Debug)]
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use recede_model::Dynamics;
    use recede_sim::plant::{Environment, TrueDynamics};

    fn short_data() -> DataOptions {
        DataOptions {
            flights: 3,
            wander_flights: 2,
            flight_secs: 0.6,
            ..DataOptions::default()
        }
    }

    /// Distance from `p` to the figure-eight curve (sampled finely).
    fn distance_to_figure_eight(p: &[f64]) -> f64 {
        (0..2000)
            .map(|k| {
                let s = k as f64 / 2000.0 * std::f64::consts::TAU;
                let q = [
                    AMPLITUDE_M * s.sin(),
                    0.5 * AMPLITUDE_M * (2.0 * s).sin(),
                    HEIGHT_M,
                ];
                (0..3).map(|i| (p[i] - q[i]).powi(2)).sum::<f64>().sqrt()
            })
            .fold(f64::INFINITY, f64::min)
    }

    #[test]
    fn the_residual_file_parses() {
        let config = residual_config();
        assert_eq!(config.spec.hidden, vec![16]);
        assert_eq!(config.training.max_epochs, 150);
    }

    #[test]
    fn training_flights_never_sample_the_figure_eight() {
        let (data, flights, lowest) = generate_data(&short_data()).unwrap();
        assert_eq!(data.len(), 5 * 60);
        assert!(lowest > HEIGHT_M + MIN_CLEARANCE_M, "lowest {lowest}");
        for s in &data.samples {
            assert!(distance_to_figure_eight(s.x.as_slice()) > MIN_CLEARANCE_M);
        }
        // Circles and wander flights, not the eight: circles keep their
        // radius, every path's velocity is the derivative of its position,
        // and the flights are distinct.
        assert!(matches!(flights[0], Flight::Circle(_)));
        assert!(matches!(flights[4], Flight::Wander(_)));
        let (mut x, mut u, mut x2) = ([0.0; NX], [0.0; NU], [0.0; NX]);
        for f in &flights {
            for t in [0.0, 0.37, 1.9, 7.3] {
                f.sample(t, &mut x, &mut u);
                if let Flight::Circle(c) = f {
                    let r =
                        ((x[0] - c.center_m[0]).powi(2) + (x[1] - c.center_m[1]).powi(2)).sqrt();
                    assert!((r - c.radius_m).abs() < 1e-9);
                }
                f.sample(t + 1e-6, &mut x2, &mut u);
                for i in 0..3 {
                    assert!(((x2[i] - x[i]) / 1e-6 - x[7 + i]).abs() < 1e-4);
                }
            }
        }
        assert_ne!(flights[0], flights[1]);
        assert_ne!(flights[3], flights[4]);
        // Same seed, same data; another seed, other data.
        assert_eq!(generate_data(&short_data()).unwrap().0, data);
        let other = DataOptions {
            seed: 99,
            ..short_data()
        };
        assert_ne!(generate_data(&other).unwrap().1, flights);
    }

    /// Wander references stay within their speed and acceleration bounds,
    /// at least 7 m up, and, unlike circles, climb and descend.
    #[test]
    fn wander_paths_respect_their_bounds() {
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let (mut x, mut u, mut x2) = ([0.0; NX], [0.0; NU], [0.0; NX]);
        let mut fastest_climb: f64 = 0.0;
        for _ in 0..20 {
            let w = Wander::random(&mut rng, 0.5, 15.0);
            for k in 0..600 {
                let t = k as f64 * 0.05;
                w.sample(t, &mut x, &mut u);
                w.sample(t + 1e-5, &mut x2, &mut u);
                assert!(x[2] >= 7.0 - 1e-9, "z {}", x[2]);
                let speed = (x[7].powi(2) + x[8].powi(2) + x[9].powi(2)).sqrt();
                assert!(speed <= 15.0 * 1.5, "speed {speed}");
                assert!(x[9].abs() <= Wander::MAX_VERTICAL_SPEED + 1e-9);
                for i in 0..2 {
                    let a = (x2[7 + i] - x[7 + i]) / 1e-5;
                    assert!(a.abs() <= Wander::MAX_HORIZONTAL_ACCEL + 1e-3, "a {a}");
                }
                fastest_climb = fastest_climb.max(x[9].abs());
            }
        }
        assert!(fastest_climb > 3.0, "{fastest_climb}");
    }

    #[test]
    fn targets_are_the_drag_the_nominal_model_misses() {
        let truth = QuadrotorTruth::p2(Quadrotor::default());
        let env = Environment::default();
        let worst = |target: TargetKind| {
            let (data, _, _) = generate_data(&DataOptions {
                target,
                ..short_data()
            })
            .unwrap();
            let mut worst: f64 = 0.0;
            for s in data.samples.iter().skip(5) {
                let drag = truth.derivative(&s.x, &s.u, &env)
                    - Quadrotor::default().derivative(&s.x, &s.u);
                for i in 7..10 {
                    worst = worst.max((s.residual[i] - drag[i]).abs());
                }
            }
            worst
        };
        // Period averages against point values (drag here is up to several
        // m/s^2): close, not equal. One plant step about its midpoint:
        // equal to the point value to second order in 1 ms.
        let (period, step) = (
            worst(TargetKind::ControlPeriod),
            worst(TargetKind::PlantStep),
        );
        assert!(period < 0.1, "period target differs by {period} m/s^2");
        assert!(step < 1e-3, "plant-step target differs by {step} m/s^2");
        assert!(step < period / 10.0, "{step} vs {period}");
    }

    #[test]
    fn the_oracle_residual_is_the_true_plant() {
        let truth = QuadrotorTruth::p2(Quadrotor::default());
        let oracle = WithResidual::new(Quadrotor::default(), TrueDrag::of(&truth))
            .with_evaluation(ResidualEvaluation::EveryStage);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for _ in 0..50 {
            let mut x = SVector::<f64, NX>::from_fn(|_, _| rng.random_range(-8.0..8.0));
            let q = x.fixed_rows::<4>(3).normalize();
            x.fixed_rows_mut::<4>(3).copy_from(&q);
            let u = SVector::<f64, NU>::from_fn(|_, _| rng.random_range(0.0..8.0));
            let d = oracle.derivative(&x, &u) - truth.derivative(&x, &u, &Environment::default());
            assert!(d.amax() < 1e-12, "{d}");
        }
    }

    /// README's claim: the learned residual cuts P2's tracking error by
    /// about 90% against the nominal model (the whole benchmark at 9 m/s:
    /// data, training, laps 2 and 3).
    #[test]
    fn the_learned_residual_cuts_the_tracking_error_by_nine_tenths() {
        let lines = run(&P2Options {
            speeds_m_s: vec![9.0],
            models: vec![P2Model::Nominal, P2Model::Residual],
            ..P2Options::default()
        })
        .unwrap();
        let rmse = |model| lines.iter().find(|l| l.model == model).unwrap().rmse_m;
        let (nominal, residual) = (rmse("nominal"), rmse("residual"));
        assert!(
            nominal > 0.1,
            "the nominal model misses the drag: {nominal}"
        );
        assert!(
            residual <= 0.1 * nominal,
            "residual {residual} vs nominal {nominal}"
        );
    }

    /// A whole lap at 6 m/s: the oracle tracks within centimetres, which a
    /// quadrotor left at hover thrust (tens of metres off by the end of the
    /// lap) or the nominal model (0.1 m, README) cannot.
    #[test]
    fn a_lap_tracks_and_reports() {
        let line = closed_loop("oracle", LineModel::Oracle, 6.0, 1.0, 0.0).unwrap();
        let steps = (lap_secs(6.0) / PERIOD_SECS).round() as usize;
        assert_eq!(line.control_steps, steps);
        assert_eq!(line.evaluated_steps, steps);
        assert_eq!(line.fallbacks, 0);
        assert!(line.rmse_m < 0.01, "{line:?}");
        assert!((0.0..=1.0).contains(&line.saturated_fraction));
        let value = serde_json::to_value(&line).unwrap();
        for key in [
            "problem",
            "v_max",
            "model",
            "rmse_m",
            "step_us",
            "saturated_fraction",
        ] {
            assert!(value.get(key).is_some(), "{key}");
        }
        assert!(value["step_us"].get("p99").is_some());
    }
}
