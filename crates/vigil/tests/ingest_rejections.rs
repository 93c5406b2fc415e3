//! Every malformed input class gets its status and code, stores nothing, and the server
//! keeps serving: the next valid batch is accepted.

mod common;

use common::*;
use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::{Value, json};
use std::io::Write;

struct Fixture {
    server: Server,
    key: String,
    token: String,
    _dir: tempfile::TempDir,
}

fn setup() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let p = create_project(dir.path(), "shop", &["https://shop.example.com"]);
    let server = Server::start(dir.path());
    Fixture {
        server,
        key: p.public_key,
        token: p.api_token,
        _dir: dir,
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

fn one_event() -> Value {
    json!([{"type": "custom", "ts": now_ms(), "name": "ping"}])
}

/// A valid batch padded with trailing whitespace to exactly `len` bytes.
fn padded(len: usize) -> Vec<u8> {
    let mut body = batch("pad", one_event());
    assert!(body.len() <= len);
    body.resize(len, b' ');
    body
}

impl Fixture {
    fn stored(&self) -> i64 {
        self.server.count(&self.token, "custom_events")
    }

    /// Sends a bad request and checks status, code, that nothing was stored, and that the
    /// server still takes a good batch afterwards.
    fn rejects(
        &self,
        what: &str,
        query: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        status: u16,
        code: &str,
    ) {
        let before = self.stored();
        let (got, reply, hdrs) = self.server.ingest_raw(query, headers, body);
        assert_eq!(got, status, "{what}: {reply}");
        assert_eq!(reply["code"], json!(code), "{what}: {reply}");
        let message = reply["message"].as_str().unwrap_or_default();
        assert!(
            !message.is_empty() && !message.ends_with('.'),
            "{what}: message {message:?}"
        );
        if status == 503 || status == 429 {
            assert!(
                hdrs.iter().any(|(k, _)| k == "retry-after"),
                "{what}: no Retry-After"
            );
        }
        assert_eq!(
            self.stored(),
            before,
            "{what}: a rejected batch stored something"
        );
        let (ok, reply) = self.server.ingest(&self.key, &batch("after", one_event()));
        assert_eq!(ok, 202, "{what}: the next valid batch failed: {reply}");
        assert_eq!(self.stored(), before + 1, "{what}");
    }

    fn key_query(&self) -> String {
        format!("?key={}", self.key)
    }
}

const PLAIN: &[(&str, &str)] = &[("content-type", "text/plain")];

#[test]
fn body_size_limits_at_the_limit_and_one_over() {
    let f = setup();
    let limit = 1024 * 1024;
    let (status, reply) = f.server.ingest(&f.key, &padded(limit));
    assert_eq!(status, 202, "exactly the limit is accepted: {reply}");
    f.rejects(
        "one byte over",
        &f.key_query(),
        PLAIN,
        &padded(limit + 1),
        413,
        "body_too_large",
    );
}

#[test]
fn gzip_bodies_limits_and_bombs() {
    let f = setup();
    let gz = [("content-type", "text/plain"), ("content-encoding", "gzip")];
    let (status, reply, _) =
        f.server
            .ingest_raw(&f.key_query(), &gz, &gzip(&batch("gz", one_event())));
    assert_eq!(status, 202, "{reply}");
    let limit = 8 * 1024 * 1024;
    let (status, reply, _) = f
        .server
        .ingest_raw(&f.key_query(), &gz, &gzip(&padded(limit)));
    assert_eq!(
        status, 202,
        "decompressing to exactly the limit is accepted: {reply}"
    );
    f.rejects(
        "one byte over decompressed",
        &f.key_query(),
        &gz,
        &gzip(&padded(limit + 1)),
        413,
        "decompressed_too_large",
    );
    // 1 GiB of zeros compresses to about 1 MiB; build a 200 MiB bomb that fits the body limit.
    let bomb = gzip(&vec![b' '; 200 * 1024 * 1024]);
    assert!(bomb.len() < 1024 * 1024, "bomb is {} bytes", bomb.len());
    f.rejects(
        "gzip bomb",
        &f.key_query(),
        &gz,
        &bomb,
        413,
        "decompressed_too_large",
    );
    f.rejects(
        "not gzip",
        &f.key_query(),
        &gz,
        b"this is not gzip",
        400,
        "bad_gzip",
    );
    let mut truncated = gzip(&batch("t", one_event()));
    truncated.truncate(truncated.len() / 2);
    f.rejects(
        "truncated gzip",
        &f.key_query(),
        &gz,
        &truncated,
        400,
        "bad_gzip",
    );
    f.rejects(
        "brotli",
        &f.key_query(),
        &[("content-type", "text/plain"), ("content-encoding", "br")],
        &batch("b", one_event()),
        415,
        "unsupported_encoding",
    );
    f.rejects(
        "form content type",
        &f.key_query(),
        &[("content-type", "application/x-www-form-urlencoded")],
        &batch("c", one_event()),
        415,
        "unsupported_media_type",
    );
}

#[test]
fn malformed_json_and_wrong_shapes() {
    let f = setup();
    let q = f.key_query();
    f.rejects(
        "invalid json",
        &q,
        PLAIN,
        b"{\"v\": 1, \"context\": ",
        400,
        "invalid_json",
    );
    f.rejects(
        "invalid utf-8",
        &q,
        PLAIN,
        b"{\"v\": 1, \"x\": \"\xff\xfe\"}",
        400,
        "invalid_utf8",
    );
    let mut wrong_type = batch("w", one_event());
    wrong_type = String::from_utf8(wrong_type)
        .unwrap()
        .replace("\"v\":1", "\"v\":\"1\"")
        .into_bytes();
    f.rejects(
        "wrong field type",
        &q,
        PLAIN,
        &wrong_type,
        400,
        "invalid_field",
    );
    let unknown = json!({"v": 1, "context": {"session_id": "s", "agent": {"name": "a", "version": "1"}, "colour": "red"}, "events": one_event()});
    f.rejects(
        "unknown key",
        &q,
        PLAIN,
        unknown.to_string().as_bytes(),
        400,
        "unknown_field",
    );
    let deep = json!({"v": 1, "context": {"session_id": "s", "agent": {"name": "a", "version": "1"}}, "events": [{"type": "custom", "ts": now_ms(), "name": "x", "properties": {"a": {"b": {"c": {"d": 1}}}}}]});
    f.rejects(
        "deep nesting",
        &q,
        PLAIN,
        deep.to_string().as_bytes(),
        400,
        "too_deep",
    );
    let huge = json!([{"type": "custom", "ts": now_ms(), "name": "x".repeat(16 * 1024 + 1)}]);
    f.rejects(
        "huge string",
        &q,
        PLAIN,
        &batch("h", huge),
        400,
        "string_too_long",
    );
    let at_limit = json!([{"type": "custom", "ts": now_ms(), "name": "x".repeat(16 * 1024)}]);
    assert_eq!(
        f.server.ingest(&f.key, &batch("h", at_limit)).0,
        202,
        "a string at the limit is accepted"
    );
    let many: Vec<Value> = (0..501)
        .map(|_| json!({"type": "custom", "ts": now_ms(), "name": "n"}))
        .collect();
    f.rejects(
        "too many events",
        &q,
        PLAIN,
        &batch("m", json!(many)),
        413,
        "too_many_events",
    );
    let max: Vec<Value> = (0..500)
        .map(|_| json!({"type": "custom", "ts": now_ms(), "name": "n"}))
        .collect();
    assert_eq!(
        f.server.ingest(&f.key, &batch("m", json!(max))).0,
        202,
        "500 events are accepted"
    );
    f.rejects("empty body", &q, PLAIN, b"", 400, "invalid_json");
}

#[test]
fn every_invalid_fixture_is_rejected_over_http() {
    let f = setup();
    let dir = repo_root().join("docs/fixtures/invalid");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let code = name.split("--").next().unwrap();
        let status = if code == "too_many_events" { 413 } else { 400 };
        f.rejects(
            &name,
            &f.key_query(),
            PLAIN,
            &std::fs::read(&path).unwrap(),
            status,
            code,
        );
    }
}

