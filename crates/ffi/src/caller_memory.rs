//! `recede_required_memory` and `recede_create_from_blob_in_buffer`
//! (feature `caller-memory`): a controller whose every allocation, Rust's
//! and OSQP's, lives in a buffer the caller owns (`arena.rs`).

use std::ffi::c_char;

use crate::arena::{within, Arena, ArenaError};
use crate::blob::recede_create_from_blob;
use crate::handle::{guarded_create, RecedeController};
use crate::status::RecedeStatus;

/// Scratch buffers `recede_required_memory` tries, from the first, growing
/// fourfold up to the last.
const FIRST_SCRATCH: usize = 256 << 10;
const LAST_SCRATCH: usize = 1 << 30;

/// A creation status with a message, for failures before any creation.
///
/// # Safety
/// As `recede_create_from_blob_in_buffer`.
unsafe fn refuse(
    out: *mut *mut RecedeController,
    error: *mut c_char,
    error_len: usize,
    status: RecedeStatus,
    text: std::fmt::Arguments<'_>,
) -> RecedeStatus {
    // SAFETY: forwarded.
    unsafe {
        guarded_create(out, error, error_len, |message| {
            message.set(text);
            Err(status)
        })
    }
}

/// `recede_create_from_blob` with every allocation of the creation (the
/// controller, its plan and QP, OSQP's workspace) placed in `buffer`
/// (`buffer_len` bytes, any alignment), which must stay valid and untouched
/// until `recede_destroy`; nothing is allocated elsewhere. Size it with
/// `recede_required_memory` (the same blob on the same build needs the same
/// bytes).
///
/// A buffer too small returns `RECEDE_STATUS_BUFFER_TOO_SMALL` and `*out` =
/// NULL; finding that out runs the creation until the buffer is full and
/// serves the rest from the C allocator (then frees it): on a target
/// without a heap, call `recede_required_memory` first. At most 64
/// controllers live in caller buffers at once (`RECEDE_STATUS_BUFFER_TOO_SMALL`
/// with a message saying so beyond).
///
/// Not real-time; thread-safe. Only in a library built with the
/// `caller-memory` feature and linked with `--wrap` for `malloc`, `calloc`,
/// `realloc`, `posix_memalign` and `free` (`scripts/hide-symbols.sh` does it
/// for the static library).
///
/// # Safety
/// As `recede_create_from_blob`; `buffer` valid for `buffer_len` bytes of
/// reads and writes until the handle is destroyed.
#[no_mangle]
pub unsafe extern "C" fn recede_create_from_blob_in_buffer(
    blob: *const u8,
    blob_len: usize,
    x0: *const f64,
    x0_len: usize,
    buffer: *mut u8,
    buffer_len: usize,
    out: *mut *mut RecedeController,
    error: *mut c_char,
    error_len: usize,
) -> RecedeStatus {
    if buffer.is_null() {
        let null = format_args!("`buffer` is NULL");
        // SAFETY: forwarded.
        return unsafe { refuse(out, error, error_len, RecedeStatus::NullPointer, null) };
    }
    // SAFETY: `buffer` valid for `buffer_len` bytes until destroy.
    let arena = match unsafe { Arena::create(buffer, buffer_len) } {
        Ok(arena) => arena,
        Err(e) => {
            let text = match e {
                ArenaError::TooSmall => format_args!("`buffer`: too small for the arena itself"),
                ArenaError::Full => format_args!("64 controllers already live in caller buffers"),
            };
            // SAFETY: forwarded.
            return unsafe { refuse(out, error, error_len, RecedeStatus::BufferTooSmall, text) };
        }
    };
    // SAFETY: forwarded from this function's contract.
    let status = within(arena, || unsafe {
        recede_create_from_blob(blob, blob_len, x0, x0_len, out, error, error_len)
    });
    // SAFETY: the arena lives in the caller's buffer until released.
    let overflowed = unsafe { (*arena).overflowed() };
    if status == RecedeStatus::Ok && !overflowed {
        // SAFETY: creation succeeded: `*out` is the new handle.
        unsafe { (**out).arena = arena };
        return status;
    }
    if status == RecedeStatus::Ok {
        // SAFETY: the handle just created, freed in its arena.
        within(arena, || drop(unsafe { Box::from_raw(*out) }));
    }
    // SAFETY: nothing of the creation is left in the buffer.
    unsafe { Arena::release(arena) };
    if status != RecedeStatus::Ok {
        return status;
    }
    let text = format_args!(
        "`buffer`: {buffer_len} bytes are too few for this controller (recede_required_memory says how many)"
    );
    // SAFETY: forwarded.
    unsafe { refuse(out, error, error_len, RecedeStatus::BufferTooSmall, text) }
}

