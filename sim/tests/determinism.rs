//! The same seed gives the same bytes; another seed does not; adding a
//! sensor leaves the others' streams unchanged.

mod common;

use recede_msg::Reading;

fn run(s: &common::Scenario, seed: u64) -> Vec<(String, Vec<String>)> {
    let s2 = common::Scenario {
        seed,
        plant: s.plant.clone(),
        world: s.world.clone(),
        sensors: s.sensors.clone(),
    };
    let mut sim = common::build(&s2);
    let hover = common::hover(&sim);
    let mut out: Vec<Reading> = Vec::new();
    for _ in 0..30 {
        sim.advance(0.01, &hover).expect("steps");
        sim.poll_into(sim.time_secs(), &mut out);
    }
    let names: Vec<String> = sim.sensors().map(|i| i.name.clone()).collect();
    // Per sensor, the readings' exact bits (Debug prints every f64 exactly;
    // NaN depth pixels print alike).
    names
        .iter()
        .enumerate()
        .map(|(id, name)| {
            let rs = out
                .iter()
                .filter(|r| r.sensor.0 as usize == id)
                .map(|r| format!("{:?}", (r.stamp, &r.measurement)))
                .collect();
            (name.clone(), rs)
        })
        .collect()
}

#[test]
fn same_seed_same_streams_other_seed_other_streams() {
    let s = common::quadrotor();
    let a = run(&s, 42);
    let b = run(&s, 42);
    assert_eq!(a, b);
    let c = run(&s, 43);
    for ((name, x), (_, y)) in a.iter().zip(&c) {
        assert_ne!(x, y, "sensor {name} ignores the seed");
    }
}

#[test]
fn adding_a_sensor_does_not_change_another_sensors_stream() {
    let s = common::quadrotor();
    let base = run(&s, 9);
    let mut more = common::quadrotor();
    let mut extra = more.sensors[0].clone();
    extra.name = "imu_spare".into();
    more.sensors.insert(0, extra);
    let with_extra = run(&more, 9);
    for (name, stream) in &base {
        let other = with_extra
            .iter()
            .find(|(n, _)| n == name)
            .expect("sensor kept");
        assert_eq!(stream, &other.1, "sensor {name} changed");
    }
}

/// Every reading, in delivery order, as exact bits.
fn delivered(s: &common::Scenario, workers: usize) -> Vec<String> {
    let mut sim = common::build(s);
    sim.set_render_workers(workers);
    let hover = common::hover(&sim);
    let mut out: Vec<Reading> = Vec::new();
    for _ in 0..25 {
        sim.advance(0.01, &hover).expect("steps");
        sim.poll_into(sim.time_secs(), &mut out);
    }
    sim.finish_renders();
    let counts: Vec<String> = sim
        .sensor_counts()
        .map(|(i, c)| format!("{} {} {}", i.name, c.taken, c.dropped))
        .collect();
    out.iter()
        .map(|r| format!("{:?}", (r.sensor, r.stamp, &r.measurement)))
        .chain(counts)
        .collect()
}

#[test]
fn render_workers_do_not_change_the_readings() {
    let s = common::quadrotor();
    let inline = delivered(&s, 0);
    assert!(
        inline.iter().any(|r| r.contains("RgbImage")),
        "cameras sampled"
    );
    for workers in [1, 3] {
        assert!(delivered(&s, workers) == inline, "{workers} render workers");
    }
}
