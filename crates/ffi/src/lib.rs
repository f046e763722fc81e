//! The recede controller core behind a C interface.
//!
//! A C (or C++) control loop creates one controller from the `[robot]` and
//! `[controller]` tables of a scenario file, handed over as a text buffer,
//! (or from a compiled blob, `recede export-firmware`), and steps it once
//! per control period on plain `double` arrays: `recede_step`, or its two
//! halves `recede_feedback` (at the sample) and `recede_prepare` (between
//! samples). Creation is the only call that allocates; steps, setters and
//! queries write into caller-owned memory (see the crate README for the
//! measured figures, and the header for each function's thread-safety,
//! allocation and timing).
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

#[cfg(feature = "caller-memory")]
mod arena;
mod blob;
#[cfg(feature = "caller-memory")]
mod caller_memory;
mod guard;
mod handle;
mod message;
mod params;
mod query;
mod references;
mod setters;
mod status;
mod step;

pub use blob::{encode_firmware_blob, recede_create_from_blob, BlobError, RECEDE_BLOB_FORMAT};
#[cfg(feature = "caller-memory")]
pub use caller_memory::{recede_create_from_blob_in_buffer, recede_required_memory};
pub use handle::{
    recede_create, recede_create_in, recede_destroy, RecedeController, RECEDE_MAX_DIMENSION,
};
pub use message::RECEDE_MESSAGE_CAPACITY;
pub use query::{
    recede_dimensions, recede_get_plan, recede_last_error, recede_last_stats, recede_version,
};
pub use references::{recede_set_input_reference, recede_set_state_reference};
pub use setters::{
    recede_get_parameter, recede_parameter_name, recede_set_input_bounds, recede_set_obstacles,
    recede_set_parameter, recede_set_state_bound, recede_set_weights, RecedeObstacle,
    RecedeObstacleShape,
};
pub use status::{
    RecedeDimensions, RecedeFailure, RecedeOutcome, RecedeQpStatus, RecedeStats, RecedeStatus,
};
pub use step::{recede_feedback, recede_prepare, recede_reset, recede_step};
