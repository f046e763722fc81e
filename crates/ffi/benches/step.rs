//! `recede_step` through the C interface, per robot, on its closed loop
//! (the robot's nominal model as the plant): each iteration is one control
//! period, and only the step is timed. The loop restarts from the scenario's
//! start after `steps` periods, so every phase of the run is sampled.
//! Criterion reports typical times; the worst case over whole closed loops
//! comes from `cargo run --release -p recede-ffi --example resources`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{plant_step, Handle, ALL};
use criterion::{criterion_group, criterion_main, Criterion};

fn step(c: &mut Criterion) {
    let mut group = c.benchmark_group("recede_step");
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(3));
    for s in &ALL {
        let mut h = Handle::create(s.toml, s.x0).expect("scenario creates");
        let d = h.dims();
        let window = s.window(d.horizon);
        let robot = s.robot();
        let mut x = s.x0.to_vec();
        let mut u = vec![0.0; d.nu];
        let mut k = 0;
        group.bench_function(s.name, |b| {
            b.iter_custom(|iterations| {
                let mut total = Duration::ZERO;
                for _ in 0..iterations {
                    if k == s.steps {
                        k = 0;
                        x.copy_from_slice(s.x0);
                        h.reset(s.x0);
                    }
                    let reference = (k == 0).then_some(window.as_slice());
                    let started = Instant::now();
                    let status = h.step(k as f64 * d.period_secs, &x, reference, &mut u);
                    total += started.elapsed();
                    assert!(status as i32 >= 0);
                    plant_step(&robot, &mut x, &u, d.period_secs);
                    k += 1;
                }
                total
            })
        });
    }
    group.finish();
}

criterion_group!(benches, step);
criterion_main!(benches);
