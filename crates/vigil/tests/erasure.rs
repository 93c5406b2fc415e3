//! Erasure of one user's or one session's data: every table, in Parquet and in the log,
//! verified by reading every file left in the data folder.

mod common;

use common::*;
use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;

fn batch_of(user: &str, session: &str, n: usize) -> Vec<u8> {
    let now = now_ms();
    let mut events = Vec::new();
    for i in 0..n as i64 {
        events.push(json!({"type": "view", "ts": now + i}));
        events.push(json!({"type": "vital", "ts": now + i, "name": "LCP", "value": 1000 + i}));
        events.push(json!({"type": "error", "ts": now + i, "error_type": "TypeError", "message": format!("boom {user}")}));
        events.push(json!({"type": "custom", "ts": now + i, "name": "checkout", "value": 10}));
    }
    json!({
        "v": 1,
        "context": {
            "session_id": session, "view_id": format!("v-{session}"), "user_id": user,
            "agent": {"name": "vigil-test", "version": "1.0.0"},
            "page_url": "https://shop.example.com/cart"
        },
        "events": events
    })
    .to_string()
    .into_bytes()
}

/// Every file under the store: Parquet rows whose `column` equals `value`, plus the raw
/// log files that mention `value` at all.
fn traces_left(data: &Path, column: &str, value: &str) -> (usize, Vec<String>) {
    let mut rows = 0;
    let mut raw = Vec::new();
    let mut stack = vec![data.join("store")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            // A running server may delete files (flushed logs, compacted segments) meanwhile.
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            if path.extension().is_some_and(|e| e == "parquet") {
                let Ok(batches) = vigil_store::read_parquet(&path) else {
                    continue;
                };
                for batch in batches {
                    let col = batch.column_by_name(column).unwrap();
                    let strings = col
                        .as_any()
                        .downcast_ref::<datafusion::arrow::array::StringArray>()
                        .unwrap();
                    rows += strings.iter().filter(|v| *v == Some(value)).count();
                }
            } else if bytes.windows(value.len()).any(|w| w == value.as_bytes()) {
                raw.push(path.display().to_string());
            }
        }
    }
    (rows, raw)
}

fn count_for(server: &Server, token: &str, metric: &str, field: &str, value: &str) -> i64 {
    let (status, v) = server.query(
        token,
        &json!({"metric": metric, "aggregations": ["count"], "filters": [{"field": field, "op": "eq", "value": value}], "from": 0, "to": i64::MAX / 2}),
    );
    assert_eq!(status, 200, "{v}");
    v["rows"][0][0].as_i64().unwrap_or(0)
}

fn erase(data: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(BIN)
        .args(["erase", "--project", "shop", "--data"])
        .arg(data)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn erasing_a_user_and_a_session_removes_them_from_every_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let keys = create_project(data, "shop", &["*"]);
    // Small flushes, so the user's rows are in several Parquet files and in the log.
    let mut server = Server::start_with_config(data, "flush_rows = 50\n");
    for i in 0..6 {
        for (user, session) in [
            ("u-erase", "s-erase-1"),
            ("u-keep", "s-keep"),
            ("u-erase", "s-erase-2"),
            ("u-other", "s-gone"),
        ] {
            let (status, body) = server.ingest(
                &keys.public_key,
                &batch_of(user, &format!("{session}-{i}"), 5),
            );
            assert_eq!(status, 202, "{body}");
        }
    }
    assert_eq!(
        count_for(&server, &keys.api_token, "errors", "user_id", "u-erase"),
        60
    );
    let (rows, _) = traces_left(data, "user_id", "u-erase");
    assert!(
        rows > 0,
        "some of the user's rows should be in Parquet before the erasure"
    );

    // The CLI refuses while the server holds the data folder.
    let (ok, text) = erase(data, &["--user-id", "u-erase"]);
    assert!(!ok && text.contains("in use"), "{text}");
    server.kill9();

    let (ok, text) = erase(data, &["--user-id", "u-erase"]);
    assert!(ok, "{text}");
    // 12 batches of 5 × 4 events.
    assert!(text.contains("erased 240 rows"), "{text}");
    let (ok, text) = erase(data, &["--session-id", "s-gone-3"]);
    assert!(ok && text.contains("erased 20 rows"), "{text}");

    assert_eq!(traces_left(data, "user_id", "u-erase"), (0, vec![]));
    assert_eq!(traces_left(data, "session_id", "s-gone-3"), (0, vec![]));

    let server = Server::start(data);
    for metric in ["views", "vitals", "errors", "custom_events"] {
        assert_eq!(
            count_for(&server, &keys.api_token, metric, "user_id", "u-erase"),
            0,
            "{metric}"
        );
        assert_eq!(
            count_for(&server, &keys.api_token, metric, "user_id", "u-keep"),
            30,
            "{metric}"
        );
        assert_eq!(
            count_for(&server, &keys.api_token, metric, "user_id", "u-other"),
            25,
            "{metric}"
        );
    }
    let events: Vec<Value> = server.session(&keys.api_token, "s-keep-2");
    assert_eq!(events.len(), 20);
}

