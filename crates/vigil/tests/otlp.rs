//! OTLP intake and the trace waterfall against the real binary: a browser's traced request
//! (RUM intake), a backend's spans in protobuf (gzip, public key) and in JSON (ingest
//! token), and a log record, joined by trace id into one waterfall that survives a crash;
//! malformed and hostile OTLP refused with clear answers and nothing stored; another
//! project's credentials never reaching this project's traces; erasure of a session's
//! spans; the second listener for collectors configured by port.

mod common;

use common::otlp::*;
use common::*;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, span};
use prost::Message;
use serde_json::{Value, json};
use std::time::Duration;

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const BROWSER_SPAN: &str = "00f067aa0ba902b7";
const SERVER_SPAN: &str = "1111111111111111";
const DB_SPAN: &str = "2222222222222222";
const JSON_SPAN: &str = "3333333333333333";

/// One backend span, starting `start` ms after `t0`.
fn span(id: &str, parent: &str, name: &str, t0: i64, start: f64, duration: f64) -> Span {
    let start_ns = ns(t0) + (start * 1e6) as u64;
    Span {
        trace_id: bytes(TRACE),
        span_id: bytes(id),
        parent_span_id: bytes(parent),
        name: name.into(),
        kind: span::SpanKind::Server as i32,
        start_time_unix_nano: start_ns,
        end_time_unix_nano: start_ns + (duration * 1e6) as u64,
        ..Span::default()
    }
}

fn traces_request(service: &str, spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    text("service.name", service),
                    text("service.version", "2.4.1"),
                    text("deployment.environment.name", "production"),
                    text("telemetry.sdk.language", "rust"),
                ],
                ..Resource::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "test.instrumentation".into(),
                    ..InstrumentationScope::default()
                }),
                spans,
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }],
    }
}

