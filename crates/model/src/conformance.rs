//! The storage conformance suite: the same events in, the same answers out, for every
//! [`EventStore`]. Each backend's tests implement [`Harness`] and call [`run_all`]; a new
//! backend is done when the suite passes on it unchanged.

use crate::record::{Common, IngestBatch, ProjectId};
use crate::rows::Rows;
use crate::storage::{Erasure, EventStore};
use crate::table::Table;
use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;
use std::collections::BTreeMap;
use vigil_protocol::{
    Attribution, ErrorEvent, Event, EventBody, Frame, NavigationTiming, Request, View, Vital,
};

/// Makes stores for the suite.
pub trait Harness {
    /// The backend under test.
    type Store: EventStore;
    /// A new, empty store.
    fn fresh(&mut self) -> Self::Store;
    /// The same store after its process ended and started again (what a restart does).
    fn reopen(&mut self, store: Self::Store) -> Self::Store;
}

const DAY: i64 = 86_400_000;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A batch of one session: a view with timings, an LCP, an error, a request; `n` of each.
pub fn session_batch(project: ProjectId, session: &str, user: &str, ts: i64, n: usize) -> Rows {
    let mut events = Vec::new();
    for i in 0..n as i64 {
        let t = ts + i * 10;
        events.push(Event {
            ts: t,
            view_id: Some(format!("{session}-view-{i}").into()),
            page_url: None,
            body: EventBody::View(View {
                navigation_type: Some("navigate".into()),
                timing: NavigationTiming {
                    dns: Some(12.5 + i as f64),
                    ttfb: Some(210.25),
                    ..NavigationTiming::default()
                },
                fcp: Some(800.0),
                title: Some(format!("Order for {user}@example.com").into()),
                ..View::default()
            }),
        });
        events.push(Event {
            ts: t + 1,
            view_id: None,
            page_url: None,
            body: EventBody::Vital(Vital {
                name: "LCP".into(),
                value: 1000.0 + i as f64 * 100.0,
                rating: None,
                attribution: Attribution::default(),
            }),
        });
        events.push(Event {
            ts: t + 2,
            view_id: None,
            page_url: None,
            body: EventBody::Error(ErrorEvent {
                error_type: "TypeError".into(),
                message: format!("failed for {user}@example.com").into(),
                frames: vec![Frame {
                    function: Some("pay".into()),
                    file: Some("https://shop.example.com/app.js?token=s3cret".into()),
                    line: Some(3),
                    column: Some(7),
                }],
                ..ErrorEvent::default()
            }),
        });
        events.push(Event {
            ts: t + 3,
            view_id: None,
            page_url: None,
            body: EventBody::Request(Request {
                method: "GET".into(),
                url: format!("https://api.example.com/orders/{}?key=abc", 100 + i).into(),
                status: Some(200),
                duration: 123.4,
                // Traced: the request is also a `spans` row, so spans meet every case too.
                trace_id: Some(format!("{:016x}{:016x}", session.len() + 1, i + 1).into()),
                span_id: Some(format!("{:016x}", i + 1).into()),
                ..Request::default()
            }),
        });
    }
    IngestBatch {
        errors: Vec::new(),
        project,
        common: Common {
            session_id: session.into(),
            view_id: format!("{session}-view-0").into(),
            page_url: "https://shop.example.com/cart?email=a@b.co".into(),
            browser: "Chrome".into(),
            country: "DE".into(),
            user_id: user.into(),
            agent: "vigil-browser".into(),
            agent_version: "1.0.0".into(),
            ..Common::default()
        },
        events,
    }
    .to_rows(usize::MAX)
    .expect("the suite's batches become rows")
}

/// A backend's log record at `ts`, as OTLP intake stores it.
pub fn backend_log(project: ProjectId, ts: i64) -> Rows {
    let mut attributes = serde_json::Map::new();
    attributes.insert("order".into(), "for ann@example.com".into());
    Rows::from_logs(
        project,
        &[crate::LogRecord {
            time_ms: ts as f64 + 0.25,
            severity_number: 17,
            severity_text: "ERROR".into(),
            body: "payment failed for ann@example.com".into(),
            trace_id: Some("4bf92f3577b34da6a3ce929d0e0e4736".into()),
            span_id: Some("00f067aa0ba902b7".into()),
            service: "shop-api".into(),
            scope: "shop.payments".into(),
            event_name: String::new(),
            attributes,
            resource: serde_json::Map::new(),
        }],
    )
}

/// A row as text per column, for comparing answers whatever the batching.
type Line = BTreeMap<String, Option<String>>;

