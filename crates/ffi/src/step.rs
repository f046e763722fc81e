//! The control calls: the real-time iteration's two halves and their
//! composition, and reset.

use std::time::Instant;

use recede_mpc::StepReport;

use crate::guard::{finite_slice, with_handle, Fault};
use crate::handle::{Phase, RecedeController, RECEDE_MAX_DIMENSION};
use crate::references::set_state_window;
use crate::status::{step_status, RecedeDimensions, RecedeStatus};

/// One control step at time `time_secs` from the estimated `state` (nx
/// values): `recede_feedback` then `recede_prepare`. `reference` is a
/// window of state references for nodes 0..=N, flattened node by node
/// (`(N + 1) * nx` values), or NULL (with `reference_len` 0) to keep the
/// last one (see `recede_set_state_reference`); before any reference is
/// given it is zero. The command (nu values) is written to `command`.
///
/// Returns `RECEDE_STATUS_OK`, or `RECEDE_STATUS_FALLBACK_PLAN` /
/// `RECEDE_STATUS_FALLBACK_SAFE` when a fallback produced the command (apply
/// it all the same); on a negative status nothing was written and the
/// controller was not advanced. The controller shifts its plan by
/// `period_secs` after each step whatever `time_secs` says; the time is
/// recorded in the statistics.
///
/// Never allocates. Bounded time: one feedback and one preparation (see
/// those). One thread at a time per handle.
///
/// # Safety
/// `handle` from `recede_create`; non-NULL pointers valid for their lengths.
#[no_mangle]
pub unsafe extern "C" fn recede_step(
    handle: *mut RecedeController,
    time_secs: f64,
    state: *const f64,
    state_len: usize,
    reference: *const f64,
    reference_len: usize,
    command: *mut f64,
    command_len: usize,
) -> RecedeStatus {
    let step = |h: &mut RecedeController| {
        if h.phase != Phase::Prepared {
            return Err(Fault::Sequence(
                "recede_step after recede_feedback: call recede_prepare first",
            ));
        }
        // SAFETY: forwarded from this function's contract.
        let x = unsafe { checked_io(h, time_secs, state, state_len, command, command_len) }?;
        if !reference.is_null() || reference_len != 0 {
            // SAFETY: `reference` valid for `reference_len` reads.
            unsafe { set_state_window(h, reference, reference_len, h.dims.reference_len) }?;
        }
        // SAFETY: `command` checked by `checked_io`.
        let status = unsafe { feedback(h, time_secs, &x, command) }?;
        h.controller.prepare();
        h.phase = Phase::Prepared;
        Ok(status)
    };
    // SAFETY: forwarded from this function's contract.
    unsafe { with_handle(handle, step) }
}

/// The feedback half of a step, at the sample: embeds the measured `state`
/// (nx values) in the QP prepared beforehand, solves it and writes the
/// command (nu values) to `command`. Statuses as `recede_step`. Call
/// `recede_prepare` after it, before the next feedback
/// (`RECEDE_STATUS_SEQUENCE` otherwise).
///
/// Never allocates. Time: the QP solve (OSQP's ADMM, bounded by
/// `[controller.osqp] max_iterations` / `time_limit_secs`; with
/// `presolve_prediction` it starts from the preparation's solution for the
/// predicted state and usually stops at OSQP's first termination check,
/// `check_termination_every` iterations), plus, only when
/// a setter changed weights, state bounds, obstacles or parameters since
/// the last preparation, a preparation without shift first
/// (`RecedeStats.refresh_secs`). One thread at a time per handle.
///
/// # Safety
/// `handle` from `recede_create`; non-NULL pointers valid for their lengths.
#[no_mangle]
pub unsafe extern "C" fn recede_feedback(
    handle: *mut RecedeController,
    time_secs: f64,
    state: *const f64,
    state_len: usize,
    command: *mut f64,
    command_len: usize,
) -> RecedeStatus {
    let call = |h: &mut RecedeController| {
        if h.phase != Phase::Prepared {
            return Err(Fault::Sequence(
                "recede_feedback twice: call recede_prepare between two feedbacks",
            ));
        }
        // SAFETY: forwarded from this function's contract.
        let x = unsafe { checked_io(h, time_secs, state, state_len, command, command_len) }?;
        // SAFETY: `command` checked by `checked_io`.
        unsafe { feedback(h, time_secs, &x, command) }
    };
    // SAFETY: forwarded from this function's contract.
    unsafe { with_handle(handle, call) }
}

