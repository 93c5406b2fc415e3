//! The store engine: one writer thread (group commit), one flusher thread (Parquet,
//! compaction, retention), and a shared state that queries snapshot.

use crate::flusher::{FlushJob, delete_doomed, flusher_loop, remove_orphans};
use crate::fold::unfold;
use crate::manifest::{Manifest, SegmentFile};
use crate::memtable::{AliveGuard, MemTable, Shared, State, lock};
use crate::metrics::StoreMetrics;
use crate::replay::replay_frames;
use crate::segment::{conform, read_segment};
use crate::wal::{self, WalWriter};
use crate::writer::{Msg, Pending, writer_loop};
use datafusion::arrow::array::{Int64Array, RecordBatch};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::compute::kernels::cmp::{gt_eq, lt};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::oneshot;
use vigil_model::storage::{Erasure, ErasureReport, EventStore};
use vigil_model::{ProjectId, Rows, RowsError, Table};

/// Tuning of the store; the defaults suit a laptop and the 2-core CI machine.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Rows in memory before they are written to Parquet.
    pub flush_rows: usize,
    /// Oldest the in-memory data may get before it is written to Parquet.
    pub flush_interval: Duration,
    /// Batches that may wait for the writer; beyond, appends answer `Overloaded`.
    pub queue_batches: usize,
    /// Rows that may wait in memory for the flusher; beyond, appends answer `Overloaded`.
    pub max_unflushed_rows: usize,
    /// Small segments of one table and day that trigger a compaction.
    pub compact_min_files: usize,
    /// Segments with at least this many rows are left alone by compaction.
    pub compact_max_rows: u64,
    /// Largest in-memory size of one batch's rows; larger batches are refused before they
    /// reach the log.
    pub max_batch_row_bytes: usize,
    /// Bytes of rows that may wait in memory for the flusher; beyond, appends answer
    /// `Overloaded`. Rows alone do not bound memory: a row's context can be kilobytes.
    pub max_unflushed_bytes: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            flush_rows: 100_000,
            flush_interval: Duration::from_secs(60),
            queue_batches: 2048,
            max_unflushed_rows: 2_000_000,
            compact_min_files: 4,
            compact_max_rows: 4_000_000,
            max_batch_row_bytes: 16 * 1024 * 1024,
            max_unflushed_bytes: 512 * 1024 * 1024,
        }
    }
}

