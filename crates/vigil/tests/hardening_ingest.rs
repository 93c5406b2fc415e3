//! Attacks on intake and the store, as an anonymous client with the public key can make
//! them. Each test sends the attack, then checks that it was refused with a clear code,
//! that nothing of it was stored, and that the server still takes good data.

mod common;

use common::*;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap()
}

fn ping() -> Value {
    json!([{"type": "custom", "ts": now_ms(), "name": "ping"}])
}

/// A batch with the given context fields merged over the minimal one.
fn batch_with_context(extra: Value, events: Value) -> Vec<u8> {
    let mut context = json!({
        "session_id": "s-attack",
        "agent": {"name": "vigil-test", "version": "1.0.0"},
    });
    for (k, v) in extra.as_object().unwrap() {
        context[k] = v.clone();
    }
    json!({"v": 1, "context": context, "events": events})
        .to_string()
        .into_bytes()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// Sends a gzipped batch with the key in the query string.
fn ingest_gzip(server: &Server, key: &str, gzipped: &[u8]) -> (u16, Value, Vec<(String, String)>) {
    server.ingest_raw(
        &format!("?key={key}"),
        &[("content-type", "text/plain"), ("content-encoding", "gzip")],
        gzipped,
    )
}

fn metric(server: &Server, name: &str) -> f64 {
    let (_, text) = server.get("/metrics", None);
    text.lines()
        .find(|l| l.starts_with(name) && !l.starts_with('#'))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// The issue's poison batch: 300 events whose context attributes hold 512 values of
/// 16 KiB (about 10 KB gzipped). It used to panic the writer after the log fsync, so
/// every later ingest failed and the server could not restart. Now the attributes are
/// refused by the protocol, and a context that passes the protocol but would expand past
/// the row budget is refused by the store, both before anything is written.
#[test]
fn poison_batches_are_refused_before_the_log_and_ingest_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let keys = create_project(dir.path(), "shop", &["*"]);
    let mut server = Server::start(dir.path());

    // 512 × 15 KiB: just under the decompression limit, so the attributes themselves are
    // what is refused.
    let attributes: serde_json::Map<String, Value> = (0..512)
        .map(|i| (format!("a{i}"), json!("x".repeat(15 * 1024))))
        .collect();
    let events: Vec<Value> = (0..300)
        .map(|_| json!({"type": "custom", "ts": now_ms(), "name": "p"}))
        .collect();
    let poison = gzip(&batch_with_context(
        json!({ "attributes": attributes }),
        json!(events),
    ));
    assert!(poison.len() < 64 * 1024, "{} bytes gzipped", poison.len());
    let (status, body, _) = ingest_gzip(&server, &keys.public_key, &poison);
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_value")),
        "{body}"
    );

    // Within the protocol's limits, but every one of 500 rows would carry ~96 KB of context.
    let big = "y".repeat(16 * 1024 - 64);
    let context = json!({
        "page_url": format!("https://shop.example.com/{big}"),
        "referrer": format!("https://ref.example.com/{big}"),
        "user_id": big, "release": big, "environment": big, "carrier": big,
    });
    let events: Vec<Value> = (0..500)
        .map(|_| json!({"type": "custom", "ts": now_ms(), "name": "expands"}))
        .collect();
    let expanding = gzip(&batch_with_context(context, json!(events)));
    let (status, body, _) = ingest_gzip(&server, &keys.public_key, &expanding);
    assert_eq!(
        (status, body["code"].as_str()),
        (413, Some("batch_too_large")),
        "{body}"
    );
    assert!(metric(&server, "vigil_store_batches_refused_total") >= 1.0);

    // The server still takes data, says it is healthy, and restarts with the good data only.
    assert_eq!(
        server.ingest(&keys.public_key, &batch("s-good", ping())).0,
        202
    );
    assert_eq!(server.get("/healthz", None).0, 200);
    assert_eq!(server.get("/readyz", None).0, 200);
    server.kill9();
    let server = Server::start(dir.path());
    assert_eq!(server.count(&keys.api_token, "custom_events"), 1);
    assert_eq!(metric(&server, "vigil_store_log_frames_skipped_total"), 0.0);
}

