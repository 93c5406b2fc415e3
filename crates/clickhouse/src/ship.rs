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

use crate::{ClickHouseError, ClickHouseStore};
use arrow_array::RecordBatch;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use vigil_model::{ProjectId, Table};
use vigil_query::{RemoteEvents, RemoteFilter};
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
        })
    }

    fn hold(&self) -> std::sync::MutexGuard<'_, ()> {
        self.exclusive.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A segment's id in ClickHouse's `vigil_batch` column.
    fn batch_id(&self, relative: &str) -> String {
        format!("{}/{relative}", self.instance)
    }

    /// Ships every flushed segment of the local store.
    pub fn ship(&self) -> Result<ShipReport, ClickHouseError> {
        let _held = self.hold();
        let mut report = ShipReport::default();
        for segment in self.store.segments() {
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
        let dir = self.store.dir();
        let local: Vec<String> = local_segments
            .iter()
            .filter_map(|p| p.strip_prefix(dir).ok())
            .map(|p| self.batch_id(&p.to_string_lossy()))
            .collect();
        let schema = crate::convert::projected(table, columns).map_err(|e| e.to_string())?;
        self.clickhouse
            .scan_except(project, table, (from, to), &local, schema, filters)
            .map(|b| vec![b])
            .map_err(|e| e.to_string())
    }

    fn select(&self, sql: &str) -> Result<Vec<Vec<serde_json::Value>>, String> {
        self.clickhouse.select_rows(sql).map_err(|e| e.to_string())
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
