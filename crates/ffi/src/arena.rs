//! Creation in a caller-supplied buffer (feature `caller-memory`).
//!
//! Every allocation the library makes goes through the C allocator's
//! `malloc` family: Rust's (std's `System` allocator calls `malloc`,
//! `calloc`, `realloc`, `posix_memalign`, `free`) and OSQP's C code alike.
//! The feature's library is linked with the linker's `--wrap` for those
//! five (`build.rs` for the shared library and this crate's tests,
//! `scripts/hide-symbols.sh` for the static one), so each call lands in a
//! `__wrap_*` function here. On a thread that is creating (or destroying) a
//! controller in a caller's buffer, the wrapper serves it from that buffer
//! (a bump allocator: the block on top can grow in place or be given back,
//! others stay until the controller is destroyed); on any other thread, and
//! outside those calls, it forwards to the real function (`__real_*`).
//! Memory inside a registered buffer is never handed to the real `free`.
//!
//! A buffer too small is found by running out: the rest of that creation
//! is served by the real allocator (Rust cannot recover from a failed
//! allocation), the controller is destroyed and the call returns
//! `RECEDE_STATUS_BUFFER_TOO_SMALL`. `recede_required_memory` finds the
//! size first by creating once in a scratch buffer of its own: creation's
//! allocations are the same for the same blob on the same build, so that
//! size (plus the alignment slack of an arbitrary buffer) always suffices.

use std::cell::Cell;
use std::ffi::c_void;
use std::ptr::null_mut;
use std::sync::atomic::{AtomicUsize, Ordering};

extern "C" {
    fn __real_malloc(size: usize) -> *mut c_void;
    fn __real_calloc(count: usize, size: usize) -> *mut c_void;
    fn __real_realloc(block: *mut c_void, size: usize) -> *mut c_void;
    fn __real_free(block: *mut c_void);
    fn __real_posix_memalign(out: *mut *mut c_void, align: usize, size: usize) -> i32;
}

/// Alignment of every block (what `malloc` guarantees on 64-bit targets).
const MIN_ALIGN: usize = 16;
/// Each block's header, just below it: the bump offset before the block
/// (to give it back when it is on top) and its size (for `realloc`).
const HEADER: usize = 16;
/// The arena's bookkeeping starts at the buffer's first address aligned to
/// this; a caller's buffer may start anywhere before it.
const BASE_ALIGN: usize = 64;
/// Controllers living in caller buffers at once.
const MAX_ARENAS: usize = 64;

/// A caller's buffer as a bump allocator. Lives at the start of the buffer.
pub(crate) struct Arena {
    /// First and one-past-last usable addresses.
    start: usize,
    end: usize,
    next: usize,
    high_water: usize,
    /// An allocation did not fit and was served by the real allocator.
    overflowed: bool,
    /// Registry slot (`REGISTERED`).
    slot: usize,
}

/// `(start, end)` of every buffer holding a live controller: `free` of an
/// address inside one is never forwarded, whichever thread calls it.
static REGISTERED: [(AtomicUsize, AtomicUsize); MAX_ARENAS] =
    [const { (AtomicUsize::new(0), AtomicUsize::new(0)) }; MAX_ARENAS];

thread_local! {
    /// The arena this thread's allocations go to (creation or destruction
    /// in progress), or null.
    static CURRENT: Cell<*mut Arena> = const { Cell::new(null_mut()) };
}

fn align_up(value: usize, align: usize) -> Option<usize> {
    value.checked_add(align - 1).map(|v| v & !(align - 1))
}

/// Why an arena could not be set up in a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ArenaError {
    /// Not even the bookkeeping fits.
    TooSmall,
    /// `MAX_ARENAS` controllers already live in caller buffers.
    Full,
}

impl Arena {
    /// Bytes of bookkeeping and alignment slack a buffer needs beyond what
    /// its allocations use.
    /// (a buffer starting one byte past a `BASE_ALIGN` boundary loses
    /// `BASE_ALIGN - 1` bytes to alignment; the bookkeeping is rounded up to
    /// `MIN_ALIGN`).
    pub(crate) const OVERHEAD: usize =
        BASE_ALIGN - 1 + std::mem::size_of::<Arena>().next_multiple_of(MIN_ALIGN);

