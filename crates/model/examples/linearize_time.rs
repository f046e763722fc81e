//! Times `Rk4::linearize` of the quadrotor (its written-out tangent) against
//! the duals (`linearize_by_duals`) on P2's interval (0.05 s, one substep):
//! `cargo run --release -p recede-model --example linearize_time`.
//! Prints the fastest of 7 batches of 20000 calls, in microseconds a call.

#![allow(clippy::print_stdout)] // the figures are this program's output

use std::hint::black_box;
use std::time::Instant;

use nalgebra::SVector;
use recede_model::robots::Quadrotor;
use recede_model::{Dynamics, Linearization, Rk4};

fn fastest(f: impl Fn() -> Linearization<13, 4>) -> f64 {
    (0..7)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..20_000 {
                black_box(f());
            }
            start.elapsed().as_secs_f64() * 1e6 / 20_000.0
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let model = Quadrotor::default();
    let mut x = SVector::<f64, 13>::from_column_slice(&[
        1.0, -2.0, 2.1, 0.98, -0.14, 0.13, -0.02, 6.0, 5.0, 0.3, 0.6, -0.2, 0.1,
    ]);
    model.project(&mut x);
    let u = SVector::<f64, 4>::new(2.3, 2.6, 2.5, 2.4);
    let rk = Rk4::new(0.05, 1);
    let tangent = fastest(|| rk.linearize(black_box(&model), black_box(&x), black_box(&u)));
    let duals = fastest(|| rk.linearize_by_duals(black_box(&model), black_box(&x), black_box(&u)));
    println!("quadrotor linearize: tangent {tangent:.3} us, duals {duals:.3} us");
}
