//! Project A's credentials never reach project B's data.

mod common;

use common::*;
use serde_json::json;

#[test]
fn a_token_reads_only_its_own_project() {
    let dir = tempfile::tempdir().unwrap();
    let a = create_project(dir.path(), "a", &[]);
    let b = create_project(dir.path(), "b", &[]);
    let server = Server::start(dir.path());
    let now = now_ms();
    let events = |n: usize| {
        json!(
            (0..n)
                .map(|i| json!({"type": "custom", "ts": now + i as i64, "name": "e"}))
                .collect::<Vec<_>>()
        )
    };
    assert_eq!(
        server.ingest(&a.public_key, &batch("sess-a", events(2))).0,
        202
    );
    assert_eq!(
        server.ingest(&b.public_key, &batch("sess-b", events(5))).0,
        202
    );

    assert_eq!(server.count(&a.api_token, "custom_events"), 2);
    assert_eq!(server.count(&b.api_token, "custom_events"), 5);
    // B's session is invisible to A, even by id.
    assert!(server.session(&a.api_token, "sess-b").is_empty());
    assert_eq!(server.session(&b.api_token, "sess-b").len(), 5);
    // Filters cannot widen the scope.
    let (_, r) = server.query(
        &a.api_token,
        &json!({
            "metric": "custom_events", "aggregations": ["count"],
            "filters": [{"field": "session_id", "op": "in", "value": ["sess-a", "sess-b"]}],
            "from": 0, "to": i64::MAX / 2
        }),
    );
    assert_eq!(r["rows"][0][0], json!(2));
    // The same holds once the data is in Parquet segments: restart replays, demo flushes.
    drop(server);
    let server = Server::start(dir.path());
    assert_eq!(server.count(&a.api_token, "custom_events"), 2);
    assert_eq!(server.count(&b.api_token, "custom_events"), 5);
}

#[test]
fn reading_needs_a_secret_token() {
    let dir = tempfile::tempdir().unwrap();
    let a = create_project(dir.path(), "a", &[]);
    let server = Server::start(dir.path());
    let q = json!({"metric": "views", "from": 0, "to": 1});
    for token in ["", "vt_wrong", a.public_key.as_str()] {
        let (status, r) = server.query(token, &q);
        assert_eq!(status, 401, "token {token:?}: {r}");
        assert_eq!(r["code"], json!("unauthorized"));
    }
    let (status, _) = server.get("/api/v1/sessions/x", None);
    assert_eq!(status, 401);
    let (status, r) = server.query(&a.api_token, &json!({"metric": "nope", "from": 0, "to": 1}));
    assert_eq!(status, 400);
    assert_eq!(r["code"], json!("invalid_query"));
}