    /// Sets up an arena in `len` bytes at `buffer` and registers it.
    ///
    /// # Safety
    /// `buffer` valid for `len` bytes of writes for as long as the arena is
    /// registered (until [`Arena::release`]).
    pub(crate) unsafe fn create(buffer: *mut u8, len: usize) -> Result<*mut Arena, ArenaError> {
        let base = buffer as usize;
        let end = base.checked_add(len).ok_or(ArenaError::TooSmall)?;
        let at = align_up(base, BASE_ALIGN).ok_or(ArenaError::TooSmall)?;
        let start = align_up(at + std::mem::size_of::<Arena>(), MIN_ALIGN)
            .filter(|s| *s <= end)
            .ok_or(ArenaError::TooSmall)?;
        let slot = REGISTERED
            .iter()
            .position(|(s, _)| {
                s.compare_exchange(0, start, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
            })
            .ok_or(ArenaError::Full)?;
        REGISTERED[slot].1.store(end, Ordering::Release);
        let arena = at as *mut Arena;
        // SAFETY: `at..start` lies within the caller's buffer, aligned.
        unsafe {
            arena.write(Arena {
                start,
                end,
                next: start,
                high_water: start,
                overflowed: false,
                slot,
            })
        };
        Ok(arena)
    }

    /// Forgets the arena: its buffer is the caller's again.
    ///
    /// # Safety
    /// From [`Arena::create`]; nothing allocated in it is used afterwards.
    pub(crate) unsafe fn release(arena: *mut Arena) {
        // SAFETY: a live arena per the contract.
        let slot = unsafe { (*arena).slot };
        REGISTERED[slot].1.store(0, Ordering::Release);
        REGISTERED[slot].0.store(0, Ordering::Release);
    }

    /// Bytes a buffer must have for what this arena served so far (at most),
    /// wherever it starts.
    pub(crate) fn required(&self) -> usize {
        self.high_water - self.start + Self::OVERHEAD
    }

    pub(crate) fn overflowed(&self) -> bool {
        self.overflowed
    }

    fn contains(&self, block: usize) -> bool {
        self.start <= block && block < self.end
    }

    fn alloc(&mut self, size: usize, align: usize) -> *mut c_void {
        let block = self
            .next
            .checked_add(HEADER)
            .and_then(|b| align_up(b, align.max(MIN_ALIGN)))
            .filter(|b| b.checked_add(size).is_some_and(|e| e <= self.end));
        let Some(block) = block else {
            self.overflowed = true;
            return null_mut();
        };
        let header = (block - HEADER) as *mut usize;
        // SAFETY: the header lies in the buffer, after `next`, aligned.
        unsafe {
            header.write(self.next);
            header.add(1).write(size);
        }
        self.next = block + size;
        self.high_water = self.high_water.max(self.next);
        block as *mut c_void
    }

    /// The size and the offset before `block`, from its header.
    ///
    /// # Safety
    /// `block` from [`Arena::alloc`] on this arena.
    unsafe fn header(block: usize) -> (usize, usize) {
        let header = (block - HEADER) as *const usize;
        // SAFETY: written by `alloc`.
        unsafe { (header.read(), header.add(1).read()) }
    }

    /// Gives the block back when it is on top; others stay until the end.
    ///
    /// # Safety
    /// As [`Arena::header`].
    unsafe fn free(&mut self, block: usize) {
        // SAFETY: forwarded.
        let (before, size) = unsafe { Self::header(block) };
        if block + size == self.next {
            self.next = before;
        }
    }

    /// # Safety
    /// As [`Arena::header`].
    unsafe fn realloc(&mut self, block: usize, size: usize) -> *mut c_void {
        // SAFETY: forwarded.
        let (_, old) = unsafe { Self::header(block) };
        let on_top = block + old == self.next;
        if on_top && block.checked_add(size).is_some_and(|e| e <= self.end) {
            // SAFETY: the header is this block's.
            unsafe { ((block - HEADER) as *mut usize).add(1).write(size) };
            self.next = block + size;
            self.high_water = self.high_water.max(self.next);
            return block as *mut c_void;
        }
        let moved = self.alloc(size, MIN_ALIGN);
        let moved = if moved.is_null() {
            // SAFETY: the real allocator, for a creation that has run out.
            unsafe { __real_malloc(size) }
        } else {
            moved
        };
        if !moved.is_null() {
            // SAFETY: both blocks hold at least `min(old, size)` bytes.
            unsafe {
                std::ptr::copy_nonoverlapping(block as *const u8, moved.cast(), old.min(size))
            };
        }
        moved
    }
}

/// Runs `body` with this thread's allocations served by `arena`.
pub(crate) fn within<T>(arena: *mut Arena, body: impl FnOnce() -> T) -> T {
    struct Restore(*mut Arena);
    impl Drop for Restore {
        fn drop(&mut self) {
            CURRENT.with(|c| c.set(self.0));
        }
    }
    let _restore = Restore(CURRENT.with(|c| c.replace(arena)));
    body()
}

fn current() -> Option<&'static mut Arena> {
    let arena = CURRENT.with(Cell::get);
    // SAFETY: set by `within` for the duration of a call on this thread;
    // the arena lives in a buffer registered that long.
    (!arena.is_null()).then(|| unsafe { &mut *arena })
}

