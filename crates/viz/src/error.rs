//! The crate's one error type.

use std::path::PathBuf;
use std::time::Duration;

/// Why a recording could not be opened or closed cleanly. Logging itself never
/// fails: it drops and counts (see [`crate::RecorderStats`]).
#[derive(Debug, thiserror::Error)]
pub enum VizError {
    /// The recording path is empty.
    #[error("the recording path is empty")]
    EmptyPath,
    /// The directory that should hold the recording does not exist.
    #[error("cannot write recording {path}: directory {dir} does not exist")]
    MissingDirectory { path: PathBuf, dir: PathBuf },
    /// The parent of the recording path is not a directory.
    #[error("cannot write recording {path}: {dir} is not a directory")]
    NotADirectory { path: PathBuf, dir: PathBuf },
    /// The recording path names a directory.
    #[error("cannot write recording {path}: it is a directory")]
    PathIsDirectory { path: PathBuf },
    /// The recording file cannot be created (permissions, read-only file system ...).
    #[error("cannot create recording file {path}: {source}")]
    CreateFile {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The channel between the loop and the recorder needs room for at least one message.
    #[error("recorder channel capacity must be at least 1")]
    ZeroCapacity,
    /// Rerun could not open the sink (file, spawned viewer, or connection).
    #[error("cannot open the rerun recording ({sink}): {source}")]
    Open {
        sink: String,
        source: rerun::RecordingStreamError,
    },
    /// The recorder thread could not be started.
    #[error("cannot start the recorder thread: {0}")]
    SpawnThread(std::io::Error),
    /// The recorder thread panicked.
    #[error("the recorder thread panicked")]
    ThreadPanicked,
    /// The recorder did not finish within the shutdown timeout (for example a
    /// viewer that never answers); the thread is left to end on its own.
    #[error("the recorder did not finish within {timeout:?}")]
    ShutdownTimeout { timeout: Duration },
    /// Flushing the recording failed (a disconnected viewer, a full disk).
    #[error("flushing the recording ({sink}) failed: {source}")]
    Flush {
        sink: String,
        source: rerun::sink::SinkFlushError,
    },
}
