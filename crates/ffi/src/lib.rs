//! The recede controller core behind a C interface.
//!
//! A C (or C++) control loop creates one controller from the `[robot]` and
//! `[controller]` tables of a scenario file, handed over as a text buffer,
//! and steps it once per control period on plain `double` arrays. Creation
//! is the only call that allocates; `recede_step`, `recede_reset` and every
//! query write into caller-owned memory (see the crate README for the
//! measured figures).
//!
//! # Status codes
//!
//! Every entry point returns a [`RecedeStatus`]: `0` is success, positive
//! values are warnings after which the command buffer still holds a command
//! that is safe to apply (a fallback produced it), negative values are errors
//! after which nothing was written and the controller was not advanced. The
//! message of the last call on a handle is read with [`recede_last_error`]
//! into a caller buffer, without allocating; messages live in a fixed-size
//! buffer inside the handle ([`RECEDE_MESSAGE_CAPACITY`] bytes, truncated on
//! a character boundary). Create failures write their message into the
//! out-parameter buffer of [`recede_create`].
//!
//! # Panics
//!
//! No panic crosses the boundary: every entry point runs inside
//! [`std::panic::catch_unwind`]. A panic (a bug; none is expected) returns
//! [`RecedeStatus::Panicked`] and poisons the handle: every later call on it
//! returns `Panicked` again, only [`recede_destroy`] remains valid, because
//! the controller may have been left half-updated. `panic = "abort"` is not
//! used: in a library linked into someone else's firmware it would end the
//! whole process without a status the caller could act on, and the choice of
//! panic strategy belongs to the final link, not to this crate.
//!
//! # Threads
//!
//! A handle may be moved between threads but must not be used by two threads
//! at once. Different handles are independent.

use std::ffi::{c_char, CStr};
use std::fmt::{self, Write as _};
use std::panic::{catch_unwind, AssertUnwindSafe};

use recede_control::{ControlError, Controller, ControllerFile, ResidualConfig};
use recede_mpc::{Failure, MpcError, QpStatus, StepOutcome, StepReport};

/// Bytes of message text a handle keeps (the terminating NUL included).
pub const RECEDE_MESSAGE_CAPACITY: usize = 512;

/// The largest state or input dimension of the built-in robots the interface
/// copies through its stack buffers.
pub const RECEDE_MAX_DIMENSION: usize = 16;

/// What a call did. `>= 0`: the call succeeded and (for `recede_step`) the
/// command buffer holds a command to apply; `< 0`: nothing was written and
/// the controller is unchanged.
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecedeStatus {
    /// Success; for a step, a QP solution (to tolerance, or an inaccurate
    /// iterate accepted by `fallback.accept_inaccurate`) was applied.
    Ok = 0,
    /// The step's QP failed; the command is the previous plan shifted in
    /// time (clipped to the input bounds). Not an error: apply it.
    FallbackPlan = 1,
    /// Too many failures in a row, or no usable plan: the command is the
    /// configured safe input. Not an error: apply it.
    FallbackSafe = 2,
    /// A required pointer is NULL or not aligned for its type.
    NullPointer = -1,
    /// An array has the wrong number of elements (see `recede_dimensions`).
    WrongLength = -2,
    /// A time, state or reference value is NaN or infinite.
    NonFinite = -3,
    /// The TOML text is not valid UTF-8, does not parse, or names a key or
    /// value the robot or the controller rejects (the message names it).
    Config = -4,
    // -5 is retired (it meant "residual model files not supported yet").
    /// A panic was caught (a bug). The handle is poisoned: destroy it.
    Panicked = -6,
}

/// Where the last step's command came from.
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecedeOutcome {
    /// A QP solved to tolerance.
    Solved = 0,
    /// A finite QP iterate that stopped early or inaccurately, accepted.
    Inaccurate = 1,
    /// Fallback level 1: the previous plan, shifted.
    FallbackPlan = 2,
    /// Fallback level 2: the safe input.
    FallbackSafe = 3,
}

/// Why the last step fell back.
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecedeFailure {
    None = 0,
    /// The state had a non-finite entry (the interface rejects those before
    /// stepping, so this is not expected through it).
    NonFiniteState = 1,
    /// The QP's data had a non-finite value.
    NonFiniteQp = 2,
    /// OSQP returned a status the policy does not accept (see `qp_status`).
    QpStatus = 3,
    /// OSQP returned a non-finite iterate.
    NonFiniteSolution = 4,
    /// The QP could not be prepared (its matrices were not finite, or
    /// OSQP's factorisation failed).
    NotPrepared = 5,
    /// The corrected plan diverged (a state or input beyond 1e8); the plan
    /// was re-initialised from the measured state.
    Diverging = 6,
}

