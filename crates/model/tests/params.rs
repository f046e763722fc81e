//! Every robot's parameters load from a TOML table, reject unknown keys, and
//! fail validation with an error that names the offending key.

use recede_model::robots::{ArmParams, CartPoleParams, DiffDriveParams, QuadrotorParams};
use recede_model::ModelError;
use serde::Deserialize;

/// A scenario-like file with the robot's parameters in a `[robot]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File<P> {
    robot: P,
}

fn load<P: for<'de> Deserialize<'de>>(table: &str) -> Result<P, toml::de::Error> {
    toml::from_str::<File<P>>(&format!("[robot]\n{table}")).map(|f| f.robot)
}

fn assert_rejects_unknown<P: for<'de> Deserialize<'de> + std::fmt::Debug>(table: &str, key: &str) {
    let err = load::<P>(table).expect_err("an unknown key must be rejected");
    assert!(
        err.to_string().contains(key),
        "error does not name `{key}`: {err}"
    );
}

fn assert_invalid(result: Result<(), ModelError>, key: &str) {
    match result {
        Err(ModelError::InvalidParameter { key: k, .. }) if k == key => {
            let msg = result.unwrap_err().to_string();
            assert!(msg.contains(key), "message does not name `{key}`: {msg}");
        }
        other => panic!("expected an invalid `{key}`, got {other:?}"),
    }
}

#[test]
fn cartpole_params_from_toml() {
    let p: CartPoleParams = load("pole_mass_kg = 0.2\npole_length_m = 1.0\n").unwrap();
    assert_eq!(
        p,
        CartPoleParams {
            pole_mass_kg: 0.2,
            pole_length_m: 1.0,
            ..CartPoleParams::default()
        }
    );
    p.validate().unwrap();
    assert_eq!(
        load::<CartPoleParams>("").unwrap(),
        CartPoleParams::default()
    );
    assert_rejects_unknown::<CartPoleParams>("pole_mass = 0.2\n", "pole_mass");
    assert_invalid(
        load::<CartPoleParams>("cart_mass_kg = -1.0")
            .unwrap()
            .validate(),
        "cart_mass_kg",
    );
}

#[test]
fn quadrotor_params_from_toml() {
    let p: QuadrotorParams = load("mass_kg = 1.2\nmax_thrust_n = 9.5\n").unwrap();
    assert_eq!(
        p,
        QuadrotorParams {
            mass_kg: 1.2,
            max_thrust_n: 9.5,
            ..QuadrotorParams::default()
        }
    );
    p.validate().unwrap();
    assert!((p.hover_thrust_n() - 1.2 * 9.81 / 4.0).abs() < 1e-15);
    assert_rejects_unknown::<QuadrotorParams>("inertia_kg_m2 = 0.01\n", "inertia_kg_m2");
    assert_invalid(
        load::<QuadrotorParams>("mass_kg = -1.0")
            .unwrap()
            .validate(),
        "mass_kg",
    );
    // A vehicle its rotors cannot hold up is rejected, naming the thrust limit.
    assert_invalid(
        load::<QuadrotorParams>("max_thrust_n = 2.0")
            .unwrap()
            .validate(),
        "max_thrust_n",
    );
    assert_invalid(
        load::<QuadrotorParams>("yaw_torque_coefficient_m = -0.01")
            .unwrap()
            .validate(),
        "yaw_torque_coefficient_m",
    );
}

#[test]
fn diffdrive_params_from_toml() {
    let p: DiffDriveParams = load("max_speed_m_s = 0.8\ntrack_width_m = 0.5\n").unwrap();
    assert_eq!(
        p,
        DiffDriveParams {
            max_speed_m_s: 0.8,
            track_width_m: 0.5,
            ..DiffDriveParams::default()
        }
    );
    p.validate().unwrap();
    assert_rejects_unknown::<DiffDriveParams>("max_speed = 1.0\n", "max_speed");
    // The kinematic model has no mass; its limits are what can be wrong.
    assert_invalid(
        load::<DiffDriveParams>("max_speed_m_s = -1.0")
            .unwrap()
            .validate(),
        "max_speed_m_s",
    );
    assert_invalid(
        load::<DiffDriveParams>("wheel_radius_m = 0.0")
            .unwrap()
            .validate(),
        "wheel_radius_m",
    );
}

#[test]
fn arm_params_from_toml() {
    let p: ArmParams = load("link2_length_m = 0.7\npayload_mass_kg = 0.5\n").unwrap();
    assert_eq!(
        p,
        ArmParams {
            link2_length_m: 0.7,
            payload_mass_kg: 0.5,
            ..ArmParams::default()
        }
    );
    p.validate().unwrap();
    assert_rejects_unknown::<ArmParams>("link3_length_m = 0.2\n", "link3_length_m");
    assert_invalid(
        load::<ArmParams>("link2_mass_kg = -1.0")
            .unwrap()
            .validate(),
        "link2_mass_kg",
    );
    assert_invalid(
        load::<ArmParams>("payload_mass_kg = -0.1")
            .unwrap()
            .validate(),
        "payload_mass_kg",
    );
    assert_invalid(
        load::<ArmParams>("link1_inertia_kg_m2 = -0.1")
            .unwrap()
            .validate(),
        "link1_inertia_kg_m2",
    );
    // Zero inertia (a point mass) and zero payload are valid.
    load::<ArmParams>("link1_inertia_kg_m2 = 0.0\npayload_mass_kg = 0.0")
        .unwrap()
        .validate()
        .unwrap();
}

#[test]
fn robot_config_is_tagged_by_kind_and_rejects_unknown_keys() {
    use recede_model::robots::RobotConfig;
    let ok: RobotConfig = toml::from_str("kind = \"cart_pole\"\npole_length_m = 0.5\n").unwrap();
    assert_eq!(ok.kind(), "cart_pole");
    assert_eq!(ok.dimensions(), (4, 1));
    let unknown = toml::from_str::<RobotConfig>("kind = \"quadrotor\"\nmass = 2.0\n").unwrap_err();
    assert!(unknown.to_string().contains("mass"), "{unknown}");
    let bad_kind = toml::from_str::<RobotConfig>("kind = \"submarine\"\n").unwrap_err();
    assert!(bad_kind.to_string().contains("submarine"), "{bad_kind}");
}

#[test]
fn cartpole_force_limit_is_a_parameter() {
    use recede_model::robots::CartPole;
    let cp = CartPole::new(CartPoleParams::default()).unwrap();
    let b = cp.input_bounds();
    assert_eq!((b.lower, b.upper), ([-80.0], [80.0]));
    let p: CartPoleParams = load("max_force_n = 40.0\n").unwrap();
    assert_eq!(CartPole::new(p).unwrap().input_bounds().upper, [40.0]);
    let e = load::<CartPoleParams>("max_force_n = -1.0")
        .unwrap()
        .validate()
        .unwrap_err();
    assert!(e.to_string().contains("max_force_n"), "{e}");
}
