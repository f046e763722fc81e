//! The checked-in C header must be what cbindgen generates from the source
//! today. Regenerate with `RECEDE_BLESS=1 cargo test -p recede-ffi --test header`.

// With `caller-memory` every test binary is linked with `--wrap` for the
// malloc family (build.rs), whose wrappers are in the library: link it.
#[cfg(feature = "caller-memory")]
extern crate recede_ffi;

use std::path::{Path, PathBuf};

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn generate() -> String {
    let dir = crate_dir();
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(dir.join("src/lib.rs"))
        .generate()
        .expect("cbindgen generates the header");
    let mut out = Vec::new();
    bindings.write(&mut out);
    String::from_utf8(out).expect("the header is UTF-8")
}

/// The first line where two texts differ, for the failure message.
fn first_difference(a: &str, b: &str) -> Option<(usize, String, String)> {
    let (mut la, mut lb) = (a.lines(), b.lines());
    for n in 1.. {
        match (la.next(), lb.next()) {
            (None, None) => return None,
            (x, y) if x == y => continue,
            (x, y) => {
                return Some((
                    n,
                    x.unwrap_or("<end>").to_string(),
                    y.unwrap_or("<end>").to_string(),
                ))
            }
        }
    }
    None
}

fn check(path: &Path, generated: &str) -> Result<(), String> {
    let checked_in =
        std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if checked_in == generated {
        return Ok(());
    }
    let (line, old, new) = first_difference(&checked_in, generated).unwrap_or((
        0,
        "<trailing whitespace>".into(),
        String::new(),
    ));
    Err(format!(
        "{} is stale (line {line}: checked in `{old}`, generated `{new}`); \
         regenerate with RECEDE_BLESS=1 cargo test -p recede-ffi --test header",
        path.display()
    ))
}

#[test]
fn checked_in_header_is_current() {
    let path = crate_dir().join("include/recede.h");
    let generated = generate();
    if std::env::var_os("RECEDE_BLESS").is_some() {
        std::fs::write(&path, &generated).expect("write the header");
    }
    if let Err(e) = check(&path, &generated) {
        panic!("{e}");
    }
}

#[test]
fn a_stale_header_is_detected() {
    let generated = generate();
    let dir = std::env::temp_dir().join(format!("recede-ffi-header-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("recede.h");
    // A header from before a field was added to the statistics.
    let stale = generated.replacen("  uint32_t sqp_iterations;\n", "", 1);
    assert_ne!(stale, generated, "the edit must change the header");
    std::fs::write(&path, &stale).expect("write");
    let err = check(&path, &generated).expect_err("a stale header must fail the check");
    assert!(
        err.contains("stale") && err.contains("sqp_iterations"),
        "{err}"
    );
    std::fs::write(&path, &generated).expect("write");
    check(&path, &generated).expect("the current header passes");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn header_declares_the_whole_interface() {
    let generated = generate();
    for name in [
        "recede_create",
        "recede_step",
        "recede_reset",
        "recede_destroy",
        "recede_last_stats",
        "recede_last_error",
        "recede_dimensions",
        "recede_create_from_blob",
        "recede_feedback",
        "recede_prepare",
        "recede_get_plan",
        "recede_version",
        "recede_set_state_reference",
        "recede_set_input_reference",
        "recede_set_weights",
        "recede_set_input_bounds",
        "recede_set_state_bound",
        "recede_set_parameter",
        "recede_get_parameter",
        "recede_parameter_name",
        "recede_set_obstacles",
        "RECEDE_OBSTACLE_SHAPE_CYLINDER",
        "RECEDE_STATUS_SEQUENCE",
        "RECEDE_STATUS_FALLBACK_PLAN",
        "typedef struct RecedeController RecedeController",
    ] {
        assert!(generated.contains(name), "`{name}` missing from the header");
    }
}