fn registered(block: usize) -> bool {
    REGISTERED.iter().any(|(s, e)| {
        let start = s.load(Ordering::Acquire);
        start != 0 && start <= block && block < e.load(Ordering::Acquire)
    })
}

/// A block from `arena`, or once it has run out, from the real allocator
/// (Rust cannot take a NULL back; the creation reports the overflow).
fn alloc_aligned(arena: &mut Arena, size: usize, align: usize) -> *mut c_void {
    let block = arena.alloc(size, align);
    if !block.is_null() {
        return block;
    }
    let mut out = null_mut();
    // SAFETY: a valid out-pointer; a power-of-two alignment >= 16.
    let code = unsafe { __real_posix_memalign(&mut out, align.max(MIN_ALIGN), size) };
    if code == 0 {
        out
    } else {
        null_mut()
    }
}

/// # Safety
/// The C `malloc` contract.
#[no_mangle]
pub unsafe extern "C" fn __wrap_malloc(size: usize) -> *mut c_void {
    match current() {
        Some(arena) => alloc_aligned(arena, size, MIN_ALIGN),
        // SAFETY: forwarded.
        None => unsafe { __real_malloc(size) },
    }
}

/// # Safety
/// The C `calloc` contract.
#[no_mangle]
pub unsafe extern "C" fn __wrap_calloc(count: usize, size: usize) -> *mut c_void {
    let Some(arena) = current() else {
        // SAFETY: forwarded.
        return unsafe { __real_calloc(count, size) };
    };
    let Some(bytes) = count.checked_mul(size) else {
        return null_mut();
    };
    let block = alloc_aligned(arena, bytes, MIN_ALIGN);
    if !block.is_null() {
        // SAFETY: `bytes` writable bytes; a buffer's memory may be dirty.
        unsafe { block.cast::<u8>().write_bytes(0, bytes) };
    }
    block
}

/// # Safety
/// The C `posix_memalign` contract.
#[no_mangle]
pub unsafe extern "C" fn __wrap_posix_memalign(
    out: *mut *mut c_void,
    align: usize,
    size: usize,
) -> i32 {
    let Some(arena) = current() else {
        // SAFETY: forwarded.
        return unsafe { __real_posix_memalign(out, align, size) };
    };
    const ENOMEM: i32 = 12;
    let block = alloc_aligned(arena, size, align);
    if block.is_null() {
        return ENOMEM;
    }
    // SAFETY: `out` valid for a write per the contract.
    unsafe { out.write(block) };
    0
}

/// # Safety
/// The C `realloc` contract.
#[no_mangle]
pub unsafe extern "C" fn __wrap_realloc(block: *mut c_void, size: usize) -> *mut c_void {
    let address = block as usize;
    match current() {
        Some(arena) if arena.contains(address) => {
            // SAFETY: a block of this arena.
            unsafe { arena.realloc(address, size) }
        }
        _ if block.is_null() => {
            // SAFETY: `realloc(NULL, n)` is `malloc(n)`.
            unsafe { __wrap_malloc(size) }
        }
        // A buffer's block outside its creation or destruction: copying it
        // out would need its size, which is in its header.
        _ if registered(address) => {
            // SAFETY: every block of a registered buffer has its header.
            let (_, old) = unsafe { Arena::header(address) };
            // SAFETY: forwarded.
            let moved = unsafe { __wrap_malloc(size) };
            if !moved.is_null() {
                // SAFETY: both hold `min(old, size)` bytes.
                unsafe {
                    std::ptr::copy_nonoverlapping(block.cast::<u8>(), moved.cast(), old.min(size))
                };
            }
            moved
        }
        Some(_) => {
            // A system block grown during a creation in a buffer: move it in.
            // Its old size is unknown here; the real allocator keeps it.
            // SAFETY: forwarded.
            unsafe { __real_realloc(block, size) }
        }
        // SAFETY: forwarded.
        None => unsafe { __real_realloc(block, size) },
    }
}

/// # Safety
/// The C `free` contract.
#[no_mangle]
pub unsafe extern "C" fn __wrap_free(block: *mut c_void) {
    let address = block as usize;
    if block.is_null() {
        return;
    }
    match current() {
        // SAFETY: a block of this arena.
        Some(arena) if arena.contains(address) => unsafe { arena.free(address) },
        // Stays in its buffer until that controller is destroyed.
        _ if registered(address) => {}
        // SAFETY: forwarded.
        _ => unsafe { __real_free(block) },
    }
}
