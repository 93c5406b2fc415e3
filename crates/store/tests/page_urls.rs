//! Segments keep a page URL without its path (the row has the path); every page URL a
//! client sends comes back whole from scans after a flush, a merge and a restart, and an
//! older folder whose URLs hold the marks of that form reads the same after the upgrade.

mod common;

use vigil_model::{Common, IngestBatch, Rows};
use vigil_protocol::{ErrorEvent, Event, EventBody, View};
use vigil_store::{Store, StoreConfig, Table};

const T0: i64 = 1_796_126_400_000;

/// URLs a client may send: the usual ones, and ones holding U+0001 or starting with U+0002,
/// the marks of the stored form.
const URLS: [&str; 6] = [
    "https://shop.example.com/",
    "https://shop.example.com/cart?from=/cart#top",
    "https://shop.example.com",
    "https://shop.example.com/a\u{1}b",
    "\u{2}https://shop.example.com/c",
    "not a url",
];

/// A view and an error on each URL, `t` on.
fn pages(t: i64) -> Vec<Rows> {
    URLS.iter()
        .enumerate()
        .map(|(i, url)| {
            let at = t + i as i64 * 1000;
            IngestBatch {
                errors: Vec::new(),
                project: 1,
                common: Common {
                    session_id: format!("s{i}").into(),
                    view_id: format!("s{i}-v").into(),
                    page_url: (*url).into(),
                    ..Common::default()
                },
                events: vec![
                    Event {
                        ts: at,
                        view_id: None,
                        page_url: None,
                        body: EventBody::View(View::default()),
                    },
                    Event {
                        ts: at + 10,
                        view_id: None,
                        page_url: None,
                        body: EventBody::Error(ErrorEvent {
                            message: "boom".into(),
                            ..ErrorEvent::default()
                        }),
                    },
                ],
            }
            .to_rows(usize::MAX)
            .unwrap()
        })
        .collect()
}

fn scanned(store: &Store, table: Table) -> Vec<String> {
    common::scanned_strings(store, table, "page_url")
}

/// The page URLs as the segments of `table` store them.
fn stored(store: &Store, dir: &std::path::Path, table: Table) -> Vec<String> {
    common::stored_strings(store, dir, table, "page_url")
}

#[test]
fn page_urls_are_stored_without_their_path_and_read_whole() {
    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig {
        compact_min_files: 2,
        ..StoreConfig::default()
    };
    let store = Store::open(dir.path(), config.clone()).unwrap();
    store.append_all_blocking(pages(T0)).unwrap();
    let mut expected: Vec<String> = URLS.iter().map(|u| u.to_string()).collect();
    expected.sort();
    assert_eq!(scanned(&store, Table::Views), expected);
    assert_eq!(scanned(&store, Table::Errors), expected);

    store.flush_blocking().unwrap();
    for table in [Table::Views, Table::Errors] {
        assert_eq!(
            stored(&store, dir.path(), table),
            [
                "\u{1}",
                "\u{2}\u{2}https://shop.example.com/c",
                "\u{2}https://shop.example.com/a\u{1}b",
                "https://shop.example.com",
                "https://shop.example.com\u{1}",
                "https://shop.example.com\u{1}?from=/cart#top",
            ],
            "{table:?}: stored without their path, the marked ones escaped"
        );
        assert_eq!(
            scanned(&store, table),
            expected,
            "{table:?} after the flush"
        );
    }

    // A second flush, and the merge copies stored URLs as they are.
    store.append_all_blocking(pages(T0 + 60_000)).unwrap();
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
    let twice: Vec<String> = {
        let mut v: Vec<String> = expected
            .iter()
            .flat_map(|u| [u.clone(), u.clone()])
            .collect();
        v.sort();
        v
    };
    assert_eq!(scanned(&store, Table::Views), twice, "after the merge");
    drop(store);

    let store = Store::open(dir.path(), config).unwrap();
    assert_eq!(scanned(&store, Table::Views), twice, "after a restart");
    assert_eq!(scanned(&store, Table::Errors), twice);
}

/// A folder from before version 8 holds page URLs whole, some with the marks of the
/// pathless form: the segments holding them are rewritten when the store opens it, and
/// every URL reads back the same.
#[test]
fn page_urls_of_an_older_folder_that_hold_the_marks_read_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
    store.append_all_blocking(pages(T0)).unwrap();
    store.flush_blocking().unwrap();
    let views = scanned(&store, Table::Views);
    let errors = scanned(&store, Table::Errors);
    let store = common::reopened_as_version(dir.path(), store, 7);
    assert_eq!(
        scanned(&store, Table::Views),
        views,
        "views after the upgrade"
    );
    assert_eq!(
        scanned(&store, Table::Errors),
        errors,
        "errors after the upgrade"
    );
    assert!(
        stored(&store, dir.path(), Table::Errors).contains(&"https://shop.example.com\u{1}".into()),
        "rewritten in this version's form"
    );
    drop(store);
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
    assert_eq!(
        scanned(&store, Table::Views),
        views,
        "views after a restart"
    );
}
