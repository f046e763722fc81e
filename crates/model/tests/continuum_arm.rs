//! The continuum arm's PCC model: AD Jacobians against finite differences,
//! the gravity sag of a stiff horizontal arm against Euler-Bernoulli's
//! small-deflection cantilever, energy conserved without damping and input
//! and never rising with damping, and the tendons' statics.

mod common;

use nalgebra::{SMatrix, SVector};
use proptest::prelude::*;
use recede_model::robots::continuum_arm::{NS, NU, NX};
use recede_model::robots::{pcc, ContinuumArm, ContinuumArmParams};
use recede_model::{Dynamics, Rk4, GRAVITY};

/// `linearize` against Richardson-extrapolated central differences of the
/// f64 step (relative 1e-6) and its value against the step, bit for bit.
fn check_jacobians(model: &ContinuumArm, dt: f64, x: &SVector<f64, NX>, u: &SVector<f64, NU>) {
    for substeps in [1, 4] {
        let rk = Rk4::new(dt, substeps);
        let lin = rk.linearize(model, x, u);
        let stepped = rk.step(model, x, u);
        for i in 0..NX {
            assert_eq!(stepped[i].to_bits(), lin.x_next[i].to_bits(), "x_next[{i}]");
        }
        common::assert_jacobians_match_differences(
            |x, u| rk.step(model, x, u),
            &lin,
            x,
            u,
            &format!("substeps {substeps}"),
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Curvatures up to 8 1/m (a section bent by 69 degrees), rates up to
    /// 20 1/m/s, every tension within its bounds, payloads 0 to 0.2 kg.
    #[test]
    fn jacobians_match_finite_differences(
        s in prop::collection::vec(0.0f64..1.0, NX + NU),
        payload in 0.0f64..0.2,
    ) {
        let x = SVector::<f64, NX>::from_fn(|i, _| {
            let r = if i < NS { 8.0 } else { 20.0 };
            r * (2.0 * s[i] - 1.0)
        });
        let u = SVector::<f64, NU>::from_fn(|i, _| 40.0 * s[NX + i]);
        let model = ContinuumArm::new(ContinuumArmParams {
            payload_mass_kg: payload,
            ..Default::default()
        })
        .unwrap();
        check_jacobians(&model, 0.01, &x, &u);
    }
}

/// A straight, still arm: every shape function is on its Taylor series.
#[test]
fn jacobians_of_a_straight_arm() {
    let model = ContinuumArm::default();
    let mut x = SVector::<f64, NX>::zeros();
    check_jacobians(&model, 0.01, &x, &SVector::repeat(5.0));
    x[NS] = 0.3;
    x[NS + 2] = -0.2;
    check_jacobians(&model, 0.01, &x, &SVector::zeros());
}

/// The static curvatures under gravity and tensions `u`: `K q = Q(q)`,
/// solved by a fixed point (a contraction for a stiff arm).
fn statics(model: &ContinuumArm, u: &SVector<f64, NU>) -> SVector<f64, NS> {
    let p = &model.params;
    let k = p.bending_stiffness_n_m2 * pcc::section_length(p, NS);
    let mut q = SVector::<f64, NS>::zeros();
    for _ in 0..200 {
        let zero = SVector::<f64, NS>::zeros();
        let a = pcc::assemble(p, &q, &zero);
        let tendons = pcc::generalised_forces(p, 0.0, &zero, &zero, u.as_slice());
        q = (tendons - a.bias) / k;
    }
    q
}

/// A stiff arm clamped horizontally sags as Euler-Bernoulli's cantilever
/// under its own weight and its payload: `w = w_0 L^4 / 8EI + P L^3 / 3EI`.
/// Three constant-curvature sections fit the cantilever's curvature
/// (linear and quadratic in the arc) by its averages; measured 3.4% under
/// (the average of a section under-weights its far end's lever arm), so
/// the tolerance is 5%. Damped dynamics from straight settle there.
#[test]
fn gravity_sag_matches_the_cantilever() {
    let params = ContinuumArmParams {
        base_angle_rad: 0.0,
        bending_stiffness_n_m2: 2.0,
        retardation_time_secs: 0.01,
        ..Default::default()
    };
    let model = ContinuumArm::new(params).unwrap();
    let q = statics(&model, &SVector::zeros());
    let x = SVector::<f64, NX>::from_fn(|i, _| if i < NS { q[i] } else { 0.0 });
    let f = model.derivative(&x, &SVector::zeros());
    assert!(f.norm() < 1e-9, "not an equilibrium: {f:?}");
    let l = params.length_m;
    let ei = params.bending_stiffness_n_m2;
    let w0 = params.mass_kg / l * GRAVITY;
    let pl = params.payload_mass_kg * GRAVITY;
    let analytic = w0 * l.powi(4) / (8.0 * ei) + pl * l.powi(3) / (3.0 * ei);
    let [tx, tz] = model.tip(&x);
    let sag = -tz;
    eprintln!(
        "sag {sag:e} m, cantilever {analytic:e} m, ratio {}",
        sag / analytic
    );
    assert!(
        (sag - analytic).abs() < 0.05 * analytic,
        "sag {sag:e} m vs cantilever {analytic:e} m"
    );
    assert!((tx - l).abs() < 1e-3 * l, "tip x {tx}");

    // Damped motion from straight settles onto the static sag.
    let rk = Rk4::new(1e-4, 1);
    let mut y = SVector::<f64, NX>::zeros();
    for _ in 0..30_000 {
        y = rk.step(&model, &y, &SVector::zeros());
    }
    for i in 0..NS {
        assert!(
            (y[i] - q[i]).abs() < 1e-4 * q[0].abs(),
            "kappa_{i}: {} vs {}",
            y[i],
            q[i]
        );
    }
}

/// A tension on the last pair bends every section by the same moment: the
/// hanging arm's curvatures grow with it and change sign with the side.
#[test]
fn tendons_bend_the_sections_they_span() {
    let params = ContinuumArmParams {
        mass_kg: 1e-6,
        payload_mass_kg: 0.0,
        ..Default::default()
    };
    let model = ContinuumArm::new(params).unwrap();
    let mut u = SVector::<f64, NU>::zeros();
    u[4] = 2.0;
    let q = statics(&model, &u);
    let expected = 2.0 * params.tendon_offset_m / params.bending_stiffness_n_m2;
    for i in 0..NS {
        assert!(
            (q[i] - expected).abs() < 1e-4 * expected,
            "kappa_{i} = {}",
            q[i]
        );
    }
    u[4] = 0.0;
    u[1] = 2.0;
    let q = statics(&model, &u);
    assert!(
        (q[0] + expected).abs() < 1e-4 * expected
            && q[1].abs() < 1e-5 * expected
            && q[2].abs() < 1e-5 * expected,
        "{q:?} vs {expected}"
    );
}

fn energy_over(model: &ContinuumArm, x0: SVector<f64, NX>, dt: f64, steps: usize) -> Vec<f64> {
    let rk = Rk4::new(dt, 1);
    let mut x = x0;
    let mut out = vec![model.energy(&x)];
    for _ in 0..steps {
        x = rk.step(model, &x, &SVector::zeros());
        out.push(model.energy(&x));
    }
    out
}

/// Bent and moving, no tension: energy conserved without damping, never
/// rising with it. After 2 s a fifth is left: the slowest mode (the
/// hanging arm swinging as a pendulum at 7 rad/s) bends it little, so
/// bending's damping barely reaches it (its decay rate is 0.1 1/s).
#[test]
fn energy_without_input() {
    let x0 = SVector::<f64, NX>::from_column_slice(&[4.0, -3.0, 5.0, 2.0, 0.0, -6.0]);
    let free = ContinuumArm::new(ContinuumArmParams {
        retardation_time_secs: 0.0,
        ..Default::default()
    })
    .unwrap();
    let e = energy_over(&free, x0, 2e-4, 10_000);
    let scale = e.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let drift = e.iter().map(|v| (v - e[0]).abs()).fold(0.0, f64::max);
    assert!(drift < 1e-6 * scale, "energy drift {drift:e} of {scale:e}");

    let damped = ContinuumArm::default();
    let e = energy_over(&damped, x0, 2e-4, 10_000);
    for w in e.windows(2) {
        assert!(w[1] <= w[0] + 1e-12, "energy rose: {} -> {}", w[0], w[1]);
    }
    let rest = energy_over(&damped, SVector::zeros(), 2e-4, 1)[0];
    assert!(
        e[10_000] - rest < 0.3 * (e[0] - rest),
        "{} left of {}",
        e[10_000] - rest,
        e[0] - rest
    );
}

/// The model's modes, hanging at rest: what sets the controller's RK4 step.
#[test]
fn modes_of_the_hanging_arm() {
    let model = ContinuumArm::default();
    let lin = Rk4::new(1e-4, 1).linearize(&model, &SVector::zeros(), &SVector::zeros());
    let a = SMatrix::<f64, NX, NX>::from_fn(|i, j| (lin.a[(i, j)] - f64::from(i == j)) / 1e-4);
    let eig = a.complex_eigenvalues();
    let fastest = eig.iter().map(|e| e.norm()).fold(0.0, f64::max);
    eprintln!("modes: {eig:?}");
    // RK4 is stable to |lambda| h = 2.8: the scenario's substep must stay below.
    assert!(fastest.is_finite() && fastest > 1.0, "{fastest}");
}

/// `tensions_for` inverts the dynamics: at random states and wanted
/// accelerations its tensions, fed forward, give back that acceleration
/// (to 1e-9 of its size), each pair pulling on one side only; a motion
/// needing more than `max_tension_n` is refused with the pull it needs.
#[test]
fn inverse_dynamics_give_back_the_acceleration() {
    let model = ContinuumArm::default();
    let mut seed = 7u64;
    let mut draw = |scale: f64| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((seed >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) * scale
    };
    let mut checked = 0;
    for _ in 0..200 {
        let q = [draw(4.0), draw(4.0), draw(4.0)];
        let qd = [draw(3.0), draw(3.0), draw(3.0)];
        let qdd = [draw(50.0), draw(50.0), draw(50.0)];
        let Ok(u) = model.tensions_for(q, qd, qdd) else {
            continue;
        };
        checked += 1;
        for j in 0..NS {
            assert!(
                u[2 * j] == 0.0 || u[2 * j + 1] == 0.0,
                "pair {j} pulls both: {u:?}"
            );
        }
        assert!(u
            .iter()
            .all(|t| (0.0..=model.params.max_tension_n).contains(t)));
        let x = SVector::<f64, NX>::from_fn(|i, _| if i < NS { q[i] } else { qd[i - NS] });
        let f = model.derivative(&x, &SVector::from(u));
        let scale = qdd.iter().fold(1.0f64, |m, v| m.max(v.abs()));
        for j in 0..NS {
            assert!(
                (f[NS + j] - qdd[j]).abs() < 1e-9 * scale,
                "{j}: {} vs {}",
                f[NS + j],
                qdd[j]
            );
        }
    }
    assert!(
        checked > 50,
        "only {checked} draws within the tension limit"
    );
    // Curvatures of 30 1/m need ~100 N: refused, with the pull.
    let err = model
        .tensions_for([30.0, 0.0, 0.0], [0.0; 3], [0.0; 3])
        .unwrap_err();
    assert!(err > model.params.max_tension_n, "{err}");
}
