//! The firmware calls: the real-time iteration's halves, reference windows,
//! setters (checked, leaving the controller usable), the plan, the version,
//! the blob; and that none of them allocates after creation.

mod common;

use std::ffi::{c_char, CStr};

use common::{plant_step, Handle, ALL, CART_POLE, QUADROTOR};
use recede_ffi::*;
use recede_test_support::{allocations, CountingAllocator};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

fn feedback(h: &Handle, t: f64, x: &[f64], u: &mut [f64]) -> RecedeStatus {
    // SAFETY: live handle; pointers valid for their lengths.
    unsafe { recede_feedback(h.0, t, x.as_ptr(), x.len(), u.as_mut_ptr(), u.len()) }
}

fn prepare(h: &Handle) -> RecedeStatus {
    // SAFETY: live handle.
    unsafe { recede_prepare(h.0) }
}

fn plan(h: &Handle) -> (Vec<f64>, Vec<f64>) {
    let d = h.dims();
    let (mut xs, mut us) = (vec![0.0; d.reference_len], vec![0.0; d.input_reference_len]);
    // SAFETY: live handle; buffers valid for their lengths.
    let status =
        unsafe { recede_get_plan(h.0, xs.as_mut_ptr(), xs.len(), us.as_mut_ptr(), us.len()) };
    assert_eq!(status, RecedeStatus::Ok);
    (xs, us)
}

fn set_state_reference(h: &Handle, values: &[f64]) -> RecedeStatus {
    // SAFETY: live handle; pointer valid for its length.
    unsafe { recede_set_state_reference(h.0, values.as_ptr(), values.len()) }
}

fn set_input_reference(h: &Handle, values: &[f64]) -> RecedeStatus {
    // SAFETY: live handle; pointer valid for its length.
    unsafe { recede_set_input_reference(h.0, values.as_ptr(), values.len()) }
}

fn set_weights(h: &Handle, q: &[f64], r: &[f64]) -> RecedeStatus {
    // SAFETY: live handle; pointers valid for their lengths (terminal NULL).
    unsafe {
        recede_set_weights(
            h.0,
            q.as_ptr(),
            q.len(),
            std::ptr::null(),
            0,
            r.as_ptr(),
            r.len(),
        )
    }
}

fn set_input_bounds(h: &Handle, lo: &[f64], hi: &[f64]) -> RecedeStatus {
    // SAFETY: live handle; pointers valid for their lengths.
    unsafe { recede_set_input_bounds(h.0, lo.as_ptr(), lo.len(), hi.as_ptr(), hi.len()) }
}

fn set_parameter(h: &Handle, name: &CStr, value: f64) -> RecedeStatus {
    // SAFETY: live handle; NUL-terminated name.
    unsafe { recede_set_parameter(h.0, name.as_ptr(), value) }
}

fn get_parameter(h: &Handle, name: &CStr) -> Result<f64, RecedeStatus> {
    let mut v = f64::NAN;
    // SAFETY: live handle; NUL-terminated name; writable out.
    match unsafe { recede_get_parameter(h.0, name.as_ptr(), &mut v) } {
        RecedeStatus::Ok => Ok(v),
        s => Err(s),
    }
}

/// Feedback then prepare is `recede_step`, bit for bit, for every robot.
#[test]
fn feedback_then_prepare_is_the_step() {
    for s in ALL {
        let (mut a, mut b) = (
            Handle::create(s.toml, s.x0).unwrap(),
            Handle::create(s.toml, s.x0).unwrap(),
        );
        let d = a.dims();
        let window = s.window(d.horizon);
        let robot = s.robot();
        let (mut xa, mut xb) = (s.x0.to_vec(), s.x0.to_vec());
        let (mut ua, mut ub) = (vec![0.0; d.nu], vec![0.0; d.nu]);
        assert_eq!(set_state_reference(&b, &window), RecedeStatus::Ok);
        for k in 0..40 {
            let t = k as f64 * d.period_secs;
            let sa = a.step(t, &xa, (k == 0).then_some(window.as_slice()), &mut ua);
            let sb = feedback(&b, t, &xb, &mut ub);
            assert_eq!(prepare(&b), RecedeStatus::Ok);
            assert_eq!(sa, sb, "{}: step {k}", s.name);
            assert_eq!(ua, ub, "{}: step {k}: commands differ", s.name);
            plant_step(&robot, &mut xa, &ua, d.period_secs);
            plant_step(&robot, &mut xb, &ub, d.period_secs);
        }
        assert_eq!(plan(&a), plan(&b), "{}: plans differ", s.name);
        let stats = b.stats();
        assert!(stats.feedback_secs > 0.0 && stats.prepare_secs > 0.0);
        assert_eq!(stats.steps, 40);
    }
}

