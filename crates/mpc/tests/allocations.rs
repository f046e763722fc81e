//! After setup, a controller step allocates nothing on the heap.
//!
//! A counting global allocator counts allocations made on this test's own
//! thread while counting is switched on (the test harness allocates on
//! other threads). OSQP's C code calls `malloc` directly and is invisible to
//! Rust's allocator: this test covers the Rust side only (OSQP 0.6 itself
//! allocates during a solve only when polishing, which the controller keeps
//! off).

mod common;

use common::*;
use nalgebra::{SVector, Vector1, Vector4};
use recede_model::robots::quadrotor::{self, Quadrotor};
use recede_model::{Discretized, Rk4};
use recede_mpc::{Mpc, MpcConfig, StepReport};
use recede_test_support::{allocations_in, CountingAllocator};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

#[test]
fn the_counter_sees_allocations() {
    let n = allocations_in(|| {
        let v: Vec<u64> = std::hint::black_box(vec![1, 2, 3]);
        drop(v);
    });
    assert_eq!(n, 1);
}

#[test]
fn p1_steps_do_not_allocate() {
    let mut mpc = p1_mpc(p1_spec());
    let mut x = p1_x0();
    let mut u = Vector1::zeros();
    for _ in 0..10 {
        mpc.step(&x, P1_DT_SECS, &mut u);
        x = p1_plant_step(&x, &u);
    }
    let mut solved = 0;
    let n = allocations_in(|| {
        for _ in 0..100 {
            let report = mpc.step(&x, P1_DT_SECS, &mut u);
            solved += usize::from(!report.outcome.is_fallback());
            x = p1_plant_step(&x, &u);
        }
    });
    assert_eq!(solved, 100, "the measured steps must be real solves");
    assert_eq!(n, 0, "heap allocations in 100 P1 steps");
}

/// P1's swing-up from rest: one step to set up, then the heap allocations
/// in the next 100 steps; `each` sees every measured step's report.
fn p1_swing_up_allocations(
    mpc: &mut Mpc<CartPoleModel, (), 4, 1>,
    mut each: impl FnMut(&StepReport),
) -> usize {
    let mut x = p1_x0();
    let mut u = Vector1::zeros();
    mpc.step(&x, P1_DT_SECS, &mut u);
    x = p1_plant_step(&x, &u);
    allocations_in(|| {
        for _ in 0..100 {
            each(&mpc.step(&x, P1_DT_SECS, &mut u));
            x = p1_plant_step(&x, &u);
        }
    })
}

/// The dense backend (`[controller.qp] solver = "dense"`) allocates
/// nothing either, over P1's swing-up: its long solves adapt rho, and each
/// adaptation refactorises in the factor's own storage.
#[test]
fn p1_steps_with_the_dense_solver_do_not_allocate() {
    let mut cfg = p1_config();
    cfg.qp.solver = recede_mpc::QpSolver::Dense;
    let mut mpc = p1_mpc(cfg.to_spec().unwrap());
    let (mut solved, mut rho_updates) = (0, 0);
    let n = p1_swing_up_allocations(&mut mpc, |report| {
        solved += usize::from(!report.outcome.is_fallback());
        rho_updates += report.qp_rho_updates;
    });
    assert_eq!(solved, 100, "the measured steps must be real solves");
    assert!(
        rho_updates > 0,
        "no rho update: the refactorisation in a solve was not exercised"
    );
    assert_eq!(
        n, 0,
        "heap allocations in 100 P1 steps with the dense solver"
    );
}

/// With the dense solver's active-set step (`[controller.qp] polish`):
/// P1's swing-up has solves past the step's first attempt (60 ADMM
/// iterations), which factorise and solve in the step's own storage.
#[test]
fn p1_steps_with_the_active_set_step_do_not_allocate() {
    let mut cfg = p1_config();
    cfg.qp.solver = recede_mpc::QpSolver::Dense;
    cfg.qp.polish = true;
    let mut mpc = p1_mpc(cfg.to_spec().unwrap());
    let (mut solved, mut longest) = (0, 0);
    let n = p1_swing_up_allocations(&mut mpc, |report| {
        solved += usize::from(!report.outcome.is_fallback());
        longest = longest.max(report.qp_iterations);
    });
    assert_eq!(solved, 100, "the measured steps must be real solves");
    assert!(
        longest >= 60,
        "no solve reached the active-set step ({longest} iterations at most)"
    );
    assert_eq!(
        n, 0,
        "heap allocations in 100 P1 steps with the active-set step"
    );
}

