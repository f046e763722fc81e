//! Speed of the simulated world: each camera at 160x120 in the quadrotor
//! yard scenario, and a whole simulated second of that scenario (1 kHz
//! plant, 200 Hz IMU, 50 Hz fix, three cameras at 30 Hz).

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use recede_msg::SensorId;
use recede_sim::config::{PlantConfig, SensorConfig, WorldConfig};
use recede_sim::sensors::{BodyShape, RenderCache, SampleContext, Sensor};
use recede_sim::Simulator;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Scenario {
    seed: u64,
    plant: PlantConfig,
    world: WorldConfig,
    sensors: Vec<SensorConfig>,
}

fn scenario() -> Scenario {
    toml::from_str(include_str!("../tests/data/quadrotor.toml")).expect("scenario parses")
}

fn cameras(c: &mut Criterion) {
    let s = scenario();
    let sim = Simulator::from_config(&s.plant, &s.world, &s.sensors, s.seed).expect("builds");
    let body = sim.body();
    for name in ["rgb_front", "depth_front", "ir_front"] {
        let config = s
            .sensors
            .iter()
            .find(|c| c.name == name)
            .expect("camera in scenario");
        let mut sensor = Sensor::new(SensorId(0), config, s.seed);
        // One cache, as the simulator keeps per camera, emptied each time so
        // that every frame is cast in full (a fresh cache would also time
        // allocating and faulting in its buffers).
        let mut cache = RenderCache::default();
        c.bench_function(&format!("camera_160x120/{name}"), |b| {
            b.iter(|| {
                cache.invalidate();
                let ctx = SampleContext {
                    t_secs: sensor.next_due_secs(),
                    body: &body,
                    encoder_angles_rad: &[],
                    world: sim.world(),
                    shape: BodyShape::NONE,
                };
                black_box(sensor.sample(&ctx, &mut cache))
            })
        });
    }
}

fn simulated_second(c: &mut Criterion) {
    let registered = scenario();
    // The same with the depth camera moved 4 cm off the colour camera, so
    // all three cameras cast their own rays.
    let mut separate = scenario();
    if let Some(depth) = separate
        .sensors
        .iter_mut()
        .find(|s| s.name == "depth_front")
    {
        depth.mount.translation_m[1] = -0.02;
    }
    let mut group = c.benchmark_group("quadrotor_scenario");
    group.sample_size(20);
    for (label, s) in [
        ("one_simulated_second", &registered),
        ("one_simulated_second_3_casts", &separate),
    ] {
        bench_second(&mut group, label, s);
    }
    group.finish();
}

fn bench_second(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    label: &str,
    s: &Scenario,
) {
    group.bench_function(label, |b| {
        b.iter_batched(
            || Simulator::from_config(&s.plant, &s.world, &s.sensors, s.seed).expect("builds"),
            |mut sim| {
                let hover = [9.81 / 4.0; 4];
                // The controller's 100 Hz cadence.
                for _ in 0..100 {
                    sim.advance(0.01, &hover).expect("steps");
                    black_box(sim.poll(sim.time_secs()));
                }
                sim
            },
            criterion::BatchSize::LargeInput,
        )
    });
}

criterion_group!(benches, cameras, simulated_second);
criterion_main!(benches);