#[test]
fn calls_out_of_order_are_refused_and_change_nothing() {
    let h = Handle::create(CART_POLE.toml, CART_POLE.x0).unwrap();
    let mut u = [0.0];
    assert_eq!(prepare(&h), RecedeStatus::Sequence, "prepared already");
    assert!(h.message().contains("recede_prepare"), "{}", h.message());
    assert!(feedback(&h, 0.0, CART_POLE.x0, &mut u) as i32 >= 0);
    let before = plan(&h);
    assert_eq!(
        feedback(&h, 0.0, CART_POLE.x0, &mut u),
        RecedeStatus::Sequence
    );
    let mut h2 = h;
    assert_eq!(
        h2.step(0.0, CART_POLE.x0, None, &mut u),
        RecedeStatus::Sequence
    );
    assert_eq!(plan(&h2), before);
    assert_eq!(prepare(&h2), RecedeStatus::Ok);
    assert_eq!(h2.reset(CART_POLE.x0), RecedeStatus::Ok);
    assert_eq!(h2.step(0.02, CART_POLE.x0, None, &mut u), RecedeStatus::Ok);
}

/// Bad setter values: refused with a status and a message naming the value;
/// the plan and the next steps are those of a controller never told.
#[test]
fn refused_setters_leave_the_controller_as_it_was() {
    let s = QUADROTOR;
    let (mut told, mut untouched) = (
        Handle::create(s.toml, s.x0).unwrap(),
        Handle::create(s.toml, s.x0).unwrap(),
    );
    let d = told.dims();
    let (nx, nu) = (d.nx, d.nu);
    let mut q = vec![1.0; nx];
    q[2] = -1.0;
    assert_eq!(
        set_weights(&told, &q, &[0.1; 4]),
        RecedeStatus::InvalidValue
    );
    assert!(
        told.message().contains("state_weights"),
        "{}",
        told.message()
    );
    assert_eq!(
        set_weights(&told, &[0.0; 13], &[0.0; 4]),
        RecedeStatus::InvalidValue
    );
    assert_eq!(
        set_weights(&told, &[1.0; 12], &[0.1; 4]),
        RecedeStatus::WrongLength
    );
    let mut r = [0.1; 4];
    r[1] = f64::NAN;
    assert_eq!(
        set_weights(&told, &[1.0; 13], &r),
        RecedeStatus::InvalidValue
    );
    assert_eq!(
        set_input_bounds(&told, &[5.0; 4], &[1.0; 4]),
        RecedeStatus::InvalidValue
    );
    assert_eq!(
        set_input_bounds(&told, &[f64::NAN; 4], &[8.0; 4]),
        RecedeStatus::InvalidValue
    );
    let mut window = s.window(d.horizon);
    window[nx + 3] = f64::INFINITY;
    assert_eq!(set_state_reference(&told, &window), RecedeStatus::NonFinite);
    assert_eq!(
        set_state_reference(&told, &window[..nx + 1]),
        RecedeStatus::WrongLength
    );
    assert_eq!(
        set_input_reference(&told, &[1.0; 3]),
        RecedeStatus::WrongLength
    );
    assert_eq!(
        set_parameter(&told, c"mass_kg", -1.0),
        RecedeStatus::InvalidValue
    );
    assert!(told.message().contains("mass_kg"), "{}", told.message());
    assert_eq!(
        set_parameter(&told, c"mass_kg", f64::NAN),
        RecedeStatus::NonFinite
    );
    assert_eq!(
        set_parameter(&told, c"no_such_key", 1.0),
        RecedeStatus::InvalidValue
    );
    // Hover thrust above the thrust limit: refused by the robot's own check.
    assert_eq!(
        set_parameter(&told, c"mass_kg", 4.0),
        RecedeStatus::InvalidValue
    );
    assert_eq!(get_parameter(&told, c"mass_kg"), Ok(1.0));
    // SAFETY: live handle.
    let bad_slot = unsafe { recede_set_state_bound(told.0, 0, 0.0, 1.0) };
    assert_eq!(
        bad_slot,
        RecedeStatus::InvalidValue,
        "no state bounds configured"
    );
    // SAFETY: live handle; NULL obstacles (refused by the count first).
    let no_slots = unsafe { recede_set_obstacles(told.0, std::ptr::null(), 1) };
    assert_eq!(
        no_slots,
        RecedeStatus::WrongLength,
        "no obstacle slots configured"
    );

    let window = s.window(d.horizon);
    let (mut x1, mut x2) = (s.x0.to_vec(), s.x0.to_vec());
    let (mut u1, mut u2) = (vec![0.0; nu], vec![0.0; nu]);
    let robot = s.robot();
    for k in 0..30 {
        let t = k as f64 * d.period_secs;
        let reference = (k == 0).then_some(window.as_slice());
        assert_eq!(told.step(t, &x1, reference, &mut u1), RecedeStatus::Ok);
        assert_eq!(untouched.step(t, &x2, reference, &mut u2), RecedeStatus::Ok);
        assert_eq!(u1, u2, "step {k}");
        plant_step(&robot, &mut x1, &u1, d.period_secs);
        plant_step(&robot, &mut x2, &u2, d.period_secs);
    }
}

