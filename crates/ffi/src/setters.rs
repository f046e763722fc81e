//! Changes to the running problem: weights, bounds, model parameters,
//! obstacles. Each checks every value before changing anything (a refused
//! call returns its status, names the value in the message and leaves the
//! controller as it was) and never allocates. Changes that reshape the QP
//! (weights, state bounds, obstacles, parameters) enter at the next
//! preparation: free when set between `recede_feedback` and
//! `recede_prepare`; otherwise the next feedback re-prepares first
//! (`RecedeStats.refresh_secs`).

use std::ffi::{c_char, CStr};

use nalgebra::Vector3;
use recede_msg::{Obstacle, ObstacleShape, MAX_OBSTACLES};

use crate::guard::{slice, with_handle, write_out, Fault};
use crate::handle::RecedeController;
use crate::status::RecedeStatus;

/// Shape of an obstacle handed to `recede_set_obstacles`.
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecedeObstacleShape {
    /// Distance measured in 3D from `position`.
    Sphere = 0,
    /// A vertical cylinder from the ground to `top`: distance measured
    /// horizontally from its axis.
    Cylinder = 1,
}

/// An obstacle the plan keeps clear of (by `radius` plus the configured
/// `margin_m` and `uncertainty_sigmas` standard deviations).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RecedeObstacle {
    /// Centre (a point of the axis for a cylinder), world frame, m.
    pub position: [f64; 3],
    pub radius: f64,
    /// A `RecedeObstacleShape` value (an integer, so that any value C
    /// passes is defined; others are refused).
    pub shape: i32,
    /// Top of a cylinder, m (ignored for a sphere).
    pub top: f64,
    /// Standard deviations of the centre's position and of the radius, m.
    pub position_std: f64,
    pub radius_std: f64,
}

/// Sets the diagonals of the stage state weight Q (`state`, nx values),
/// the terminal weight (`terminal`, nx values; NULL with length 0 for Q)
/// and the input weight R (`input`, nu values). Finite, >= 0, not all zero
/// (`RECEDE_STATUS_INVALID_VALUE` otherwise). Enters at the next
/// preparation (see the module notes in the README).
///
/// Never allocates; O(nx + nu). One thread at a time per handle.
///
/// # Safety
/// `handle` from `recede_create`; non-NULL pointers valid for their lengths.
#[no_mangle]
pub unsafe extern "C" fn recede_set_weights(
    handle: *mut RecedeController,
    state: *const f64,
    state_len: usize,
    terminal: *const f64,
    terminal_len: usize,
    input: *const f64,
    input_len: usize,
) -> RecedeStatus {
    let set = |h: &mut RecedeController| {
        let (nx, nu) = (h.dims.nx, h.dims.nu);
        // SAFETY: forwarded from this function's contract.
        let q = unsafe { slice("state weights", state, state_len, nx) }?;
        let qt = if terminal.is_null() && terminal_len == 0 {
            q
        } else {
            // SAFETY: forwarded from this function's contract.
            unsafe { slice("terminal weights", terminal, terminal_len, nx) }?
        };
        // SAFETY: forwarded from this function's contract.
        let r = unsafe { slice("input weights", input, input_len, nu) }?;
        h.controller.set_weights(q, qt, r).map_err(Fault::Invalid)?;
        h.stale = true;
        h.message.clear();
        Ok(RecedeStatus::Ok)
    };
    // SAFETY: forwarded from this function's contract.
    unsafe { with_handle(handle, set) }
}

/// Sets the input bounds (nu values each; `-INFINITY` / `INFINITY` for
/// none). Not NaN, lower <= upper, and the configured safe input
/// (`[controller.fallback] safe_input`) inside them. Used from the next
/// feedback on (no preparation needed).
///
/// Never allocates; O(nu). One thread at a time per handle.
///
/// # Safety
/// `handle` from `recede_create`; pointers valid for their lengths.
#[no_mangle]
pub unsafe extern "C" fn recede_set_input_bounds(
    handle: *mut RecedeController,
    lower: *const f64,
    lower_len: usize,
    upper: *const f64,
    upper_len: usize,
) -> RecedeStatus {
    let set = |h: &mut RecedeController| {
        let nu = h.dims.nu;
        // SAFETY: forwarded from this function's contract.
        let lo = unsafe { slice("lower", lower, lower_len, nu) }?;
        // SAFETY: forwarded from this function's contract.
        let hi = unsafe { slice("upper", upper, upper_len, nu) }?;
        h.controller
            .set_input_bounds(lo, hi)
            .map_err(Fault::Invalid)?;
        h.message.clear();
        Ok(RecedeStatus::Ok)
    };
    // SAFETY: forwarded from this function's contract.
    unsafe { with_handle(handle, set) }
}