fn lines(batches: &[RecordBatch]) -> Vec<Line> {
    let mut out = Vec::new();
    for b in batches {
        for r in 0..b.num_rows() {
            let mut line = Line::new();
            for (f, c) in b.schema().fields().iter().zip(b.columns()) {
                let v = if c.is_null(r) {
                    None
                } else {
                    Some(match f.data_type() {
                        DataType::Int64 => c.as_primitive::<Int64Type>().value(r).to_string(),
                        DataType::Boolean => c.as_boolean().value(r).to_string(),
                        DataType::Utf8 => c.as_string::<i32>().value(r).to_owned(),
                        other => panic!("unexpected column type {other}"),
                    })
                };
                line.insert(f.name().clone(), v);
            }
            out.push(line);
        }
    }
    out.sort();
    out
}

fn expected(rows: &[&Rows], table: Table, from: i64, to: i64) -> Vec<Line> {
    let batches: Vec<RecordBatch> = rows
        .iter()
        .flat_map(|r| r.batches())
        .filter(|(t, _)| *t == table)
        .map(|(_, b)| b)
        .collect();
    lines(&batches)
        .into_iter()
        .filter(|l| {
            let ts: i64 = l["ts"].as_deref().unwrap().parse().unwrap();
            ts >= from && ts < to
        })
        .collect()
}

async fn scanned<S: EventStore>(
    store: &S,
    project: ProjectId,
    table: Table,
    from: i64,
    to: i64,
) -> Vec<Line> {
    let batches = store
        .scan(project, table, from, to)
        .await
        .unwrap_or_else(|e| panic!("scan {}: {e}", table.name()));
    for b in &batches {
        assert_eq!(
            b.schema(),
            table.schema(),
            "scan answers in the table's schema"
        );
    }
    lines(&batches)
}

async fn assert_holds<S: EventStore>(store: &S, project: ProjectId, rows: &[&Rows], what: &str) {
    for table in [
        Table::Views,
        Table::Vitals,
        Table::Errors,
        Table::Requests,
        Table::Spans,
        Table::Logs,
    ] {
        let got = scanned(store, project, table, 0, i64::MAX).await;
        let want = expected(rows, table, 0, i64::MAX);
        assert_eq!(got.len(), want.len(), "{what}: {} row count", table.name());
        assert_eq!(got, want, "{what}: {} rows", table.name());
    }
}

/// Runs every case of the suite.
pub async fn run_all<H: Harness>(harness: &mut H) {
    rows_come_back_with_every_value(harness).await;
    scans_honour_the_time_range(harness).await;
    projects_never_see_each_other(harness).await;
    acknowledged_rows_survive_a_restart(harness).await;
    retention_drops_old_days_only(harness).await;
    erasure_removes_one_user_or_session_everywhere(harness).await;
    concurrent_appends_land_exactly_once(harness).await;
}

/// Every value appended is scanned back unchanged, and what the model scrubs is scrubbed.
pub async fn rows_come_back_with_every_value<H: Harness>(harness: &mut H) {
    let store = harness.fresh();
    let now = now_ms();
    let a = session_batch(1, "s-a", "ann", now - 60_000, 3);
    store.append(a.clone()).await.expect("append");
    assert_holds(&store, 1, &[&a], "after append").await;
    let errors = scanned(&store, 1, Table::Errors, 0, i64::MAX).await;
    assert_eq!(
        errors[0]["message"].as_deref(),
        Some("failed for [email]"),
        "messages are scrubbed"
    );
    assert!(
        errors[0]["frames"]
            .as_deref()
            .unwrap()
            .contains("token=[redacted]"),
        "frame URLs are scrubbed: {:?}",
        errors[0]["frames"]
    );
    let requests = scanned(&store, 1, Table::Requests, 0, i64::MAX).await;
    assert_eq!(
        requests[0]["url_template"].as_deref(),
        Some("https://api.example.com/orders/:id")
    );
    let views = scanned(&store, 1, Table::Views, 0, i64::MAX).await;
    assert_eq!(views[0]["page_path"].as_deref(), Some("/cart"));
    assert_eq!(
        views[0]["page_url"].as_deref(),
        Some("https://shop.example.com/cart?email=[redacted]")
    );
}

/// `from` is inclusive and `to` exclusive, to the millisecond.
pub async fn scans_honour_the_time_range<H: Harness>(harness: &mut H) {
    let store = harness.fresh();
    let t = now_ms() - 3_600_000;
    let a = session_batch(1, "s-range", "bob", t, 5);
    store.append(a.clone()).await.expect("append");
    // Views are at t, t+10, …, t+40.
    for (from, to, n) in [
        (t, t + 40, 4),
        (t + 10, t + 11, 1),
        (t + 1, t + 10, 0),
        (t, t + 41, 5),
    ] {
        let got = scanned(&store, 1, Table::Views, from, to).await;
        assert_eq!(got.len(), n, "views in [{from}, {to})");
        assert_eq!(got, expected(&[&a], Table::Views, from, to));
    }
}

