//! Each event kind sent over HTTP is read back through the query API and the session
//! endpoint with exactly the values sent (after the documented scrubbing and derivations).

mod common;

use common::*;
use serde_json::{Value, json};
use std::path::PathBuf;

fn fixture(name: &str) -> Vec<u8> {
    fixture_now(name)
}

/// The stored column a wire field lands in, for the fields whose names differ.
fn column(kind: &str, field: &str) -> String {
    match (kind, field) {
        ("vital", "ttfb") => "lcp_ttfb".into(),
        ("route", "from") => "from_url".into(),
        ("route", "to") => "to_url".into(),
        _ => field.into(),
    }
}

fn is_url(field: &str) -> bool {
    matches!(
        field,
        "url" | "script_url" | "from" | "to" | "file" | "page_url"
    )
}

/// Checks every field of a sent event against the stored row.
fn assert_stored(kind: &str, sent: &Value, stored: &Value) {
    let obj = sent.as_object().unwrap();
    for (field, value) in obj {
        if matches!(field.as_str(), "type" | "view_id" | "page_url") {
            continue;
        }
        if matches!(field.as_str(), "timing" | "attribution") {
            assert_stored(kind, value, stored);
            continue;
        }
        let col = column(kind, field);
        let got = &stored[&col];
        match value {
            Value::Array(_) | Value::Object(_) => {
                let mut parsed: Value =
                    serde_json::from_str(got.as_str().unwrap_or("null")).unwrap();
                let mut expected = value.clone();
                if field == "frames" && kind == "error" {
                    // Stored frames add what the collector made of them (in-app, the
                    // original location or why none); the values sent are kept as sent.
                    for f in parsed.as_array_mut().unwrap() {
                        let f = f.as_object_mut().unwrap();
                        assert!(f.remove("in_app").is_some_and(|v| v.is_boolean()), "{f:?}");
                        assert!(f.remove("mapped").is_some() || f.remove("unmapped").is_some());
                    }
                }
                if field == "frames" && kind == "crash" {
                    // A crash's frames gain their in-app mark.
                    for f in parsed.as_array_mut().unwrap() {
                        let f = f.as_object_mut().unwrap();
                        assert!(f.remove("in_app").is_some_and(|v| v.is_boolean()), "{f:?}");
                    }
                }
                if field == "frames" {
                    for f in expected.as_array_mut().unwrap() {
                        if let Some(file) = f.get_mut("file") {
                            *file = vigil_enrich::scrub_url(file.as_str().unwrap()).into();
                        }
                    }
                }
                if field == "breadcrumbs" {
                    for b in expected.as_array_mut().unwrap() {
                        let m = b["message"].as_str().unwrap().to_owned();
                        b["message"] = vigil_enrich::scrub_message(&m).into();
                    }
                }
                assert_eq!(parsed, expected, "{kind}.{field}");
            }
            Value::String(s) if is_url(field) => {
                assert_eq!(
                    got.as_str(),
                    Some(vigil_enrich::scrub_url(s).as_str()),
                    "{kind}.{field}"
                )
            }
            Value::String(s) if matches!(field.as_str(), "message" | "stack" | "title") => {
                assert_eq!(
                    got.as_str(),
                    Some(vigil_enrich::scrub_message(s).as_str()),
                    "{kind}.{field}"
                )
            }
            Value::Number(n) if n.is_f64() || got.is_f64() => {
                assert_eq!(got.as_f64(), n.as_f64(), "{kind}.{field}")
            }
            _ => assert_eq!(got, value, "{kind}.{field}"),
        }
    }
}

