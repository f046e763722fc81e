//! The allowed-dependency table of ARCHITECTURE.md, enforced: every normal
//! dependency of a workspace crate on another must be in its row.

use std::collections::BTreeSet;
use std::process::Command;

use serde_json::Value;

/// Which workspace crates a crate may depend on (normal dependencies).
/// `None`: anything (the programs); the test-support crate is never allowed.
const ALLOWED: &[(&str, Option<&[&str]>)] = &[
    ("recede-msg", Some(&[])),
    ("recede-model", Some(&[])),
    ("recede-mpc", Some(&["recede-model"])),
    ("recede-learn", Some(&["recede-model"])),
    ("recede-perception", Some(&["recede-msg", "recede-model"])),
    ("recede-sim", Some(&["recede-msg", "recede-model"])),
    (
        "recede-control",
        Some(&["recede-msg", "recede-model", "recede-mpc", "recede-learn"]),
    ),
    ("recede-rt", Some(&["recede-msg"])),
    ("recede-viz", Some(&["recede-msg"])),
    (
        "recede-ffi",
        Some(&[
            "recede-msg",
            "recede-control",
            "recede-mpc",
            "recede-model",
            "recede-learn",
        ]),
    ),
    ("recede-test-support", Some(&[])),
    // Every library crate, never bench, tune or a program: they are built
    // on the runner.
    (
        "recede-runner",
        Some(&[
            "recede-msg",
            "recede-model",
            "recede-mpc",
            "recede-learn",
            "recede-perception",
            "recede-sim",
            "recede-control",
            "recede-rt",
            "recede-viz",
        ]),
    ),
    ("recede-bench", None),
    ("recede-tune", None),
    ("recede", None),
    ("recede-python", None),
];

const TEST_SUPPORT: &str = "recede-test-support";

/// The workspace's packages, from `cargo metadata`.
fn packages() -> Vec<Value> {
    let output = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "cargo metadata failed: {stderr}");
    let metadata: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    metadata["packages"].as_array().expect("packages").clone()
}

fn names(packages: &[Value]) -> BTreeSet<String> {
    packages
        .iter()
        .filter_map(|p| p["name"].as_str().map(str::to_owned))
        .collect()
}

/// `(crate, dependency)` for every normal dependency between workspace crates.
fn workspace_edges(packages: &[Value]) -> BTreeSet<(String, String)> {
    let members = names(packages);
    let mut edges = BTreeSet::new();
    for package in packages {
        let name = package["name"].as_str().expect("name");
        for dependency in package["dependencies"].as_array().expect("deps") {
            let normal = dependency["kind"].is_null();
            let target = dependency["name"].as_str().expect("dependency name");
            if normal && members.contains(target) {
                edges.insert((name.to_owned(), target.to_owned()));
            }
        }
    }
    edges
}

fn allowed(krate: &str, dependency: &str) -> bool {
    if dependency == TEST_SUPPORT {
        return false;
    }
    match ALLOWED.iter().find(|(name, _)| *name == krate) {
        Some((_, None)) => true,
        Some((_, Some(list))) => list.contains(&dependency),
        None => panic!("`{krate}` is not in the table: add its row here and in ARCHITECTURE.md"),
    }
}

#[test]
fn every_workspace_dependency_is_allowed_by_the_table() {
    let edges = workspace_edges(&packages());
    assert!(
        edges.contains(&("recede-mpc".into(), "recede-model".into())),
        "the metadata was not read: {edges:?}"
    );
    let violations: Vec<_> = edges
        .iter()
        .filter(|(krate, dependency)| !allowed(krate, dependency))
        .collect();
    assert!(
        violations.is_empty(),
        "dependencies the table forbids: {violations:?}"
    );
}

#[test]
fn every_table_row_is_a_workspace_crate_and_every_crate_has_a_row() {
    let members = names(&packages());
    let members: BTreeSet<&str> = members.iter().map(String::as_str).collect();
    let rows: BTreeSet<&str> = ALLOWED.iter().map(|(name, _)| *name).collect();
    let missing: Vec<_> = members.difference(&rows).collect();
    assert!(missing.is_empty(), "crates without a row: {missing:?}");
    let stale: Vec<_> = rows.difference(&members).collect();
    assert!(
        stale.is_empty(),
        "rows for crates that do not exist: {stale:?}"
    );
}
