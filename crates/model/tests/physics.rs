//! Physical sanity of the built-in robots: equilibria, small oscillations,
//! conserved quantities, kinematics.

use nalgebra::{Quaternion, SVector, UnitQuaternion, Vector4};
use recede_model::robots::quadrotor::{
    self, quaternion_product, rotation_from_quaternion, state_quaternion,
};
use recede_model::robots::{
    Arm, ArmParams, CartPole, CartPoleParams, DiffDrive, DiffDriveParams, Quadrotor,
};
use recede_model::{Dynamics, Rk4, Scalar, GRAVITY};

const PI: f64 = std::f64::consts::PI;

fn simulate<D: Dynamics<NX, NU>, const NX: usize, const NU: usize>(
    model: &D,
    rk: Rk4,
    x0: SVector<f64, NX>,
    u: SVector<f64, NU>,
    steps: usize,
) -> SVector<f64, NX> {
    (0..steps).fold(x0, |x, _| rk.step(model, &x, &u))
}

// ---------------------------------------------------------------- cart-pole

#[test]
fn cartpole_upright_is_an_unstable_equilibrium_with_the_theoretical_growth_rate() {
    let model = CartPole::default();
    let zero = model.derivative(&SVector::<f64, 4>::zeros(), &SVector::<f64, 1>::zeros());
    assert_eq!(zero, SVector::<f64, 4>::zeros());

    // Linearised about upright with the cart free: theta'' = (M + m) g / (M l) theta,
    // so from rest theta(t) = theta0 cosh(lambda t).
    let p = CartPoleParams::default();
    let lambda =
        ((p.cart_mass_kg + p.pole_mass_kg) * GRAVITY / (p.cart_mass_kg * p.pole_length_m)).sqrt();
    let theta0 = 1e-7;
    let t = 0.5;
    let x = simulate(
        &model,
        Rk4::new(1e-3, 1),
        SVector::<f64, 4>::new(0.0, theta0, 0.0, 0.0),
        SVector::<f64, 1>::zeros(),
        500,
    );
    let expected = theta0 * (lambda * t).cosh();
    assert!(
        ((x[1] - expected) / expected).abs() < 1e-5,
        "theta {:e}, expected {expected:e}",
        x[1]
    );
}

#[test]
fn cartpole_hanging_small_oscillation_has_the_theoretical_period() {
    // About theta = pi with the cart free: phi'' = -(M + m) g / (M l) phi.
    let p = CartPoleParams::default();
    let omega_n =
        ((p.cart_mass_kg + p.pole_mass_kg) * GRAVITY / (p.cart_mass_kg * p.pole_length_m)).sqrt();
    let period = 2.0 * PI / omega_n;

    let model = CartPole::default();
    let dt = 1e-3;
    let rk = Rk4::new(dt, 1);
    let u = SVector::<f64, 1>::zeros();
    let mut x = SVector::<f64, 4>::new(0.0, PI + 1e-3, 0.0, 0.0);
    // Times at which phi = theta - pi crosses zero going down (linear interpolation).
    let mut crossings = Vec::new();
    for k in 0..5000 {
        let next = rk.step(&model, &x, &u);
        let (a, b) = (x[1] - PI, next[1] - PI);
        if a > 0.0 && b <= 0.0 {
            crossings.push((k as f64 + a / (a - b)) * dt);
        }
        x = next;
    }
    assert!(crossings.len() >= 3, "only {} crossings", crossings.len());
    let measured = (crossings[crossings.len() - 1] - crossings[0]) / (crossings.len() - 1) as f64;
    assert!(
        ((measured - period) / period).abs() < 1e-4,
        "period {measured} s, theory {period} s"
    );
}

// ---------------------------------------------------------------- quadrotor

#[test]
fn quadrotor_at_hover_thrust_stays_still() {
    let model = Quadrotor::default();
    assert_eq!(model.hover_thrust_n(), 1.0 * GRAVITY / 4.0);
    let x0 = Quadrotor::hover_state([1.0, -2.0, 2.0]);
    let x = simulate(&model, Rk4::new(0.01, 1), x0, model.hover_input(), 200);
    assert!((x - x0).amax() < 1e-12, "drifted by {:e}", (x - x0).amax());
}

