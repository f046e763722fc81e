//! The continuum arm's rod: the small-deflection cantilever, energy without
//! actuation, its PCC view against the controller's model, the payload
//! change, its element count, and no allocation in a step.

use nalgebra::{SVector, Vector2};
use recede_model::robots::continuum_arm::{NS, NU, NX};
use recede_model::robots::{ContinuumArm, ContinuumArmParams};
use recede_model::{Dynamics, Rk4};
use recede_sim::plant::rod::Rod;
use recede_sim::plant::{
    Actuator, ContinuumArmPlant, ContinuumArmRod, Disturbances, PayloadChange, Plant,
};
use recede_test_support::{allocations_in, CountingAllocator};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

fn actuator(params: &ContinuumArmParams) -> Actuator<NU> {
    Actuator::new([0.0; NU], [params.max_tension_n; NU], [0.0; NU])
}

fn plant(config: &ContinuumArmPlant) -> ContinuumArmRod {
    ContinuumArmRod::new(config, actuator(&config.params), Disturbances::none(), 1e-3).unwrap()
}

/// The tip after `secs` of damped motion from straight at 1 ms steps.
fn settled_tip(rod: &mut Rod, payload: f64, force: Vector2<f64>, secs: f64) -> Vector2<f64> {
    for _ in 0..(secs * 1e3) as usize {
        assert!(rod.step(1e-3, &[0.0; NU], payload, force));
    }
    let speed = rod.qd.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    assert!(speed < 1e-6, "still moving: {speed:e} rad/s");
    rod.tip().position
}

/// A stiff rod clamped horizontally: an extra tip force `F` moves the tip
/// by `F L^3 / 3EI` and its own weight and payload sag it by `w0 L^4 / 8EI
/// + P L^3 / 3EI` (Euler-Bernoulli, small deflection), within 1%.
#[test]
fn small_deflection_cantilever() {
    let params = ContinuumArmParams {
        base_angle_rad: 0.0,
        bending_stiffness_n_m2: 2.0,
        ..Default::default()
    };
    let (l, ei) = (params.length_m, params.bending_stiffness_n_m2);
    for elements in [21, 24, 48] {
        let mut rod = Rod::new(params, elements, NS, params.retardation_time_secs);
        let p = params.payload_mass_kg;
        let sag = -settled_tip(&mut rod, p, Vector2::zeros(), 3.0).y;
        let force = 0.2;
        let pushed = settled_tip(&mut rod, p, Vector2::new(0.0, -force), 3.0).y;
        let deflection = -pushed - sag;
        let analytic = force * l.powi(3) / (3.0 * ei);
        let g = recede_model::GRAVITY;
        let weight =
            params.mass_kg / l * g * l.powi(4) / (8.0 * ei) + p * g * l.powi(3) / (3.0 * ei);
        eprintln!(
            "{elements} elements: tip force {deflection:e} m vs F L^3/3EI {analytic:e} ({:+.3}%), \
             sag {sag:e} vs {weight:e} ({:+.3}%)",
            100.0 * (deflection / analytic - 1.0),
            100.0 * (sag / weight - 1.0)
        );
        assert!((deflection - analytic).abs() < 0.01 * analytic);
        assert!((sag - weight).abs() < 0.01 * weight);
    }
}

fn energies(rod: &mut Rod, steps: usize, h: f64) -> Vec<f64> {
    let payload = rod.params.payload_mass_kg;
    let mut out = vec![rod.energy(payload)];
    for _ in 0..steps {
        assert!(rod.step(h, &[0.0; NU], payload, Vector2::zeros()));
        out.push(rod.energy(payload));
    }
    out
}

fn bent(rod: &mut Rod) {
    rod.set_pcc(&[4.0, -3.0, 5.0], &[2.0, 0.0, -6.0]);
}