/// The input reference at hover thrust holds the quadrotor still with the
/// hover thrust; at zero (the default) the cost pulls it down.
#[test]
fn the_input_reference_reaches_the_plan() {
    let s = QUADROTOR;
    let hover = [1.0 * 9.81 / 4.0; 4];
    let mut x = s.target.to_vec();
    let mut h = Handle::create(s.toml, &x).unwrap();
    let d = h.dims();
    assert_eq!(
        set_state_reference(&h, s.target),
        RecedeStatus::Ok,
        "set point"
    );
    assert_eq!(set_input_reference(&h, &hover), RecedeStatus::Ok);
    let mut u = [0.0; 4];
    let robot = s.robot();
    for k in 0..100 {
        assert_eq!(
            h.step(k as f64 * d.period_secs, &x, None, &mut u),
            RecedeStatus::Ok
        );
        plant_step(&robot, &mut x, &u, d.period_secs);
    }
    let (_, us) = plan(&h);
    for (i, v) in us.iter().enumerate() {
        assert!((v - hover[i % 4]).abs() < 1e-3, "planned thrust {i}: {v}");
    }
    assert!((x[2] - s.target[2]).abs() < 1e-3, "altitude {}", x[2]);
}

/// A heavier vehicle, told to the model: the plan's steady thrust is the
/// new hover thrust (the parameter reaches the prediction model).
#[test]
fn a_parameter_change_reaches_the_model() {
    let s = QUADROTOR;
    let mut h = Handle::create(s.toml, s.target).unwrap();
    let d = h.dims();
    assert_eq!(d.parameters, 8);
    let mut name = [0 as c_char; 64];
    let names: Vec<String> = (0..d.parameters)
        .map(|i| {
            // SAFETY: live handle; buffer valid for its length.
            unsafe { recede_parameter_name(h.0, i, name.as_mut_ptr(), name.len()) };
            common::c_text(&name)
        })
        .collect();
    assert!(names.iter().any(|n| n == "mass_kg"), "{names:?}");
    assert_eq!(set_parameter(&h, c"mass_kg", 1.5), RecedeStatus::Ok);
    assert_eq!(get_parameter(&h, c"mass_kg"), Ok(1.5));
    let hover = 1.5 * 9.81 / 4.0;
    assert_eq!(set_input_reference(&h, &[hover; 4]), RecedeStatus::Ok);
    assert_eq!(set_state_reference(&h, s.target), RecedeStatus::Ok);
    let mut u = [0.0; 4];
    let mut x = s.target.to_vec();
    let mut robot = s.robot();
    if let recede_model::robots::RobotConfig::Quadrotor(p) = &mut robot {
        p.mass_kg = 1.5;
    }
    for k in 0..100 {
        assert_eq!(
            h.step(k as f64 * d.period_secs, &x, None, &mut u),
            RecedeStatus::Ok
        );
        plant_step(&robot, &mut x, &u, d.period_secs);
    }
    assert!(h.stats().refresh_secs == 0.0);
    assert!((u[0] - hover).abs() < 1e-2, "thrust {u:?}, hover {hover}");
    assert!((x[2] - s.target[2]).abs() < 1e-2, "altitude {}", x[2]);
}

