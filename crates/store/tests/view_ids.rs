//! Segments keep a view id named after its session (`{session}-…`) as the part after
//! the session id; every view id a client sends comes back whole from scans after a flush,
//! a merge, a restart and an erasure.

mod common;

use vigil_model::{Common, IngestBatch, Rows};
use vigil_protocol::{Attribution, Event, EventBody, View, Vital};
use vigil_store::{Erasure, Store, StoreConfig, Table};

const T0: i64 = 1_796_126_400_000;

fn view(ts: i64, id: &str) -> Event {
    Event {
        ts,
        view_id: Some(id.into()),
        page_url: None,
        body: EventBody::View(View::default()),
    }
}

fn lcp(ts: i64, id: &str) -> Event {
    Event {
        ts,
        view_id: Some(id.into()),
        page_url: None,
        body: EventBody::Vital(Vital {
            name: "LCP".into(),
            value: 1830.0,
            rating: None,
            attribution: Attribution::default(),
        }),
    }
}

/// One session's views, each with its LCP (folded into the view row at flush).
fn session(session: &str, views: &[&str], t: i64) -> Rows {
    IngestBatch {
        errors: Vec::new(),
        project: 1,
        common: Common {
            session_id: session.into(),
            view_id: views[0].into(),
            page_url: "https://shop.example.com/".into(),
            ..Common::default()
        },
        events: views
            .iter()
            .enumerate()
            .flat_map(|(i, v)| {
                let at = t + i as i64 * 1000;
                [view(at, v), lcp(at + 500, v)]
            })
            .collect(),
    }
    .to_rows(usize::MAX)
    .unwrap()
}

fn scanned(store: &Store, table: Table) -> Vec<String> {
    common::scanned_strings(store, table, "view_id")
}

/// The view ids as the view segments store them.
fn stored(store: &Store, dir: &std::path::Path) -> Vec<String> {
    common::stored_strings(store, dir, Table::Views, "view_id")
}

#[test]
fn view_ids_are_stored_after_their_session_and_read_whole() {
    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig {
        compact_min_files: 2,
        ..StoreConfig::default()
    };
    let store = Store::open(dir.path(), config.clone()).unwrap();
    let agent = "4f3a9c0d1e2b5a67";
    store
        .append_blocking(session(
            agent,
            &[&format!("{agent}-0a1b2c3d"), &format!("{agent}-ffffffff")],
            T0,
        ))
        .unwrap();
    // Ids a client may send that only look relative, or are of another session.
    store
        .append_blocking(session(
            "other",
            &["-0a1b2c3d", "~x", &format!("{agent}x-0a1b2c3d")],
            T0 + 10_000,
        ))
        .unwrap();
    let views = scanned(&store, Table::Views);
    let vitals = scanned(&store, Table::Vitals);
    assert_eq!(views.len(), 5);
    assert_eq!(vitals, views, "each view has its LCP");

    store.flush_blocking().unwrap();
    assert_eq!(
        stored(&store, dir.path()),
        [
            "-0a1b2c3d",
            "-ffffffff",
            "4f3a9c0d1e2b5a67x-0a1b2c3d",
            "~-0a1b2c3d",
            "~~x"
        ],
        "the agent's ids are stored after their session"
    );
    assert_eq!(
        scanned(&store, Table::Views),
        views,
        "views after the flush"
    );
    assert_eq!(scanned(&store, Table::Vitals), vitals, "folded LCPs");

    // A second flush, and the merge copies stored ids as they are.
    let next = "0000000000000001";
    store
        .append_blocking(session(next, &[&format!("{next}-12345678")], T0 + 20_000))
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
    let mut all = views.clone();
    all.push(format!("{next}-12345678"));
    all.sort();
    assert_eq!(scanned(&store, Table::Views), all, "after the merge");
    drop(store);

    let store = Store::open(dir.path(), config).unwrap();
    assert_eq!(scanned(&store, Table::Views), all, "after a restart");
    store
        .erase_blocking(1, Erasure::Session("other".into()))
        .unwrap();
    let mut left = vec![
        format!("{agent}-0a1b2c3d"),
        format!("{agent}-ffffffff"),
        format!("{next}-12345678"),
    ];
    left.sort();
    assert_eq!(scanned(&store, Table::Views), left, "after an erasure");
    assert_eq!(scanned(&store, Table::Vitals), left);
}

