//! Measures, for each robot, what the C interface costs in memory and time,
//! and prints the table of the README:
//!
//! - heap at creation: Rust's allocations (a counting global allocator) and
//!   everything malloc holds after `recede_create` (glibc's `mallinfo2`,
//!   which also sees OSQP's C allocations);
//! - stack used by `recede_step`: the steps run in a thread whose stack is a
//!   buffer painted with a pattern; the high-water mark is the lowest byte
//!   that changed, minus the same thread running the loop without the step;
//! - step time over closed loops (each robot's nominal model as the plant):
//!   median, p99 and max of every `recede_step` call, wall clock.
//!
//! Run: `cargo run --release -p recede-ffi --example resources`
#![allow(clippy::print_stdout)] // the table is this program's output

#[path = "../tests/common/mod.rs"]
mod common;

use std::alloc::Layout;
use std::ffi::c_void;
use std::mem::MaybeUninit;
use std::panic::AssertUnwindSafe;
use std::time::Instant;

use common::{plant_step, Handle, Scenario, ALL};
use recede_test_support::{process, CountingAllocator};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

fn malloc_in_use() -> usize {
    // SAFETY: a plain query of glibc's allocator statistics.
    let info = unsafe { libc::mallinfo2() };
    info.uordblks + info.hblkhd
}

struct Heap {
    rust_allocations: usize,
    rust_live: isize,
    rust_peak: isize,
    malloc_live: isize,
}

fn heap_at_creation(s: &Scenario) -> (Handle, Heap) {
    let (count, live, malloc) = (
        process::allocations(),
        process::live_bytes(),
        malloc_in_use(),
    );
    process::reset_peak();
    let h = Handle::create(s.toml, s.x0).expect("scenario creates");
    let heap = Heap {
        rust_allocations: process::allocations() - count,
        rust_live: process::live_bytes() - live,
        rust_peak: process::peak_live_bytes() - live,
        malloc_live: malloc_in_use() as isize - malloc as isize,
    };
    (h, heap)
}

const STACK_BYTES: usize = 1 << 20;
const PAINT: u8 = 0xA5;

/// Bytes of a painted 1 MiB thread stack that `job` touched.
fn stack_touched(job: &mut dyn FnMut()) -> usize {
    let layout = Layout::from_size_align(STACK_BYTES, 4096).unwrap();
    // SAFETY: non-zero size; freed below.
    let base = unsafe { std::alloc::alloc(layout) };
    assert!(!base.is_null());
    // SAFETY: `base` holds STACK_BYTES bytes.
    unsafe { std::ptr::write_bytes(base, PAINT, STACK_BYTES) };

    extern "C" fn trampoline(arg: *mut c_void) -> *mut c_void {
        // SAFETY: `arg` is the `&mut &mut dyn FnMut()` below, alive until join.
        let job = unsafe { &mut *arg.cast::<&mut dyn FnMut()>() };
        let _ = std::panic::catch_unwind(AssertUnwindSafe(job));
        std::ptr::null_mut()
    }
    let mut job: &mut dyn FnMut() = job;
    // SAFETY: POSIX calls on a stack buffer we own for the thread's lifetime.
    unsafe {
        let mut attr = MaybeUninit::<libc::pthread_attr_t>::uninit();
        assert_eq!(libc::pthread_attr_init(attr.as_mut_ptr()), 0);
        assert_eq!(
            libc::pthread_attr_setstack(attr.as_mut_ptr(), base.cast(), STACK_BYTES),
            0
        );
        let mut thread = MaybeUninit::uninit();
        let arg = (&mut job as *mut &mut dyn FnMut()).cast::<c_void>();
        assert_eq!(
            libc::pthread_create(thread.as_mut_ptr(), attr.as_ptr(), trampoline, arg),
            0
        );
        assert_eq!(
            libc::pthread_join(thread.assume_init(), std::ptr::null_mut()),
            0
        );
        libc::pthread_attr_destroy(attr.as_mut_ptr());
    }
    // SAFETY: the thread has ended; the buffer is ours again.
    let painted = unsafe { std::slice::from_raw_parts(base, STACK_BYTES) };
    let untouched = painted.iter().take_while(|b| **b == PAINT).count();
    // SAFETY: allocated above with `layout`.
    unsafe { std::alloc::dealloc(base, layout) };
    STACK_BYTES - untouched
}