/// With the exact box solve (`[controller.qp] active_set`, P1's own
/// configuration): the swing-up's saturated steps take several
/// active-set rounds, each a Cholesky of the free block in the step's
/// own storage.
#[test]
fn p1_steps_with_the_exact_box_solve_do_not_allocate() {
    let mut cfg = p1_config();
    cfg.qp.solver = recede_mpc::QpSolver::Dense;
    cfg.qp.active_set = true;
    let mut mpc = p1_mpc(cfg.to_spec().unwrap());
    let (mut solved, mut longest) = (0, 0);
    let n = p1_swing_up_allocations(&mut mpc, |report| {
        solved += usize::from(!report.outcome.is_fallback());
        longest = longest.max(report.qp_iterations);
    });
    assert_eq!(solved, 100, "the measured steps must be real solves");
    assert!(
        longest >= 3,
        "no solve changed its active set twice ({longest} rounds at most)"
    );
    assert_eq!(mpc.fallback_counts().active_set_fallbacks, 0);
    assert_eq!(
        n, 0,
        "heap allocations in 100 P1 steps with the exact box solve"
    );
}

#[test]
fn fallback_steps_do_not_allocate() {
    let mut mpc = p1_mpc(p1_spec());
    let x = p1_x0();
    let mut u = Vector1::zeros();
    for _ in 0..5 {
        mpc.step(&x, P1_DT_SECS, &mut u);
    }
    let bad = SVector::<f64, 4>::from_element(f64::NAN);
    let mut fallbacks = 0;
    let n = allocations_in(|| {
        for i in 0..20 {
            let state = if i % 3 == 0 { &x } else { &bad };
            let report = mpc.step(state, P1_DT_SECS, &mut u);
            fallbacks += usize::from(report.outcome.is_fallback());
        }
    });
    assert!(fallbacks >= 10);
    assert_eq!(n, 0, "heap allocations in fallback steps");
}

/// P2's weights around hover (N = 20, dt = 0.05 s, thrusts in [0, 8] N).
fn quadrotor_config() -> MpcConfig {
    let mut q = vec![0.0; quadrotor::NX];
    q[quadrotor::POSITION..quadrotor::POSITION + 3].fill(100.0);
    // q_w: 0, q_xyz: 10.
    q[quadrotor::QUATERNION + 1..quadrotor::QUATERNION + 4].fill(10.0);
    q[quadrotor::VELOCITY..quadrotor::VELOCITY + 3].fill(1.0);
    q[quadrotor::BODY_RATE..quadrotor::BODY_RATE + 3].fill(0.1);
    MpcConfig {
        horizon_steps: 20,
        dt_secs: 0.05,
        rk4_substeps: 1,
        integrator: Default::default(),
        period_secs: None,
        state_weights: q,
        terminal_weights: None,
        input_weights: vec![0.1; quadrotor::NU],
        input_min: Some(vec![0.0; quadrotor::NU]),
        input_max: Some(vec![8.0; quadrotor::NU]),
        state_bounds: Vec::new(),
        sqp_iterations: 1,
        initial_guess: Default::default(),
        osqp: Default::default(),
        qp: Default::default(),
        fallback: recede_mpc::FallbackConfig {
            safe_input: Some(vec![Quadrotor::default().hover_thrust_n(); quadrotor::NU]),
            ..Default::default()
        },
        governor: None,
    }
}

/// The quadrotor's steps through its written-out tangent (the path
/// `Rk4::linearize` takes for it), on both backends (P2's is the dense one).
#[test]
fn quadrotor_steps_do_not_allocate() {
    quadrotor_steps_allocate_nothing(recede_mpc::QpSolver::default());
    quadrotor_steps_allocate_nothing(recede_mpc::QpSolver::Dense);
}

fn quadrotor_steps_allocate_nothing(solver: recede_mpc::QpSolver) {
    const NX: usize = quadrotor::NX;
    const NU: usize = quadrotor::NU;
    let robot = Quadrotor::default();
    let mut cfg = quadrotor_config();
    cfg.qp.solver = solver;
    let spec = cfg.to_spec::<NX, NU>().unwrap();
    let model = Discretized::new(robot, Rk4::new(0.05, 1));
    let hover = Quadrotor::hover_state([0.0, 0.0, 2.0]);
    let thrust = robot.hover_input();
    // Start off the reference so that the QP has work to do.
    let mut x = Quadrotor::hover_state([0.5, -0.3, 1.6]);
    x[quadrotor::VELOCITY] = 0.4;
    let mut mpc: Mpc<_, (), NX, NU> = Mpc::new(model, (), spec, &x, &thrust).unwrap();
    mpc.set_constant_reference(&hover, &thrust);
    // The plant: the same model, 10 ms per control period.
    let plant = Rk4::new(0.01, 1);
    let mut u = SVector::<f64, NU>::zeros();
    for _ in 0..10 {
        mpc.step(&x, 0.01, &mut u);
        x = plant.step(&robot, &x, &u);
    }
    let mut solved = 0;
    let n = allocations_in(|| {
        for _ in 0..100 {
            let report = mpc.step(&x, 0.01, &mut u);
            solved += usize::from(!report.outcome.is_fallback());
            x = plant.step(&robot, &x, &u);
        }
    });
    assert_eq!(solved, 100, "the measured steps must be real solves");
    assert_eq!(n, 0, "heap allocations in 100 quadrotor steps ({solver:?})");
    // The controller flew towards the hover point.
    let distance = (x.fixed_rows::<3>(0) - hover.fixed_rows::<3>(0)).norm();
    assert!(distance < 0.3, "ended {distance} m from the hover point");
}

