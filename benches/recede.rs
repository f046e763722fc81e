//! One criterion harness for recede's hot functions: the controller step
//! on the reference problems and each robot's discretised step with its
//! exact Jacobians.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use nalgebra::{SVector, Vector1, Vector4};
use recede_bench::{p1, p2};
use recede_model::robots::quadrotor::{NU, NX};
use recede_model::robots::{Arm, CartPole, DiffDrive, Quadrotor, SoftCartPole};
use recede_model::{Dynamics, Residual, Rk4, ZeroResidual};
use recede_sim::plant::Plant;

/// P1's closed loop, one controller step per iteration; the episode
/// restarts every 200 steps so every phase of the swing-up is sampled.
fn p1_step(c: &mut Criterion) {
    let mut mpc = p1::controller(None).expect("P1 controller");
    let plant = CartPole::default();
    let rk4 = Rk4::new(0.002, 1);
    let x_start = Vector4::new(0.0, std::f64::consts::PI, 0.0, 0.0);
    let (mut x, mut u, mut k) = (x_start, Vector1::zeros(), 0);
    c.bench_function("p1_controller_step", |b| {
        b.iter(|| {
            if k == p1::STEPS {
                (x, k) = (x_start, 0);
                mpc.reset(&x, &Vector1::zeros());
            }
            black_box(mpc.step(&x, 0.02, &mut u));
            for _ in 0..10 {
                x = rk4.step(&plant, &x, &u);
            }
            k += 1;
        })
    });
}

/// P2's closed loop at 9 m/s, one controller step per iteration, with the
/// nominal model and with the benchmark's residual architecture (weights
/// from a fixed seed: inference time does not depend on their values).
fn p2_step(c: &mut Criterion) {
    let mut group = c.benchmark_group("p2_controller_step");
    p2_closed_loop(&mut group, "nominal", ZeroResidual);
    p2_closed_loop(
        &mut group,
        "residual",
        p2::untrained_residual(7).expect("residual"),
    );
    group.finish();
}

fn p2_closed_loop<R: Residual<NX, NU>>(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    residual: R,
) {
    let reference = p2::figure_eight(9.0);
    let sample = |t: f64, x: &mut [f64], u: &mut [f64]| reference.sample(t, x, u);
    let mut x0 = SVector::<f64, NX>::zeros();
    sample(0.0, x0.as_mut_slice(), &mut [0.0; NU]);
    let mut mpc = p2::controller(residual, p2::RESIDUAL, &x0).expect("P2 controller");
    let mut plant = p2::plant(&x0).expect("P2 plant");
    let lap_steps = (p2::lap_secs(9.0) / p2::PERIOD_SECS).round() as usize;
    let mut u = SVector::<f64, NU>::zeros();
    let mut k = 0;
    group.bench_function(name, |b| {
        b.iter(|| {
            if k == lap_steps {
                k = 0;
                plant = p2::plant(&x0).expect("P2 plant");
                mpc.reset(&x0, &Quadrotor::default().hover_input());
            }
            let t = k as f64 * p2::PERIOD_SECS;
            let x = SVector::from_column_slice(plant.state());
            p2::set_references(&mut mpc, t, &sample);
            black_box(mpc.step(&x, p2::PERIOD_SECS, &mut u));
            for j in 0..10 {
                plant
                    .step(t + j as f64 * p2::PLANT_STEP_SECS, u.as_slice())
                    .expect("plant steps");
            }
            k += 1;
        })
    });
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