/// No tension: with damping the energy never rises at 1 ms steps and
/// falls towards rest. Undamped, the rod runs only at small steps (the
/// plant refuses retardation below 1e-4 s): at 10 us its energy stays
/// within 2% over 0.2 s, and the drift shrinks with the step (first order).
#[test]
fn energy_without_actuation() {
    let params = ContinuumArmParams::default();
    let mut damped = Rod::new(params, 24, NS, params.retardation_time_secs);
    bent(&mut damped);
    let e = energies(&mut damped, 2000, 1e-3);
    for w in e.windows(2) {
        assert!(w[1] <= w[0] + 1e-12, "energy rose: {} -> {}", w[0], w[1]);
    }
    let mut rest = Rod::new(params, 24, NS, 0.0);
    let floor = rest.energy(params.payload_mass_kg);
    let left = (e[2000] - floor) / (e[0] - floor);
    eprintln!(
        "damped: {:.1}% of the energy above rest left after 2 s",
        100.0 * left
    );
    assert!(left < 0.5);

    let drift = |h: f64| {
        let mut free = Rod::new(params, 24, NS, 0.0);
        bent(&mut free);
        let e = energies(&mut free, (0.2 / h) as usize, h);
        let swing = e[0] - floor;
        let drift = e.iter().map(|v| (v - e[0]).abs()).fold(0.0, f64::max) / swing;
        eprintln!(
            "undamped, h = {h:e}: drift {:.4}% of {swing:.4} J in 0.2 s",
            100.0 * drift
        );
        drift
    };
    let (coarse, fine) = (drift(1e-5), drift(2.5e-6));
    assert!(coarse < 0.02, "{coarse}");
    assert!(fine < 0.4 * coarse, "not converging: {coarse} -> {fine}");
}

/// The model's statics under tensions `u`: Newton on `Q(q) - K q = 0`
/// (the derivative's rates at rest), Jacobian by central differences.
fn model_statics(model: &ContinuumArm, u: &[f64; NU]) -> SVector<f64, NX> {
    let uu = SVector::<f64, NU>::from_column_slice(u);
    let residual = |q: &SVector<f64, NS>| {
        let x = SVector::<f64, NX>::from_fn(|i, _| if i < NS { q[i] } else { 0.0 });
        let f = model.derivative(&x, &uu);
        SVector::<f64, NS>::from_fn(|i, _| f[NS + i])
    };
    let mut q = SVector::<f64, NS>::zeros();
    for _ in 0..50 {
        let r = residual(&q);
        let jac = nalgebra::SMatrix::<f64, NS, NS>::from_fn(|i, j| {
            let mut e = SVector::<f64, NS>::zeros();
            e[j] = 1e-6;
            (residual(&(q + e))[i] - residual(&(q - e))[i]) / 2e-6
        });
        q -= jac.lu().solve(&r).unwrap();
    }
    assert!(residual(&q).norm() < 1e-9);
    SVector::from_fn(|i, _| if i < NS { q[i] } else { 0.0 })
}

/// The rod's statics: Newton on its static residual over every hinge.
fn rod_statics(rod: &mut Rod, u: &[f64; NU], payload: f64) {
    let n = rod.elements();
    rod.qd.fill(0.0);
    let residual = |rod: &mut Rod| {
        nalgebra::DVector::from_column_slice(rod.static_residual(u, payload, Vector2::zeros()))
    };
    for _ in 0..50 {
        let r = residual(rod);
        let mut jac = nalgebra::DMatrix::<f64>::zeros(n, n);
        for j in 0..n {
            rod.q[j] += 1e-7;
            let plus = residual(rod);
            rod.q[j] -= 2e-7;
            let minus = residual(rod);
            rod.q[j] += 1e-7;
            jac.set_column(j, &((plus - minus) / 2e-7));
        }
        let step = jac.lu().solve(&r).unwrap();
        for j in 0..n {
            rod.q[j] -= step[j];
        }
    }
    assert!(residual(rod).norm() < 1e-9);
}

/// Hanging under tendon tensions, the rod's static shape seen as PCC is
/// close to the PCC model's statics: curvatures within 5% of the largest,
/// tips within 5 mm. A damped run of the plant settles towards it.
#[test]
fn pcc_view_agrees_with_the_model_at_rest() {
    let params = ContinuumArmParams::default();
    let model = ContinuumArm::new(params).unwrap();
    for u in [
        [0.0, 0.0, 0.0, 0.0, 6.0, 0.0],
        [8.0, 0.0, 0.0, 5.0, 3.0, 0.0],
    ] {
        let mut rod = Rod::new(params, 24, NS, params.retardation_time_secs);
        rod_statics(&mut rod, &u, params.payload_mass_kg);
        let (mut kappa, mut rate) = ([0.0; NS], [0.0; NS]);
        rod.pcc_view(&mut kappa, &mut rate);
        let x = model_statics(&model, &u);
        let biggest = x.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let rod_tip = rod.tip().position;
        let model_tip = model.tip(&x);
        let gap = ((rod_tip.x - model_tip[0]).powi(2) + (rod_tip.y - model_tip[1]).powi(2)).sqrt();
        eprintln!(
            "u = {u:?}: rod {kappa:?}, model {:?}, tips {gap:e} m apart",
            &x.as_slice()[..NS]
        );
        for i in 0..NS {
            assert!((kappa[i] - x[i]).abs() < 0.05 * biggest, "kappa_{i}");
        }
        assert!(gap < 5e-3);

        // The plant, run for 8 s under the same pull, is near that shape
        // (its pendulum mode decays slowly) and its tip near the rod's.
        let mut p = plant(&ContinuumArmPlant::of(params));
        for k in 0..8000 {
            p.step(k as f64 * 1e-3, &u).unwrap();
        }
        let tip = p.rod().tip().position;
        let off = ((tip.x - rod_tip.x).powi(2) + (tip.y - rod_tip.y).powi(2)).sqrt();
        eprintln!("plant after 8 s: tip {off:e} m from the static shape");
        assert!(off < 0.05);
    }
}

