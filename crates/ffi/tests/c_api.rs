//! The C interface driven as C would drive it: creation, closed loops for
//! every robot, and every kind of bad input, each followed by a valid step
//! to show the controller is still usable.

mod common;

use std::ffi::c_char;
use std::ptr::{null, null_mut};

use common::{plant_step, Handle, ALL, CART_POLE};
use recede_ffi::*;

fn cart_pole() -> Handle {
    Handle::create(CART_POLE.toml, CART_POLE.x0).expect("P1 creates")
}

/// A valid step must succeed and write a finite command.
fn assert_usable(h: &mut Handle) {
    let before = h.stats().steps;
    let mut u = [f64::NAN];
    let status = h.step(1.0, CART_POLE.x0, None, &mut u);
    assert_eq!(status, RecedeStatus::Ok, "{}", h.message());
    assert!(u[0].is_finite());
    assert_eq!(h.stats().steps, before + 1);
    assert_eq!(h.message(), "", "a success clears the message");
}

#[test]
fn every_robot_creates_and_reports_its_dimensions() {
    for (s, (nx, nu, n)) in ALL
        .iter()
        .zip([(4, 1, 40), (13, 4, 20), (5, 2, 30), (4, 2, 30)])
    {
        let h = Handle::create(s.toml, s.x0).unwrap_or_else(|e| panic!("{}: {e:?}", s.name));
        let d = h.dims();
        assert_eq!((d.nx, d.nu, d.horizon), (nx, nu, n), "{}", s.name);
        assert_eq!(d.reference_len, (n + 1) * nx);
        assert!(d.period_secs > 0.0 && d.dt_secs > 0.0);
    }
}

#[test]
fn swing_up_through_the_c_interface() {
    let mut h = cart_pole();
    let robot = CART_POLE.robot();
    let mut x = CART_POLE.x0.to_vec();
    let mut u = [0.0];
    for k in 0..CART_POLE.steps {
        let status = h.step(k as f64 * 0.02, &x, None, &mut u);
        assert_eq!(status, RecedeStatus::Ok, "step {k}: {}", h.message());
        plant_step(&robot, &mut x, &u, 0.02);
    }
    assert!(
        x[1].abs() < 0.05 && x[3].abs() < 0.1 && x[0].abs() < 0.1,
        "not up and still: {x:?}"
    );
    let s = h.stats();
    assert_eq!(s.steps, 200);
    assert_eq!(s.outcome, RecedeOutcome::Solved);
    assert_eq!(s.failure, RecedeFailure::None);
    assert_eq!(s.qp_status, RecedeQpStatus::Solved);
    assert!(s.qp_iterations > 0 && s.sqp_iterations == 1);
    assert!(s.solve_secs > 0.0 && s.feedback_secs >= s.solve_secs);
    assert_eq!(s.time_secs, 199.0 * 0.02);
}

#[test]
fn every_robot_tracks_its_reference_window() {
    for s in &ALL[1..] {
        let mut h = Handle::create(s.toml, s.x0).unwrap();
        let d = h.dims();
        let window = s.window(d.horizon);
        let robot = s.robot();
        let mut x = s.x0.to_vec();
        let mut u = vec![0.0; d.nu];
        let start: f64 = x.iter().zip(s.target).map(|(a, b)| (a - b).powi(2)).sum();
        for k in 0..s.steps {
            let reference = (k == 0).then_some(window.as_slice());
            let status = h.step(k as f64 * d.period_secs, &x, reference, &mut u);
            assert!(status as i32 >= 0, "{} step {k}: {}", s.name, h.message());
            plant_step(&robot, &mut x, &u, d.period_secs);
        }
        let end: f64 = x.iter().zip(s.target).map(|(a, b)| (a - b).powi(2)).sum();
        assert!(
            end < 0.05 * start,
            "{}: squared error {start} -> {end} ({x:?})",
            s.name
        );
    }
}

