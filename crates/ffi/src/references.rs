//! Reference windows: what the plan tracks, for states (nodes 0..=N) and
//! inputs (intervals 0..N), as a whole window or one set point. Every value
//! is checked before any is written, so a refused call changes nothing.
//! References enter at the next feedback; no preparation is needed.

use crate::guard::{finite_slice, with_handle, Fault};
use crate::handle::RecedeController;
use crate::status::RecedeStatus;

/// Writes a state reference window (`expected` = (N+1)·nx values) or a set
/// point (nx values, when `expected` allows it) into the controller.
///
/// # Safety
/// `values` NULL or valid for `len` reads.
pub(crate) unsafe fn set_state_window(
    h: &mut RecedeController,
    values: *const f64,
    len: usize,
    expected: usize,
) -> Result<(), Fault> {
    let nx = h.dims.nx;
    // SAFETY: forwarded.
    let values = unsafe { finite_slice("reference", values, len, expected) }?;
    let nodes = h.dims.horizon + 1;
    for node in 0..nodes {
        let xr = if values.len() == nx {
            values
        } else {
            &values[node * nx..(node + 1) * nx]
        };
        h.controller
            .set_reference(node, xr, None)
            .map_err(Fault::Control)?;
    }
    Ok(())
}

/// The accepted length among a window's and a set point's.
fn window_or_point(len: usize, window: usize, point: usize) -> usize {
    if len == point {
        point
    } else {
        window
    }
}

/// Sets the state reference: `len` = nx (one set point, every node 0..=N)
/// or `(N + 1) * nx` (a window, node by node). Kept until changed; used from
/// the next feedback on (the `[controller.governor]`, when configured,
/// limits how far ahead of the robot the plan sees it).
///
/// Never allocates; O(N·nx) copies. One thread at a time per handle: set
/// between feedbacks, from the control thread.
///
/// # Safety
/// `handle` from `recede_create`; `values` valid for `len` reads.
#[no_mangle]
pub unsafe extern "C" fn recede_set_state_reference(
    handle: *mut RecedeController,
    values: *const f64,
    len: usize,
) -> RecedeStatus {
    let set = |h: &mut RecedeController| {
        let expected = window_or_point(len, h.dims.reference_len, h.dims.nx);
        // SAFETY: forwarded from this function's contract.
        unsafe { set_state_window(h, values, len, expected) }?;
        h.message.clear();
        Ok(RecedeStatus::Ok)
    };
    // SAFETY: forwarded from this function's contract.
    unsafe { with_handle(handle, set) }
}

/// Sets the input reference: `len` = nu (one input at every interval
/// 0..N; a quadrotor's hover thrust, say) or `N * nu` (a window). Zero until
/// set. Kept until changed; used from the next feedback on.
///
/// Never allocates; O(N·nu) copies. One thread at a time per handle.
///
/// # Safety
/// `handle` from `recede_create`; `values` valid for `len` reads.
#[no_mangle]
pub unsafe extern "C" fn recede_set_input_reference(
    handle: *mut RecedeController,
    values: *const f64,
    len: usize,
) -> RecedeStatus {
    let set = |h: &mut RecedeController| {
        let nu = h.dims.nu;
        let expected = window_or_point(len, h.dims.input_reference_len, nu);
        // SAFETY: forwarded from this function's contract.
        let values = unsafe { finite_slice("input reference", values, len, expected) }?;
        for node in 0..h.dims.horizon {
            let ur = if values.len() == nu {
                values
            } else {
                &values[node * nu..(node + 1) * nu]
            };
            h.controller
                .set_input_reference(node, ur)
                .map_err(Fault::Control)?;
        }
        h.message.clear();
        Ok(RecedeStatus::Ok)
    };
    // SAFETY: forwarded from this function's contract.
    unsafe { with_handle(handle, set) }
}