/// The same through the API of a running server, as the project's owner: queries stop
/// seeing the user at once and the files holding them are gone within seconds.
#[test]
fn erasure_through_the_api_of_a_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let keys = create_project(data, "shop", &["*"]);
    add_user(data, "owner@example.com", "shop", "owner password");
    let server = Server::start_with_config(data, "flush_rows = 50\n");
    for i in 0..4 {
        for (user, session) in [("u-erase", "s-erase"), ("u-keep", "s-keep")] {
            let (status, body) = server.ingest(
                &keys.public_key,
                &batch_of(user, &format!("{session}-{i}"), 5),
            );
            assert_eq!(status, 202, "{body}");
        }
    }
    let agent = agent();
    let mut login = agent
        .post(server.url("/api/v1/login"))
        .header("content-type", "application/json")
        .send(
            json!({"email": "owner@example.com", "password": "owner password"})
                .to_string()
                .as_bytes(),
        )
        .unwrap();
    assert_eq!(login.status().as_u16(), 200);
    let cookie = login
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let me: Value = serde_json::from_str(&login.body_mut().read_to_string().unwrap()).unwrap();
    let csrf = me["csrf_token"].as_str().unwrap().to_owned();
    let erase = |body: Value| {
        let mut r = agent
            .post(server.url(&format!("/api/v1/projects/{}/erasure", keys.id)))
            .header("content-type", "application/json")
            .header("cookie", &cookie)
            .header("x-csrf-token", &csrf)
            .send(body.to_string().as_bytes())
            .unwrap();
        let status = r.status().as_u16();
        (
            status,
            serde_json::from_str::<Value>(&r.body_mut().read_to_string().unwrap())
                .unwrap_or(Value::Null),
        )
    };
    // Garbage, empty, oversize and unknown fields: each a 400, nothing erased.
    for bad in [
        json!({"user_id": "u-erase", "session_id": "s-keep-1"}),
        json!({}),
        json!({"user_id": ""}),
        json!({"user_id": "u".repeat(1025)}),
        json!({"user_id": 7}),
        json!({"user_id": "u-erase", "colour": "red"}),
        json!("not an object"),
    ] {
        let (status, body) = erase(bad.clone());
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("invalid_body")),
            "{bad}: {body}"
        );
    }
    assert_eq!(
        count_for(&server, &keys.api_token, "views", "user_id", "u-erase"),
        20
    );
    let (status, body) = erase(json!({"user_id": "u-erase"}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["rows_removed"], 80, "{body}");
    assert_eq!(
        count_for(&server, &keys.api_token, "views", "user_id", "u-erase"),
        0
    );
    assert_eq!(
        count_for(&server, &keys.api_token, "views", "user_id", "u-keep"),
        20
    );
    assert!(
        eventually(std::time::Duration::from_secs(20), || traces_left(
            data, "user_id", "u-erase"
        ) == (0, vec![])),
        "left in the data folder: {:?}",
        traces_left(data, "user_id", "u-erase")
    );
}
