//! Segments written in an earlier layout, rewritten in this one when the store opens.
//!
//! Manifest versions 0 to 2 stored a vital's value at 0.001 (`vitals.value` and the view
//! rows' folded `{vital}__value`); version 3 stores it at 0.0001. Versions before 7 stored
//! every view timing whole; version 7 stores some as differences ([`crate::deltas`]).
//! Versions before 6 stored every view id as it came; a segment holding one that starts
//! with `-` or `~` is rewritten with it escaped ([`crate::view_ids`]). Versions before 8
//! stored every page URL whole; a segment holding one with a mark of the pathless form
//! (U+0001 or U+0002) is rewritten in that form ([`crate::page_urls`]). Versions before 9
//! stored every session id whole; a segment holding one with a `.` or starting with `~` is
//! rewritten in the relative form ([`crate::session_ids`]). The
//! affected segments are rewritten before anything reads them, so every later path
//! (queries, compaction, erasure) sees one layout. New files are written first and the manifest is replaced once, so a
//! crash leaves either the old folder or the new one; the files the winner does not name
//! are removed as orphans at the next start.

use crate::flusher::segment_rel_path;
use crate::fold::FOLDED;
use crate::manifest::{MANIFEST_VERSION, Manifest};
use crate::segment::{Packing, SegmentWriter, read_segment};
use crate::{page_urls, session_ids, view_ids};
use datafusion::arrow::array::{Array, ArrayRef, Int64Array, RecordBatch};
use std::io;
use std::path::Path;
use std::sync::Arc;
use vigil_model::Table;

/// The first manifest version with vitals at the current scale.
const FINE_VITALS: u32 = 3;
/// The scale of a vital's value before [`FINE_VITALS`].
const OLD_VITAL_SCALE: i64 = 1000;

/// The first manifest version with view ids stored relative to their session's.
const RELATIVE_VIEW_IDS: u32 = 6;
/// The first manifest version with view timings stored as differences.
const TIMING_DELTAS: u32 = 7;
/// The first manifest version with page URLs stored without their path.
const PATHLESS_URLS: u32 = 8;
/// The first manifest version with session ids stored relative to their row's time.
const RELATIVE_SESSION_IDS: u32 = 9;

