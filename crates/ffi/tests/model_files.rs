//! Robots from files through the C interface: `recede_create_in` takes a
//! model file's or a URDF's path from the directory the caller gives (the
//! scenario's), and `recede_create` from the working directory.

mod common;

use std::path::PathBuf;

use common::Handle;
use recede_ffi::*;

fn configs() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../configs")
}

fn scenario(name: &str) -> String {
    std::fs::read_to_string(configs().join(name)).expect("the scenario exists")
}

#[test]
fn a_model_file_robot_resolves_against_the_scenarios_directory() {
    let toml = scenario("vtol_model_file.toml");
    let x0 = [0.0, 1.0, 0.0, 0.0, 0.0, 0.0];
    let dir = configs().display().to_string();
    let mut h = Handle::create_in(&toml, &dir, &x0).unwrap_or_else(|e| panic!("{e:?}"));
    let d = h.dims();
    assert_eq!((d.nx, d.nu), (6, 2));
    let mut u = [f64::NAN; 2];
    assert_eq!(
        h.step(0.0, &x0, None, &mut u),
        RecedeStatus::Ok,
        "{}",
        h.message()
    );
    assert!(u.iter().all(|v| v.is_finite()));
    // Without a base the path is the working directory's (this crate's
    // directory under cargo test), where there is no models/vtol.toml.
    let (status, message) = Handle::create(&toml, &x0).map(|_| ()).unwrap_err();
    assert_eq!(status, RecedeStatus::Config);
    assert!(message.contains("models/vtol.toml"), "{message}");
}

#[test]
#[cfg(feature = "urdf")]
fn a_urdf_arm_resolves_and_steps() {
    let toml = scenario("arm6_urdf.toml");
    let x0 = [0.0; 12];
    let dir = configs().display().to_string();
    let mut h = Handle::create_in(&toml, &dir, &x0).unwrap_or_else(|e| panic!("{e:?}"));
    let d = h.dims();
    assert_eq!((d.nx, d.nu), (12, 6));
    let mut u = [f64::NAN; 6];
    assert_eq!(
        h.step(0.0, &x0, None, &mut u),
        RecedeStatus::Ok,
        "{}",
        h.message()
    );
    // Within the URDF's effort limits.
    let limits = [80.0, 80.0, 40.0, 10.0, 10.0, 5.0];
    assert!(
        u.iter().zip(limits).all(|(v, l)| v.abs() <= l + 1e-9),
        "{u:?}"
    );
    // A base where the file is not: the error names the path.
    let (status, message) = Handle::create_in(&toml, "/nonexistent", &x0)
        .map(|_| ())
        .unwrap_err();
    assert_eq!(status, RecedeStatus::Config);
    assert!(
        message.contains("/nonexistent/models/arm6.urdf"),
        "{message}"
    );
}

/// `base_dir` and `residual_path` that are not UTF-8: a `Config` status
/// naming the argument, no handle.
#[test]
fn a_path_argument_that_is_not_utf8_is_named() {
    use std::ffi::{c_char, CStr};
    let toml = scenario("vtol_model_file.toml");
    let x0 = [0.0, 1.0, 0.0, 0.0, 0.0, 0.0];
    let dir = std::ffi::CString::new(configs().display().to_string()).unwrap();
    let bad: &CStr = c"\xff\xfe";
    for (base, residual, name) in [
        (bad.as_ptr(), std::ptr::null(), "base_dir"),
        (dir.as_ptr(), bad.as_ptr(), "residual_path"),
    ] {
        let mut out = std::ptr::null_mut();
        let mut error = [0 as c_char; RECEDE_MESSAGE_CAPACITY];
        // SAFETY: every pointer is valid for the length passed with it;
        // the paths are NUL-terminated.
        let status = unsafe {
            recede_create_in(
                toml.as_ptr(),
                toml.len(),
                base,
                x0.as_ptr(),
                x0.len(),
                residual,
                &mut out,
                error.as_mut_ptr(),
                error.len(),
            )
        };
        assert_eq!(status, RecedeStatus::Config);
        assert!(out.is_null());
        let message = common::c_text(&error);
        assert!(
            message.starts_with(&format!("{name}: not valid UTF-8")),
            "{message}"
        );
    }
}