/// A PCC state lifted onto the rod reads back exactly; the elements are
/// checked; the payload changes when configured; no step allocates.
#[test]
fn state_payload_elements_and_allocation() {
    let params = ContinuumArmParams::default();
    let mut config = ContinuumArmPlant::of(params);
    assert!(config.elements >= 20);
    config.payload_change = Some(PayloadChange {
        at_secs: 0.05,
        mass_kg: 0.2,
    });
    let mut p = plant(&config);
    let x = [1.5, -2.0, 3.0, 0.5, -1.0, 2.0];
    p.set_state(&x).unwrap();
    for (a, b) in p.state().iter().zip(x) {
        assert!((a - b).abs() < 1e-12, "{a} vs {b}");
    }
    assert!(p.set_state(&x[..5]).is_err());
    assert_eq!(p.payload_kg(), 0.05);
    let u = [3.0; NU];
    assert_eq!(allocations_in(|| p.step(0.0, &u).unwrap()), 0);
    for k in 1..100 {
        p.step(k as f64 * 1e-3, &u).unwrap();
    }
    assert_eq!(p.payload_kg(), 0.2);
    assert_eq!(allocations_in(|| p.step(0.1, &u).unwrap()), 0);
    assert!(p.step(0.2, &[f64::NAN; NU]).is_err());

    let undamped = ContinuumArmPlant {
        retardation_time_secs: Some(0.0),
        ..ContinuumArmPlant::of(params)
    };
    let e = undamped.validate("plant.robot").unwrap_err();
    assert_eq!(e.key, "plant.robot.retardation_time_secs");
    for (elements, ok) in [
        (18, false),
        (20, false),
        (21, true),
        (25, false),
        (60, true),
        (63, false),
    ] {
        let c = ContinuumArmPlant {
            elements,
            ..ContinuumArmPlant::of(params)
        };
        let r = c.validate("plant.robot");
        assert_eq!(r.is_ok(), ok, "{elements}: {r:?}");
        if let Err(e) = r {
            assert_eq!(e.key, "plant.robot.elements");
        }
    }
}

/// Stepped from a bent, moving state under a steady pull, the rod and the
/// 3-section model (RK4, 5 ms) stay close for 0.5 s: the model is a fair
/// reduction of the plant.
#[test]
fn model_follows_the_rod_over_a_short_horizon() {
    let params = ContinuumArmParams::default();
    let model = ContinuumArm::new(params).unwrap();
    let mut p = plant(&ContinuumArmPlant::of(params));
    let x0 = [2.0, -1.0, 1.5, 0.0, 0.0, 0.0];
    p.set_state(&x0).unwrap();
    let u = [6.0, 0.0, 0.0, 4.0, 5.0, 0.0];
    let rk = Rk4::new(5e-3, 1);
    let mut x = SVector::<f64, NX>::from_column_slice(&x0);
    let mut worst = 0.0f64;
    for k in 0..500 {
        p.step(k as f64 * 1e-3, &u).unwrap();
        if k % 5 == 4 {
            x = rk.step(&model, &x, &SVector::from(u));
            let tip = p.rod().tip().position;
            let m = model.tip(&x);
            worst = worst.max(((tip.x - m[0]).powi(2) + (tip.y - m[1]).powi(2)).sqrt());
        }
    }
    eprintln!("largest tip gap over 0.5 s: {worst:e} m");
    assert!(worst < 0.02, "{worst}");
}
