//! The loop driving a world written here, not the simulator (the shape a
//! hardware bridge or a log replay takes): repeatability, what travels
//! from the estimator to the controller (state, σ, world model) and back
//! (settled commands), deadlines and fallbacks in real time, a recorder
//! that cannot keep up, the stop flag.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nalgebra::{Isometry3, Vector3};
use recede_msg::{Measurement, Obstacle, Reading, SensorId, SensorInfo, SensorKind, Stamp};
use recede_rt::{
    run, CommandSource, Estimate, Estimator, Level, LoopConfig, Mode, NullSink, Policy,
    PolicyError, Sink, StepLog, StepRecord, StepStatus, TruthEstimator, Verdict, World, WorldError,
};

/// A cart on a rail, `p'' = u - 0.5 p'`, integrated at 1 kHz, with a
/// position sensor at 100 Hz (5 ms latency, seeded noise, every tenth
/// sample lost).
struct Cart {
    step: u64,
    x: [f64; 2],
    u: [f64; 1],
    sensors: Vec<SensorInfo>,
    in_flight: VecDeque<Reading>,
    rng: u64,
    lost: u64,
    /// Whether it tells the loop its true state (a simulator would; a
    /// hardware bridge cannot).
    truth: bool,
}

const H: f64 = 0.001;

impl Cart {
    fn new(seed: u64, truth: bool) -> Self {
        Self {
            step: 0,
            x: [0.0, 0.0],
            u: [0.0],
            sensors: vec![SensorInfo {
                id: SensorId(0),
                name: "fix".into(),
                kind: SensorKind::PositionFix,
                body_from_sensor: Isometry3::identity(),
                world_fixed: false,
                rate_hz: 100.0,
                latency_secs: 0.005,
                intrinsics: None,
            }],
            in_flight: VecDeque::new(),
            rng: seed.wrapping_mul(6364136223846793005).wrapping_add(1),
            lost: 0,
            truth,
        }
    }

    /// Uniform in [-1, 1), from a linear congruential generator.
    fn noise(&mut self) -> f64 {
        self.rng = self
            .rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.rng >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }
}

impl World for Cart {
    fn sensors(&self) -> &[SensorInfo] {
        &self.sensors
    }
    fn input_len(&self) -> usize {
        1
    }
    fn time_secs(&self) -> f64 {
        self.step as f64 * H
    }
    fn step_secs(&self) -> f64 {
        H
    }
    fn command(&self) -> &[f64] {
        &self.u
    }
    fn advance_to(&mut self, t_secs: f64, command: &[f64]) -> Result<(), WorldError> {
        if !command.iter().all(|u| u.is_finite()) {
            return Err("non-finite command".into());
        }
        self.u[0] = command[0];
        while (self.step as f64 + 0.5) * H < t_secs {
            let [p, v] = self.x;
            self.x = [p + H * v, v + H * (self.u[0] - 0.5 * v)];
            self.step += 1;
            if self.step.is_multiple_of(10) {
                if (self.step / 10).is_multiple_of(10) {
                    self.lost += 1;
                    continue;
                }
                let position = self.x[0] + 0.002 * self.noise();
                self.in_flight.push_back(Reading {
                    sensor: SensorId(0),
                    stamp: Stamp::new(self.time_secs(), 0.005),
                    measurement: Measurement::PositionFix {
                        position_m: Vector3::new(position, 0.0, 0.0),
                        yaw_rad: 0.0,
                    },
                });
            }
        }
        Ok(())
    }
    fn poll_readings(&mut self, t_secs: f64, out: &mut Vec<Reading>) {
        while self
            .in_flight
            .front()
            .is_some_and(|r| r.stamp.available_secs <= t_secs + 0.5 * H)
        {
            out.extend(self.in_flight.pop_front());
        }
    }
    fn lost(&self, _index: usize) -> u64 {
        self.lost
    }
    fn true_state(&self) -> Option<&[f64]> {
        self.truth.then_some(&self.x[..])
    }
}

