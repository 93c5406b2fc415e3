//! Estimated totals from sampled sessions, in process (a temp store, no binary): every
//! event counts `1 / sample_rate` of its session; sessions without a rate count once.

use serde_json::{Value, json};
use vigil_model::{Common, IngestBatch};
use vigil_protocol::Event;
use vigil_query::{Query, QueryEngine};
use vigil_store::{Store, StoreConfig};

const T0: i64 = 1_760_000_000_000;

fn views(session: &str, country: &str, rate: Option<f64>, n: i64) -> IngestBatch {
    IngestBatch {
        errors: Vec::new(),
        project: 1,
        common: Common {
            session_id: session.into(),
            country: country.into(),
            sample_rate: rate,
            ..Common::default()
        },
        events: (0..n)
            .map(|i| {
                serde_json::from_value::<Event>(json!({"type": "view", "ts": T0 + i})).unwrap()
            })
            .collect(),
    }
}

#[test]
fn estimated_counts_scale_each_session_by_its_own_rate() {
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(Store::open(dir.path(), StoreConfig::default()).unwrap());
    // DE: 3 views kept at 1/4 and 2 views kept at 1/2; FR: 5 views without a rate, and 1
    // view kept at 1/3 (stored to six digits: 0.333333).
    let batches = [
        views("a", "DE", Some(0.25), 3),
        views("b", "DE", Some(0.5), 2),
        views("c", "FR", None, 5),
        views("d", "FR", Some(1.0 / 3.0), 1),
    ];
    store
        .append_all_blocking(batches.map(|b| b.to_rows(usize::MAX).unwrap()).into())
        .unwrap();
    let engine = QueryEngine::new(store);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let q: Query = serde_json::from_value(json!({
        "metric": "views", "aggregations": ["count", "estimated_count", "sessions", "estimated_sessions"],
        "group_by": ["country"], "order_by": "country", "ascending": true,
        "from": T0, "to": T0 + 1000
    }))
    .unwrap();
    let result = rt.block_on(engine.run(1, &q)).unwrap();
    assert_eq!(
        result.columns,
        [
            "country",
            "count",
            "estimated_count",
            "sessions",
            "estimated_sessions"
        ]
    );
    let rows: Vec<Vec<Value>> = result.rows;
    // DE: 3 × 4 + 2 × 2 = 16; FR: 5 + 1 / 0.333333 = 8.000003 → 8.
    assert_eq!(rows[0][0], json!("DE"));
    assert_eq!(rows[0][1], json!(5));
    assert_eq!(rows[0][2].as_f64(), Some(16.0));
    assert_eq!(rows[1][0], json!("FR"));
    assert_eq!(rows[1][1], json!(6));
    assert_eq!(rows[1][2].as_f64(), Some(8.0));
    // Sessions: DE 4 + 2 = 6 from 2 kept; FR 1 + 3.000003 → 4 from 2 kept.
    assert_eq!(rows[0][3], json!(2));
    assert_eq!(rows[0][4].as_f64(), Some(6.0));
    assert_eq!(rows[1][3], json!(2));
    assert_eq!(rows[1][4].as_f64(), Some(4.0));
}
