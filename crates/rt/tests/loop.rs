//! The loop on small worlds: repeatability, deadlines and fallbacks in
//! real time, a recorder that cannot keep up, the stop flag.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use recede_control::{Controller, ReferenceConfig};
use recede_model::robots::{CartPoleParams, RobotConfig};
use recede_mpc::{MpcConfig, StepReport};
use recede_msg::Reading;
use recede_rt::{
    run, CommandSource, Level, LoopConfig, Mode, MpcPolicy, NullSink, Policy, RtError, Sink,
    StepLog, StepRecord, TruthEstimator,
};
use recede_sim::config::{PlantConfig, SensorConfig, WorldConfig};
use recede_sim::Simulator;

const PLANT: &str = r#"
integration_rate_hz = 1000.0
initial_state = [0.0, 3.0, 0.0, 0.0]
[robot]
kind = "cart_pole"
cart_viscous_friction_n_s_per_m = 0.3
"#;

/// A small camera, an IMU with dropout and a lidar, all on the cart.
const SENSORS: &str = r#"
[[sensors]]
name = "imu"
rate_hz = 200.0
latency_secs = 0.002
dropout = { probability = 0.1 }
model = { kind = "imu", noise_std_accel_mps2 = 0.05, noise_std_gyro_radps = 0.005, bias_walk_std_accel_mps2_per_sqrt_s = 0.001, bias_walk_std_gyro_radps_per_sqrt_s = 0.0001 }
[[sensors]]
name = "rgb"
rate_hz = 30.0
latency_secs = 0.03
mount = { translation_m = [0.0, 0.0, 0.5] }
model = { kind = "rgb_camera", width_px = 24, height_px = 16, hfov_rad = 1.5, noise_std_levels = 2.0 }
[[sensors]]
name = "depth"
rate_hz = 30.0
latency_secs = 0.03
mount = { translation_m = [0.0, 0.0, 0.5] }
model = { kind = "depth_camera", width_px = 24, height_px = 16, hfov_rad = 1.5, min_range_m = 0.2, max_range_m = 20.0, noise_std_m = 0.005, noise_std_quadratic_per_m = 0.002 }
[[sensors]]
name = "ir"
rate_hz = 15.0
latency_secs = 0.05
model = { kind = "infrared_camera", width_px = 20, height_px = 12, hfov_rad = 1.0, noise_std_k = 0.3 }
"#;

const WORLD: &str = r#"
objects = [
  { name = "wall", shape = { kind = "box", center_m = [4.0, 0.0, 1.0], size_m = [0.3, 6.0, 2.0] }, color_rgb = [170, 160, 150] },
  { name = "warm", shape = { kind = "sphere", center_m = [3.0, 1.0, 0.5], radius_m = 0.4 }, temperature_k = 340.0 },
]
"#;

fn world_sim(seed: u64, with_sensors: bool) -> Simulator {
    #[derive(serde::Deserialize)]
    struct S {
        #[serde(default)]
        sensors: Vec<SensorConfig>,
    }
    let plant: PlantConfig = toml::from_str(PLANT).unwrap();
    let world: WorldConfig = toml::from_str(WORLD).unwrap();
    let sensors = if with_sensors {
        toml::from_str::<S>(SENSORS).unwrap().sensors
    } else {
        Vec::new()
    };
    Simulator::from_config(&plant, &world, &sensors, seed).unwrap()
}

fn mpc_policy() -> MpcPolicy {
    let mpc: MpcConfig = toml::from_str(
        "horizon_steps = 20\ndt_secs = 0.04\nperiod_secs = 0.02\n\
         state_weights = [1e3, 1e3, 1e-2, 1e-2]\ninput_weights = [1e-2]\n\
         input_min = [-80.0]\ninput_max = [80.0]\n",
    )
    .unwrap();
    let robot = RobotConfig::CartPole(CartPoleParams::default());
    let controller = Controller::new(&robot, &mpc, &[0.0, 3.0, 0.0, 0.0]).unwrap();
    MpcPolicy::new(
        controller,
        ReferenceConfig::Setpoint {
            state: vec![0.0; 4],
            input: vec![0.0],
        },
    )
}

