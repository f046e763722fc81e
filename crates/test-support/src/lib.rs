//! Test helpers shared by the workspace's crates; dev-only.
//!
//! [`CountingAllocator`] holds the promise "a control step allocates
//! nothing on the heap after setup": install it as the test binary's global
//! allocator, then count around the code under test.
//!
//! ```ignore
//! use recede_test_support::{allocations_in, CountingAllocator};
//!
//! #[global_allocator]
//! static GLOBAL: CountingAllocator = CountingAllocator;
//!
//! assert_eq!(allocations_in(|| controller.step(&x, &mut u).unwrap()), 0);
//! ```
//!
//! Counts are per thread (the test harness runs tests in parallel and
//! allocates on its own threads) and for the whole process ([`process`]).
//! Only Rust's allocations are seen: C code (OSQP) calling `malloc` directly
//! is not.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering::Relaxed};

/// A global allocator that forwards every call to [`System`] and counts.
#[derive(Debug, Clone, Copy, Default)]
pub struct CountingAllocator;

thread_local! {
    // Const-initialised, so touching them never allocates.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
    static LIVE_BYTES: Cell<isize> = const { Cell::new(0) };
}

static PROCESS_ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
static PROCESS_LIVE: AtomicIsize = AtomicIsize::new(0);
static PROCESS_PEAK: AtomicIsize = AtomicIsize::new(0);

/// Books an allocation (`count`) and a change of live bytes. `try_with`:
/// a thread's locals may already be gone while it frees its last memory.
fn note(count: bool, bytes: isize) {
    if count {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        PROCESS_ALLOCATIONS.fetch_add(1, Relaxed);
    }
    let _ = LIVE_BYTES.try_with(|b| b.set(b.get() + bytes));
    let live = PROCESS_LIVE.fetch_add(bytes, Relaxed) + bytes;
    PROCESS_PEAK.fetch_max(live, Relaxed);
}

fn size(bytes: usize) -> isize {
    isize::try_from(bytes).unwrap_or(isize::MAX)
}

// SAFETY: every call is forwarded unchanged to the system allocator; the
// bookkeeping neither allocates nor touches the memory.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(true, size(layout.size()));
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(true, size(layout.size()));
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(true, size(new_size) - size(layout.size()));
        // SAFETY: as for `alloc`; `ptr` came from this allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note(false, -size(layout.size()));
        // SAFETY: `ptr` came from this allocator with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Allocations (and reallocations) made on this thread so far.
pub fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

/// Bytes allocated minus bytes freed on this thread so far.
pub fn live_bytes() -> isize {
    LIVE_BYTES.with(Cell::get)
}

/// Allocations made on this thread while `f` runs, and its result.
pub fn counting<R>(f: impl FnOnce() -> R) -> (usize, R) {
    let before = allocations();
    let result = f();
    (allocations() - before, result)
}

/// Allocations made on this thread while `f` runs.
pub fn allocations_in(f: impl FnOnce()) -> usize {
    counting(f).0
}

/// Counts over every thread of the process.
pub mod process {
    use super::{Relaxed, PROCESS_ALLOCATIONS, PROCESS_LIVE, PROCESS_PEAK};

    /// Allocations (and reallocations) so far, on any thread.
    pub fn allocations() -> usize {
        PROCESS_ALLOCATIONS.load(Relaxed)
    }

    /// Bytes allocated minus bytes freed so far, on any thread.
    pub fn live_bytes() -> isize {
        PROCESS_LIVE.load(Relaxed)
    }

    /// The most live bytes since the last [`reset_peak`].
    pub fn peak_live_bytes() -> isize {
        PROCESS_PEAK.load(Relaxed)
    }

    /// Starts a new peak from the bytes live now.
    pub fn reset_peak() {
        PROCESS_PEAK.store(live_bytes(), Relaxed);
    }
}
