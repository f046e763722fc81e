//! A firmware build is the controller alone: `cargo tree` of recede-ffi
//! (normal and build dependencies, all of its features) must not contain
//! the simulator, the viewer, the runtime, rerun, the perception pipeline
//! (EKF, obstacle mapper, target finder) or learn's training code (its
//! `training` feature pulls the random generators, which nothing else in
//! the controller needs).

// With `caller-memory` every test binary is linked with `--wrap` for the
// malloc family (build.rs), whose wrappers are in the library: link it.
#[cfg(feature = "caller-memory")]
extern crate recede_ffi;

use std::process::Command;

/// `cargo tree -p recede-ffi` over `edges`, one line per package in
/// `format`, with every feature on or only the defaults.
fn cargo_tree(edges: &str, all_features: bool, format: &str) -> String {
    let mut command = Command::new(env!("CARGO"));
    command.args(["tree", "-p", "recede-ffi", "--edges", edges]);
    if all_features {
        command.arg("--all-features");
    }
    let output = command
        .args(["--prefix", "none", "--format", format, "--offline"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "cargo tree -e {edges} failed: {stderr}"
    );
    String::from_utf8(output.stdout).expect("UTF-8")
}

#[test]
fn the_dependency_tree_holds_only_the_controller() {
    let tree = cargo_tree("normal,build", true, "{p}");
    let crates: Vec<&str> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    for must_have in [
        "recede-ffi",
        "recede-control",
        "recede-mpc",
        "recede-model",
        "recede-learn",
        "recede-msg",
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
        "recede-perception",
        // learn's `training` feature: off in firmware.
        "rand",
        "rand_chacha",
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
    let features = cargo_tree("normal,build,features", true, "{p} {f}");
    assert!(
        !features.contains("recede-learn feature \"training\""),
        "recede-ffi builds learn's training code:\n{features}"
    );
}

/// The default build (what `examples/firmware` links) reads no URDF: the
/// XML parser and its regex engine come only with `--features urdf`.
#[test]
fn the_default_build_links_no_xml_parser() {
    let tree = cargo_tree("normal,build", false, "{p}");
    let crates: Vec<&str> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(crates.contains(&"recede-model"), "the tree was not read");
    for banned in ["urdf-rs", "quick-xml", "serde-xml-rs", "xml-rs", "regex"] {
        assert!(
            !crates.contains(&banned),
            "recede-ffi's default build depends on `{banned}`:\n{tree}"
        );
    }
}
