//! The store engine: one writer thread (group commit), one flusher thread (Parquet,
//! compaction, retention), and a shared state that queries snapshot.

use crate::manifest::{Manifest, SegmentFile, day_of};
use crate::metrics::StoreMetrics;
use crate::record::{IngestBatch, ProjectId};
use crate::schema::{Table, batches_by_table};
use crate::segment::{read_parquet, sorted_by_ts, ts_range, write_parquet};
use crate::wal::{self, WalWriter};
use datafusion::arrow::array::BooleanArray;
use datafusion::arrow::array::{Int64Array, RecordBatch, StringArray};
use datafusion::arrow::compute::filter_record_batch;
use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::oneshot;

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
    /// Largest in-memory size of one batch's rows (see [`IngestBatch::row_bytes`]); larger
    /// batches are refused before they reach the log.
    pub max_batch_row_bytes: usize,
    /// Bytes of rows that may wait in memory for the flusher; beyond, appends answer
    /// `Overloaded`. Rows alone do not bound memory: a row's context can be kilobytes.
    pub max_unflushed_bytes: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            flush_rows: 250_000,
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

impl StoreError {
    fn from_write(e: io::Error) -> StoreError {
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

/// Groups stop growing at this many bytes of rows, so no Arrow string column of a group
/// comes near its 2 GiB offset limit.
const MAX_GROUP_ROW_BYTES: usize = 64 * 1024 * 1024;

/// What a query needs to read one table of one project: segment files and in-memory
/// batches. Taken atomically, so no row is in both or in neither.
#[derive(Debug, Clone)]
pub struct TableSnapshot {
    /// The table.
    pub table: Table,
    /// Parquet files that may hold rows in the range.
    pub files: Vec<PathBuf>,
    /// In-memory batches.
    pub batches: Vec<RecordBatch>,
}

/// Arrow rows built from batches, per project and table, ready to go into a memtable.
type BuiltRows = Vec<((ProjectId, Table), RecordBatch)>;

/// Turns batches into Arrow rows. Building runs before anything is written, and a panic in
/// it (a defect, e.g. an input the limits did not foresee) is caught and reported as an
/// error, so one bad batch can never take the writer down.
fn build_rows(batches: &[&IngestBatch]) -> Result<BuiltRows, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut by_project: BTreeMap<ProjectId, Vec<&IngestBatch>> = BTreeMap::new();
        for b in batches {
            by_project.entry(b.project).or_default().push(b);
        }
        let mut out = Vec::new();
        for (project, group) in by_project {
            for (table, arrow) in batches_by_table(&group) {
                out.extend(arrow.into_iter().map(|a| ((project, table), a)));
            }
        }
        out
    }))
    .map_err(|panic| {
        panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "rows could not be built".to_owned())
    })
}

/// Builds a group's rows; if that fails, builds each batch alone so that only the batches
/// that cannot be stored are refused. Returns the rows and, per batch, whether it is in them.
fn build_each(batches: &[&IngestBatch]) -> (BuiltRows, Vec<Result<(), String>>) {
    if let Ok(rows) = build_rows(batches) {
        return (rows, batches.iter().map(|_| Ok(())).collect());
    }
    let mut rows = Vec::new();
    let outcomes = batches
        .iter()
        .map(|b| build_rows(&[b]).map(|r| rows.extend(r)))
        .collect();
    (rows, outcomes)
}

#[derive(Default)]
struct MemTable {
    id: u64,
    tables: HashMap<(ProjectId, Table), Vec<RecordBatch>>,
    rows: usize,
    bytes: usize,
    max_seq: u64,
    wal_segments: Vec<PathBuf>,
    created: Option<Instant>,
}

impl MemTable {
    fn insert(&mut self, rows: BuiltRows) {
        for (key, batch) in rows {
            self.rows += batch.num_rows();
            self.bytes += batch.get_array_memory_size();
            self.tables.entry(key).or_default().push(batch);
        }
        self.created.get_or_insert_with(Instant::now);
    }
}

