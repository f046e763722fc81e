//! A firmware build is the controller-side crates alone: `cargo tree` of
//! recede-ffi (normal and build dependencies, all features) must not contain
//! the simulator, the viewer, the runtime or rerun.

use std::process::Command;

#[test]
fn the_dependency_tree_holds_no_simulator_viewer_runtime_or_rerun() {
    let output = Command::new(env!("CARGO"))
        .args([
            "tree",
            "-p",
            "recede-ffi",
            "--edges",
            "normal,build",
            "--all-features",
            "--prefix",
            "none",
            "--format",
            "{p}",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "cargo tree failed: {stderr}");
    let tree = String::from_utf8(output.stdout).expect("UTF-8");
    let crates: Vec<&str> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    for must_have in [
        "recede-ffi",
        "recede-control",
        "recede-mpc",
        "recede-model",
        "osqp-sys",
    ] {
        assert!(
            crates.contains(&must_have),
            "`{must_have}` missing: the tree was not read"
        );
    }
    for banned in [
        "recede-sim",
        "recede-viz",
        "recede-rt",
        "rerun",
        "crossbeam-channel",
    ] {
        assert!(
            !crates.contains(&banned),
            "recede-ffi depends on `{banned}`:\n{tree}"
        );
    }
    assert!(
        !crates.iter().any(|c| c.starts_with("re_")),
        "a rerun crate in the tree:\n{tree}"
    );
}
