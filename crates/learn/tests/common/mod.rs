//! Helpers shared by the integration tests.
#![allow(dead_code)]

use nalgebra::SVector;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use recede_learn::{
    Activation, Feature, MlpResidual, Network, Normalization, Output, ResidualSpec, Support,
    SupportGuard,
};

/// A network with the spec's shape and weights uniform in `[-scale, scale]`.
pub fn random_network(spec: &ResidualSpec, nu: usize, seed: u64, scale: f64) -> Network {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut net = Network::zeros(&spec.layer_sizes(nu), spec.activation);
    for layer in &mut net.layers {
        for w in layer.weight.iter_mut().chain(layer.bias.iter_mut()) {
            *w = rng.random_range(-scale..scale);
        }
    }
    net
}

/// A model with random weights and non-trivial normalisation.
pub fn random_model<const NX: usize, const NU: usize>(
    spec: ResidualSpec,
    seed: u64,
) -> MlpResidual<NX, NU> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
    let net = random_network(&spec, NU, seed, 0.8);
    let (nf, no) = (spec.n_features(NU), spec.n_outputs());
    let norm = Normalization {
        feature_mean: (0..nf).map(|_| rng.random_range(-0.5..0.5)).collect(),
        feature_std: (0..nf).map(|_| rng.random_range(0.5..2.0)).collect(),
        output_mean: (0..no).map(|_| rng.random_range(-0.5..0.5)).collect(),
        output_std: (0..no).map(|_| rng.random_range(0.5..2.0)).collect(),
    };
    MlpResidual::new(spec, net, norm, Support::unbounded(nf)).expect("valid model")
}

/// The cart-pole (4 states, 1 input) residual used across tests.
pub fn cartpole_spec(activation: Activation, guard: SupportGuard) -> ResidualSpec {
    ResidualSpec {
        features: vec![
            Feature::State { index: 1 },
            Feature::State { index: 2 },
            Feature::State { index: 3 },
            Feature::Inputs,
        ],
        outputs: vec![Output::State { index: 2 }, Output::State { index: 3 }],
        hidden: vec![8, 6],
        activation,
        guard,
    }
}

/// The quadrotor (13 states, 4 inputs, P2 layout) residual used across tests:
/// every feature kind, a body-frame acceleration output on v'.
pub fn quadrotor_spec(activation: Activation, guard: SupportGuard) -> ResidualSpec {
    ResidualSpec {
        features: vec![
            Feature::BodyVelocity {
                quat_start: 3,
                vel_start: 7,
            },
            Feature::BodyVelocityAbsProduct {
                quat_start: 3,
                vel_start: 7,
            },
            Feature::GravityInBody { quat_start: 3 },
            Feature::InputSum,
            Feature::Input { index: 2 },
            Feature::State { index: 10 },
        ],
        outputs: vec![Output::WorldFromBody {
            quat_start: 3,
            start: 7,
        }],
        hidden: vec![10],
        activation,
        guard,
    }
}

/// A unit quaternion `[w, x, y, z]` from three uniform numbers (Shoemake).
pub fn unit_quaternion(r: [f64; 3]) -> [f64; 4] {
    let (a, b) = ((1.0 - r[0]).sqrt(), r[0].sqrt());
    let (t1, t2) = (
        2.0 * std::f64::consts::PI * r[1],
        2.0 * std::f64::consts::PI * r[2],
    );
    [b * t2.cos(), a * t1.sin(), a * t1.cos(), b * t2.sin()]
}

/// Rewrites a model file's header with `edit` (data left as it is).
pub fn edit_header(bytes: &[u8], edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    edit(&mut header);
    let mut text = header.to_string().into_bytes();
    text.resize(text.len().next_multiple_of(8), b' ');
    let mut out = (text.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&text);
    out.extend_from_slice(&bytes[8 + n..]);
    out
}

/// Sets one string entry of the `__metadata__` map.
pub fn set_meta(bytes: &[u8], key: &str, value: &str) -> Vec<u8> {
    edit_header(bytes, |h| {
        h["__metadata__"][key] = serde_json::Value::String(value.to_string());
    })
}

/// Reads one string entry of the `__metadata__` map.
pub fn get_meta(bytes: &[u8], key: &str) -> String {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    header["__metadata__"][key].as_str().unwrap().to_string()
}

/// P2's drag residual as `recede train` and `recede bench p2` read it: the
/// spec is written once, in configs/residual_quadrotor.toml.
pub fn p2_drag_spec() -> ResidualSpec {
    let mut file: toml::Table =
        toml::from_str(include_str!("../../../../configs/residual_quadrotor.toml")).unwrap();
    // What `recede train` reads besides the spec.
    file.remove("target");
    file.remove("training");
    toml::Value::Table(file).try_into().unwrap()
}

/// `model` with a linear skip term of weights uniform in `[-scale, scale]`.
pub fn with_random_skip<const NX: usize, const NU: usize>(
    model: &MlpResidual<NX, NU>,
    seed: u64,
    scale: f64,
) -> MlpResidual<NX, NU> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut net = model.network().clone().with_zero_skip();
    for w in net.skip.iter_mut().flatten() {
        *w = rng.random_range(-scale..scale);
    }
    MlpResidual::new(
        model.spec().clone(),
        net,
        model.normalization().clone(),
        model.support().clone(),
    )
    .expect("valid model")
}

/// `d g / d var_j` by central differences of step `h`, the variables being
/// `(x, u)`: states first, then inputs.
pub fn central_difference<const NX: usize, const NU: usize>(
    g: impl Fn(&SVector<f64, NX>, &SVector<f64, NU>) -> SVector<f64, NX>,
    x: &SVector<f64, NX>,
    u: &SVector<f64, NU>,
    j: usize,
    h: f64,
) -> SVector<f64, NX> {
    let (mut xp, mut xm, mut up, mut um) = (*x, *x, *u, *u);
    if j < NX {
        xp[j] += h;
        xm[j] -= h;
    } else {
        up[j - NX] += h;
        um[j - NX] -= h;
    }
    (g(&xp, &up) - g(&xm, &um)) / (2.0 * h)
}
