//! "A step allocates nothing": a counting global allocator around every call
//! a control loop makes after creation, for every robot, on the success path
//! and on every error path. (This counts Rust's allocations; OSQP's C code
//! calls malloc directly and is counted by the firmware example's
//! interposed malloc, examples/firmware.)

mod common;

use common::{plant_step, Handle, ALL};
use recede_ffi::RecedeStatus;
use recede_test_support::{allocations, live_bytes, CountingAllocator};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

#[test]
fn the_counter_sees_allocations() {
    let before = allocations();
    let v = std::hint::black_box(vec![1u8; 100]);
    assert_eq!(allocations() - before, 1);
    drop(v);
}

#[test]
fn creation_allocates_and_nothing_after_it_does() {
    for s in ALL {
        let (count0, bytes0) = (allocations(), live_bytes());
        let mut h = Handle::create(s.toml, s.x0).unwrap();
        let at_create = allocations() - count0;
        let live = live_bytes() - bytes0;
        assert!(
            at_create > 0 && live > 0,
            "{}: creation is where memory is allocated",
            s.name
        );

        // Everything the loop needs is set up before counting.
        let d = h.dims();
        let window = s.window(d.horizon);
        let robot = s.robot();
        let mut x = s.x0.to_vec();
        let mut u = vec![0.0; d.nu];
        let mut bad_x = x.clone();
        bad_x[0] = f64::NAN;

        let mut in_loop = 0;
        for k in 0..60 {
            let reference = (k % 10 == 0).then_some(window.as_slice());
            let before = allocations();
            let status = h.step(k as f64 * d.period_secs, &x, reference, &mut u);
            let _ = h.stats();
            // Error paths format their message into the handle's buffer.
            let refused = h.step(0.0, &bad_x, None, &mut u);
            let short = h.step(0.0, &x[1..], None, &mut u);
            let _ = h.dims();
            in_loop += allocations() - before;
            assert!(status as i32 >= 0, "{}: {status:?}", s.name);
            assert_eq!(refused, RecedeStatus::NonFinite);
            assert_eq!(short, RecedeStatus::WrongLength);
            plant_step(&robot, &mut x, &u, d.period_secs);
        }
        let before = allocations();
        let status = h.reset(s.x0);
        in_loop += allocations() - before;
        assert_eq!(status, RecedeStatus::Ok);
        assert_eq!(in_loop, 0, "{}: allocations after creation", s.name);
        drop((window, x, u, bad_x, robot));
        drop(h);
        assert_eq!(live_bytes(), bytes0, "{}: destroy frees everything", s.name);
    }
}