/// OSQP's verdict on the last QP.
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecedeQpStatus {
    Solved = 0,
    SolvedInaccurate = 1,
    MaxIterationsReached = 2,
    TimeLimitReached = 3,
    PrimalInfeasible = 4,
    DualInfeasible = 5,
    NonConvex = 6,
    /// The QP was not handed to OSQP.
    NotRun = 7,
}

/// Statistics of the last step, written into caller-owned memory by
/// [`recede_last_stats`]. Before the first step, `steps` is 0 and the rest
/// describes no step.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RecedeStats {
    /// Steps taken since creation (rejected calls are not counted).
    pub steps: u64,
    /// The `time_secs` passed to the last step.
    pub time_secs: f64,
    /// OSQP's own solve time, summed over the step's SQP iterations, s.
    pub solve_secs: f64,
    /// From the state to the command (gradient, bounds, solve), s.
    pub feedback_secs: f64,
    /// Linearisation and condensing for the next step, after the command, s.
    pub prepare_secs: f64,
    /// ADMM iterations, summed over the step's SQP iterations.
    pub qp_iterations: u32,
    pub sqp_iterations: u32,
    /// Failed steps in a row, this one included.
    pub consecutive_failures: u32,
    /// Constraint rows dropped this step because they were not finite.
    pub constraint_faults: u32,
    /// Where the command came from; the fallback level is
    /// `outcome - RECEDE_OUTCOME_INACCURATE` when positive.
    pub outcome: RecedeOutcome,
    pub failure: RecedeFailure,
    pub qp_status: RecedeQpStatus,
}

/// Sizes of a controller's arrays, from [`recede_dimensions`].
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RecedeDimensions {
    /// States: the length of `state` arrays.
    pub nx: usize,
    /// Inputs: the length of the command buffer.
    pub nu: usize,
    /// Shooting intervals N.
    pub horizon: usize,
    /// Length of a reference window: `(horizon + 1) * nx`.
    pub reference_len: usize,
    /// The plan is shifted by this much after every step, s: call
    /// `recede_step` at this period.
    pub period_secs: f64,
    /// Length of one shooting interval, s.
    pub dt_secs: f64,
}

/// A controller behind an opaque pointer.
#[derive(Debug)]
pub struct RecedeController {
    controller: Controller,
    dims: RecedeDimensions,
    steps: u64,
    time_secs: f64,
    poisoned: bool,
    message: Message,
}

/// A fixed-size, truncating, always valid UTF-8 text buffer.
struct Message {
    bytes: [u8; RECEDE_MESSAGE_CAPACITY],
    len: usize,
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Message").field(&self.as_str()).finish()
    }
}

impl Message {
    const fn new() -> Self {
        Self {
            bytes: [0; RECEDE_MESSAGE_CAPACITY],
            len: 0,
        }
    }

    fn as_str(&self) -> &str {
        // Only whole characters are ever copied in.
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or("")
    }

    fn clear(&mut self) {
        self.len = 0;
    }

    fn set(&mut self, text: impl fmt::Display) {
        self.clear();
        // A full buffer truncates silently; `write_str` never fails.
        let _ = write!(self, "{text}");
    }

    /// Copies the message into `buffer` (NUL-terminated, truncated to fit)
    /// and returns its full length without the NUL.
    ///
    /// # Safety
    /// `buffer` is NULL or valid for `capacity` bytes of writes.
    unsafe fn copy_out(&self, buffer: *mut c_char, capacity: usize) -> usize {
        if !buffer.is_null() && capacity > 0 {
            let n = self.len.min(capacity - 1);
            // SAFETY: the caller guarantees `capacity` writable bytes and
            // n + 1 <= capacity; the handle's buffer cannot overlap memory
            // the caller owns.
            unsafe {
                std::ptr::copy_nonoverlapping(self.bytes.as_ptr(), buffer.cast::<u8>(), n);
                buffer.add(n).write(0);
            }
        }
        self.len
    }
}

