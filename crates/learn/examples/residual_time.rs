//! Times the learned residual's cost inside P2's linearisation: the
//! quadrotor's `Rk4::linearize` alone, with an `MlpResidual` of P2's shape
//! held over the interval (configs/residual_quadrotor.toml: body velocity
//! and its |v| v in, 16 tanh, a body-frame acceleration out, clip guard),
//! and the residual's `tangent` alone:
//! `cargo run --release -p recede-learn --example residual_time`.
//! Prints the fastest of 7 batches of 20000 calls, in microseconds a call.
//! With an argument `N` it only runs `N` linearisations with the residual
//! (`N nominal`: without; `N tangent`: the residual's tangent alone; `N
//! default`: its tangent by the trait's default on duals), for
//! `valgrind --tool=callgrind` or `time`.

#![allow(clippy::print_stdout)] // the figures are this program's output

use std::hint::black_box;
use std::time::Instant;

use nalgebra::SVector;
use recede_learn::{
    Activation, Feature, MlpResidual, Network, Normalization, Output, ResidualSpec, Support,
    SupportGuard,
};
use recede_model::robots::Quadrotor;
use recede_model::{Dynamics, Residual, Rk4, WithResidual};

fn fastest<T>(f: impl Fn() -> T) -> f64 {
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

/// P2's residual shape with fixed pseudo-random weights (a linear
/// congruential sequence: the figures need no particular fit).
fn p2_shaped_residual() -> MlpResidual<13, 4> {
    let spec = ResidualSpec {
        features: vec![
            Feature::BodyVelocity {
                quat_start: 3,
                vel_start: 7,
            },
            Feature::BodyVelocityAbsProduct {
                quat_start: 3,
                vel_start: 7,
            },
        ],
        outputs: vec![Output::WorldFromBody {
            quat_start: 3,
            start: 7,
        }],
        hidden: vec![16],
        activation: Activation::Tanh,
        guard: SupportGuard::Clip,
    };
    let mut state = 12345_u64;
    let mut next = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 1.6
    };
    let mut net = Network::zeros(&spec.layer_sizes(4), spec.activation);
    for layer in &mut net.layers {
        for w in layer.weight.iter_mut().chain(layer.bias.iter_mut()) {
            *w = next();
        }
    }
    let norm = Normalization {
        feature_mean: vec![0.0; 6],
        feature_std: vec![5.0, 5.0, 1.0, 30.0, 30.0, 1.0],
        output_mean: vec![0.0; 3],
        output_std: vec![1.0; 3],
    };
    let support = Support {
        feature_min: vec![-12.0, -12.0, -3.0, -150.0, -150.0, -9.0],
        feature_max: vec![12.0, 12.0, 3.0, 150.0, 150.0, 9.0],
    };
    MlpResidual::new(spec, net, norm, support).expect("a valid model")
}

/// The MLP behind a wrapper that only forwards `add_to`: its tangent is the
/// trait's default (duals through `add_to`, which the MLP evaluates on its
/// dual-number reference path), what recede-control's `ResidualModel` gave
/// before it forwarded `tangent`.
struct DefaultTangent<'a>(&'a MlpResidual<13, 4>);

impl Residual<13, 4> for DefaultTangent<'_> {
    fn add_to<T: recede_model::Scalar>(
        &self,
        x: &SVector<T, 13>,
        u: &SVector<T, 4>,
        xdot: &mut SVector<T, 13>,
    ) {
        self.0.add_to(x, u, xdot);
    }
}

fn main() {
    let residual = p2_shaped_residual();
    let model = WithResidual::new(Quadrotor::default(), residual.clone());
    let mut x = SVector::<f64, 13>::from_column_slice(&[
        1.0, -2.0, 2.1, 0.98, -0.14, 0.13, -0.02, 6.0, 5.0, 0.3, 0.6, -0.2, 0.1,
    ]);
    model.project(&mut x);
    let u = SVector::<f64, 4>::new(2.3, 2.6, 2.5, 2.4);
    let rk = Rk4::new(0.05, 1);
    if let Some(n) = std::env::args().nth(1) {
        let n: usize = n.parse().expect("a count");
        let mode = std::env::args().nth(2);
        for _ in 0..n {
            if mode.as_deref() == Some("default") {
                black_box(DefaultTangent(&residual).tangent(black_box(&x), black_box(&u)));
            } else if mode.as_deref() == Some("tangent") {
                black_box(residual.tangent(black_box(&x), black_box(&u)));
            } else if mode.as_deref() == Some("nominal") {
                black_box(rk.linearize(black_box(&model.nominal), black_box(&x), black_box(&u)));
            } else {
                black_box(rk.linearize(black_box(&model), black_box(&x), black_box(&u)));
            }
        }
        return;
    }
    let nominal = fastest(|| rk.linearize(black_box(&model.nominal), black_box(&x), black_box(&u)));
    let with = fastest(|| rk.linearize(black_box(&model), black_box(&x), black_box(&u)));
    let tangent = fastest(|| residual.tangent(black_box(&x), black_box(&u)));
    let default = fastest(|| DefaultTangent(&residual).tangent(black_box(&x), black_box(&u)));
    println!(
        "linearize: nominal {nominal:.3} us, with the residual {with:.3} us \
         (+{:.3}); the residual's tangent {tangent:.3} us (on duals: {default:.3} us)",
        with - nominal
    );
}
