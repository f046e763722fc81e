//! An IMU on a hovering quadrotor (zero acceleration, zero rate) reads +g
//! upward specific force and zero rate, within its noise.

mod common;

use recede_msg::Measurement;
use recede_sim::config::{SensorConfig, WorldConfig};
use recede_sim::Simulator;

fn imu(name: &str, rpy: [f64; 3]) -> SensorConfig {
    toml::from_str(&format!(
        r#"
        name = "{name}"
        rate_hz = 500.0
        mount = {{ translation_m = [0.05, 0.02, 0.03], rotation_rpy_rad = [{}, {}, {}] }}
        model = {{ kind = "imu", noise_std_accel_mps2 = 0.1, noise_std_gyro_radps = 0.01 }}
        "#,
        rpy[0], rpy[1], rpy[2]
    ))
    .expect("imu config")
}

#[test]
fn imu_at_rest_reads_plus_g_up_and_zero_rate() {
    let s = common::quadrotor();
    let sensors = [
        imu("upright", [0.0; 3]),
        imu("flipped", [std::f64::consts::PI, 0.0, 0.0]),
    ];
    let mut plant = s.plant.clone();
    plant.disturbances.clear();
    plant.actuator.lag_time_constant_secs = 0.0;
    // Level and still at 2 m (the scenario itself starts at 1 m/s).
    let mut x0 = vec![0.0; 13];
    x0[2] = 2.0;
    x0[3] = 1.0;
    plant.initial_state = Some(x0);
    let mut sim =
        Simulator::from_config(&plant, &WorldConfig::default(), &sensors, 11).expect("builds");
    sim.advance(2.0, &[9.81 / 4.0; 4]).expect("hovers");
    let readings = sim.poll(sim.time_secs());
    for (id, sign) in [(0u32, 1.0), (1, -1.0)] {
        let (mut f, mut w, mut n) = ([0.0; 3], [0.0; 3], 0.0);
        for r in readings.iter().filter(|r| r.sensor.0 == id) {
            let Measurement::Imu {
                specific_force_mps2,
                gyro_radps,
            } = &r.measurement
            else {
                panic!("IMU sensor produced {:?}", r.measurement);
            };
            for i in 0..3 {
                f[i] += specific_force_mps2[i];
                w[i] += gyro_radps[i];
            }
            n += 1.0;
        }
        assert_eq!(n, 1001.0, "500 Hz for 2 s plus the sample at t = 0");
        // Mean of n samples: std 0.1 / sqrt(n) ~ 0.003; allow 5 sigma.
        let tol_f = 5.0 * 0.1 / f64::sqrt(n);
        let tol_w = 5.0 * 0.01 / f64::sqrt(n);
        let expected = [0.0, 0.0, sign * 9.81];
        for i in 0..3 {
            assert!(
                (f[i] / n - expected[i]).abs() < tol_f,
                "sensor {id} axis {i}: {}",
                f[i] / n
            );
            assert!(
                (w[i] / n).abs() < tol_w,
                "sensor {id} gyro axis {i}: {}",
                w[i] / n
            );
        }
    }
    // The vehicle did not move.
    let x = sim.true_state();
    assert!((x[2] - 2.0).abs() < 1e-9 && x[7..].iter().all(|v| v.abs() < 1e-9));
}