/// Sets the limits of state bound `slot` (0..`RecedeDimensions.state_bounds`,
/// the scenario's `state_bounds` in order; its state and its hard or soft
/// kind stay). `-INFINITY` / `INFINITY` opens a side; not both, not NaN,
/// min <= max. Enters at the next preparation.
///
/// Never allocates; O(1). One thread at a time per handle.
///
/// # Safety
/// `handle` from `recede_create`.
#[no_mangle]
pub unsafe extern "C" fn recede_set_state_bound(
    handle: *mut RecedeController,
    slot: usize,
    min: f64,
    max: f64,
) -> RecedeStatus {
    let set = |h: &mut RecedeController| {
        h.controller
            .set_state_bound(slot, min, max)
            .map_err(Fault::Invalid)?;
        h.stale = true;
        h.message.clear();
        Ok(RecedeStatus::Ok)
    };
    // SAFETY: forwarded from this function's contract.
    unsafe { with_handle(handle, set) }
}

/// A NUL-terminated name as UTF-8.
///
/// # Safety
/// `name` NULL or NUL-terminated.
unsafe fn name_str<'a>(name: *const c_char) -> Result<&'a str, Fault> {
    if name.is_null() {
        return Err(Fault::Null("name"));
    }
    // SAFETY: non-NULL and NUL-terminated per the contract.
    unsafe { CStr::from_ptr(name) }
        .to_str()
        .map_err(|_| Fault::Unknown {
            what: "name",
            expected: "UTF-8 text",
        })
}

/// Sets the robot's physical parameter `name` (a key of its `[robot]`
/// table, e.g. "mass_kg"; see `recede_parameter_name`) in the prediction
/// model. Checked as a scenario's value is (`RECEDE_STATUS_INVALID_VALUE`).
/// Enters at the next preparation. The safe policy and the input bounds
/// keep the values given at creation (set those with
/// `recede_set_input_bounds`).
///
/// Never allocates; O(number of parameters). One thread at a time per
/// handle.
///
/// # Safety
/// `handle` from `recede_create`; `name` NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn recede_set_parameter(
    handle: *mut RecedeController,
    name: *const c_char,
    value: f64,
) -> RecedeStatus {
    let set = |h: &mut RecedeController| {
        // SAFETY: forwarded from this function's contract.
        let name = unsafe { name_str(name) }?;
        h.parameters
            .set(&mut h.robot, &mut h.controller, name, value)?;
        h.stale = true;
        h.message.clear();
        Ok(RecedeStatus::Ok)
    };
    // SAFETY: forwarded from this function's contract.
    unsafe { with_handle(handle, set) }
}

/// Reads the robot's physical parameter `name` into `*out`.
/// Never allocates. One thread at a time per handle.
///
/// # Safety
/// `handle` from `recede_create`; `name` NUL-terminated; `out` valid for
/// one write.
#[no_mangle]
pub unsafe extern "C" fn recede_get_parameter(
    handle: *mut RecedeController,
    name: *const c_char,
    out: *mut f64,
) -> RecedeStatus {
    let get = |h: &mut RecedeController| {
        // SAFETY: forwarded from this function's contract.
        let name = unsafe { name_str(name) }?;
        let value = h.parameters.get(name)?;
        // SAFETY: forwarded from this function's contract.
        unsafe { write_out(out, value) }
    };
    // SAFETY: forwarded from this function's contract.
    unsafe { with_handle(handle, get) }
}

/// Copies the name of parameter `index` (0..`RecedeDimensions.parameters`)
/// into `buffer` as `recede_last_error` does; returns its full length, 0
/// for an index out of range or a NULL handle. Never allocates; O(name
/// length). One thread at a time per handle.
///
/// # Safety
/// `handle` NULL or from `recede_create`; `buffer` NULL or valid for
/// `buffer_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn recede_parameter_name(
    handle: *const RecedeController,
    index: usize,
    buffer: *mut c_char,
    buffer_len: usize,
) -> usize {
    // SAFETY: NULL or live per the contract.
    let Some(h) = (unsafe { handle.as_ref() }) else {
        return 0;
    };
    let name = h.parameters.name(index).unwrap_or("");
    if !buffer.is_null() && buffer_len > 0 {
        let n = name.len().min(buffer_len - 1);
        // SAFETY: `buffer_len` writable bytes per the contract, n + 1 of
        // them written.
        unsafe {
            std::ptr::copy_nonoverlapping(name.as_ptr(), buffer.cast::<u8>(), n);
            buffer.add(n).write(0);
        }
    }
    name.len()
}

