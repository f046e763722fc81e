//! The EKFs: consistency (NEES), late and out-of-order readings, gating,
//! refusal of non-finite data, silent sensors.

mod common;

use common::{normal, normal3, rng, sensor};
use nalgebra::{Isometry3, Vector3};
use rand::RngExt;
use recede_model::robots::{
    ArmParams, CartPoleParams, DiffDriveParams, QuadrotorParams, RobotConfig,
};
use recede_model::GRAVITY;
use recede_msg::{Measurement, Reading, SensorId, SensorInfo, SensorKind, Stamp};
use recede_perception::{EkfConfig, Outcome, Perception, PerceptionConfig};

const ACCEL_STD: f64 = 0.05;
const GYRO_STD: f64 = 0.005;
const FIX_STD: f64 = 0.02;

fn quad_sensors() -> Vec<SensorInfo> {
    vec![
        sensor(
            0,
            "imu",
            SensorKind::Imu,
            200.0,
            Isometry3::identity(),
            None,
        ),
        sensor(
            1,
            "fix",
            SensorKind::PositionFix,
            50.0,
            Isometry3::translation(0.05, 0.0, 0.1),
            None,
        ),
    ]
}

fn static_config() -> EkfConfig {
    EkfConfig {
        imu_accel_noise_std_mps2: ACCEL_STD,
        imu_gyro_noise_std_radps: GYRO_STD,
        accel_process_std_mps2_per_sqrt_s: 0.0,
        imu_accel_bias_walk_mps2_per_sqrt_s: 0.0,
        imu_gyro_bias_walk_radps_per_sqrt_s: 0.0,
        position_fix_std_m: FIX_STD,
        position_fix_yaw_std_rad: 0.01,
        ..EkfConfig::default()
    }
}

fn hover_x0(p: [f64; 3]) -> Vec<f64> {
    let mut x = vec![0.0; 13];
    x[..3].copy_from_slice(&p);
    x[3] = 1.0;
    x
}

/// A quadrotor at rest at `truth`: IMU at 200 Hz, fixes at 50 Hz, in stamp
/// order, `secs` long.
fn static_stream(seed: u64, truth: Vector3<f64>, secs: f64) -> Vec<Reading> {
    let mut r = rng(seed);
    let mut out = Vec::new();
    let n = (secs * 200.0) as usize;
    for k in 1..=n {
        let t = k as f64 / 200.0;
        out.push(Reading {
            sensor: SensorId(0),
            stamp: Stamp::new(t, 0.0),
            measurement: Measurement::Imu {
                specific_force_mps2: Vector3::new(0.0, 0.0, GRAVITY) + normal3(&mut r) * ACCEL_STD,
                gyro_radps: normal3(&mut r) * GYRO_STD,
            },
        });
        if k % 4 == 0 {
            out.push(Reading {
                sensor: SensorId(1),
                stamp: Stamp::new(t, 0.0),
                measurement: Measurement::PositionFix {
                    position_m: truth + Vector3::new(0.05, 0.0, 0.1) + normal3(&mut r) * FIX_STD,
                    yaw_rad: normal(&mut r) * 0.01,
                },
            });
        }
    }
    out
}

fn quad(config: &EkfConfig, x0: &[f64]) -> Perception {
    Perception::new(
        config,
        &PerceptionConfig::default(),
        &RobotConfig::Quadrotor(QuadrotorParams::default()),
        &quad_sensors(),
        x0,
    )
    .expect("perception builds")
}

#[test]
fn nees_of_a_static_run_is_inside_its_95_percent_band() {
    // 12 runs, NEES of the position sampled once a second over 4 s after
    // a 1 s settling time: 48 samples of a 3-dof statistic.
    let (runs, samples_per_run) = (12, 4);
    let mut sum = 0.0;
    for seed in 0..runs {
        let truth = Vector3::new(1.0, -2.0, 1.5);
        // Start off by a draw from the initial covariance.
        let mut r = rng(1000 + seed);
        let start = truth + normal3(&mut r) * 0.05;
        let mut p = quad(&static_config(), &hover_x0(start.into()));
        for reading in static_stream(seed, truth, 1.0 + samples_per_run as f64) {
            let t = reading.stamp.stamp_secs;
            p.on_reading(&reading);
            let whole = (t - t.round()).abs() < 1e-9 && t.round() >= 2.0;
            if whole && reading.sensor == SensorId(1) {
                let est = p.estimate(t).state.clone();
                let e = Vector3::new(est[0], est[1], est[2]) - truth;
                let cov = p.position_covariance(t).expect("quadrotor");
                sum += e.dot(&(cov.try_inverse().expect("invertible") * e));
            }
        }
    }
    let n = (runs * samples_per_run) as f64;
    let mean = sum / n;
    // chi2(3n) 2.5% and 97.5% quantiles over n, Wilson-Hilferty.
    let k = 3.0 * n;
    let q = |z: f64| k * (1.0 - 2.0 / (9.0 * k) + z * (2.0 / (9.0 * k)).sqrt()).powi(3) / n;
    let (lo, hi) = (q(-1.96), q(1.96));
    eprintln!("mean NEES {mean:.3}, 95% band [{lo:.3}, {hi:.3}]");
    assert!(
        lo < mean && mean < hi,
        "mean NEES {mean:.3} outside [{lo:.3}, {hi:.3}]"
    );
}

