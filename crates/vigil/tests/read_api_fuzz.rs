//! The read API answers any query with data or a clear 400, never a 500, and keeps serving:
//! a few hundred generated queries, sessions searches and conversion requests, valid and not,
//! against a server holding every kind of event.

mod common;

use common::*;
use serde_json::{Value, json};

/// xorshift64: varied but repeatable requests.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next() % items.len() as u64) as usize]
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

const METRICS: &[&str] = &[
    "lcp",
    "inp",
    "cls",
    "fcp",
    "ttfb",
    "views",
    "page_views",
    "errors",
    "requests",
    "vitals",
    "requests.duration",
    "views.load",
    "resources.transfer_size",
    "custom_events.value",
    "app_starts.duration",
    "views.nope",
    "nope",
    "",
    "LCP",
    "requests.url",
];
const FIELDS: &[&str] = &[
    "country",
    "browser",
    "device_type",
    "page_path",
    "status",
    "duration",
    "value",
    "ts",
    "session_id",
    "user_id",
    "attributes.plan",
    "attributes.",
    "attributes.a b",
    "name",
    "url_template",
    "message",
    "error_type",
    "handled",
    "nope",
    "",
    "element",
    "load_state",
];
const OPS: &[&str] = &[
    "eq",
    "neq",
    "in",
    "not_in",
    "contains",
    "gt",
    "gte",
    "lt",
    "lte",
    "exists",
    "not_exists",
    "like",
];
const AGGS: &[&str] = &[
    "count",
    "sum",
    "avg",
    "min",
    "max",
    "p50",
    "p75",
    "p90",
    "p99",
    "good",
    "needs_improvement",
    "poor",
    "sessions",
    "users",
    "median",
];
const GROUPS: &[&str] = &[
    "country",
    "page_path",
    "status",
    "time:1h",
    "time:1m",
    "time:0h",
    "time:5x",
    "handled",
    "attributes.plan",
    "duration",
    "value",
    "ts",
    "nope",
    "element",
    "url_template",
];

fn value(rng: &mut Rng) -> Value {
    match rng.next() % 9 {
        0 => json!("DE"),
        1 => json!(200),
        2 => json!(-1.5),
        3 => json!(true),
        4 => json!(null),
        5 => json!(["DE", "US"]),
        6 => json!([]),
        7 => json!({"a": 1}),
        _ => json!("x' OR '1'='1"),
    }
}

fn filters(rng: &mut Rng) -> Value {
    let n = rng.next() % 3;
    Value::Array(
        (0..n)
            .map(|_| {
                let mut f = json!({"field": rng.pick(FIELDS), "op": rng.pick(OPS)});
                if rng.chance(85) {
                    f["value"] = value(rng);
                }
                f
            })
            .collect(),
    )
}

fn query(rng: &mut Rng, now: i64) -> Value {
    let (from, to) = if rng.chance(90) {
        (now - 86_400_000, now + 60_000)
    } else {
        (now, now - 1)
    };
    let mut q = json!({"metric": rng.pick(METRICS), "from": from, "to": to});
    if rng.chance(80) {
        q["aggregations"] = json!(
            (0..1 + rng.next() % 3)
                .map(|_| *rng.pick(AGGS))
                .collect::<Vec<_>>()
        );
    }
    if rng.chance(60) {
        q["filters"] = filters(rng);
    }
    if rng.chance(60) {
        q["group_by"] = json!(
            (0..rng.next() % 3)
                .map(|_| *rng.pick(GROUPS))
                .collect::<Vec<_>>()
        );
    }
    if rng.chance(30) {
        q["order_by"] = json!(rng.pick(&["count", "p75", "time", "country", "nope"]));
        q["ascending"] = json!(rng.chance(50));
    }
    if rng.chance(30) {
        q["limit"] = json!(rng.pick(&[0, 1, 10, 10_000, 10_001, -1]));
    }
    if rng.chance(5) {
        q["surprise"] = json!(1);
    }
    q
}