#[test]
fn quadrotor_thrust_and_torque_directions() {
    let model = Quadrotor::default();
    let x = Quadrotor::hover_state([0.0, 0.0, 0.0]);
    let h = model.hover_thrust_n();
    let dot = |u: [f64; 4]| model.derivative(&x, &SVector::from(u));

    // More total thrust accelerates up.
    assert!((dot([h + 1.0; 4])[9] - 4.0).abs() < 1e-12);
    // Rotors 0 and 3 sit at +x: more thrust there lifts the nose (negative
    // body-y torque); rotors 0 and 1 sit at +y: more thrust there lifts the
    // left side (positive body-x torque).
    let pitch = dot([h + 0.5, h, h, h + 0.5]);
    assert!(pitch[11] < 0.0 && pitch[10].abs() < 1e-12 && pitch[12].abs() < 1e-12);
    let roll = dot([h + 0.5, h + 0.5, h, h]);
    assert!(roll[10] > 0.0 && roll[11].abs() < 1e-12 && roll[12].abs() < 1e-12);
    // Rotors 0 and 2 have s = +1: positive yaw acceleration, c f / Jzz each.
    let yaw = dot([h + 0.5, h, h + 0.5, h]);
    let expected = 2.0 * 0.016 * 0.5 / 0.009;
    assert!((yaw[12] - expected).abs() < 1e-12, "yaw accel {}", yaw[12]);
    assert!(yaw[10].abs() < 1e-12 && yaw[11].abs() < 1e-12);
    // Torque about x: r_y f with r_y = l sin(pi/4).
    let tau = model.body_torque(&SVector::<f64, 4>::new(1.0, 0.0, 0.0, 0.0));
    let r = 0.17 * (PI / 4.0).sin();
    assert!((tau[0] - r).abs() < 1e-15 && (tau[1] + r).abs() < 1e-15);
    assert!((tau[2] - 0.016).abs() < 1e-15);
}

/// The quadrotor without its projection, to show that the projection matters.
struct Unprojected(Quadrotor);

impl Dynamics<13, 4> for Unprojected {
    fn derivative<T: Scalar>(&self, x: &SVector<T, 13>, u: &SVector<T, 4>) -> SVector<T, 13> {
        self.0.derivative(x, u)
    }
}

#[test]
fn quadrotor_quaternion_stays_unit_norm() {
    let model = Quadrotor::default();
    let rk = Rk4::new(0.05, 1);
    let mut x = Quadrotor::hover_state([0.0, 0.0, 2.0]);
    x[quadrotor::BODY_RATE] = 3.0;
    x[quadrotor::BODY_RATE + 1] = -2.0;
    x[quadrotor::BODY_RATE + 2] = 5.0;
    let u = SVector::<f64, 4>::new(2.0, 3.0, 2.5, 2.2);
    let mut free = x;
    let mut free_drift: f64 = 0.0;
    for _ in 0..200 {
        x = rk.step(&model, &x, &u);
        let norm = state_quaternion(&x).norm();
        assert!((norm - 1.0).abs() < 1e-14, "|q| = {norm}");

        free = rk.step(&Unprojected(model), &free, &u);
        free_drift = free_drift.max((state_quaternion(&free).norm() - 1.0).abs());
    }
    // Without the projection the same run leaves the unit sphere noticeably.
    assert!(free_drift > 1e-6, "unprojected drift only {free_drift:e}");
}

#[test]
fn quaternion_helpers_match_nalgebra() {
    let qs = [
        Vector4::new(0.9, 0.1, -0.3, 0.2),
        Vector4::new(-0.2, 0.7, 0.5, -0.4),
        Vector4::new(0.0, 0.0, 0.0, 1.0),
    ];
    for a in &qs {
        let a = a.normalize();
        let unit = UnitQuaternion::from_quaternion(Quaternion::new(a[0], a[1], a[2], a[3]));
        let r = rotation_from_quaternion(&a);
        assert!((r - unit.to_rotation_matrix().into_inner()).amax() < 1e-15);
        for b in &qs {
            let ours = quaternion_product(&a, b);
            let theirs =
                Quaternion::new(a[0], a[1], a[2], a[3]) * Quaternion::new(b[0], b[1], b[2], b[3]);
            let theirs = Vector4::new(theirs.w, theirs.i, theirs.j, theirs.k);
            assert!((ours - theirs).amax() < 1e-15);
        }
    }
}

// ---------------------------------------------------------------- diff-drive

#[test]
fn diffdrive_drives_straight_along_its_heading() {
    let model = DiffDrive::default();
    let rk = Rk4::new(0.1, 1);
    let yaw: f64 = 0.3;
    // Constant speed 1 m/s plus constant acceleration 0.2 m/s^2 for 2 s:
    // distance 1 * 2 + 0.2 * 2^2 / 2 = 2.4 m, RK4 exact for this polynomial.
    let x0 = SVector::<f64, 5>::new(1.0, -1.0, yaw, 1.0, 0.0);
    let x = simulate(&model, rk, x0, SVector::<f64, 2>::new(0.2, 0.0), 20);
    assert!((x[0] - (1.0 + 2.4 * yaw.cos())).abs() < 1e-12);
    assert!((x[1] - (-1.0 + 2.4 * yaw.sin())).abs() < 1e-12);
    assert_eq!(x[2], yaw);
    assert!((x[3] - 1.4).abs() < 1e-12);
    assert_eq!(x[4], 0.0);
}

