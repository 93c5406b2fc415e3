//! An instance's local store shipped to ClickHouse. Intake acknowledges once rows are in
//! the embedded store's log (durable, as without ClickHouse); the flusher writes them to
//! Parquet segments; the shipper inserts each segment's rows in one `INSERT` per table,
//! marked with the segment's id (`<instance>/<segment path>`), then forgets the segment
//! locally. Queries read ClickHouse beside what is still local, leaving out the rows of
//! segments still listed locally, so a row shipped but not yet forgotten counts once.
//!
//! A crash between an insert and the forgetting leaves the segment local: the next round
//! finds its rows in ClickHouse by id and only forgets it; an insert cut short (fewer rows
//! than the segment's) is deleted and made again. Erasure and retention hold shipping off
//! while they run on both stores, so a segment read before them is never inserted after.

use crate::ddl::quoted;
use crate::{ClickHouseError, ClickHouseStore, ExternalTable};
use arrow_array::RecordBatch;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use vigil_model::{ProjectId, Table};
use vigil_query::{LocalRows, RemoteEvents, RemoteFilter};
use vigil_store::{Erasure, ErasureReport, SegmentFile, Store};

/// What one round of shipping did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShipReport {
    /// Segments shipped and forgotten locally.
    pub segments: u64,
    /// Rows inserted into ClickHouse.
    pub rows: u64,
    /// Segments found already in ClickHouse (a crash came before their forgetting).
    pub already_shipped: u64,
    /// Segments whose insert had been cut short, deleted and inserted again.
    pub replaced: u64,
}

/// ClickHouse behind an instance's local store: ships what it flushed, and reads, erases
/// and applies retention on both.
pub struct ClickHouseRemote {
    clickhouse: ClickHouseStore,
    store: Arc<Store>,
    /// This instance's id, kept in its data folder: segment paths repeat across instances.
    instance: String,
    /// Held by a shipping round, an erasure and a retention run.
    exclusive: Mutex<()>,
    /// Reads of both stores under way, and when the shipper first saw each segment.
    reads: Arc<Mutex<Reads>>,
}

/// A read of both stores lists the local segments it reads locally (ClickHouse leaves
/// their rows out) when it starts; a segment committed after that (a flush of rows the
/// read took from memory, a rewrite) is not on its list, so its rows must not reach
/// ClickHouse before the read ends, or they would count twice. Tickets order the two: a
/// segment is shipped only once every read that started before the shipper first saw it
/// has ended (a segment seen first is on the lists of the reads that start after). A read
/// marks the segments listed when it starts as seen, so they may ship meanwhile.
#[derive(Default)]
struct Reads {
    next_ticket: u64,
    /// The tickets of reads under way.
    under_way: std::collections::BTreeSet<u64>,
    /// Segment path → the ticket taken when the shipper first saw it.
    seen: std::collections::HashMap<String, u64>,
}

/// A read of both stores under way, until dropped.
struct ReadUnderWay {
    reads: Arc<Mutex<Reads>>,
    ticket: u64,
}

impl Drop for ReadUnderWay {
    fn drop(&mut self) {
        lock(&self.reads).under_way.remove(&self.ticket);
    }
}

fn lock(reads: &Mutex<Reads>) -> std::sync::MutexGuard<'_, Reads> {
    reads.lock().unwrap_or_else(|e| e.into_inner())
}

/// Reads the instance id from the store's folder, or makes one.
fn instance_id(dir: &Path) -> std::io::Result<String> {
    let path = dir.join("clickhouse-instance");
    if let Ok(id) = std::fs::read_to_string(&path)
        && !id.trim().is_empty()
    {
        return Ok(id.trim().to_owned());
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let id = format!("{:x}-{:x}", nanos, std::process::id());
    let tmp = dir.join("clickhouse-instance.tmp");
    std::fs::write(&tmp, &id)?;
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, &path)?;
    Ok(id)
}

impl ClickHouseRemote {
    /// Ships `store` to `clickhouse`.
    pub fn new(store: Arc<Store>, clickhouse: ClickHouseStore) -> Result<Self, ClickHouseError> {
        let instance =
            instance_id(store.dir()).map_err(|e| ClickHouseError::Task(e.to_string()))?;
        Ok(Self {
            clickhouse,
            store,
            instance,
            exclusive: Mutex::new(()),
            reads: Arc::default(),
        })
    }

    fn hold(&self) -> std::sync::MutexGuard<'_, ()> {
        self.exclusive.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A segment's id in ClickHouse's `vigil_batch` column.
    fn batch_id(&self, relative: &str) -> String {
        format!("{}/{relative}", self.instance)
    }

    /// The ids the rows of local segments (by their paths) were shipped under.
    fn batch_ids(&self, segments: &[PathBuf]) -> Vec<String> {
        let dir = self.store.dir();
        segments
            .iter()
            .filter_map(|p| p.strip_prefix(dir).ok())
            .map(|p| self.batch_id(&p.to_string_lossy()))
            .collect()
    }

    /// Ships every flushed segment of the local store.
    pub fn ship(&self) -> Result<ShipReport, ClickHouseError> {
        let _held = self.hold();
        let mut report = ShipReport::default();
        let segments = self.store.segments();
        let ready: Vec<SegmentFile> = {
            let mut reads = lock(&self.reads);
            let reads = &mut *reads;
            reads
                .seen
                .retain(|path, _| segments.iter().any(|s| &s.path == path));
            let oldest_read = reads.under_way.first().copied().unwrap_or(u64::MAX);
            segments
                .into_iter()
                .filter(|s| {
                    let seen = *reads.seen.entry(s.path.clone()).or_insert_with(|| {
                        reads.next_ticket += 1;
                        reads.next_ticket
                    });
                    seen < oldest_read
                })
                .collect()
        };
        for segment in ready {
            self.ship_segment(&segment, &mut report)?;
        }
        Ok(report)
    }