#[test]
fn null_pointers_are_refused_and_leave_the_controller_usable() {
    let mut h = cart_pole();
    let x = CART_POLE.x0;
    let mut u = [7.0];
    // SAFETY: NULL handles and NULL arrays are what is being tested; every
    // non-NULL pointer is valid for its length.
    unsafe {
        assert_eq!(
            recede_step(null_mut(), 0.0, x.as_ptr(), 4, null(), 0, u.as_mut_ptr(), 1),
            RecedeStatus::NullPointer
        );
        assert_eq!(
            recede_step(h.0, 0.0, null(), 4, null(), 0, u.as_mut_ptr(), 1),
            RecedeStatus::NullPointer
        );
        assert!(h.message().contains("`state` is NULL"), "{}", h.message());
        assert_eq!(
            recede_step(h.0, 0.0, x.as_ptr(), 4, null(), 0, null_mut(), 1),
            RecedeStatus::NullPointer
        );
        assert!(h.message().contains("`command` is NULL"), "{}", h.message());
        // A NULL reference with a length is a mistake, not "keep the last".
        assert_eq!(
            recede_step(h.0, 0.0, x.as_ptr(), 4, null(), 164, u.as_mut_ptr(), 1),
            RecedeStatus::NullPointer
        );
        assert_eq!(recede_reset(h.0, null(), 4), RecedeStatus::NullPointer);
        assert_eq!(
            recede_reset(null_mut(), x.as_ptr(), 4),
            RecedeStatus::NullPointer
        );
        assert_eq!(
            recede_last_stats(h.0, null_mut()),
            RecedeStatus::NullPointer
        );
        assert_eq!(
            recede_last_stats(null_mut(), null_mut()),
            RecedeStatus::NullPointer
        );
        assert_eq!(
            recede_dimensions(h.0, null_mut()),
            RecedeStatus::NullPointer
        );
        assert_eq!(recede_last_error(null(), null_mut(), 0), 0);
        recede_destroy(null_mut());
        // A misaligned state pointer is refused like a NULL one.
        let bytes = [0u8; 64];
        let misaligned = bytes.as_ptr().add(1).cast::<f64>();
        assert_eq!(
            recede_step(h.0, 0.0, misaligned, 4, null(), 0, u.as_mut_ptr(), 1),
            RecedeStatus::NullPointer
        );
        assert!(h.message().contains("not aligned"), "{}", h.message());
    }
    assert_eq!(u, [7.0], "a refused step writes no command");
    assert_eq!(h.stats().steps, 0, "a refused step is not a step");
    assert_usable(&mut h);
}

#[test]
fn wrong_lengths_are_refused_and_leave_the_controller_usable() {
    let mut h = cart_pole();
    let mut u = [7.0];
    let mut u2 = [7.0, 7.0];
    assert_eq!(
        h.step(0.0, &[0.0, 0.0, 0.0], None, &mut u),
        RecedeStatus::WrongLength
    );
    assert_eq!(h.message(), "`state`: expected 4 values, got 3");
    assert_eq!(
        h.step(0.0, CART_POLE.x0, None, &mut u2),
        RecedeStatus::WrongLength
    );
    assert_eq!(h.message(), "`command`: expected 1 values, got 2");
    let short_window = vec![0.0; 40 * 4];
    assert_eq!(
        h.step(0.0, CART_POLE.x0, Some(&short_window), &mut u),
        RecedeStatus::WrongLength
    );
    assert_eq!(h.message(), "`reference`: expected 164 values, got 160");
    assert_eq!(h.reset(&[0.0; 5]), RecedeStatus::WrongLength);
    assert_eq!(u, [7.0]);
    assert_eq!(u2, [7.0, 7.0]);
    assert_usable(&mut h);
}

