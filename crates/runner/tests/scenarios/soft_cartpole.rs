//! The soft cart-pole's scenario closed: the 1-segment model's MPC swings
//! the 3-segment plant's link up from hanging and holds it, within the
//! +-80 N bound, on the implicit midpoint rule.

use recede_runner::run::{run_with, RunOptions};
use recede_runner::scenario::Scenario;

#[test]
fn soft_link_swings_up_and_holds() {
    let file = crate::workspace_root().join("configs/soft_cartpole.toml");
    let scenario = Scenario::load(&file).unwrap_or_else(|e| panic!("{e:#}"));
    let mut fell_back = Vec::new();
    let mut hook = |r: &recede_rt::StepRecord<'_>| {
        if let Some(status) = r.status.as_ref().filter(|s| s.fell_back) {
            fell_back.push((r.t_secs, format!("{:?}", status.note)));
        }
    };
    let s = run_with(&scenario, &RunOptions::default(), Some(&mut hook))
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert!(s.goal_reached, "final state {:?}", s.final_state);
    // No fallback: before the soft bound on the pole's rate, a plan state
    // at |omega| ~ 25 rad/s made one interval's RK4 step diverge and the
    // condensed Hessian non-finite (`NotPrepared` at 0.1 s).
    assert_eq!(s.fallbacks, 0, "fallbacks {fell_back:?}");
    assert_eq!(fell_back.len(), 0);
    assert_eq!(s.safety.soft_bound_violations, 0, "{:?}", s.safety);
    assert_eq!(s.safety.constraint_violations, 0, "{:?}", s.safety);
    assert_eq!(s.safety.collisions, 0);
    // The scenario integrates with the implicit midpoint rule, whose
    // Newton iteration converged at every interval.
    let newton = s.newton.expect("the implicit midpoint rule's counts");
    assert!(newton.steps > 0 && newton.failures == 0, "{newton:?}");
}

/// The same swing-up with the model plus the residual trained on the
/// 3-segment plant's other motions (data/soft_cartpole_residual/): it
/// reaches the goal without a fallback, the residual evaluated.
#[test]
fn soft_link_swings_up_with_its_learned_residual() {
    let file = crate::workspace_root().join("configs/soft_cartpole_residual.toml");
    let scenario = Scenario::load(&file).unwrap_or_else(|e| panic!("{e:#}"));
    let s = run_with(&scenario, &RunOptions::default(), None).unwrap_or_else(|e| panic!("{e:#}"));
    assert!(s.goal_reached, "final state {:?}", s.final_state);
    assert_eq!(s.fallbacks, 0);
    assert_eq!(s.safety.constraint_violations, 0, "{:?}", s.safety);
    assert!(s.residual.is_some(), "the residual was not loaded");
}
