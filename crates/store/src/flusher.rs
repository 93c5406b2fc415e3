//! The flusher thread: memtables to Parquet, compaction, retention and erasure, each a
//! manifest swap; replaced files are deleted after a grace period.

use crate::fold::{fold, rows_held, stored_schema};
use crate::manifest::{Manifest, SegmentFile, day_of};
use crate::memtable::{MemTable, Shared, lock};
use crate::segment::{
    Packing, merge_segments, read_segment, sorted_for_segment, ts_range, write_parquet,
};
use crate::{ERASURE_GRACE, StoreError};
use crate::{deltas, page_urls, session_ids, view_ids};
use datafusion::arrow::array::{BooleanArray, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::compute::filter_record_batch;
use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::oneshot;
use vigil_model::storage::{Erasure, ErasureReport};
use vigil_model::{ProjectId, Table};

pub(crate) type Reply = oneshot::Sender<Result<(), StoreError>>;
pub(crate) type ErasureReply = oneshot::Sender<Result<ErasureReport, StoreError>>;

pub(crate) enum FlushJob {
    Flush(Arc<MemTable>),
    Barrier(Reply),
    Retain(ProjectId, u32, Reply),
    Erase(ProjectId, Erasure, ErasureReply),
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

pub(crate) fn flusher_loop(shared: &Shared, rx: Receiver<FlushJob>) {
    let mut next_maintenance = Instant::now() + Duration::from_secs(30);
    loop {
        let wait = next_maintenance
            .saturating_duration_since(Instant::now())
            .clamp(Duration::from_millis(10), Duration::from_secs(5));
        let job = match rx.recv_timeout(wait) {
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
                let all = || -> io::Result<()> {
                    while compact(shared, usize::MAX)? {}
                    Ok(())
                };
                let _ = reply.send(all().map_err(StoreError::from));
            }
            Some(FlushJob::Retain(project, days, reply)) => {
                let _ = reply.send(retain(shared, project, days).map_err(StoreError::from));
            }
            None => {}
        }
        // Flushes come first: a memtable waiting behind merges holds its memory and, once
        // the unflushed bound is reached, intake answers 503. One merge at a time, and only
        // with no frozen memtable waiting; work left comes again after the next job.
        if Instant::now() >= next_maintenance && shared.read().frozen.is_empty() {
            next_maintenance = match compact(shared, 1) {
                Ok(true) => Instant::now(),
                Ok(false) => Instant::now() + Duration::from_secs(30),
                Err(e) => {
                    tracing::error!(error = %e, "compaction failed");
                    Instant::now() + Duration::from_secs(30)
                }
            };
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
        for batch in read_segment(&shared.dir.join(&file.path), table)? {
            // Compared whole: segments keep session ids relative to their row's time (other
            // columns are compared as stored).
            let compared = if erasure.column() == session_ids::COLUMN {
                session_ids::whole(&batch).map_err(io::Error::other)?
            } else {
                batch.clone()
            };
            let Some(values) = compared
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
            let left = filter_record_batch(&batch, &keep).map_err(io::Error::other)?;
            removed += (rows_held(&batch) - rows_held(&left)) as u64;
            kept.push(left);
        }
        if removed == 0 {
            continue;
        }
        let merged = sorted_for_segment(&stored_schema(table), &kept)?;
        let replacement = if merged.num_rows() == 0 {
            None
        } else {
            let id = {
                let mut state = shared.write();
                state.manifest.next_file_id += 1;
                state.manifest.next_file_id - 1
            };
            let rel = segment_rel_path(project, &file.day, table, id);
            let bytes = write_parquet(&shared.dir.join(&rel), table, &merged, Packing::Lasting)?;
            let (min_ts, max_ts) = ts_range(&merged)?;
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

pub(crate) fn segment_rel_path(project: ProjectId, day: &str, table: Table, id: u64) -> String {
    format!(
        "segments/p{project}/{day}/{}-{id:010}.parquet",
        table.name()
    )
}

/// Splits a table's stored rows by UTC day, sorted by time.
fn split_by_day(table: Table, batches: &[RecordBatch]) -> io::Result<Vec<(String, RecordBatch)>> {
    let sorted = sorted_for_segment(&stored_schema(table), batches)?;
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

type TablesByKey = BTreeMap<(ProjectId, Table), Vec<RecordBatch>>;

/// A memtable's rows as they are stored: each project's vitals folded into its views where
/// they can be, in a fixed order.
fn stored_tables(mem: &MemTable) -> io::Result<TablesByKey> {
    let mut tables: TablesByKey = mem.tables.iter().map(|(k, v)| (*k, v.batches())).collect();
    let projects: Vec<ProjectId> = tables
        .keys()
        .filter(|(_, t)| *t == Table::Views)
        .map(|(p, _)| *p)
        .collect();
    for project in projects {
        let views = tables.remove(&(project, Table::Views)).unwrap_or_default();
        let vitals = tables.remove(&(project, Table::Vitals)).unwrap_or_default();
        let (stored, left) = fold(&views, &vitals).map_err(io::Error::other)?;
        tables.insert((project, Table::Views), vec![stored]);
        if !left.is_empty() {
            tables.insert((project, Table::Vitals), left);
        }
    }
    Ok(tables)
}

/// Rows of `table` as a segment holds them: view ids relative to their sessions'
/// ([`view_ids`]), then session ids relative to their row's time ([`session_ids`]), page
/// URLs without their path ([`page_urls`]) and, for views, timings as differences
/// ([`deltas`]). After the fold, which matches vitals to views by whole ids and values;
/// one part at a time, so that only its rewritten columns are held twice.
fn segment_form(table: Table, rows: &RecordBatch) -> io::Result<RecordBatch> {
    let rows = view_ids::relative(rows).map_err(io::Error::other)?;
    let rows = session_ids::relative(&rows).map_err(io::Error::other)?;
    let rows = page_urls::without_paths(&rows).map_err(io::Error::other)?;
    if table == Table::Views {
        deltas::encode(&rows).map_err(io::Error::other)
    } else {
        Ok(rows)
    }
}

fn flush_memtable(shared: &Shared, mem: &Arc<MemTable>) -> io::Result<()> {
    let mut next_id = shared.read().manifest.next_file_id;
    let mut written = Vec::new();
    for ((project, table), batches) in stored_tables(mem)? {
        for (day, part) in split_by_day(table, &batches)? {
            let part = segment_form(table, &part)?;
            let rel = segment_rel_path(project, &day, table, next_id);
            next_id += 1;
            let bytes = write_parquet(&shared.dir.join(&rel), table, &part, Packing::Fresh)?;
            let (min_ts, max_ts) = ts_range(&part)?;
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
        shared.publish_memory(&state);
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

/// Segments one merge reads at once: its memory is a few thousand rows per input.
const COMPACT_MAX_INPUTS: usize = 8;

/// The segments of a group one merge takes, oldest first: at most [`COMPACT_MAX_INPUTS`],
/// and no more once their rows reach `max_rows` (at least two). What is left waits for the
/// next round.
fn first_to_merge(group: Vec<SegmentFile>, max_rows: u64) -> Vec<SegmentFile> {
    let mut rows = 0;
    group
        .into_iter()
        .take(COMPACT_MAX_INPUTS)
        .take_while(|f| {
            let take = rows < max_rows;
            rows += f.rows;
            take
        })
        .collect()
}

/// The segments each merge of this round takes: of every (project, table, day) with at
/// least `compact_min_files` segments under `compact_max_rows` rows.
fn due_merges(shared: &Shared) -> Vec<Vec<SegmentFile>> {
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
        .map(|g| first_to_merge(g, shared.config.compact_max_rows))
        .collect()
}

/// Merges a table-day's small segments into one once there are enough of them: up to
/// `max_merges` merges, one per group that is due. Whether more are due after them.
fn compact(shared: &Shared, max_merges: usize) -> io::Result<bool> {
    let groups: Vec<_> = due_merges(shared).into_iter().take(max_merges).collect();
    if groups.is_empty() {
        return Ok(false);
    }
    for group in groups {
        let table = Table::from_name(&group[0].table).expect("manifest tables are known");
        let id = {
            let mut state = shared.write();
            state.manifest.next_file_id += 1;
            state.manifest.next_file_id - 1
        };
        let rel = segment_rel_path(group[0].project, &group[0].day, table, id);
        let inputs: Vec<PathBuf> = group.iter().map(|f| shared.dir.join(&f.path)).collect();
        let merged = merge_segments(&inputs, table, &shared.dir.join(&rel))?;
        let (min_ts, max_ts) = merged.ts;
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
            rows: merged.rows,
            bytes: merged.bytes,
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
    Ok(!due_merges(shared).is_empty())
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
        for ((p, _), rows) in state.active.tables.iter_mut() {
            if *p == project {
                rows.seal();
                for b in rows.sealed.iter_mut() {
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

pub(crate) fn delete_doomed(shared: &Shared, grace: Duration) {
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
pub(crate) fn remove_orphans(dir: &Path, manifest: &Manifest) -> io::Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn files(rows: &[u64]) -> Vec<SegmentFile> {
        rows.iter()
            .enumerate()
            .map(|(i, &rows)| SegmentFile {
                project: 1,
                table: "views".into(),
                day: "2026-12-04".into(),
                path: format!("s{i}.parquet"),
                rows,
                bytes: 0,
                min_ts: 0,
                max_ts: 0,
            })
            .collect()
    }

    fn paths(group: &[SegmentFile]) -> Vec<&str> {
        group.iter().map(|f| f.path.as_str()).collect()
    }

    #[test]
    fn a_merge_takes_the_oldest_segments_up_to_its_inputs_and_rows() {
        let many = first_to_merge(files(&[10; 40]), 1_000_000);
        assert_eq!(many.len(), COMPACT_MAX_INPUTS);
        assert_eq!(many[0].path, "s0.parquet");
        assert_eq!(
            paths(&first_to_merge(files(&[600, 300, 200, 50]), 1_000)),
            ["s0.parquet", "s1.parquet", "s2.parquet"]
        );
        // Two large ones still merge: a round always makes progress.
        assert_eq!(
            paths(&first_to_merge(files(&[900, 900, 900]), 1_000)).len(),
            2
        );
    }
}
