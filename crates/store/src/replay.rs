//! Start-up: the log frames past the manifest's flushed sequence number back into memory.

use crate::frame::{self, FrameError};
use crate::memtable::MemTable;
use crate::metrics::StoreMetrics;
use crate::wal;
use crate::writer::{MAX_GROUP_ROW_BYTES, concat_by_table};
use std::sync::atomic::Ordering;
use vigil_model::Rows;

/// than stopping the start: the rest of the log is still served. Returns the batches loaded, or an error when a frame
/// was written by a newer release (nothing is loaded then: the store refuses to open).
pub(crate) fn replay_frames(
    active: &mut MemTable,
    frames: &[wal::Frame],
    flushed_seq: u64,
    metrics: &StoreMetrics,
) -> Result<usize, FrameError> {
    let skip = |seq: u64, why: &str| {
        tracing::error!(
            seq,
            error = why,
            "skipping a write-ahead log frame that cannot be loaded"
        );
        metrics.frames_skipped.fetch_add(1, Ordering::Relaxed);
    };
    let mut loaded = 0;
    let mut chunk: Vec<Rows> = Vec::new();
    let mut chunk_bytes = 0usize;
    for frame in frames.iter().filter(|f| f.seq > flushed_seq) {
        match frame::decode(&frame.payload) {
            Ok(rows) => {
                chunk_bytes += rows.memory_bytes();
                chunk.push(rows);
                loaded += 1;
            }
            Err(FrameError::Newer(format)) => return Err(FrameError::Newer(format)),
            Err(FrameError::Bad(why)) => skip(frame.seq, &why),
        }
        if chunk_bytes >= MAX_GROUP_ROW_BYTES {
            active.insert(concat_by_table(chunk.iter()));
            chunk.clear();
            chunk_bytes = 0;
        }
    }
    active.insert(concat_by_table(chunk.iter()));
    Ok(loaded)
}