impl fmt::Write for Message {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = RECEDE_MESSAGE_CAPACITY - 1 - self.len;
        let mut n = s.len().min(room);
        while !s.is_char_boundary(n) {
            n -= 1;
        }
        self.bytes[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

/// Why a call was refused; formatting it never allocates.
#[derive(Debug)]
enum Fault {
    Null(&'static str),
    Misaligned(&'static str),
    Length {
        what: &'static str,
        expected: usize,
        got: usize,
    },
    NonFinite {
        what: &'static str,
        index: usize,
    },
    Control(ControlError),
}

impl Fault {
    fn status(&self) -> RecedeStatus {
        match self {
            Self::Null(_) | Self::Misaligned(_) => RecedeStatus::NullPointer,
            Self::Length { .. } => RecedeStatus::WrongLength,
            Self::NonFinite { .. } => RecedeStatus::NonFinite,
            Self::Control(e) => control_status(e),
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Null(what) => write!(f, "`{what}` is NULL"),
            Self::Misaligned(what) => write!(f, "`{what}` is not aligned for its type"),
            Self::Length {
                what,
                expected,
                got,
            } => write!(f, "`{what}`: expected {expected} values, got {got}"),
            Self::NonFinite { what, index } => {
                write!(f, "`{what}`[{index}] is not finite (NaN or infinite)")
            }
            Self::Control(e) => write!(f, "{e}"),
        }
    }
}

fn control_status(e: &ControlError) -> RecedeStatus {
    match e {
        ControlError::Length { .. } => RecedeStatus::WrongLength,
        ControlError::Mpc(MpcError::NonFinite { .. }) => RecedeStatus::NonFinite,
        _ => RecedeStatus::Config,
    }
}

/// A `&[f64]` of exactly `expected` values, checked for NULL, alignment,
/// length and finiteness.
///
/// # Safety
/// `ptr` is NULL or valid for `len` reads of `f64`.
unsafe fn finite_slice<'a>(
    what: &'static str,
    ptr: *const f64,
    len: usize,
    expected: usize,
) -> Result<&'a [f64], Fault> {
    if ptr.is_null() {
        return Err(Fault::Null(what));
    }
    if !ptr.is_aligned() {
        return Err(Fault::Misaligned(what));
    }
    if len != expected {
        return Err(Fault::Length {
            what,
            expected,
            got: len,
        });
    }
    // SAFETY: non-null, aligned, and the caller guarantees `len` readable
    // values.
    let values = unsafe { std::slice::from_raw_parts(ptr, len) };
    if let Some(index) = values.iter().position(|v| !v.is_finite()) {
        return Err(Fault::NonFinite { what, index });
    }
    Ok(values)
}

/// Runs `f` on the handle behind `handle`, catching panics and recording the
/// call's message.
///
/// # Safety
/// `handle` is NULL or a live pointer from `recede_create`, not used by
/// another thread during the call.
unsafe fn with_handle(
    handle: *mut RecedeController,
    f: impl FnOnce(&mut RecedeController) -> Result<RecedeStatus, Fault>,
) -> RecedeStatus {
    // SAFETY: per this function's contract.
    let Some(h) = (unsafe { handle.as_mut() }) else {
        return RecedeStatus::NullPointer;
    };
    if h.poisoned {
        h.message
            .set("the controller panicked in an earlier call; destroy it");
        return RecedeStatus::Panicked;
    }
    match catch_unwind(AssertUnwindSafe(|| f(&mut *h))) {
        Ok(Ok(status)) => status,
        Ok(Err(fault)) => {
            h.message.set(&fault);
            fault.status()
        }
        Err(_) => {
            h.poisoned = true;
            h.message
                .set("internal panic caught at the C boundary; the controller is poisoned");
            RecedeStatus::Panicked
        }
    }
}

/// Builds a controller from the `[robot]` and `[controller]` tables of a
/// scenario file (`toml`, `toml_len` bytes of UTF-8, no NUL needed; other
/// tables are ignored) around the initial state `x0` (`x0_len` = nx values,
/// used at every node of the first plan). This is the only call that
/// allocates.
///
/// `residual_path` is NULL or a learned residual model file (safetensors,
/// format in crates/learn/README.md) added to the robot's physics; it
/// overrides a `[controller.residual] model` given in the TOML. Relative
/// paths are taken from the process's working directory. A file that is
/// missing, corrupt or made for another robot is `RECEDE_STATUS_CONFIG`
/// with the path in the message.
///
/// On success `*out` receives the handle; on failure `*out` is set to NULL
/// and, when `error` is not NULL, up to `error_len - 1` bytes of the message
/// are written there, NUL-terminated.
///
/// # Safety
/// Non-NULL pointers must be valid for their lengths; `out` for one write;
/// `residual_path` NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn recede_create(
    toml: *const u8,
    toml_len: usize,
    x0: *const f64,
    x0_len: usize,
    residual_path: *const c_char,
    out: *mut *mut RecedeController,
    error: *mut c_char,
    error_len: usize,
) -> RecedeStatus {
    let mut message = Message::new();
    let result = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: forwarded from this function's contract.
        unsafe { create(toml, toml_len, x0, x0_len, residual_path, out, &mut message) }
    }));
    let status = result.unwrap_or_else(|_| {
        message.set("internal panic caught at the C boundary while creating the controller");
        RecedeStatus::Panicked
    });
    if status != RecedeStatus::Ok {
        if !out.is_null() && out.is_aligned() {
            // SAFETY: `out` is valid for one write per the contract.
            unsafe { out.write(std::ptr::null_mut()) };
        }
        // SAFETY: `error` is NULL or valid for `error_len` bytes.
        unsafe { message.copy_out(error, error_len) };
    }
    status
}

