//! The store folds vitals into their view rows at flush and keeps view ids relative to
//! their session's; queries answer the same before the flush (vitals in memory as rows,
//! whole ids), after it (most of them folded) and after a restart, in process.

use serde_json::{Value, json};
use std::sync::Arc;
use vigil_model::{Common, IngestBatch, Rows};
use vigil_protocol::Event;
use vigil_query::{Query, QueryEngine};
use vigil_store::{Store, StoreConfig};

const T0: i64 = 1_760_000_000_000;

fn event(v: Value) -> Event {
    serde_json::from_value(v).unwrap()
}

/// Session `i`: two views with LCP, CLS and INP each; every fifth session signs in during
/// its second view (those vitals differ from their view and stay rows), every seventh
/// sends a late LCP for a view of an earlier batch.
/// Session `i`'s id: every other one of the browser agent's form (its start in hex, then 40
/// random bits), which segments store relative to the row's time.
fn sid(i: i64) -> String {
    if i % 2 == 0 {
        format!("{:011x}{:010x}", T0 + i * 1000 - 300, i * 7919)
    } else {
        format!("s{i}")
    }
}

fn session(i: i64) -> Vec<Rows> {
    let countries = ["DE", "FR", "US", "BR"];
    let s = sid(i);
    // Views named as the browser agent names them (`{session}-{8 hex}`, stored relative to
    // the session), but every eleventh session's, which start with the marker of a
    // relative id without being one.
    let view_id = |v: &str| {
        if i % 11 == 0 {
            format!("-{s}.{v}")
        } else {
            format!("{s}-0000000{v}")
        }
    };
    let common = |user: &str| Common {
        session_id: s.clone().into(),
        view_id: view_id("a").into(),
        // Segments store a page URL without its path; these come back whole too: one with
        // a query holding the path again, and two holding the marks of the stored form.
        page_url: match i % 5 {
            0 => "https://shop.example.com/".into(),
            1 => format!("https://shop.example.com/p/{i}?back=/p/{i}").into(),
            2 => "https://shop.example.com/a\u{1}b".into(),
            3 => "\u{2}https://shop.example.com/c".into(),
            _ => "https://shop.example.com".into(),
        },
        country: countries[(i % 4) as usize].into(),
        browser: if i % 3 == 0 { "Firefox" } else { "Chrome" }.into(),
        user_id: user.into(),
        ..Common::default()
    };
    let t = T0 + i * 1000;
    let vitals = |view: &str, at: i64, k: i64| {
        vec![
            event(
                json!({"type": "vital", "ts": at + 800, "view_id": view, "name": "LCP",
                "value": 900 + (i * 37 + k * 11) % 3000,
                "attribution": {"element": "img.hero", "ttfb": 180.5 + (i % 3) as f64,
                    "load_delay": 40, "load_duration": 120.5 + k as f64,
                    "render_delay": 300 + i}}),
            ),
            event(
                json!({"type": "vital", "ts": at + 30_000, "view_id": view, "name": "CLS",
                "value": ((i * 13 + k) % 40) as f64 / 100.0}),
            ),
            event(
                json!({"type": "vital", "ts": at + 31_000, "view_id": view, "name": "INP",
                "value": 40 + (i * 29 + k) % 600, "attribution": {"event_type": "click"}}),
            ),
        ]
    };
    let a = view_id("a");
    let b = view_id("b");
    // Timings that view segments store as differences (DOMContentLoaded after the DOM is
    // interactive, load after domComplete, an LCP's TTFB against the view's).
    let timing = json!({"ttfb": 180.5, "dom_interactive": 600 + i, "dom_content_loaded": 612.5 + i as f64,
        "dom_complete": 1400, "load": 1404});
    let mut first = vec![event(
        json!({"type": "view", "ts": t, "view_id": a, "timing": timing, "fcp": 450}),
    )];
    first.extend(vitals(&a, t, 0));
    let second = vec![event(
        json!({"type": "view", "ts": t + 40_000, "view_id": b}),
    )];
    let user = if i % 5 == 0 { "signed-in" } else { "" };
    let mut late = vitals(&b, t + 40_000, 1);
    if i % 7 == 0 {
        late.push(event(
            json!({"type": "vital", "ts": t + 50_000, "view_id": a,
            "name": "LCP", "value": 4100}),
        ));
    }
    [
        (common(""), first),
        (common(""), second),
        (common(user), late),
    ]
    .into_iter()
    .map(|(common, events)| {
        IngestBatch {
            errors: Vec::new(),
            project: 1,
            common,
            events,
        }
        .to_rows(usize::MAX)
        .unwrap()
    })
    .collect()
}