/// Heavier input weights make smaller inputs: the weights reach the QP.
#[test]
fn weights_reach_the_qp() {
    let s = CART_POLE;
    let first_command = |r: Option<f64>| {
        let mut h = Handle::create(s.toml, &[0.0, 0.3, 0.0, 0.0]).unwrap();
        if let Some(r) = r {
            assert_eq!(
                set_weights(&h, &[1e3, 1e3, 1e-2, 1e-2], &[r]),
                RecedeStatus::Ok
            );
        }
        let mut u = [0.0];
        assert_eq!(
            h.step(0.0, &[0.0, 0.3, 0.0, 0.0], None, &mut u),
            RecedeStatus::Ok
        );
        (u[0], h.stats().refresh_secs)
    };
    let (nominal, _) = first_command(None);
    let (same, refreshed) = first_command(Some(1e-2));
    let (heavy, _) = first_command(Some(10.0));
    assert_eq!(nominal, same, "the configured weights again change nothing");
    assert!(
        refreshed > 0.0,
        "a weight change re-prepares before the feedback"
    );
    assert!(heavy.abs() < 0.5 * nominal.abs(), "{heavy} vs {nominal}");
}

/// The closest the plan's positions come to `centre`.
fn closest_approach(h: &Handle, centre: [f64; 3]) -> f64 {
    let (xs, _) = plan(h);
    xs.chunks_exact(13)
        .map(|x| {
            ((x[0] - centre[0]).powi(2) + (x[1] - centre[1]).powi(2) + (x[2] - centre[2]).powi(2))
                .sqrt()
        })
        .fold(f64::INFINITY, f64::min)
}

/// A sphere on the straight line to the goal: with it in a slot the plan
/// goes around it, without it straight through.
#[test]
fn obstacles_in_slots_bend_the_plan() {
    let toml = format!(
        "{}\n[perception.constraints]\nmax_obstacles = 2\n",
        QUADROTOR.toml
    );
    let start = [
        0.0, 0.0, 2.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
    ];
    let mut goal = start;
    goal[0] = 2.0;
    let centre = [0.9, 0.0, 2.0];
    let sphere = RecedeObstacle {
        position: centre,
        radius: 0.3,
        shape: RecedeObstacleShape::Sphere as i32,
        top: f64::NAN,
        position_std: 0.0,
        radius_std: 0.0,
    };
    let closest = |with_obstacle: bool| {
        let mut h = Handle::create(&toml, &start).unwrap();
        assert_eq!(h.dims().obstacle_slots, 2);
        if with_obstacle {
            // SAFETY: live handle; one obstacle.
            assert_eq!(
                unsafe { recede_set_obstacles(h.0, &sphere, 1) },
                RecedeStatus::Ok
            );
        }
        let mut bad = sphere;
        bad.radius = -1.0;
        // SAFETY: live handle; one obstacle.
        assert_eq!(
            unsafe { recede_set_obstacles(h.0, &bad, 1) },
            RecedeStatus::InvalidValue
        );
        bad.shape = 7;
        // SAFETY: live handle; one obstacle.
        assert_eq!(
            unsafe { recede_set_obstacles(h.0, &bad, 1) },
            RecedeStatus::InvalidValue
        );
        assert_eq!(set_state_reference(&h, &goal), RecedeStatus::Ok);
        assert_eq!(set_input_reference(&h, &[9.81 / 4.0; 4]), RecedeStatus::Ok);
        let mut u = [0.0; 4];
        let mut nearest = f64::INFINITY;
        for k in 0..5 {
            h.step(k as f64 * 0.01, &start, None, &mut u);
            nearest = nearest.min(closest_approach(&h, centre));
        }
        nearest
    };
    let (free, blocked) = (closest(false), closest(true));
    assert!(
        free < 0.3,
        "without the obstacle the plan passes its centre: {free}"
    );
    assert!(
        blocked > 0.3 + 0.4 - 0.05,
        "the plan keeps radius + margin: {blocked}"
    );
}