/// # Safety
/// As [`recede_create`].
unsafe fn create(
    toml: *const u8,
    toml_len: usize,
    x0: *const f64,
    x0_len: usize,
    residual_path: *const c_char,
    out: *mut *mut RecedeController,
    message: &mut Message,
) -> RecedeStatus {
    let fail = |message: &mut Message, fault: Fault| {
        message.set(&fault);
        fault.status()
    };
    if out.is_null() {
        return fail(message, Fault::Null("out"));
    }
    if !out.is_aligned() {
        return fail(message, Fault::Misaligned("out"));
    }
    if toml.is_null() {
        return fail(message, Fault::Null("toml"));
    }
    if x0.is_null() {
        return fail(message, Fault::Null("x0"));
    }
    if !x0.is_aligned() {
        return fail(message, Fault::Misaligned("x0"));
    }
    let residual_override = if residual_path.is_null() {
        None
    } else {
        // SAFETY: non-NULL and NUL-terminated per the contract.
        let path = unsafe { CStr::from_ptr(residual_path) };
        match path.to_str() {
            Ok(path) => Some(std::path::PathBuf::from(path)),
            Err(e) => {
                message.set(format_args!("residual_path: not valid UTF-8: {e}"));
                return RecedeStatus::Config;
            }
        }
    };
    // SAFETY: non-NULL; `toml_len` readable bytes per the contract.
    let bytes = unsafe { std::slice::from_raw_parts(toml, toml_len) };
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            message.set(format_args!("toml buffer: not valid UTF-8: {e}"));
            return RecedeStatus::Config;
        }
    };
    // SAFETY: non-NULL and aligned; `x0_len` readable values per the contract.
    let x0 = unsafe { std::slice::from_raw_parts(x0, x0_len) };
    if let Some(index) = x0.iter().position(|v| !v.is_finite()) {
        return fail(message, Fault::NonFinite { what: "x0", index });
    }
    let mut file = match ControllerFile::from_toml_str(text, "toml buffer") {
        Ok(file) => file,
        Err(e) => return fail(message, Fault::Control(e)),
    };
    if let Some(model) = residual_override {
        let table = file.controller.residual.take();
        file.controller.residual = Some(ResidualConfig {
            model,
            evaluation: table.as_ref().map(|r| r.evaluation).unwrap_or_default(),
            adaptation: table.and_then(|r| r.adaptation),
        });
    }
    let (nx, nu) = file.robot.dimensions();
    if nx > RECEDE_MAX_DIMENSION || nu > RECEDE_MAX_DIMENSION {
        message.set(format_args!(
            "robot `{}` has {nx} states and {nu} inputs; the interface handles at most {RECEDE_MAX_DIMENSION}",
            file.robot.kind()
        ));
        return RecedeStatus::Config;
    }
    if x0.len() != nx {
        return fail(
            message,
            Fault::Length {
                what: "x0",
                expected: nx,
                got: x0.len(),
            },
        );
    }
    let controller = match Controller::from_config(&file.robot, &file.controller, x0) {
        Ok(c) => c,
        Err(e) => return fail(message, Fault::Control(e)),
    };
    let (nx, nu, horizon) = controller.dimensions();
    let dims = RecedeDimensions {
        nx,
        nu,
        horizon,
        reference_len: (horizon + 1) * nx,
        period_secs: controller.period_secs(),
        dt_secs: controller.dt_secs(),
    };
    let handle = Box::new(RecedeController {
        controller,
        dims,
        steps: 0,
        time_secs: f64::NAN,
        poisoned: false,
        message: Message::new(),
    });
    // SAFETY: checked non-NULL and aligned above.
    unsafe { out.write(Box::into_raw(handle)) };
    RecedeStatus::Ok
}

