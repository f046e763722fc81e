//! Readings come out in order of availability, never before they are
//! available, each stamped with the instant it describes plus its latency.

mod common;

use std::collections::HashMap;

#[test]
fn readings_are_delivered_in_order_of_availability() {
    let s = common::quadrotor();
    let mut sim = common::build(&s);
    let hover = common::hover(&sim);
    let latency: HashMap<u32, f64> = sim.sensors().map(|i| (i.id.0, i.latency_secs)).collect();
    let rate: HashMap<u32, f64> = sim.sensors().map(|i| (i.id.0, i.rate_hz)).collect();
    let mut last_available = f64::NEG_INFINITY;
    let mut last_stamp: HashMap<u32, f64> = HashMap::new();
    let mut count = 0;
    for _ in 0..50 {
        sim.advance(0.01, &hover).expect("steps");
        let now = sim.time_secs();
        for r in sim.poll(now) {
            assert!(r.stamp.available_secs <= now, "delivered early");
            assert!(r.stamp.available_secs >= last_available, "out of order");
            last_available = r.stamp.available_secs;
            assert!((r.stamp.latency_secs() - latency[&r.sensor.0]).abs() < 1e-12);
            if let Some(prev) = last_stamp.insert(r.sensor.0, r.stamp.stamp_secs) {
                // Consecutive samples of one sensor: one period apart, or a
                // whole number of periods when a sample was dropped.
                let periods = (r.stamp.stamp_secs - prev) * rate[&r.sensor.0];
                assert!(periods > 0.9, "sensor {} resampled too soon", r.sensor.0);
            }
            count += 1;
        }
    }
    // The readings taken but not yet available stay queued.
    assert!(sim.pending_count() > 0);
    let later = sim.poll(sim.time_secs() + 1.0);
    assert_eq!(later.len(), sim.pending_count() + later.len());
    assert!(later
        .windows(2)
        .all(|w| w[0].stamp.available_secs <= w[1].stamp.available_secs));
    // 0.5 s: IMU 200 Hz, fix 50 Hz (2% dropout), three cameras at 30 Hz.
    assert!(count + later.len() > 100 + 20 + 3 * 14, "{count} readings");
}