/// Position from the fixes, velocity from their differences; reports one
/// obstacle 5 m ahead of the cart (so the test can see a world model
/// cross the loop), and keeps the commands it is told.
#[derive(Default)]
struct FixEstimator {
    x: [f64; 2],
    last: Option<(f64, f64)>,
    heard: Arc<Mutex<Vec<(f64, f64)>>>,
}

impl Estimator for FixEstimator {
    fn label(&self) -> &'static str {
        "fix"
    }
    fn on_reading(&mut self, r: &Reading) -> Verdict {
        let Measurement::PositionFix { position_m, .. } = &r.measurement else {
            return Verdict::Rejected;
        };
        let (t, p) = (r.stamp.stamp_secs, position_m.x);
        if let Some((t0, p0)) = self.last {
            self.x[1] = (p - p0) / (t - t0);
        }
        self.x[0] = p;
        self.last = Some((t, p));
        Verdict::Accepted
    }
    fn on_command(&mut self, acts_from_secs: f64, command: &[f64]) {
        self.heard
            .lock()
            .unwrap()
            .push((acts_from_secs, command[0]));
    }
    fn estimate(&mut self, _t: f64, out: &mut Estimate) -> bool {
        let (state, std) = out.state_mut();
        state.copy_from_slice(&self.x);
        std.copy_from_slice(&[0.002, 0.3]);
        let ahead = Obstacle {
            id: 7,
            position_m: Vector3::new(self.x[0] + 5.0, 0.0, 0.0),
            ..Obstacle::default()
        };
        out.world.set_obstacles(&[ahead]);
        true
    }
}

/// Drives the cart to 1 m; counts the steps whose estimate carried the
/// estimator's obstacle where the estimator put it.
#[derive(Default)]
struct Pd {
    saw_obstacle: usize,
    steps: usize,
}

impl Policy for Pd {
    fn dimensions(&self) -> (usize, usize) {
        (2, 1)
    }
    fn step(&mut self, _t: f64, e: &Estimate, u: &mut [f64]) -> Result<StepStatus, PolicyError> {
        let x = e.state();
        u[0] = (4.0 * (1.0 - x[0]) - 3.0 * x[1]).clamp(-5.0, 5.0);
        self.steps += 1;
        let o = e.world.obstacles();
        if o.len() == 1 && o[0].id == 7 && o[0].position_m.x == x[0] + 5.0 {
            self.saw_obstacle += 1;
        }
        Ok(StepStatus {
            iterations: 1,
            ..StepStatus::default()
        })
    }
    fn late_command(&self, _after_secs: f64, out: &mut [f64]) {
        out[0] = 0.0;
    }
    fn safe_command(&self, out: &mut [f64]) {
        out[0] = 0.0;
    }
}

/// Per step the true state, estimate and command bits; then the report.
fn lockstep_run(seed: u64) -> (Vec<u64>, String, Vec<(f64, f64)>) {
    let mut world = Cart::new(seed, true);
    let mut policy = Pd::default();
    let mut estimator = FixEstimator::default();
    let heard = Arc::clone(&estimator.heard);
    let mut bits = Vec::new();
    let mut commands = Vec::new();
    let mut hook = |r: &StepRecord<'_>| {
        bits.extend(r.true_state.iter().map(|v| v.to_bits()));
        bits.extend(r.estimate.iter().map(|v| v.to_bits()));
        bits.extend(r.command.iter().map(|v| v.to_bits()));
        commands.push((r.t_secs, r.command[0]));
    };
    let mut config = LoopConfig::new(Mode::Lockstep, 0.02, 6.0);
    config.actuation_delay_secs = 0.005;
    let report = run(
        &mut world,
        &mut policy,
        &mut estimator,
        &mut NullSink,
        &mut hook,
        &config,
    )
    .unwrap();
    assert_eq!(report.control_steps, 300);
    assert_eq!(
        policy.saw_obstacle, 300,
        "the world model reached every step"
    );
    let sensor = &report.sensors[0];
    assert_eq!((sensor.dropped, sensor.rejected), (60, 0), "{sensor:?}");
    assert!((report.final_state[0] - 1.0).abs() < 0.1, "{report:?}");
    // The estimator heard every command, at its control instant plus the delay.
    let heard = heard.lock().unwrap().clone();
    let expected: Vec<_> = commands.iter().map(|(t, u)| (t + 0.005, *u)).collect();
    assert_eq!(heard, expected);
    let summary = format!("{:?} {:?}", report.sensors, report.final_state);
    (bits, summary, heard)
}