/// Frees a controller. NULL is ignored. The handle must not be used again.
///
/// # Safety
/// `handle` is NULL or a pointer from `recede_create` not yet destroyed.
#[no_mangle]
pub unsafe extern "C" fn recede_destroy(handle: *mut RecedeController) {
    if handle.is_null() {
        return;
    }
    // SAFETY: the pointer came from `Box::into_raw` in `recede_create`.
    let boxed = unsafe { Box::from_raw(handle) };
    // A panic in a destructor would be a bug; it must not cross the boundary.
    let _ = catch_unwind(AssertUnwindSafe(move || drop(boxed)));
}

/// One control step at time `time_secs` from the estimated `state` (nx
/// values). `reference` is a window of state references for nodes 0..=N,
/// flattened node by node (`(N + 1) * nx` values), or NULL (with
/// `reference_len` 0) to keep the last one; before any reference is given it
/// is zero. The command (nu values) is written to `command`.
///
/// Returns `RECEDE_STATUS_OK`, or `RECEDE_STATUS_FALLBACK_PLAN` /
/// `RECEDE_STATUS_FALLBACK_SAFE` when a fallback produced the command (apply
/// it all the same); on a negative status nothing was written and the
/// controller was not advanced. Never allocates. The controller shifts its
/// plan by `period_secs` after each step whatever `time_secs` says; the time
/// is recorded in the statistics.
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
    // SAFETY: forwarded from this function's contract.
    unsafe {
        with_handle(handle, |h| {
            step(
                h,
                time_secs,
                state,
                state_len,
                reference,
                reference_len,
                command,
                command_len,
            )
        })
    }
}

/// # Safety
/// As [`recede_step`].
unsafe fn step(
    h: &mut RecedeController,
    time_secs: f64,
    state: *const f64,
    state_len: usize,
    reference: *const f64,
    reference_len: usize,
    command: *mut f64,
    command_len: usize,
) -> Result<RecedeStatus, Fault> {
    let RecedeDimensions {
        nx, nu, horizon, ..
    } = h.dims;
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
    if !reference.is_null() || reference_len != 0 {
        let len = (horizon + 1) * nx;
        // SAFETY: `reference` valid for `reference_len` reads per the contract.
        let window = unsafe { finite_slice("reference", reference, reference_len, len) }?;
        for (node, xr) in window.chunks_exact(nx).enumerate() {
            h.controller
                .set_reference(node, xr, None)
                .map_err(Fault::Control)?;
        }
    }
    let mut u = [0.0; RECEDE_MAX_DIMENSION];
    let report = h
        .controller
        .step(&x[..nx], &mut u[..nu])
        .map_err(Fault::Control)?;
    // SAFETY: non-NULL, aligned, `nu` writable values per the contract.
    unsafe { std::ptr::copy_nonoverlapping(u.as_ptr(), command, nu) };
    h.steps += 1;
    h.time_secs = time_secs;
    let status = match report.outcome {
        StepOutcome::Solved | StepOutcome::Inaccurate => RecedeStatus::Ok,
        StepOutcome::FallbackPlan => RecedeStatus::FallbackPlan,
        StepOutcome::FallbackSafe => RecedeStatus::FallbackSafe,
    };
    match (status, report.failure) {
        (RecedeStatus::Ok, _) | (_, None) => h.message.clear(),
        (_, Some(failure)) => h.message.set(format_args!(
            "fallback {:?} after {:?} ({} failed steps in a row)",
            report.outcome, failure, report.consecutive_failures
        )),
    }
    Ok(status)
}

