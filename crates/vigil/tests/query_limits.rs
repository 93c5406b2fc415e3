//! The read API's limits, black-box: too many filters, overflowing intervals and ranges, and
//! output names that collide are clear 400s (they were a process abort and 500s); sums of
//! large values do not wrap; empty answers name their columns; and a crowd of heavy queries
//! gets answers or `503 busy`, never a 500, while the server keeps serving.

mod common;

use common::*;
use serde_json::{Value, json};

fn filters(n: usize) -> Value {
    json!(
        (0..n)
            .map(|i| json!({"field": "country", "op": "neq", "value": format!("C{i}")}))
            .collect::<Vec<_>>()
    )
}

/// One view and one rage click (an action with a `count` column) a minute ago.
fn load_a_view_and_a_rage_click(server: &Server, key: &str, now: i64) {
    let events = json!([
        {"type": "view", "ts": now - 60_000},
        {"type": "action", "ts": now - 59_000, "action": "rage_click", "count": 4}
    ]);
    assert_eq!(server.ingest(key, &batch("s1", events)).0, 202);
}

fn assert_invalid(answer: (u16, Value), what: &str) {
    let (status, body) = answer;
    assert_eq!(status, 400, "{what}: {body}");
    assert_eq!(body["code"], "invalid_query", "{what}: {body}");
    let message = body["message"].as_str().unwrap_or("");
    assert!(
        !message.is_empty() && !message.ends_with('.'),
        "{what}: {body}"
    );
}

#[test]
fn eight_hundred_filters_are_refused_on_every_endpoint_and_the_server_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let p = create_project(dir.path(), "shop", &[]);
    let server = Server::start(dir.path());
    let now = now_ms();
    load_a_view_and_a_rage_click(&server, &p.public_key, now);
    let (from, to) = (now - 86_400_000, now + 60_000);
    let many = filters(800);
    let requests = [
        (
            "/api/v1/query",
            json!({"metric": "views", "filters": many, "from": from, "to": to}),
        ),
        (
            "/api/v1/sessions",
            json!({"filters": many, "from": from, "to": to}),
        ),
        (
            "/api/v1/sessions",
            json!({"error_filters": many, "from": from, "to": to}),
        ),
        (
            "/api/v1/conversion",
            json!({"event": "checkout", "filters": many, "from": from, "to": to}),
        ),
    ];
    for (path, body) in &requests {
        let answer = server.post(&p.api_token, path, body);
        assert!(
            answer.1["message"]
                .as_str()
                .is_some_and(|m| m.contains("800 ") && m.contains("at most 32")),
            "{path}: {}",
            answer.1
        );
        assert_invalid(answer, path);
    }
    // 32 is still a question the API answers.
    let (status, body) = server.query(
        &p.api_token,
        &json!({"metric": "views", "filters": filters(32), "from": from, "to": to}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["rows"][0][0], 1);
    assert_eq!(server.get("/healthz", None).0, 200);
    assert_eq!(server.count(&p.api_token, "views"), 1);
}

