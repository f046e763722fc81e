//! P2's training flights: circles and "wander" paths well above the
//! figure-eight, flown by the nominal controller of P2's scenario file on
//! its true plant, logging one transition per control step.
//!
//! Each flight is P2's scenario with the flight's path as its reference (a
//! `circle` with a `[reference.variation]`, or `sines` on the position),
//! run through `recede run`'s loop with a transition log
//! (`learned::data_flight`); its targets are plant steps by default
//! (`recede run --log-data FILE --log-target plant_step`).

use anyhow::Result;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use recede_control::{CircleVariation, InputReference, Plane, ReferenceConfig, Sines};
use recede_learn::Dataset;
use recede_model::robots::quadrotor::{NU, NX};
use recede_model::robots::Quadrotor;
use recede_rt::{StepHook, StepRecord};
use recede_runner::scenario::Scenario;

use super::DataOptions;
use crate::learned;
use crate::scenarios;

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

    /// The circle as a scenario's reference: level attitude, hover thrust.
    pub fn reference(&self) -> ReferenceConfig {
        ReferenceConfig::Circle {
            radius_m: self.radius_m,
            speed_m_s: self.speed_m_s,
            height_m: self.center_m[2],
            plane: Plane::Xy,
            center_xy_m: [self.center_m[0], self.center_m[1]],
            hover_input: vec![Quadrotor::default().hover_thrust_n(); NU],
            variation: Some(CircleVariation {
                speed_swing: self.swing,
                swing_rate_rad_s: self.swing_rate_rad_s,
                clockwise: self.direction < 0.0,
                phase_rad: self.phase_rad,
                bob_m: self.bob_amplitude_m,
                bob_rate_rad_s: self.bob_rate_rad_s,
            }),
            flat_feedforward: false,
        }
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

    /// The path as a scenario's reference: `sines` on the position, their
    /// rates on the velocity, hover thrust.
    pub fn reference(&self) -> ReferenceConfig {
        ReferenceConfig::Sines(Sines {
            states: vec![0, 1, 2],
            rate_states: vec![7, 8, 9],
            center: self.center_m.to_vec(),
            amplitude: self.amplitude_m.iter().map(|a| a.to_vec()).collect(),
            frequency_rad_s: self.rate_rad_s.iter().map(|w| w.to_vec()).collect(),
            phase_rad: self.phase_rad.iter().map(|p| p.to_vec()).collect(),
            input: InputReference::Given(vec![Quadrotor::default().hover_thrust_n(); NU]),
        })
    }
}

/// One training flight's path.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Flight {
    Circle(Circle),
    Wander(Wander),
}

impl Flight {
    /// The flight's path as a scenario's reference.
    pub fn reference(&self) -> ReferenceConfig {
        match self {
            Flight::Circle(c) => c.reference(),
            Flight::Wander(w) => w.reference(),
        }
    }

    /// The reference state and input at `t_secs`.
    pub fn sample(&self, t_secs: f64, x: &mut [f64], u: &mut [f64]) {
        self.reference().sample(t_secs, x, u);
    }

    /// P2's scenario (configs/bench/p2_v9.toml: its controller, its true
    /// plant) flying this path from its start for `secs`.
    pub fn scenario(&self, secs: f64) -> Result<Scenario> {
        let mut s = scenarios::p2(9.0)?;
        let f = &mut s.file;
        f.reference = self.reference();
        f.reference
            .sample(0.0, &mut f.scenario.initial_state, &mut [0.0; NU]);
        // Level: `sines` leave the states they do not list (the
        // quaternion) at 0, which P2's controller does not weight (q_w).
        f.scenario.initial_state[3] = 1.0;
        f.scenario.duration_secs = secs;
        Ok(s)
    }
}

/// The training data: transitions `(x, u, measured residual of x')` of the
/// nominal MPC flying the random flights on the true plant, one per control
/// step (see `recede_runner::datalog::LogTarget`), the flights, and the
/// lowest height reached. Flights run in parallel (each is its own
/// deterministic closed loop, drawn up front from the seed), so the data
/// do not depend on the thread count.
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

/// The lowest height at the control instants.
struct Lowest(f64);

impl StepHook for Lowest {
    fn on_step(&mut self, r: &StepRecord<'_>) {
        self.0 = self.0.min(r.true_state[2]);
    }
}

/// One training flight: its samples and the lowest height it reached (at
/// the control instants and at the end).
fn fly(flight: &Flight, options: &DataOptions) -> Result<(Dataset<NX, NU>, f64)> {
    let scenario = flight.scenario(options.flight_secs)?;
    let mut lowest = Lowest(f64::INFINITY);
    let (data, summary) = learned::data_flight(
        "p2-flight",
        &scenario,
        options.flight_secs,
        options.target,
        Some(&mut lowest),
    )?;
    Ok((data, lowest.0.min(summary.final_state[2])))
}