#[test]
fn the_version_is_the_crates() {
    // SAFETY: a static NUL-terminated string.
    let v = unsafe { CStr::from_ptr(recede_version()) };
    assert_eq!(v.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
}

fn create_from_blob(blob: &[u8], x0: &[f64]) -> Result<Handle, (RecedeStatus, String)> {
    let mut out = std::ptr::null_mut();
    let mut error = [0 as c_char; RECEDE_MESSAGE_CAPACITY];
    // SAFETY: every pointer is valid for the length passed with it.
    let status = unsafe {
        recede_create_from_blob(
            blob.as_ptr(),
            blob.len(),
            x0.as_ptr(),
            x0.len(),
            &mut out,
            error.as_mut_ptr(),
            error.len(),
        )
    };
    match status {
        RecedeStatus::Ok => Ok(Handle(out)),
        s => Err((s, common::c_text(&error))),
    }
}

/// A controller from the blob steps exactly as one from the TOML; damaged
/// blobs are refused with the reason.
#[test]
fn a_blob_creates_the_same_controller() {
    for s in ALL {
        let blob = encode_firmware_blob(s.toml, s.name).unwrap();
        let mut from_text = Handle::create(s.toml, s.x0).unwrap();
        let mut from_blob = create_from_blob(&blob, s.x0).unwrap();
        assert_eq!(from_text.dims(), from_blob.dims());
        let d = from_text.dims();
        let window = s.window(d.horizon);
        let (mut u1, mut u2) = (vec![0.0; d.nu], vec![0.0; d.nu]);
        for k in 0..10 {
            let r = (k == 0).then_some(window.as_slice());
            from_text.step(0.0, s.x0, r, &mut u1);
            from_blob.step(0.0, s.x0, r, &mut u2);
            assert_eq!(u1, u2, "{}", s.name);
        }
    }
    let blob = encode_firmware_blob(CART_POLE.toml, "cart_pole").unwrap();
    let refused = |bytes: &[u8], expected: &str| {
        let (status, message) = create_from_blob(bytes, CART_POLE.x0).unwrap_err();
        assert_eq!(status, RecedeStatus::Config);
        assert!(message.contains(expected), "{message}");
    };
    refused(&blob[..10], "shorter");
    refused(&blob[..blob.len() - 1], "payload bytes");
    let mut corrupt = blob.clone();
    *corrupt.last_mut().unwrap() ^= 1;
    refused(&corrupt, "checksum");
    let mut other_version = blob.clone();
    other_version[8] = 99;
    refused(&other_version, "version 99");
    refused(b"not a blob at all, really", "RECEDEFW");
}

/// Nothing after creation allocates: feedback, prepare, step, every setter
/// (accepted or refused), the plan, the parameters.
#[test]
fn no_firmware_call_allocates() {
    let s = QUADROTOR;
    let h = Handle::create(s.toml, s.x0).unwrap();
    let d = h.dims();
    let window = s.window(d.horizon);
    let (mut xs, mut us) = (vec![0.0; d.reference_len], vec![0.0; d.input_reference_len]);
    let mut x = s.x0.to_vec();
    let mut u = vec![0.0; d.nu];
    let robot = s.robot();
    let mut name = [0 as c_char; 32];
    let mut counted = 0;
    for k in 0..40 {
        let before = allocations();
        set_state_reference(&h, &window);
        set_state_reference(&h, s.target);
        set_input_reference(&h, &[2.4525; 4]);
        set_weights(&h, &[10.0; 13], &[0.1; 4]);
        set_weights(&h, &[-1.0; 13], &[0.1; 4]);
        set_input_bounds(&h, &[0.0; 4], &[8.0; 4]);
        set_input_bounds(&h, &[9.0; 4], &[8.0; 4]);
        set_parameter(&h, c"mass_kg", 1.0 + 0.001 * k as f64);
        set_parameter(&h, c"mass_kg", -1.0);
        set_parameter(&h, c"unknown", 1.0);
        let _ = get_parameter(&h, c"inertia_xx_kg_m2");
        // SAFETY: live handle; buffer valid for its length.
        unsafe { recede_parameter_name(h.0, 0, name.as_mut_ptr(), name.len()) };
        let status = feedback(&h, k as f64 * d.period_secs, &x, &mut u);
        let twice = feedback(&h, 0.0, &x, &mut u);
        // SAFETY: live handle; buffers valid for their lengths.
        unsafe { recede_get_plan(h.0, xs.as_mut_ptr(), xs.len(), us.as_mut_ptr(), us.len()) };
        let prepared = prepare(&h);
        let _ = h.message();
        counted += allocations() - before;
        assert!(status as i32 >= 0, "{status:?}");
        assert_eq!(twice, RecedeStatus::Sequence);
        assert_eq!(prepared, RecedeStatus::Ok);
        plant_step(&robot, &mut x, &u, d.period_secs);
    }
    assert_eq!(counted, 0, "allocations after creation");
}

/// `[controller.osqp] presolve_prediction` through the C interface (P1,
/// as examples/firmware/cart_pole.toml runs it): the preparation reports
/// its presolve, the feedbacks take fewer ADMM iterations, the commands are
/// those without it to the QP's tolerance, `recede_step` is still feedback
/// then prepare bit for bit, and nothing allocates, setters and the refresh
/// they cause included.
#[test]
fn the_presolve_moves_feedback_iterations_into_the_preparation() {
    let s = CART_POLE;
    let presolving = format!(
        "{}\n[controller.osqp]\npresolve_prediction = true\n",
        s.toml
    );
    let mut on = Handle::create(&presolving, s.x0).unwrap();
    let mut off = Handle::create(s.toml, s.x0).unwrap();
    let mut composed = Handle::create(&presolving, s.x0).unwrap();
    let d = on.dims();
    let robot = s.robot();
    let (mut x_on, mut x_off) = (s.x0.to_vec(), s.x0.to_vec());
    let (mut u_on, mut u_off, mut u_step) = (vec![0.0; 1], vec![0.0; 1], vec![0.0; 1]);
    let (mut iterations_on, mut iterations_off, mut counted) = (0, 0, 0);
    for k in 0..150 {
        let t = k as f64 * d.period_secs;
        let before = allocations();
        if k == 100 {
            // After the preparation: the next feedback refreshes first.
            for h in [&on, &composed] {
                assert_eq!(
                    set_weights(h, &[1e3, 1e3, 1e-2, 1e-2], &[1e-2]),
                    RecedeStatus::Ok
                );
            }
        }
        let status = feedback(&on, t, &x_on, &mut u_on);
        let fed_back = on.stats();
        let prepared = prepare(&on);
        counted += allocations() - before;
        let stepped = composed.step(t, &x_on, None, &mut u_step);
        assert_eq!(
            (status, prepared, stepped),
            (RecedeStatus::Ok, RecedeStatus::Ok, RecedeStatus::Ok)
        );
        assert_eq!(
            u_on, u_step,
            "step {k}: recede_step differs from feedback + prepare"
        );
        let stats = on.stats();
        assert_eq!(stats.presolve_status, RecedeQpStatus::Solved, "step {k}");
        assert!(stats.presolve_qp_iterations > 0);
        assert_eq!(fed_back.refresh_secs > 0.0, k == 100);
        iterations_on += fed_back.qp_iterations;
        assert_eq!(feedback(&off, t, &x_off, &mut u_off), RecedeStatus::Ok);
        assert_eq!(off.stats().presolve_status, RecedeQpStatus::NotRun);
        iterations_off += off.stats().qp_iterations;
        assert_eq!(prepare(&off), RecedeStatus::Ok);
        assert!(
            (u_on[0] - u_off[0]).abs() < 1.0,
            "step {k}: {u_on:?} vs {u_off:?}"
        );
        plant_step(&robot, &mut x_on, &u_on, d.period_secs);
        plant_step(&robot, &mut x_off, &u_off, d.period_secs);
    }
    assert_eq!(
        counted, 0,
        "allocations in presolved feedbacks and preparations"
    );
    assert!(x_on[1].abs() < 0.05, "the pole is up: {x_on:?}");
    assert!(
        2 * iterations_on < iterations_off,
        "feedback ADMM iterations: {iterations_on} with the presolve, {iterations_off} without"
    );
}
