//! The ground robot's lidar sees the walls of a room at their distance;
//! wheel encoders count ticks of the wheel angle.

use recede_msg::Measurement;
use recede_sim::config::{PlantConfig, SensorConfig, WorldConfig};
use recede_sim::Simulator;

#[derive(Debug, serde::Deserialize)]
struct Scenario {
    plant: PlantConfig,
    world: WorldConfig,
    sensors: Vec<SensorConfig>,
}

const ROOM: &str = r#"
[plant]
robot = { kind = "diff_drive" }

[world]
objects = [
  { name = "east", shape = { kind = "box", center_m = [5.5, 0.0, 1.0], size_m = [1.0, 20.0, 2.0] } },
  { name = "north", shape = { kind = "box", center_m = [0.0, 3.5, 1.0], size_m = [20.0, 1.0, 2.0] } },
]

[[sensors]]
name = "lidar"
rate_hz = 10.0
mount = { translation_m = [0.0, 0.0, 0.3] }
model = { kind = "lidar_2d", beam_count = 181, fov_rad = 3.141592653589793, max_range_m = 30.0 }

[[sensors]]
name = "wheels"
rate_hz = 100.0
model = { kind = "encoders", ticks_per_rev = 1024 }
"#;

#[test]
fn lidar_ranges_the_walls_and_encoders_count_wheel_ticks() {
    let s: Scenario = toml::from_str(ROOM).expect("parses");
    let mut sim = Simulator::from_config(&s.plant, &s.world, &s.sensors, 1).expect("builds");
    let first = sim.poll(0.0);
    let scan = first
        .iter()
        .find_map(|r| match &r.measurement {
            Measurement::LidarScan(scan) => Some(scan.clone()),
            _ => None,
        })
        .expect("a scan at t = 0");
    assert_eq!(scan.ranges_m.len(), 181);
    // Beam 90 looks along +x at the east wall (face at x = 5), beam 180
    // along +y at the north wall (face at y = 3); beam 0 (-y) sees nothing.
    assert!(
        (scan.ranges_m[90] - 5.0).abs() < 1e-5,
        "{}",
        scan.ranges_m[90]
    );
    assert!(
        (scan.ranges_m[180] - 3.0).abs() < 1e-5,
        "{}",
        scan.ranges_m[180]
    );
    assert!(scan.ranges_m[0].is_nan());

    // Accelerate at 0.5 m/s^2 for 1 s, then coast 1 s: 0.25 + 0.5 = 0.75 m,
    // wheel angle 0.75 / 0.08 rad on both wheels.
    sim.advance(1.0, &[0.5, 0.0]).expect("steps");
    sim.advance(1.0, &[0.0, 0.0]).expect("steps");
    let ticks = sim
        .poll(sim.time_secs())
        .into_iter()
        .rev()
        .find_map(|r| match r.measurement {
            Measurement::Encoders { ticks } => Some(ticks),
            _ => None,
        })
        .expect("encoder reading");
    let expected = (0.75 / 0.08 * 1024.0 / std::f64::consts::TAU).floor() as i64;
    assert_eq!(ticks.len(), 2);
    for t in ticks {
        assert!((t - expected).abs() <= 1, "{t} vs {expected}");
    }
    assert!((sim.true_state()[0] - 0.75).abs() < 1e-6);
    let d = sim.distance_to_nearest_obstacle(&nalgebra::Point3::new(0.75, 0.0, 0.3));
    // The north wall (face y = 3) is nearer than the east wall (face x = 5).
    assert!((d - 3.0).abs() < 1e-9, "{d}");
}