#[test]
fn a_world_written_here_runs_in_lockstep_and_repeats_bit_for_bit() {
    let (a, sa, _) = lockstep_run(7);
    let (b, sb, _) = lockstep_run(7);
    assert!(a == b && sa == sb, "same seed, same run");
    let (c, _, _) = lockstep_run(8);
    assert!(a != c, "the seed reaches the sensor noise");
}

#[test]
fn in_real_time_the_estimate_and_its_world_model_cross_the_slot_and_commands_come_back() {
    // No ground truth: the loop runs on readings alone, as on hardware.
    let mut world = Cart::new(1, false);
    let mut policy = Pd::default();
    let mut estimator = FixEstimator::default();
    let heard = Arc::clone(&estimator.heard);
    let mut settled = 0;
    let mut hook = |r: &StepRecord<'_>| {
        assert!(r.true_state.is_empty());
        settled += 1;
    };
    let mut config = LoopConfig::new(Mode::RealTime, 0.02, 0.6);
    config.actuation_delay_secs = 0.004;
    let report = run(
        &mut world,
        &mut policy,
        &mut estimator,
        &mut NullSink,
        &mut hook,
        &config,
    )
    .unwrap();
    assert_eq!(report.control_steps, 30);
    assert_eq!(settled, 30);
    assert!(report.final_state.is_empty() && report.min_clearance_m.is_none());
    assert!(policy.steps > 0);
    assert_eq!(
        policy.saw_obstacle, policy.steps,
        "every step saw the estimator's world model"
    );
    let heard = heard.lock().unwrap();
    // Every command settled before the world's end, each told once (those
    // of the last instant, settled after the end, act on nothing).
    assert!(heard.len() >= 28 && heard.len() <= 30, "{}", heard.len());
    assert!(heard.windows(2).all(|w| w[1].0 >= w[0].0));
    assert!(heard
        .iter()
        .all(|(at, _)| at.is_finite() && *at >= 0.004 - 1e-9));
}

/// A policy that holds a command, and sleeps through some periods.
struct Slow {
    slow_every: u64,
    sleep: Duration,
    steps: u64,
}

