//! Bad scenario sections are rejected with an error naming the key.

use recede_sim::config::{validate_sensors, PlantConfig, SensorConfig, WorldConfig};
use recede_sim::Simulator;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Sensors {
    sensors: Vec<SensorConfig>,
}

fn sensors(text: &str) -> Result<Vec<SensorConfig>, toml::de::Error> {
    toml::from_str::<Sensors>(text).map(|s| s.sensors)
}

const DEPTH: &str = r#"
[[sensors]]
name = "depth_front"
rate_hz = RATE
model = { kind = "depth_camera", width_px = 160, height_px = 120, hfov_rad = 1.2, max_range_m = 10.0, noise_std_m = NOISE }
"#;

fn depth(rate: &str, noise: &str) -> Vec<SensorConfig> {
    sensors(&DEPTH.replace("RATE", rate).replace("NOISE", noise)).expect("parses")
}

#[test]
fn zero_rate_is_rejected_naming_the_key() {
    let err = validate_sensors(&depth("0.0", "0.01")).expect_err("zero rate");
    assert_eq!(err.key, "sensors.depth_front.rate_hz");
    assert!(
        err.to_string()
            .starts_with("sensors.depth_front.rate_hz: expected"),
        "{err}"
    );
    validate_sensors(&depth("30.0", "0.01")).expect("a good config passes");
}

#[test]
fn huge_and_tiny_values_are_shown_in_exponent_form() {
    // A fuzzed file may carry 1e308: the message shows it as written, not as
    // 309 digits, and keeps ordinary values as they are.
    let err = validate_sensors(&depth("30.0", "-1e308")).expect_err("negative noise");
    assert_eq!(err.got, "-1e308", "{err}");
    let err = validate_sensors(&depth("-1e-300", "0.01")).expect_err("negative rate");
    assert_eq!(err.got, "-1e-300", "{err}");
    let err = validate_sensors(&depth("30.0", "-0.5")).expect_err("negative noise");
    assert_eq!(err.got, "-0.5", "{err}");
}

#[test]
fn negative_noise_is_rejected_naming_the_key() {
    let err = validate_sensors(&depth("30.0", "-0.01")).expect_err("negative noise");
    assert_eq!(err.key, "sensors.depth_front.model.noise_std_m");
    // The simulator refuses it too, with the same key.
    let plant: PlantConfig = toml::from_str("robot = { kind = \"cart_pole\" }").expect("plant");
    let err = Simulator::from_config(&plant, &WorldConfig::default(), &depth("30.0", "-0.01"), 0)
        .expect_err("refused");
    // The error prints once (its source names the key), as a CLI's chain shows it.
    let source = std::error::Error::source(&err).map(ToString::to_string);
    assert!(
        source
            .as_deref()
            .is_some_and(|s| s.contains("sensors.depth_front.model.noise_std_m")),
        "{err}"
    );
}

#[test]
fn unknown_sensor_kind_and_unknown_keys_are_rejected() {
    let err = sensors(
        r#"
        [[sensors]]
        name = "sonar_front"
        rate_hz = 10.0
        model = { kind = "sonar", max_range_m = 4.0 }
        "#,
    )
    .expect_err("unknown kind");
    let msg = err.to_string();
    assert!(msg.contains("sonar") && msg.contains("kind"), "{msg}");
    assert!(msg.contains("depth_camera"), "lists the known kinds: {msg}");

    let err = sensors(
        r#"
        [[sensors]]
        name = "imu"
        rate_hz = 100.0
        latency_ms = 3.0
        model = { kind = "imu" }
        "#,
    )
    .expect_err("unknown key");
    assert!(err.to_string().contains("latency_ms"), "{err}");
}

#[test]
fn duplicate_names_and_bad_plant_and_world_values_name_their_keys() {
    let mut two = depth("30.0", "0.0");
    two.extend(depth("30.0", "0.0"));
    assert_eq!(
        validate_sensors(&two).expect_err("duplicate").key,
        "sensors.depth_front.name"
    );

    let plant: PlantConfig =
        toml::from_str("robot = { kind = \"diff_drive\", wheel_slip_ratio = 1.5 }")
            .expect("parses");
    assert_eq!(
        plant.validate().expect_err("slip").key,
        "plant.robot.wheel_slip_ratio"
    );
    let gust: PlantConfig = toml::from_str(
        "robot = { kind = \"arm\" }\ndisturbances = [{ kind = \"gust\", start_secs = 0.0, duration_secs = 1.0 }]",
    )
    .expect("parses");
    assert_eq!(
        gust.validate().expect_err("gust on arm").key,
        "plant.disturbances[0].kind"
    );

    let world: WorldConfig = toml::from_str(
        "objects = [{ name = \"ball\", shape = { kind = \"sphere\", center_m = [0.0, 0.0, 1.0], radius_m = -1.0 } }]",
    )
    .expect("parses");
    assert_eq!(
        world.validate().expect_err("radius").key,
        "world.objects.ball.shape.radius_m"
    );
}