/// The cart-pole whose derivative is NaN while `broken` is set.
struct Faulty {
    broken: bool,
}

impl recede_model::Dynamics<4, 1> for Faulty {
    fn derivative<T: recede_model::Scalar>(
        &self,
        x: &SVector<T, 4>,
        u: &SVector<T, 1>,
    ) -> SVector<T, 4> {
        if self.broken {
            SVector::repeat(recede_model::c(f64::NAN))
        } else {
            recede_model::robots::CartPole::default().derivative(x, u)
        }
    }
}

#[test]
fn governed_multi_iteration_and_reinitialising_steps_do_not_allocate() {
    let mut cfg = p1_config();
    cfg.sqp_iterations = 2;
    cfg.governor = Some(recede_mpc::GovernorConfig {
        indices: vec![0],
        max_lead: 1.0,
        speed: Some(2.0),
        velocity_indices: vec![2],
    });
    let model = Discretized::new(Faulty { broken: false }, Rk4::new(P1_DT_SECS, 1));
    let mut mpc = Mpc::new(
        model,
        (),
        cfg.to_spec().unwrap(),
        &p1_x0(),
        &Vector1::zeros(),
    )
    .unwrap();
    mpc.set_safe_policy(Box::new(|x: &SVector<f64, 4>| Vector1::new(-x[2])));
    mpc.set_constant_reference(&SVector::from([30.0, 0.0, 0.0, 0.0]), &Vector1::zeros());
    let (mut x, mut u) = (p1_x0(), Vector1::zeros());
    for _ in 0..10 {
        mpc.step(&x, P1_DT_SECS, &mut u);
        x = p1_plant_step(&x, &u);
    }
    let (mut governed, mut reinitialized) = (0, 0);
    let n = allocations_in(|| {
        for i in 0..100 {
            mpc.model_mut().dynamics.broken = (40..43).contains(&i);
            let report = mpc.step(&x, P1_DT_SECS, &mut u);
            governed += usize::from(report.governed && report.sqp_iterations == 2);
            reinitialized += usize::from(report.reinitialized);
            x = p1_plant_step(&x, &u);
        }
    });
    assert!(
        governed > 50,
        "only {governed} governed two-iteration solves"
    );
    assert!(reinitialized >= 1, "the ladder never re-initialised");
    assert_eq!(n, 0, "heap allocations in governed and recovering steps");
}

/// Every QP structure at every horizon `recede bench scale` measures: the
/// steps of a partially condensed or sparse QP allocate nothing either.
#[test]
fn steps_do_not_allocate_at_any_size_or_structure() {
    use recede_mpc::{Condensing, QpConfig};
    // N = 320 (6.4 s of the unstable cart-pole) is left out: full
    // condensing's Hessian is useless there and blocks fall back now and
    // then even balancing (docs/performance.md), so its steps would not all
    // be real solves.
    let cases = [
        (Condensing::Full, &[20, 80, 160][..]),
        (Condensing::Partial, &[20, 80, 160][..]),
        (Condensing::None, &[20, 80][..]),
    ];
    for (condensing, horizons) in cases {
        for &horizon in horizons {
            let mut cfg = p1_config();
            cfg.horizon_steps = horizon;
            cfg.qp = QpConfig {
                condensing,
                block: None,
                ..Default::default()
            };
            let mut mpc = p1_mpc(cfg.to_spec().unwrap());
            // Balancing near the top: a QP every structure solves at every
            // horizon (the swing-up at N = 320 is another matter, see
            // docs/performance.md), so each measured step is a real solve.
            let (mut x, mut u) = (Vector4::new(0.3, 0.2, 0.0, 0.0), Vector1::zeros());
            mpc.reset(&x, &u);
            for _ in 0..3 {
                mpc.step(&x, P1_DT_SECS, &mut u);
                x = p1_plant_step(&x, &u);
            }
            let mut solved = 0;
            let n = allocations_in(|| {
                for _ in 0..5 {
                    let report = mpc.step(&x, P1_DT_SECS, &mut u);
                    solved += usize::from(!report.outcome.is_fallback());
                    x = p1_plant_step(&x, &u);
                }
            });
            assert_eq!(solved, 5, "{condensing:?} N = {horizon}: real solves");
            assert_eq!(n, 0, "{condensing:?} N = {horizon}: heap allocations");
        }
    }
}

