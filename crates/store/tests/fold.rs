//! Vitals folded into their view rows at flush come back whole: a scan and the segments
//! after flush, compaction, erasure and a restart answer what the memtable answered, and
//! the vitals that must stay rows of their own do.

mod common;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use vigil_model::{Common, IngestBatch, Rows};
use vigil_protocol::{Attribution, Event, EventBody, NavigationTiming, View, Vital};
use vigil_store::{Erasure, Store, StoreConfig, Table};

const T0: i64 = 1_796_126_400_000;

fn vital(ts: i64, view: &str, name: &str, value: f64, attribution: Attribution) -> Event {
    Event {
        ts,
        view_id: Some(view.into()),
        page_url: None,
        body: EventBody::Vital(Vital {
            name: name.into(),
            value,
            rating: None,
            attribution,
        }),
    }
}

fn view(ts: i64, id: &str) -> Event {
    Event {
        ts,
        view_id: Some(id.into()),
        page_url: None,
        body: EventBody::View(View {
            fcp: Some(640.0),
            timing: NavigationTiming {
                dns: Some(10.0),
                tcp: Some(20.0),
                request: Some(88.5),
                ttfb: Some(120.5),
                dom_interactive: Some(700.0),
                dom_content_loaded: Some(712.5),
                dom_complete: Some(1900.0),
                load: Some(1903.25),
                ..NavigationTiming::default()
            },
            ..View::default()
        }),
    }
}

fn batch(session: &str, user: &str, events: Vec<Event>) -> Rows {
    IngestBatch {
        errors: Vec::new(),
        project: 1,
        common: Common {
            session_id: session.into(),
            view_id: format!("{session}-v1").into(),
            page_url: "https://shop.example.com/cart".into(),
            browser: "Chrome".into(),
            country: "DE".into(),
            user_id: user.into(),
            ..Common::default()
        },
        events,
    }
    .to_rows(usize::MAX)
    .unwrap()
}

/// One session's views and every kind of vital: those that fold and those that cannot.
fn session(session: &str, user: &str) -> Vec<Rows> {
    let v1 = format!("{session}-v1");
    let v2 = format!("{session}-v2");
    let lcp = Attribution {
        element: Some("img.hero".into()),
        url: Some("https://cdn.example.com/hero.jpg?sig=abc".into()),
        ttfb: Some(120.5),
        load_delay: Some(30.0),
        load_duration: Some(400.5),
        render_delay: Some(1279.0),
        ..Attribution::default()
    };
    let inp = Attribution {
        element: Some("button#buy".into()),
        event_type: Some("pointerdown".into()),
        input_delay: Some(8.0),
        processing: Some(96.5),
        presentation_delay: Some(20.0),
        script_url: Some("https://shop.example.com/app.js".into()),
        script_duration: Some(90.0),
        load_state: Some("complete".into()),
        ..Attribution::default()
    };
    vec![
        batch(
            session,
            user,
            vec![
                view(T0, &v1),
                vital(T0 + 900, &v1, "LCP", 1830.0, lcp.clone()),
                vital(T0 + 950, &v1, "FCP", 640.0, Attribution::default()),
                vital(T0 + 40, &v1, "TTFB", 120.5, Attribution::default()),
                vital(T0 + 60_000, &v1, "INP", 184.0, inp),
                vital(T0 + 61_000, &v1, "CLS", 0.084, Attribution::default()),
                // A second LCP for the same view: the first folds, this one stays a row.
                vital(T0 + 62_000, &v1, "LCP", 2100.0, Attribution::default()),
                // A vital of a view this flush does not hold.
                vital(
                    T0 + 100,
                    &format!("{session}-gone"),
                    "LCP",
                    900.0,
                    lcp.clone(),
                ),
                // Attribution the LCP columns do not keep (an event type) stays a row.
                vital(
                    T0 + 200_000,
                    &v2,
                    "LCP",
                    700.0,
                    Attribution {
                        event_type: Some("click".into()),
                        ..lcp
                    },
                ),
                view(T0 + 120_000, &v2),
            ],
        ),
        // The user signed in during the second view: its CLS differs in `user_id`.
        batch(
            session,
            &format!("{user}-signed-in"),
            vec![vital(
                T0 + 180_000,
                &v2,
                "CLS",
                0.31,
                Attribution::default(),
            )],
        ),
    ]
}