fn waterfall(server: &Server, token: &str, trace: &str) -> (u16, Value) {
    let (status, body) = server.get(&format!("/api/v1/traces/{trace}"), Some(token));
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

fn span_count(server: &Server, token: &str) -> i64 {
    server.count(token, "spans")
}

/// The browser's traced request, through the RUM intake.
fn send_browser_request(server: &Server, key: &str, t0: i64) {
    let (status, answer) = server.ingest(
        key,
        &batch(
            "otel-session",
            json!([{
                "type": "request", "ts": t0, "method": "GET",
                "url": "https://api.example.com/api/cart?token=secret123", "status": 200,
                "duration": 120.0, "trace_id": TRACE, "span_id": BROWSER_SPAN,
                "trace_sampled": true
            }]),
        ),
    );
    assert_eq!(status, 202, "{answer}");
}

#[test]
fn a_browser_request_and_its_backend_spans_and_logs_make_one_waterfall_that_survives_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let keys = create_project(dir.path(), "shop", &["*"]);
    let ingest_token = ingest_admin_token(dir.path(), keys.id);
    let mut server = Server::start(dir.path());
    let t0 = now_ms() - 60_000;
    send_browser_request(&server, &keys.public_key, t0);

    // The backend: a server span under the browser's, a database query under it (the
    // slowest part), in protobuf, gzip, with the public key.
    let mut db = span(DB_SPAN, SERVER_SPAN, "SELECT cart", t0, 20.0, 80.0);
    db.kind = span::SpanKind::Client as i32;
    db.attributes = vec![
        text("db.system", "sqlite"),
        text(
            "db.statement",
            "SELECT * FROM cart WHERE email = 'ann@example.com'",
        ),
    ];
    let mut server_span = span(SERVER_SPAN, BROWSER_SPAN, "GET /api/cart", t0, 5.0, 110.0);
    server_span.attributes = vec![
        int("http.response.status_code", 200),
        text(
            "url.full",
            "https://api.example.com/api/cart?token=secret123",
        ),
        text("session.id", "otel-session"),
    ];
    let request = traces_request("shop-api", vec![server_span, db]);
    let answer = post(
        &server,
        "/v1/traces",
        &[
            PROTOBUF,
            ("content-encoding", "gzip"),
            ("x-vigil-key", &keys.public_key),
        ],
        &gzip(&request.encode_to_vec()),
    );
    assert_eq!(
        answer.status,
        200,
        "{:?}",
        String::from_utf8_lossy(&answer.body)
    );
    assert_eq!(answer.content_type, "application/x-protobuf");
    let response = ExportTraceServiceResponse::decode(&answer.body[..]).unwrap();
    assert_eq!(response.partial_success, None, "nothing was refused");

    // A second service in OTLP JSON (hex ids, 64-bit numbers as strings), with an ingest
    // token; its span failed.
    let start = ns(t0) + 30_000_000;
    let json_body = json!({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "pricing"}}]},
        "scopeSpans": [{"scope": {"name": "@opentelemetry/instrumentation-http"}, "spans": [{
            "traceId": TRACE, "spanId": JSON_SPAN, "parentSpanId": SERVER_SPAN,
            "name": "POST /price", "kind": 2,
            "startTimeUnixNano": start.to_string(), "endTimeUnixNano": (start + 10_000_000).to_string(),
            "status": {"code": 2, "message": "upstream timeout"},
            "events": [{"timeUnixNano": (start + 9_000_000).to_string(), "name": "exception",
                "attributes": [{"key": "exception.message", "value": {"stringValue": "timeout for ann@example.com"}}]}]
        }]}]
    }]});
    let answer = post(
        &server,
        "/api/v1/otlp/v1/traces",
        &[JSON, ("authorization", &format!("Bearer {ingest_token}"))],
        json_body.to_string().as_bytes(),
    );
    assert_eq!(answer.status, 200, "{:?}", answer.json());
    assert_eq!(answer.json(), json!({}));

    // A log record inside the database span.
    let logs = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![text("service.name", "shop-api")],
                ..Resource::default()
            }),
            scope_logs: vec![ScopeLogs {
                scope: Some(InstrumentationScope {
                    name: "shop.cart".into(),
                    ..InstrumentationScope::default()
                }),
                log_records: vec![LogRecord {
                    time_unix_nano: ns(t0) + 50_000_000,
                    severity_number: 13,
                    severity_text: "WARN".into(),
                    body: Some(AnyValue {
                        value: Some(any_value::Value::StringValue(
                            "cart query slow for ann@example.com".into(),
                        )),
                    }),
                    trace_id: bytes(TRACE),
                    span_id: bytes(DB_SPAN),
                    ..LogRecord::default()
                }],
                ..ScopeLogs::default()
            }],
            ..ResourceLogs::default()
        }],
    };
    let answer = post(
        &server,
        "/v1/logs",
        &[PROTOBUF, ("x-vigil-key", &keys.public_key)],
        &logs.encode_to_vec(),
    );
    assert_eq!(answer.status, 200);

    let check = |server: &Server| {
        let (status, trace) = waterfall(server, &keys.api_token, TRACE);
        assert_eq!(status, 200, "{trace}");
        let order: Vec<(&str, u64)> = trace["spans"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s["span_id"].as_str().unwrap(), s["depth"].as_u64().unwrap()))
            .collect();
        assert_eq!(
            order,
            [
                (BROWSER_SPAN, 0),
                (SERVER_SPAN, 1),
                (DB_SPAN, 2),
                (JSON_SPAN, 2)
            ],
            "{trace:#}"
        );
        let spans = trace["spans"].as_array().unwrap();
        let browser = &spans[0];
        assert_eq!(browser["browser"], true);
        assert_eq!(browser["kind"], "client");
        assert_eq!(browser["service"], "browser");
        assert_eq!(browser["name"], "GET /api/cart");
        assert_eq!(browser["duration"], 120.0);
        assert_eq!(browser["session_id"], "otel-session");
        assert!(
            !browser["url"].as_str().unwrap().contains("secret123"),
            "URLs are scrubbed: {browser}"
        );
        assert_eq!(trace["session_id"], "otel-session");
        assert_eq!(trace["services"], json!(["browser", "shop-api", "pricing"]));
        // The database query has 80 of the path's 120 ms.
        assert_eq!(trace["slowest_span_id"], DB_SPAN);
        assert_eq!(spans[2]["critical"], true);
        assert_eq!(
            spans[3]["critical"], false,
            "the pricing call ran beside it"
        );
        assert_eq!(spans[2]["offset"], 20.0);
        assert_eq!(spans[2]["duration"], 80.0);
        assert_eq!(spans[2]["attributes"]["db.system"], "sqlite");
        assert!(
            !spans[2]["attributes"]["db.statement"]
                .as_str()
                .unwrap()
                .contains("ann@example.com")
        );
        assert_eq!(spans[1]["http_status"], 200);
        assert_eq!(spans[1]["resource"]["service.version"], "2.4.1");
        assert_eq!(spans[1]["scope"], "test.instrumentation");
        assert_eq!(spans[3]["status"], "error");
        assert_eq!(spans[3]["status_message"], "upstream timeout");
        assert_eq!(spans[3]["events"][0]["name"], "exception");
        let logs = trace["logs"].as_array().unwrap();
        assert_eq!(logs.len(), 1);
        assert_eq!(logs[0]["span_id"], DB_SPAN);
        assert_eq!(logs[0]["severity"], "WARN");
        assert_eq!(logs[0]["offset"], 50.0);
        assert!(
            !logs[0]["body"]
                .as_str()
                .unwrap()
                .contains("ann@example.com")
        );
    };
    check(&server);

    // Services: p75 and error rate per service and operation, from the query API.
    let (status, services) = server.query(
        &keys.api_token,
        &json!({"metric": "spans.duration", "aggregations": ["count", "p75", "error_rate"],
                "group_by": ["service"], "order_by": "service", "ascending": true,
                "from": t0 - 60_000, "to": now_ms() + 60_000}),
    );
    assert_eq!(status, 200, "{services}");
    let rows = services["rows"].as_array().unwrap();
    assert_eq!(rows[0], json!(["browser", 1, 120.0, 0.0]), "{services}");
    assert_eq!(rows[1], json!(["pricing", 1, 10.0, 1.0]), "{services}");
    assert_eq!(
        (&rows[2][0], &rows[2][1], &rows[2][3]),
        (&json!("shop-api"), &json!(2), &json!(0.0))
    );

    // 200 meant durable: after a crash the same waterfall comes back.
    server.kill9();
    let server = Server::start(dir.path());
    check(&server);

    // Erasing the session takes its client span and the backend span that named it.
    let (status, erased) = server.post(
        &keys.api_token_admin(dir.path()),
        &format!("/api/v1/projects/{}/erasure", keys.id),
        &json!({"session_id": "otel-session"}),
    );
    assert_eq!(status, 200, "{erased}");
    let (_, trace) = waterfall(&server, &keys.api_token, TRACE);
    let left: Vec<&str> = trace["spans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["span_id"].as_str().unwrap())
        .collect();
    assert_eq!(left, [DB_SPAN, JSON_SPAN], "{trace:#}");
}

