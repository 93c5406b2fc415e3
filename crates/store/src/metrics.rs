use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds (seconds) of the write-latency histogram buckets.
pub const WRITE_LATENCY_BUCKETS: [f64; 10] =
    [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0];

/// Counters the store keeps about itself, read by `/metrics`.
#[derive(Default)]
pub struct StoreMetrics {
    /// Batches made durable.
    pub batches_written: AtomicU64,
    /// Events made durable.
    pub events_written: AtomicU64,
    /// Group commits (one fsync each).
    pub group_commits: AtomicU64,
    /// Batches waiting for the writer.
    pub queue_depth: AtomicU64,
    /// Rows in memory, not yet in Parquet: the open memtable's and the frozen ones'.
    pub memtable_rows: AtomicU64,
    /// The memtables' rows' size in memory, as `max_unflushed_bytes` counts it.
    pub memtable_bytes: AtomicU64,
    /// Memtables frozen and waiting for the flusher.
    pub frozen_memtables: AtomicU64,
    /// Parquet files written by flushes.
    pub segments_flushed: AtomicU64,
    /// Compactions done.
    pub compactions: AtomicU64,
    /// Batches refused before the log: too large once expanded into rows, or unstorable.
    pub batches_refused: AtomicU64,
    /// Log frames skipped at start-up because they could not be loaded.
    pub frames_skipped: AtomicU64,
    /// Rows removed by erasures of users or sessions.
    pub rows_erased: AtomicU64,
    /// Write latency (log write + fsync) histogram: counts per bucket, then +Inf.
    pub write_latency_buckets: [AtomicU64; 11],
    /// Sum of write latencies in microseconds.
    pub write_latency_sum_us: AtomicU64,
}

impl StoreMetrics {
    /// Records one group commit's latency.
    pub fn observe_write(&self, seconds: f64) {
        let i = WRITE_LATENCY_BUCKETS
            .iter()
            .position(|&b| seconds <= b)
            .unwrap_or(10);
        self.write_latency_buckets[i].fetch_add(1, Ordering::Relaxed);
        self.write_latency_sum_us
            .fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
        self.group_commits.fetch_add(1, Ordering::Relaxed);
    }
}
