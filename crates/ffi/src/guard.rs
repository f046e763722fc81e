//! Checking what C hands over, and running a call on a handle without
//! letting a panic cross the boundary.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};

use recede_control::ControlError;
use recede_mpc::MpcError;

use crate::handle::RecedeController;
use crate::status::RecedeStatus;

/// Why a call was refused; formatting it never allocates.
#[derive(Debug)]
pub(crate) enum Fault {
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
    /// A setter's value the controller refused (nothing changed).
    Invalid(ControlError),
    /// A name or slot the controller does not have.
    Unknown {
        what: &'static str,
        expected: &'static str,
    },
    Sequence(&'static str),
    Control(ControlError),
}

impl Fault {
    pub(crate) fn status(&self) -> RecedeStatus {
        match self {
            Self::Null(_) | Self::Misaligned(_) => RecedeStatus::NullPointer,
            Self::Length { .. } => RecedeStatus::WrongLength,
            Self::NonFinite { .. } => RecedeStatus::NonFinite,
            Self::Invalid(ControlError::Length { .. }) => RecedeStatus::WrongLength,
            Self::Invalid(_) | Self::Unknown { .. } => RecedeStatus::InvalidValue,
            Self::Sequence(_) => RecedeStatus::Sequence,
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
            Self::Unknown { what, expected } => write!(f, "`{what}`: expected {expected}"),
            Self::Sequence(what) => write!(f, "{what}"),
            Self::Invalid(e) | Self::Control(e) => write!(f, "{e}"),
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

/// A `&[f64]` of exactly `expected` values, checked for NULL, alignment
/// and length.
///
/// # Safety
/// `ptr` is NULL or valid for `len` reads of `f64`.
pub(crate) unsafe fn slice<'a>(
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
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// As [`slice`], and every value finite.
///
/// # Safety
/// As [`slice`].
pub(crate) unsafe fn finite_slice<'a>(
    what: &'static str,
    ptr: *const f64,
    len: usize,
    expected: usize,
) -> Result<&'a [f64], Fault> {
    // SAFETY: forwarded.
    let values = unsafe { slice(what, ptr, len, expected) }?;
    if let Some(index) = values.iter().position(|v| !v.is_finite()) {
        return Err(Fault::NonFinite { what, index });
    }
    Ok(values)
}

/// A caller buffer of exactly `expected` values to write into.
///
/// # Safety
/// `ptr` is NULL or valid for `len` writes of `f64`, not aliased by
/// anything the call reads.
pub(crate) unsafe fn out_slice<'a>(
    what: &'static str,
    ptr: *mut f64,
    len: usize,
    expected: usize,
) -> Result<&'a mut [f64], Fault> {
    // SAFETY: forwarded; the pointer is the caller's mutable buffer.
    unsafe { slice(what, ptr, len, expected) }?;
    // SAFETY: checked non-null, aligned, of the right length above.
    Ok(unsafe { std::slice::from_raw_parts_mut(ptr, len) })
}

/// Runs `f` on the handle behind `handle`, catching panics and recording the
/// call's message (cleared on success).
///
/// # Safety
/// `handle` is NULL or a live pointer from `recede_create`, not used by
/// another thread during the call.
pub(crate) unsafe fn with_handle(
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

/// # Safety
/// `out` is NULL or valid for one write.
pub(crate) unsafe fn write_out<T>(out: *mut T, value: T) -> Result<RecedeStatus, Fault> {
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
