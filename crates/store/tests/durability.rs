//! The store on a real disk: restarts replay the log exactly once, flushes and compactions
//! keep every row exactly once, retention drops whole days. A model test drives random
//! sequences of appends, flushes and restarts and compares the store with a plain list.

use datafusion::arrow::array::{AsArray, RecordBatch};
use proptest::prelude::*;
use std::path::Path;
use std::time::Duration;
use vigil_model::{Common, IngestBatch, Rows};
use vigil_protocol::{Custom, Event, EventBody};
use vigil_store::{Store, StoreConfig, Table, read_parquet};

const DAY: i64 = 86_400_000;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn batch(project: u32, names: &[String], ts: i64) -> Rows {
    IngestBatch {
        errors: Vec::new(),
        project,
        common: Common {
            session_id: "s".into(),
            ..Common::default()
        },
        events: names
            .iter()
            .map(|n| Event {
                ts,
                view_id: None,
                page_url: None,
                body: EventBody::Custom(Custom {
                    name: n.clone().into(),
                    ..Custom::default()
                }),
            })
            .collect(),
    }
    .to_rows(usize::MAX)
    .unwrap()
}

fn names_in(batches: &[RecordBatch]) -> Vec<String> {
    let mut out = Vec::new();
    for b in batches {
        let col = b.column_by_name("name").unwrap().as_string::<i32>();
        out.extend(col.iter().map(|v| v.unwrap().to_owned()));
    }
    out
}

/// Every custom event name the store holds for a project, from segments and memory.
fn stored_names(store: &Store, project: u32) -> Vec<String> {
    let snap = store.snapshot(project, Table::CustomEvents, i64::MIN, i64::MAX);
    let mut names = names_in(&snap.batches);
    for f in &snap.files {
        names.extend(names_in(&read_parquet(f).unwrap()));
    }
    names.sort();
    names
}

fn config() -> StoreConfig {
    StoreConfig {
        compact_min_files: 3,
        flush_interval: Duration::from_secs(3600),
        ..StoreConfig::default()
    }
}

#[test]
fn restart_replays_the_log_once_and_flush_empties_it() {
    let dir = tempfile::tempdir().unwrap();
    let names: Vec<String> = (0..10).map(|i| format!("e{i}")).collect();
    {
        let store = Store::open(dir.path(), config()).unwrap();
        store
            .append_blocking(batch(1, &names[..5], now_ms()))
            .unwrap();
        store
            .append_blocking(batch(1, &names[5..], now_ms()))
            .unwrap();
    }
    let store = Store::open(dir.path(), config()).unwrap();
    assert_eq!(stored_names(&store, 1), names);
    assert!(store.segments().is_empty());
    store.flush_blocking().unwrap();
    assert_eq!(stored_names(&store, 1), names);
    drop(store);
    let store = Store::open(dir.path(), config()).unwrap();
    assert_eq!(stored_names(&store, 1), names, "after flush and restart");
    assert_eq!(
        store
            .snapshot(1, Table::CustomEvents, 0, i64::MAX)
            .batches
            .len(),
        0,
        "log was not replayed twice"
    );
    let logs = std::fs::read_dir(dir.path().join("wal")).unwrap().count();
    assert_eq!(logs, 1, "flushed log segments are deleted");
}

/// Rows in memory, their size and the frozen memtables, as `/metrics` reads them.
fn memory_gauges(store: &Store) -> (u64, u64, u64) {
    let m = store.metrics();
    let load = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
    (
        load(&m.memtable_rows),
        load(&m.memtable_bytes),
        load(&m.frozen_memtables),
    )
}

/// `vigil_store_memtable_rows` counted the open memtable only: rows replayed from the log at
/// start-up and a frozen memtable the flusher could not write yet both showed as 0, so an
/// operator could see neither flushes falling behind nor an instance with rows left in memory.
#[test]
fn memory_gauges_count_replayed_and_frozen_rows_until_they_are_in_parquet() {
    let dir = tempfile::tempdir().unwrap();
    let names: Vec<String> = (0..10).map(|i| format!("g{i}")).collect();
    let small = StoreConfig {
        flush_rows: 8,
        ..config()
    };
    {
        let store = Store::open(dir.path(), config()).unwrap();
        store
            .append_blocking(batch(1, &names[..5], now_ms()))
            .unwrap();
        let (rows, bytes, frozen) = memory_gauges(&store);
        assert_eq!((rows, frozen), (5, 0));
        assert!(bytes > 0);
    }
    let segments = dir.path().join("segments");
    let store = Store::open(dir.path(), small).unwrap();
    assert_eq!(memory_gauges(&store).0, 5, "the rows replayed from the log");
    // A file where the segments folder was: the flush of the next memtable fails and is
    // retried every 5 s, its rows held in memory meanwhile.
    std::fs::remove_dir_all(&segments).unwrap();
    std::fs::write(&segments, b"").unwrap();
    store
        .append_blocking(batch(1, &names[5..], now_ms()))
        .unwrap();
    let waited = |what: &str, want: fn((u64, u64, u64)) -> bool| {
        let end = std::time::Instant::now() + Duration::from_secs(30);
        while !want(memory_gauges(&store)) {
            assert!(
                std::time::Instant::now() < end,
                "{what}: {:?}",
                memory_gauges(&store)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    waited("the memtable frozen at 8 rows", |(_, _, frozen)| {
        frozen == 1
    });
    let (rows, bytes, _) = memory_gauges(&store);
    assert_eq!(rows, 10, "the frozen memtable's rows are still in memory");
    assert!(bytes > 0);
    std::fs::remove_file(&segments).unwrap();
    std::fs::create_dir(&segments).unwrap();
    waited("the retried flush", |gauges| gauges == (0, 0, 0));
    assert_eq!(stored_names(&store, 1), names);
}

#[test]
fn compaction_merges_small_segments_and_keeps_every_row() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), config()).unwrap();
    let mut all = Vec::new();
    for round in 0..5 {
        let names: Vec<String> = (0..20).map(|i| format!("r{round}-{i}")).collect();
        store.append_blocking(batch(1, &names, now_ms())).unwrap();
        store.flush_blocking().unwrap();
        all.extend(names);
    }
    all.sort();
    let segments: Vec<_> = store
        .segments()
        .into_iter()
        .filter(|s| s.table == "custom_events")
        .collect();
    assert!(
        segments.len() < 3,
        "small segments were not compacted: {}",
        segments.len()
    );
    assert_eq!(stored_names(&store, 1), all);
    assert!(
        store
            .metrics()
            .compactions
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 1
    );
}