#[test]
fn overflowing_intervals_and_ranges_and_colliding_names_are_clear_400s() {
    let dir = tempfile::tempdir().unwrap();
    let p = create_project(dir.path(), "shop", &[]);
    let server = Server::start(dir.path());
    let now = now_ms();
    load_a_view_and_a_rage_click(&server, &p.public_key, now);
    let cases = [
        json!({"metric": "views", "group_by": ["time:999999999999999m"], "from": now - 3_600_000, "to": now}),
        json!({"metric": "views", "group_by": ["time:18014398509481984d"], "from": now - 3_600_000, "to": now}),
        json!({"metric": "views", "group_by": ["time:1d"], "from": i64::MIN, "to": i64::MAX}),
        json!({"metric": "actions", "group_by": ["count"], "aggregations": ["count"], "from": now - 3_600_000, "to": now + 60_000}),
    ];
    for q in &cases {
        assert_invalid(server.query(&p.api_token, q), &q.to_string());
    }
    // The widest range itself is a question like any other.
    let (status, body) = server.query(
        &p.api_token,
        &json!({"metric": "views", "from": i64::MIN, "to": i64::MAX}),
    );
    assert_eq!((status, &body["rows"]), (200, &json!([[1]])), "{body}");
    // So is a table's `count` column grouped under another aggregation's name.
    let (status, body) = server.query(
        &p.api_token,
        &json!({"metric": "actions", "group_by": ["count"], "aggregations": ["sessions"],
                "from": now - 86_400_000, "to": now + 60_000}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["columns"], json!(["count", "sessions"]));
    assert_eq!(body["rows"], json!([[4, 1]]));
    // And the `count` aggregation over a table with a `count` column, ordered by it.
    for q in [
        json!({"metric": "actions", "aggregations": ["count"], "order_by": "count",
               "from": now - 86_400_000, "to": now + 60_000}),
        json!({"metric": "actions.count", "aggregations": ["sum", "count", "p50"],
               "from": now - 86_400_000, "to": now + 60_000}),
    ] {
        let (status, body) = server.query(&p.api_token, &q);
        assert_eq!(status, 200, "{q} → {body}");
    }
    assert_eq!(server.get("/healthz", None).0, 200);
}

#[test]
fn sums_of_large_values_do_not_wrap() {
    let dir = tempfile::tempdir().unwrap();
    let p = create_project(dir.path(), "shop", &[]);
    let server = Server::start(dir.path());
    let now = now_ms();
    // 12 × 9e14 at the 0.001 scale is 1.08e19 stored: past an i64, which wrapped negative.
    let mut events: Vec<Value> = (0..12)
        .map(|i| json!({"type": "custom", "ts": now - 1000 + i, "name": "checkout", "value": 9e14}))
        .collect();
    events.push(json!({"type": "vital", "ts": now - 2000, "name": "LCP", "value": 1200}));
    assert_eq!(
        server
            .ingest(&p.public_key, &batch("big-spender", json!(events)))
            .0,
        202
    );
    let (status, body) = server.query(
        &p.api_token,
        &json!({"metric": "custom_events.value", "aggregations": ["sum", "avg", "count"],
                "from": now - 3_600_000, "to": now + 60_000}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["rows"], json!([[1.08e16, 9e14, 12]]));
    let (status, body) = server.post(
        &p.api_token,
        "/api/v1/conversion",
        &json!({"event": "checkout", "from": now - 3_600_000, "to": now + 60_000}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["rows"][0].as_array().unwrap()[..6],
        json!(["good", 1, 1, 1.0, 1.08e16, 1.08e16])
            .as_array()
            .unwrap()[..],
        "{body}"
    );
}

#[test]
fn empty_answers_name_their_columns() {
    let dir = tempfile::tempdir().unwrap();
    let p = create_project(dir.path(), "shop", &[]);
    let server = Server::start(dir.path());
    let now = now_ms();
    let (status, body) = server.query(
        &p.api_token,
        &json!({"metric": "lcp", "aggregations": ["p75", "count"], "group_by": ["country"],
                "from": now - 3_600_000, "to": now}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (&body["columns"], &body["rows"]),
        (&json!(["country", "p75", "count"]), &json!([]))
    );
    let (status, body) = server.post(
        &p.api_token,
        "/api/v1/conversion",
        &json!({"event": "checkout", "from": now - 3_600_000, "to": now}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (&body["columns"], &body["rows"]),
        (&json!(CONVERSION_COLUMNS), &json!([]))
    );
    let (status, body) = server.post(
        &p.api_token,
        "/api/v1/sessions",
        &json!({"from": now - 3_600_000, "to": now}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["columns"].as_array().map(Vec::len), Some(12), "{body}");
    assert_eq!(body["columns"][11], "has_replay", "{body}");
}

/// 20,000 LCP values over sessions, pages, countries and browsers.
fn load_vitals(server: &Server, key: &str, now: i64) {
    for b in 0..200i64 {
        let events: Vec<Value> = (0..100i64)
            .map(|i| {
                let v = 300 + (b * 7919 + i * 104_729) % 9000;
                json!({"type": "vital", "ts": now - 60_000 - b * 100 - i, "name": "LCP", "value": v})
            })
            .collect();
        let effective_type = ["4g", "3g", "wifi"][b as usize % 3];
        let body = json!({
            "v": 1,
            "context": {
                "session_id": format!("s{b}"),
                "page_url": format!("https://shop.example.com/p/{}", b % 50),
                "agent": {"name": "t", "version": "1"},
                "connection": {"type": "cellular", "effective_type": effective_type},
                "user_id": format!("u{}", b % 37)
            },
            "events": events
        });
        assert_eq!(server.ingest(key, body.to_string().as_bytes()).0, 202);
    }
}

#[test]
fn a_crowd_of_heavy_queries_gets_answers_or_busy_and_the_server_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let p = create_project(dir.path(), "shop", &[]);
    let server = Server::start(dir.path());
    let now = now_ms();
    load_vitals(&server, &p.public_key, now);
    let heavy = json!({
        "metric": "lcp", "aggregations": ["count", "p50", "p75", "p90", "p99"],
        "group_by": ["page_path", "effective_type", "user_id", "session_id"],
        "from": now - 3_600_000, "to": now + 60_000, "limit": 10000
    });
    let answers: Vec<(u16, Value, Option<String>)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..48)
            .map(|_| s.spawn(|| server.post_with_headers(&p.api_token, "/api/v1/query", &heavy)))
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let mut seen = [0usize; 2];
    for (status, body, retry_after) in &answers {
        match status {
            200 => {
                assert_eq!(body["rows"].as_array().map(Vec::len), Some(200), "{body}");
                seen[0] += 1;
            }
            503 => {
                assert_eq!(body["code"], "busy", "{body}");
                assert!(retry_after.is_some(), "503 without Retry-After: {body}");
                seen[1] += 1;
            }
            other => panic!("{other}: {body}"),
        }
    }
    eprintln!(
        "48 concurrent heavy queries: {} answered, {} busy",
        seen[0], seen[1]
    );
    assert!(seen[0] > 0);
    // Still serving: health, intake and a query.
    assert_eq!(server.get("/healthz", None).0, 200);
    assert_eq!(
        server
            .ingest(
                &p.public_key,
                &batch("after", json!([{"type": "view", "ts": now}]))
            )
            .0,
        202
    );
    assert_eq!(server.count(&p.api_token, "views"), 1);
}
