//! The tangent's fast paths (rows over the variables read, the narrow
//! network pass) against the general path they replace: the same bits.

use nalgebra::SVector;
use recede_model::Residual;

use crate::spec::{Activation, Feature, Output, ResidualSpec, SupportGuard};
use crate::{MlpResidual, Network, Normalization, Support};

/// Weights, normalisation and a support box from a linear congruential
/// sequence (the test needs no particular fit).
fn model(spec: ResidualSpec, skip: bool, seed: u64) -> MlpResidual<13, 4> {
    let mut state = seed;
    let mut next = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    };
    let mut net = Network::zeros(&spec.layer_sizes(4), spec.activation);
    if skip {
        net = net.with_zero_skip();
    }
    for layer in &mut net.layers {
        for w in layer.weight.iter_mut().chain(layer.bias.iter_mut()) {
            *w = 1.6 * next();
        }
    }
    if let Some(s) = &mut net.skip {
        s.iter_mut().for_each(|w| *w = next());
    }
    let (nf, no) = (spec.n_features(4), spec.n_outputs());
    let norm = Normalization {
        feature_mean: (0..nf).map(|_| next()).collect(),
        feature_std: (0..nf).map(|_| 1.0 + next()).collect(),
        output_mean: (0..no).map(|_| next()).collect(),
        output_std: (0..no).map(|_| 1.0 + next()).collect(),
    };
    // A box the test points leave on some features (clip and fade act).
    let support = Support {
        feature_min: vec![-2.0; nf],
        feature_max: vec![2.5; nf],
    };
    MlpResidual::new(spec, net, norm, support).expect("a valid model")
}

fn specs() -> Vec<ResidualSpec> {
    let (q, v) = (3, 7);
    let drag = vec![
        Feature::BodyVelocity {
            quat_start: q,
            vel_start: v,
        },
        Feature::BodyVelocityAbsProduct {
            quat_start: q,
            vel_start: v,
        },
    ];
    let attitude = vec![
        Feature::GravityInBody { quat_start: q },
        Feature::InputSum,
        Feature::Input { index: 1 },
    ];
    let angles = vec![
        Feature::SinCos { index: 10 },
        Feature::SinCosSum {
            first: 11,
            second: 12,
        },
        Feature::State { index: 0 },
        Feature::Inputs,
    ];
    let world = vec![Output::WorldFromBody {
        quat_start: q,
        start: v,
    }];
    let plain = vec![Output::Vector3 { start: 10 }, Output::State { index: 2 }];
    let mut out = Vec::new();
    for (features, outputs, hidden) in [
        (drag.clone(), world.clone(), vec![16]),
        (drag.clone(), plain.clone(), vec![6, 5]),
        (attitude.clone(), world.clone(), vec![9]),
        (attitude.clone(), plain.clone(), vec![]),
        ([drag.clone(), attitude].concat(), world.clone(), vec![4]),
        (angles, plain, vec![7]),
    ] {
        for guard in [
            SupportGuard::Off,
            SupportGuard::Clip,
            SupportGuard::Fade { width_std: 1.5 },
        ] {
            for activation in [Activation::Tanh, Activation::Softplus, Activation::Relu] {
                out.push(ResidualSpec {
                    features: features.clone(),
                    outputs: outputs.clone(),
                    hidden: hidden.clone(),
                    activation,
                    guard,
                });
            }
        }
    }
    out
}

#[test]
fn fast_tangent_is_the_general_tangent_bit_for_bit() {
    let mut fast_paths = (0, 0);
    for (n, spec) in specs().into_iter().enumerate() {
        for skip in [false, true] {
            let fast = model(spec.clone(), skip, 17 + n as u64);
            fast_paths.0 += usize::from(fast.columns.is_some());
            fast_paths.1 += usize::from(fast.narrow.is_some());
            let mut general = fast.clone();
            general.columns = None;
            general.narrow = None;
            for k in 0..6 {
                let s = k as f64;
                let mut x = SVector::<f64, 13>::from_fn(|i, _| {
                    ((i as f64 + 1.0) * (0.7 + 0.31 * s)).sin() * (1.0 + s)
                });
                let norm = x.fixed_rows::<4>(3).norm();
                x.fixed_rows_mut::<4>(3).scale_mut(1.0 / norm);
                let u = SVector::<f64, 4>::from_fn(|j, _| 2.0 + (j as f64 - s).cos());
                let (a, b) = (fast.tangent(&x, &u), general.tangent(&x, &u));
                assert_eq!(a.value, b.value, "{spec:?} skip {skip}, point {k}: value");
                assert_eq!(a.d_x, b.d_x, "{spec:?} skip {skip}, point {k}: d_x");
                assert_eq!(a.d_u, b.d_u, "{spec:?} skip {skip}, point {k}: d_u");
            }
        }
    }
    // Both fast paths were taken (and skipped) somewhere.
    let all = specs().len() * 2;
    assert!(fast_paths.0 > 0 && fast_paths.0 < all, "{fast_paths:?}");
    assert!(fast_paths.1 > 0 && fast_paths.1 < all, "{fast_paths:?}");
}

#[test]
fn columns_are_the_variables_read() {
    let spec = &specs()[0];
    let columns = crate::jacobians::Columns::of(spec, 13, 4).expect("7 variables");
    // P2's drag model: the quaternion and the velocity.
    assert_eq!(columns.vars.as_slice(), &[3, 4, 5, 6, 7, 8, 9]);
    let mut wide = spec.clone();
    wide.features.push(Feature::Inputs);
    wide.features.push(Feature::State { index: 0 });
    assert!(crate::jacobians::Columns::of(&wide, 13, 4).is_none());
}
