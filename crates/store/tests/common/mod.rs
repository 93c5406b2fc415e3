//! Helpers of the store's tests that build data folders as earlier releases left them.

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
