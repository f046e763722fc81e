//! Rows gathered into chunks on the recorder thread.
//!
//! `RecordingStream::log` hands every row to rerun's batcher thread through
//! a channel: one wake-up (a system call and a context switch each side)
//! per row, tens of thousands a run, and on a 2-core machine every one of
//! them is taken from the loop. Here the recorder thread keeps each
//! entity's rows itself and turns them into chunks the way the batcher
//! does (`PendingRow::many_into_chunks`, with the stream's own timepoint:
//! `step`, `sim_time` and `log_time`), then hands over one chunk per entity
//! per [`TICK`]. The recording holds the same rows; only their grouping
//! into chunks (which rerun re-groups on load anyway) can differ.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rerun::log::PendingRow;
use rerun::{AsComponents, EntityPath, RecordingStream};

/// How often the rows gathered go out as chunks (rerun's own default
/// batching tick for files).
pub(crate) const TICK: Duration = Duration::from_millis(200);
/// Rows held before a hand-over regardless of the tick (bounds the memory
/// held when the recorder thread is busy: a few hundred steps).
const MAX_ROWS: usize = 8192;
/// rerun's default: a chunk whose rows are out of time order is split at this size.
const MAX_ROWS_IF_UNSORTED: u64 = 8192;

pub(crate) struct Rows {
    pending: HashMap<EntityPath, Vec<PendingRow>>,
    count: usize,
    since: Instant,
}

impl Rows {
    pub(crate) fn new() -> Self {
        Self {
            pending: HashMap::new(),
            count: 0,
            since: Instant::now(),
        }
    }

    /// Adds a row at the stream's current time on this thread (as `log` would).
    pub(crate) fn push<AS: ?Sized + AsComponents>(
        &mut self,
        rec: &RecordingStream,
        path: impl Into<EntityPath>,
        archetype: &AS,
    ) {
        let batches = archetype.as_serialized_batches();
        if batches.is_empty() {
            return;
        }
        let row = PendingRow::from_iter(rec.now(), batches);
        self.pending.entry(path.into()).or_default().push(row);
        self.count += 1;
    }

    /// Whether the rows should go out now.
    pub(crate) fn due(&self) -> bool {
        self.count >= MAX_ROWS || (self.count > 0 && self.since.elapsed() >= TICK)
    }

    /// Hands every entity's rows to the stream as chunks. Returns how many
    /// chunks could not be built (each is lost, as the batcher would lose it).
    pub(crate) fn flush(&mut self, rec: &RecordingStream) -> u64 {
        let mut failed = 0;
        for (path, rows) in &mut self.pending {
            if rows.is_empty() {
                continue;
            }
            let rows = std::mem::take(rows);
            for chunk in PendingRow::many_into_chunks(path.clone(), MAX_ROWS_IF_UNSORTED, rows) {
                match chunk {
                    Ok(chunk) => rec.send_chunk(chunk),
                    Err(_) => failed += 1,
                }
            }
        }
        self.count = 0;
        self.since = Instant::now();
        failed
    }
}
