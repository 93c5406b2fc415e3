//! Segments keep a session id of the browser agent's form (its start in hex, then 40
//! random bits) as its distance before the row's time and its random part; every session id
//! a client sends comes back whole from scans after a flush, a merge and a restart, an
//! erasure by a session id finds its rows, and an older folder whose ids hold the marks of
//! that form reads the same after the upgrade.

mod common;

use vigil_model::{Common, IngestBatch, Rows};
use vigil_protocol::{Event, EventBody, View};
use vigil_store::{Erasure, Store, StoreConfig, Table};

const T0: i64 = 1_796_126_400_000;

/// An agent's session id started at `start`.
fn agent_id(start: i64, random: u64) -> String {
    format!("{start:011x}{random:010x}")
}

/// Views of one session at these times.
fn session(id: &str, times: &[i64]) -> Rows {
    IngestBatch {
        errors: Vec::new(),
        project: 1,
        common: Common {
            session_id: id.into(),
            view_id: format!("{id}-0abcd").into(),
            page_url: "https://shop.example.com/".into(),
            ..Common::default()
        },
        events: times
            .iter()
            .map(|&ts| Event {
                ts,
                view_id: None,
                page_url: None,
                body: EventBody::View(View::default()),
            })
            .collect(),
    }
    .to_rows(usize::MAX)
    .unwrap()
}

fn scanned(store: &Store) -> Vec<String> {
    common::scanned_strings(store, Table::Views, "session_id")
}

/// The session ids as the view segments store them.
fn stored(store: &Store, dir: &std::path::Path) -> Vec<String> {
    common::stored_strings(store, dir, Table::Views, "session_id")
}

/// Sessions of the agent's form (one with views a minute and an hour after its start, one
/// started after its first row's time by a skewed clock) and of other forms, some holding
/// the marks of the stored form.
fn sessions() -> (Vec<Rows>, String, String) {
    let ann = agent_id(T0 - 5, 0x9f3a0c1e2b);
    let bob = agent_id(T0 + 1_000, 0x00000000ff);
    let rows = vec![
        session(&ann, &[T0, T0 + 60_000, T0 + 3_600_000]),
        session(&bob, &[T0 + 10]),
        session("9b2f4c1e-6d3a-4f8e-b5a7-2c0d1e9f8a34", &[T0 + 20]),
        session("0.9f3a0c1e2b", &[T0 + 30]),
        session("~x", &[T0 + 40]),
    ];
    (rows, ann, bob)
}

#[test]
fn agent_session_ids_are_stored_against_their_rows_time_and_read_whole() {
    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig {
        compact_min_files: 2,
        ..StoreConfig::default()
    };
    let store = Store::open(dir.path(), config.clone()).unwrap();
    let (rows, ann, bob) = sessions();
    store.append_all_blocking(rows).unwrap();
    let whole = scanned(&store);
    assert_eq!(whole.len(), 7);

    store.flush_blocking().unwrap();
    assert_eq!(
        stored(&store, dir.path()),
        [
            "0000000000000000ff000",
            "3600005.9f3a0c1e2b",
            "5.9f3a0c1e2b",
            "60005.9f3a0c1e2b",
            "9b2f4c1e-6d3a-4f8e-b5a7-2c0d1e9f8a34",
            "~0.9f3a0c1e2b",
            "~~x",
        ]
        .map(|s| if s.starts_with("0000") {
            bob.clone()
        } else {
            s.to_owned()
        }),
        "the agent's ids as their distance and random part, the marked ones escaped; \
         one that starts after its row (a skewed clock) whole"
    );
    assert_eq!(scanned(&store), whole, "after the flush");

    // A second flush, and the merge copies stored ids as they are.
    let carl = agent_id(T0 + 7_000, 0x0123456789);
    store
        .append_blocking(session(&carl, &[T0 + 7_000]))
        .unwrap();
    store.flush_blocking().unwrap();
    assert_eq!(
        store
            .segments()
            .iter()
            .filter(|s| s.table == "views")
            .count(),
        1,
        "compaction merged the view segments"
    );
    let mut all = whole.clone();
    all.push(carl.clone());
    all.sort();
    assert_eq!(scanned(&store), all, "after the merge");
    drop(store);

    let store = Store::open(dir.path(), config).unwrap();
    assert_eq!(scanned(&store), all, "after a restart");
    // An erasure names a session by its whole id.
    let report = store
        .erase_blocking(1, Erasure::Session(ann.clone()))
        .unwrap();
    assert_eq!(report.rows_removed, 3);
    let left: Vec<String> = all.iter().filter(|s| **s != ann).cloned().collect();
    assert_eq!(scanned(&store), left, "after the erasure");
}

/// A folder from before version 9 holds session ids as they came, some with a `.` or
/// starting with `~`: the segments holding them are rewritten when the store opens it, and
/// every id reads back the same.
#[test]
fn session_ids_of_an_older_folder_that_hold_the_marks_read_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
    let (rows, _, _) = sessions();
    store.append_all_blocking(rows).unwrap();
    store.flush_blocking().unwrap();
    let whole = scanned(&store);
    let store = common::reopened_as_version(dir.path(), store, 8);
    assert_eq!(scanned(&store), whole, "after the upgrade");
    assert!(
        stored(&store, dir.path()).contains(&"~~x".to_owned()),
        "rewritten in this version's form"
    );
    drop(store);
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
    assert_eq!(scanned(&store), whole, "after a restart");
}