/// The preparation half of a step, between samples: shifts the plan by
/// `period_secs`, linearises the model along it and builds the next QP
/// (changes made by setters since the feedback enter here at no extra
/// cost). Only after a feedback (`RECEDE_STATUS_SEQUENCE` otherwise).
///
/// With `[controller.osqp] presolve_prediction` it then solves the new QP
/// for the state the plan predicts at the next sample, which the next
/// feedback starts from (set the next references before this call so that
/// it uses them).
///
/// Never allocates. Time: N model Jacobians (automatic differentiation)
/// and the condensing, O(N^2) in the horizon, and the presolve's ADMM
/// iterations (bounded as the feedback's); usually the larger half of a
/// step. One thread at a time per handle.
///
/// # Safety
/// `handle` from `recede_create`.
#[no_mangle]
pub unsafe extern "C" fn recede_prepare(handle: *mut RecedeController) -> RecedeStatus {
    let call = |h: &mut RecedeController| {
        if h.phase != Phase::FedBack {
            return Err(Fault::Sequence(
                "recede_prepare without a feedback before it: the QP is prepared already",
            ));
        }
        h.controller.prepare();
        h.stale = false;
        h.phase = Phase::Prepared;
        h.message.clear();
        Ok(RecedeStatus::Ok)
    };
    // SAFETY: forwarded from this function's contract.
    unsafe { with_handle(handle, call) }
}

/// The state copied out of the caller's buffer, after checking it and the
/// command buffer and the time.
///
/// # Safety
/// As [`recede_feedback`].
unsafe fn checked_io(
    h: &RecedeController,
    time_secs: f64,
    state: *const f64,
    state_len: usize,
    command: *mut f64,
    command_len: usize,
) -> Result<[f64; RECEDE_MAX_DIMENSION], Fault> {
    let RecedeDimensions { nx, nu, .. } = h.dims;
    if command.is_null() {
        return Err(Fault::Null("command"));
    }
    if !command.is_aligned() {
        return Err(Fault::Misaligned("command"));
    }
    if command_len != nu {
        return Err(Fault::Length {
            what: "command",
            expected: nu,
            got: command_len,
        });
    }
    // Copied so that no Rust reference aliases the command buffer, whatever
    // the caller passes.
    let mut x = [0.0; RECEDE_MAX_DIMENSION];
    // SAFETY: `state` valid for `state_len` reads per the contract.
    x[..nx].copy_from_slice(unsafe { finite_slice("state", state, state_len, nx) }?);
    if !time_secs.is_finite() {
        return Err(Fault::NonFinite {
            what: "time_secs",
            index: 0,
        });
    }
    Ok(x)
}

/// Runs the feedback on a checked state and writes the command.
///
/// # Safety
/// `command` non-NULL, aligned, valid for nu writes.
unsafe fn feedback(
    h: &mut RecedeController,
    time_secs: f64,
    x: &[f64; RECEDE_MAX_DIMENSION],
    command: *mut f64,
) -> Result<RecedeStatus, Fault> {
    let RecedeDimensions { nx, nu, .. } = h.dims;
    h.refresh_secs = 0.0;
    if h.stale {
        let started = Instant::now();
        h.controller.refresh();
        h.refresh_secs = started.elapsed().as_secs_f64();
        h.stale = false;
    }
    let mut u = [0.0; RECEDE_MAX_DIMENSION];
    let report = h
        .controller
        .feedback(&x[..nx], &mut u[..nu])
        .map_err(Fault::Control)?;
    // SAFETY: non-NULL, aligned, `nu` writable values per the contract.
    unsafe { std::ptr::copy_nonoverlapping(u.as_ptr(), command, nu) };
    h.steps += 1;
    h.time_secs = time_secs;
    h.phase = Phase::FedBack;
    Ok(settle_message(h, &report))
}

fn settle_message(h: &mut RecedeController, report: &StepReport) -> RecedeStatus {
    let status = step_status(report.outcome);
    match (status, report.failure) {
        (RecedeStatus::Ok, _) | (_, None) => h.message.clear(),
        (_, Some(failure)) => h.message.set(format_args!(
            "fallback {:?} after {:?} ({} failed steps in a row)",
            report.outcome, failure, report.consecutive_failures
        )),
    }
    status
}

/// Forgets the plan and restarts from `state` (nx values) holding the safe
/// input, with a QP prepared around it; references, weights and bounds are
/// kept. Valid in either phase; the next call is a feedback or a step.
/// Never allocates; takes about one preparation. One thread at a time per
/// handle.
///
/// # Safety
/// `handle` from `recede_create`; `state` valid for `state_len` reads.
#[no_mangle]
pub unsafe extern "C" fn recede_reset(
    handle: *mut RecedeController,
    state: *const f64,
    state_len: usize,
) -> RecedeStatus {
    let reset = |h: &mut RecedeController| {
        // SAFETY: `state` valid for `state_len` reads per the contract.
        let x = unsafe { finite_slice("state", state, state_len, h.dims.nx) }?;
        h.controller.reset(x).map_err(Fault::Control)?;
        h.phase = Phase::Prepared;
        h.stale = false;
        h.message.clear();
        Ok(RecedeStatus::Ok)
    };
    // SAFETY: forwarded from this function's contract.
    unsafe { with_handle(handle, reset) }
}