fn answers(engine: &QueryEngine, rt: &tokio::runtime::Runtime) -> Vec<Value> {
    let mut out = Vec::new();
    for (metric, by) in [
        ("lcp", "country"),
        ("inp", "browser"),
        ("cls", "country"),
        ("lcp", "user_id"),
    ] {
        let q: Query = serde_json::from_value(json!({
            "metric": metric, "aggregations": ["p75", "count", "sessions"],
            "group_by": [by], "order_by": by, "ascending": true,
            "from": T0 - 1000, "to": T0 + 1_000_000
        }))
        .unwrap();
        let r = rt.block_on(engine.run(1, &q)).unwrap();
        out.push(json!({"metric": metric, "by": by, "rows": r.rows}));
    }
    // View ids come back whole: selected, compared and grouped.
    let views = rt
        .block_on(engine.sql(
            1,
            &[vigil_model::Table::Views, vigil_model::Table::Vitals],
            T0 - 1000,
            T0 + 1_000_000,
            "SELECT v.view_id, count(*) AS vitals FROM views v JOIN vitals l ON l.view_id = v.view_id \
             WHERE v.view_id IN ('s3-0000000a', 's3-0000000b', '-s11.a', '-s33.b') \
             GROUP BY v.view_id ORDER BY v.view_id",
        ))
        .unwrap();
    assert_eq!(views.rows.len(), 4, "{:?}", views.rows);
    out.push(json!({"views": views.rows}));
    // Page URLs come back whole: grouped beside their paths, and compared.
    for table in ["views", "vitals"] {
        let pages = rt
            .block_on(engine.sql(
                1,
                &[vigil_model::Table::Views, vigil_model::Table::Vitals],
                T0 - 1000,
                T0 + 1_000_000,
                &format!(
                    "SELECT page_url, page_path, count(*) AS n, \
                     sum(CASE WHEN page_url = 'https://shop.example.com/p/6?back=/p/6' THEN 1 ELSE 0 END) AS six \
                     FROM {table} GROUP BY page_url, page_path ORDER BY page_url"
                ),
            ))
            .unwrap();
        assert_eq!(pages.rows.len(), 12 + 4, "{table}: {:?}", pages.rows);
        out.push(json!({"pages": table, "rows": pages.rows}));
    }
    for s in [sid(0), sid(7), sid(12)] {
        let events = rt
            .block_on(engine.session(1, &s, T0 - 1000, T0 + 1_000_000))
            .unwrap();
        out.push(json!({"session": s, "events": events}));
    }
    out
}

#[test]
fn queries_answer_the_same_before_and_after_vitals_fold() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let store = Arc::new(Store::open(dir.path(), StoreConfig::default()).unwrap());
    store
        .append_all_blocking((0..60).flat_map(session).collect())
        .unwrap();
    let engine = QueryEngine::new(store.clone());
    let before = answers(&engine, &rt);
    // 60 sessions × 6 vitals + 9 late LCPs.
    let counted: i64 = before[0]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[2].as_i64().unwrap())
        .sum();
    assert_eq!(counted, 129);

    store.flush_blocking().unwrap();
    let vitals_rows: u64 = store
        .segments()
        .iter()
        .filter(|s| s.table == "vitals")
        .map(|s| s.rows)
        .sum();
    // The second view's three vitals of every fifth session (12 sessions) and the 9 late
    // LCPs (a view holds one LCP) stay rows; the rest folded.
    assert_eq!(vitals_rows, 12 * 3 + 9);
    assert_eq!(answers(&engine, &rt), before, "after the flush");
    drop(engine);
    store.close();
    drop(store);

    let store = Arc::new(Store::open(dir.path(), StoreConfig::default()).unwrap());
    let engine = QueryEngine::new(store);
    assert_eq!(answers(&engine, &rt), before, "after a restart");
}
