//! The in-memory side of the store: memtables of Arrow batches that queries read at once,
//! and the state the writer, the flusher and queries share.

use crate::StoreConfig;
use crate::manifest::Manifest;
use crate::metrics::StoreMetrics;
use datafusion::arrow::array::RecordBatch;
use datafusion::common::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Instant;
use vigil_model::{ProjectId, Rows, Table, TableAppender};

/// Rows a memtable gathers into one set of Arrow builders before they become a batch of
/// their own: batches this large are what queries read fastest, and a query copies at
/// most this many rows of a table still being gathered.
const SEALED_BATCH_ROWS: usize = 8192;
/// Or this many bytes, so that no text column comes near Arrow's 2 GiB offset limit.
const SEALED_BATCH_BYTES: usize = 256 * 1024 * 1024;

/// One table's rows of one project in a memtable: sealed batches, and the rows still being
/// gathered.
pub(crate) struct TableRows {
    pub(crate) sealed: Vec<RecordBatch>,
    open: TableAppender,
}

impl TableRows {
    fn new(table: Table) -> TableRows {
        TableRows {
            sealed: Vec::new(),
            open: TableAppender::new(table),
        }
    }

    /// Makes the rows being gathered a batch of their own.
    pub(crate) fn seal(&mut self) {
        if !self.open.is_empty() {
            self.sealed.push(self.open.finish());
        }
    }

    /// Every row, as batches (the ones still being gathered copied).
    pub(crate) fn batches(&self) -> Vec<RecordBatch> {
        let mut out = self.sealed.clone();
        if !self.open.is_empty() {
            out.push(self.open.finish_cloned());
        }
        out
    }
}

#[derive(Default)]
pub(crate) struct MemTable {
    pub(crate) id: u64,
    /// DataFusion's map (foldhash, seeded per process): std's SipHash of each section's
    /// key cost 200 instructions, a quarter of a percent of intake's.
    pub(crate) tables: HashMap<(ProjectId, Table), TableRows>,
    pub(crate) rows: usize,
    pub(crate) bytes: usize,
    pub(crate) max_seq: u64,
    pub(crate) wal_segments: Vec<PathBuf>,
    pub(crate) created: Option<Instant>,
}

impl MemTable {
    pub(crate) fn insert(&mut self, rows: &Rows) {
        for section in rows.sections() {
            let table = self
                .tables
                .entry((rows.project, section.table))
                .or_insert_with(|| TableRows::new(section.table));
            table.open.append(&section);
            if table.open.len() >= SEALED_BATCH_ROWS
                || table.open.memory_bytes() >= SEALED_BATCH_BYTES
            {
                table.seal();
            }
        }
        self.rows += rows.len();
        self.bytes += rows.memory_bytes();
        self.created.get_or_insert_with(Instant::now);
    }

    /// Seals every table's rows, before the memtable is frozen.
    pub(crate) fn seal(&mut self) {
        self.tables.values_mut().for_each(TableRows::seal);
    }
}

pub(crate) struct State {
    pub(crate) active: MemTable,
    pub(crate) frozen: Vec<Arc<MemTable>>,
    pub(crate) manifest: Manifest,
}

impl State {
    /// The memtables, the open one first: every row in memory not yet in Parquet.
    pub(crate) fn memtables(&self) -> impl Iterator<Item = &MemTable> {
        std::iter::once(&self.active).chain(self.frozen.iter().map(|m| m.as_ref()))
    }

    /// Rows and bytes in memory not yet in Parquet.
    pub(crate) fn unflushed(&self) -> (usize, usize) {
        self.memtables()
            .fold((0, 0), |(rows, bytes), m| (rows + m.rows, bytes + m.bytes))
    }
}

pub(crate) struct Shared {
    pub(crate) dir: PathBuf,
    pub(crate) config: StoreConfig,
    pub(crate) state: RwLock<State>,
    pub(crate) metrics: StoreMetrics,
    /// False once the writer thread has ended for any reason; readiness reports it.
    pub(crate) writer_alive: AtomicBool,
    /// Set by `close`: background retries give up, the log keeps what they were doing.
    pub(crate) closing: AtomicBool,
    /// Old segments replaced by compaction or retention, deleted after a grace period so
    /// that a query that listed them can still read them.
    pub(crate) doomed: Mutex<Vec<(Instant, PathBuf)>>,
}

impl Shared {
    // A panic while a lock is held must not turn every later read into another panic: the
    // state is only changed in whole steps, so what a poisoned lock guards is consistent.
    pub(crate) fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn unflushed(&self) -> (usize, usize) {
        self.read().unflushed()
    }

    /// Sets the memory gauges from `state`; called under the write lock wherever the
    /// memtables change, so that a scrape sees the frozen ones too, not only the open one.
    pub(crate) fn publish_memory(&self, state: &State) {
        let (rows, bytes) = state.unflushed();
        let gauges = &self.metrics;
        gauges.memtable_rows.store(rows as u64, Ordering::Relaxed);
        gauges.memtable_bytes.store(bytes as u64, Ordering::Relaxed);
        gauges
            .frozen_memtables
            .store(state.frozen.len() as u64, Ordering::Relaxed);
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Marks the writer dead when its thread ends, whether it returns or unwinds.
pub(crate) struct AliveGuard<'a>(pub(crate) &'a AtomicBool);

impl Drop for AliveGuard<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
        // The writer returns only when the store closes; anything else is a panic.
        if std::thread::panicking() {
            tracing::error!("store writer stopped: writes are refused until restart");
        }
    }
}