#[test]
fn out_of_order_readings_give_the_in_order_estimate() {
    let truth = Vector3::new(0.0, 0.0, 2.0);
    let stream = static_stream(3, truth, 2.0);
    let mut in_order = quad(&static_config(), &hover_x0([0.1, 0.0, 2.0]));
    for r in &stream {
        in_order.on_reading(r);
    }
    // Fixes arrive 80 ms late, after the IMU samples that follow them.
    let mut late = stream.clone();
    late.sort_by(|a, b| {
        let key =
            |r: &Reading| r.stamp.stamp_secs + if r.sensor == SensorId(1) { 0.08 } else { 0.0 };
        key(a).total_cmp(&key(b))
    });
    assert_ne!(late, stream);
    let mut shuffled = quad(&static_config(), &hover_x0([0.1, 0.0, 2.0]));
    for r in &late {
        assert_ne!(shuffled.on_reading(r), Outcome::TooLate);
    }
    let a = in_order.estimate(2.0).clone();
    let b = shuffled.estimate(2.0).clone();
    for (x, y) in a.state.iter().zip(&b.state).chain(a.std.iter().zip(&b.std)) {
        assert!((x - y).abs() < 1e-9, "{:?}\n{:?}", a, b);
    }
    // Older than the history: refused and counted.
    let mut too_old = stream[4].clone();
    assert_eq!(too_old.sensor, SensorId(1));
    too_old.stamp = Stamp::new(0.5, 1.5);
    assert_eq!(shuffled.on_reading(&too_old), Outcome::TooLate);
    assert_eq!(shuffled.sensor_stats()[1].too_late, 1);
}

#[test]
fn gating_rejects_injected_outliers_and_counts_them() {
    let truth = Vector3::new(0.0, 0.0, 2.0);
    let mut stream = static_stream(5, truth, 4.0);
    let mut injected = 0;
    let mut r = rng(77);
    for reading in stream.iter_mut() {
        match &mut reading.measurement {
            Measurement::PositionFix { position_m, .. }
                if reading.stamp.stamp_secs > 1.0 && r.random::<f64>() < 0.1 =>
            {
                *position_m += Vector3::new(0.0, 3.0, 0.0);
                injected += 1;
            }
            Measurement::Imu {
                specific_force_mps2,
                ..
            } if reading.stamp.stamp_secs > 1.0 && r.random::<f64>() < 0.01 => {
                *specific_force_mps2 += Vector3::new(25.0, 0.0, 0.0);
                injected += 1;
            }
            _ => {}
        }
    }
    assert!(injected > 10);
    let mut p = quad(&EkfConfig::default(), &hover_x0([0.0, 0.0, 2.0]));
    for reading in &stream {
        p.on_reading(reading);
    }
    let rejected: u64 = p.sensor_stats().iter().map(|s| s.rejected).sum();
    assert_eq!(rejected, injected);
    let est = p.estimate(4.0);
    let e = (Vector3::new(est.state[0], est.state[1], est.state[2]) - truth).norm();
    assert!(e < 0.05, "error {e}");
}