#[test]
fn every_event_kind_reads_back_with_the_values_sent() {
    let dir = tempfile::tempdir().unwrap();
    let p = create_project(dir.path(), "shop", &[]);
    let server = Server::start(dir.path());
    let body = fixture("full.json");
    let sent: Value = serde_json::from_slice(&body).unwrap();
    let events = sent["events"].as_array().unwrap();
    let (status, reply) = server.ingest(&p.public_key, &body);
    assert_eq!(status, 202, "{reply}");
    assert_eq!(reply["accepted"], json!(events.len()));

    let session = sent["context"]["session_id"].as_str().unwrap();
    let stored = server.session(&p.api_token, session);
    assert_eq!(stored.len(), events.len(), "one stored row per event sent");
    let table_of = |kind: &str| match kind {
        "view" => "views",
        "vital" => "vitals",
        "resource" => "resources",
        "resource_error" => "resource_errors",
        "long_task" => "long_tasks",
        "error" => "errors",
        "request" => "requests",
        "action" => "actions",
        "route" => "routes",
        "custom" => "custom_events",
        "app_start" => "app_starts",
        "screen_load" => "screen_loads",
        "crash" => "crashes",
        "anr" => "anrs",
        "jank" => "janks",
        other => panic!("unknown kind {other}"),
    };
    for e in events {
        let kind = e["type"].as_str().unwrap();
        let row = stored
            .iter()
            .find(|r| r["type"] == table_of(kind) && r["ts"] == e["ts"])
            .unwrap_or_else(|| panic!("no stored {kind} at {}", e["ts"]));
        assert_stored(kind, e, row);
        assert_eq!(row["session_id"], json!(session));
        let expected_view = e.get("view_id").unwrap_or(&sent["context"]["view_id"]);
        if !expected_view.is_null() {
            assert_eq!(&row["view_id"], expected_view, "{kind} view id");
        }
    }
    // Derived and enriched values.
    let request = stored.iter().find(|r| r["type"] == "requests").unwrap();
    assert!(request["url_template"].is_string());
    let vital = stored.iter().find(|r| r["type"] == "vitals").unwrap();
    assert!(["good", "needs-improvement", "poor"].contains(&vital["rating"].as_str().unwrap()));
    assert!(
        stored.iter().all(|r| r.get("ip").is_none()),
        "no ip column anywhere"
    );
}

#[test]
fn each_fixture_kind_counts_through_the_query_api() {
    let dir = tempfile::tempdir().unwrap();
    let p = create_project(dir.path(), "shop", &[]);
    let server = Server::start(dir.path());
    let valid: PathBuf = repo_root().join("docs/fixtures/valid");
    for entry in std::fs::read_dir(&valid).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if name == "full" {
            continue;
        }
        let body = shift_to_now(&std::fs::read(&path).unwrap());
        let sent: Value = serde_json::from_slice(&body).unwrap();
        let n = sent["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["type"] == name.as_str())
            .count() as i64;
        let table = match name.as_str() {
            "view" => "views".to_owned(),
            "custom" => "custom_events".to_owned(),
            "crash" => "crashes".to_owned(),
            "anr" => "anrs".to_owned(),
            other => format!("{other}s"),
        };
        let before = server.count(&p.api_token, &table);
        assert_eq!(server.ingest(&p.public_key, &body).0, 202, "{name}");
        // Acknowledged means visible: no waiting.
        assert_eq!(server.count(&p.api_token, &table), before + n, "{name}");
    }
}