/// The dense backend with soft rows: their slacks are eliminated before
/// the Cholesky (`dense_factor.rs`), in storage allocated at setup.
#[test]
fn dense_steps_with_eliminated_slacks_do_not_allocate() {
    let mut cfg = p1_config();
    cfg.qp.solver = recede_mpc::QpSolver::Dense;
    // The cart kept within 0.25 m of the middle, softly: active from the
    // start below.
    cfg.state_bounds = vec![recede_mpc::StateBoundConfig {
        index: 0,
        min: Some(-0.25),
        max: Some(0.25),
        soft: Some(recede_mpc::SoftPenalty { l1: 100.0, l2: 1.0 }),
    }];
    let mut mpc = p1_mpc(cfg.to_spec().unwrap());
    let (mut x, mut u) = (Vector4::new(0.3, 0.2, 0.0, 0.0), Vector1::zeros());
    mpc.reset(&x, &u);
    for _ in 0..3 {
        mpc.step(&x, P1_DT_SECS, &mut u);
        x = p1_plant_step(&x, &u);
    }
    let mut solved = 0;
    let n = allocations_in(|| {
        for _ in 0..50 {
            let report = mpc.step(&x, P1_DT_SECS, &mut u);
            solved += usize::from(!report.outcome.is_fallback());
            x = p1_plant_step(&x, &u);
        }
    });
    assert_eq!(solved, 50, "the measured steps must be real solves");
    assert_eq!(n, 0, "heap allocations in dense steps with soft rows");
}

/// The Riccati active set (`[controller.qp] solver = "riccati"`) at
/// N = 160: P1's swing-up, whose steps take several rounds (recursions in
/// the solver's own storage), allocates nothing.
#[test]
fn p1_steps_with_the_riccati_active_set_do_not_allocate() {
    let mut cfg = p1_config();
    cfg.horizon_steps = 160;
    cfg.qp.solver = recede_mpc::QpSolver::Riccati;
    let mut mpc = p1_mpc(cfg.to_spec().unwrap());
    let (mut solved, mut longest) = (0, 0);
    let n = p1_swing_up_allocations(&mut mpc, |report| {
        solved += usize::from(!report.outcome.is_fallback());
        longest = longest.max(report.qp_iterations);
    });
    assert_eq!(solved, 100, "the measured steps must be real solves");
    assert!(longest > 1, "no step took a second round");
    assert_eq!(mpc.fallback_counts().riccati_fallbacks, 0);
    assert_eq!(
        n, 0,
        "heap allocations in 100 P1 steps with the Riccati solver"
    );
}

/// The first steps at N = 320 from the reference guess (after `reset`,
/// which lays it out again): their QPs saturate most inputs and take the
/// restart, projected Newton and the primal method, hundreds of rounds in
/// the solver's own storage, without allocating.
#[test]
fn p1_first_steps_from_the_reference_guess_do_not_allocate() {
    let mut cfg = p1_config();
    cfg.horizon_steps = 320;
    cfg.qp.solver = recede_mpc::QpSolver::Riccati;
    cfg.initial_guess = recede_mpc::InitialGuess::Reference;
    let mut mpc = p1_mpc(cfg.to_spec().unwrap());
    let (x0, mut u) = (p1_x0(), Vector1::zeros());
    mpc.step(&x0, P1_DT_SECS, &mut u);
    mpc.reset(&x0, &Vector1::zeros());
    let (mut rounds, mut x) = (Vec::with_capacity(3), x0);
    let mut per_step = [0; 3];
    for n in &mut per_step {
        *n = allocations_in(|| {
            let report = mpc.step(&x, P1_DT_SECS, &mut u);
            rounds.push((report.qp_iterations, report.outcome.is_fallback()));
        });
        x = p1_plant_step(&x, &u);
    }
    let n: usize = per_step.iter().sum();
    assert_eq!(mpc.fallback_counts().riccati_fallbacks, 0, "{rounds:?}");
    assert!(rounds.iter().all(|r| !r.1), "{rounds:?}");
    assert!(
        rounds[0].0 > 50,
        "the first QP must take the long path: {rounds:?}"
    );
    assert_eq!(
        n, 0,
        "heap allocations in P1's first steps at N = 320: {per_step:?}"
    );
}
