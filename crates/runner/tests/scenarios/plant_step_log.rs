//! Plant-step transition logs (`recede run --log-data FILE --log-target
//! plant_step`): once per control period, one step of the true plant, the
//! `k`-th period's `k mod n`-th step (`n` plant steps a period). Each row
//! is checked against the plant stepped directly from the logged state
//! under the logged input, bit for bit, and against the nominal model.

use recede_runner::datalog::{DataLog, LogNominal, LogTarget, Transitions};
use recede_runner::run::{run_with_options_and_log, RunOptions};
use recede_runner::scenario::Scenario;

/// Row `row` of the `n` columns `{prefix}_i`.
fn row_of(t: &Transitions, prefix: &str, n: usize, row: usize) -> Vec<f64> {
    t.group(prefix, n).unwrap().iter().map(|c| c[row]).collect()
}

fn bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits()).collect()
}

fn check(file: &str, secs: f64) {
    let scenario = Scenario::load(&crate::workspace_root().join(file)).unwrap();
    let robot = &scenario.file.robot;
    let (nx, nu) = robot.dimensions();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("steps.arrows");
    let mut log = DataLog::create_for(&path, robot, false, LogTarget::PlantStep).unwrap();
    let options = RunOptions {
        duration_secs: Some(secs),
        ..RunOptions::default()
    };
    let summary = run_with_options_and_log(&scenario, &options, Some(&mut log)).unwrap();
    let rows = log.finish().unwrap();
    let t = Transitions::read(&path).unwrap();
    assert_eq!(t.target, LogTarget::PlantStep, "{file}");
    assert_eq!(
        (rows, t.rows),
        (summary.control_steps, summary.control_steps)
    );

    let nominal = LogNominal::new(robot).unwrap();
    let mut plant = scenario
        .plant_config()
        .build(scenario.file.scenario.seed)
        .unwrap();
    let h = plant.step_secs();
    let n = (scenario.period_secs() / h).round() as usize;
    assert!(n > 1, "{file}: the test wants several plant steps a period");
    let (mut predicted, mut moved) = (vec![0.0; nx], 0.0_f64);
    for row in 0..rows {
        let (x, u) = (row_of(&t, "x", nx, row), row_of(&t, "u", nu, row));
        let next = row_of(&t, "x_next", nx, row);
        let t_secs = t.columns["t_secs"][row];
        assert_eq!(t_secs, (row * n + row % n) as f64 * h, "{file}: row {row}");
        assert_eq!(t.columns["dt_secs"][row], h);
        // The true plant, one step from the logged state and input.
        plant.set_state(&x).unwrap();
        plant.step(t_secs, &u).unwrap();
        assert_eq!(bits(plant.state()), bits(&next), "{file}: row {row}");
        assert_eq!(bits(plant.applied_input()), bits(&u), "{file}: row {row}");
        // The target: what the nominal model misses over the step.
        nominal.predict(&x, &u, h, &mut predicted);
        assert_eq!(bits(&predicted), bits(&row_of(&t, "nominal_next", nx, row)));
        let target: Vec<f64> = (0..nx).map(|i| (next[i] - predicted[i]) / h).collect();
        assert_eq!(bits(&target), bits(&row_of(&t, "target", nx, row)));
        // The midpoint, on the state's manifold.
        let mut mid: Vec<f64> = (0..nx).map(|i| (x[i] + next[i]) * 0.5).collect();
        nominal.project(&mut mid);
        assert_eq!(bits(&mid), bits(&row_of(&t, "x_mid", nx, row)));
        moved = moved.max((0..nx).map(|i| (next[i] - x[i]).abs()).fold(0.0, f64::max));
    }
    assert!(moved > 1e-4, "{file}: the robot hardly moved ({moved})");
    // Period 0 keeps its first step: from the scenario's start.
    assert_eq!(
        bits(&row_of(&t, "x", nx, 0)),
        bits(&scenario.file.scenario.initial_state)
    );
}

#[test]
fn plant_step_rows_are_steps_of_the_true_plant() {
    // The quadrotor with its unmodelled drag (a quaternion to project) and
    // the arm with its payload and friction.
    check("configs/bench/p2_v9.toml", 0.25);
    check("configs/bench/arm.toml", 0.25);
}

/// The quadrotor's midpoint is renormalised: the raw mean of two unit
/// quaternions is shorter than one.
#[test]
fn the_quadrotors_midpoint_has_a_unit_quaternion() {
    let scenario =
        Scenario::load(&crate::workspace_root().join("configs/bench/p2_v9.toml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("q.arrows");
    let mut log =
        DataLog::create_for(&path, &scenario.file.robot, false, LogTarget::PlantStep).unwrap();
    let options = RunOptions {
        duration_secs: Some(0.1),
        ..RunOptions::default()
    };
    run_with_options_and_log(&scenario, &options, Some(&mut log)).unwrap();
    log.finish().unwrap();
    let t = Transitions::read(&path).unwrap();
    for row in 0..t.rows {
        let q = &row_of(&t, "x_mid", 13, row)[3..7];
        let norm = q.iter().map(|v| v * v).sum::<f64>().sqrt();
        assert!((norm - 1.0).abs() < 1e-15, "row {row}: |q| = {norm}");
    }
}