#[test]
fn aggregations_are_exact_on_known_values() {
    let dir = tempfile::tempdir().unwrap();
    let p = create_project(dir.path(), "shop", &[]);
    let server = Server::start(dir.path());
    let now = now_ms();
    let values = [1200.0, 1800.0, 2600.0, 3900.0, 4100.0, 5000.0];
    let events: Vec<Value> = values
        .iter()
        .enumerate()
        .map(|(i, v)| json!({"type": "vital", "ts": now - i as i64, "name": "LCP", "value": v}))
        .collect();
    assert_eq!(
        server.ingest(&p.public_key, &batch("s1", json!(events))).0,
        202
    );
    let (status, r) = server.query(&p.api_token, &json!({
        "metric": "lcp",
        "aggregations": ["count", "sum", "avg", "min", "max", "p50", "good", "needs_improvement", "poor", "sessions"],
        "from": now - 60_000, "to": now + 60_000
    }));
    assert_eq!(status, 200, "{r}");
    assert_eq!(
        r["columns"],
        json!([
            "count",
            "sum",
            "avg",
            "min",
            "max",
            "p50",
            "good",
            "needs_improvement",
            "poor",
            "sessions"
        ])
    );
    let row = &r["rows"][0];
    assert_eq!(row[0], json!(6));
    assert_eq!(row[1].as_f64(), Some(18600.0));
    assert_eq!(row[2].as_f64(), Some(3100.0));
    assert_eq!(row[3].as_f64(), Some(1200.0));
    assert_eq!(row[4].as_f64(), Some(5000.0));
    assert_eq!(row[5].as_f64(), Some(3250.0)); // between 2600 and 3900
    assert_eq!(row[6].as_f64(), Some(2.0 / 6.0));
    assert_eq!(row[7].as_f64(), Some(2.0 / 6.0));
    assert_eq!(row[8].as_f64(), Some(2.0 / 6.0));
    assert_eq!(row[9], json!(1));

    // Filters and time buckets.
    let (_, r) = server.query(&p.api_token, &json!({
        "metric": "lcp", "aggregations": ["count"],
        "filters": [{"field": "value", "op": "gt", "value": 2500}, {"field": "rating", "op": "in", "value": ["poor"]}],
        "from": now - 60_000, "to": now + 60_000
    }));
    assert_eq!(r["rows"][0][0], json!(2));
    let (_, r) = server.query(
        &p.api_token,
        &json!({
            "metric": "lcp", "aggregations": ["count"], "group_by": ["time:1d"],
            "from": now - 60_000, "to": now + 60_000
        }),
    );
    let total: i64 = r["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row[1].as_i64().unwrap())
        .sum();
    assert_eq!(total, 6);
    assert_eq!(r["columns"][0], json!("time"));
}

#[test]
fn enrichment_fills_browser_and_scrubs_pii() {
    let dir = tempfile::tempdir().unwrap();
    let p = create_project(dir.path(), "shop", &[]);
    let server = Server::start(dir.path());
    let now = now_ms();
    let body = batch(
        "s-pii",
        json!([
            {"type": "error", "ts": now, "error_type": "Error", "message": "checkout failed for jane.doe@example.com with card 4111 1111 1111 1111"},
            {"type": "request", "ts": now, "method": "GET", "url": "https://api.example.com/users/12345/orders?api_key=abc&page=2", "status": 200, "duration": 120.5}
        ]),
    );
    let ua = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
    let (status, _, _) = server.ingest_raw(
        &format!("?key={}", p.public_key),
        &[("user-agent", ua), ("content-type", "text/plain")],
        &body,
    );
    assert_eq!(status, 202);
    let stored = server.session(&p.api_token, "s-pii");
    let error = stored.iter().find(|r| r["type"] == "errors").unwrap();
    assert_eq!(
        error["message"],
        json!("checkout failed for [email] with card [card]")
    );
    assert_eq!(error["browser"], json!("Safari"));
    assert_eq!(error["os"], json!("iOS"));
    assert_eq!(error["device_type"], json!("mobile"));
    assert_eq!(
        error["page_url"],
        json!("https://shop.example.com/products/42?token=[redacted]&ref=home")
    );
    assert_eq!(error["page_path"], json!("/products/42"));
    let request = stored.iter().find(|r| r["type"] == "requests").unwrap();
    assert_eq!(
        request["url"],
        json!("https://api.example.com/users/12345/orders?api_key=[redacted]&page=2")
    );
    assert_eq!(
        request["url_template"],
        json!("https://api.example.com/users/:id/orders")
    );
    // Loopback has no country; nothing else about the address is kept.
    assert!(error.get("country").is_none());
    let text = serde_json::to_string(&stored).unwrap();
    assert!(!text.contains("127.0.0.1") && !text.contains("jane.doe") && !text.contains("4111"));
}

#[test]
fn country_comes_from_the_address_and_the_address_is_not_kept() {
    let dir = tempfile::tempdir().unwrap();
    let p = create_project(dir.path(), "shop", &[]);
    // Behind a proxy the client address comes from X-Forwarded-For.
    let server = Server::start_with(dir.path(), &["--trust-forwarded-for"]);
    let body = batch(
        "s-geo",
        json!([{"type": "custom", "ts": now_ms(), "name": "geo"}]),
    );
    let (status, _, _) = server.ingest_raw(
        &format!("?key={}", p.public_key),
        &[
            ("content-type", "text/plain"),
            ("x-forwarded-for", "8.8.8.8, 10.0.0.1"),
        ],
        &body,
    );
    assert_eq!(status, 202);
    let stored = server.session(&p.api_token, "s-geo");
    assert_eq!(stored[0]["country"], json!("US"));
    assert!(!serde_json::to_string(&stored).unwrap().contains("8.8.8.8"));
    // Nothing on disk holds the address either.
    server.get("/healthz", None);
    for entry in walk(&dir.path().join("store")) {
        let bytes = std::fs::read(&entry).unwrap();
        assert!(
            !bytes.windows(7).any(|w| w == b"8.8.8.8"),
            "{} holds the address",
            entry.display()
        );
    }
}

fn walk(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p))
        } else {
            out.push(p)
        }
    }
    out
}

