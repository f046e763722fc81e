//! The soft cart-pole's 1-segment PCS model: AD Jacobians against finite
//! differences, energy conserved without damping and input and decaying
//! with damping, and the rigid cart-pole (P1) as the limit of a stiff link.

mod common;

use nalgebra::SVector;
use proptest::prelude::*;
use recede_model::robots::soft_cartpole::{NQ, NU, NX};
use recede_model::robots::{soft_link, CartPole, SoftCartPole, SoftCartPoleParams};
use recede_model::{Dynamics, Rk4, GRAVITY};

/// `linearize` against central differences of the f64 step (relative 1e-6)
/// and its value against the step, bit for bit.
fn check_jacobians(model: &SoftCartPole, dt: f64, x: &SVector<f64, NX>, u: &SVector<f64, NU>) {
    for substeps in [2, 4] {
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

fn scaled(unit: &[f64], lo: [f64; NX], hi: [f64; NX]) -> SVector<f64, NX> {
    SVector::from_fn(|i, _| lo[i] + unit[i] * (hi[i] - lo[i]))
}

const PI: f64 = std::f64::consts::PI;
const LO: [f64; NX] = [-2.0, -PI, -3.0, -0.1, -0.2, -3.0, -8.0, -20.0, -1.0, -3.0];
const HI: [f64; NX] = [2.0, PI, 3.0, 0.1, 0.2, 3.0, 8.0, 20.0, 1.0, 3.0];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn jacobians_match_finite_differences(s in prop::collection::vec(0.0f64..1.0, NX + NU)) {
        let x = scaled(&s[..NX], LO, HI);
        let u = SVector::<f64, NU>::new(-80.0 + 160.0 * s[NX]);
        check_jacobians(&SoftCartPole::default(), 0.02, &x, &u);
        tangents_match_duals(&x, &u);
    }
}

/// The model's own derivative tangent (what `linearize` now carries
/// through RK4) against duals through the whole step: the same Jacobians
/// to round-off, and the continuous tangent's value the derivative's bit
/// for bit.
fn tangents_match_duals(x: &SVector<f64, NX>, u: &SVector<f64, NU>) {
    let model = SoftCartPole::default();
    let t = model
        .derivative_tangent(x, u)
        .expect("the model gives its tangent");
    let f = model.derivative(x, u);
    for i in 0..NX {
        assert_eq!(t.value[i].to_bits(), f[i].to_bits(), "derivative[{i}]");
    }
    let rk = Rk4::new(0.02, 2);
    let (by_tangents, by_duals) = (
        rk.linearize(&model, x, u),
        rk.linearize_by_duals(&model, x, u),
    );
    let worst = |a: f64, b: f64| (a - b).abs() / a.abs().max(b.abs()).max(1.0);
    for i in 0..NX {
        for j in 0..NX {
            let e = worst(by_tangents.a[(i, j)], by_duals.a[(i, j)]);
            assert!(e <= 1e-10, "A[{i},{j}]: {e:e}");
        }
        let e = worst(by_tangents.b[(i, 0)], by_duals.b[(i, 0)]);
        assert!(e <= 1e-10, "B[{i}]: {e:e}");
    }
}

/// Straight link: every shape function is on its Taylor series.
#[test]
fn jacobians_of_a_straight_link() {
    let mut x = SVector::<f64, NX>::zeros();
    x[1] = 0.4;
    x[6] = 1.0;
    check_jacobians(&SoftCartPole::default(), 0.02, &x, &SVector::from([3.0]));
}

fn integrate(
    model: &SoftCartPole,
    mut x: SVector<f64, NX>,
    dt: f64,
    steps: usize,
    mut each: impl FnMut(&SVector<f64, NX>),
) -> SVector<f64, NX> {
    let rk = Rk4::new(dt, 1);
    let u = SVector::<f64, NU>::zeros();
    for _ in 0..steps {
        x = rk.step(model, &x, &u);
        each(&x);
    }
    x
}

fn swinging_bent_state() -> SVector<f64, NX> {
    SVector::from([0.0, 0.6, 0.8, 0.02, -0.03, 0.3, -1.0, 2.0, 0.0, 0.1])
}

#[test]
fn energy_is_conserved_without_damping_and_input() {
    let model = SoftCartPole::new(SoftCartPoleParams {
        retardation_time_secs: 0.0,
        ..SoftCartPoleParams::default()
    })
    .unwrap();
    let x0 = swinging_bent_state();
    let e0 = model.energy(&x0);
    let mut worst: f64 = 0.0;
    // 2 s at 0.1 ms: the fastest mode (~200 rad/s) is resolved.
    integrate(&model, x0, 1e-4, 20_000, |x| {
        worst = worst.max((model.energy(x) - e0).abs());
    });
    assert!(
        worst <= 1e-7 * e0.abs().max(1.0),
        "energy drift {worst:e} J of {e0} J"
    );
}

#[test]
fn damping_dissipates_energy() {
    let model = SoftCartPole::default();
    let x0 = swinging_bent_state();
    let mut last = model.energy(&x0);
    let e0 = last;
    let mut step = 0;
    integrate(&model, x0, 1e-4, 20_000, |x| {
        step += 1;
        if step % 50 == 0 {
            let e = model.energy(x);
            assert!(
                e <= last + 1e-9,
                "energy rose from {last} to {e} J at step {step}"
            );
            last = e;
        }
    });
    // The strain oscillation is damped: a good part of the strain energy is gone.
    assert!(last < e0 - 1e-3, "energy {e0} -> {last} J");
}

/// The angle of the chord from pivot to tip, from upright.
fn chord_angle(p: &SoftCartPoleParams, x: &SVector<f64, NX>) -> f64 {
    let q = SVector::<f64, NQ>::from_fn(|i, _| x[i]);
    let ([tx, tz], _) = soft_link::tip(p, &q);
    (x[0] - tx).atan2(tz)
}

fn wrapped(angle: f64) -> f64 {
    (angle + PI).rem_euclid(2.0 * PI) - PI
}

/// A rigid cart-pendulum: total mass `m`, first moment `m l_c` and
/// inertia `i_p` about the pivot. State `[p, theta, v, omega]`.
#[derive(Clone, Copy)]
struct RigidPendulum {
    cart: f64,
    m: f64,
    ml: f64,
    i_p: f64,
}

impl RigidPendulum {
    /// The stiff limit of the soft link: its lumps (two Gauss points of the
    /// link, the tip body) on a straight link.
    fn of(p: &SoftCartPoleParams) -> Self {
        let l = p.link_length_m;
        let (g1, g2) = (0.5 - 0.5 / 3f64.sqrt(), 0.5 + 0.5 / 3f64.sqrt());
        let half = 0.5 * p.link_mass_kg;
        let slice = 0.5 * p.link_mass_kg * 0.25 * p.link_radius_m.powi(2);
        Self {
            cart: p.cart_mass_kg,
            m: p.link_mass_kg + p.tip_mass_kg,
            ml: half * (g1 + g2) * l + p.tip_mass_kg * l,
            i_p: half * (g1 * g1 + g2 * g2) * l * l
                + p.tip_mass_kg * l * l
                + 2.0 * slice
                + p.tip_inertia_kg_m2,
        }
    }

    /// `(M + m) p'' - m l_c cos th th'' = F - m l_c sin th th'^2`,
    /// `-m l_c cos th p'' + I_p th'' = m g l_c sin th`.
    fn derivative(&self, x: &[f64; 4], force: f64) -> [f64; 4] {
        let (s, c) = x[1].sin_cos();
        let (a11, a12, a22) = (self.cart + self.m, -self.ml * c, self.i_p);
        let b1 = force - self.ml * s * x[3] * x[3];
        let b2 = self.ml * GRAVITY * s;
        let det = a11 * a22 - a12 * a12;
        [
            x[2],
            x[3],
            (a22 * b1 - a12 * b2) / det,
            (a11 * b2 - a12 * b1) / det,
        ]
    }

    fn step(&self, x: &[f64; 4], force: f64, h: f64) -> [f64; 4] {
        let add = |a: &[f64; 4], k: &[f64; 4], f: f64| std::array::from_fn(|i| a[i] + f * k[i]);
        let k1 = self.derivative(x, force);
        let k2 = self.derivative(&add(x, &k1, 0.5 * h), force);
        let k3 = self.derivative(&add(x, &k2, 0.5 * h), force);
        let k4 = self.derivative(&add(x, &k3, h), force);
        std::array::from_fn(|i| x[i] + h / 6.0 * (k1[i] + 2.0 * (k2[i] + k3[i]) + k4[i]))
    }
}

/// The reference is P1 when all the mass is a point at the tip.
#[test]
fn rigid_reference_is_p1_for_a_tip_mass() {
    let p1 = CartPole::default();
    let pp = p1.params;
    let rigid = RigidPendulum {
        cart: pp.cart_mass_kg,
        m: pp.pole_mass_kg,
        ml: pp.pole_mass_kg * pp.pole_length_m,
        i_p: pp.pole_mass_kg * pp.pole_length_m.powi(2),
    };
    for (x, f) in [([0.1, 0.5, -0.3, 2.0], 7.0), ([0.0, 2.5, 1.0, -4.0], -30.0)] {
        let a = rigid.derivative(&x, f);
        let b = p1.derivative(&SVector::from(x), &SVector::from([f]));
        for i in 0..4 {
            assert!((a[i] - b[i]).abs() < 1e-12, "x'[{i}]: {} vs {}", a[i], b[i]);
        }
    }
}

/// The largest cart and chord-angle differences from the rigid pendulum of
/// the same lumps over 0.5 s of a swing from 0.5 rad under a push, for a
/// link `stiffer` times the default.
fn distance_from_rigid(stiffer: f64) -> f64 {
    let d = SoftCartPoleParams::default();
    let p = SoftCartPoleParams {
        bending_stiffness_n_m2: d.bending_stiffness_n_m2 * stiffer,
        axial_stiffness_n: d.axial_stiffness_n * stiffer,
        shear_stiffness_n: d.shear_stiffness_n * stiffer,
        retardation_time_secs: 0.0,
        ..d
    };
    let soft = SoftCartPole::new(p).unwrap();
    let rigid = RigidPendulum::of(&p);
    let mut xs = SVector::<f64, NX>::zeros();
    xs[1] = 0.5;
    let mut xr = [0.0, 0.5, 0.0, 0.0];
    // The stiffest mode is ~195 sqrt(stiffer) rad/s: 0.2 rad per substep.
    let substeps = (195.0 * stiffer.sqrt() * 1e-3 / 0.2).ceil() as usize;
    let soft_rk = Rk4::new(1e-3, substeps);
    let force = 5.0;
    let mut worst: f64 = 0.0;
    for _ in 0..500 {
        xs = soft_rk.step(&soft, &xs, &SVector::from([force]));
        xr = rigid.step(&xr, force, 1e-3);
        worst = worst
            .max((xs[0] - xr[0]).abs())
            .max(wrapped(chord_angle(&p, &xs) - xr[1]).abs());
    }
    worst
}

/// As the link stiffens, its swing approaches the rigid cart-pole's: the
/// distance falls about as 1/stiffness (the strains under the same loads).
#[test]
fn stiff_link_is_the_rigid_cart_pole() {
    let soft = distance_from_rigid(1e1);
    let stiff = distance_from_rigid(1e3);
    assert!(
        stiff < 1e-3,
        "stiff link {stiff:e} from the rigid cart-pole"
    );
    assert!(
        stiff < soft / 20.0,
        "distance {soft:e} -> {stiff:e}: no convergence"
    );
}