/// A log frame that cannot be loaded (written by a bug, or damaged with a valid CRC) must
/// not keep the server from starting: it is skipped loudly and the rest is served.
#[test]
fn a_poisoned_log_frame_is_skipped_at_start_and_the_rest_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let keys = create_project(dir.path(), "shop", &["*"]);
    let mut server = Server::start(dir.path());
    for i in 0..3 {
        let (status, _) = server.ingest(&keys.public_key, &batch(&format!("s{i}"), ping()));
        assert_eq!(status, 202);
    }
    server.kill9();

    // Append a whole frame (right length and CRC) whose payload is not a batch, in front of
    // nothing: then one more good batch after restart must land behind it.
    let wal_dir = dir.path().join("store/wal");
    let mut segments: Vec<_> = std::fs::read_dir(&wal_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| std::fs::metadata(p).unwrap().len() > 0)
        .collect();
    segments.sort();
    let segment = segments.last().expect("a log segment with frames").clone();
    let seq: u64 = 1_000_000;
    let payload = br#"{"project": 1, "common": "not a context", "events": 7}"#;
    let mut crc = crc32fast::Hasher::new();
    crc.update(&seq.to_le_bytes());
    crc.update(payload);
    let mut frame = Vec::new();
    frame.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    frame.extend_from_slice(&crc.finalize().to_le_bytes());
    frame.extend_from_slice(&seq.to_le_bytes());
    frame.extend_from_slice(payload);
    std::fs::OpenOptions::new()
        .append(true)
        .open(&segment)
        .unwrap()
        .write_all(&frame)
        .unwrap();

    let mut server = Server::start(dir.path());
    assert_eq!(metric(&server, "vigil_store_log_frames_skipped_total"), 1.0);
    assert_eq!(server.count(&keys.api_token, "custom_events"), 3);
    assert_eq!(server.ingest(&keys.public_key, &batch("s4", ping())).0, 202);
    server.kill9();
    let server = Server::start(dir.path());
    assert_eq!(server.count(&keys.api_token, "custom_events"), 4);
}

/// Numbers that fixed point cannot hold and timestamps no query or retention reaches.
#[test]
fn out_of_range_numbers_and_timestamps_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let keys = create_project(dir.path(), "shop", &["*"]);
    let server = Server::start(dir.path());
    let now = now_ms();
    let day = 86_400_000i64;
    let cases = [
        (
            json!([{"type": "custom", "ts": now, "name": "rev", "value": 1e308}]),
            "number_out_of_range",
        ),
        (
            json!([{"type": "custom", "ts": now, "name": "rev", "value": -2e15}]),
            "number_out_of_range",
        ),
        (
            json!([{"type": "custom", "ts": i64::MAX, "name": "far"}]),
            "number_out_of_range",
        ),
        // Year 2200 and two days ahead: past the day of clock skew allowed.
        (
            json!([{"type": "custom", "ts": 7_258_118_400_000i64, "name": "far"}]),
            "invalid_value",
        ),
        (
            json!([{"type": "custom", "ts": now + 2 * day, "name": "ahead"}]),
            "invalid_value",
        ),
        // Older than the project's 90 days of retention.
        (
            json!([{"type": "custom", "ts": now - 91 * day, "name": "old"}]),
            "invalid_value",
        ),
    ];
    for (events, code) in cases {
        let (status, body) = server.ingest(&keys.public_key, &batch("s", events.clone()));
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some(code)),
            "{events}: {body}"
        );
    }
    assert_eq!(server.count(&keys.api_token, "custom_events"), 0);

    // At the edges: a value of 10^15 and timestamps just inside the window are kept, and
    // two large values sum exactly instead of wrapping.
    let events = json!([
        {"type": "custom", "ts": now + day - 60_000, "name": "rev", "value": 9e14},
        {"type": "custom", "ts": now - 89 * day, "name": "rev", "value": 9e14},
        {"type": "custom", "ts": now, "name": "edge", "value": 1e15},
    ]);
    let (status, body) = server.ingest(&keys.public_key, &batch("s", events));
    assert_eq!(status, 202, "{body}");
    let (status, v) = server.query(
        &keys.api_token,
        &json!({"metric": "custom_events.value", "aggregations": ["sum"], "filters": [{"field": "name", "op": "eq", "value": "rev"}], "from": 0, "to": now + 2 * day}),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["rows"][0][0].as_f64(), Some(1.8e15), "{v}");
}

