//! End-to-end: `recede run --log-data` -> `recede train` -> a scenario
//! whose controller loads the trained model.

use std::path::Path;
use std::process::Command;

use recede_runner::datalog::Transitions;

fn recede(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_recede"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run recede")
}

fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "exit {:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The figure-eight scenario with `extra` appended to its `[controller]`
/// instead of its own residual.
fn scenario_with(dir: &Path, extra: &str) -> std::path::PathBuf {
    let mut base = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/quadrotor_figure8.toml"),
    )
    .unwrap();
    let (start, end) = (
        base.find("[controller.residual]").unwrap(),
        base.find("[controller.fallback]").unwrap(),
    );
    base.replace_range(start..end, "");
    let text = base.replace("[reference]", &format!("{extra}\n[reference]"));
    let path = dir.join("scenario.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn log_train_and_load_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("flight.arrow");
    let scenario = scenario_with(dir.path(), "");
    ok(&recede(&[
        "run",
        scenario.to_str().unwrap(),
        "--duration",
        "0.6",
        "--json",
        "--log-data",
        log.to_str().unwrap(),
    ]));

    // The log: one row per control step, consecutive rows chained, targets
    // as documented.
    let t = Transitions::read(&log).unwrap();
    assert_eq!(
        (t.robot.as_str(), t.nx, t.nu, t.rows),
        ("quadrotor", 13, 4, 60)
    );
    let x = t.group("x", 13).unwrap();
    let x_next = t.group("x_next", 13).unwrap();
    let nominal = t.group("nominal_next", 13).unwrap();
    let target = t.group("target", 13).unwrap();
    let dt = &t.columns["dt_secs"];
    for row in 0..t.rows - 1 {
        for i in 0..13 {
            assert_eq!(x_next[i][row], x[i][row + 1]);
            let expected = (x_next[i][row] - nominal[i][row]) / dt[row];
            assert_eq!(target[i][row], expected);
        }
    }
    assert!(!t.columns.contains_key("true_residual_0"));

    // Train a small model on it.
    let config = dir.path().join("residual.toml");
    std::fs::write(
        &config,
        "hidden = [4]\nfeatures = [{ kind = \"body_velocity\" }, { kind = \"input_sum\" }]\n\
         outputs = [{ kind = \"world_from_body\", start = 7 }]\n\
         [training]\nmax_epochs = 3\nbatch_size = 16\n",
    )
    .unwrap();
    let model = dir.path().join("drag.safetensors");
    let out = recede(&[
        "train",
        "--data",
        log.to_str().unwrap(),
        "--model",
        config.to_str().unwrap(),
        "--out",
        model.to_str().unwrap(),
    ]);
    let summary: serde_json::Value = serde_json::from_str(ok(&out).trim()).unwrap();
    assert_eq!(summary["samples"], 60);
    assert_eq!(summary["epochs"], 3);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("epoch    3/3"), "{stderr}");
    assert!(stderr.contains("validation"), "{stderr}");
    recede_learn::MlpResidual::<13, 4>::load(&model).unwrap();

    // A scenario naming the model (relative to the scenario file) runs
    // with it and reports the residual's counters.
    let scenario = scenario_with(
        dir.path(),
        "[controller.residual]\nmodel = \"drag.safetensors\"\n\
         [controller.residual.adaptation]\nforgetting_factor = 0.99\n",
    );
    let out = ok(&recede(&[
        "run",
        scenario.to_str().unwrap(),
        "--duration",
        "0.2",
        "--json",
    ]));
    let summary: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let residual = &summary["residual"];
    assert!(residual["evaluations"].as_u64().unwrap() > 0, "{summary}");
    let adaptation = &residual["adaptation"];
    assert_eq!(adaptation["enabled"], true);
    let seen: u64 = [
        "updated",
        "rejected_non_finite",
        "rejected_innovation",
        "rejected_outside_support",
    ]
    .iter()
    .map(|k| adaptation[k].as_u64().unwrap())
    .sum();
    assert_eq!(seen, 19, "{adaptation}");
}

#[test]
fn a_missing_or_corrupt_model_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = scenario_with(
        dir.path(),
        "[controller.residual]\nmodel = \"absent.safetensors\"\n",
    );
    let out = recede(&["check", scenario.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("absent.safetensors"), "{stderr}");

    std::fs::write(dir.path().join("bad.safetensors"), b"garbage").unwrap();
    let scenario = scenario_with(
        dir.path(),
        "[controller.residual]\nmodel = \"bad.safetensors\"\n",
    );
    let out = recede(&["run", scenario.to_str().unwrap(), "--duration", "0.1"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad.safetensors"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    let out = recede(&[
        "train",
        "--data",
        dir.path().join("bad.safetensors").to_str().unwrap(),
        "--model",
        "configs/residual_quadrotor.toml",
        "--out",
        dir.path().join("m.safetensors").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad.safetensors"), "{stderr}");
}

/// `--log-target plant_step`: once a period one plant step of P2's true
/// plant (1 ms) with its midpoint, which `recede train` fits at `x_mid`;
/// without `--log-data` the option is refused.
#[test]
fn plant_step_logs_train_at_the_midpoint() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("steps.arrows");
    ok(&recede(&[
        "run",
        "configs/bench/p2_v9.toml",
        "--duration",
        "0.3",
        "--json",
        "--no-rrd",
        "--log-data",
        log.to_str().unwrap(),
        "--log-target",
        "plant_step",
    ]));
    let t = Transitions::read(&log).unwrap();
    assert_eq!(t.target, recede_runner::datalog::LogTarget::PlantStep);
    assert_eq!(t.rows, 30);
    assert!(t.columns["dt_secs"].iter().all(|&h| h == 0.001));
    let (x, x_next, mid) = (
        t.group("x", 13).unwrap(),
        t.group("x_next", 13).unwrap(),
        t.group("x_mid", 13).unwrap(),
    );
    for row in 0..t.rows {
        // The step's midpoint: the mean (the quaternion renormalised).
        for i in (0..3).chain(7..13) {
            assert_eq!(mid[i][row], (x[i][row] + x_next[i][row]) * 0.5);
        }
    }
    let config = dir.path().join("residual.toml");
    std::fs::write(
        &config,
        "hidden = [4]\nfeatures = [{ kind = \"body_velocity\" }, { kind = \"input_sum\" }]\n\
         outputs = [{ kind = \"world_from_body\", start = 7 }]\n\
         [training]\nmax_epochs = 2\nbatch_size = 8\n",
    )
    .unwrap();
    let model = dir.path().join("drag.safetensors");
    let out = recede(&[
        "train",
        "--data",
        log.to_str().unwrap(),
        "--model",
        config.to_str().unwrap(),
        "--out",
        model.to_str().unwrap(),
    ]);
    let summary: serde_json::Value = serde_json::from_str(ok(&out).trim()).unwrap();
    assert_eq!(summary["samples"], 30);

    let refused = recede(&[
        "run",
        "configs/bench/p2_v9.toml",
        "--no-rrd",
        "--log-target",
        "plant_step",
    ]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--log-data"));
}