/// Anyone with a public key can make a day of many small segments. Compaction read all of
/// a day's small segments of a table into memory at once (1.6 GB of RSS at 5M events); it
/// now merges at most 8 at a time, reading each a few thousand rows at a time.
#[test]
fn a_flood_of_small_segments_is_compacted_a_few_at_a_time_and_keeps_every_row() {
    let dir = tempfile::tempdir().unwrap();
    let mut all = Vec::new();
    {
        let no_compaction = StoreConfig {
            compact_min_files: 1_000,
            ..config()
        };
        let store = Store::open(dir.path(), no_compaction).unwrap();
        for round in 0..40 {
            let names: Vec<String> = (0..5).map(|i| format!("f{round:02}-{i}")).collect();
            store.append_blocking(batch(1, &names, now_ms())).unwrap();
            store.flush_blocking().unwrap();
            all.extend(names);
        }
        let small = store
            .segments()
            .into_iter()
            .filter(|s| s.table == "custom_events");
        assert_eq!(small.count(), 40);
    }
    all.sort();
    let store = Store::open(dir.path(), config()).unwrap();
    store.flush_blocking().unwrap();
    let segments = store
        .segments()
        .into_iter()
        .filter(|s| s.table == "custom_events");
    assert!(segments.count() < 3, "the flood was not compacted");
    let merges = store
        .metrics()
        .compactions
        .load(std::sync::atomic::Ordering::Relaxed);
    // 40 segments down to fewer than 3, 8 at most per merge: at least 6 merges.
    assert!(
        merges >= 6,
        "{merges} merges: more than 8 segments went into one"
    );
    assert_eq!(stored_names(&store, 1), all);
}

#[test]
fn retention_drops_old_days_of_one_project_only() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), config()).unwrap();
    let now = now_ms();
    store
        .append_blocking(batch(1, &["old".into()], now - 10 * DAY))
        .unwrap();
    store
        .append_blocking(batch(1, &["new".into()], now))
        .unwrap();
    store
        .append_blocking(batch(2, &["other-old".into()], now - 10 * DAY))
        .unwrap();
    store.flush_blocking().unwrap();
    store
        .append_blocking(batch(1, &["old-in-memory".into()], now - 10 * DAY))
        .unwrap();
    store.apply_retention(1, 7).unwrap();
    assert_eq!(stored_names(&store, 1), vec!["new".to_owned()]);
    assert_eq!(stored_names(&store, 2), vec!["other-old".to_owned()]);
    assert!(
        store
            .segments()
            .iter()
            .all(|s| !(s.project == 1 && s.day < vigil_store::day_of(now - 7 * DAY)))
    );
}

#[test]
fn projects_and_days_are_separate_folders() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), config()).unwrap();
    let now = now_ms();
    store.append_blocking(batch(1, &["a".into()], now)).unwrap();
    store
        .append_blocking(batch(2, &["b".into()], now - DAY))
        .unwrap();
    store.flush_blocking().unwrap();
    for s in store.segments() {
        assert!(
            s.path
                .starts_with(&format!("segments/p{}/{}/", s.project, s.day)),
            "{}",
            s.path
        );
        assert!(Path::new(dir.path()).join(&s.path).is_file());
    }
    assert_eq!(stored_names(&store, 1), vec!["a".to_owned()]);
    assert_eq!(stored_names(&store, 2), vec!["b".to_owned()]);
}

#[derive(Debug, Clone)]
enum Op {
    Append(u8, u8),
    Flush,
    Restart,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1u8..3, 1u8..6).prop_map(|(p, n)| Op::Append(p, n)),
        1 => Just(Op::Flush),
        1 => Just(Op::Restart),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Whatever the order of appends, flushes (with compaction) and restarts, the store
    /// holds exactly what was appended, per project.
    #[test]
    fn store_matches_a_plain_model(ops in proptest::collection::vec(op(), 1..14)) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path(), config()).unwrap();
        let mut model: [Vec<String>; 3] = Default::default();
        let mut counter = 0;
        for op in ops {
            match op {
                Op::Append(p, n) => {
                    let names: Vec<String> = (0..n).map(|_| { counter += 1; format!("n{counter:05}") }).collect();
                    store.append_blocking(batch(u32::from(p), &names, now_ms() - i64::from(counter % 3) * DAY)).unwrap();
                    model[usize::from(p)].extend(names);
                }
                Op::Flush => store.flush_blocking().unwrap(),
                Op::Restart => {
                    drop(store);
                    store = Store::open(dir.path(), config()).unwrap();
                }
            }
        }
        for p in 1..3u32 {
            let mut want = model[p as usize].clone();
            want.sort();
            prop_assert_eq!(stored_names(&store, p), want);
        }
    }
}