/// Why the store could not take or serve data.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The write queue or memory is full; retry later.
    #[error("store is busy, retry later")]
    Overloaded,
    /// The store is shutting down or its writer died.
    #[error("store is not accepting writes")]
    Closed,
    /// The batch's rows would take more memory than one batch may.
    #[error("batch expands to {bytes} bytes of rows, more than the limit of {limit}")]
    BatchTooLarge {
        /// Estimated bytes of its rows.
        bytes: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The disk is full: nothing of this batch was kept. Retry once space is freed.
    #[error("the store's disk is full")]
    DiskFull,
    /// The batch cannot be turned into rows (a defect); it was not written anywhere.
    #[error("batch cannot be stored: {0}")]
    Unstorable(String),
    /// A disk operation failed.
    #[error("store i/o: {0}")]
    Io(#[from] io::Error),
}

impl From<RowsError> for StoreError {
    fn from(e: RowsError) -> Self {
        match e {
            RowsError::TooLarge { bytes, limit } => StoreError::BatchTooLarge { bytes, limit },
            RowsError::Unbuildable(why) => StoreError::Unstorable(why),
        }
    }
}

impl StoreError {
    pub(crate) fn from_write(e: io::Error) -> StoreError {
        if is_disk_full(&e) {
            StoreError::DiskFull
        } else {
            StoreError::Io(e)
        }
    }
}

/// Whether an error means the file system has no space (or quota) left.
pub fn is_disk_full(e: &io::Error) -> bool {
    // ENOSPC and EDQUOT on Linux.
    e.kind() == io::ErrorKind::StorageFull || matches!(e.raw_os_error(), Some(28 | 122))
}

/// How long replaced files stay after an erasure: long enough for a running query to
/// finish reading them, short enough that erased data is gone from the disk soon.
pub const ERASURE_GRACE: Duration = Duration::from_secs(5);

/// What a query needs to read one table of one project: segment files and in-memory
/// batches. Taken atomically, so no row is in both or in neither.
#[derive(Debug, Clone)]
pub struct TableSnapshot {
    /// The table.
    pub table: Table,
    /// Parquet files that may hold rows in the range.
    pub files: Vec<PathBuf>,
    /// For vitals, the views' Parquet files whose rows may hold vitals in the range,
    /// folded in (see [`crate::fold`]); empty for every other table.
    pub folded: Vec<PathBuf>,
    /// In-memory batches.
    pub batches: Vec<RecordBatch>,
}

/// The embedded store. Cheap to share behind an `Arc`.
pub struct Store {
    shared: Arc<Shared>,
    tx: Mutex<Option<SyncSender<Msg>>>,
    /// Retention runs on the flusher thread so that it is ordered with flushes.
    flush_tx: Mutex<Option<mpsc::Sender<FlushJob>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// Held while the store is open: a second process (a CLI command next to a running
    /// server, say) would otherwise write the same log and manifest.
    _lock: fs::File,
}

impl Store {
    /// Opens (or creates) a store in `dir`, replaying the write-ahead log past the manifest.
    pub fn open(dir: &Path, config: StoreConfig) -> Result<Store, StoreError> {
        fs::create_dir_all(dir.join("wal"))?;
        fs::create_dir_all(dir.join("segments"))?;
        let lock = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("LOCK"))?;
        if lock.try_lock().is_err() {
            return Err(StoreError::Io(io::Error::other(format!(
                "the data folder {} is in use by another vigil process",
                dir.display()
            ))));
        }
        let manifest = Manifest::load(dir)?;
        remove_orphans(dir, &manifest)?;
        let manifest = crate::migrate::upgrade(dir, manifest)?;
        let metrics = StoreMetrics::default();
        let mut active = MemTable::default();
        let mut last_seq = manifest.flushed_seq;
        let mut frames = Vec::new();
        for (path, segment_frames) in wal::replay(&dir.join("wal"))? {
            last_seq = segment_frames
                .iter()
                .map(|f| f.seq)
                .fold(last_seq, u64::max);
            if segment_frames.iter().all(|f| f.seq <= manifest.flushed_seq) {
                // Everything in it is in Parquet already (or it is empty): not needed.
                fs::remove_file(&path)?;
                continue;
            }
            active.wal_segments.push(path);
            frames.extend(segment_frames);
        }
        let replayed = replay_frames(&mut active, &frames, manifest.flushed_seq, &metrics)
            .map_err(|e| {
                StoreError::Io(io::Error::other(format!(
                    "{e}: this data folder was written by a newer release of vigil; refusing to open {}",
                    dir.display()
                )))
            })?;
        active.max_seq = last_seq;
        tracing::info!(
            batches = replayed,
            rows = active.rows,
            "replayed write-ahead log"
        );

        let shared = Arc::new(Shared {
            dir: dir.to_owned(),
            config: config.clone(),
            state: RwLock::new(State {
                active,
                frozen: Vec::new(),
                manifest,
            }),
            metrics,
            writer_alive: AtomicBool::new(true),
            closing: AtomicBool::new(false),
            doomed: Mutex::new(Vec::new()),
        });
        let writer = WalWriter::create(&dir.join("wal"), last_seq + 1)?;
        {
            let mut state = shared.write();
            state.active.wal_segments.push(writer.path().to_owned());
            // The rows replayed from the log are in memory, not yet in Parquet.
            shared.publish_memory(&state);
        }
        let (tx, rx) = mpsc::sync_channel(config.queue_batches);
        let (flush_tx, flush_rx) = mpsc::channel();
        let retain_tx = flush_tx.clone();
        let w_shared = shared.clone();
        let writer_thread = std::thread::Builder::new()
            .name("vigil-store-writer".into())
            .spawn(move || {
                // Ingest's threads yield the CPU to reads (see `vigil_threads`).
                vigil_threads::lower_this_thread();
                let _alive = AliveGuard(&w_shared.writer_alive);
                writer_loop(&w_shared, rx, flush_tx, writer, last_seq);
            })?;
        let f_shared = shared.clone();
        let flusher_thread = std::thread::Builder::new()
            .name("vigil-store-flusher".into())
            .spawn(move || {
                vigil_threads::lower_this_thread();
                flusher_loop(&f_shared, flush_rx)
            })?;
        Ok(Store {
            shared,
            tx: Mutex::new(Some(tx)),
            flush_tx: Mutex::new(Some(retain_tx)),
            threads: Mutex::new(vec![writer_thread, flusher_thread]),
            _lock: lock,
        })
    }

    fn sender(&self) -> Result<SyncSender<Msg>, StoreError> {
        if !self.shared.writer_alive.load(Ordering::SeqCst) {
            return Err(StoreError::Closed);
        }
        lock(&self.tx).clone().ok_or(StoreError::Closed)
    }

    /// Largest in-memory size of one batch's rows; build [`Rows`] with this limit.
    pub fn row_limit(&self) -> usize {
        self.shared.config.max_batch_row_bytes
    }

    /// Counts a batch whose rows could not be built (too large, or a defect) as refused,
    /// and gives the error to answer with.
    pub fn refuse(&self, e: RowsError) -> StoreError {
        if let RowsError::Unbuildable(why) = &e {
            tracing::error!(error = %why, "refusing a batch that cannot become rows");
        }
        self.shared
            .metrics
            .batches_refused
            .fetch_add(1, Ordering::Relaxed);
        StoreError::from(e)
    }

    fn pending(&self, rows: Rows) -> Result<Pending, StoreError> {
        Pending::new(rows, self.shared.config.max_batch_row_bytes).inspect_err(|_| {
            self.shared
                .metrics
                .batches_refused
                .fetch_add(1, Ordering::Relaxed);
        })
    }

    /// Appends one batch's rows; resolves once they are durable on disk and visible to
    /// queries. Rows larger than [`Store::row_limit`] are refused at once, before they are
    /// queued.
    pub async fn append(&self, rows: Rows) -> Result<(), StoreError> {
        let pending = self.pending(rows)?;
        let (reply, done) = oneshot::channel();
        let sender = self.sender()?;
        // Counted before it is sent: the writer may take it off the queue (and count it
        // off) before `try_send` returns, and the gauge must never go below zero.
        let depth = &self.shared.metrics.queue_depth;
        depth.fetch_add(1, Ordering::Relaxed);
        let sent = sender.try_send(Msg::Append(Box::new(pending), reply));
        if sent.is_err() {
            depth.fetch_sub(1, Ordering::Relaxed);
        }
        match sent {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(StoreError::Overloaded),
            Err(TrySendError::Disconnected(_)) => return Err(StoreError::Closed),
        }
        done.await.unwrap_or(Err(StoreError::Closed))
    }

    /// Appends from synchronous code (demo, benchmarks), waiting while the queue is full.
    pub fn append_blocking(&self, rows: Rows) -> Result<(), StoreError> {
        self.append_all_blocking(vec![rows])
    }

    /// Appends many batches' rows from synchronous code and waits for all of them; they
    /// share group commits, so this is how bulk loaders (demo, benchmarks) go fast.
    pub fn append_all_blocking(&self, batches: Vec<Rows>) -> Result<(), StoreError> {
        // Bulk loaders outrun the flusher; waiting here keeps them under the memory bound
        // instead of being refused by it.
        while self.unflushed_rows() >= self.shared.config.max_unflushed_rows / 2
            || self.shared.unflushed().1 >= self.shared.config.max_unflushed_bytes / 2
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        let sender = self.sender()?;
        let mut waits = Vec::with_capacity(batches.len());
        for rows in batches {
            let pending = self.pending(rows)?;
            let (reply, done) = oneshot::channel();
            let depth = &self.shared.metrics.queue_depth;
            depth.fetch_add(1, Ordering::Relaxed);
            if sender.send(Msg::Append(Box::new(pending), reply)).is_err() {
                depth.fetch_sub(1, Ordering::Relaxed);
                return Err(StoreError::Closed);
            }
            waits.push(done);
        }
        waits.into_iter().try_for_each(done_blocking)
    }

    /// Writes everything in memory to Parquet and waits until it is done.
    pub fn flush_blocking(&self) -> Result<(), StoreError> {
        let (reply, done) = oneshot::channel();
        self.sender()?
            .send(Msg::Flush(reply))
            .map_err(|_| StoreError::Closed)?;
        done.blocking_recv().unwrap_or(Err(StoreError::Closed))
    }

    /// Async form of [`Store::flush_blocking`].
    pub async fn flush(&self) -> Result<(), StoreError> {
        let (reply, done) = oneshot::channel();
        self.sender()?
            .send(Msg::Flush(reply))
            .map_err(|_| StoreError::Closed)?;
        done.await.unwrap_or(Err(StoreError::Closed))
    }

    /// Erases every row of a user or a session from a project: everything acknowledged
    /// before the call is flushed, then each Parquet segment holding such rows is rewritten
    /// without them. The replaced files are deleted [`ERASURE_GRACE`] later, and the log
    /// segments that held the rows are deleted by the flush.
    pub fn erase_blocking(
        &self,
        project: ProjectId,
        erasure: Erasure,
    ) -> Result<ErasureReport, StoreError> {
        let done = self.send_erasure(project, erasure)?;
        done.blocking_recv().unwrap_or(Err(StoreError::Closed))
    }

    /// Async form of [`Store::erase_blocking`].
    pub async fn erase(
        &self,
        project: ProjectId,
        erasure: Erasure,
    ) -> Result<ErasureReport, StoreError> {
        let done = self.send_erasure(project, erasure)?;
        done.await.unwrap_or(Err(StoreError::Closed))
    }

    fn send_erasure(
        &self,
        project: ProjectId,
        erasure: Erasure,
    ) -> Result<oneshot::Receiver<Result<ErasureReport, StoreError>>, StoreError> {
        let (reply, done) = oneshot::channel();
        self.sender()?
            .send(Msg::Erase(project, erasure, reply))
            .map_err(|_| StoreError::Closed)?;
        Ok(done)
    }

    /// Drops a project's days older than `keep_days` (whole day folders).
    pub fn apply_retention(&self, project: ProjectId, keep_days: u32) -> Result<(), StoreError> {
        self.retention_job(project, keep_days)?
            .blocking_recv()
            .unwrap_or(Err(StoreError::Closed))
    }

    fn retention_job(
        &self,
        project: ProjectId,
        keep_days: u32,
    ) -> Result<oneshot::Receiver<Result<(), StoreError>>, StoreError> {
        let (reply, done) = oneshot::channel();
        let sent = lock(&self.flush_tx)
            .as_ref()
            .map(|tx| tx.send(FlushJob::Retain(project, keep_days, reply)).is_ok());
        if sent != Some(true) {
            return Err(StoreError::Closed);
        }
        Ok(done)
    }

    /// The files and in-memory batches of one table of one project that may hold rows
    /// with `from_ms <= ts < to_ms`.
    pub fn snapshot(
        &self,
        project: ProjectId,
        table: Table,
        from_ms: i64,
        to_ms: i64,
    ) -> TableSnapshot {
        let state = self.shared.read();
        let files_of = |table: Table| -> Vec<PathBuf> {
            state
                .manifest
                .files
                .iter()
                .filter(|f| f.project == project && f.table == table.name())
                .filter(|f| f.max_ts >= from_ms && f.min_ts < to_ms)
                .map(|f| self.shared.dir.join(&f.path))
                .collect()
        };
        let files = files_of(table);
        let folded = if table == Table::Vitals {
            files_of(Table::Views)
        } else {
            Vec::new()
        };
        let mut batches = Vec::new();
        for mem in state.memtables() {
            if let Some(rows) = mem.tables.get(&(project, table)) {
                batches.extend(rows.batches());
            }
        }
        TableSnapshot {
            table,
            files,
            folded,
            batches,
        }
    }

    /// Whether any row of one table of a project with `from_ms <= ts < to_ms` may be here,
    /// in a segment (by its time range; for vitals, the views' segments they fold into) or
    /// in memory. False means another store holding the rest has every row of the range.
    pub fn holds_rows(&self, project: ProjectId, table: Table, from_ms: i64, to_ms: i64) -> bool {
        let snap = self.snapshot(project, table, from_ms, to_ms);
        if !snap.files.is_empty() || !snap.folded.is_empty() {
            return true;
        }
        snap.batches.iter().any(|b| {
            match b
                .column_by_name("ts")
                .and_then(|c| c.as_any().downcast_ref::<Int64Array>())
            {
                Some(ts) => ts.iter().flatten().any(|t| t >= from_ms && t < to_ms),
                // Unknown: say it may be here.
                None => b.num_rows() > 0,
            }
        })
    }

    /// Rows in memory that are not yet in Parquet.
    pub fn unflushed_rows(&self) -> usize {
        self.shared.unflushed().0
    }

    /// The store's counters.
    pub fn metrics(&self) -> &StoreMetrics {
        &self.shared.metrics
    }

    /// The folder the store keeps its log and segments in.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// One flushed segment's rows, in their tables' current schemas: for a views segment,
    /// the view rows and the vitals folded into them.
    pub fn segment_rows(
        &self,
        file: &SegmentFile,
    ) -> Result<Vec<(Table, RecordBatch)>, StoreError> {
        let table = Table::from_name(&file.table).ok_or_else(|| {
            StoreError::Io(io::Error::other(format!("unknown table {}", file.table)))
        })?;
        let mut out = Vec::new();
        for stored in read_segment(&self.shared.dir.join(&file.path), table)? {
            let stored = read_back(&stored, table)?;
            if table == Table::Views {
                for vitals in unfold(&stored).map_err(|e| StoreError::Io(io::Error::other(e)))? {
                    out.push((Table::Vitals, vitals));
                }
            }
            out.push((table, conform(&table.schema(), &stored)?));
        }
        Ok(out)
    }

    /// Forgets flushed segments another store now keeps (the ClickHouse shipper's, once
    /// ClickHouse acknowledged their rows): out of the manifest at once, their files deleted
    /// after the grace that lets queries already reading them finish. Segments no longer
    /// listed are skipped; the number forgotten.
    pub fn forget_segments(&self, files: &[SegmentFile]) -> Result<usize, StoreError> {
        let forgotten: Vec<SegmentFile> = {
            let mut state = self.shared.write();
            let mut manifest = state.manifest.clone();
            let (gone, keep): (Vec<_>, Vec<_>) = manifest
                .files
                .into_iter()
                .partition(|f| files.iter().any(|g| g.path == f.path));
            manifest.files = keep;
            manifest.save(&self.shared.dir)?;
            state.manifest = manifest;
            gone
        };
        let mut doomed = lock(&self.shared.doomed);
        doomed.extend(
            forgotten
                .iter()
                .map(|f| (std::time::Instant::now(), self.shared.dir.join(&f.path))),
        );
        Ok(forgotten.len())
    }

    /// Live segment files (for figures such as bytes per event).
    pub fn segments(&self) -> Vec<SegmentFile> {
        self.shared.read().manifest.files.clone()
    }

    /// Whether the writer thread is running (it is not after a close or a fatal error).
    pub fn is_writer_alive(&self) -> bool {
        self.shared.writer_alive.load(Ordering::SeqCst) && lock(&self.tx).is_some()
    }

    /// Whether the writer is running and the data folder is writable.
    pub fn is_writable(&self) -> bool {
        let probe = self.shared.dir.join(".probe");
        self.is_writer_alive()
            && fs::write(&probe, b"ok").is_ok()
            && fs::remove_file(&probe).is_ok()
    }

    /// Stops accepting writes, flushes nothing (the log already holds everything
    /// acknowledged), and waits for the threads to finish their current work.
    pub fn close(&self) {
        self.shared.closing.store(true, Ordering::SeqCst);
        lock(&self.tx).take();
        lock(&self.flush_tx).take();
        for t in lock(&self.threads).drain(..) {
            let _ = t.join();
        }
        // No query of this store runs any more: replaced segments can go now.
        delete_doomed(&self.shared, Duration::ZERO);
    }
}