#[test]
fn keys_and_origins() {
    let f = setup();
    let body = batch("k", one_event());
    f.rejects("no key", "", PLAIN, &body, 401, "missing_key");
    f.rejects(
        "unknown key",
        "?key=pk_doesnotexist",
        PLAIN,
        &body,
        401,
        "invalid_key",
    );
    f.rejects(
        "disallowed origin",
        &f.key_query(),
        &[
            ("content-type", "text/plain"),
            ("origin", "https://evil.example"),
        ],
        &body,
        403,
        "origin_not_allowed",
    );
    // The allowed origin gets CORS headers; the key may also come as a header or in the body.
    let (status, _, hdrs) = f.server.ingest_raw(
        &f.key_query(),
        &[
            ("content-type", "text/plain"),
            ("origin", "https://shop.example.com"),
        ],
        &body,
    );
    assert_eq!(status, 202);
    assert!(
        hdrs.iter()
            .any(|(k, v)| k == "access-control-allow-origin" && v == "https://shop.example.com")
    );
    let (status, _, _) = f.server.ingest_raw("", &[("x-vigil-key", &f.key)], &body);
    assert_eq!(status, 202);
    let mut with_key: Value = serde_json::from_slice(&body).unwrap();
    with_key["key"] = json!(f.key);
    assert_eq!(
        f.server
            .ingest_raw("", PLAIN, with_key.to_string().as_bytes())
            .0,
        202
    );
    let mut other_key = with_key.clone();
    other_key["key"] = json!("pk_other");
    f.rejects(
        "conflicting keys",
        &f.key_query(),
        PLAIN,
        other_key.to_string().as_bytes(),
        401,
        "invalid_key",
    );
}

