//! `recede run`: the closed loop of a scenario in lockstep, the plant being
//! the robot's model integrated at `plant_rate_hz`, then a summary.

use std::time::Instant;

use anyhow::{Context, Result};
use nalgebra::SVector;
use recede_control::{Controller, ResidualStats};
use recede_model::robots::{Arm, CartPole, DiffDrive, Quadrotor, RobotConfig};
use recede_model::{Dynamics, Rk4};
use serde::Serialize;

use crate::datalog::DataLog;
use crate::scenario::Scenario;
use crate::stats::Percentiles;

#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub scenario: String,
    pub file: String,
    pub robot: String,
    pub seed: u64,
    pub sim_secs: f64,
    pub wall_secs: f64,
    pub realtime_factor: f64,
    pub control_steps: usize,
    pub goal_reached: bool,
    /// Position error against the reference at the control instants, when
    /// the robot's state starts with a position (quadrotor, diff-drive).
    pub tracking_rmse_m: Option<f64>,
    /// Root mean square of each state component's error against the
    /// reference at the control instants (units of the state).
    pub state_rmse: Vec<f64>,
    /// Mean over control steps of the squared distance of the applied input
    /// from the reference input, sum over inputs (input units squared).
    pub control_effort: f64,
    /// Control instants at which the true state broke a hard state bound.
    pub constraint_violations: usize,
    pub fallbacks: usize,
    pub step_us: Percentiles,
    pub qp_iterations_max: u32,
    /// The learned residual's guard and adaptation counters, when the
    /// controller has one.
    pub residual: Option<ResidualStats>,
    pub final_state: Vec<f64>,
}

/// The plant: the robot's own model, integrated finely.
enum Plant {
    CartPole(CartPole),
    Quadrotor(Quadrotor),
    DiffDrive(DiffDrive),
    Arm(Arm),
}

impl Plant {
    fn new(robot: &RobotConfig) -> Result<Self> {
        Ok(match robot {
            RobotConfig::CartPole(p) => Self::CartPole(CartPole::new(*p)?),
            RobotConfig::Quadrotor(p) => Self::Quadrotor(Quadrotor::new(*p)?),
            RobotConfig::DiffDrive(p) => Self::DiffDrive(DiffDrive::new(*p)?),
            RobotConfig::Arm(p) => Self::Arm(Arm::new(*p)?),
        })
    }

    fn advance(&self, rk4: &Rk4, x: &mut [f64], u: &[f64]) {
        match self {
            Self::CartPole(m) => integrate(m, rk4, x, u),
            Self::Quadrotor(m) => integrate(m, rk4, x, u),
            Self::DiffDrive(m) => integrate(m, rk4, x, u),
            Self::Arm(m) => integrate(m, rk4, x, u),
        }
    }

    /// How many leading state components are a position, m.
    fn position_dims(&self) -> usize {
        match self {
            Self::Quadrotor(_) => 3,
            Self::DiffDrive(_) => 2,
            Self::CartPole(_) | Self::Arm(_) => 0,
        }
    }
}

fn integrate<D: Dynamics<NX, NU>, const NX: usize, const NU: usize>(
    model: &D,
    rk4: &Rk4,
    x: &mut [f64],
    u: &[f64],
) {
    let next = rk4.step(
        model,
        &SVector::<f64, NX>::from_column_slice(x),
        &SVector::<f64, NU>::from_column_slice(u),
    );
    x.copy_from_slice(next.as_slice());
}

pub fn run(scenario: &Scenario, duration_override: Option<f64>) -> Result<RunSummary> {
    run_with_log(scenario, duration_override, None)
}