#[test]
fn conversion_by_lcp_rating_is_exact() {
    let dir = tempfile::tempdir().unwrap();
    let p = create_project(dir.path(), "shop", &[]);
    let server = Server::start(dir.path());
    let now = now_ms();
    // Session LCPs (worst counts): good, good, needs-improvement, poor, poor.
    let sessions = [
        ("g1", 1200.0, Some(50.0)),
        ("g2", 2400.0, None),
        ("n1", 3000.0, Some(20.0)),
        ("p1", 5200.0, None),
        ("p2", 4100.0, None),
    ];
    for (id, lcp, checkout) in sessions {
        let mut events = vec![
            json!({"type": "vital", "ts": now, "name": "LCP", "value": 900.0}),
            json!({"type": "vital", "ts": now + 1, "name": "LCP", "value": lcp}),
        ];
        if let Some(v) = checkout {
            events.push(json!({"type": "custom", "ts": now + 2, "name": "checkout", "value": v}));
        }
        events.push(json!({"type": "custom", "ts": now + 3, "name": "add_to_cart"}));
        assert_eq!(
            server.ingest(&p.public_key, &batch(id, json!(events))).0,
            202
        );
    }
    let (status, r) = server.post(
        &p.api_token,
        "/api/v1/conversion",
        &json!({"event": "checkout", "from": now - 1000, "to": now + 1000}),
    );
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["columns"], json!(CONVERSION_COLUMNS));
    assert_eq!(
        first_five(&r["rows"]),
        json!([
            ["good", 2, 1, 0.5, 50.0],
            ["needs-improvement", 1, 1, 1.0, 20.0],
            ["poor", 2, 0, 0.0, 0.0]
        ])
    );
    // Filters choose the sessions by their LCP rows.
    let (status, r) = server.post(
        &p.api_token,
        "/api/v1/conversion",
        &json!({"event": "checkout", "from": now - 1000, "to": now + 1000,
                "filters": [{"field": "session_id", "op": "in", "value": ["g2", "n1", "p1"]}]}),
    );
    assert_eq!(status, 200, "{r}");
    assert_eq!(
        first_five(&r["rows"]),
        json!([
            ["good", 1, 0, 0.0, 0.0],
            ["needs-improvement", 1, 1, 1.0, 20.0],
            ["poor", 1, 0, 0.0, 0.0]
        ])
    );
    let (status, r) = server.post(
        &p.api_token,
        "/api/v1/conversion",
        &json!({"event": "checkout", "from": now - 1000, "to": now + 1000,
                "filters": [{"field": "nope", "op": "eq", "value": "x"}]}),
    );
    assert_eq!((status, r["code"].as_str()), (400, Some("invalid_query")));
}