/// Rows as sorted lines of text, whatever the batching and order.
fn lines(batches: &[RecordBatch]) -> Vec<String> {
    let options = FormatOptions::default().with_null("∅");
    let mut out = Vec::new();
    for b in batches {
        let formatters: Vec<ArrayFormatter> = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).unwrap())
            .collect();
        for r in 0..b.num_rows() {
            let cells: Vec<String> = b
                .schema()
                .fields()
                .iter()
                .zip(&formatters)
                .map(|(f, v)| format!("{}={}", f.name(), v.value(r)))
                .collect();
            out.push(cells.join(" "));
        }
    }
    out.sort();
    out
}

fn scan(store: &Store, table: Table) -> Vec<String> {
    lines(&store.scan_blocking(1, table, 0, i64::MAX).unwrap())
}

fn stored_rows(store: &Store, table: Table) -> u64 {
    store
        .segments()
        .iter()
        .filter(|s| s.table == table.name())
        .map(|s| s.rows)
        .sum()
}

#[test]
fn folded_vitals_come_back_whole() {
    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig {
        compact_min_files: 2,
        ..StoreConfig::default()
    };
    let store = Store::open(dir.path(), config.clone()).unwrap();
    for rows in session("s-ann", "ann")
        .into_iter()
        .chain(session("s-bob", "bob"))
    {
        store.append_blocking(rows).unwrap();
    }
    let vitals = scan(&store, Table::Vitals);
    let views = scan(&store, Table::Views);
    assert_eq!((vitals.len(), views.len()), (18, 4));

    store.flush_blocking().unwrap();
    assert_eq!(scan(&store, Table::Vitals), vitals, "vitals after flush");
    assert_eq!(scan(&store, Table::Views), views, "views after flush");
    // Per session the LCP, FCP, TTFB, INP and CLS of the first view folded; the second
    // LCP, the LCP of an unknown view, the LCP with an event type and the CLS with another
    // user id stayed rows.
    assert_eq!(stored_rows(&store, Table::Vitals), 8);
    assert_eq!(stored_rows(&store, Table::Views), 4);

    // A second flush, then compaction merges the segments (folded columns included).
    for rows in session("s-cy", "cy") {
        store.append_blocking(rows).unwrap();
    }
    store.flush_blocking().unwrap();
    let all_vitals = scan(&store, Table::Vitals);
    assert_eq!(all_vitals.len(), 27);
    assert_eq!(
        store
            .segments()
            .iter()
            .filter(|s| s.table == "views")
            .count(),
        1,
        "compaction merged the view segments"
    );
    assert_eq!(stored_rows(&store, Table::Vitals), 12);
    drop(store);

    let store = Store::open(dir.path(), config).unwrap();
    assert_eq!(scan(&store, Table::Vitals), all_vitals, "after a restart");

    let report = store
        .erase_blocking(1, Erasure::Session("s-bob".into()))
        .unwrap();
    // Two views and nine vitals, five of them folded.
    assert_eq!(report.rows_removed, 11);
    let left: Vec<String> = all_vitals
        .iter()
        .filter(|l| !l.contains("session_id=s-bob "))
        .cloned()
        .collect();
    assert_eq!(scan(&store, Table::Vitals), left, "after erasing a session");
}