#[test]
fn generated_requests_get_data_or_a_clear_400_and_the_server_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let p = create_project(dir.path(), "shop", &[]);
    let server = Server::start(dir.path());
    let full = fixture_now("full.json");
    assert_eq!(server.ingest(&p.public_key, &full).0, 202);
    let now = now_ms();
    // Another seed explores other requests: VIGIL_FUZZ_SEED=<n> cargo test --test read_api_fuzz
    let seed = std::env::var("VIGIL_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x2545_f491_4f6c_dd1d_u64);
    let mut rng = Rng(seed | 1);
    let mut answered = [0usize; 2];
    for i in 0..400 {
        let (path, body) = match i % 4 {
            0 | 1 => ("/api/v1/query", query(&mut rng, now)),
            2 => {
                let mut s = json!({"from": now - 86_400_000, "to": now + 60_000, "filters": filters(&mut rng),
                    "error_filters": filters(&mut rng)});
                if rng.chance(40) {
                    s["order_by"] =
                        json!(rng.pick(&["start", "duration", "views", "errors", "nope"]));
                }
                if rng.chance(40) {
                    s["min_duration"] = value(&mut rng);
                }
                if rng.chance(30) {
                    s["has_error"] = value(&mut rng);
                }
                ("/api/v1/sessions", s)
            }
            _ => (
                "/api/v1/conversion",
                json!({"event": rng.pick(&["checkout", "", "x'y"]), "from": now - 86_400_000, "to": now + 60_000,
                       "filters": filters(&mut rng)}),
            ),
        };
        let (status, answer) = server.post(&p.api_token, path, &body);
        match status {
            200 => {
                assert!(
                    answer["columns"].is_array() && answer["rows"].is_array(),
                    "{body} → {answer}"
                );
                answered[0] += 1;
            }
            400 => {
                assert!(
                    answer["code"].is_string()
                        && !answer["message"].as_str().unwrap_or("").is_empty(),
                    "{body} → {answer}"
                );
                answered[1] += 1;
            }
            other => panic!("{path} {body} → {other} {answer}"),
        }
    }
    // Both kinds of answer were exercised, and the server still serves.
    assert!(answered[0] > 50 && answered[1] > 50, "{answered:?}");
    assert_eq!(server.get("/healthz", None).0, 200);
    assert_eq!(server.count(&p.api_token, "views"), 1);
}

#[test]
fn malformed_paths_parameters_and_methods_get_json_errors() {
    let dir = tempfile::tempdir().unwrap();
    let p = create_project(dir.path(), "shop", &[]);
    let server = Server::start(dir.path());
    let agent = agent();
    let bearer = format!("Bearer {}", p.api_token);
    let send = |method: &str, path: &str| {
        let url = server.url(path);
        let mut resp = match method {
            "GET" => agent.get(&url).header("authorization", &bearer).call(),
            "PUT" => agent
                .put(&url)
                .header("authorization", &bearer)
                .send(b"{}".as_slice()),
            _ => agent
                .post(&url)
                .header("authorization", &bearer)
                .send(b"{}".as_slice()),
        }
        .unwrap();
        let allow = resp
            .headers()
            .get("allow")
            .map(|v| v.to_str().unwrap().to_owned());
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        (
            resp.status().as_u16(),
            serde_json::from_str::<Value>(&text).unwrap_or(Value::Null),
            allow,
        )
    };
    for (method, path, status, code) in [
        (
            "GET",
            "/api/v1/sessions/abc?from=xyz",
            400,
            "invalid_request",
        ),
        ("GET", "/api/v1/attributes?to=later", 400, "invalid_request"),
        ("GET", "/api/v1/projects/abc", 400, "invalid_request"),
        ("POST", "/api/v1/query?project=abc", 400, "invalid_request"),
        ("GET", "/api/v1/query", 405, "method_not_allowed"),
        ("GET", "/api/v1/ingest", 405, "method_not_allowed"),
        ("PUT", "/api/v1/sessions", 405, "method_not_allowed"),
        ("GET", "/api/v1/no-such-endpoint", 404, "not_found"),
        ("GET", "/api/v2/query", 404, "not_found"),
    ] {
        let (got, body, allow) = send(method, path);
        assert_eq!(
            (got, body["code"].as_str()),
            (status, Some(code)),
            "{method} {path} → {body}"
        );
        assert!(
            !body["message"].as_str().unwrap_or("").is_empty(),
            "{method} {path} → {body}"
        );
        if status == 405 {
            assert!(
                allow.is_some_and(|a| a.contains("POST")),
                "{method} {path}: Allow kept"
            );
        }
    }
    // The dashboard's own routes still load the app.
    let (status, page) = server.get("/sessions", None);
    assert_eq!(status, 200);
    assert!(page.contains("<!doctype html>"));
}
