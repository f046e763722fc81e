//! The promises "inference allocates nothing" and "an RLS update allocates
//! nothing after setup", checked with a counting allocator.

mod common;

use nalgebra::SVector;
use recede_learn::{Activation, AdaptedParameters, MlpResidual, Rls, RlsConfig, SupportGuard};
use recede_model::robots::CartPole;
use recede_model::{Residual, Rk4, WithResidual};
use recede_test_support::{allocations_in, CountingAllocator};

use common::{cartpole_spec, quadrotor_spec, random_model, unit_quaternion, with_random_skip};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

#[test]
fn inference_linearisation_and_rls_do_not_allocate() {
    let residual: MlpResidual<4, 1> = random_model(
        cartpole_spec(Activation::Tanh, SupportGuard::Fade { width_std: 1.0 }),
        1,
    );
    let model = WithResidual::new(CartPole::default(), residual);
    let rk4 = Rk4::new(0.02, 1);
    let x = SVector::<f64, 4>::new(0.1, 0.2, 0.3, 0.4);
    let u = SVector::<f64, 1>::new(1.0);
    let n = allocations_in(|| {
        for _ in 0..10 {
            std::hint::black_box(rk4.linearize(&model, &x, &u));
            std::hint::black_box(rk4.step(&model, &x, &u));
        }
    });
    assert_eq!(
        n, 0,
        "cart-pole linearisation with the MLP residual allocated"
    );

    let quad: MlpResidual<13, 4> =
        random_model(quadrotor_spec(Activation::Softplus, SupportGuard::Clip), 2);
    let q = unit_quaternion([0.4, 0.2, 0.7]);
    let xq = SVector::<f64, 13>::from_column_slice(&[
        0.0, 0.0, 1.0, q[0], q[1], q[2], q[3], 4.0, 1.0, -1.0, 0.1, 0.2, 0.3,
    ]);
    let uq = SVector::<f64, 4>::new(2.0, 2.0, 3.0, 3.0);
    let n = allocations_in(|| {
        let mut xdot = SVector::<f64, 13>::zeros();
        quad.add_to(&xq, &uq, &mut xdot);
        std::hint::black_box(xdot);
    });
    assert_eq!(n, 0, "quadrotor residual allocated");

    let mut adapted = model.residual.clone();
    let mut rls = Rls::new(&adapted, RlsConfig::default()).unwrap();
    let r = SVector::<f64, 4>::new(0.0, 0.0, 0.5, -0.5);
    let bad = SVector::<f64, 4>::new(0.0, 0.0, f64::NAN, 1e12);
    let n = allocations_in(|| {
        for k in 0..50 {
            let target = if k % 5 == 0 { &bad } else { &r };
            std::hint::black_box(rls.update(&mut adapted, &x, &u, target));
        }
    });
    assert_eq!(n, 0, "RLS update allocated");
    assert!(rls.stats().updated > 0);

    // The bias alone (a disturbance estimate): the same update, 1x1.
    let bias = RlsConfig {
        parameters: AdaptedParameters::Bias,
        ..RlsConfig::default()
    };
    let mut rls = Rls::new(&adapted, bias).unwrap();
    let n = allocations_in(|| {
        for k in 0..50 {
            let target = if k % 5 == 0 { &bad } else { &r };
            std::hint::black_box(rls.update(&mut adapted, &x, &u, target));
        }
    });
    assert_eq!(n, 0, "bias RLS update allocated");
    assert!(rls.stats().updated > 0);

    // With a linear skip term: inference, its Jacobian and RLS on [h; 1; s].
    let mut skip = with_random_skip(&quad, 3, 0.5);
    let mut rls = Rls::new(&skip, RlsConfig::default()).unwrap();
    // A measured residual near the model's own prediction (innovation small).
    let mut rq = SVector::<f64, 13>::zeros();
    skip.add_to(&xq, &uq, &mut rq);
    rq[7] += 0.05;
    let n = allocations_in(|| {
        for _ in 0..20 {
            let mut xdot = SVector::<f64, 13>::zeros();
            skip.add_to(&xq, &uq, &mut xdot);
            std::hint::black_box(xdot);
            std::hint::black_box(skip.tangent(&xq, &uq));
            std::hint::black_box(rls.update(&mut skip, &xq, &uq, &rq));
        }
    });
    assert_eq!(n, 0, "the skip term's inference or RLS allocated");
    assert!(rls.stats().updated > 0);
}
