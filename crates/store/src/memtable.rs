//! The in-memory side of the store: memtables of Arrow batches that queries read at once,
//! and the state the writer, the flusher and queries share.

use crate::StoreConfig;
use crate::manifest::Manifest;
use crate::metrics::StoreMetrics;
use datafusion::arrow::array::RecordBatch;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Instant;
use vigil_model::{ProjectId, Table};

/// Arrow rows per project and table, ready to go into a memtable.
pub(crate) type BuiltRows = Vec<((ProjectId, Table), RecordBatch)>;

#[derive(Default)]
pub(crate) struct MemTable {
    pub(crate) id: u64,
    pub(crate) tables: HashMap<(ProjectId, Table), Vec<RecordBatch>>,
    pub(crate) rows: usize,
    pub(crate) bytes: usize,
    pub(crate) max_seq: u64,
    pub(crate) wal_segments: Vec<PathBuf>,
    pub(crate) created: Option<Instant>,
}

impl MemTable {
    pub(crate) fn insert(&mut self, rows: BuiltRows) {
        for (key, batch) in rows {
            self.rows += batch.num_rows();
            self.bytes += batch.get_array_memory_size();
            self.tables.entry(key).or_default().push(batch);
        }
        self.created.get_or_insert_with(Instant::now);
    }
}

pub(crate) struct State {
    pub(crate) active: MemTable,
    pub(crate) frozen: Vec<Arc<MemTable>>,
    pub(crate) manifest: Manifest,
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
        let state = self.read();
        let mems = std::iter::once(&state.active).chain(state.frozen.iter().map(|m| m.as_ref()));
        mems.fold((0, 0), |(rows, bytes), m| (rows + m.rows, bytes + m.bytes))
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