struct State {
    active: MemTable,
    frozen: Vec<Arc<MemTable>>,
    manifest: Manifest,
}

struct Shared {
    dir: PathBuf,
    config: StoreConfig,
    state: RwLock<State>,
    metrics: StoreMetrics,
    /// False once the writer thread has ended for any reason; readiness reports it.
    writer_alive: AtomicBool,
    /// Set by `close`: background retries give up, the log keeps what they were doing.
    closing: AtomicBool,
    /// Old segments replaced by compaction or retention, deleted after a grace period so
    /// that a query that listed them can still read them.
    doomed: Mutex<Vec<(Instant, PathBuf)>>,
}

impl Shared {
    // A panic while a lock is held must not turn every later read into another panic: the
    // state is only changed in whole steps, so what a poisoned lock guards is consistent.
    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn unflushed(&self) -> (usize, usize) {
        let state = self.read();
        let mems = std::iter::once(&state.active).chain(state.frozen.iter().map(|m| m.as_ref()));
        mems.fold((0, 0), |(rows, bytes), m| (rows + m.rows, bytes + m.bytes))
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Marks the writer dead when its thread ends, whether it returns or unwinds.
struct AliveGuard<'a>(&'a AtomicBool);

impl Drop for AliveGuard<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
        tracing::error!("store writer stopped: writes are refused until restart");
    }
}

type Reply = oneshot::Sender<Result<(), StoreError>>;

/// A batch on its way to the writer, serialised by the caller (off the writer thread).
struct Pending {
    batch: IngestBatch,
    payload: Vec<u8>,
    row_bytes: usize,
}

impl Pending {
    fn new(batch: IngestBatch, limit: usize) -> Result<Pending, StoreError> {
        let payload =
            serde_json::to_vec(&batch).map_err(|e| StoreError::Unstorable(e.to_string()))?;
        let row_bytes = batch.row_bytes(payload.len());
        if row_bytes > limit {
            return Err(StoreError::BatchTooLarge {
                bytes: row_bytes,
                limit,
            });
        }
        Ok(Pending {
            batch,
            payload,
            row_bytes,
        })
    }
}

enum Msg {
    Append(Box<Pending>, Reply),
    Flush(Reply),
    Erase(ProjectId, Erasure, ErasureReply),
}

type ErasureReply = oneshot::Sender<Result<ErasureReport, StoreError>>;

enum FlushJob {
    Flush(Arc<MemTable>),
    Barrier(Reply),
    Retain(ProjectId, u32, Reply),
    Erase(ProjectId, Erasure, ErasureReply),
}

/// Whose data to erase from a project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Erasure {
    /// Every row with this `user_id`.
    User(String),
    /// Every row with this `session_id`.
    Session(String),
}

impl Erasure {
    fn column(&self) -> &'static str {
        match self {
            Erasure::User(_) => "user_id",
            Erasure::Session(_) => "session_id",
        }
    }

    fn value(&self) -> &str {
        match self {
            Erasure::User(v) | Erasure::Session(v) => v,
        }
    }
}

/// What an erasure removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ErasureReport {
    /// Rows removed, across all tables.
    pub rows_removed: u64,
    /// Segment files rewritten without those rows (or dropped when nothing was left).
    pub files_rewritten: u64,
}