    fn ship_segment(
        &self,
        segment: &SegmentFile,
        report: &mut ShipReport,
    ) -> Result<(), ClickHouseError> {
        let id = self.batch_id(&segment.path);
        let rows = self
            .store
            .segment_rows(segment)
            .map_err(|e| ClickHouseError::Task(format!("reading {}: {e}", segment.path)))?;
        let mut by_table: BTreeMap<Table, Vec<RecordBatch>> = BTreeMap::new();
        for (table, batch) in rows {
            by_table.entry(table).or_default().push(batch);
        }
        let mut inserted_any = false;
        let mut found_any = false;
        for (table, batches) in by_table {
            let batch = arrow_select::concat::concat_batches(&table.schema(), &batches)
                .map_err(|e| ClickHouseError::Task(e.to_string()))?;
            if batch.num_rows() == 0 {
                continue;
            }
            let have = self.clickhouse.batch_rows(table, &id)?;
            if have == batch.num_rows() as u64 {
                found_any = true;
                continue;
            }
            if have > 0 {
                self.clickhouse.delete_batch(table, &id)?;
                report.replaced += 1;
            }
            self.clickhouse
                .insert(segment.project, table, &id, &batch)?;
            report.rows += batch.num_rows() as u64;
            inserted_any = true;
        }
        if found_any && !inserted_any {
            report.already_shipped += 1;
        }
        self.store
            .forget_segments(std::slice::from_ref(segment))
            .map_err(|e| ClickHouseError::Task(e.to_string()))?;
        report.segments += 1;
        Ok(())
    }

    /// The ClickHouse store.
    pub fn clickhouse(&self) -> &ClickHouseStore {
        &self.clickhouse
    }
}

/// The name a query reads a table's local rows by.
fn external_name(table: Table) -> String {
    format!("vigil_local_{}", table.name())
}

impl RemoteEvents for ClickHouseRemote {
    fn scan(
        &self,
        project: ProjectId,
        table: Table,
        from: i64,
        to: i64,
        local_segments: &[PathBuf],
        columns: &[String],
        filters: &[RemoteFilter],
    ) -> Result<Vec<RecordBatch>, String> {
        let local = self.batch_ids(local_segments);
        let schema = crate::convert::projected(table, columns).map_err(|e| e.to_string())?;
        self.clickhouse
            .scan_except(project, table, (from, to), &local, schema, filters)
            .map(|b| vec![b])
            .map_err(|e| e.to_string())
    }

    fn begin_read(&self) -> Box<dyn std::any::Any + Send> {
        let segments = self.store.segments();
        let mut reads = lock(&self.reads);
        let reads = &mut *reads;
        // The segments listed now are the read's to leave out of ClickHouse: seen before
        // it, they may ship during it.
        for s in segments {
            reads.seen.entry(s.path).or_insert_with(|| {
                reads.next_ticket += 1;
                reads.next_ticket
            });
        }
        reads.next_ticket += 1;
        let ticket = reads.next_ticket;
        reads.under_way.insert(ticket);
        Box::new(ReadUnderWay {
            reads: self.reads.clone(),
            ticket,
        })
    }

    fn source(&self, project: ProjectId, local: &LocalRows) -> String {
        if local.is_empty() {
            return quoted(local.table.name());
        }
        crate::convert::compiled_source(
            project,
            local,
            &self.batch_ids(&local.segments),
            &external_name(local.table),
        )
    }

    fn select_with(
        &self,
        sql: &str,
        local: &[LocalRows],
    ) -> Result<Vec<Vec<serde_json::Value>>, String> {
        let features = crate::ddl::Features::of(self.clickhouse.version());
        let tables: Vec<ExternalTable> = local
            .iter()
            .filter(|l| l.batches.iter().any(|b| b.num_rows() > 0))
            .map(|l| {
                Ok(ExternalTable {
                    name: external_name(l.table),
                    structure: crate::convert::external_structure(l, features)?,
                    rows: crate::convert::external_rows(l),
                })
            })
            .collect::<Result<_, String>>()?;
        self.clickhouse
            .select_rows_with(sql, &tables)
            .map_err(|e| e.to_string())
    }

    fn erase(
        &self,
        store: &Store,
        project: ProjectId,
        erasure: &Erasure,
    ) -> Result<ErasureReport, String> {
        let _held = self.hold();
        let local = store
            .erase_blocking(project, erasure.clone())
            .map_err(|e| e.to_string())?;
        let remote = self
            .clickhouse
            .erase_blocking(project, erasure)
            .map_err(|e| e.to_string())?;
        Ok(ErasureReport {
            rows_removed: local.rows_removed + remote.rows_removed,
            files_rewritten: local.files_rewritten + remote.files_rewritten,
        })
    }

    fn apply_retention(
        &self,
        store: &Store,
        project: ProjectId,
        keep_days: u32,
    ) -> Result<(), String> {
        let _held = self.hold();
        store
            .apply_retention(project, keep_days)
            .map_err(|e| e.to_string())?;
        self.clickhouse
            .retention_blocking(project, keep_days)
            .map_err(|e| e.to_string())
    }
}