/// Rewrites what an older layout left; returns the manifest to open with.
pub(crate) fn upgrade(dir: &Path, mut manifest: Manifest) -> io::Result<Manifest> {
    let from = manifest.version;
    if from >= RELATIVE_SESSION_IDS || manifest.files.is_empty() {
        return Ok(manifest);
    }
    let scale = Table::Vitals
        .column("value")
        .and_then(vigil_model::Field::scale)
        .unwrap_or(OLD_VITAL_SCALE);
    let factor = scale / OLD_VITAL_SCALE;
    let mut replaced = Vec::new();
    let mut next_id = manifest.next_file_id;
    for file in manifest.files.iter_mut() {
        let Some(table) = Table::from_name(&file.table) else {
            continue;
        };
        let path = dir.join(&file.path);
        // Before version 6 a view id was stored as it came: one that starts with the
        // marks of the relative form must be escaped, or it would read as another id.
        let ids_to_mark = from < RELATIVE_VIEW_IDS
            && table.column(view_ids::VIEW).is_some()
            && table.column(view_ids::SESSION).is_some();
        // Likewise a page URL before version 8, with the marks of the pathless form.
        let urls_to_mark = from < PATHLESS_URLS
            && table.column(page_urls::URL).is_some()
            && table.column(page_urls::PATH).is_some();
        // And a session id before version 9 with the marks of the relative form. Every
        // segment rewritten for any reason is written in each form its version lacked.
        let sessions_to_mark = from < RELATIVE_SESSION_IDS
            && table.column(session_ids::COLUMN).is_some()
            && table.column("ts").is_some();
        let timings = table == Table::Views && from < TIMING_DELTAS;
        let rewrite = timings
            || (table == Table::Vitals && from < FINE_VITALS)
            || (ids_to_mark && has_marked(&path, view_ids::VIEW, |v| v.starts_with(['-', '~']))?)
            || (urls_to_mark && has_marked(&path, page_urls::URL, page_urls::has_marks)?)
            || (sessions_to_mark
                && has_marked(&path, session_ids::COLUMN, session_ids::has_marks)?);
        if !rewrite {
            continue;
        }
        let rel = segment_rel_path(file.project, &file.day, table, next_id);
        next_id += 1;
        // Written a batch at a time, without a concatenated copy of the segment.
        let mut writer = SegmentWriter::create(
            &dir.join(&rel),
            table,
            crate::fold::stored_schema(table),
            Packing::Lasting,
        )?;
        for batch in read_segment(&path, table)? {
            let mut batch = batch;
            if from < FINE_VITALS {
                batch = rescale(&batch, table, factor)?;
            }
            if ids_to_mark {
                batch = view_ids::relative(&batch).map_err(io::Error::other)?;
            }
            if sessions_to_mark {
                batch = session_ids::relative(&batch).map_err(io::Error::other)?;
            }
            if urls_to_mark {
                batch = page_urls::without_paths(&batch).map_err(io::Error::other)?;
            }
            if timings {
                batch = crate::deltas::encode(&batch).map_err(io::Error::other)?;
            }
            writer.write(&batch)?;
        }
        file.bytes = writer.finish()?;
        replaced.push(std::mem::replace(&mut file.path, rel));
    }
    manifest.next_file_id = next_id;
    manifest.save(dir)?;
    manifest.version = MANIFEST_VERSION;
    for old in replaced {
        // Not named by the manifest any more; a failure here leaves an orphan that the next
        // start removes.
        let _ = std::fs::remove_file(dir.join(old));
    }
    tracing::info!(
        from,
        "rewrote view segments before version {TIMING_DELTAS}, vitals segments before {FINE_VITALS}, segments of view ids starting with - or ~ before {RELATIVE_VIEW_IDS}, of page URLs holding U+0001 or U+0002 before {PATHLESS_URLS} and of session ids holding . or starting with ~ before {RELATIVE_SESSION_IDS}, in the layout of manifest version {MANIFEST_VERSION}"
    );
    Ok(manifest)
}

/// Whether a segment holds a value of `column` that `marked` says would read as another
/// value in the current layout. Reads that column only.
fn has_marked(path: &Path, column: &str, marked: impl Fn(&str) -> bool) -> io::Result<bool> {
    use datafusion::arrow::array::StringArray;
    use datafusion::parquet::arrow::ProjectionMask;
    use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let builder = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(path)?)
        .map_err(io::Error::other)?;
    let mask = ProjectionMask::columns(builder.parquet_schema(), [column]);
    for batch in builder
        .with_projection(mask)
        .build()
        .map_err(io::Error::other)?
    {
        let batch = batch.map_err(io::Error::other)?;
        let Some(values) = batch
            .column_by_name(column)
            .and_then(|c| c.as_any().downcast_ref::<StringArray>())
        else {
            return Ok(false);
        };
        if values.iter().flatten().any(&marked) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The batch with its vital values multiplied by `factor`.
fn rescale(batch: &RecordBatch, table: Table, factor: i64) -> io::Result<RecordBatch> {
    let names: Vec<String> = match table {
        Table::Vitals => vec!["value".to_owned()],
        _ => FOLDED
            .iter()
            .map(|f| format!("{}__value", f.prefix))
            .collect(),
    };
    let schema = batch.schema();
    let columns = schema
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(field, column)| -> ArrayRef {
            let values = column.as_any().downcast_ref::<Int64Array>();
            match values {
                Some(values) if names.iter().any(|n| n == field.name()) => Arc::new(
                    values
                        .iter()
                        .map(|v| v.map(|v| v.saturating_mul(factor)))
                        .collect::<Int64Array>(),
                ),
                _ => column.clone(),
            }
        })
        .collect();
    RecordBatch::try_new(schema, columns).map_err(io::Error::other)
}