#[test]
fn server_survives_garbage_over_raw_sockets() {
    use std::io::{Read, Write as _};
    let f = setup();
    for garbage in [
        &b"GET / HTTP/1.1\r\n\r\n"[..],
        b"POST /api/v1/ingest HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\nabc",
        b"\x00\x01\x02\x03 not http at all\r\n\r\n",
        b"POST /api/v1/ingest?key=x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ] {
        let mut s = std::net::TcpStream::connect(&f.server.addr).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .unwrap();
        s.write_all(garbage).unwrap();
        let mut buf = [0u8; 256];
        let _ = s.read(&mut buf);
    }
    assert_eq!(f.server.ingest(&f.key, &batch("alive", one_event())).0, 202);
    let (status, _) = f.server.get("/healthz", None);
    assert_eq!(status, 200);
}

#[test]
fn rate_limit_answers_429_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let p = create_project(dir.path(), "shop", &[]);
    let server = Server::start_with_config(dir.path(), "rate_limit_events_per_second = 10\n");
    let events = |n: usize| {
        json!(
            (0..n)
                .map(|_| json!({"type": "custom", "ts": now_ms(), "name": "x"}))
                .collect::<Vec<_>>()
        )
    };
    assert_eq!(server.ingest(&p.public_key, &batch("r", events(10))).0, 202);
    let (status, reply, hdrs) = server.ingest_raw(
        &format!("?key={}", p.public_key),
        PLAIN,
        &batch("r", events(5)),
    );
    assert_eq!(
        (status, reply["code"].as_str()),
        (429, Some("rate_limited")),
        "{reply}"
    );
    assert!(hdrs.iter().any(|(k, v)| k == "retry-after" && v == "1"));
    assert_eq!(
        server.count(&p.api_token, "custom_events"),
        10,
        "the limited batch stored nothing"
    );
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert_eq!(server.ingest(&p.public_key, &batch("r", events(5))).0, 202);
}

#[test]
fn too_many_requests_in_flight_answers_503() {
    use std::io::Write as _;
    let dir = tempfile::tempdir().unwrap();
    let p = create_project(dir.path(), "shop", &[]);
    let server = Server::start_with_config(dir.path(), "max_inflight_requests = 1\n");
    // A slow client holds the only slot: headers sent, body not yet.
    let mut slow = std::net::TcpStream::connect(&server.addr).unwrap();
    write!(slow, "POST /api/v1/ingest?key={} HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n{{", p.public_key).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let (status, reply, hdrs) = server.ingest_raw(
        &format!("?key={}", p.public_key),
        PLAIN,
        &batch("o", one_event()),
    );
    assert_eq!(
        (status, reply["code"].as_str()),
        (503, Some("overloaded")),
        "{reply}"
    );
    assert!(hdrs.iter().any(|(k, _)| k == "retry-after"));
    drop(slow);
    assert!(eventually(std::time::Duration::from_secs(5), || server
        .ingest(&p.public_key, &batch("o", one_event()))
        .0
        == 202));
}

/// The query's `key` as intake reads it by hand (plain pairs) and through axum's `Query`
/// (escapes, `+`, a repeated key): garbage, a long query and a key that is not this
/// project's are answered, store nothing they should not, and the server goes on serving.
#[test]
fn query_keys_garbage_long_and_wrong() {
    let f = setup();
    let body = batch("q", one_event());
    let answer = |query: &str| {
        let before = f.stored();
        let (status, reply, _) = f.server.ingest_raw(query, PLAIN, &body);
        let stored = f.stored() - before;
        let (ok, _) = f.server.ingest(&f.key, &batch("after", one_event()));
        assert_eq!(ok, 202, "{query:.80}: the next valid batch failed");
        (status, stored, reply)
    };
    let key = &f.key;
    assert_eq!(
        answer(&format!("?key={key}&key={key}")).0,
        400,
        "repeated key"
    );
    assert_eq!(answer(&format!("?key={key}&key={key}")).1, 0);
    assert_eq!(answer(&format!("?&&&key={key}&&")).1, 1, "empty pairs");
    let (status, stored, reply) = answer("?key=%zz");
    assert_eq!(
        (status, stored, reply["code"].clone()),
        (401, 0, json!("invalid_key"))
    );
    let (status, stored, reply) = answer("?key=pk+other&x=%FF");
    assert_eq!(
        (status, stored, reply["code"].clone()),
        (401, 0, json!("invalid_key"))
    );
    let (status, stored, reply) = answer(&format!("?key=pk_other{key}"));
    assert_eq!(
        (status, stored, reply["code"].clone()),
        (401, 0, json!("invalid_key"))
    );
    let long = format!("?{}key={key}", "a=b&".repeat(2_000));
    assert_eq!(answer(&long).1, 1, "8 KB of pairs before the key");
}
