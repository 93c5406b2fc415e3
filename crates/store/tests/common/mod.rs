//! Helpers of the store's tests that build data folders as earlier releases left them, and
//! read a column as segments store it and as scans give it back.

// Each test binary includes this module and uses some of its helpers.
#![allow(dead_code)]

use datafusion::arrow::array::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use std::path::Path;

/// Rewrites the segment at `path` with each batch turned by `f` (same schema), as a plain
/// Parquet file.
pub fn rewrite_segment(path: &Path, f: impl Fn(&RecordBatch) -> RecordBatch) {
    let batches = vigil_store::read_parquet(path).unwrap();
    let schema = batches[0].schema();
    let mut writer =
        ArrowWriter::try_new(std::fs::File::create(path).unwrap(), schema, None).unwrap();
    for b in &batches {
        writer.write(&f(b)).unwrap();
    }
    writer.close().unwrap();
}

/// Rewrites a segment as a release before manifest version 6 wrote it: session and view
/// ids, page URLs and view timings whole.
pub fn to_whole_ids_and_timings(path: &Path) {
    rewrite_segment(path, |b| {
        let b = vigil_store::session_ids::whole(b).unwrap();
        let b = vigil_store::view_ids::absolute(&b).unwrap();
        let b = vigil_store::page_urls::whole(&b).unwrap();
        if b.schema().index_of("lcp__value").is_ok() {
            vigil_store::deltas::decode(&b).unwrap()
        } else {
            b
        }
    });
}

/// Sets the version of the data folder's manifest (written by this build).
pub fn set_manifest_version(dir: &Path, version: u32) {
    let manifest = dir.join("manifest.json");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        text.replacen(
            &format!("\"version\":{}", vigil_store::MANIFEST_VERSION),
            &format!("\"version\":{version}"),
            1,
        ),
    )
    .unwrap();
}

/// Closes `store` and leaves its folder as a release of manifest `version` wrote it (every
/// segment with whole ids, URLs and timings, [`to_whole_ids_and_timings`]); the store
/// opened on it again, which upgrades it.
pub fn reopened_as_version(
    dir: &Path,
    store: vigil_store::Store,
    version: u32,
) -> vigil_store::Store {
    let files: Vec<String> = store.segments().iter().map(|s| s.path.clone()).collect();
    drop(store);
    for f in &files {
        to_whole_ids_and_timings(&dir.join(f));
    }
    set_manifest_version(dir, version);
    vigil_store::Store::open(dir, vigil_store::StoreConfig::default()).unwrap()
}

/// The values of a string column over `batches`, sorted (nulls left out).
pub fn sorted_strings(batches: &[RecordBatch], column: &str) -> Vec<String> {
    use datafusion::arrow::array::AsArray;
    let mut out: Vec<String> = batches
        .iter()
        .flat_map(|b| {
            let c = b.column_by_name(column).unwrap().as_string::<i32>();
            c.iter().flatten().map(str::to_owned).collect::<Vec<_>>()
        })
        .collect();
    out.sort();
    out
}

/// A column's values as project 1's segments of `table` store them, sorted.
pub fn stored_strings(
    store: &vigil_store::Store,
    dir: &Path,
    table: vigil_store::Table,
    column: &str,
) -> Vec<String> {
    let batches: Vec<RecordBatch> = store
        .segments()
        .iter()
        .filter(|s| s.table == table.name())
        .flat_map(|s| vigil_store::read_parquet(&dir.join(&s.path)).unwrap())
        .collect();
    sorted_strings(&batches, column)
}

/// A column's values as project 1's rows of `table` scan, sorted.
pub fn scanned_strings(
    store: &vigil_store::Store,
    table: vigil_store::Table,
    column: &str,
) -> Vec<String> {
    sorted_strings(&store.scan_blocking(1, table, 0, i64::MAX).unwrap(), column)
}
