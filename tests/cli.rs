//! End-to-end: the `recede` binary on the shipped scenario files.

use std::path::Path;
use std::process::Command;

fn recede(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_recede"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run recede")
}

fn json(out: &std::process::Output) -> serde_json::Value {
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[test]
fn cartpole_scenario_swings_up() {
    let out = recede(&["run", "configs/cartpole.toml", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = json(&out);
    for key in [
        "scenario",
        "control_steps",
        "goal_reached",
        "constraint_violations",
        "fallbacks",
        "step_us",
    ] {
        assert!(s.get(key).is_some(), "summary lacks `{key}`: {s}");
    }
    assert_eq!(s["goal_reached"], true);
    assert_eq!(s["control_steps"], 200);
    assert_eq!(s["fallbacks"], 0);
    assert_eq!(s["constraint_violations"], 0);
    for p in ["median", "p99", "max"] {
        assert!(s["step_us"][p].as_f64().unwrap() > 0.0);
    }
}

#[test]
fn every_shipped_scenario_checks() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // The flagship residual's training flights too.
    let entries = std::fs::read_dir(root.join("configs"))
        .unwrap()
        .chain(std::fs::read_dir(root.join("configs/train")).unwrap());
    for entry in entries {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !name.ends_with(".toml") || name.starts_with("tune_") || name.starts_with("residual_") {
            continue;
        }
        let out = recede(&["check", path.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A bad file is an error naming the file, the key and what was expected;
/// never a panic.
#[test]
fn bad_scenarios_are_named_errors() {
    let dir = std::env::temp_dir().join(format!("recede-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/cartpole.toml"),
    )
    .unwrap();
    let cases = [
        (
            "unknown_key",
            good.replace("horizon_steps = 40", "horizon_steps = 40\nhorizon = 3"),
            "horizon",
        ),
        (
            "short_weights",
            good.replace(
                "state_weights = [1e3, 1e3, 1e-2, 1e-2]",
                "state_weights = [1e3, 1e3]",
            ),
            "state_weights",
        ),
        (
            "negative_weight",
            good.replace("input_weights = [1e-1]", "input_weights = [-1.0]"),
            "input_weights",
        ),
        (
            "robot_kind",
            good.replace("kind = \"cart_pole\"", "kind = \"submarine\""),
            "submarine",
        ),
        (
            "robot_param",
            good.replace("pole_length_m = 0.8", "pole_length_m = -0.8"),
            "pole_length_m",
        ),
        (
            "initial_state",
            good.replace(
                "initial_state = [0.0, 3.141592653589793, 0.0, 0.0]",
                "initial_state = [0.0]",
            ),
            "initial_state",
        ),
        (
            "plant_rate",
            good.replace("plant_rate_hz = 500.0", "plant_rate_hz = 333.0"),
            "plant_rate_hz",
        ),
        (
            "wrong_type",
            good.replace("dt_secs = 0.02", "dt_secs = \"fast\""),
            "dt_secs",
        ),
        (
            "safe_input",
            good.replace("safe_input = [0.0]", "safe_input = [100.0]"),
            "safe_input",
        ),
        (
            "zero_dt",
            good.replace("dt_secs = 0.02", "dt_secs = 0.0"),
            "dt_secs",
        ),
        (
            "endless",
            good.replace("duration_secs = 4.0", "duration_secs = 1e308"),
            "duration_secs",
        ),
        (
            "long_horizon",
            good.replace("horizon_steps = 40", "horizon_steps = 100000"),
            "horizon_steps",
        ),
        (
            "escaping_name",
            good.replace("name = \"cartpole\"", "name = \"../../escaped\""),
            "name",
        ),
        (
            "huge_reference",
            good.replace("\ninput = [0.0]", "\ninput = [1e300]"),
            "`input[0]`",
        ),
        (
            "plant_param",
            good.replace(
                "params = { cart_mass_kg = 1.0, pole_mass_kg = 0.1, pole_length_m = 0.8 }",
                "params = { cart_mass_kg = 1.0, pole_mass_kg = 0.1, pole_length_m = -0.8 }",
            ),
            "pole_length_m",
        ),
        (
            "sqp_iterations",
            good.replace(
                "horizon_steps = 40",
                "horizon_steps = 40\nsqp_iterations = 100000",
            ),
            "sqp_iterations",
        ),
    ];
    for (name, text, key) in cases {
        let path = dir.join(format!("{name}.toml"));
        std::fs::write(&path, text).unwrap();
        let out = recede(&["check", path.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {err}");
        assert!(
            err.contains(&format!("{name}.toml")),
            "{name}: file not named: {err}"
        );
        assert!(err.contains(key), "{name}: key `{key}` not named: {err}");
        assert!(!err.contains("panicked"), "{name}: {err}");
        // Each layer adds its own words; none repeats another's.
        let clauses: Vec<&str> = err.trim().split(": ").filter(|c| c.len() > 12).collect();
        for (i, c) in clauses.iter().enumerate() {
            assert!(
                !clauses[i + 1..].contains(c),
                "{name}: `{c}` repeated: {err}"
            );
        }
    }
    let missing = recede(&["check", "configs/does-not-exist.toml"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("does-not-exist.toml"));
}

/// Run-time limits are named errors too, before anything runs.
#[test]
fn run_options_out_of_range_are_named_errors() {
    for (args, key) in [
        (&["--duration", "1e308"][..], "--duration"),
        (&["--duration", "1e9"][..], "--duration"),
        (&["--duration", "nan"][..], "--duration"),
    ] {
        let mut all = vec!["run", "configs/cartpole.toml", "--no-rrd"];
        all.extend_from_slice(args);
        let out = recede(&all);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains(key) && err.contains("cartpole.toml"),
            "{args:?}: {err}"
        );
    }
    let out = recede(&["bench", "p2", "--speeds", "nan"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--speeds"), "{err}");
}

#[test]
fn bench_p1_meets_its_reference() {
    let out = recede(&["bench", "p1", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let variants: Vec<_> = lines
        .iter()
        .map(|r| r["variant"].as_str().unwrap())
        .collect();
    assert_eq!(variants, ["default", "max_iter_50"]);
    for r in &lines {
        assert_eq!(r["problem"], "p1");
        assert_eq!(r["steps"], 200);
        assert_eq!(r["success"], true, "{r}");
        assert_eq!(r["bound_violations"], 0);
        let cost = r["closed_loop_cost"].as_f64().unwrap();
        // The reference's 123971.2 within 0.05% (123983.3 with OSQP's
        // default tolerances); the cart's default governor, engaged by the
        // swing-up, moved it 0.9% off.
        assert!((cost - 123_971.2).abs() / 123_971.2 < 5e-4, "cost {cost}");
        assert!(r["qp_iterations"]["median"].as_u64().unwrap() > 0);
    }
    assert!(lines[1]["qp_iterations"]["max"].as_u64().unwrap() <= 50);
}

#[test]
fn bench_p3_reports_its_ratio() {
    let out = recede(&["bench", "p3", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = json(&out);
    assert_eq!(r["problem"], "p3");
    assert_eq!(r["steps"], 100);
    assert_eq!(r["fallbacks"], 0);
    assert!(r["ratio_median"].as_f64().unwrap() >= 1.0);
    // Both loops solve the same QP to OSQP's default tolerance.
    assert!(r["max_input_difference"].as_f64().unwrap() < 0.05, "{r}");
}

/// A recording that cannot be written stops `recede run` before the loop:
/// exit code 2, the path named, no summary (the library half, no control
/// step run: crates/runner/tests/scenarios/run_loop.rs).
#[test]
fn a_recording_that_cannot_be_written_exits_2_before_the_run() {
    let out = recede(&[
        "run",
        "configs/cartpole.toml",
        "--rrd",
        "/nonexistent-dir/run.rrd",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("nonexistent-dir"), "{stderr}");
    assert!(
        out.stdout.is_empty(),
        "no summary: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// A model file that does not load, in a scenario whose initial state
/// comes from its reference: the error is the file's, not a reference
/// "of 0 values" (the sizes of a robot that did not load).
#[test]
fn an_unloadable_model_file_is_named_before_the_reference_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/cartpole_model_file.toml"),
    )
    .unwrap()
    .replace("initial_state = [0.0, 3.141592653589793, 0.0, 0.0]\n", "")
    .replace("models/cartpole.toml", "models/missing.toml");
    let path = dir.path().join("missing_model.toml");
    std::fs::write(&path, text).unwrap();
    let out = recede(&["check", path.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("[robot]") && stderr.contains("missing.toml"),
        "{stderr}"
    );
    assert!(!stderr.contains("reference"), "{stderr}");
}

/// A robot parameter out of range on a scenario whose reference is read
/// on the robot (an end-effector circle): named under `[robot]`, not as
/// the reference's failure.
#[test]
fn a_bad_robot_parameter_is_named_before_the_end_effector_reference() {
    let out = recede(&[
        "check",
        "configs/soft_arm.toml",
        "--set",
        "robot.length_m=-1.0",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("[robot]") && stderr.contains("length_m"),
        "{stderr}"
    );
    assert!(!stderr.contains("[reference]"), "{stderr}");
}
