//! Weights and input bounds changed on a built controller act exactly as
//! the same values written in its `[controller]` table.

use recede_control::{ControlError, Controller};
use recede_model::robots::RobotConfig;
use recede_mpc::MpcConfig;

const ROBOT: &str =
    "kind = \"cart_pole\"\ncart_mass_kg = 1.0\npole_mass_kg = 0.1\npole_length_m = 0.8\n";

fn controller(weights: &str, bounds: &str) -> Controller {
    let robot: RobotConfig = toml::from_str(ROBOT).unwrap();
    let config: MpcConfig = toml::from_str(&format!(
        "horizon_steps = 20\ndt_secs = 0.02\n{weights}\n{bounds}\n"
    ))
    .unwrap();
    Controller::new(&robot, &config, &[0.0, 3.0, 0.0, 0.0]).unwrap()
}

/// Commands of a closed loop whose plant is one RK4 step of the controller's
/// own model per period (the predicted next state).
fn closed_loop(c: &mut Controller, steps: usize) -> Vec<f64> {
    c.set_constant_reference(&[0.0; 4], &[0.0]).unwrap();
    let mut x = [0.0, 3.0, 0.0, 0.0];
    let mut u = [0.0];
    let mut out = Vec::new();
    let mut plan = vec![0.0; 21 * 4];
    for _ in 0..steps {
        c.step(&x, &mut u).unwrap();
        out.push(u[0]);
        c.predicted_states(&mut plan).unwrap();
        x.copy_from_slice(&plan[..4]);
    }
    out
}

const W1: &str = "state_weights = [1e3, 1e3, 1e-2, 1e-2]\ninput_weights = [1e-2]";
const W2: &str =
    "state_weights = [50.0, 2e3, 1.0, 0.5]\nterminal_weights = [10.0, 10.0, 1.0, 1.0]\ninput_weights = [0.3]";

#[test]
fn weights_set_on_a_built_controller_equal_the_files() {
    let mut changed = controller(W1, "");
    changed
        .set_weights(&[50.0, 2e3, 1.0, 0.5], &[10.0, 10.0, 1.0, 1.0], &[0.3])
        .unwrap();
    // Weights enter the QP at a preparation; rebuild it before the first step.
    changed.refresh();
    let mut built = controller(W2, "");
    let (a, b) = (closed_loop(&mut changed, 30), closed_loop(&mut built, 30));
    assert_eq!(a, b);
    assert_ne!(a, closed_loop(&mut controller(W1, ""), 30));
    let (mut q, mut qn, mut r) = ([0.0; 4], [0.0; 4], [0.0]);
    changed.weights(&mut q, &mut qn, &mut r).unwrap();
    assert_eq!(
        (q, qn, r),
        ([50.0, 2e3, 1.0, 0.5], [10.0, 10.0, 1.0, 1.0], [0.3])
    );
}

#[test]
fn bounds_set_on_a_built_controller_equal_the_files() {
    let mut changed = controller(W1, "input_min = [-80.0]\ninput_max = [80.0]");
    changed.set_input_bounds(&[-5.0], &[7.0]).unwrap();
    let mut built = controller(W1, "input_min = [-5.0]\ninput_max = [7.0]");
    let a = closed_loop(&mut changed, 30);
    assert_eq!(a, closed_loop(&mut built, 30));
    assert!(
        a.iter().all(|u| (-5.0 - 1e-6..=7.0 + 1e-6).contains(u)),
        "{a:?}"
    );
    assert!(a
        .iter()
        .any(|u| (u - 7.0).abs() < 1e-3 || (u + 5.0).abs() < 1e-3));
}

#[test]
fn bad_weights_and_bounds_are_errors_and_change_nothing() {
    let mut c = controller(W1, "");
    let q = [1e3, 1e3, 1e-2, 1e-2];
    for (state, input) in [
        ([1.0, f64::NAN, 1.0, 1.0], [1.0]),
        ([1.0, -1.0, 1.0, 1.0], [1.0]),
        ([0.0; 4], [0.0]),
        ([1.0; 4], [f64::INFINITY]),
    ] {
        let e = c.set_weights(&state, &q, &input).unwrap_err();
        assert!(matches!(e, ControlError::Update(_)), "{e}");
    }
    assert!(matches!(
        c.set_weights(&[1.0; 3], &q, &[1.0]),
        Err(ControlError::Length { .. })
    ));
    for (lo, hi) in [(1.0, -1.0), (f64::NAN, 1.0), (f64::INFINITY, f64::INFINITY)] {
        assert!(c.set_input_bounds(&[lo], &[hi]).is_err(), "{lo} {hi}");
    }
    assert_eq!(
        closed_loop(&mut c, 20),
        closed_loop(&mut controller(W1, ""), 20)
    );
}