/// Everything a lockstep run produces that must repeat: per step the true
/// state, estimate and command bits, then the report's counters.
fn lockstep_run(seed: u64, render_workers: usize) -> (Vec<u64>, String) {
    let mut sim = world_sim(seed, true);
    let mut policy = mpc_policy();
    let mut estimator = TruthEstimator::new(4);
    let mut bits = Vec::new();
    let mut hook = |r: &StepRecord<'_>| {
        bits.extend(r.true_state.iter().map(|v| v.to_bits()));
        bits.extend(r.estimate.iter().map(|v| v.to_bits()));
        bits.extend(r.command.iter().map(|v| v.to_bits()));
    };
    let mut config = LoopConfig::new(Mode::Lockstep, 0.02, 0.6);
    config.render_workers = render_workers;
    config.actuation_delay_secs = 0.005;
    let report = run(
        &mut sim,
        &mut policy,
        &mut estimator,
        &mut NullSink,
        &mut hook,
        &config,
    )
    .unwrap();
    assert_eq!(report.control_steps, 30);
    assert!(report.sensors.iter().all(|s| s.delivered > 0));
    let summary = format!(
        "{:?} {:?} {} {} {}",
        report.sensors,
        report
            .final_state
            .iter()
            .map(|v| v.to_bits())
            .collect::<Vec<_>>(),
        report.fallbacks,
        report.qp_iterations_max,
        report.sim_secs
    );
    (bits, summary)
}

#[test]
fn lockstep_repeats_bit_for_bit_whatever_the_render_workers() {
    let (a, sa) = lockstep_run(7, 0);
    let (b, sb) = lockstep_run(7, 0);
    let (c, sc) = lockstep_run(7, 3);
    assert!(a == b && sa == sb, "same seed, same run");
    assert!(a == c && sa == sc, "render workers change nothing");
    let (d, _) = lockstep_run(8, 0);
    assert!(
        a == d,
        "the truth estimator and the plant do not depend on the seed here"
    );
    // The seed reaches the sensors: the IMU dropout differs.
    let (_, sd) = lockstep_run(8, 2);
    assert_ne!(sa, sd, "another seed, other sensor streams");
}

/// A policy that holds a command, and sleeps through some periods.
struct Slow {
    slow_every: u64,
    sleep: Duration,
    steps: u64,
}

impl Policy for Slow {
    fn dimensions(&self) -> (usize, usize) {
        (4, 1)
    }
    fn step(&mut self, _t: f64, _x: &[f64], command: &mut [f64]) -> Result<StepReport, RtError> {
        self.steps += 1;
        if self.steps.is_multiple_of(self.slow_every) {
            std::thread::sleep(self.sleep);
        }
        command[0] = 1.0;
        Ok(StepReport {
            outcome: recede_mpc::StepOutcome::Solved,
            failure: None,
            ..StepReport::default()
        })
    }
    fn late_command(&self, _after_secs: f64, out: &mut [f64]) {
        out[0] = 7.0;
    }
    fn safe_command(&self, out: &mut [f64]) {
        out[0] = -3.0;
    }
}