/// A folder from before version 6 holds view ids as they came, some starting with `-` or
/// `~`: they are escaped when the store opens it, and read back the same.
#[test]
fn view_ids_of_an_older_folder_that_look_relative_read_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
    let agent = "4f3a9c0d1e2b5a67";
    store
        .append_blocking(session(agent, &[&format!("{agent}-0a1b2c3d")], T0))
        .unwrap();
    store
        .append_blocking(session("other", &["-0a1b2c3d", "~x"], T0 + 10_000))
        .unwrap();
    // An LCP of a view this flush does not hold stays a vitals row, with its odd id.
    let late = IngestBatch {
        errors: Vec::new(),
        project: 1,
        common: Common {
            session_id: "other".into(),
            view_id: "-late".into(),
            ..Common::default()
        },
        events: vec![lcp(T0 + 20_500, "-late")],
    }
    .to_rows(usize::MAX)
    .unwrap();
    store.append_blocking(late).unwrap();
    store.flush_blocking().unwrap();
    let views = scanned(&store, Table::Views);
    let vitals = scanned(&store, Table::Vitals);
    assert_eq!(vitals.len(), views.len() + 1);
    assert_eq!(store.segments().len(), 2, "a views and a vitals segment");
    let store = common::reopened_as_version(dir.path(), store, 5);
    assert_eq!(
        scanned(&store, Table::Views),
        views,
        "views after the upgrade"
    );
    assert_eq!(
        scanned(&store, Table::Vitals),
        vitals,
        "vitals after the upgrade"
    );
    assert_eq!(
        stored(&store, dir.path()),
        ["-0a1b2c3d", "~-0a1b2c3d", "~~x"],
        "rewritten in this version's form"
    );
}

/// The browser agent's ids: a session named after its start (ms as hex, then 40 random
/// bits), its first view after it (`-0` and 16 random bits). Segments keep the session id
/// as its distance before the row's time and its random part ([`vigil_store::session_ids`])
/// and front-code view ids, so each id costs about its random bits: here 20,000 one-view
/// sessions 60 ms apart (a busy site) take under 6 bytes a row for the session id (measured
/// 5.50; 10 random hex characters are 5 bytes; front-coded whole, 6.56; 16 random hex
/// characters took 9.0) and under 3 for the view id (2.38).
#[test]
fn agent_ids_started_in_time_order_take_little_more_than_their_random_bits() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
    let mut random = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        random ^= random << 13;
        random ^= random >> 7;
        random ^= random << 17;
        random
    };
    let sessions = 20_000;
    let batches: Vec<Rows> = (0..sessions)
        .map(|i| {
            let start = T0 + i * 60;
            let sid = format!("{start:011x}{:010x}", next() >> 24);
            let view = format!("{sid}-0{:04x}", next() >> 48);
            session(&sid, &[&view], start)
        })
        .collect();
    // Four flushes, which a merge makes one segment: what a day's rows become (a flush's
    // segment is LZ4, kept for the merge; the merged one zstd).
    let mut batches = batches.into_iter();
    for _ in 0..4 {
        store
            .append_all_blocking(batches.by_ref().take(sessions as usize / 4).collect())
            .unwrap();
        store.flush_blocking().unwrap();
    }
    let views: Vec<_> = store
        .segments()
        .into_iter()
        .filter(|s| s.table == "views")
        .collect();
    assert_eq!(views.len(), 1, "the flushes were merged");
    let mut bytes = std::collections::BTreeMap::new();
    for segment in &views {
        for (column, b) in vigil_store::column_bytes(&dir.path().join(&segment.path)).unwrap() {
            *bytes.entry(column).or_insert(0u64) += b;
        }
    }
    let per_row = |column: &str| bytes[column] as f64 / sessions as f64;
    assert!(
        per_row("session_id") < 6.0,
        "session_id: {:.2} bytes a row",
        per_row("session_id")
    );
    assert!(
        per_row("view_id") < 3.0,
        "view_id: {:.2} bytes a row",
        per_row("view_id")
    );
    // Read back whole.
    let views = scanned(&store, Table::Views);
    assert_eq!(views.len(), sessions as usize);
    assert!(views.iter().all(|v| v.len() == 21 + 6));
}