/// [`run`], writing each control step's transition to `log` (see
/// [`crate::datalog`]).
pub fn run_with_log(
    scenario: &Scenario,
    duration_override: Option<f64>,
    mut log: Option<&mut DataLog>,
) -> Result<RunSummary> {
    let f = &scenario.file;
    let s = &f.scenario;
    let (nx, nu) = f.robot.dimensions();
    let mut controller = Controller::from_config(&f.robot, &f.controller, &s.initial_state)
        .context("building the controller")?;
    let plant = Plant::new(&f.robot)?;
    let period = scenario.period_secs();
    let substeps = (period * s.plant_rate_hz).round() as usize;
    let rk4 = Rk4::new(period / substeps as f64, 1);
    let duration = duration_override.unwrap_or(s.duration_secs);
    let steps = (duration / period).round() as usize;

    let mut x = s.initial_state.clone();
    let mut x_prev = x.clone();
    let mut u = vec![0.0; nu];
    let (mut x_ref, mut u_ref) = (vec![0.0; nx], vec![0.0; nu]);
    let mut step_us = Vec::with_capacity(steps);
    let (mut fallbacks, mut violations, mut qp_max) = (0, 0, 0);
    let (mut sq_err, mut samples) = (0.0, 0usize);
    let (mut state_sq, mut effort) = (vec![0.0; nx], 0.0);
    let pos = plant.position_dims();
    let bounds = &f.controller.mpc.state_bounds;
    let wall = Instant::now();
    for k in 0..steps {
        let t = k as f64 * period;
        controller.track(&f.reference, t, &mut x_ref, &mut u_ref)?;
        f.reference.sample(t, &mut x_ref, &mut u_ref);
        if pos > 0 {
            sq_err += (0..pos).map(|i| (x[i] - x_ref[i]).powi(2)).sum::<f64>();
            samples += 1;
        }
        for (acc, (x, r)) in state_sq.iter_mut().zip(x.iter().zip(&x_ref)) {
            *acc += (x - r).powi(2);
        }
        if bounds.iter().any(|b| {
            b.soft.is_none()
                && (b.min.is_some_and(|lo| x[b.index] < lo - 1e-6)
                    || b.max.is_some_and(|hi| x[b.index] > hi + 1e-6))
        }) {
            violations += 1;
        }
        let started = Instant::now();
        let report = controller.step(&x, &mut u)?;
        step_us.push(started.elapsed().as_secs_f64() * 1e6);
        fallbacks += usize::from(report.outcome.is_fallback());
        effort += u
            .iter()
            .zip(&u_ref)
            .map(|(u, r)| (u - r).powi(2))
            .sum::<f64>();
        qp_max = qp_max.max(report.qp_iterations);
        x_prev.copy_from_slice(&x);
        for _ in 0..substeps {
            plant.advance(&rk4, &mut x, &u);
        }
        if let Some(log) = log.as_deref_mut() {
            log.record(t, period, &x_prev, &u, &x, None)?;
        }
    }
    let wall_secs = wall.elapsed().as_secs_f64();
    let sim_secs = steps as f64 * period;
    f.reference.sample(sim_secs, &mut x_ref, &mut u_ref);
    let goal_reached = x
        .iter()
        .zip(&x_ref)
        .zip(&f.goal.state_tolerance)
        .all(|((x, r), tol)| (x - r).abs() <= *tol);
    Ok(RunSummary {
        scenario: s.name.clone(),
        file: scenario.path.display().to_string(),
        robot: f.robot.kind().to_string(),
        seed: s.seed,
        sim_secs,
        wall_secs,
        realtime_factor: sim_secs / wall_secs.max(1e-9),
        control_steps: steps,
        goal_reached,
        tracking_rmse_m: (samples > 0).then(|| (sq_err / samples as f64).sqrt()),
        state_rmse: state_sq
            .iter()
            .map(|s| (s / steps.max(1) as f64).sqrt())
            .collect(),
        control_effort: effort / steps.max(1) as f64,
        constraint_violations: violations,
        fallbacks,
        step_us: Percentiles::of(&step_us),
        qp_iterations_max: qp_max,
        residual: controller.residual_stats(),
        final_state: x,
    })
}
