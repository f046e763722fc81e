//! The compiled configuration: what `recede export-firmware` writes and
//! `recede_create_from_blob` reads, so that a target creates its controller
//! without a text parser.
//!
//! Layout (little-endian):
//!
//! | offset | size | field |
//! |---:|---:|---|
//! | 0 | 8 | magic `RECEDEFW` |
//! | 8 | 4 | format version ([`RECEDE_BLOB_FORMAT`]) |
//! | 12 | 4 | payload length in bytes |
//! | 16 | 4 | CRC-32 (IEEE, as zlib) of the payload |
//! | 20 | n | payload: CBOR (RFC 8949) of the `[robot]`, `[controller]` (its MPC settings and residual) and `[perception.constraints]` tables, as serde describes them |
//!
//! CBOR is binary and self-describing: the robot's tagged table and the
//! optional keys decode without a schema compiled in, and floats keep
//! every bit. The payload is checked (magic, version, length, checksum)
//! before it is decoded, and decoded values are checked as the TOML's are.

use std::ffi::c_char;

use recede_control::guidance::ObstacleConstraintConfig;
use recede_control::{ControllerConfig, ResidualConfig};
use recede_model::robots::RobotConfig;
use recede_mpc::MpcConfig;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::handle::{build, guarded_create, initial_state, Description, RecedeController};
use crate::message::Message;
use crate::status::RecedeStatus;

/// Version of the blob layout and payload this library reads.
pub const RECEDE_BLOB_FORMAT: u32 = 1;

const MAGIC: &[u8; 8] = b"RECEDEFW";
const HEADER_LEN: usize = 20;

/// Why a blob could not be written or read.
#[derive(Debug, Error)]
pub enum BlobError {
    #[error("{0}")]
    Scenario(String),
    #[error("blob: {len} bytes, shorter than its {HEADER_LEN}-byte header")]
    TooShort { len: usize },
    #[error("blob: does not start with `RECEDEFW` (not a firmware blob)")]
    Magic,
    #[error("blob: format version {found}, this library reads version {RECEDE_BLOB_FORMAT}")]
    Version { found: u32 },
    #[error("blob: header says {declared} payload bytes, {present} present")]
    Length { declared: usize, present: usize },
    #[error(
        "blob: checksum {found:#010x} does not match the payload's {computed:#010x} (corrupted)"
    )]
    Checksum { found: u32, computed: u32 },
    #[error("blob: payload: {0}")]
    Payload(String),
}

/// The payload: the tables creation reads, in serde's own shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Payload {
    robot: RobotConfig,
    mpc: MpcConfig,
    residual: Option<ResidualConfig>,
    obstacles: Option<ObstacleConstraintConfig>,
}

/// The blob for a scenario file's text: the tables `recede_create` would
/// read from the same text, encoded.
pub fn encode_firmware_blob(toml: &str, origin: &str) -> Result<Vec<u8>, BlobError> {
    let d = Description::from_toml(toml, origin).map_err(BlobError::Scenario)?;
    let payload = Payload {
        robot: d.robot,
        mpc: d.controller.mpc,
        residual: d.controller.residual,
        obstacles: d.obstacles,
    };
    let mut body = Vec::new();
    ciborium::into_writer(&payload, &mut body).map_err(|e| BlobError::Payload(e.to_string()))?;
    let len = u32::try_from(body.len()).map_err(|_| BlobError::Payload("over 4 GiB".into()))?;
    let mut blob = Vec::with_capacity(HEADER_LEN + body.len());
    blob.extend_from_slice(MAGIC);
    blob.extend_from_slice(&RECEDE_BLOB_FORMAT.to_le_bytes());
    blob.extend_from_slice(&len.to_le_bytes());
    blob.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    blob.extend_from_slice(&body);
    Ok(blob)
}

fn word(bytes: &[u8], at: usize) -> u32 {
    let mut w = [0; 4];
    w.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(w)
}

/// Checks the header and decodes the payload.
pub(crate) fn decode(blob: &[u8]) -> Result<Description, BlobError> {
    if blob.len() < HEADER_LEN {
        return Err(BlobError::TooShort { len: blob.len() });
    }
    if &blob[..8] != MAGIC {
        return Err(BlobError::Magic);
    }
    let version = word(blob, 8);
    if version != RECEDE_BLOB_FORMAT {
        return Err(BlobError::Version { found: version });
    }
    let declared = word(blob, 12) as usize;
    let body = &blob[HEADER_LEN..];
    if body.len() != declared {
        return Err(BlobError::Length {
            declared,
            present: body.len(),
        });
    }
    let (found, computed) = (word(blob, 16), crc32fast::hash(body));
    if found != computed {
        return Err(BlobError::Checksum { found, computed });
    }
    let payload: Payload =
        ciborium::from_reader(body).map_err(|e| BlobError::Payload(e.to_string()))?;
    Ok(Description {
        robot: payload.robot,
        controller: ControllerConfig {
            mpc: payload.mpc,
            residual: payload.residual,
        },
        obstacles: payload.obstacles,
    })
}

/// Builds a controller from a blob written by `recede export-firmware`
/// (`blob_len` bytes; layout in crates/ffi/README.md) around `x0` (nx
/// values), as `recede_create` does from the scenario's text but without
/// parsing text. A blob that is truncated, corrupted (checksum), of another
/// format version, or whose values the controller rejects is
/// `RECEDE_STATUS_CONFIG` with the reason in `error`.
///
/// Allocates (the controller and OSQP's workspace; CBOR decoding of a few
/// dozen values). Not real-time; thread-safe (no shared state).
///
/// # Safety
/// Non-NULL pointers valid for their lengths; `out` for one write.
#[no_mangle]
pub unsafe extern "C" fn recede_create_from_blob(
    blob: *const u8,
    blob_len: usize,
    x0: *const f64,
    x0_len: usize,
    out: *mut *mut RecedeController,
    error: *mut c_char,
    error_len: usize,
) -> RecedeStatus {
    let body = |message: &mut Message| {
        if blob.is_null() {
            message.set("`blob` is NULL");
            return Err(RecedeStatus::NullPointer);
        }
        // SAFETY: forwarded from this function's contract.
        let x0 = unsafe { initial_state(x0, x0_len, message) }?;
        // SAFETY: non-NULL; `blob_len` readable bytes per the contract.
        let bytes = unsafe { std::slice::from_raw_parts(blob, blob_len) };
        let description = decode(bytes).map_err(|e| {
            message.set(e);
            RecedeStatus::Config
        })?;
        build(&description, x0, message)
    };
    // SAFETY: forwarded from this function's contract.
    unsafe { guarded_create(out, error, error_len, body) }
}
