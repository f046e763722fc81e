//! The perception scenarios end to end: the robot knows the world only
//! through its sensors (EKF state, obstacles from depth and lidar, targets
//! from infrared) and still reaches its goal without touching anything,
//! for several seeds and under injected faults.

use recede_control::guidance::Guidance;
use recede_control::Controller;
use recede_msg::{Measurement, Reading};
use recede_perception::Perception;
use recede_rt::{Estimate, Estimator, LoopConfig, Mode, NullSink, Verdict};
use recede_runner::adapters::{ControlPolicy, PerceptionEstimator, SimWorld};
use recede_runner::run::{run_with, RunOptions, RunSummary};
use recede_runner::scenario::{EstimatorConfig, Scenario};
use recede_sim::Simulator;

fn load(file: &str) -> Scenario {
    load_edited(file, str::to_string)
}

/// The scenario with `edit` applied to its text (fault injection), at the
/// shipped resolution in every build (Cargo.toml optimises the simulator
/// and the other heavy crates in the test profile too).
fn load_edited(file: &str, edit: impl Fn(&str) -> String) -> Scenario {
    let path = crate::workspace_root().join(file);
    let text = edit(&std::fs::read_to_string(&path).unwrap());
    Scenario::parse(&text, &path).unwrap_or_else(|e| panic!("{file}: {e:#}"))
}

fn run(scenario: &Scenario, seed: u64) -> RunSummary {
    let options = RunOptions {
        seed: Some(seed),
        ..RunOptions::default()
    };
    run_with(scenario, &options, None).unwrap_or_else(|e| panic!("seed {seed}: {e:#}"))
}

/// Reached the goal, never touched an obstacle, estimated well.
fn check(s: &RunSummary, what: &str) {
    let clearance = s.min_clearance_m.expect("a world with obstacles");
    assert!(clearance > 0.0, "{what}: min clearance {clearance}");
    assert_eq!(s.safety.collisions, 0, "{what}: {:?}", s.safety);
    assert!(
        s.goal_reached,
        "{what}: final state {:?} target {:?}",
        s.final_state, s.target
    );
    assert_eq!(s.estimator, "ekf");
    let rmse = s.estimate_rmse_m.expect("ekf");
    assert!(rmse < 0.1, "{what}: estimate rmse {rmse}");
    assert_eq!(s.estimate_faults, Some(0), "{what}");
}

fn sensor(s: &RunSummary, name: &str) -> (u64, u64, u64) {
    let c = &s.sensors[name];
    (c.delivered, c.dropped, c.rejected)
}

/// Seeds per scenario, in every build.
fn seeds() -> std::ops::Range<u64> {
    0..10
}

#[test]
fn inspection_reaches_the_hottest_object_for_every_seed() {
    let scenario = load("configs/diffdrive_inspection.toml");
    for seed in seeds() {
        let s = run(&scenario, seed);
        let what = format!("diffdrive_inspection seed {seed}");
        check(&s, &what);
        let t = s.target.as_ref().expect("target summary");
        assert_eq!(t.hottest_object, "heater");
        assert!(
            t.distance_m <= 1.0 && t.heading_error_rad.abs() <= 0.35,
            "{what}: {t:?}"
        );
        let d = s.detection.as_ref().expect("detection summary");
        assert!(d.recall >= 0.8, "{what}: {d:?}");
        assert!(
            d.position_error_mean_m.is_some_and(|e| e < 0.15),
            "{what}: {d:?}"
        );
        for name in ["imu", "wheels", "uwb", "depth", "lidar", "ir"] {
            assert!(sensor(&s, name).0 > 0, "{what}: {name} delivered nothing");
        }
    }
}

#[test]
fn pillars_are_flown_through_for_every_seed() {
    let scenario = load("configs/quadrotor_pillars.toml");
    for seed in seeds() {
        let s = run(&scenario, seed);
        let what = format!("quadrotor_pillars seed {seed}");
        check(&s, &what);
        let d = s.detection.as_ref().expect("detection summary");
        assert!(
            d.position_error_mean_m.is_some_and(|e| e < 0.15),
            "{what}: {d:?}"
        );
    }
}

/// Adds `line` to the `[[sensors]]` entry named `name`.
fn add_to_sensor(text: &str, name: &str, line: &str) -> String {
    let key = format!("name = \"{name}\"\n");
    assert!(text.contains(&key), "no sensor {name}");
    text.replacen(&key, &format!("{key}{line}\n"), 1)
}

#[test]
fn depth_camera_silent_for_two_seconds() {
    let s = run(
        &load_edited("configs/quadrotor_pillars.toml", |t| {
            add_to_sensor(
                t,
                "depth",
                "dropout = { outages = [{ start_secs = 3.0, end_secs = 5.0 }] }",
            )
        }),
        0,
    );
    check(&s, "depth silent");
    let (_, dropped, _) = sensor(&s, "depth");
    assert!(dropped >= 30, "dropped {dropped}");
}

