//! P2's training flights: circles and "wander" paths well above the
//! figure-eight, flown by the nominal controller of P2's scenario file on
//! its true plant, logging one transition per control step.
//!
//! They keep the harness's own loop (`learned::closed_loop`), not the
//! runner's: a plant-step target pairs one 1 ms plant step with its
//! midpoint state, and the runner's loop shows a hook the control
//! instants only. What `recede bench p2` times and scores (the figure-eight
//! lines) runs through the runner.

use anyhow::Result;
use nalgebra::Vector4;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use recede_control::Controller;
use recede_learn::Dataset;
use recede_model::robots::quadrotor::{NU, NX};
use recede_model::robots::Quadrotor;
use recede_runner::datalog::Nominal;

use super::DataOptions;
use crate::learned::{self, Rig, TargetKind};
use crate::scenarios;

/// P2's loop for the training flights: the scenario's control period, its
/// plant's step, logging `log`.
fn rig(period_secs: f64, plant_step_secs: f64, log: Option<TargetKind>) -> Rig {
    Rig {
        period_secs,
        plant_step_secs,
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
    let sample = |t: f64, x: &mut [f64], u: &mut [f64]| flight.sample(t, x, u);
    let mut x0 = [0.0; NX];
    sample(0.0, &mut x0, &mut [0.0; NU]);
    let scenario = scenarios::p2(9.0)?;
    let f = &scenario.file;
    let mut controller = Controller::from_config(&f.robot, &f.controller, &x0)?;
    let mut plant_config = scenario.plant_config();
    plant_config.initial_state = Some(x0.to_vec());
    let mut plant = plant_config.build(f.scenario.seed)?;
    let period_secs = scenario.period_secs();
    let steps = (options.flight_secs / period_secs).round() as usize;
    let mut lowest = f64::INFINITY;
    let rig = rig(period_secs, plant.step_secs(), Some(options.target));
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
