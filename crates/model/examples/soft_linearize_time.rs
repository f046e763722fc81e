//! Times the soft cart-pole's model on one swing state: the f64
//! derivative, its tangent in closed form (`derivative_tangent`) and on
//! duals (`soft_link::acceleration_tangent_by_duals`), and one 20 ms
//! interval of the implicit midpoint rule's `linearize`:
//! `cargo run --release -p recede-model --example soft_linearize_time`.
//! Prints the fastest of 7 batches of 20000 calls (or of the count given
//! as the argument: a small one under callgrind, whose inclusive counts
//! of the `time_*` functions divided by 7 x the count are instructions a
//! call), in microseconds a call.

#![allow(clippy::print_stdout)] // the figures are this program's output

use std::hint::black_box;
use std::time::Instant;

use nalgebra::SVector;
use recede_model::robots::soft_cartpole::{NQ, NU, NX};
use recede_model::robots::{soft_link, SoftCartPole};
use recede_model::{Dynamics, ImplicitMidpoint};

type X = SVector<f64, NX>;
type U = SVector<f64, NU>;

fn fastest(calls: usize, f: impl Fn()) -> f64 {
    (0..7)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..calls {
                f();
            }
            start.elapsed().as_secs_f64() * 1e6 / calls as f64
        })
        .fold(f64::INFINITY, f64::min)
}

#[inline(never)]
fn time_derivative(model: &SoftCartPole, x: &X, u: &U) {
    black_box(model.derivative(black_box(x), black_box(u)));
}

#[inline(never)]
fn time_tangent(model: &SoftCartPole, x: &X, u: &U) {
    black_box(model.derivative_tangent(black_box(x), black_box(u)));
}

#[inline(never)]
fn time_duals(model: &SoftCartPole, x: &X, u: &U) {
    let p = &model.params;
    let x = black_box(x);
    let q = SVector::<f64, NQ>::from_fn(|i, _| x[i]);
    let qd = SVector::<f64, NQ>::from_fn(|i, _| x[NQ + i]);
    black_box(soft_link::acceleration_tangent_by_duals::<NQ, { NQ - 1 }>(
        p,
        p.retardation_time_secs,
        &q,
        &qd,
        black_box(u)[0],
    ));
}

#[inline(never)]
fn time_interval(midpoint: &ImplicitMidpoint, model: &SoftCartPole, x: &X, u: &U) {
    black_box(midpoint.linearize(model, black_box(x), black_box(u)));
}

fn main() {
    let calls = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    let model = SoftCartPole::default();
    // Mid-swing: bent, stretched, sheared, turning.
    let x = X::from_column_slice(&[0.3, 1.9, 0.8, 0.02, -0.03, 1.2, -4.0, 2.0, 0.5, 0.1]);
    let u = U::new(20.0);
    let midpoint = ImplicitMidpoint::new(0.02);
    let derivative = fastest(calls, || time_derivative(&model, &x, &u));
    let tangent = fastest(calls, || time_tangent(&model, &x, &u));
    let duals = fastest(calls, || time_duals(&model, &x, &u));
    let interval = fastest(calls, || time_interval(&midpoint, &model, &x, &u));
    println!(
        "soft cart-pole: derivative {derivative:.3} us, tangent {tangent:.3} us \
         (duals {duals:.3} us), implicit midpoint linearize {interval:.3} us"
    );
}
