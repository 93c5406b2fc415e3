//! Intake in process: the router over a temp store and metadata database, requests sent
//! through tower without a socket or the binary. Every protocol fixture, the key and origin
//! checks, gzip, and that an accepted batch is in the store when the answer arrives.

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use serde_json::Value;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tower::ServiceExt;
use vigil_enrich::{Enricher, GeoDb};
use vigil_intake::{Intake, IntakeConfig};
use vigil_meta::Meta;
use vigil_store::{EventStore, Store, StoreConfig, Table};

struct Setup {
    _dir: tempfile::TempDir,
    store: Arc<Store>,
    router: axum::Router,
    key: String,
    locked_key: String,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("store"), StoreConfig::default()).unwrap());
    let meta = Arc::new(Meta::open(&dir.path().join("meta.db")).unwrap());
    let (open, _) = meta.create_project("open", &[], 36500).unwrap();
    let (locked, _) = meta
        .create_project("locked", &["https://shop.example.com".into()], 36500)
        .unwrap();
    let enricher = Enricher::new(GeoDb::open(None, None).unwrap());
    let intake = Arc::new(Intake::new(
        store.clone(),
        meta,
        enricher,
        IntakeConfig::default(),
    ));
    Setup {
        _dir: dir,
        store,
        router: intake.router(),
        key: open.public_key,
        locked_key: locked.public_key,
    }
}

async fn send(
    router: &axum::Router,
    uri: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (StatusCode, Value) {
    let mut request = Request::post(uri);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut request = request.body(Body::from(body)).unwrap();
    let peer: SocketAddr = "203.0.113.7:50000".parse().unwrap();
    request.extensions_mut().insert(ConnectInfo(peer));
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn fixture_dir(kind: &str) -> PathBuf {
    PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
        .join("../../docs/fixtures")
        .join(kind)
}

fn fixtures(kind: &str) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<_> = std::fs::read_dir(fixture_dir(kind))
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect();
    out.sort();
    out
}

/// Moves a fixture's events to an hour ago (intake takes events inside the retention).
fn recent(body: &[u8]) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(body).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let events = v["events"].as_array_mut().unwrap();
    let earliest = events
        .iter()
        .filter_map(|e| e["ts"].as_i64())
        .min()
        .unwrap();
    for e in events {
        let ts = e["ts"].as_i64().unwrap();
        e["ts"] = (ts - earliest + now - 3_600_000).into();
    }
    serde_json::to_vec(&v).unwrap()
}

async fn stored(store: &Store) -> usize {
    let mut rows = 0;
    // One row per event in the event tables (a traced request is also a `spans` row).
    for table in Table::EVENTS {
        rows += store
            .scan(1, table, 0, i64::MAX)
            .await
            .unwrap()
            .iter()
            .map(|b| b.num_rows())
            .sum::<usize>();
    }
    rows
}

#[tokio::test]
async fn every_valid_fixture_is_stored_before_the_answer() {
    let s = setup();
    let uri = format!("/api/v1/ingest?key={}", s.key);
    let mut sent = 0usize;
    for (name, body) in fixtures("valid") {
        let events = serde_json::from_slice::<Value>(&body).unwrap()["events"]
            .as_array()
            .unwrap()
            .len();
        let (status, answer) = send(&s.router, &uri, &[], recent(&body)).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{name}: {answer}");
        assert_eq!(answer["accepted"], events, "{name}");
        sent += events;
        assert_eq!(
            stored(&s.store).await,
            sent,
            "{name}: every accepted event is readable at once"
        );
    }
}

#[tokio::test]
async fn every_invalid_fixture_gets_the_code_in_its_name_and_stores_nothing() {
    let s = setup();
    let uri = format!("/api/v1/ingest?key={}", s.key);
    for (name, body) in fixtures("invalid") {
        let code = name.split("--").next().unwrap();
        let (status, answer) = send(&s.router, &uri, &[], body).await;
        assert!(status.is_client_error(), "{name}: {status}");
        assert_eq!(answer["code"], code, "{name}: {answer}");
    }
    assert_eq!(stored(&s.store).await, 0);
}

#[tokio::test]
async fn keys_origins_and_gzip() {
    let s = setup();
    let body = recent(&std::fs::read(fixture_dir("valid").join("view.json")).unwrap());
    let (status, answer) = send(&s.router, "/api/v1/ingest?key=pk_nope", &[], body.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
    assert_eq!(answer["code"], "invalid_key");
    let locked = format!("/api/v1/ingest?key={}", s.locked_key);
    let evil = [("origin", "https://evil.example.com")];
    let (status, answer) = send(&s.router, &locked, &evil, body.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    let shop = [("origin", "https://shop.example.com")];
    let (status, _) = send(&s.router, &locked, &shop, body.clone()).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &body).unwrap();
    let gzipped = gz.finish().unwrap();
    let uri = format!("/api/v1/ingest?key={}", s.key);
    let (status, answer) = send(&s.router, &uri, &[("content-encoding", "gzip")], gzipped).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    // Project 1 holds the gzipped batch; the accepted one with an origin went to project 2.
    assert_eq!(
        stored(&s.store).await,
        answer["accepted"].as_u64().unwrap() as usize
    );
}