#[test]
fn non_finite_inputs_are_refused_and_leave_the_controller_usable() {
    let mut h = cart_pole();
    let mut u = [7.0];
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let x = [0.0, bad, 0.0, 0.0];
        assert_eq!(h.step(0.0, &x, None, &mut u), RecedeStatus::NonFinite);
        assert_eq!(h.message(), "`state`[1] is not finite (NaN or infinite)");
        assert_eq!(
            h.step(bad, CART_POLE.x0, None, &mut u),
            RecedeStatus::NonFinite
        );
        assert!(h.message().contains("time_secs"), "{}", h.message());
        let mut window = CART_POLE.window(40);
        window[77] = bad;
        assert_eq!(
            h.step(0.0, CART_POLE.x0, Some(&window), &mut u),
            RecedeStatus::NonFinite
        );
        assert_eq!(
            h.message(),
            "`reference`[77] is not finite (NaN or infinite)"
        );
        assert_eq!(h.reset(&x), RecedeStatus::NonFinite);
    }
    assert_eq!(u, [7.0], "a refused step writes no command");
    let s = h.stats();
    assert_eq!(s.steps, 0);
    assert_eq!(s.consecutive_failures, 0, "a refused step is not a failure");
    assert_usable(&mut h);
    // The refused window did not replace the reference: the pole is still
    // driven to zero, so a fresh swing-up from the bottom works.
    assert_eq!(h.reset(CART_POLE.x0), RecedeStatus::Ok);
    assert_usable(&mut h);
}

#[test]
fn a_reference_window_moves_the_goal_and_null_keeps_it() {
    let mut h = cart_pole();
    let robot = CART_POLE.robot();
    // Balance, then move the cart to p = 0.5.
    let mut x = vec![0.0, 0.05, 0.0, 0.0];
    let mut u = [0.0];
    let target = [0.5, 0.0, 0.0, 0.0];
    let window = target.repeat(41);
    assert_eq!(h.step(0.0, &x, Some(&window), &mut u), RecedeStatus::Ok);
    plant_step(&robot, &mut x, &u, 0.02);
    for k in 1..200 {
        assert_eq!(h.step(k as f64 * 0.02, &x, None, &mut u), RecedeStatus::Ok);
        plant_step(&robot, &mut x, &u, 0.02);
    }
    assert!((x[0] - 0.5).abs() < 0.05 && x[1].abs() < 0.05, "{x:?}");
}

#[test]
fn bad_toml_is_a_config_error_naming_the_key() {
    let x0 = CART_POLE.x0;
    let cases: [(String, &str); 6] = [
        (
            CART_POLE.toml.replace("horizon_steps", "horizon_step"),
            "horizon_step",
        ),
        (
            CART_POLE
                .toml
                .replace("[1e3, 1e3, 1e-2, 1e-2]", "[1e3, 1e3, 1e-2]"),
            "state_weights",
        ),
        (
            CART_POLE
                .toml
                .replace("pole_length_m = 0.8", "pole_length_m = -0.8"),
            "pole_length_m",
        ),
        (
            CART_POLE.toml.replace("\"cart_pole\"", "\"unicycle\""),
            "unicycle",
        ),
        (
            CART_POLE
                .toml
                .replace("input_min = [-80.0]", "input_min = [90.0]"),
            "input_min",
        ),
        (
            CART_POLE
                .toml
                .replace("dt_secs = 0.02", "dt_secs = \"fast\""),
            "dt_secs",
        ),
    ];
    for (text, key) in &cases {
        let (status, message) = Handle::create(text, x0).expect_err(key);
        assert_eq!(status, RecedeStatus::Config, "{key}: {message}");
        assert!(message.contains(key), "message for `{key}`: {message}");
    }
    let (status, message) = Handle::create("[robot]\nkind = \"cart_pole\"\n", x0).unwrap_err();
    assert_eq!(status, RecedeStatus::Config);
    assert!(message.contains("controller"), "{message}");
}

