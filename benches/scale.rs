//! The controller step against the horizon (`recede bench scale` in
//! criterion): P1's OCP at N = 20 .. 320 and P2's at N = 20 .. 80, each
//! with the QP structure `auto` picks and fully condensed, closed loop on
//! the same model, so every phase of the manoeuvre is sampled.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use nalgebra::{SVector, Vector1, Vector4};
use recede_bench::{p1, p2, scale};
use recede_model::robots::quadrotor::{NU, NX};
use recede_model::robots::{CartPole, Quadrotor};
use recede_model::{Discretized, Rk4, WithResidual, ZeroResidual};
use recede_mpc::{Condensing, Mpc, QpConfig};
use recede_sim::plant::Plant;

fn structures() -> [QpConfig; 2] {
    [Condensing::Auto, Condensing::Full].map(|condensing| QpConfig {
        condensing,
        block: None,
    })
}

fn p1_scale(c: &mut Criterion) {
    let mut group = c.benchmark_group("scale_p1_step");
    group.sample_size(20);
    for qp in structures() {
        for n in scale::P1_HORIZONS {
            let mut config = p1::config(None).expect("P1 config");
            config.horizon_steps = n;
            config.qp = qp.clone();
            let spec = config.to_spec::<4, 1>().expect("P1 spec");
            let model = Discretized::new(CartPole::default(), Rk4::new(0.02, 1));
            let x_start = Vector4::new(0.0, std::f64::consts::PI, 0.0, 0.0);
            let mut mpc =
                Mpc::new(model, (), spec, &x_start, &Vector1::zeros()).expect("P1 controller");
            mpc.set_constant_reference(&Vector4::zeros(), &Vector1::zeros());
            let (plant, rk4) = (CartPole::default(), Rk4::new(0.002, 1));
            let (mut x, mut u, mut k) = (x_start, Vector1::zeros(), 0);
            let id = BenchmarkId::new(format!("{:?}", qp.condensing), n);
            group.bench_function(id, |b| {
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
    }
    group.finish();
}

fn p2_scale(c: &mut Criterion) {
    let mut group = c.benchmark_group("scale_p2_step");
    group.sample_size(20);
    let reference = p2::figure_eight(9.0);
    let sample = |t: f64, x: &mut [f64], u: &mut [f64]| reference.sample(t, x, u);
    let mut x0 = SVector::<f64, NX>::zeros();
    sample(0.0, x0.as_mut_slice(), &mut [0.0; NU]);
    let lap_steps = (p2::lap_secs(9.0) / p2::PERIOD_SECS).round() as usize;
    for qp in structures() {
        for n in scale::P2_HORIZONS {
            let mut config = p2::mpc_config().expect("P2 config");
            config.horizon_steps = n;
            config.qp = qp.clone();
            let spec = config.to_spec::<NX, NU>().expect("P2 spec");
            let model = Discretized::new(
                WithResidual::new(Quadrotor::default(), ZeroResidual),
                Rk4::new(spec.dt_secs, config.rk4_substeps),
            );
            let hover = Quadrotor::default().hover_input();
            let mut mpc = Mpc::new(model, (), spec, &x0, &hover).expect("P2 controller");
            let mut plant = p2::plant(&x0).expect("P2 plant");
            let (mut u, mut k) = (SVector::<f64, NU>::zeros(), 0);
            let id = BenchmarkId::new(format!("{:?}", qp.condensing), n);
            group.bench_function(id, |b| {
                b.iter(|| {
                    if k == lap_steps {
                        k = 0;
                        plant = p2::plant(&x0).expect("P2 plant");
                        mpc.reset(&x0, &hover);
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
    }
    group.finish();
}

criterion_group!(benches, p1_scale, p2_scale);
criterion_main!(benches);