/// A project's scan never returns another project's rows.
pub async fn projects_never_see_each_other<H: Harness>(harness: &mut H) {
    let store = harness.fresh();
    let now = now_ms();
    let one = session_batch(1, "s-one", "ann", now - 1000, 2);
    let two = session_batch(2, "s-two", "bob", now - 1000, 3);
    store.append(one.clone()).await.expect("append");
    store.append(two.clone()).await.expect("append");
    assert_holds(&store, 1, &[&one], "project 1").await;
    assert_holds(&store, 2, &[&two], "project 2").await;
    assert!(
        scanned(&store, 3, Table::Views, 0, i64::MAX)
            .await
            .is_empty()
    );
}

/// What `append` acknowledged is there after a restart, exactly once.
pub async fn acknowledged_rows_survive_a_restart<H: Harness>(harness: &mut H) {
    let store = harness.fresh();
    let now = now_ms();
    let a = session_batch(1, "s-restart-a", "ann", now - 5000, 4);
    let b = session_batch(1, "s-restart-b", "bob", now - 4000, 2);
    store.append(a.clone()).await.expect("append");
    store.append(b.clone()).await.expect("append");
    let store = harness.reopen(store);
    assert_holds(&store, 1, &[&a, &b], "after a restart").await;
    let store = harness.reopen(store);
    assert_holds(&store, 1, &[&a, &b], "after a second restart").await;
}

/// Retention drops the days past the limit and keeps the rest.
pub async fn retention_drops_old_days_only<H: Harness>(harness: &mut H) {
    let store = harness.fresh();
    let now = now_ms();
    let old = session_batch(1, "s-old", "ann", now - 10 * DAY, 2);
    let recent = session_batch(1, "s-recent", "bob", now - DAY / 2, 2);
    let other = session_batch(2, "s-other", "cy", now - 10 * DAY, 1);
    let old_log = backend_log(1, now - 10 * DAY);
    let recent_log = backend_log(1, now - DAY / 2);
    for r in [&old, &recent, &other, &old_log, &recent_log] {
        store.append(r.clone()).await.expect("append");
    }
    store.apply_retention(1, 5).await.expect("retention");
    assert_holds(&store, 1, &[&recent, &recent_log], "after retention").await;
    assert_holds(&store, 2, &[&other], "another project's retention").await;
}

/// Erasure removes a user's or a session's rows from every table and nothing else.
pub async fn erasure_removes_one_user_or_session_everywhere<H: Harness>(harness: &mut H) {
    let store = harness.fresh();
    let now = now_ms();
    let ann = session_batch(1, "s-ann", "ann", now - 9000, 2);
    let bob = session_batch(1, "s-bob", "bob", now - 8000, 2);
    let cy = session_batch(1, "s-cy", "cy", now - 7000, 2);
    let ann_elsewhere = session_batch(2, "s-ann2", "ann", now - 7000, 1);
    for r in [&ann, &bob, &cy, &ann_elsewhere] {
        store.append(r.clone()).await.expect("append");
    }
    let report = store
        .erase(1, Erasure::User("ann".into()))
        .await
        .expect("erase a user");
    assert_eq!(report.rows_removed, ann.len() as u64);
    assert_holds(&store, 1, &[&bob, &cy], "after erasing a user").await;
    store
        .erase(1, Erasure::Session("s-cy".into()))
        .await
        .expect("erase a session");
    assert_holds(&store, 1, &[&bob], "after erasing a session").await;
    assert_holds(&store, 2, &[&ann_elsewhere], "another project").await;
    // Rows appended after an erasure are kept.
    let ann_again = session_batch(1, "s-ann-again", "ann", now - 1000, 1);
    store.append(ann_again.clone()).await.expect("append");
    let store = harness.reopen(store);
    assert_holds(&store, 1, &[&bob, &ann_again], "after a restart").await;
}

/// Many appends at once all land, once each.
pub async fn concurrent_appends_land_exactly_once<H: Harness>(harness: &mut H) {
    let store = harness.fresh();
    let now = now_ms();
    let batches: Vec<Rows> = (0..32)
        .map(|i| session_batch(1, &format!("s-many-{i}"), "many", now - 20_000 + i, 2))
        .collect();
    let appends = batches.iter().map(|b| store.append(b.clone()));
    for result in futures_join_all(appends).await {
        result.expect("append");
    }
    let refs: Vec<&Rows> = batches.iter().collect();
    assert_holds(&store, 1, &refs, "after concurrent appends").await;
    let store = harness.reopen(store);
    assert_holds(&store, 1, &refs, "after a restart").await;
}

/// Polls every future to completion, all at once (no runtime needed beyond the caller's).
async fn futures_join_all<F: std::future::Future>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output> {
    let mut pending: Vec<std::pin::Pin<Box<F>>> = futures.map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = pending.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut all = true;
        for (i, f) in pending.iter_mut().enumerate() {
            if out[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => out[i] = Some(v),
                    std::task::Poll::Pending => all = false,
                }
            }
        }
        if all {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    out.into_iter()
        .map(|o| o.expect("polled to the end"))
        .collect()
}
