//! `recede run` stopped from outside: SIGINT, SIGTERM and SIGHUP end it
//! cleanly (summary, closed recording and data log); after SIGKILL the
//! data log is readable up to its last written batch and the recording
//! still holds its static scene.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use recede_runner::datalog::{Transitions, BATCH_ROWS};

fn start(dir: &Path, tag: &str) -> (Child, PathBuf, PathBuf) {
    let log = dir.join(format!("{tag}.arrow"));
    let rrd = dir.join(format!("{tag}.rrd"));
    let child = Command::new(env!("CARGO_BIN_EXE_recede"))
        .args([
            "run",
            "configs/cartpole.toml",
            "--json",
            "--duration",
            "80000",
        ])
        .arg("--log-data")
        .arg(&log)
        .arg("--rrd")
        .arg(&rrd)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start recede");
    (child, log, rrd)
}

/// Waits until the data log holds `batches` record batches (its size says
/// so: the cart-pole's 19 float64 columns). A guard, not a speed
/// requirement: the wait gives up after ten minutes.
fn wait_for_batches(log: &Path, batches: u64) {
    let bytes = batches * (BATCH_ROWS as u64) * 8 * 19;
    for _ in 0..6000 {
        if std::fs::metadata(log).is_ok_and(|m| m.len() >= bytes) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{} never reached {bytes} bytes", log.display());
}

fn signal(child: &Child, name: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(ok.success(), "kill -{name}");
}

/// Control instants one period apart from 0: the rows are the run's own.
fn check_rows(t: &Transitions) {
    let times = &t.columns["t_secs"];
    assert!(times.len() >= BATCH_ROWS, "{} rows", times.len());
    for (k, v) in times.iter().enumerate() {
        assert!((v - 0.02 * k as f64).abs() < 1e-9, "row {k}: t = {v}");
    }
    assert!(t.columns["x_0"].iter().all(|v| v.is_finite()));
}

#[test]
fn sigint_sigterm_and_sighup_stop_a_run_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["INT", "TERM", "HUP"] {
        let (child, log, rrd) = start(dir.path(), name);
        wait_for_batches(&log, 1);
        signal(&child, name);
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        // Stopped early: the goal is not judged reached.
        assert_eq!(out.status.code(), Some(1), "SIG{name}: {stderr}");
        let s: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("SIG{name}: no summary ({e}): {stderr}"));
        assert_eq!(s["stopped"], true, "SIG{name}");
        assert!(s["control_steps"].as_u64().unwrap() >= BATCH_ROWS as u64);
        assert!(
            stderr.contains("wrote"),
            "SIG{name}: the log was closed: {stderr}"
        );
        let t = Transitions::read(&log).unwrap();
        check_rows(&t);
        // Every step's transition but (when the run ended at its instant)
        // the last one's, which has no successor state.
        let steps = s["control_steps"].as_u64().unwrap();
        let rows = t.rows as u64;
        assert!(
            rows + 1 >= steps && rows <= steps,
            "SIG{name}: {rows} rows, {steps} steps"
        );
        let mut file = std::fs::File::open(&rrd).unwrap();
        rerun::ChunkStore::from_rrd_reader(&rerun::ChunkStoreConfig::DEFAULT, &mut file)
            .unwrap_or_else(|e| panic!("SIG{name}: the recording does not decode: {e}"));
    }
}

#[test]
fn after_sigkill_the_data_log_reads_to_its_last_batch() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, log, rrd) = start(dir.path(), "kill");
    wait_for_batches(&log, 2);
    signal(&child, "KILL");
    child.wait().unwrap();
    let t = Transitions::read(&log).unwrap();
    check_rows(&t);
    assert_eq!(t.rows % BATCH_ROWS, 0, "whole batches only: {}", t.rows);
    // The recording has no footer, but its static scene was written first.
    let mut file = std::fs::File::open(&rrd).unwrap();
    let stores = rerun::ChunkStore::from_rrd_reader(&rerun::ChunkStoreConfig::DEFAULT, &mut file)
        .expect("the killed recording decodes up to where it stops");
    let entities: Vec<String> = stores
        .into_values()
        .flat_map(|s| {
            s.all_entities_sorted()
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    for want in [recede_viz::paths::REFERENCE, recede_viz::paths::BODY] {
        assert!(
            entities
                .iter()
                .any(|e| e.trim_start_matches('/').starts_with(want)),
            "{want} missing from {entities:?}"
        );
    }
}

/// A reader that leaves before the summary (`recede ... | head -c 0`):
/// the write fails with EPIPE and the process ends by SIGPIPE like any
/// Unix filter, not with a panic. The pipe's read end is closed before
/// the child starts, so its first write always finds it closed.
#[test]
fn a_closed_stdout_ends_the_process_quietly() {
    use std::os::unix::process::ExitStatusExt;
    for args in [
        &["check", "configs/cartpole.toml"][..],
        &["run", "configs/bench/p3.toml", "--json", "--no-rrd"][..],
    ] {
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader);
        let out = Command::new(env!("CARGO_BIN_EXE_recede"))
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdout(writer)
            .stderr(Stdio::piped())
            .output()
            .expect("run recede");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(
            out.status.signal(),
            Some(libc::SIGPIPE),
            "{args:?}: {:?} {stderr}",
            out.status
        );
    }
}