#[test]
fn a_non_finite_reading_is_refused_and_the_estimate_stays_finite() {
    let mut p = quad(&EkfConfig::default(), &hover_x0([0.0, 0.0, 2.0]));
    let stream = static_stream(9, Vector3::new(0.0, 0.0, 2.0), 1.0);
    for r in &stream[..100] {
        p.on_reading(r);
    }
    let bad_fix = Reading {
        sensor: SensorId(1),
        stamp: Stamp::new(0.51, 0.0),
        measurement: Measurement::PositionFix {
            position_m: Vector3::new(f64::NAN, 0.0, 2.0),
            yaw_rad: 0.0,
        },
    };
    let bad_imu = Reading {
        sensor: SensorId(0),
        stamp: Stamp::new(0.512, 0.0),
        measurement: Measurement::Imu {
            specific_force_mps2: Vector3::new(0.0, f64::INFINITY, 9.8),
            gyro_radps: Vector3::zeros(),
        },
    };
    assert_eq!(p.on_reading(&bad_fix), Outcome::NonFinite);
    assert_eq!(p.on_reading(&bad_imu), Outcome::NonFinite);
    for r in &stream[100..] {
        p.on_reading(r);
    }
    let stats = p.sensor_stats();
    assert_eq!((stats[0].non_finite, stats[1].non_finite), (1, 1));
    let est = p.estimate(1.0);
    assert!(est.state.iter().chain(&est.std).all(|v| v.is_finite()));
    assert!((est.state[2] - 2.0).abs() < 0.05);
}

#[test]
fn a_silent_fix_lets_the_covariance_grow_and_recovers() {
    let truth = Vector3::new(0.0, 0.0, 2.0);
    let stream = static_stream(11, truth, 6.0);
    let mut p = quad(&EkfConfig::default(), &hover_x0([0.0, 0.0, 2.0]));
    let mut std_before = 0.0;
    let mut std_during = 0.0;
    for r in &stream {
        let t = r.stamp.stamp_secs;
        let silent = (2.0..5.0).contains(&t) && r.sensor == SensorId(1);
        if !silent {
            p.on_reading(r);
        }
        if (t - 2.0).abs() < 1e-9 && r.sensor == SensorId(0) {
            std_before = p.estimate(t).std[0];
        }
        if (t - 4.99).abs() < 1e-9 && r.sensor == SensorId(0) {
            std_during = p.estimate(t).std[0];
            assert!(p.estimate(t).state.iter().all(|v| v.is_finite()));
        }
    }
    assert!(
        std_during > 3.0 * std_before,
        "{std_before} -> {std_during}"
    );
    let est = p.estimate(6.0);
    assert!(
        est.std[0] < 1.5 * std_before,
        "{std_before} vs {}",
        est.std[0]
    );
    let e = (Vector3::new(est.state[0], est.state[1], est.state[2]) - truth).norm();
    assert!(e < 0.05, "error {e}");
    // Fix samples missing from the stream count as dropped: the 150 held
    // back and the one at t = 0 the stream starts without.
    assert_eq!(p.sensor_stats()[1].dropped, 151);
}