/// Unknown keys of any size used to be cached whole (1,000 × 300 KB keys: +306 MiB).
/// Keys that cannot be public keys are refused before any lookup or cache.
#[test]
fn unknown_and_oversized_keys_leave_no_memory_behind() {
    let dir = tempfile::tempdir().unwrap();
    let keys = create_project(dir.path(), "shop", &["*"]);
    let server = Server::start(dir.path());
    let before = rss_kib(server.pid());
    let body = batch("s", ping());
    for i in 0..1000 {
        // HTTP clients refuse headers this long, so the request is written by hand.
        let key = format!("pk_{i:06}{}", "k".repeat(300 * 1024));
        let mut s = TcpStream::connect(&server.addr).unwrap();
        write!(
            s,
            "POST /api/v1/ingest HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: text/plain\r\nX-Vigil-Key: {key}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .unwrap();
        s.write_all(&body).unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        assert!(
            answer.starts_with("HTTP/1.1 401") && answer.contains("invalid_key"),
            "{answer}"
        );
    }
    for i in 0..1000 {
        let (status, _) = server.ingest(&format!("pk_unknown{i}"), &body);
        assert_eq!(status, 401);
    }
    let after = rss_kib(server.pid());
    assert!(
        after < before + 64 * 1024,
        "RSS grew from {before} KiB to {after} KiB"
    );
    println!("RSS before {before} KiB, after 2,000 bad keys {after} KiB");
    assert_eq!(server.ingest(&keys.public_key, &body).0, 202);
}

/// Stalled bodies whose key is inside the body (so unknown until read) used to take every
/// in-flight slot. They now share a small pool of their own and time out; requests with
/// the key outside the body are not affected.
#[test]
fn stalled_keyless_bodies_do_not_block_keyed_ingest() {
    let dir = tempfile::tempdir().unwrap();
    let keys = create_project(dir.path(), "shop", &["*"]);
    let server = Server::start_with_config(dir.path(), "body_timeout_secs = 2\n");
    let mut stalled = Vec::new();
    for _ in 0..100 {
        let mut s = TcpStream::connect(&server.addr).unwrap();
        write!(
            s,
            "POST /api/v1/ingest HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\n{{"
        )
        .unwrap();
        stalled.push(s);
    }
    std::thread::sleep(Duration::from_millis(300));
    for i in 0..20 {
        let (status, body) = server.ingest(&keys.public_key, &batch(&format!("k{i}"), ping()));
        assert_eq!(status, 202, "{body}");
    }
    // The stalled ones are answered: 503 past their pool, 408 once the body timeout passes.
    let mut answers = std::collections::BTreeMap::new();
    for mut s in stalled {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut buf = [0u8; 12];
        let n = s.read(&mut buf).unwrap_or(0);
        *answers
            .entry(String::from_utf8_lossy(&buf[..n]).into_owned())
            .or_insert(0) += 1;
    }
    println!("answers to 100 stalled keyless bodies: {answers:?}");
    // 64 hold the keyless slots until their body times out; the rest find the pool full
    // (on a very slow machine a late one may find a freed slot and time out too).
    let timed_out = answers.get("HTTP/1.1 408").copied().unwrap_or(0);
    let refused = answers.get("HTTP/1.1 503").copied().unwrap_or(0);
    assert_eq!(timed_out + refused, 100, "{answers:?}");
    assert!(timed_out >= 64 && refused > 0, "{answers:?}");
    assert_eq!(server.count(&keys.api_token, "custom_events"), 20);
}

fn hwm_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap()
}

/// Many clients sending the widest batches the limits allow (each gzips to a few KB but
/// expands to ~10 MB of rows): memory stays within the configured bounds, what is refused
/// is refused with a retryable 503, and everything acknowledged is stored.
#[test]
fn a_flood_of_wide_batches_stays_within_the_memory_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let keys = create_project(dir.path(), "shop", &["*"]);
    let server = Server::start_with_config(
        dir.path(),
        "max_inflight_bytes = 33554432\nmax_unflushed_bytes = 67108864\n",
    );
    let attributes: serde_json::Map<String, Value> = (0..8)
        .map(|i| (format!("a{i}"), json!("v".repeat(1000))))
        .collect();
    let wide = "w".repeat(2000);
    let body = |n: usize| {
        let events: Vec<Value> = (0..500)
            .map(|i| json!({"type": "custom", "ts": now_ms(), "name": format!("e{n}-{i}")}))
            .collect();
        gzip(&batch_with_context(
            json!({"attributes": attributes.clone(), "page_url": format!("https://shop.example.com/{wide}"), "user_id": wide, "release": wide}),
            json!(events),
        ))
    };
    let sample = body(0);
    println!("one batch: {} bytes gzipped", sample.len());
    let accepted = std::sync::atomic::AtomicU64::new(0);
    let refused = std::sync::atomic::AtomicU64::new(0);
    std::thread::scope(|scope| {
        for c in 0..8 {
            let (server, accepted, refused, body) = (&server, &accepted, &refused, &body);
            let key = keys.public_key.clone();
            scope.spawn(move || {
                for n in 0..12 {
                    let (status, v, headers) = ingest_gzip(server, &key, &body(c * 100 + n));
                    match status {
                        202 => accepted.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                        503 => {
                            assert!(headers.iter().any(|(k, _)| k == "retry-after"));
                            refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                        }
                        other => panic!("{other} {v}"),
                    };
                }
            });
        }
    });
    let hwm = hwm_kib(server.pid());
    let accepted = accepted.into_inner();
    println!(
        "96 wide batches: {accepted} accepted, {} refused with 503; server peak RSS {} MiB",
        refused.into_inner(),
        hwm / 1024
    );
    // 32 MiB of bodies + 64 MiB of rows + one 64 MiB group + the process itself.
    assert!(hwm < 512 * 1024, "peak RSS {hwm} KiB");
    assert!(accepted > 0);
    assert_eq!(
        server.count(&keys.api_token, "custom_events"),
        accepted as i64 * 500
    );
}
