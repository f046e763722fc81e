//! P2's tests: the training flights, the oracle, and the lines through the
//! runner's loop.

use nalgebra::SVector;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use recede_model::robots::quadrotor::{NU, NX};
use recede_model::robots::Quadrotor;
use recede_model::{Dynamics, ResidualEvaluation, WithResidual};
use recede_sim::plant::{Environment, QuadrotorTruth, TrueDynamics};

use super::oracle::TrueDrag;
use super::*;

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
                let r = ((x[0] - c.center_m[0]).powi(2) + (x[1] - c.center_m[1]).powi(2)).sqrt();
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
            let path = Flight::Wander(w);
            path.sample(t, &mut x, &mut u);
            path.sample(t + 1e-5, &mut x2, &mut u);
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
            let drag =
                truth.derivative(&s.x, &s.u, &env) - Quadrotor::default().derivative(&s.x, &s.u);
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
    let period = scenario(6.0).unwrap().period_secs();
    let steps = (lap_secs(6.0) / period).round() as usize;
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

/// P2's training data are what `recede run FLIGHT --log-data FILE
/// --log-target plant_step` writes for each flight's scenario, read as
/// `recede train` reads it: the flights run through the runner's loop.
#[test]
fn training_flights_are_recede_runs_with_plant_step_logs() {
    use recede_runner::datalog::{DataLog, LogTarget, Transitions};
    use recede_runner::run::{run_with_options_and_log, RunOptions};
    use recede_runner::train::{dataset, Target};

    let options = DataOptions {
        flights: 1,
        wander_flights: 1,
        flight_secs: 0.3,
        ..DataOptions::default()
    };
    let (data, flights, _) = generate_data(&options).unwrap();
    assert_eq!(data.len(), 2 * 30);
    let mut logged = Vec::new();
    for flight in &flights {
        let scenario = flight.scenario(options.flight_secs).unwrap();
        // The flight starts on its path, level.
        let mut x0 = [0.0; NX];
        flight.sample(0.0, &mut x0, &mut [0.0; NU]);
        x0[3] = 1.0;
        assert_eq!(scenario.file.scenario.initial_state, x0.to_vec());
        let file = learned::TempFile::log("p2-test");
        let mut log =
            DataLog::create_for(&file.0, &scenario.file.robot, false, LogTarget::PlantStep)
                .unwrap();
        let run = RunOptions {
            duration_secs: Some(options.flight_secs),
            ..RunOptions::default()
        };
        let summary = run_with_options_and_log(&scenario, &run, Some(&mut log)).unwrap();
        assert_eq!(summary.control_steps, 30);
        assert_eq!(summary.fallbacks, 0);
        log.finish().unwrap();
        let read = Transitions::read(&file.0).unwrap();
        let (samples, dropped) = dataset::<NX, NU>(&[read], Target::Target).unwrap();
        assert_eq!(dropped, 0);
        logged.extend(samples.samples);
    }
    assert_eq!(data.samples, logged);
}