fn thread_cpu_secs() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: writes one timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + 1e-9 * ts.tv_nsec as f64
}

/// One closed loop from the scenario's start: wall and thread-CPU time of
/// every `recede_step`, and the states it was called with.
fn closed_loop(
    h: &mut Handle,
    s: &Scenario,
    wall: &mut Vec<f64>,
    cpu: &mut Vec<f64>,
) -> Vec<Vec<f64>> {
    let d = h.dims();
    let window = s.window(d.horizon);
    let robot = s.robot();
    let mut x = s.x0.to_vec();
    let mut u = vec![0.0; d.nu];
    let mut states = Vec::with_capacity(s.steps);
    assert_eq!(h.reset(s.x0), recede_ffi::RecedeStatus::Ok);
    for k in 0..s.steps {
        let reference = (k == 0).then_some(window.as_slice());
        states.push(x.clone());
        let (started, cpu_started) = (Instant::now(), thread_cpu_secs());
        let status = h.step(k as f64 * d.period_secs, &x, reference, &mut u);
        cpu.push(thread_cpu_secs() - cpu_started);
        wall.push(started.elapsed().as_secs_f64());
        assert!(status as i32 >= 0, "{}: {}", s.name, h.message());
        plant_step(&robot, &mut x, &u, d.period_secs);
    }
    states
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    const RUNS: usize = 5;
    println!("| robot | nx, nu, N | Rust heap at creation: allocations, live, peak | malloc in use after creation (Rust + OSQP's C) | stack used by step | step wall time median / p99 / max | step thread-CPU time median / p99 / max |");
    println!("|---|---|---|---|---|---|---|");
    for s in &ALL {
        let (mut h, heap) = heap_at_creation(s);
        let d = h.dims();
        let (mut wall, mut cpu) = (Vec::new(), Vec::new());
        let mut states = Vec::new();
        for _ in 0..RUNS {
            states = closed_loop(&mut h, s, &mut wall, &mut cpu);
        }
        // The stack: the last run's steps replayed in a painted thread,
        // against a thread that runs nothing.
        assert_eq!(h.reset(s.x0), recede_ffi::RecedeStatus::Ok);
        let window = s.window(d.horizon);
        let mut u = vec![0.0; d.nu];
        let empty = stack_touched(&mut || {});
        let stepping = stack_touched(&mut || {
            for (k, x) in states.iter().enumerate() {
                let reference = (k == 0).then_some(window.as_slice());
                h.step(k as f64 * d.period_secs, x, reference, &mut u);
            }
        });
        wall.sort_by(f64::total_cmp);
        cpu.sort_by(f64::total_cmp);
        let us = |v: &[f64]| {
            format!(
                "{:.0} / {:.0} / {:.0} us",
                1e6 * percentile(v, 0.5),
                1e6 * percentile(v, 0.99),
                1e6 * v[v.len() - 1]
            )
        };
        println!(
            "| {} | {}, {}, {} | {}, {:.1} KiB, {:.1} KiB | {:.1} KiB | {:.1} KiB ({} B) | {} | {} |",
            s.name,
            d.nx,
            d.nu,
            d.horizon,
            heap.rust_allocations,
            heap.rust_live as f64 / 1024.0,
            heap.rust_peak as f64 / 1024.0,
            heap.malloc_live as f64 / 1024.0,
            (stepping - empty) as f64 / 1024.0,
            stepping - empty,
            us(&wall),
            us(&cpu),
        );
    }
    println!();
    println!("{RUNS} closed loops per robot ({} steps in all); stack: painted {} KiB thread stack, high-water mark of the steps minus that of an empty thread ({} B)",
        ALL.iter().map(|s| s.steps * RUNS).sum::<usize>(), STACK_BYTES / 1024, stack_touched(&mut || {}));
}