#[test]
fn bad_create_arguments_are_refused() {
    let toml = CART_POLE.toml;
    let (status, message) = Handle::create(toml, &[0.0, 1.0, 0.0]).unwrap_err();
    assert_eq!(status, RecedeStatus::WrongLength);
    assert_eq!(message, "`x0`: expected 4 values, got 3");
    let (status, message) = Handle::create(toml, &[0.0, f64::NAN, 0.0, 0.0]).unwrap_err();
    assert_eq!(status, RecedeStatus::NonFinite);
    assert!(message.contains("x0"), "{message}");

    let invalid_utf8 = [b'[', 0xff, b']'];
    let mut out = null_mut();
    let mut error = [0 as c_char; 128];
    let x0 = CART_POLE.x0;
    // SAFETY: all pointers valid for their lengths, or NULL on purpose.
    unsafe {
        let status = recede_create(
            invalid_utf8.as_ptr(),
            3,
            x0.as_ptr(),
            4,
            null(),
            &mut out,
            error.as_mut_ptr(),
            error.len(),
        );
        assert_eq!(status, RecedeStatus::Config);
        assert!(common::c_text(&error).contains("UTF-8"));
        let status = recede_create(null(), 0, x0.as_ptr(), 4, null(), &mut out, null_mut(), 0);
        assert_eq!(status, RecedeStatus::NullPointer);
        let status = recede_create(
            toml.as_ptr(),
            toml.len(),
            null(),
            4,
            null(),
            &mut out,
            null_mut(),
            0,
        );
        assert_eq!(status, RecedeStatus::NullPointer);
        let status = recede_create(
            toml.as_ptr(),
            toml.len(),
            x0.as_ptr(),
            4,
            null(),
            null_mut(),
            null_mut(),
            0,
        );
        assert_eq!(status, RecedeStatus::NullPointer);
    }
    assert!(out.is_null());
}

/// Creates a cart-pole controller, optionally with a residual model file.
fn create_cart_pole(
    residual: Option<&std::ffi::CStr>,
) -> (RecedeStatus, *mut RecedeController, String) {
    let toml = CART_POLE.toml;
    let x0 = CART_POLE.x0;
    let mut out = null_mut();
    let mut error = [0 as c_char; RECEDE_MESSAGE_CAPACITY];
    // SAFETY: all pointers valid for their lengths; the path NUL-terminated.
    let status = unsafe {
        recede_create(
            toml.as_ptr(),
            toml.len(),
            x0.as_ptr(),
            4,
            residual.map_or(std::ptr::null(), |p| p.as_ptr()),
            &mut out,
            error.as_mut_ptr(),
            error.len(),
        )
    };
    (status, out, common::c_text(&error))
}

#[test]
fn a_missing_residual_model_file_is_a_config_error_naming_it() {
    let (status, out, message) = create_cart_pole(Some(c"models/drag.safetensors"));
    assert_eq!(status, RecedeStatus::Config);
    assert!(out.is_null());
    assert!(message.contains("models/drag.safetensors"), "{message}");
}