#[test]
fn realtime_overruns_apply_the_fallback_and_are_counted() {
    let mut sim = world_sim(1, false);
    let mut policy = Slow {
        slow_every: 5,
        sleep: Duration::from_millis(45),
        steps: 0,
    };
    let mut estimator = TruthEstimator::new(4);
    let mut records: Vec<(u64, CommandSource, f64)> = Vec::new();
    let mut hook = |r: &StepRecord<'_>| records.push((r.step, r.source, r.command[0]));
    let config = LoopConfig::new(Mode::RealTime, 0.02, 1.0);
    let report = run(
        &mut sim,
        &mut policy,
        &mut estimator,
        &mut NullSink,
        &mut hook,
        &config,
    )
    .unwrap();
    // Paced by the clock: every slow step (45 ms against 20 ms deadlines)
    // misses its deadline.
    assert!(
        report.deadline_misses >= 5,
        "{} misses",
        report.deadline_misses
    );
    assert_eq!(report.fallbacks, report.deadline_misses);
    assert_eq!(records.len(), 50, "every step settled: {records:?}");
    let missed: Vec<_> = records
        .iter()
        .filter(|r| r.1 != CommandSource::Controller)
        .collect();
    assert_eq!(missed.len(), report.deadline_misses);
    for (_, source, u) in &records {
        match source {
            CommandSource::Controller => assert_eq!(*u, 1.0),
            CommandSource::ShiftedPlan => assert_eq!(*u, 7.0),
            CommandSource::Safe => assert_eq!(*u, -3.0),
        }
    }
    // A 45 ms sleep spans two more deadlines: the shifted plan first, then the safe input.
    assert!(missed.iter().any(|r| r.1 == CommandSource::ShiftedPlan));
    assert!(missed.iter().any(|r| r.1 == CommandSource::Safe));
    // Periods the controller overran into are skipped, not run late.
    assert!(report.jitter_secs.len() < 50 && report.jitter_secs.len() >= 50 - 3 * 10);
}

/// A sink slower than the loop.
struct SlowSink {
    steps: Arc<Mutex<u64>>,
}

impl Sink for SlowSink {
    fn reading(&mut self, _step: u64, _r: &Reading) {
        std::thread::sleep(Duration::from_millis(20));
    }
    fn step(&mut self, _log: &StepLog) {
        *self.steps.lock().unwrap() += 1;
        std::thread::sleep(Duration::from_millis(20));
    }
    fn event(&mut self, _step: u64, _t: f64, _level: Level, _text: &str) {}
}

#[test]
fn a_slow_recorder_drops_and_counts_and_never_slows_the_loop() {
    let mut sim = world_sim(3, true);
    let mut policy = Slow {
        slow_every: u64::MAX,
        sleep: Duration::ZERO,
        steps: 0,
    };
    let mut estimator = TruthEstimator::new(4);
    let steps = Arc::new(Mutex::new(0));
    let mut sink = SlowSink {
        steps: Arc::clone(&steps),
    };
    let mut config = LoopConfig::new(Mode::Lockstep, 0.01, 2.0);
    config.recorder_queue = 8;
    let report = run(
        &mut sim,
        &mut policy,
        &mut estimator,
        &mut sink,
        &mut |_: &StepRecord<'_>| {},
        &config,
    )
    .unwrap();
    assert_eq!(report.control_steps, 200);
    assert!(
        report.recorder_dropped > 100,
        "{} dropped",
        report.recorder_dropped
    );
    // The loop never waited for the sink: what it could not queue was
    // dropped (a blocking loop would drop nothing), and the sink still saw
    // steps.
    assert!(*steps.lock().unwrap() > 0);
}

#[test]
fn the_stop_flag_ends_the_run_and_the_recorder_drains() {
    let mut sim = world_sim(4, false);
    let mut policy = Slow {
        slow_every: u64::MAX,
        sleep: Duration::ZERO,
        steps: 0,
    };
    let mut estimator = TruthEstimator::new(4);
    let steps = Arc::new(Mutex::new(0));
    let mut sink = SlowSink {
        steps: Arc::clone(&steps),
    };
    let config = LoopConfig::new(Mode::Lockstep, 0.01, 100.0);
    let stop = config.stop.clone();
    let mut hook = |r: &StepRecord<'_>| {
        if r.step == 9 {
            stop.stop();
        }
    };
    let report = run(
        &mut sim,
        &mut policy,
        &mut estimator,
        &mut sink,
        &mut hook,
        &config,
    )
    .unwrap();
    assert!(report.stopped);
    assert_eq!(report.control_steps, 10);
    assert_eq!(report.recorder_dropped, 0);
    // Every queued step reached the sink before `run` returned.
    assert_eq!(*steps.lock().unwrap(), 10);
}