#[test]
fn ground_robot_tracks_a_turning_path_from_encoders_gyro_and_fixes() {
    let params = DiffDriveParams::default();
    let (r_w, track) = (params.wheel_radius_m, params.track_width_m);
    let ticks_per_rev = 1024u32;
    let sensors = vec![
        sensor(
            0,
            "imu",
            SensorKind::Imu,
            100.0,
            Isometry3::identity(),
            None,
        ),
        sensor(
            1,
            "fix",
            SensorKind::PositionFix,
            10.0,
            Isometry3::translation(0.1, 0.0, 0.3),
            None,
        ),
        sensor(
            2,
            "wheels",
            SensorKind::Encoders,
            50.0,
            Isometry3::identity(),
            None,
        ),
    ];
    let config = EkfConfig {
        encoder_ticks_per_rev: ticks_per_rev,
        position_fix_std_m: 0.03,
        ..EkfConfig::default()
    };
    let mut p = Perception::new(
        &config,
        &PerceptionConfig::default(),
        &RobotConfig::DiffDrive(params),
        &sensors,
        &[0.0; 5],
    )
    .unwrap();
    let mut r = rng(21);
    // Truth: accelerate to 0.8 m/s while turning at 0.3 rad/s, 1 kHz.
    let (mut x, mut y, mut yaw, mut v, mut w) = (0.0f64, 0.0f64, 0.0f64, 0.0f64, 0.0f64);
    let (mut left, mut right) = (0.0f64, 0.0f64);
    let dt = 0.001;
    let (mut sq, mut n) = (0.0, 0);
    for k in 1..=8000 {
        let t = k as f64 * dt;
        let a = if v < 0.8 { 0.5 } else { 0.0 };
        let alpha = if w < 0.3 { 0.5 } else { 0.0 };
        if k % 20 == 0 {
            p.on_command(t - dt, &[a, alpha]);
        }
        x += v * yaw.cos() * dt;
        y += v * yaw.sin() * dt;
        yaw += w * dt;
        v += a * dt;
        w += alpha * dt;
        left += (v - w * 0.5 * track) / r_w * dt;
        right += (v + w * 0.5 * track) / r_w * dt;
        let stamp = Stamp::new(t, 0.0);
        if k % 10 == 0 {
            p.on_reading(&Reading {
                sensor: SensorId(0),
                stamp,
                measurement: Measurement::Imu {
                    specific_force_mps2: Vector3::new(a, v * w, GRAVITY) + normal3(&mut r) * 0.05,
                    gyro_radps: Vector3::new(0.0, 0.0, w) + normal3(&mut r) * 0.005,
                },
            });
        }
        if k % 20 == 0 {
            let per = ticks_per_rev as f64 / std::f64::consts::TAU;
            p.on_reading(&Reading {
                sensor: SensorId(2),
                stamp,
                measurement: Measurement::Encoders {
                    ticks: vec![(left * per).floor() as i64, (right * per).floor() as i64],
                },
            });
        }
        if k % 100 == 0 {
            let (s, c) = yaw.sin_cos();
            p.on_reading(&Reading {
                sensor: SensorId(1),
                stamp,
                measurement: Measurement::PositionFix {
                    position_m: Vector3::new(x + 0.1 * c, y + 0.1 * s, 0.3)
                        + normal3(&mut r) * 0.03,
                    yaw_rad: yaw + normal(&mut r) * 0.02,
                },
            });
            if t > 1.0 {
                let e = p.estimate(t);
                sq += (e.state[0] - x).powi(2) + (e.state[1] - y).powi(2);
                n += 1;
            }
        }
    }
    let rmse = (sq / n as f64).sqrt();
    assert!(rmse < 0.05, "position rmse {rmse}");
    let e = p.estimate(8.0);
    assert!(
        (e.state[3] - v).abs() < 0.05 && (e.state[4] - w).abs() < 0.05,
        "{e:?}"
    );
    assert!(
        p.sensor_stats().iter().all(|s| s.rejected <= 2),
        "{:?}",
        p.sensor_stats()
    );
}

#[test]
fn cart_pole_from_its_pole_encoder_and_cart_position() {
    let sensors = vec![
        sensor(
            0,
            "fix",
            SensorKind::PositionFix,
            50.0,
            Isometry3::identity(),
            None,
        ),
        sensor(
            1,
            "pole",
            SensorKind::Encoders,
            100.0,
            Isometry3::identity(),
            None,
        ),
    ];
    let config = EkfConfig {
        encoder_ticks_per_rev: 4096,
        position_fix_std_m: 0.01,
        ..EkfConfig::default()
    };
    let robot = RobotConfig::CartPole(CartPoleParams::default());
    let mut p = Perception::new(
        &config,
        &PerceptionConfig::default(),
        &robot,
        &sensors,
        &[0.0, 0.2, 0.0, 0.0],
    )
    .unwrap();
    // Truth: the pole falls from 0.2 rad under zero force (the model's own
    // dynamics), integrated finely.
    let model = recede_model::robots::CartPole::new(CartPoleParams::default()).unwrap();
    let rk4 = recede_model::Rk4::new(0.001, 1);
    let mut x = nalgebra::SVector::<f64, 4>::new(0.0, 0.2, 0.0, 0.0);
    let mut r = rng(4);
    p.on_command(0.0, &[0.0]);
    for k in 1..=800 {
        x = rk4.step(&model, &x, &nalgebra::SVector::<f64, 1>::zeros());
        let t = k as f64 * 0.001;
        if k % 10 == 0 {
            let ticks = (x[1] * 4096.0 / std::f64::consts::TAU).floor() as i64;
            p.on_reading(&Reading {
                sensor: SensorId(1),
                stamp: Stamp::new(t, 0.0),
                measurement: Measurement::Encoders { ticks: vec![ticks] },
            });
        }
        if k % 20 == 0 {
            p.on_reading(&Reading {
                sensor: SensorId(0),
                stamp: Stamp::new(t, 0.0),
                measurement: Measurement::PositionFix {
                    position_m: Vector3::new(x[0] + normal(&mut r) * 0.01, 0.0, 0.0),
                    yaw_rad: 0.0,
                },
            });
        }
    }
    let e = p.estimate(0.8);
    // Positions and angles to a few centimetres / hundredths of a radian,
    // rates (not measured directly) to a tenth or so.
    let tol = [0.03, 0.03, 0.15, 0.15];
    for i in 0..4 {
        assert!(
            (e.state[i] - x[i]).abs() < tol[i],
            "{i}: {:?} vs {x}",
            e.state
        );
    }
}