trait AdminToken {
    fn api_token_admin(&self, data: &std::path::Path) -> String;
}

impl AdminToken for ProjectKeys {
    fn api_token_admin(&self, data: &std::path::Path) -> String {
        let meta = vigil_meta::Meta::open(&data.join("meta.db")).unwrap();
        meta.create_scoped_token(self.id as u32, vigil_meta::Scope::Admin)
            .unwrap()
            .1
    }
}

/// What is sent (name, headers, body) and what must come back (status, code).
type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, Vec<u8>, u16, &'a str);

#[test]
fn malformed_and_hostile_otlp_gets_a_clear_answer_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let keys = create_project(dir.path(), "shop", &["https://shop.example.com"]);
    let other = create_project(dir.path(), "other", &["*"]);
    let server = Server::start(dir.path());
    let t0 = now_ms() - 60_000;
    let key = ("x-vigil-key", keys.public_key.as_str());
    let good = traces_request(
        "api",
        vec![span(SERVER_SPAN, BROWSER_SPAN, "GET /", t0, 0.0, 5.0)],
    );

    let status_of = |a: &Answer| -> (i32, String) {
        if a.content_type == "application/x-protobuf" {
            #[derive(Clone, PartialEq, prost::Message)]
            struct RpcStatus {
                #[prost(int32, tag = "1")]
                code: i32,
                #[prost(string, tag = "2")]
                message: String,
            }
            let s = RpcStatus::decode(&a.body[..]).expect("a google.rpc.Status");
            (s.code, s.message)
        } else {
            let v = a.json();
            let code = v["code"]
                .as_i64()
                .unwrap_or_else(|| panic!("a Status: {v}"));
            (code as i32, v["message"].as_str().unwrap().to_owned())
        }
    };

    let read_token = format!("Bearer {}", keys.api_token);
    let cases: Vec<Case> = vec![
        (
            "bad protobuf",
            vec![PROTOBUF, key],
            b"\x0a\xff\xff\xff\xff\x0f".to_vec(),
            400,
            "invalid_protobuf",
        ),
        (
            "bad JSON",
            vec![JSON, key],
            b"{\"resourceSpans\": [".to_vec(),
            400,
            "invalid_json",
        ),
        (
            "wrong content type",
            vec![("content-type", "text/plain"), key],
            good.encode_to_vec(),
            415,
            "unsupported_media_type",
        ),
        (
            "no key",
            vec![PROTOBUF],
            good.encode_to_vec(),
            401,
            "missing_key",
        ),
        (
            "unknown key",
            vec![PROTOBUF, ("x-vigil-key", "pk_nope")],
            good.encode_to_vec(),
            401,
            "invalid_key",
        ),
        (
            "read-only token",
            vec![PROTOBUF, ("authorization", &read_token)],
            good.encode_to_vec(),
            403,
            "read_only_token",
        ),
        (
            "junk bearer",
            vec![PROTOBUF, ("authorization", "Bearer ../../etc/passwd")],
            good.encode_to_vec(),
            401,
            "invalid_key",
        ),
        (
            "origin not allowed",
            vec![PROTOBUF, key, ("origin", "https://evil.example.com")],
            good.encode_to_vec(),
            403,
            "origin_not_allowed",
        ),
        (
            "one byte over the limit",
            vec![PROTOBUF, key],
            vec![0u8; 4 * 1024 * 1024 + 1],
            413,
            "body_too_large",
        ),
        (
            "gzip bomb",
            vec![PROTOBUF, key, ("content-encoding", "gzip")],
            gzip(&vec![0u8; 64 * 1024 * 1024]),
            413,
            "decompressed_too_large",
        ),
        (
            "bad gzip",
            vec![PROTOBUF, key, ("content-encoding", "gzip")],
            b"not gzip".to_vec(),
            400,
            "bad_gzip",
        ),
        (
            "brotli",
            vec![PROTOBUF, key, ("content-encoding", "br")],
            good.encode_to_vec(),
            415,
            "unsupported_encoding",
        ),
    ];
    for (what, headers, body, want_status, want_code) in &cases {
        let a = post(&server, "/v1/traces", headers, body);
        assert_eq!(
            a.status,
            *want_status,
            "{what}: {:?}",
            String::from_utf8_lossy(&a.body)
        );
        let (grpc, message) = status_of(&a);
        assert!(message.starts_with(want_code), "{what}: {message}");
        assert!(grpc > 0, "{what}: a gRPC code");
    }
    // Too many spans in one request.
    let many: Vec<Span> = (0..10_001)
        .map(|i| span(&format!("{:016x}", i + 1), "", "x", t0, 0.0, 1.0))
        .collect();
    let a = post(
        &server,
        "/v1/traces",
        &[PROTOBUF, key],
        &traces_request("api", many).encode_to_vec(),
    );
    assert_eq!(a.status, 413);
    assert!(status_of(&a).1.starts_with("too_many_records"));

    // Ids of the wrong length, all zeros, an end before the start, a span from before the
    // retention: refused one by one, the good span kept, and the answer says so.
    let mut short = span(DB_SPAN, SERVER_SPAN, "short trace id", t0, 0.0, 1.0);
    short.trace_id = vec![1; 8];
    let mut zero = span(DB_SPAN, SERVER_SPAN, "zero span id", t0, 0.0, 1.0);
    zero.span_id = vec![0; 8];
    let mut backwards = span(DB_SPAN, SERVER_SPAN, "backwards", t0, 0.0, 1.0);
    backwards.end_time_unix_nano = backwards.start_time_unix_nano - 1;
    let ancient = span(
        JSON_SPAN,
        SERVER_SPAN,
        "ancient",
        t0 - 400 * 86_400_000,
        0.0,
        1.0,
    );
    let kept = span(SERVER_SPAN, BROWSER_SPAN, "kept", t0, 0.0, 5.0);
    let mixed = traces_request("api", vec![short, zero, backwards, ancient, kept]);
    let a = post(
        &server,
        "/v1/traces",
        &[PROTOBUF, key],
        &mixed.encode_to_vec(),
    );
    assert_eq!(a.status, 200);
    let partial = ExportTraceServiceResponse::decode(&a.body[..])
        .unwrap()
        .partial_success
        .unwrap();
    assert_eq!(partial.rejected_spans, 4, "{}", partial.error_message);
    assert!(
        partial.error_message.contains("trace_id has 8 bytes"),
        "{}",
        partial.error_message
    );
    // The same in JSON: a 10-byte span id is refused alone.
    let json_body = json!({"resourceSpans": [{"scopeSpans": [{"spans": [{
        "traceId": TRACE, "spanId": "00112233445566778899", "name": "x",
        "startTimeUnixNano": ns(t0).to_string(), "endTimeUnixNano": ns(t0).to_string()}]}]}]});
    let a = post(
        &server,
        "/v1/traces",
        &[JSON, key],
        json_body.to_string().as_bytes(),
    );
    assert_eq!(a.status, 200);
    assert_eq!(
        a.json()["partialSuccess"]["rejectedSpans"],
        "1",
        "{:?}",
        a.json()
    );

    // Another project's key stores in that project, never in this one's traces.
    let foreign = traces_request(
        "intruder",
        vec![span(DB_SPAN, SERVER_SPAN, "injected", t0, 1.0, 1.0)],
    );
    let a = post(
        &server,
        "/v1/traces",
        &[PROTOBUF, ("x-vigil-key", &other.public_key)],
        &foreign.encode_to_vec(),
    );
    assert_eq!(a.status, 200);

    // Only the one kept span is in this project, and the server still answers.
    assert_eq!(span_count(&server, &keys.api_token), 1);
    let (status, trace) = waterfall(&server, &keys.api_token, TRACE);
    assert_eq!(status, 200);
    let names: Vec<&str> = trace["spans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["kept"]);
    let (status, _) = waterfall(&server, &other.api_token, TRACE);
    assert_eq!(status, 200, "the other project sees its own span");
    assert_eq!(span_count(&server, &other.api_token), 1);

    // The trace API refuses what is not a trace id, and says 404 for one with nothing.
    for bad in [
        "nothex",
        "4BF92F3577B34DA6A3CE929D0E0E4736",
        "00000000000000000000000000000000",
        "4bf92f3577b34da6",
    ] {
        let (status, body) = waterfall(&server, &keys.api_token, bad);
        assert_eq!(status, 400, "{bad}: {body}");
    }
    let (status, _) = waterfall(&server, &keys.api_token, "ffffffffffffffffffffffffffffffff");
    assert_eq!(status, 404);
    let (status, _) = server.get(&format!("/api/v1/traces/{TRACE}"), None);
    assert_eq!(status, 401);
}