/// Replaces the obstacles the plan keeps clear of with `obstacles`
/// (`count` of them, at most `RecedeDimensions.obstacle_slots`; NULL with 0
/// clears them). Every value finite, radius and deviations >= 0. Enters at
/// the next preparation.
///
/// Never allocates; O(count). One thread at a time per handle.
///
/// # Safety
/// `handle` from `recede_create`; `obstacles` valid for `count` reads.
#[no_mangle]
pub unsafe extern "C" fn recede_set_obstacles(
    handle: *mut RecedeController,
    obstacles: *const RecedeObstacle,
    count: usize,
) -> RecedeStatus {
    let set = |h: &mut RecedeController| {
        let slots = h.dims.obstacle_slots;
        if count > slots {
            return Err(Fault::Length {
                what: "obstacles (at most obstacle_slots)",
                expected: slots,
                got: count,
            });
        }
        let given: &[RecedeObstacle] = if count == 0 {
            &[]
        } else if obstacles.is_null() {
            return Err(Fault::Null("obstacles"));
        } else if !obstacles.is_aligned() {
            return Err(Fault::Misaligned("obstacles"));
        } else {
            // SAFETY: non-NULL, aligned, `count` readable per the contract.
            unsafe { std::slice::from_raw_parts(obstacles, count) }
        };
        let mut converted = [UNUSED; MAX_OBSTACLES];
        for (i, (o, slot)) in given.iter().zip(converted.iter_mut()).enumerate() {
            *slot = obstacle(i, o)?;
        }
        // All of them fit the slots, so the position the nearest are
        // chosen from does not matter.
        let fit = h
            .controller
            .set_obstacles(&converted[..given.len()], &Vector3::zeros());
        if !fit && slots > 0 {
            return Err(Fault::Unknown {
                what: "obstacles",
                expected: "a robot with obstacle rows",
            });
        }
        h.stale = true;
        h.message.clear();
        Ok(RecedeStatus::Ok)
    };
    // SAFETY: forwarded from this function's contract.
    unsafe { with_handle(handle, set) }
}

const UNUSED: Obstacle = Obstacle {
    id: 0,
    shape: ObstacleShape::Sphere,
    position_m: Vector3::new(0.0, 0.0, 0.0),
    radius_m: 0.0,
    position_std_m: 0.0,
    radius_std_m: 0.0,
    hits: 0,
    last_seen_secs: 0.0,
};

/// The C obstacle as the controller's, checked.
fn obstacle(index: usize, o: &RecedeObstacle) -> Result<Obstacle, Fault> {
    let values = [
        o.position[0],
        o.position[1],
        o.position[2],
        o.radius,
        o.top,
        o.position_std,
        o.radius_std,
    ];
    let cylinder = match o.shape {
        s if s == RecedeObstacleShape::Sphere as i32 => false,
        s if s == RecedeObstacleShape::Cylinder as i32 => true,
        _ => {
            return Err(Fault::Unknown {
                what: "obstacles: shape",
                expected: "RECEDE_OBSTACLE_SHAPE_SPHERE or RECEDE_OBSTACLE_SHAPE_CYLINDER",
            })
        }
    };
    // A sphere's `top` is ignored, whatever it holds.
    let checked = if cylinder { &values[..] } else { &values[..4] };
    if !checked.iter().chain(&values[5..]).all(|v| v.is_finite()) {
        return Err(Fault::NonFinite {
            what: "obstacles",
            index,
        });
    }
    if o.radius < 0.0 || o.position_std < 0.0 || o.radius_std < 0.0 {
        return Err(Fault::Unknown {
            what: "obstacles: radius and deviations",
            expected: "values >= 0",
        });
    }
    Ok(Obstacle {
        id: index as u32,
        shape: if cylinder {
            ObstacleShape::Cylinder { top_m: o.top }
        } else {
            ObstacleShape::Sphere
        },
        position_m: Vector3::new(o.position[0], o.position[1], o.position[2]),
        radius_m: o.radius,
        position_std_m: o.position_std,
        radius_std_m: o.radius_std,
        hits: 1,
        last_seen_secs: 0.0,
    })
}
