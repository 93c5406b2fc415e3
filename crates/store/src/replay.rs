//! Start-up: the log frames past the manifest's flushed sequence number back into memory.

use crate::frame::{self, FrameError};
use crate::memtable::MemTable;
use crate::metrics::StoreMetrics;
use crate::wal;
use std::sync::atomic::Ordering;

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
    for frame in frames.iter().filter(|f| f.seq > flushed_seq) {
        match frame::decode(&frame.payload) {
            Ok(rows) => {
                active.insert(&rows);
                loaded += 1;
            }
            Err(FrameError::Newer(format)) => return Err(FrameError::Newer(format)),
            Err(FrameError::Bad(why)) => skip(frame.seq, &why),
        }
    }
    Ok(loaded)
}