impl Policy for Slow {
    fn dimensions(&self) -> (usize, usize) {
        (2, 1)
    }
    fn step(
        &mut self,
        _t: f64,
        _e: &Estimate,
        command: &mut [f64],
    ) -> Result<StepStatus, PolicyError> {
        self.steps += 1;
        if self.steps.is_multiple_of(self.slow_every) {
            std::thread::sleep(self.sleep);
        }
        command[0] = 1.0;
        Ok(StepStatus::default())
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
    let mut world = Cart::new(1, true);
    let mut policy = Slow {
        slow_every: 5,
        sleep: Duration::from_millis(45),
        steps: 0,
    };
    let mut estimator = TruthEstimator::new(2);
    let mut records: Vec<(u64, CommandSource, f64)> = Vec::new();
    let mut hook = |r: &StepRecord<'_>| records.push((r.step, r.source, r.command[0]));
    let config = LoopConfig::new(Mode::RealTime, 0.02, 1.0);
    let report = run(
        &mut world,
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
    let mut world = Cart::new(3, true);
    let mut policy = Slow {
        slow_every: u64::MAX,
        sleep: Duration::ZERO,
        steps: 0,
    };
    let mut estimator = TruthEstimator::new(2);
    let steps = Arc::new(Mutex::new(0));
    let mut sink = SlowSink {
        steps: Arc::clone(&steps),
    };
    let mut config = LoopConfig::new(Mode::Lockstep, 0.01, 2.0);
    config.recorder_queue = 8;
    let report = run(
        &mut world,
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
    let mut world = Cart::new(4, true);
    let mut policy = Slow {
        slow_every: u64::MAX,
        sleep: Duration::ZERO,
        steps: 0,
    };
    let mut estimator = TruthEstimator::new(2);
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
        &mut world,
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

#[test]
fn a_world_that_fails_ends_the_run_with_its_error() {
    struct Nan;
    impl Policy for Nan {
        fn dimensions(&self) -> (usize, usize) {
            (2, 1)
        }
        fn step(&mut self, _: f64, _: &Estimate, u: &mut [f64]) -> Result<StepStatus, PolicyError> {
            u[0] = f64::NAN;
            Ok(StepStatus::default())
        }
        fn late_command(&self, _: f64, out: &mut [f64]) {
            out[0] = 0.0;
        }
        fn safe_command(&self, out: &mut [f64]) {
            out[0] = 0.0;
        }
    }
    let e = run(
        &mut Cart::new(0, true),
        &mut Nan,
        &mut TruthEstimator::new(2),
        &mut NullSink,
        &mut |_: &StepRecord<'_>| {},
        &LoopConfig::new(Mode::Lockstep, 0.02, 1.0),
    )
    .unwrap_err();
    // The variant names where it failed, its source what.
    let source = std::error::Error::source(&e).map(ToString::to_string);
    assert_eq!(e.to_string(), "world");
    assert!(
        source
            .as_deref()
            .is_some_and(|s| s.contains("non-finite command")),
        "{e}: {source:?}"
    );
}

/// A real-time iteration in miniature: the feedback applies a gain the
/// last preparation computed from the plan it left, and the preparation
/// needs the feedback before it (so running them out of order, or the
/// preparation on stale data, changes the commands).
struct Rti {
    split: bool,
    gain: f64,
    last_u: f64,
    prepared: u64,
    fed_back: u64,
}

impl Policy for Rti {
    fn dimensions(&self) -> (usize, usize) {
        (2, 1)
    }
    fn step(&mut self, t: f64, e: &Estimate, u: &mut [f64]) -> Result<StepStatus, PolicyError> {
        let status = self.feedback(t, e, u)?;
        self.prepare()?;
        Ok(status)
    }
    fn splits_step(&self) -> bool {
        self.split
    }
    fn feedback(
        &mut self,
        _t: f64,
        e: &Estimate,
        u: &mut [f64],
    ) -> Result<StepStatus, PolicyError> {
        assert_eq!(
            self.prepared, self.fed_back,
            "prepared before each feedback"
        );
        let x = e.state();
        u[0] = (self.gain * (1.0 - x[0]) - 3.0 * x[1]).clamp(-5.0, 5.0);
        self.last_u = u[0];
        self.fed_back += 1;
        Ok(StepStatus::default())
    }
    fn prepare(&mut self) -> Result<(), PolicyError> {
        self.gain = 3.0 + (self.last_u * 0.7).sin();
        self.prepared += 1;
        Ok(())
    }
    fn late_command(&self, _after_secs: f64, out: &mut [f64]) {
        out[0] = 0.0;
    }
    fn safe_command(&self, out: &mut [f64]) {
        out[0] = 0.0;
    }
}

fn rti_run(split: bool) -> (Vec<u64>, u64) {
    let mut world = Cart::new(3, true);
    let mut policy = Rti {
        split,
        gain: 3.0,
        last_u: 0.0,
        prepared: 0,
        fed_back: 0,
    };
    let mut estimator = FixEstimator::default();
    let mut bits = Vec::new();
    let mut hook = |r: &StepRecord<'_>| {
        bits.push(r.step);
        bits.extend(r.true_state.iter().map(|v| v.to_bits()));
        bits.extend(r.estimate.iter().map(|v| v.to_bits()));
        bits.extend(r.command.iter().map(|v| v.to_bits()));
    };
    let mut config = LoopConfig::new(Mode::Lockstep, 0.02, 4.0);
    config.actuation_delay_secs = 0.005;
    let report = run(
        &mut world,
        &mut policy,
        &mut estimator,
        &mut NullSink,
        &mut hook,
        &config,
    )
    .unwrap();
    assert_eq!(report.control_steps, 200);
    assert_eq!(report.step_secs.len(), 200);
    assert_eq!((policy.fed_back, policy.prepared), (200, 200));
    assert!((report.final_state[0] - 1.0).abs() < 0.1, "{report:?}");
    (bits, policy.prepared)
}

#[test]
fn a_split_step_prepared_beside_the_world_is_the_inline_step_bit_for_bit() {
    let (inline, _) = rti_run(false);
    let (split, _) = rti_run(true);
    assert_eq!(inline.len(), split.len());
    assert!(inline == split, "the overlap changed the run");
}

/// The cart with a shape: its rail from the origin to the cart (what a
/// deformable body's nodes would be).
struct Shaped {
    cart: Cart,
    shape: [[f64; 3]; 2],
}

impl World for Shaped {
    fn sensors(&self) -> &[SensorInfo] {
        self.cart.sensors()
    }
    fn input_len(&self) -> usize {
        1
    }
    fn time_secs(&self) -> f64 {
        self.cart.time_secs()
    }
    fn step_secs(&self) -> f64 {
        H
    }
    fn command(&self) -> &[f64] {
        self.cart.command()
    }
    fn advance_to(&mut self, t_secs: f64, command: &[f64]) -> Result<(), WorldError> {
        self.cart.advance_to(t_secs, command)?;
        self.shape[1][0] = self.cart.x[0];
        Ok(())
    }
    fn poll_readings(&mut self, t_secs: f64, out: &mut Vec<Reading>) {
        self.cart.poll_readings(t_secs, out);
    }
    fn true_state(&self) -> Option<&[f64]> {
        self.cart.true_state()
    }
    fn true_shape(&self) -> &[[f64; 3]] {
        &self.shape
    }
}

/// A shape as the sink got it: the step and its points.
type Seen = (u64, Vec<[f64; 3]>);

/// What the recorder got: truths and shapes, by step.
#[derive(Default)]
struct ShapeSink {
    truths: Arc<Mutex<Vec<(u64, f64)>>>,
    shapes: Arc<Mutex<Vec<Seen>>>,
}

impl Sink for ShapeSink {
    fn truth(&mut self, step: u64, _t: f64, state: &[f64]) {
        self.truths.lock().unwrap().push((step, state[0]));
    }
    fn shape(&mut self, step: u64, _t: f64, points: &[[f64; 3]]) {
        self.shapes.lock().unwrap().push((step, points.to_vec()));
    }
}

#[test]
fn a_worlds_shape_reaches_the_recorder_with_its_truth_at_every_step() {
    for mode in [Mode::Lockstep, Mode::RealTime] {
        let mut world = Shaped {
            cart: Cart::new(3, true),
            shape: [[0.0; 3]; 2],
        };
        let mut sink = ShapeSink::default();
        let (truths, shapes) = (Arc::clone(&sink.truths), Arc::clone(&sink.shapes));
        let config = LoopConfig::new(mode, 0.02, 1.0);
        let report = run(
            &mut world,
            &mut Pd::default(),
            &mut TruthEstimator::new(2),
            &mut sink,
            &mut |_: &StepRecord<'_>| {},
            &config,
        )
        .unwrap();
        assert_eq!(report.recorder_dropped, 0);
        let (truths, shapes) = (truths.lock().unwrap(), shapes.lock().unwrap());
        assert_eq!(shapes.len(), report.control_steps, "{mode:?}");
        assert_eq!(truths.len(), shapes.len());
        for ((k, p), (ks, points)) in truths.iter().zip(shapes.iter()) {
            assert_eq!(k, ks);
            assert_eq!(points.as_slice(), &[[0.0; 3], [*p, 0.0, 0.0]]);
        }
        assert!(truths.last().unwrap().1 > 0.1, "the cart moved");
    }
}
