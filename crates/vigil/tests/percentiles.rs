//! Percentiles from the query API equal exact values computed here, independently, from the
//! same data: linear interpolation between closest ranks (numpy's default), over data that
//! sits partly in Parquet segments and partly in memory.

mod common;

use common::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The reference definition, written out plainly: sort, then interpolate.
fn reference(values: &[f64], q: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let h = q * (v.len() - 1) as f64;
    let (lo, hi) = (h.floor() as usize, h.ceil() as usize);
    v[lo] + (h - lo as f64) * (v[hi] - v[lo])
}

#[test]
fn percentiles_equal_an_independent_computation() {
    let dir = tempfile::tempdir().unwrap();
    let p = create_project(dir.path(), "shop", &[]);
    let server =
        Server::start_with_config(dir.path(), "flush_rows = 1000\nflush_interval_secs = 1\n");
    let now = now_ms();
    // A deterministic spread of LCP values with ties and outliers, three countries.
    let mut by_conn: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut state = 12345u64;
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as f64 / (1u64 << 31) as f64
    };
    for b in 0..60 {
        let conn = ["wifi", "4g", "3g"][b % 3];
        let events: Vec<Value> = (0..50)
            .map(|i| {
                let x = next();
                // Browser timers give 0.1 ms at best, the resolution the store keeps.
                let v = if i % 17 == 0 {
                    2500.0
                } else {
                    ((300.0 + 9000.0 * x * x) * 10.0).round() / 10.0
                };
                by_conn.entry(conn).or_default().push(v);
                json!({"type": "vital", "ts": now - (b * 50 + i) as i64, "name": "LCP", "value": v})
            })
            .collect();
        let body = json!({
            "v": 1,
            "context": {"session_id": format!("s{b}"), "agent": {"name": "t", "version": "1"},
                        "connection": {"type": "cellular", "effective_type": conn}},
            "events": events
        });
        assert_eq!(
            server.ingest(&p.public_key, body.to_string().as_bytes()).0,
            202
        );
        if b == 30 {
            // Let the flusher write what is there so far to Parquet.
            std::thread::sleep(std::time::Duration::from_millis(1600));
        }
    }
    let (status, r) = server.query(&p.api_token, &json!({
        "metric": "lcp", "aggregations": ["count", "p50", "p75", "p90", "p99", "good", "needs_improvement", "poor"],
        "group_by": ["effective_type"], "order_by": "effective_type", "ascending": true,
        "from": now - 3_600_000, "to": now + 1
    }));
    assert_eq!(status, 200, "{r}");
    let rows = r["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    for row in rows {
        let conn = row[0].as_str().unwrap();
        let values = &by_conn[conn];
        assert_eq!(row[1].as_u64(), Some(values.len() as u64));
        for (i, q) in [0.5, 0.75, 0.9, 0.99].iter().enumerate() {
            let got = row[2 + i].as_f64().unwrap();
            let want = reference(values, *q);
            assert!(
                (got - want).abs() <= 1e-9 * want.abs(),
                "{conn} p{}: {got} != {want}",
                q * 100.0
            );
        }
        let share = |f: &dyn Fn(f64) -> bool| {
            values.iter().filter(|v| f(**v)).count() as f64 / values.len() as f64
        };
        assert_eq!(
            row[6].as_f64(),
            Some(share(&|v| v <= 2500.0)),
            "{conn} good"
        );
        assert_eq!(
            row[7].as_f64(),
            Some(share(&|v| v > 2500.0 && v <= 4000.0)),
            "{conn} ni"
        );
        assert_eq!(row[8].as_f64(), Some(share(&|v| v > 4000.0)), "{conn} poor");
    }
    // Part of the data really is on disk.
    let segments = std::fs::read_to_string(dir.path().join("store/manifest.json")).unwrap();
    assert!(
        segments.contains("vitals"),
        "no Parquet segment was written"
    );
}
