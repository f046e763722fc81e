//! The hand-written backward pass against central finite differences.

mod common;

use recede_learn::{Activation, Network, ResidualSpec, SupportGuard};

use common::{cartpole_spec, random_network};

fn params_mut(net: &mut Network) -> Vec<&mut f64> {
    net.layers
        .iter_mut()
        .flat_map(|l| l.weight.iter_mut().chain(l.bias.iter_mut()))
        .collect()
}

#[test]
fn backprop_matches_finite_differences() {
    let input = [0.3, -1.2, 0.7, 2.0, -0.4];
    let target = [0.5, -0.25];
    for (seed, activation) in [
        (11, Activation::Tanh),
        (12, Activation::Softplus),
        (13, Activation::Relu),
    ] {
        let spec: ResidualSpec = cartpole_spec(activation, SupportGuard::Off);
        let net = random_network(&spec, 1, seed, 0.9);
        let mut grad = Network::zeros(&spec.layer_sizes(1), activation);
        let loss = net.loss_gradient(&input[..4], &target, &mut grad);
        assert_eq!(loss, net.loss(&input[..4], &target));
        let analytic: Vec<f64> = grad
            .layers
            .iter()
            .flat_map(|l| l.weight.iter().chain(l.bias.iter()).copied())
            .collect();
        assert_eq!(analytic.len(), net.n_params());
        let h = 1e-6;
        let mut worst = 0.0_f64;
        for k in 0..analytic.len() {
            let mut plus = net.clone();
            *params_mut(&mut plus)[k] += h;
            let mut minus = net.clone();
            *params_mut(&mut minus)[k] -= h;
            let fd =
                (plus.loss(&input[..4], &target) - minus.loss(&input[..4], &target)) / (2.0 * h);
            worst = worst.max((fd - analytic[k]).abs());
        }
        assert!(worst < 1e-7, "{activation:?}: worst gradient error {worst}");
        assert!(
            analytic.iter().any(|g| g.abs() > 1e-3),
            "gradient is not trivially zero"
        );
    }
}

#[test]
fn gradient_accumulates_into_the_buffer() {
    let spec = cartpole_spec(Activation::Tanh, SupportGuard::Off);
    let net = random_network(&spec, 1, 5, 0.9);
    let mut once = Network::zeros(&spec.layer_sizes(1), Activation::Tanh);
    let mut twice = once.clone();
    let input = [0.1, 0.2, 0.3, 0.4];
    let target = [1.0, -1.0];
    net.loss_gradient(&input, &target, &mut once);
    net.loss_gradient(&input, &target, &mut twice);
    net.loss_gradient(&input, &target, &mut twice);
    for (a, b) in once.layers.iter().zip(&twice.layers) {
        for (x, y) in a.weight.iter().zip(&b.weight) {
            assert!((2.0 * x - y).abs() < 1e-12);
        }
    }
}
