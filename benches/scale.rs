//! The controller step against the horizon (`recede bench scale` in
//! criterion): P1's OCP at N = 20 .. 320 and P2's at N = 20 .. 80, each
//! with the QP structure `auto` picks and fully condensed, closed loop on
//! the scenario's true plant, so every phase of the manoeuvre is sampled.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use recede_bench::stepping::SteppedLoop;
use recede_bench::{p1, p2, scale};
use recede_mpc::{Condensing, QpConfig};
use recede_runner::scenario::Scenario;

fn structures() -> [QpConfig; 2] {
    [Condensing::Auto, Condensing::Full].map(|condensing| QpConfig {
        condensing,
        block: None,
        ..Default::default()
    })
}

/// `scenario` at each horizon and QP structure, one controller step per
/// iteration, the episode restarted every `episode_steps`.
fn sweep(
    c: &mut Criterion,
    group: &str,
    scenario: &Scenario,
    horizons: &[usize],
    episode_steps: usize,
) {
    let mut group = c.benchmark_group(group);
    group.sample_size(20);
    for qp in structures() {
        for &n in horizons {
            let mut s = scenario.clone();
            s.file.controller.mpc.horizon_steps = n;
            s.file.controller.mpc.qp = qp.clone();
            let mut stepped = SteppedLoop::new(&s, episode_steps).expect("the loop");
            let id = BenchmarkId::new(format!("{:?}", qp.condensing), n);
            group.bench_function(id, |b| {
                b.iter(|| black_box(stepped.step().expect("a control step")))
            });
        }
    }
    group.finish();
}

fn p1_scale(c: &mut Criterion) {
    let scenario = recede_bench::scenarios::p1().expect("P1 scenario");
    sweep(
        c,
        "scale_p1_step",
        &scenario,
        &scale::P1_HORIZONS,
        p1::STEPS,
    );
}

fn p2_scale(c: &mut Criterion) {
    let scenario = p2::scenario(9.0).expect("P2 scenario");
    let lap_steps = p2::lap_steps(9.0).expect("P2 lap");
    sweep(
        c,
        "scale_p2_step",
        &scenario,
        &scale::P2_HORIZONS,
        lap_steps,
    );
}

criterion_group!(benches, p1_scale, p2_scale);
criterion_main!(benches);
