//! The query engine over a real store: memory limits refuse a query clearly, grouped exact
//! percentiles equal an independent computation over thousands of groups, sums of large
//! fixed-point values do not wrap, and empty answers still name their columns.

use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use vigil_model::{Common, IngestBatch, Rows};
use vigil_protocol::Event;
use vigil_query::{Query, QueryEngine, QueryError, QueryLimits, QueryResult};
use vigil_store::{Store, StoreConfig};

fn rows(batch: IngestBatch) -> Rows {
    batch.to_rows(usize::MAX).unwrap()
}

const PROJECT: u32 = 1;
const T0: i64 = 1_760_000_000_000;

fn event(value: serde_json::Value) -> Event {
    serde_json::from_value(value).expect("a valid event")
}

/// 2,000 sessions of `per_session` LCP values each, spread over countries and browsers;
/// returns the values by session.
fn load_vitals(store: &Store, per_session: i64) -> BTreeMap<String, Vec<f64>> {
    let mut by_session = BTreeMap::new();
    let mut state = 99u64;
    let mut batches = Vec::new();
    for s in 0..2000 {
        let session = format!("s{s:04}");
        let mut values = Vec::new();
        let events = (0..per_session)
            .map(|i| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                // 0.1 ms resolution, as stored.
                let v = ((state >> 44) as f64 / 10.0).round() / 10.0;
                values.push(v);
                event(json!({"type": "vital", "ts": T0 + s * per_session + i, "name": "LCP", "value": v}))
            })
            .collect();
        by_session.insert(session.clone(), values);
        batches.push(IngestBatch {
            errors: Vec::new(),
            project: PROJECT,
            common: Common {
                session_id: session.into(),
                country: ["DE", "FR", "US", "JP"][s as usize % 4].into(),
                browser: ["Chrome", "Firefox", "Safari"][s as usize % 3].into(),
                ..Common::default()
            },
            events,
        });
    }
    store
        .append_all_blocking(batches.into_iter().map(rows).collect())
        .unwrap();
    by_session
}

fn query(json: serde_json::Value) -> Query {
    serde_json::from_value(json).unwrap()
}

fn by_session_query() -> Query {
    query(json!({
        "metric": "lcp", "aggregations": ["count", "p50", "p75", "p90", "p99"],
        "group_by": ["session_id"], "order_by": "session_id", "ascending": true,
        "from": T0, "to": T0 + 86_400_000, "limit": 10000
    }))
}

/// The reference definition, written out plainly: sort, then interpolate.
fn reference(values: &[f64], q: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let h = q * (v.len() - 1) as f64;
    let (lo, hi) = (h.floor() as usize, h.ceil() as usize);
    v[lo] + (h - lo as f64) * (v[hi] - v[lo])
}

fn open(dir: &std::path::Path) -> Arc<Store> {
    Arc::new(Store::open(dir, StoreConfig::default()).unwrap())
}

#[test]
fn grouped_percentiles_equal_an_independent_computation_over_thousands_of_groups() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let want = load_vitals(&store, 10);
    // Half on disk, half in memory: the two partitions meet in a final aggregation.
    store.flush_blocking().unwrap();
    let extra = load_vitals_again(&store, &want);
    let engine = QueryEngine::new(store);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let result = rt
        .block_on(engine.run(PROJECT, &by_session_query()))
        .unwrap();
    assert_eq!(result.rows.len(), want.len());
    for row in &result.rows {
        let session = row[0].as_str().unwrap();
        let mut values = want[session].clone();
        values.extend(&extra[session]);
        assert_eq!(row[1].as_u64(), Some(values.len() as u64), "{session}");
        for (i, q) in [0.5, 0.75, 0.9, 0.99].into_iter().enumerate() {
            let got = row[2 + i].as_f64().unwrap();
            let expected = reference(&values, q);
            assert!(
                (got - expected).abs() <= 1e-9 * expected.abs(),
                "{session} q{q}: {got} != {expected}"
            );
        }
    }
}

