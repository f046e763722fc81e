//! The counter sees what it must: without that, "zero allocations" in the
//! other crates' tests would prove nothing.

use recede_test_support::{allocations_in, counting, live_bytes, process, CountingAllocator};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

#[test]
fn allocations_and_reallocations_are_counted_on_this_thread() {
    let n = allocations_in(|| {
        let mut v: Vec<u64> = std::hint::black_box(Vec::with_capacity(1));
        v.extend_from_slice(&[1, 2, 3, 4, 5]);
        std::hint::black_box(&v);
    });
    assert_eq!(n, 2, "one allocation and one reallocation");
    assert_eq!(allocations_in(|| std::hint::black_box(())), 0);
}

#[test]
fn live_bytes_and_the_process_peak_follow_memory() {
    let before = live_bytes();
    let (n, v) = counting(|| std::hint::black_box(vec![0u8; 4096]));
    assert_eq!(n, 1);
    assert_eq!(live_bytes() - before, 4096);
    process::reset_peak();
    let peak_before = process::peak_live_bytes();
    drop(v);
    let w = std::hint::black_box(vec![0u8; 1 << 20]);
    // Other tests' threads allocate and free meanwhile: a margin for them.
    assert!(process::peak_live_bytes() - peak_before >= (1 << 20) - (64 << 10));
    drop(w);
    assert_eq!(live_bytes(), before);
}

#[test]
fn other_threads_do_not_count_on_this_one() {
    let spawn = || std::thread::scope(|s| drop(s.spawn(|| ())));
    spawn(); // what a first spawn initialises lazily is not counted below
    let n = allocations_in(|| {
        std::thread::scope(|s| {
            s.spawn(|| std::hint::black_box(vec![1u8; 64]));
        });
    });
    // Spawning allocates on this thread; the thread's own vector does not.
    let spawn_only = allocations_in(spawn);
    assert_eq!(n, spawn_only);
}