/// The stored values of one column of the view segments.
fn stored_views_column(store: &Store, dir: &std::path::Path, column: &str) -> Vec<Option<i64>> {
    use datafusion::arrow::array::{Array, Int64Array};
    store
        .segments()
        .iter()
        .filter(|s| s.table == "views")
        .flat_map(|s| vigil_store::read_parquet(&dir.join(&s.path)).unwrap())
        .flat_map(|b| {
            let c = b.column_by_name(column).unwrap();
            let c = c.as_any().downcast_ref::<Int64Array>().unwrap();
            (0..c.len())
                .map(|i| c.is_valid(i).then(|| c.value(i)))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// A store in `dir` holding one session's rows, flushed; its vitals and views as scanned.
fn flushed_session(dir: &std::path::Path) -> (Store, Vec<String>, Vec<String>) {
    let store = Store::open(dir, StoreConfig::default()).unwrap();
    for rows in session("s-ann", "ann") {
        store.append_blocking(rows).unwrap();
    }
    store.flush_blocking().unwrap();
    let vitals = scan(&store, Table::Vitals);
    let views = scan(&store, Table::Views);
    (store, vitals, views)
}

#[test]
fn view_segments_of_whole_timings_are_rewritten_when_the_store_opens() {
    let dir = tempfile::tempdir().unwrap();
    let (store, vitals, views) = flushed_session(dir.path());
    // Stored as differences: the FCP vital is the view's FCP, DOMContentLoaded ends 12.5 ms
    // after the DOM is interactive, LCP's parts add up to it.
    assert_eq!(
        stored_views_column(&store, dir.path(), "fcp__value"),
        [Some(0), None]
    );
    assert_eq!(
        stored_views_column(&store, dir.path(), "dom_content_loaded"),
        [Some(125), Some(125)]
    );
    assert_eq!(
        stored_views_column(&store, dir.path(), "lcp__render_delay"),
        [Some(0), None]
    );
    // The request began 2 ms after the connection was up.
    assert_eq!(
        stored_views_column(&store, dir.path(), "request"),
        [Some(-20), Some(-20)]
    );
    // The folder as manifest version 6 had it.
    let store = common::reopened_as_version(dir.path(), store, 6);
    assert_eq!(
        scan(&store, Table::Vitals),
        vitals,
        "vitals after the upgrade"
    );
    assert_eq!(scan(&store, Table::Views), views, "views after the upgrade");
    assert_eq!(
        stored_views_column(&store, dir.path(), "dom_content_loaded"),
        [Some(125), Some(125)],
        "rewritten as differences"
    );
    drop(store);
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
    assert_eq!(scan(&store, Table::Views), views, "opened again");
}

/// Rewrites a segment as a release before manifest version 3 wrote it: a vital's value at
/// 0.001 (`vitals.value`, and `{vital}__value` folded into view rows), whole view ids and
/// timings.
fn to_old_vital_scale(path: &std::path::Path) {
    common::to_whole_ids_and_timings(path);
    use datafusion::arrow::array::{Array, ArrayRef, Int64Array};
    use datafusion::parquet::arrow::ArrowWriter;
    use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use std::sync::Arc;
    let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(path).unwrap())
        .unwrap()
        .build()
        .unwrap();
    let batches: Vec<RecordBatch> = reader.map(Result::unwrap).collect();
    let schema = batches[0].schema();
    let mut writer =
        ArrowWriter::try_new(std::fs::File::create(path).unwrap(), schema.clone(), None).unwrap();
    for b in &batches {
        let columns: Vec<ArrayRef> = schema
            .fields()
            .iter()
            .zip(b.columns())
            .map(|(f, c)| -> ArrayRef {
                if f.name() == "value" || f.name().ends_with("__value") {
                    let v = c.as_any().downcast_ref::<Int64Array>().unwrap();
                    assert!(v.iter().flatten().all(|x| x % 10 == 0), "{}", f.name());
                    Arc::new(v.iter().map(|x| x.map(|x| x / 10)).collect::<Int64Array>())
                } else {
                    c.clone()
                }
            })
            .collect();
        writer
            .write(&RecordBatch::try_new(schema.clone(), columns).unwrap())
            .unwrap();
    }
    writer.close().unwrap();
}

#[test]
fn vitals_stored_at_the_old_scale_are_rewritten_when_the_store_opens() {
    let dir = tempfile::tempdir().unwrap();
    let (store, vitals, views) = flushed_session(dir.path());
    let old_files: Vec<String> = store
        .segments()
        .iter()
        .filter(|s| s.table == "vitals" || s.table == "views")
        .map(|s| s.path.clone())
        .collect();
    assert_eq!(old_files.len(), 2);
    drop(store);

    // The folder as manifest version 2 had it.
    for f in &old_files {
        to_old_vital_scale(&dir.path().join(f));
    }
    let manifest = dir.path().join("manifest.json");
    common::set_manifest_version(dir.path(), 2);

    let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
    assert_eq!(
        scan(&store, Table::Vitals),
        vitals,
        "vitals after the upgrade"
    );
    assert_eq!(scan(&store, Table::Views), views, "views after the upgrade");
    for f in &old_files {
        assert!(!dir.path().join(f).exists(), "{f} was replaced");
    }
    let text = std::fs::read_to_string(&manifest).unwrap();
    assert!(
        text.contains(&format!("\"version\":{}", vigil_store::MANIFEST_VERSION)),
        "{text}"
    );
    drop(store);
    // Opening again rewrites nothing more.
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
    assert_eq!(scan(&store, Table::Vitals), vitals);

    // And a CLS of 0.0225 keeps its four digits.
    store
        .append_blocking(batch(
            "s-dee",
            "dee",
            vec![vital(T0, "s-dee-v1", "CLS", 0.0225, Attribution::default())],
        ))
        .unwrap();
    let cls = scan(&store, Table::Vitals)
        .into_iter()
        .find(|l| l.contains("session_id=s-dee "))
        .unwrap();
    assert!(cls.contains(" value=225 "), "{cls}");
}