fn done_blocking(done: oneshot::Receiver<Result<(), StoreError>>) -> Result<(), StoreError> {
    done.blocking_recv().unwrap_or(Err(StoreError::Closed))
}

impl Drop for Store {
    fn drop(&mut self) {
        self.close();
    }
}

impl Store {
    /// Every row of one table of one project with `from_ms <= ts < to_ms`, read from its
    /// segments and memory, in the table's current schema.
    pub fn scan_blocking(
        &self,
        project: ProjectId,
        table: Table,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<RecordBatch>, StoreError> {
        scan_snapshot(
            self.snapshot(project, table, from_ms, to_ms),
            from_ms,
            to_ms,
        )
    }
}

fn scan_snapshot(
    snapshot: TableSnapshot,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<RecordBatch>, StoreError> {
    let table = snapshot.table;
    let schema = table.schema();
    let mut out = Vec::new();
    for path in &snapshot.files {
        for stored in read_segment(path, table)? {
            out.push(conform(&schema, &read_back(&stored, table)?)?);
        }
    }
    for path in &snapshot.folded {
        for stored in read_segment(path, Table::Views)? {
            let stored = read_back(&stored, Table::Views)?;
            out.extend(unfold(&stored).map_err(|e| StoreError::Io(io::Error::other(e)))?);
        }
    }
    out.extend(snapshot.batches);
    out.into_iter()
        .map(|b| in_range(&b, from_ms, to_ms))
        .filter(|b| !matches!(b, Ok(b) if b.num_rows() == 0))
        .collect()
}

/// A segment's rows of `table` with whole session ids ([`crate::session_ids`]) and view ids
/// ([`crate::view_ids`]), whole page URLs ([`crate::page_urls`]) and, for views, whole
/// timings ([`crate::deltas`]); still in the stored schema. Session ids first: a view id
/// is relative to the whole session id.
fn read_back(stored: &RecordBatch, table: Table) -> Result<RecordBatch, StoreError> {
    let to_io = |e| StoreError::Io(io::Error::other(e));
    let whole = crate::session_ids::whole(stored).map_err(to_io)?;
    let whole = crate::view_ids::absolute(&whole).map_err(to_io)?;
    let whole = crate::page_urls::whole(&whole).map_err(to_io)?;
    if table == Table::Views {
        crate::deltas::decode(&whole).map_err(to_io)
    } else {
        Ok(whole)
    }
}

fn in_range(batch: &RecordBatch, from_ms: i64, to_ms: i64) -> Result<RecordBatch, StoreError> {
    let to_io = |e: datafusion::arrow::error::ArrowError| StoreError::Io(io::Error::other(e));
    let ts = batch
        .column_by_name("ts")
        .and_then(|c| c.as_any().downcast_ref::<Int64Array>())
        .ok_or_else(|| StoreError::Io(io::Error::other("a table without ts")))?;
    let from = Int64Array::new_scalar(from_ms);
    let to = Int64Array::new_scalar(to_ms);
    let keep = datafusion::arrow::compute::and(
        &gt_eq(ts, &from).map_err(to_io)?,
        &lt(ts, &to).map_err(to_io)?,
    )
    .map_err(to_io)?;
    filter_record_batch(batch, &keep).map_err(to_io)
}

/// The embedded store behind the storage boundary. Reading Parquet for a scan runs on
/// tokio's blocking threads.
impl EventStore for Store {
    type Error = StoreError;

    fn append(&self, rows: Rows) -> impl Future<Output = Result<(), StoreError>> + Send {
        Store::append(self, rows)
    }

    async fn scan(
        &self,
        project: ProjectId,
        table: Table,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<RecordBatch>, StoreError> {
        let snapshot = self.snapshot(project, table, from_ms, to_ms);
        tokio::task::spawn_blocking(move || scan_snapshot(snapshot, from_ms, to_ms))
            .await
            .map_err(|e| StoreError::Io(io::Error::other(e)))?
    }

    async fn apply_retention(&self, project: ProjectId, keep_days: u32) -> Result<(), StoreError> {
        self.retention_job(project, keep_days)?
            .await
            .unwrap_or(Err(StoreError::Closed))
    }

    fn erase(
        &self,
        project: ProjectId,
        erasure: Erasure,
    ) -> impl Future<Output = Result<ErasureReport, StoreError>> + Send {
        Store::erase(self, project, erasure)
    }
}