#[test]
fn a_second_listener_serves_only_otlp() {
    let dir = tempfile::tempdir().unwrap();
    let keys = create_project(dir.path(), "shop", &["*"]);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let otlp = format!("127.0.0.1:{port}");
    let server = Server::start_with(dir.path(), &["--otlp-listen", &otlp]);
    let t0 = now_ms() - 1000;
    let request = traces_request(
        "api",
        vec![span(SERVER_SPAN, BROWSER_SPAN, "GET /", t0, 0.0, 5.0)],
    );
    let url = format!("http://{otlp}/v1/traces");
    let mut answer = None;
    assert!(eventually(Duration::from_secs(5), || {
        let a = post_to(
            &url,
            &[PROTOBUF, ("x-vigil-key", &keys.public_key)],
            &request.encode_to_vec(),
        );
        let ok = a.status == 200;
        answer = Some(a);
        ok
    }));
    assert_eq!(span_count(&server, &keys.api_token), 1);
    // Nothing but OTLP there: not the API, not the dashboard.
    let mut resp = agent()
        .get(format!("http://{otlp}/api/v1/me"))
        .call()
        .unwrap();
    assert_eq!(
        resp.status().as_u16(),
        404,
        "{}",
        resp.body_mut().read_to_string().unwrap_or_default()
    );
}