#[test]
fn position_fix_lost_for_three_seconds() {
    let s = run(
        &load_edited("configs/diffdrive_inspection.toml", |t| {
            add_to_sensor(
                t,
                "uwb",
                "dropout = { outages = [{ start_secs = 4.0, end_secs = 7.0 }] }",
            )
            .replacen("dropout = { probability = 0.05 }\n", "", 1)
        }),
        0,
    );
    check(&s, "fix lost");
    let (_, dropped, _) = sensor(&s, "uwb");
    assert!(dropped >= 30, "dropped {dropped}");
}

#[test]
fn imu_outliers_at_one_percent_are_gated() {
    let s = run(
        &load_edited("configs/quadrotor_pillars.toml", |t| {
            add_to_sensor(
                t,
                "imu",
                "outliers = { probability = 0.01, magnitude = 40.0 }",
            )
        }),
        0,
    );
    check(&s, "imu outliers");
    let (delivered, _, rejected) = sensor(&s, "imu");
    // About 1% of the samples, each rejected: within three standard
    // deviations of a binomial count, and never more (a 40 m/s^2 outlier
    // is never mistaken for a good sample, nor a good one for an outlier).
    let expected = delivered as f64 * 0.01;
    let sigma = (expected * 0.99).sqrt();
    assert!(
        ((rejected as f64) - expected).abs() <= 3.0 * sigma,
        "rejected {rejected} of {delivered} (expected {expected:.0} +- {:.0})",
        3.0 * sigma
    );
}

/// Passes readings through, except that the first position fix from
/// `at_secs` on arrives with a NaN in it.
struct NanFix<E> {
    inner: E,
    at_secs: f64,
    done: bool,
}

impl<E: Estimator> Estimator for NanFix<E> {
    fn label(&self) -> &'static str {
        self.inner.label()
    }

    fn on_reading(&mut self, reading: &Reading) -> Verdict {
        if !self.done && reading.stamp.stamp_secs >= self.at_secs {
            if let Measurement::PositionFix { yaw_rad, .. } = reading.measurement {
                self.done = true;
                let mut bad = reading.clone();
                bad.measurement = Measurement::PositionFix {
                    position_m: nalgebra::Vector3::new(f64::NAN, 0.0, 1.5),
                    yaw_rad,
                };
                return self.inner.on_reading(&bad);
            }
        }
        self.inner.on_reading(reading)
    }

    fn on_command(&mut self, acts_from_secs: f64, command: &[f64]) {
        self.inner.on_command(acts_from_secs, command);
    }

    fn estimate(&mut self, t_secs: f64, out: &mut Estimate) -> bool {
        self.inner.estimate(t_secs, out)
    }
}

#[test]
fn a_nan_position_fix_is_refused_and_counted() {
    let scenario = load("configs/quadrotor_pillars.toml");
    let f = &scenario.file;
    let EstimatorConfig::Ekf(ekf) = &f.estimator else {
        panic!("ekf scenario")
    };
    let x0 = &f.scenario.initial_state;
    let controller = Controller::with_obstacles(
        &f.robot,
        &f.controller.mpc,
        None,
        Some(&f.perception.constraints),
        x0,
    )
    .unwrap();
    let mut sim =
        Simulator::from_config(&scenario.plant_config(), &f.world, &f.sensors, 0).unwrap();
    let infos: Vec<_> = sim.sensors().cloned().collect();
    let perception =
        Perception::new(ekf, &f.perception.extraction(), &f.robot, &infos, x0).unwrap();
    let mut estimator = NanFix {
        inner: PerceptionEstimator::new(perception),
        at_secs: 2.0,
        done: false,
    };
    let mut policy = ControlPolicy::new(
        controller,
        f.reference.clone(),
        Guidance::new(&f.robot, None),
    );
    let config = LoopConfig::new(
        Mode::Lockstep,
        scenario.period_secs(),
        f.scenario.duration_secs,
    );
    let mut no_hook = |_: &recede_rt::StepRecord<'_>| {};
    let report = recede_rt::run(
        &mut SimWorld::new(&mut sim, 2),
        &mut policy,
        &mut estimator,
        &mut NullSink,
        &mut no_hook,
        &config,
    )
    .unwrap();
    assert!(estimator.done);
    let mocap = report.sensors.iter().find(|s| s.name == "mocap").unwrap();
    assert!(mocap.rejected >= 1, "{mocap:?}");
    let perception = estimator.inner.perception();
    let stats = perception.sensor_stats();
    let mocap_stats = stats.iter().find(|s| s.name == "mocap").unwrap();
    assert_eq!(mocap_stats.non_finite, 1, "{mocap_stats:?}");
    assert!(report.min_clearance_m.unwrap() > 0.0);
    let x = &report.final_state;
    let goal = [14.0, 0.0, 1.5];
    let miss = (0..3).map(|i| (x[i] - goal[i]).powi(2)).sum::<f64>().sqrt();
    assert!(miss < 0.5, "final position {:?}", &x[..3]);
    assert_eq!(perception.estimate_faults(), 0);
}
