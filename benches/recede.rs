//! One criterion harness for recede's hot functions: the controller step
//! on the reference problems and each robot's discretised step with its
//! exact Jacobians.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use nalgebra::{SVector, Vector1, Vector4};
use recede_bench::stepping::SteppedLoop;
use recede_bench::{p1, p2};
use recede_model::robots::{Arm, CartPole, DiffDrive, Quadrotor, SoftCartPole};
use recede_model::{Dynamics, Rk4};

/// P1's closed loop (configs/bench/p1.toml), one controller step per
/// iteration; the episode restarts every 200 steps so every phase of the
/// swing-up is sampled.
fn p1_step(c: &mut Criterion) {
    let scenario = recede_bench::scenarios::p1().expect("P1 scenario");
    let mut stepped = SteppedLoop::new(&scenario, p1::STEPS).expect("P1 loop");
    c.bench_function("p1_controller_step", |b| {
        b.iter(|| black_box(stepped.step().expect("P1 step")))
    });
}

/// P2's closed loop at 9 m/s (configs/bench/p2_v9.toml), one controller
/// step per iteration, with the nominal model and with the benchmark's
/// residual architecture (weights from a fixed seed: inference time does
/// not depend on their values), handed over as a model file.
fn p2_step(c: &mut Criterion) {
    let mut group = c.benchmark_group("p2_controller_step");
    let lap_steps = p2::lap_steps(9.0).expect("P2 lap");
    let nominal = p2::scenario(9.0).expect("P2 scenario");
    let mut stepped = SteppedLoop::new(&nominal, lap_steps).expect("P2 loop");
    group.bench_function("nominal", |b| {
        b.iter(|| black_box(stepped.step().expect("P2 step")))
    });
    let file = tempfile::NamedTempFile::new().expect("a temporary file");
    p2::untrained_residual(7)
        .and_then(|r| Ok(r.save(file.path())?))
        .expect("the residual file");
    let residual = p2::with_residual(nominal, file.path());
    let mut stepped = SteppedLoop::new(&residual, lap_steps).expect("P2 loop");
    group.bench_function("residual", |b| {
        b.iter(|| black_box(stepped.step().expect("P2 step")))
    });
    group.finish();
}

fn p3_loop(c: &mut Criterion) {
    c.bench_function("p3_closed_loop_100_steps", |b| {
        b.iter(|| black_box(recede_bench::p3::run().expect("P3")))
    });
}

fn linearize<D: Dynamics<NX, NU>, const NX: usize, const NU: usize>(
    c: &mut Criterion,
    name: &str,
    model: &D,
    x: SVector<f64, NX>,
    u: SVector<f64, NU>,
    dt_secs: f64,
) {
    let rk4 = Rk4::new(dt_secs, 1);
    c.bench_function(&format!("{name}_rk4_linearize"), |b| {
        b.iter(|| black_box(rk4.linearize(model, black_box(&x), black_box(&u))))
    });
}

fn models(c: &mut Criterion) {
    let x = Vector4::new(0.1, 2.0, -0.3, 0.5);
    linearize(
        c,
        "cartpole",
        &CartPole::default(),
        x,
        Vector1::new(3.0),
        0.02,
    );
    let quad = Quadrotor::default();
    let mut xq = Quadrotor::hover_state([1.0, 2.0, 3.0]);
    xq[7] = 2.0;
    xq[11] = 0.3;
    linearize(c, "quadrotor", &quad, xq, quad.hover_input(), 0.05);
    let dd = SVector::<f64, 5>::new(1.0, 2.0, 0.3, 0.8, 0.1);
    linearize(
        c,
        "diffdrive",
        &DiffDrive::default(),
        dd,
        SVector::from([0.5, -0.2]),
        0.1,
    );
    linearize(
        c,
        "arm",
        &Arm::default(),
        Vector4::new(0.3, -0.5, 0.1, 0.2),
        SVector::from([1.0, 0.5]),
        0.01,
    );
    // One 10 ms RK4 substep of a swing state; configs/soft_cartpole.toml's
    // 20 ms interval is two of them (docs/soft-robots.md).
    linearize(
        c,
        "soft_cartpole_substep",
        &SoftCartPole::default(),
        SVector::from([0.1, 2.9, 0.2, 0.02, -0.04, 4.5, -5.5, -2.0, 0.4, 0.0]),
        Vector1::new(80.0),
        0.01,
    );
}

criterion_group!(benches, p1_step, p2_step, p3_loop, models);
criterion_main!(benches);
