//! Segments written before a table gained columns (the checked-in data folder of the first
//! release lacks `sample_rate`, `tbt` and `tti`) still merge with new ones: compaction and
//! erasure read every segment in the table's current schema.

use std::path::{Path, PathBuf};
use vigil_model::conformance::session_batch;
use vigil_store::{Erasure, Store, StoreConfig, Table};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn old_store() -> tempfile::TempDir {
    let source =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
            .join("../vigil/tests/fixtures/data-v1/store");
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&source, dir.path());
    dir
}

/// The first release's views of 2026-12-01 (a day its segments hold).
const OLD_DAY_TS: i64 = 1_796_126_400_000;

fn views(store: &Store) -> usize {
    store
        .scan_blocking(1, Table::Views, 0, i64::MAX)
        .unwrap()
        .iter()
        .map(|b| b.num_rows())
        .sum()
}

#[test]
fn old_and_new_segments_of_one_day_compact_together() {
    let dir = old_store();
    let config = StoreConfig {
        compact_min_files: 2,
        ..StoreConfig::default()
    };
    let store = Store::open(dir.path(), config).unwrap();
    store.flush_blocking().unwrap();
    let before = views(&store);
    let day = vigil_store::day_of(OLD_DAY_TS);
    let old_files = |s: &Store| {
        s.segments()
            .iter()
            .filter(|f| f.table == "views" && f.day == day)
            .count()
    };
    assert_eq!(
        old_files(&store),
        1,
        "the fixture has one views segment that day"
    );
    store
        .append_blocking(session_batch(1, "s-new", "nina", OLD_DAY_TS, 3))
        .unwrap();
    // The flush writes a second views segment for the day; the barrier compacts the two.
    store.flush_blocking().unwrap();
    assert_eq!(
        old_files(&store),
        1,
        "the day's views were compacted into one segment"
    );
    assert_eq!(views(&store), before + 3);
}

#[test]
fn erasure_rewrites_segments_written_before_the_new_columns() {
    let dir = old_store();
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
    store.flush_blocking().unwrap();
    let all = store.scan_blocking(1, Table::Views, 0, i64::MAX).unwrap();
    let session = all
        .iter()
        .find_map(|b| {
            let ids = b.column_by_name("session_id")?;
            let ids = ids
                .as_any()
                .downcast_ref::<datafusion::arrow::array::StringArray>()?;
            Some(ids.value(0).to_owned())
        })
        .unwrap();
    let before = views(&store);
    let report = store
        .erase_blocking(1, Erasure::Session(session.clone()))
        .unwrap();
    assert!(
        report.rows_removed > 0 && report.files_rewritten > 0,
        "{report:?}"
    );
    assert!(views(&store) < before);
}