#[test]
fn arm_from_its_joint_encoders() {
    let sensors = vec![sensor(
        0,
        "joints",
        SensorKind::Encoders,
        200.0,
        Isometry3::identity(),
        None,
    )];
    let config = EkfConfig {
        encoder_ticks_per_rev: 4096,
        ..EkfConfig::default()
    };
    let robot = RobotConfig::Arm(ArmParams::default());
    let x0 = [0.3, -0.2, 0.0, 0.0];
    let mut p =
        Perception::new(&config, &PerceptionConfig::default(), &robot, &sensors, &x0).unwrap();
    // Truth: the arm swings down under gravity with no torque.
    let model = recede_model::robots::Arm::new(ArmParams::default()).unwrap();
    let rk4 = recede_model::Rk4::new(0.001, 1);
    let mut x = nalgebra::SVector::<f64, 4>::from(x0);
    p.on_command(0.0, &[0.0, 0.0]);
    for k in 1..=600 {
        x = rk4.step(&model, &x, &nalgebra::SVector::<f64, 2>::zeros());
        if k % 5 == 0 {
            let per = 4096.0 / std::f64::consts::TAU;
            p.on_reading(&Reading {
                sensor: SensorId(0),
                stamp: Stamp::new(k as f64 * 0.001, 0.0),
                measurement: Measurement::Encoders {
                    ticks: vec![(x[0] * per).floor() as i64, (x[1] * per).floor() as i64],
                },
            });
        }
    }
    let e = p.estimate(0.6);
    let tol = [0.01, 0.01, 0.1, 0.1];
    for i in 0..4 {
        assert!(
            (e.state[i] - x[i]).abs() < tol[i],
            "{i}: {:?} vs {x}",
            e.state
        );
    }
    assert_eq!(p.sensor_stats()[0].rejected, 0);
}

/// A filter sure of a wrong state (initial spread 1 um, almost no process
/// noise, the cart 0.5 m from where it is) rejects the fixes at its gate;
/// the `gate_reset_after`-th rejection in a row re-opens its covariance and
/// is fused, and the estimate follows the fixes from then on.
#[test]
fn an_overconfident_model_filter_recovers_after_a_run_of_rejections() {
    let sensors = vec![sensor(
        0,
        "fix",
        SensorKind::PositionFix,
        50.0,
        Isometry3::identity(),
        None,
    )];
    let config = EkfConfig {
        position_fix_std_m: 0.01,
        initial_std: Some(vec![1e-6; 4]),
        process_std_per_sqrt_s: Some(vec![1e-9; 4]),
        ..EkfConfig::default()
    };
    let robot = RobotConfig::CartPole(CartPoleParams::default());
    let mut p = Perception::new(
        &config,
        &PerceptionConfig::default(),
        &robot,
        &sensors,
        &[0.0; 4],
    )
    .unwrap();
    p.on_command(0.0, &[0.0]);
    let mut r = rng(11);
    // The cart at rest at 0.5 m, the pole upright: an equilibrium.
    let mut outcomes = Vec::new();
    for k in 1..=50 {
        outcomes.push(p.on_reading(&Reading {
            sensor: SensorId(0),
            stamp: Stamp::new(k as f64 * 0.02, 0.0),
            measurement: Measurement::PositionFix {
                position_m: Vector3::new(0.5 + normal(&mut r) * 0.01, 0.0, 0.0),
                yaw_rad: 0.0,
            },
        }));
    }
    let after = config.gate_reset_after as usize;
    assert!(
        outcomes[..after - 1]
            .iter()
            .all(|o| matches!(o, Outcome::Rejected { .. })),
        "{outcomes:?}"
    );
    assert_eq!(outcomes[after - 1], Outcome::Recovered, "{outcomes:?}");
    assert!(
        outcomes[after..].iter().all(|o| *o == Outcome::Used),
        "{outcomes:?}"
    );
    let stats = &p.sensor_stats()[0];
    assert_eq!((stats.rejected, stats.gate_resets), (after as u64 - 1, 1));
    let e = p.estimate(1.0);
    assert!((e.state[0] - 0.5).abs() < 0.02, "{:?}", e.state);
}