#[test]
fn diffdrive_turns_on_a_circle_and_its_bounds_are_the_params() {
    let model = DiffDrive::default();
    // v = 1 m/s, yaw rate 0.5 rad/s: a circle of radius 2 m closes after 4 pi s.
    let x0 = SVector::<f64, 5>::new(0.0, 0.0, 0.0, 1.0, 0.5);
    let steps = 4000;
    let x = simulate(
        &model,
        Rk4::new(4.0 * PI / steps as f64, 1),
        x0,
        SVector::<f64, 2>::zeros(),
        steps,
    );
    assert!(
        x[0].abs() < 1e-9 && x[1].abs() < 1e-9,
        "end at ({}, {})",
        x[0],
        x[1]
    );
    assert!((x[2] - 2.0 * PI).abs() < 1e-12);

    let p = DiffDriveParams::default();
    let ub = model.input_bounds();
    assert_eq!(ub.upper, [p.max_accel_m_s2, p.max_yaw_accel_rad_s2]);
    assert_eq!(ub.lower, [-p.max_accel_m_s2, -p.max_yaw_accel_rad_s2]);
    let sb = model.state_bounds();
    assert!(sb.contains(&[1e9, -1e9, 100.0, p.max_speed_m_s, -p.max_yaw_rate_rad_s]));
    assert!(!sb.contains(&[0.0, 0.0, 0.0, p.max_speed_m_s * 1.01, 0.0]));
    assert!(!sb.contains(&[0.0, 0.0, 0.0, 0.0, -p.max_yaw_rate_rad_s * 1.01]));

    // Wheel speeds and body velocity are inverse to each other.
    let (l, r) = model.wheel_speeds_rad_s(0.8, -1.2);
    assert!(l > r);
    let (v, w) = model.body_velocity(l, r);
    assert!((v - 0.8).abs() < 1e-12 && (w + 1.2).abs() < 1e-12);
}

// ---------------------------------------------------------------- arm

fn arm_energy_drift(params: ArmParams) -> f64 {
    let model = Arm::new(params).expect("valid arm parameters");
    let x0 = SVector::<f64, 4>::new(0.3, -0.8, 2.0, -3.0);
    let e0 = model.energy_j(&x0);
    // 1 s of RK4 at 1 ms.
    let rk = Rk4::new(0.01, 10);
    let u = SVector::<f64, 2>::zeros();
    let mut x = x0;
    let mut drift: f64 = 0.0;
    for _ in 0..100 {
        x = rk.step(&model, &x, &u);
        drift = drift.max(((model.energy_j(&x) - e0) / e0).abs());
    }
    // The motion must be far from trivial for the check to mean anything.
    assert!((x - x0).amax() > 1.0);
    drift
}

#[test]
fn arm_conserves_energy_without_torque() {
    let drift = arm_energy_drift(ArmParams::default());
    assert!(drift < 1e-6, "relative energy drift {drift:e}");
    let drift = arm_energy_drift(ArmParams {
        payload_mass_kg: 0.7,
        link1_inertia_kg_m2: 0.0,
        ..ArmParams::default()
    });
    assert!(drift < 1e-6, "relative energy drift with payload {drift:e}");
}

#[test]
fn arm_holds_still_under_the_static_gravity_torque() {
    let p = ArmParams {
        payload_mass_kg: 0.4,
        ..ArmParams::default()
    };
    let model = Arm::new(p).expect("valid arm parameters");
    let (l1, l2) = (p.link1_length_m, p.link2_length_m);
    let (m1, m2, mp) = (p.link1_mass_kg, p.link2_mass_kg, p.payload_mass_kg);
    // Stretched out horizontally: each joint carries the weight outboard of it.
    let tau2 = GRAVITY * (m2 * l2 / 2.0 + mp * l2);
    let tau1 = GRAVITY * (m1 * l1 / 2.0 + m2 * (l1 + l2 / 2.0) + mp * (l1 + l2));
    let x = SVector::<f64, 4>::zeros();
    let xdot = model.derivative(&x, &SVector::<f64, 2>::new(tau1, tau2));
    assert!(xdot.amax() < 1e-12, "xdot {xdot:?}");
    // Without torque it falls: both links accelerate downwards.
    let xdot = model.derivative(&x, &SVector::<f64, 2>::zeros());
    assert!(xdot[2] < 0.0);

    // Hanging straight down is an equilibrium without torque.
    let down = SVector::<f64, 4>::new(-PI / 2.0, 0.0, 0.0, 0.0);
    let xdot = model.derivative(&down, &SVector::<f64, 2>::zeros());
    assert!(xdot.amax() < 1e-12, "xdot {xdot:?}");
    assert_eq!(model.tip_position_m(&down)[1], -(l1 + l2));
    assert!(model.tip_position_m(&down)[0].abs() < 1e-15);
}
