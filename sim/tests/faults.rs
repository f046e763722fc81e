//! Dropout and outlier rates match their probabilities within statistical
//! tolerance; scripted outages silence a sensor.

use nalgebra::Vector3;
use recede_msg::Measurement;
use recede_sim::config::{PlantConfig, SensorConfig, WorldConfig};
use recede_sim::Simulator;

fn cartpole() -> PlantConfig {
    toml::from_str("robot = { kind = \"cart_pole\" }").expect("plant config")
}

fn fix(name: &str, dropout: f64, outlier: f64) -> SensorConfig {
    toml::from_str(&format!(
        r#"
        name = "{name}"
        rate_hz = 1000.0
        dropout = {{ probability = {dropout}, outages = [{{ start_secs = 2.0, end_secs = 3.0 }}] }}
        outliers = {{ probability = {outlier}, magnitude = 5.0 }}
        model = {{ kind = "position_fix" }}
        "#
    ))
    .expect("fix config")
}

#[test]
fn dropout_and_outlier_rates_match_their_probabilities() {
    let sensors = [fix("lossy", 0.2, 0.0), fix("wild", 0.0, 0.05)];
    let mut sim =
        Simulator::from_config(&cartpole(), &WorldConfig::default(), &sensors, 3).expect("builds");
    // The cart-pole at rest, pole upright: the true position stays 0.
    sim.advance(12.0, &[0.0]).expect("steps");
    let readings = sim.poll(f64::INFINITY);
    let lossy: Vec<_> = readings.iter().filter(|r| r.sensor.0 == 0).collect();
    let wild: Vec<_> = readings.iter().filter(|r| r.sensor.0 == 1).collect();

    // Outage [2, 3): nothing from either sensor.
    assert!(readings
        .iter()
        .all(|r| !(2.0..3.0).contains(&r.stamp.stamp_secs)));

    // 12001 scheduled samples, 1000 in the outage: 11001 at risk.
    let at_risk = 11001.0;
    let expect_lossy = at_risk * 0.8;
    let sigma = (at_risk * 0.2 * 0.8f64).sqrt();
    let got = lossy.len() as f64;
    assert!(
        (got - expect_lossy).abs() < 5.0 * sigma,
        "lossy delivered {got}, expected {expect_lossy}"
    );
    assert_eq!(wild.len(), 11001);

    let outliers = wild
        .iter()
        .filter(|r| match &r.measurement {
            Measurement::PositionFix { position_m, .. } => {
                let off = (position_m - Vector3::zeros()).norm();
                assert!(off < 1e-9 || (off - 5.0).abs() < 1e-9, "offset {off}");
                off > 1.0
            }
            other => panic!("fix produced {other:?}"),
        })
        .count() as f64;
    let expect = at_risk * 0.05;
    let sigma = (at_risk * 0.05 * 0.95f64).sqrt();
    assert!(
        (outliers - expect).abs() < 5.0 * sigma,
        "{outliers} outliers, expected {expect}"
    );
}