/// Writes to `*bytes` the size of the buffer
/// `recede_create_from_blob_in_buffer` needs for this blob: it creates the
/// controller once in a scratch buffer (allocated from the C heap, growing
/// until it fits), measures, and frees everything. Statuses and messages as
/// `recede_create_from_blob` (a blob or `x0` it rejects).
///
/// Allocates (call it at start-up or on the host with the same build); not
/// real-time; thread-safe. Only with the `caller-memory` feature.
///
/// # Safety
/// As `recede_create_from_blob`; `bytes` valid for one write.
#[no_mangle]
pub unsafe extern "C" fn recede_required_memory(
    blob: *const u8,
    blob_len: usize,
    x0: *const f64,
    x0_len: usize,
    bytes: *mut usize,
    error: *mut c_char,
    error_len: usize,
) -> RecedeStatus {
    let mut handle: *mut RecedeController = std::ptr::null_mut();
    if bytes.is_null() || !bytes.is_aligned() {
        let text = format_args!("`bytes` is NULL or misaligned");
        // SAFETY: `handle` is a valid out-pointer; `error` per the contract.
        return unsafe {
            refuse(
                &mut handle,
                error,
                error_len,
                RecedeStatus::NullPointer,
                text,
            )
        };
    }
    let mut len = FIRST_SCRATCH;
    loop {
        let mut scratch = vec![0u8; len];
        // SAFETY: `scratch` outlives the arena, released below.
        let arena = match unsafe { Arena::create(scratch.as_mut_ptr(), len) } {
            Ok(arena) => arena,
            Err(_) => {
                let text = format_args!("64 controllers already live in caller buffers");
                // SAFETY: as above.
                return unsafe {
                    refuse(
                        &mut handle,
                        error,
                        error_len,
                        RecedeStatus::BufferTooSmall,
                        text,
                    )
                };
            }
        };
        // SAFETY: forwarded from this function's contract.
        let status = within(arena, || unsafe {
            recede_create_from_blob(blob, blob_len, x0, x0_len, &mut handle, error, error_len)
        });
        // SAFETY: the arena lives in `scratch` until released.
        let (overflowed, required) = unsafe { ((*arena).overflowed(), (*arena).required()) };
        if status == RecedeStatus::Ok {
            // SAFETY: the handle just created, freed in its arena.
            within(arena, || drop(unsafe { Box::from_raw(handle) }));
        }
        // SAFETY: nothing of the creation is left in `scratch`.
        unsafe { Arena::release(arena) };
        if status != RecedeStatus::Ok {
            return status;
        }
        if !overflowed {
            // SAFETY: checked non-NULL and aligned.
            unsafe { bytes.write(required) };
            return RecedeStatus::Ok;
        }
        if len >= LAST_SCRATCH {
            let text = format_args!("creation needs more than {LAST_SCRATCH} bytes");
            // SAFETY: as above.
            return unsafe {
                refuse(
                    &mut handle,
                    error,
                    error_len,
                    RecedeStatus::BufferTooSmall,
                    text,
                )
            };
        }
        len *= 4;
    }
}