/// Forgets the plan and restarts from `state` (nx values) holding the safe
/// input; references are kept. Never allocates.
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
        h.message.clear();
        Ok(RecedeStatus::Ok)
    };
    // SAFETY: forwarded from this function's contract.
    unsafe { with_handle(handle, reset) }
}

/// Writes the last step's statistics into `*out`.
///
/// # Safety
/// `handle` from `recede_create`; `out` valid for one write.
#[no_mangle]
pub unsafe extern "C" fn recede_last_stats(
    handle: *mut RecedeController,
    out: *mut RecedeStats,
) -> RecedeStatus {
    let write = |h: &mut RecedeController| {
        let stats = stats(h.steps, h.time_secs, &h.controller.last_report());
        // SAFETY: `out` NULL or valid for one write per the contract.
        unsafe { write_out(out, stats) }
    };
    // SAFETY: forwarded from this function's contract.
    unsafe { with_handle(handle, write) }
}

/// Writes the controller's array sizes and timing into `*out`.
///
/// # Safety
/// `handle` from `recede_create`; `out` valid for one write.
#[no_mangle]
pub unsafe extern "C" fn recede_dimensions(
    handle: *mut RecedeController,
    out: *mut RecedeDimensions,
) -> RecedeStatus {
    // SAFETY: `out` NULL or valid for one write per the contract.
    let write = |h: &mut RecedeController| unsafe { write_out(out, h.dims) };
    // SAFETY: forwarded from this function's contract.
    unsafe { with_handle(handle, write) }
}

/// Copies the message of the last call on `handle` (empty after a success)
/// into `buffer`: at most `buffer_len - 1` bytes, NUL-terminated. Returns the
/// message's full length in bytes, without the NUL (a larger value than
/// `buffer_len - 1` means it was truncated); 0 for a NULL handle. Never
/// allocates.
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

/// # Safety
/// `out` is NULL or valid for one write.
unsafe fn write_out<T>(out: *mut T, value: T) -> Result<RecedeStatus, Fault> {
    if out.is_null() {
        return Err(Fault::Null("out"));
    }
    if !out.is_aligned() {
        return Err(Fault::Misaligned("out"));
    }
    // SAFETY: non-NULL, aligned, writable per the contract.
    unsafe { out.write(value) };
    Ok(RecedeStatus::Ok)
}

fn stats(steps: u64, time_secs: f64, r: &StepReport) -> RecedeStats {
    let saturate = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
    RecedeStats {
        steps,
        time_secs,
        solve_secs: r.osqp_solve_secs,
        feedback_secs: r.feedback_secs,
        prepare_secs: r.prepare_secs,
        qp_iterations: r.qp_iterations,
        sqp_iterations: saturate(r.sqp_iterations),
        consecutive_failures: saturate(r.consecutive_failures),
        constraint_faults: saturate(r.constraint_faults),
        outcome: match r.outcome {
            StepOutcome::Solved => RecedeOutcome::Solved,
            StepOutcome::Inaccurate => RecedeOutcome::Inaccurate,
            StepOutcome::FallbackPlan => RecedeOutcome::FallbackPlan,
            StepOutcome::FallbackSafe => RecedeOutcome::FallbackSafe,
        },
        failure: match r.failure {
            None => RecedeFailure::None,
            Some(Failure::NonFiniteState) => RecedeFailure::NonFiniteState,
            Some(Failure::NonFiniteQp) => RecedeFailure::NonFiniteQp,
            Some(Failure::Qp(_)) => RecedeFailure::QpStatus,
            Some(Failure::NonFiniteSolution) => RecedeFailure::NonFiniteSolution,
            Some(Failure::NotPrepared) => RecedeFailure::NotPrepared,
            Some(Failure::Diverging) => RecedeFailure::Diverging,
        },
        qp_status: match r.qp_status {
            QpStatus::Solved => RecedeQpStatus::Solved,
            QpStatus::SolvedInaccurate => RecedeQpStatus::SolvedInaccurate,
            QpStatus::MaxIterationsReached => RecedeQpStatus::MaxIterationsReached,
            QpStatus::TimeLimitReached => RecedeQpStatus::TimeLimitReached,
            QpStatus::PrimalInfeasible => RecedeQpStatus::PrimalInfeasible,
            QpStatus::DualInfeasible => RecedeQpStatus::DualInfeasible,
            QpStatus::NonConvex => RecedeQpStatus::NonConvex,
            QpStatus::NotRun => RecedeQpStatus::NotRun,
        },
    }
}
