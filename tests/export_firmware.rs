//! `recede export-firmware`: the blob it writes builds, through the C
//! interface, the controller the scenario's text builds; a bad scenario is
//! refused with its file named, and no blob is written.

use std::process::Command;

use recede_ffi::{
    recede_create, recede_create_from_blob, recede_destroy, recede_step, RecedeController,
    RecedeStatus,
};

fn recede(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_recede"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run recede")
}

/// The first 20 commands of a controller from `create`, stepped at `x0`.
fn commands(create: impl FnOnce(*mut *mut RecedeController) -> RecedeStatus) -> Vec<f64> {
    let mut handle = std::ptr::null_mut();
    assert_eq!(create(&mut handle), RecedeStatus::Ok);
    let x0 = [0.0, 3.0, 0.0, 0.0];
    let mut out = Vec::new();
    for k in 0..20 {
        let mut u = [0.0];
        // SAFETY: live handle; pointers valid for their lengths.
        let status = unsafe {
            recede_step(
                handle,
                k as f64 * 0.02,
                x0.as_ptr(),
                4,
                std::ptr::null(),
                0,
                u.as_mut_ptr(),
                1,
            )
        };
        assert!(status as i32 >= 0);
        out.push(u[0]);
    }
    // SAFETY: from a create call, destroyed once.
    unsafe { recede_destroy(handle) };
    out
}

#[test]
fn the_blob_builds_the_scenarios_controller() {
    let dir = tempfile::tempdir().unwrap();
    let blob_path = dir.path().join("cartpole.blob");
    let out = recede(&[
        "export-firmware",
        "configs/cartpole.toml",
        "-o",
        blob_path.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let blob = std::fs::read(&blob_path).unwrap();
    assert_eq!(&blob[..8], b"RECEDEFW");
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/cartpole.toml"),
    )
    .unwrap();
    let x0 = [0.0, 3.0, 0.0, 0.0];
    let from_blob = commands(|out| {
        // SAFETY: pointers valid for their lengths; NULL error buffer.
        unsafe {
            recede_create_from_blob(
                blob.as_ptr(),
                blob.len(),
                x0.as_ptr(),
                4,
                out,
                std::ptr::null_mut(),
                0,
            )
        }
    });
    let from_text = commands(|out| {
        // SAFETY: pointers valid for their lengths; NULL residual and error.
        unsafe {
            recede_create(
                text.as_ptr(),
                text.len(),
                x0.as_ptr(),
                4,
                std::ptr::null(),
                out,
                std::ptr::null_mut(),
                0,
            )
        }
    });
    assert_eq!(from_blob, from_text);
}

#[test]
fn a_bad_scenario_writes_no_blob() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("bad.toml");
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/cartpole.toml"),
    )
    .unwrap()
    .replace("horizon_steps = ", "horizon_steps = 0 # ");
    std::fs::write(&scenario, text).unwrap();
    let blob_path = dir.path().join("bad.blob");
    let out = recede(&[
        "export-firmware",
        scenario.to_str().unwrap(),
        "-o",
        blob_path.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("bad.toml") && stderr.contains("horizon_steps"),
        "{stderr}"
    );
    assert!(!blob_path.exists());
}