/// The same sessions again, one value each at a later time (in memory, while the first
/// load is on disk).
fn load_vitals_again(
    store: &Store,
    sessions: &BTreeMap<String, Vec<f64>>,
) -> BTreeMap<String, Vec<f64>> {
    let mut extra = BTreeMap::new();
    let batches: Vec<IngestBatch> = sessions
        .keys()
        .enumerate()
        .map(|(i, session)| {
            let v = 100.0 + i as f64;
            extra.insert(session.clone(), vec![v]);
            IngestBatch {
                errors: Vec::new(),
                project: PROJECT,
                common: Common {
                    session_id: session.clone().into(),
                    ..Common::default()
                },
                events: vec![event(
                    json!({"type": "vital", "ts": T0 + 50_000 + i as i64, "name": "LCP", "value": v}),
                )],
            }
        })
        .collect();
    store
        .append_all_blocking(batches.into_iter().map(rows).collect())
        .unwrap();
    extra
}

#[test]
fn a_query_over_its_memory_limit_is_refused_as_too_large_and_smaller_ones_still_run() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    load_vitals(&store, 40);
    let limits = QueryLimits {
        // The refused query needs 4–8 MiB, the answered one under 1 MiB (measured).
        memory_bytes: 2 << 20,
        ..QueryLimits::default()
    };
    assert_eq!(limits.validate(), Ok(()));
    let engine = QueryEngine::with_limits(store, limits);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let err = rt
        .block_on(engine.run(PROJECT, &by_session_query()))
        .unwrap_err();
    assert!(matches!(err, QueryError::TooLarge(_)), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains("narrow the time range") && !message.ends_with('.'),
        "{message}"
    );
    // A question that fits in the same limit is answered (exact percentiles hold every
    // value, 12 bytes each, so they are what a tight limit refuses first).
    let small = query(json!({
        "metric": "lcp", "aggregations": ["count", "avg", "max"], "group_by": ["country"],
        "from": T0, "to": T0 + 86_400_000
    }));
    let result = rt.block_on(engine.run(PROJECT, &small)).unwrap();
    assert_eq!(result.rows.len(), 4);
}

#[test]
fn sums_of_large_fixed_point_values_do_not_wrap() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    // 9e15 at the 0.001 scale is 9e18 stored, inside an i64; two of them are not.
    store
        .append_blocking(rows(IngestBatch {
            errors: Vec::new(),
            project: PROJECT,
            common: Common {
                session_id: "rich".into(),
                ..Common::default()
            },
            events: (0..2)
                .map(|i| {
                    event(json!({"type": "custom", "ts": T0 + i, "name": "order", "value": 9e15}))
                })
                .collect(),
        }))
        .unwrap();
    let engine = QueryEngine::new(store);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let result = rt
        .block_on(engine.run(
            PROJECT,
            &query(json!({
                "metric": "custom_events.value", "aggregations": ["sum", "avg", "count"],
                "from": T0, "to": T0 + 1000
            })),
        ))
        .unwrap();
    assert_eq!(
        result.rows,
        [[json!(1.8e16), json!(9e15), json!(2)]],
        "{result:?}"
    );
}

#[test]
fn an_empty_answer_still_names_its_columns() {
    let dir = tempfile::tempdir().unwrap();
    let engine = QueryEngine::new(open(dir.path()));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let result = rt
        .block_on(engine.run(
            PROJECT,
            &query(json!({
                "metric": "lcp", "aggregations": ["p75", "count"], "group_by": ["country", "time:1h"],
                "from": T0, "to": T0 + 1000
            })),
        ))
        .unwrap();
    assert_eq!(
        result,
        QueryResult {
            columns: vec![
                "country".into(),
                "time".into(),
                "p75".into(),
                "count".into()
            ],
            rows: vec![],
        }
    );
}
