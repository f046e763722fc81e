//! Each true plant with its extra effects set to zero is the nominal model:
//! the same state to 1e-12 after 1 s of RK4 at 1 kHz. With the effects on,
//! it is not.

use nalgebra::SVector;
use recede_model::robots::{Arm, CartPole, DiffDrive, Quadrotor};
use recede_model::{Dynamics, Rk4};
use recede_sim::config::PlantConfig;

fn plant(toml_text: &str) -> PlantConfig {
    toml::from_str(toml_text).expect("plant config")
}

/// Runs the configured plant and the nominal model side by side under the
/// same commands (inside the actuator limits) and returns the largest
/// difference after 1 s.
fn gap<D: Dynamics<NX, NU>, const NX: usize, const NU: usize>(
    config: &PlantConfig,
    nominal: &D,
    x0: SVector<f64, NX>,
    command: impl Fn(f64) -> [f64; NU],
) -> f64 {
    let mut p = config.build(1).expect("plant builds");
    p.set_state(x0.as_slice()).expect("state length");
    let rk4 = Rk4::new(0.001, 1);
    let mut x = x0;
    for k in 0..1000 {
        let t = k as f64 * 0.001;
        let u = command(t);
        p.step(t, &u).expect("steps");
        x = rk4.step(nominal, &x, &SVector::from(u));
    }
    p.state()
        .iter()
        .zip(x.iter())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max)
}

#[test]
fn quadrotor_without_drag_is_nominal() {
    let zero = plant(
        r#"robot = { kind = "quadrotor", drag_linear_n_s_per_m = [0.0, 0.0, 0.0], drag_quadratic_n_s2_per_m2 = [0.0, 0.0, 0.0] }"#,
    );
    let mut x0 = Quadrotor::hover_state([1.0, -2.0, 3.0]);
    x0[7] = 4.0;
    x0[8] = -1.0;
    x0[10] = 0.3;
    let u = |t: f64| [2.6 + 0.3 * t, 2.4, 2.5 - 0.2 * t, 2.45];
    let q = Quadrotor::default();
    assert!(gap(&zero, &q, x0, u) < 1e-12);
    let p2 = plant(r#"robot = { kind = "quadrotor" }"#);
    assert!(gap(&p2, &q, x0, u) > 1e-3, "P2 drag must change the motion");
}

#[test]
fn cartpole_without_friction_is_nominal() {
    let zero = plant(r#"robot = { kind = "cart_pole" }"#);
    let x0 = SVector::<f64, 4>::new(0.1, 2.5, 0.3, -0.5);
    let u = |t: f64| [20.0 * (5.0 * t).sin()];
    assert!(gap(&zero, &CartPole::default(), x0, u) < 1e-12);
    let rough = plant(
        r#"robot = { kind = "cart_pole", cart_viscous_friction_n_s_per_m = 0.5, cart_coulomb_friction_n = 0.3, pole_damping_n_m_s_per_rad = 0.01 }"#,
    );
    assert!(gap(&rough, &CartPole::default(), x0, u) > 1e-3);
}

#[test]
fn diffdrive_without_resistance_is_nominal() {
    let zero = plant(r#"robot = { kind = "diff_drive" }"#);
    let x0 = SVector::<f64, 5>::new(1.0, 2.0, 0.5, 0.4, 0.1);
    let u = |t: f64| [0.5 * (2.0 * t).cos(), -0.8 * t];
    assert!(gap(&zero, &DiffDrive::default(), x0, u) < 1e-12);
    let rough = plant(
        r#"robot = { kind = "diff_drive", rolling_resistance_coeff = 0.02, speed_drag_per_sec = 0.3 }"#,
    );
    assert!(gap(&rough, &DiffDrive::default(), x0, u) > 1e-3);
}

#[test]
fn arm_without_friction_or_payload_is_nominal() {
    let zero = plant(r#"robot = { kind = "arm" }"#);
    let x0 = SVector::<f64, 4>::new(0.3, -0.6, 0.5, 1.0);
    let u = |t: f64| [5.0 + 3.0 * t, -2.0 * (3.0 * t).sin()];
    assert!(gap(&zero, &Arm::default(), x0, u) < 1e-12);
    let heavy = plant(
        r#"robot = { kind = "arm", extra_payload_kg = 0.5, joint_viscous_friction_n_m_s_per_rad = [0.1, 0.1] }"#,
    );
    assert!(gap(&heavy, &Arm::default(), x0, u) > 1e-3);
}

#[test]
fn actuators_saturate_and_lag() {
    let lagged = plant(
        r#"
        robot = { kind = "cart_pole" }
        actuator = { lower = [-10.0], upper = [10.0], lag_time_constant_secs = 0.05 }
        "#,
    );
    let mut p = lagged.build(0).expect("builds");
    for k in 0..50 {
        p.step(k as f64 * 0.001, &[100.0]).expect("steps");
    }
    // 50 ms with a 50 ms lag towards the saturated 10 N: 10 (1 - 1/e).
    let applied = p.applied_input()[0];
    assert!(
        (applied - 10.0 * (1.0 - (-1.0f64).exp())).abs() < 1e-9,
        "{applied}"
    );
    assert!(p.step(0.05, &[f64::NAN]).is_err());
    assert!(p.step(0.05, &[1.0, 2.0]).is_err());
}