/// The first five columns of each row (the rest are derived from them).
fn first_five(rows: &Value) -> Value {
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| Value::from(r.as_array().unwrap()[..5].to_vec()))
        .collect()
}

#[test]
fn custom_attributes_group_and_filter_like_columns() {
    let dir = tempfile::tempdir().unwrap();
    let p = create_project(dir.path(), "shop", &[]);
    let server = Server::start(dir.path());
    let now = now_ms();
    // (session, attributes, LCP)
    let sent = [
        ("a1", json!({"plan": "plus", "cohort": 5}), 1000.0),
        ("a2", json!({"plan": "plus", "beta": true}), 3000.0),
        ("a3", json!({"plan": "free", "cohort": 5}), 2000.0),
        ("a4", json!({"cohort": 6}), 4000.0),
        ("a5", json!({}), 5000.0),
    ];
    for (id, attributes, lcp) in &sent {
        let mut body: Value = serde_json::from_slice(&batch(
            id,
            json!([{"type": "view", "ts": now}, {"type": "vital", "ts": now + 1, "name": "LCP", "value": lcp}]),
        ))
        .unwrap();
        body["context"]["attributes"] = attributes.clone();
        assert_eq!(
            server.ingest(&p.public_key, body.to_string().as_bytes()).0,
            202
        );
    }
    let range = (now - 1000, now + 1000);
    let q = |extra: Value| {
        let mut q = json!({"metric": "lcp", "aggregations": ["count", "max"], "from": range.0, "to": range.1});
        for (k, v) in extra.as_object().unwrap() {
            q[k] = v.clone();
        }
        let (status, r) = server.query(&p.api_token, &q);
        assert_eq!(status, 200, "{q} → {r}");
        r
    };
    let by_plan = q(
        json!({"group_by": ["attributes.plan"], "order_by": "attributes.plan", "ascending": true}),
    );
    assert_eq!(
        by_plan["columns"],
        json!(["attributes.plan", "count", "max"])
    );
    assert_eq!(
        by_plan["rows"],
        json!([["free", 1, 2000.0], ["plus", 2, 3000.0], [null, 2, 5000.0]])
    );
    let cohort5 = q(json!({"filters": [{"field": "attributes.cohort", "op": "eq", "value": "5"}]}));
    assert_eq!(cohort5["rows"], json!([[2, 2000.0]]));
    let not_plus =
        q(json!({"filters": [{"field": "attributes.plan", "op": "neq", "value": "plus"}]}));
    assert_eq!(not_plus["rows"], json!([[3, 5000.0]]));
    let beta = q(json!({"filters": [{"field": "attributes.beta", "op": "exists"}]}));
    assert_eq!(beta["rows"], json!([[1, 3000.0]]));

    let (status, keys) = server.get(
        &format!("/api/v1/attributes?from={}&to={}", range.0, range.1),
        Some(&p.api_token),
    );
    assert_eq!(status, 200, "{keys}");
    let keys: Value = serde_json::from_str(&keys).unwrap();
    assert_eq!(
        keys["keys"],
        json!([{"key": "cohort", "views": 3}, {"key": "plan", "views": 3}, {"key": "beta", "views": 1}])
    );
    for bad in ["attributes.", "attributes.a b", "attributes.x\"y"] {
        let (status, r) = server.query(
            &p.api_token,
            &json!({"metric": "views", "group_by": [bad], "from": range.0, "to": range.1}),
        );
        assert_eq!(
            (status, r["code"].as_str()),
            (400, Some("invalid_query")),
            "{bad}"
        );
    }
}
