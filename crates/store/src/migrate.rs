//! Segments written in an earlier layout, rewritten in this one when the store opens.
//!
//! Manifest versions 0 to 2 stored a vital's value at 0.001 (`vitals.value` and the view
//! rows' folded `{vital}__value`); version 3 stores it at 0.0001. Versions before 7 stored
//! every view timing whole; version 7 stores some as differences ([`crate::deltas`]). The
//! affected segments are rewritten before anything reads them, so every later path
//! (queries, compaction, erasure) sees one layout. New files are written first and the manifest is replaced once, so a
//! crash leaves either the old folder or the new one; the files the winner does not name
//! are removed as orphans at the next start.

use crate::flusher::segment_rel_path;
use crate::fold::FOLDED;
use crate::manifest::{MANIFEST_VERSION, Manifest};
use crate::segment::{SegmentWriter, read_segment};
use datafusion::arrow::array::{Array, ArrayRef, Int64Array, RecordBatch};
use std::io;
use std::path::Path;
use std::sync::Arc;
use vigil_model::Table;

/// The first manifest version with vitals at the current scale.
const FINE_VITALS: u32 = 3;
/// The scale of a vital's value before [`FINE_VITALS`].
const OLD_VITAL_SCALE: i64 = 1000;

/// The first manifest version with view timings stored as differences.
const TIMING_DELTAS: u32 = 7;

/// Rewrites what an older layout left; returns the manifest to open with.
pub(crate) fn upgrade(dir: &Path, mut manifest: Manifest) -> io::Result<Manifest> {
    let from = manifest.version;
    if from >= TIMING_DELTAS || manifest.files.is_empty() {
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
        let table = match file.table.as_str() {
            "vitals" if from < FINE_VITALS => Table::Vitals,
            "views" => Table::Views,
            _ => continue,
        };
        let rel = segment_rel_path(file.project, &file.day, table, next_id);
        next_id += 1;
        // Written a batch at a time, without a concatenated copy of the segment.
        let mut writer =
            SegmentWriter::create(&dir.join(&rel), table, crate::fold::stored_schema(table))?;
        for batch in read_segment(&dir.join(&file.path), table)? {
            let mut batch = batch;
            if from < FINE_VITALS {
                batch = rescale(&batch, table, factor)?;
            }
            if table == Table::Views {
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
        "rewrote view segments (and before version {FINE_VITALS} vitals segments) in the layout of manifest version {MANIFEST_VERSION}"
    );
    Ok(manifest)
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
