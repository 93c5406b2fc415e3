//! The writer thread: group commit of appended rows to the log (one write and one
//! fdatasync for every batch that queued meanwhile), then into the active memtable.

use crate::flusher::{ErasureReply, FlushJob, Reply};
use crate::memtable::{MemTable, Shared};
use crate::wal::WalWriter;
use crate::{StoreError, is_disk_full};
use std::io;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};
use vigil_model::storage::Erasure;
use vigil_model::{ProjectId, Rows};

/// Groups stop growing at this many bytes of rows, which bounds the memory a group holds
/// and the time the memtable's lock is held to insert it.
pub(crate) const MAX_GROUP_ROW_BYTES: usize = 64 * 1024 * 1024;

/// A batch's rows on their way to the writer, checked by the caller (off the writer thread).
pub(crate) struct Pending {
    rows: Rows,
    row_bytes: usize,
}

impl Pending {
    pub(crate) fn new(rows: Rows, limit: usize) -> Result<Pending, StoreError> {
        let row_bytes = rows.memory_bytes();
        if row_bytes > limit {
            return Err(StoreError::BatchTooLarge {
                bytes: row_bytes,
                limit,
            });
        }
        Ok(Pending { rows, row_bytes })
    }
}

pub(crate) enum Msg {
    Append(Box<Pending>, Reply),
    Flush(Reply),
    Erase(ProjectId, Erasure, ErasureReply),
}

pub(crate) fn writer_loop(
    shared: &Shared,
    rx: Receiver<Msg>,
    flush_tx: mpsc::Sender<FlushJob>,
    mut wal: WalWriter,
    mut seq: u64,
) {
    let mut next_mem_id = 1u64;
    loop {
        let first = match rx.recv_timeout(Duration::from_millis(500)) {
            Ok(m) => Some(m),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => break,
        };
        let mut appends: Vec<(Pending, Reply)> = Vec::new();
        let mut flushes: Vec<Reply> = Vec::new();
        let mut erasures = Vec::new();
        let mut group_bytes = 0usize;
        let mut next = first;
        while let Some(m) = next.take() {
            match m {
                Msg::Append(b, r) => {
                    group_bytes += b.row_bytes;
                    appends.push((*b, r));
                }
                Msg::Flush(r) => flushes.push(r),
                Msg::Erase(project, erasure, r) => erasures.push((project, erasure, r)),
            }
            // Group commit: everything that queued up while the last fsync ran goes into
            // this one, up to a size that keeps the group's columns small.
            if appends.len() < 1024 && group_bytes < MAX_GROUP_ROW_BYTES {
                next = rx.try_recv().ok();
            }
        }
        if !appends.is_empty() {
            shared
                .metrics
                .queue_depth
                .fetch_sub(appends.len() as u64, Ordering::Relaxed);
            commit_group(shared, &mut wal, &mut seq, appends);
        }
        let age_due = {
            let state = shared.read();
            state
                .active
                .created
                .is_some_and(|c| c.elapsed() >= shared.config.flush_interval)
                || state.active.rows >= shared.config.flush_rows
                // Wide rows reach the byte bound long before the row count: flush by
                // bytes too, or appends would be refused until the age-based flush.
                || state.active.bytes >= shared.config.max_unflushed_bytes / 8
        };
        if age_due || !flushes.is_empty() || !erasures.is_empty() {
            match freeze(shared, &mut wal, seq, &mut next_mem_id) {
                Ok(Some(mem)) => {
                    let _ = flush_tx.send(FlushJob::Flush(mem));
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::error!(error = %e, "cannot start a new log segment");
                    // Without the freeze, the rows to erase are still in memory and log.
                    for (_, _, r) in erasures.drain(..) {
                        let _ = r.send(Err(StoreError::from_write(io::Error::new(
                            e.kind(),
                            e.to_string(),
                        ))));
                    }
                }
            }
            for r in flushes {
                let _ = flush_tx.send(FlushJob::Barrier(r));
            }
            // After the flush above, everything acknowledged so far is in Parquet and its
            // log segments are gone, so rewriting the segments erases it everywhere.
            for (project, erasure, r) in erasures {
                let _ = flush_tx.send(FlushJob::Erase(project, erasure, r));
            }
        }
    }
}

fn commit_group(
    shared: &Shared,
    wal: &mut WalWriter,
    seq: &mut u64,
    appends: Vec<(Pending, Reply)>,
) {
    let (rows, bytes) = shared.unflushed();
    if rows >= shared.config.max_unflushed_rows || bytes >= shared.config.max_unflushed_bytes {
        for (_, r) in appends {
            let _ = r.send(Err(StoreError::Overloaded));
        }
        return;
    }
    // Rows were built (and refused if they could not be) by the caller, so the log never
    // holds a frame that replay could not load.
    let accepted = appends;
    let started = Instant::now();
    for (pending, _) in &accepted {
        *seq += 1;
        // The rows' encoding is the log's payload format: nothing to encode here.
        wal.push(*seq, pending.rows.encoded());
    }
    if let Err(e) = wal.commit() {
        // The log cut the failed group off again (see `WalWriter::commit`), so nothing of
        // it is durable and later groups append behind whole frames. Its sequence numbers
        // stay used all the same.
        tracing::error!(error = %e, "write-ahead log write failed");
        let disk_full = is_disk_full(&e);
        for (_, r) in accepted {
            let err = if disk_full {
                StoreError::DiskFull
            } else {
                StoreError::from_write(io::Error::new(e.kind(), e.to_string()))
            };
            let _ = r.send(Err(err));
        }
        return;
    }
    shared
        .metrics
        .observe_write(started.elapsed().as_secs_f64());
    let events: usize = accepted.iter().map(|(p, _)| p.rows.len()).sum();
    {
        let mut state = shared.write();
        for (pending, _) in &accepted {
            state.active.insert(&pending.rows);
        }
        state.active.max_seq = *seq;
        shared.publish_memory(&state);
    }
    shared
        .metrics
        .batches_written
        .fetch_add(accepted.len() as u64, Ordering::Relaxed);
    shared
        .metrics
        .events_written
        .fetch_add(events as u64, Ordering::Relaxed);
    for (_, r) in accepted {
        let _ = r.send(Ok(()));
    }
}

/// Moves the active memtable to the frozen list and starts a new log segment for the next.
pub(crate) fn freeze(
    shared: &Shared,
    wal: &mut WalWriter,
    seq: u64,
    next_mem_id: &mut u64,
) -> io::Result<Option<Arc<MemTable>>> {
    if shared.read().active.rows == 0 {
        return Ok(None);
    }
    let new_wal = WalWriter::create(&shared.dir.join("wal"), seq + 1)?;
    let mut state = shared.write();
    let mut active = std::mem::take(&mut state.active);
    active.seal();
    active.id = *next_mem_id;
    *next_mem_id += 1;
    active.max_seq = seq;
    state.active.wal_segments.push(new_wal.path().to_owned());
    *wal = new_wal;
    let frozen = Arc::new(active);
    state.frozen.push(frozen.clone());
    shared.publish_memory(&state);
    Ok(Some(frozen))
}