/// A zero residual loaded through the C interface gives exactly the
/// nominal controller's commands.
#[test]
fn a_zero_residual_model_file_changes_nothing() {
    use recede_learn::{Feature, MlpResidual, Output, ResidualSpec, SupportGuard};
    let dir = std::env::temp_dir().join(format!("recede-ffi-residual-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("zero.safetensors");
    MlpResidual::<4, 1>::zero(ResidualSpec {
        features: vec![Feature::State { index: 1 }, Feature::State { index: 3 }],
        outputs: vec![Output::State { index: 2 }, Output::State { index: 3 }],
        hidden: vec![8],
        activation: Default::default(),
        guard: SupportGuard::Clip,
    })
    .unwrap()
    .save(&path)
    .unwrap();
    let c_path = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    let (status, with, message) = create_cart_pole(Some(&c_path));
    assert_eq!(status, RecedeStatus::Ok, "{message}");
    let (status, without, message) = create_cart_pole(None);
    assert_eq!(status, RecedeStatus::Ok, "{message}");
    let (with, without) = (common::Handle(with), common::Handle(without));
    let mut state = CART_POLE.x0.to_vec();
    for _ in 0..20 {
        let (mut a, mut b) = ([0.0], [0.0]);
        // SAFETY: handles from recede_create; buffers of the right lengths.
        let (sa, sb) = unsafe {
            (
                recede_step(
                    with.0,
                    0.0,
                    state.as_ptr(),
                    4,
                    std::ptr::null(),
                    0,
                    a.as_mut_ptr(),
                    1,
                ),
                recede_step(
                    without.0,
                    0.0,
                    state.as_ptr(),
                    4,
                    std::ptr::null(),
                    0,
                    b.as_mut_ptr(),
                    1,
                ),
            )
        };
        assert_eq!((sa, sb), (RecedeStatus::Ok, RecedeStatus::Ok));
        assert_eq!(a[0].to_bits(), b[0].to_bits());
        // Move the state a little so the steps differ.
        state[0] += 0.01;
        state[1] -= 0.02;
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn messages_are_truncated_into_small_buffers() {
    let mut h = cart_pole();
    let mut u = [0.0];
    assert_eq!(
        h.step(0.0, &[0.0; 3], None, &mut u),
        RecedeStatus::WrongLength
    );
    let full = h.message();
    let mut small = [1 as c_char; 8];
    // SAFETY: live handle; buffer valid for its length.
    let len = unsafe { recede_last_error(h.0, small.as_mut_ptr(), small.len()) };
    assert_eq!(len, full.len());
    assert_eq!(common::c_text(&small), &full[..7]);
    assert_eq!(small[7], 0);
    // SAFETY: NULL buffer: only the length is returned.
    assert_eq!(unsafe { recede_last_error(h.0, null_mut(), 0) }, full.len());

    let mut error = [1 as c_char; 16];
    let mut out = null_mut();
    let text = CART_POLE.toml.replace("horizon_steps", "horizon_step");
    // SAFETY: pointers valid for their lengths.
    unsafe {
        recede_create(
            text.as_ptr(),
            text.len(),
            CART_POLE.x0.as_ptr(),
            4,
            null(),
            &mut out,
            error.as_mut_ptr(),
            error.len(),
        )
    };
    assert_eq!(common::c_text(&error).len(), 15);
}

#[test]
fn a_failing_qp_falls_back_with_a_non_fatal_status() {
    // One ADMM iteration never meets a 1e-12 tolerance (not even OSQP's
    // tenfold "inaccurate" one); without accepting inaccurate iterates every
    // step fails: the shifted plan first, then the safe input.
    let text = format!(
        "{}sqp_iterations = 1\n[controller.osqp]\nmax_iterations = 1\neps_abs = 1e-12\neps_rel = 1e-12\n[controller.fallback]\n\
         accept_inaccurate = false\nmax_consecutive_failures = 2\nsafe_input = [0.5]\n",
        CART_POLE.toml
    );
    let mut h = Handle::create(&text, CART_POLE.x0).unwrap();
    let mut u = [f64::NAN];
    let statuses: Vec<_> = (0..4)
        .map(|k| h.step(k as f64 * 0.02, CART_POLE.x0, None, &mut u))
        .collect();
    assert_eq!(
        statuses,
        [
            RecedeStatus::FallbackPlan,
            RecedeStatus::FallbackPlan,
            RecedeStatus::FallbackSafe,
            RecedeStatus::FallbackSafe
        ]
    );
    assert_eq!(u, [0.5], "the safe input is applied");
    let s = h.stats();
    assert_eq!(s.outcome, RecedeOutcome::FallbackSafe);
    assert_eq!(s.failure, RecedeFailure::QpStatus);
    assert_eq!(s.qp_status, RecedeQpStatus::MaxIterationsReached);
    assert_eq!(s.consecutive_failures, 4);
    assert!(
        h.message().contains("MaxIterationsReached"),
        "{}",
        h.message()
    );
    assert_eq!(h.reset(CART_POLE.x0), RecedeStatus::Ok);
}
