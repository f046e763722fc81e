//! Reading a controller: statistics, sizes, the plan, messages, the
//! library's version.

use std::ffi::c_char;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::guard::{out_slice, with_handle, write_out, Fault};
use crate::handle::RecedeController;
use crate::message::Message;
use crate::status::{stats, RecedeStatus};

/// The library's version, `major.minor.patch` (the crate's), as a static
/// NUL-terminated string: never NULL, never freed. Any thread, any time;
/// never allocates.
#[no_mangle]
pub extern "C" fn recede_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// Writes the last step's statistics into `*out` (the feedback's and the
/// last preparation's times separately). Never allocates; O(1). One thread
/// at a time per handle.
///
/// # Safety
/// `handle` from `recede_create`; `out` valid for one write.
#[no_mangle]
pub unsafe extern "C" fn recede_last_stats(
    handle: *mut RecedeController,
    out: *mut crate::RecedeStats,
) -> RecedeStatus {
    let write = |h: &mut RecedeController| {
        let report = h.controller.last_report();
        let stats = stats(h.steps, h.time_secs, h.refresh_secs, &report);
        // SAFETY: `out` NULL or valid for one write per the contract.
        unsafe { write_out(out, stats) }
    };
    // SAFETY: forwarded from this function's contract.
    unsafe { with_handle(handle, write) }
}

/// Writes the controller's array sizes and timing into `*out`. Never
/// allocates; O(1). One thread at a time per handle.
///
/// # Safety
/// `handle` from `recede_create`; `out` valid for one write.
#[no_mangle]
pub unsafe extern "C" fn recede_dimensions(
    handle: *mut RecedeController,
    out: *mut crate::RecedeDimensions,
) -> RecedeStatus {
    // SAFETY: `out` NULL or valid for one write per the contract.
    let write = |h: &mut RecedeController| unsafe { write_out(out, h.dims) };
    // SAFETY: forwarded from this function's contract.
    unsafe { with_handle(handle, write) }
}

/// Copies the current plan: predicted `states` for nodes 0..=N
/// (`(N + 1) * nx` values, node by node) and planned `inputs` for
/// intervals 0..N (`N * nu` values). Either may be NULL with length 0 to
/// skip it. After a feedback it is the corrected plan (node 0 the measured
/// state, input 0 the command before clipping); after a preparation, that
/// plan shifted by one period.
///
/// Never allocates; O(N·(nx + nu)) copies. One thread at a time per handle.
///
/// # Safety
/// `handle` from `recede_create`; non-NULL pointers valid for their
/// lengths.
#[no_mangle]
pub unsafe extern "C" fn recede_get_plan(
    handle: *mut RecedeController,
    states: *mut f64,
    states_len: usize,
    inputs: *mut f64,
    inputs_len: usize,
) -> RecedeStatus {
    let copy = |h: &mut RecedeController| {
        let wanted = |ptr: *mut f64, len: usize| !ptr.is_null() || len != 0;
        if wanted(states, states_len) {
            // SAFETY: forwarded from this function's contract.
            let out = unsafe { out_slice("states", states, states_len, h.dims.reference_len) }?;
            h.controller.predicted_states(out).map_err(Fault::Control)?;
        }
        if wanted(inputs, inputs_len) {
            let expected = h.dims.input_reference_len;
            // SAFETY: forwarded from this function's contract.
            let out = unsafe { out_slice("inputs", inputs, inputs_len, expected) }?;
            h.controller.planned_inputs(out).map_err(Fault::Control)?;
        }
        Ok(RecedeStatus::Ok)
    };
    // SAFETY: forwarded from this function's contract.
    unsafe { with_handle(handle, copy) }
}

/// Copies the message of the last call on `handle` (empty after a success)
/// into `buffer`: at most `buffer_len - 1` bytes, NUL-terminated. Returns the
/// message's full length in bytes, without the NUL (a larger value than
/// `buffer_len - 1` means it was truncated); 0 for a NULL handle. Never
/// allocates; O(message length). One thread at a time per handle.
///
/// # Safety
/// `handle` NULL or from `recede_create`; `buffer` NULL or valid for
/// `buffer_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn recede_last_error(
    handle: *const RecedeController,
    buffer: *mut c_char,
    buffer_len: usize,
) -> usize {
    // SAFETY: NULL or live per the contract.
    let Some(h) = (unsafe { handle.as_ref() }) else {
        // SAFETY: as `Message::copy_out`.
        return unsafe { Message::new().copy_out(buffer, buffer_len) };
    };
    // SAFETY: `buffer` NULL or valid for `buffer_len` bytes.
    catch_unwind(AssertUnwindSafe(|| unsafe {
        h.message.copy_out(buffer, buffer_len)
    }))
    .unwrap_or(0)
}