/// How long replaced files stay after an erasure: long enough for a running query to
/// finish reading them, short enough that erased data is gone from the disk soon.
pub const ERASURE_GRACE: Duration = Duration::from_secs(5);

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
        let replayed = replay_frames(&mut active, &frames, manifest.flushed_seq, &metrics);
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
        shared
            .write()
            .active
            .wal_segments
            .push(writer.path().to_owned());
        let (tx, rx) = mpsc::sync_channel(config.queue_batches);
        let (flush_tx, flush_rx) = mpsc::channel();
        let retain_tx = flush_tx.clone();
        let w_shared = shared.clone();
        let writer_thread = std::thread::Builder::new()
            .name("vigil-store-writer".into())
            .spawn(move || {
                let _alive = AliveGuard(&w_shared.writer_alive);
                writer_loop(&w_shared, rx, flush_tx, writer, last_seq);
            })?;
        let f_shared = shared.clone();
        let flusher_thread = std::thread::Builder::new()
            .name("vigil-store-flusher".into())
            .spawn(move || flusher_loop(&f_shared, flush_rx))?;
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

    fn pending(&self, batch: IngestBatch) -> Result<Pending, StoreError> {
        Pending::new(batch, self.shared.config.max_batch_row_bytes).inspect_err(|_| {
            self.shared
                .metrics
                .batches_refused
                .fetch_add(1, Ordering::Relaxed);
        })
    }

    /// Appends a batch; resolves once it is durable on disk and visible to queries. A batch
    /// whose rows would be too large is refused at once, before it is queued.
    pub async fn append(&self, batch: IngestBatch) -> Result<(), StoreError> {
        let pending = self.pending(batch)?;
        let (reply, done) = oneshot::channel();
        match self
            .sender()?
            .try_send(Msg::Append(Box::new(pending), reply))
        {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(StoreError::Overloaded),
            Err(TrySendError::Disconnected(_)) => return Err(StoreError::Closed),
        }
        self.shared
            .metrics
            .queue_depth
            .fetch_add(1, Ordering::Relaxed);
        done.await.unwrap_or(Err(StoreError::Closed))
    }

    /// Appends from synchronous code (demo, benchmarks), waiting while the queue is full.
    pub fn append_blocking(&self, batch: IngestBatch) -> Result<(), StoreError> {
        self.append_all_blocking(vec![batch])
    }

    /// Appends many batches from synchronous code and waits for all of them; they share
    /// group commits, so this is how bulk loaders (demo, benchmarks) go fast.
    pub fn append_all_blocking(&self, batches: Vec<IngestBatch>) -> Result<(), StoreError> {
        // Bulk loaders outrun the flusher; waiting here keeps them under the memory bound
        // instead of being refused by it.
        while self.unflushed_rows() >= self.shared.config.max_unflushed_rows / 2
            || self.shared.unflushed().1 >= self.shared.config.max_unflushed_bytes / 2
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        let sender = self.sender()?;
        let mut waits = Vec::with_capacity(batches.len());
        for batch in batches {
            let pending = self.pending(batch)?;
            let (reply, done) = oneshot::channel();
            sender
                .send(Msg::Append(Box::new(pending), reply))
                .map_err(|_| StoreError::Closed)?;
            self.shared
                .metrics
                .queue_depth
                .fetch_add(1, Ordering::Relaxed);
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
        let (reply, done) = oneshot::channel();
        let sent = lock(&self.flush_tx)
            .as_ref()
            .map(|tx| tx.send(FlushJob::Retain(project, keep_days, reply)).is_ok());
        if sent != Some(true) {
            return Err(StoreError::Closed);
        }
        done.blocking_recv().unwrap_or(Err(StoreError::Closed))
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
        let files = state
            .manifest
            .files
            .iter()
            .filter(|f| f.project == project && f.table == table.name())
            .filter(|f| f.max_ts >= from_ms && f.min_ts < to_ms)
            .map(|f| self.shared.dir.join(&f.path))
            .collect();
        let mut batches = Vec::new();
        let mems = std::iter::once(&state.active).chain(state.frozen.iter().map(|m| m.as_ref()));
        for mem in mems {
            if let Some(b) = mem.tables.get(&(project, table)) {
                batches.extend(b.iter().cloned());
            }
        }
        TableSnapshot {
            table,
            files,
            batches,
        }
    }

    /// Rows in memory that are not yet in Parquet.
    pub fn unflushed_rows(&self) -> usize {
        self.shared.unflushed().0
    }

    /// The store's counters.
    pub fn metrics(&self) -> &StoreMetrics {
        &self.shared.metrics
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

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn writer_loop(
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
                || state.active.bytes >= shared.config.max_unflushed_bytes / 4
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
    // Rows are built before anything is logged: a batch that cannot become rows is refused
    // now, so the log never holds a frame that replay could not load.
    let batches: Vec<&IngestBatch> = appends.iter().map(|(p, _)| &p.batch).collect();
    let (built, outcomes) = build_each(&batches);
    let mut accepted = Vec::with_capacity(appends.len());
    for ((pending, reply), outcome) in appends.into_iter().zip(outcomes) {
        match outcome {
            Ok(()) => accepted.push((pending, reply)),
            Err(why) => {
                tracing::error!(project = pending.batch.project, error = %why, "refusing a batch that cannot become rows");
                shared
                    .metrics
                    .batches_refused
                    .fetch_add(1, Ordering::Relaxed);
                let _ = reply.send(Err(StoreError::Unstorable(why)));
            }
        }
    }
    if accepted.is_empty() {
        return;
    }
    let started = Instant::now();
    for (pending, _) in &accepted {
        *seq += 1;
        wal.push(*seq, &pending.payload);
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
    let events: usize = accepted.iter().map(|(p, _)| p.batch.events.len()).sum();
    {
        let mut state = shared.write();
        state.active.insert(built);
        state.active.max_seq = *seq;
        shared
            .metrics
            .memtable_rows
            .store(state.active.rows as u64, Ordering::Relaxed);
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

/// Loads the log frames past `flushed_seq` into `active`, in chunks of bounded size. A frame
/// that cannot be read or turned into rows is skipped with a loud log and a metric rather
/// than stopping the start: the rest of the log is still served. Returns the batches loaded.
fn replay_frames(
    active: &mut MemTable,
    frames: &[wal::Frame],
    flushed_seq: u64,
    metrics: &StoreMetrics,
) -> usize {
    let skip = |seq: u64, why: &str| {
        tracing::error!(
            seq,
            error = why,
            "skipping a write-ahead log frame that cannot be loaded"
        );
        metrics.frames_skipped.fetch_add(1, Ordering::Relaxed);
    };
    let mut loaded = 0;
    let mut chunk: Vec<(u64, IngestBatch)> = Vec::new();
    let mut chunk_bytes = 0usize;
    let mut load = |chunk: &mut Vec<(u64, IngestBatch)>, active: &mut MemTable| {
        let batches: Vec<&IngestBatch> = chunk.iter().map(|(_, b)| b).collect();
        let (rows, outcomes) = build_each(&batches);
        for ((seq, _), outcome) in chunk.iter().zip(outcomes) {
            match outcome {
                Ok(()) => loaded += 1,
                Err(why) => skip(*seq, &why),
            }
        }
        active.insert(rows);
        chunk.clear();
    };
    for frame in frames.iter().filter(|f| f.seq > flushed_seq) {
        match serde_json::from_slice::<IngestBatch>(&frame.payload) {
            Ok(batch) => {
                chunk_bytes += batch.row_bytes(frame.payload.len());
                chunk.push((frame.seq, batch));
            }
            Err(e) => skip(frame.seq, &e.to_string()),
        }
        if chunk_bytes >= MAX_GROUP_ROW_BYTES {
            load(&mut chunk, active);
            chunk_bytes = 0;
        }
    }
    load(&mut chunk, active);
    loaded
}

/// Moves the active memtable to the frozen list and starts a new log segment for the next.
fn freeze(
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
    active.id = *next_mem_id;
    *next_mem_id += 1;
    active.max_seq = seq;
    state.active.wal_segments.push(new_wal.path().to_owned());
    *wal = new_wal;
    let frozen = Arc::new(active);
    state.frozen.push(frozen.clone());
    shared.metrics.memtable_rows.store(0, Ordering::Relaxed);
    Ok(Some(frozen))
}

fn flusher_loop(shared: &Shared, rx: Receiver<FlushJob>) {
    let mut last_maintenance = Instant::now();
    loop {
        let job = match rx.recv_timeout(Duration::from_secs(5)) {
            Ok(j) => Some(j),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => break,
        };
        match job {
            Some(FlushJob::Flush(mem)) => {
                while let Err(e) = flush_memtable(shared, &mem) {
                    if shared.closing.load(Ordering::SeqCst) {
                        // The log still holds these rows; the next start replays them.
                        break;
                    }
                    tracing::error!(error = %e, "flush failed, retrying in 5 s");
                    std::thread::sleep(Duration::from_secs(5));
                }
            }
            Some(FlushJob::Erase(project, erasure, reply)) => {
                let _ = reply.send(erase(shared, project, &erasure).map_err(StoreError::from));
            }
            Some(FlushJob::Barrier(reply)) => {
                let _ = reply.send(compact(shared).map_err(StoreError::from));
            }
            Some(FlushJob::Retain(project, days, reply)) => {
                let _ = reply.send(retain(shared, project, days).map_err(StoreError::from));
            }
            None => {}
        }
        if last_maintenance.elapsed() > Duration::from_secs(30) {
            last_maintenance = Instant::now();
            if let Err(e) = compact(shared) {
                tracing::error!(error = %e, "compaction failed");
            }
        }
        delete_doomed(shared, Duration::from_secs(60));
    }
}

/// Rewrites every segment of `project` that holds rows of the erased user or session.
fn erase(shared: &Shared, project: ProjectId, erasure: &Erasure) -> io::Result<ErasureReport> {
    let files: Vec<SegmentFile> = shared
        .read()
        .manifest
        .files
        .iter()
        .filter(|f| f.project == project)
        .cloned()
        .collect();
    let mut report = ErasureReport::default();
    for file in files {
        let Some(table) = Table::from_name(&file.table) else {
            continue;
        };
        let mut kept = Vec::new();
        let mut removed = 0u64;
        for batch in read_parquet(&shared.dir.join(&file.path))? {
            let Some(values) = batch
                .column_by_name(erasure.column())
                .and_then(|c| c.as_any().downcast_ref::<StringArray>())
            else {
                kept.push(batch);
                continue;
            };
            let keep: BooleanArray = values
                .iter()
                .map(|v| Some(v != Some(erasure.value())))
                .collect();
            removed += keep.false_count() as u64;
            kept.push(filter_record_batch(&batch, &keep).map_err(io::Error::other)?);
        }
        if removed == 0 {
            continue;
        }
        let merged = sorted_by_ts(&table.schema(), &kept)?;
        let replacement = if merged.num_rows() == 0 {
            None
        } else {
            let id = {
                let mut state = shared.write();
                state.manifest.next_file_id += 1;
                state.manifest.next_file_id - 1
            };
            let rel = segment_rel_path(project, &file.day, table, id);
            let bytes = write_parquet(&shared.dir.join(&rel), &merged)?;
            let (min_ts, max_ts) = ts_range(&merged);
            Some(SegmentFile {
                path: rel,
                rows: merged.num_rows() as u64,
                bytes,
                min_ts,
                max_ts,
                ..file.clone()
            })
        };
        {
            let mut state = shared.write();
            let mut manifest = state.manifest.clone();
            manifest.files.retain(|f| f.path != file.path);
            manifest.files.extend(replacement);
            manifest.save(&shared.dir)?;
            state.manifest = manifest;
        }
        report.rows_removed += removed;
        report.files_rewritten += 1;
        lock(&shared.doomed).push((Instant::now(), shared.dir.join(&file.path)));
    }
    // Files replaced earlier (by compaction) may hold the same rows: they go soon too.
    let soon = Instant::now()
        .checked_sub(Duration::from_secs(60).saturating_sub(ERASURE_GRACE))
        .unwrap_or_else(Instant::now);
    for (when, _) in lock(&shared.doomed).iter_mut() {
        *when = (*when).min(soon);
    }
    shared
        .metrics
        .rows_erased
        .fetch_add(report.rows_removed, Ordering::Relaxed);
    Ok(report)
}

fn segment_rel_path(project: ProjectId, day: &str, table: Table, id: u64) -> String {
    format!(
        "segments/p{project}/{day}/{}-{id:010}.parquet",
        table.name()
    )
}

/// Splits a table's rows by UTC day, sorted by time.
fn split_by_day(table: Table, batches: &[RecordBatch]) -> io::Result<Vec<(String, RecordBatch)>> {
    let sorted = sorted_by_ts(&table.schema(), batches)?;
    let ts = sorted
        .column_by_name("ts")
        .and_then(|c| c.as_any().downcast_ref::<Int64Array>())
        .expect("ts is Int64")
        .clone();
    let mut out = Vec::new();
    let mut start = 0usize;
    while start < ts.len() {
        let day_num = ts.value(start).div_euclid(86_400_000);
        let mut end = start;
        while end < ts.len() && ts.value(end).div_euclid(86_400_000) == day_num {
            end += 1;
        }
        out.push((day_of(ts.value(start)), sorted.slice(start, end - start)));
        start = end;
    }
    Ok(out)
}

fn flush_memtable(shared: &Shared, mem: &Arc<MemTable>) -> io::Result<()> {
    let mut next_id = shared.read().manifest.next_file_id;
    let mut written = Vec::new();
    for (&(project, table), batches) in &mem.tables {
        for (day, part) in split_by_day(table, batches)? {
            let rel = segment_rel_path(project, &day, table, next_id);
            next_id += 1;
            let bytes = write_parquet(&shared.dir.join(&rel), &part)?;
            let (min_ts, max_ts) = ts_range(&part);
            written.push(SegmentFile {
                project,
                table: table.name().to_owned(),
                day,
                path: rel,
                rows: part.num_rows() as u64,
                bytes,
                min_ts,
                max_ts,
            });
        }
    }
    let count = written.len();
    {
        let mut state = shared.write();
        let mut manifest = state.manifest.clone();
        manifest.files.extend(written);
        manifest.next_file_id = next_id;
        manifest.flushed_seq = manifest.flushed_seq.max(mem.max_seq);
        manifest.save(&shared.dir)?;
        state.manifest = manifest;
        state.frozen.retain(|m| m.id != mem.id);
    }
    shared
        .metrics
        .segments_flushed
        .fetch_add(count as u64, Ordering::Relaxed);
    for seg in &mem.wal_segments {
        if let Err(e) = fs::remove_file(seg)
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(error = %e, path = %seg.display(), "cannot remove flushed log segment");
        }
    }
    Ok(())
}

/// Merges a table-day's small segments into one once there are enough of them.
fn compact(shared: &Shared) -> io::Result<()> {
    let groups: Vec<Vec<SegmentFile>> = {
        let state = shared.read();
        let mut by_key: BTreeMap<(ProjectId, String, String), Vec<SegmentFile>> = BTreeMap::new();
        for f in &state.manifest.files {
            if f.rows < shared.config.compact_max_rows {
                by_key
                    .entry((f.project, f.table.clone(), f.day.clone()))
                    .or_default()
                    .push(f.clone());
            }
        }
        by_key
            .into_values()
            .filter(|g| g.len() >= shared.config.compact_min_files)
            .collect()
    };
    for group in groups {
        let table = Table::from_name(&group[0].table).expect("manifest tables are known");
        let mut batches = Vec::new();
        for f in &group {
            batches.extend(read_parquet(&shared.dir.join(&f.path))?);
        }
        let merged = sorted_by_ts(&table.schema(), &batches)?;
        let id = {
            let mut state = shared.write();
            state.manifest.next_file_id += 1;
            state.manifest.next_file_id - 1
        };
        let rel = segment_rel_path(group[0].project, &group[0].day, table, id);
        let bytes = write_parquet(&shared.dir.join(&rel), &merged)?;
        let (min_ts, max_ts) = ts_range(&merged);
        let mut state = shared.write();
        let mut manifest = state.manifest.clone();
        manifest
            .files
            .retain(|f| !group.iter().any(|g| g.path == f.path));
        manifest.files.push(SegmentFile {
            project: group[0].project,
            table: group[0].table.clone(),
            day: group[0].day.clone(),
            path: rel,
            rows: merged.num_rows() as u64,
            bytes,
            min_ts,
            max_ts,
        });
        manifest.save(&shared.dir)?;
        state.manifest = manifest;
        drop(state);
        let mut doomed = lock(&shared.doomed);
        doomed.extend(
            group
                .iter()
                .map(|g| (Instant::now(), shared.dir.join(&g.path))),
        );
        shared.metrics.compactions.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

fn retain(shared: &Shared, project: ProjectId, keep_days: u32) -> io::Result<()> {
    let cutoff = day_of(now_ms() - i64::from(keep_days) * 86_400_000);
    let dropped: Vec<SegmentFile> = {
        let mut state = shared.write();
        let mut manifest = state.manifest.clone();
        let (old, keep): (Vec<_>, Vec<_>) = manifest
            .files
            .into_iter()
            .partition(|f| f.project == project && f.day.as_str() < cutoff.as_str());
        manifest.files = keep;
        manifest.save(&shared.dir)?;
        state.manifest = manifest;
        // Rows still in memory for expired days go too, so a query never shows them.
        let expired = |b: &RecordBatch| -> RecordBatch {
            let ts = b
                .column_by_name("ts")
                .and_then(|c| c.as_any().downcast_ref::<Int64Array>());
            let Some(ts) = ts else { return b.clone() };
            let keep: BooleanArray = ts.iter().map(|t| t.map(|t| day_of(t) >= cutoff)).collect();
            filter_record_batch(b, &keep).unwrap_or_else(|_| b.clone())
        };
        for ((p, _), batches) in state.active.tables.iter_mut() {
            if *p == project {
                for b in batches.iter_mut() {
                    *b = expired(b);
                }
            }
        }
        old
    };
    let mut doomed = lock(&shared.doomed);
    doomed.extend(
        dropped
            .iter()
            .map(|f| (Instant::now(), shared.dir.join(&f.path))),
    );
    Ok(())
}

fn delete_doomed(shared: &Shared, grace: Duration) {
    let mut doomed = lock(&shared.doomed);
    doomed.retain(|(when, path)| {
        if when.elapsed() < grace {
            return true;
        }
        let _ = fs::remove_file(path);
        if let Some(day_dir) = path.parent() {
            // Removes the day folder once its last file is gone; fails harmlessly otherwise.
            let _ = fs::remove_dir(day_dir);
        }
        false
    });
}

/// Deletes segment files the manifest does not list: leftovers of a flush or compaction
/// that crashed before its manifest swap, or of deletions cut short.
fn remove_orphans(dir: &Path, manifest: &Manifest) -> io::Result<()> {
    let live: std::collections::HashSet<PathBuf> =
        manifest.files.iter().map(|f| dir.join(&f.path)).collect();
    let mut stack = vec![dir.join("segments")];
    let mut removed = 0;
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if !live.contains(&path) {
                tracing::debug!(path = %path.display(), "removing orphan segment");
                fs::remove_file(&path)?;
                removed += 1;
            }
        }
    }
    if removed > 0 {
        tracing::info!(removed, "removed segment files the manifest does not list");
    }
    Ok(())
}
