//! Upgrades never strand data: data folders written by earlier releases, checked in under
//! `tests/fixtures/data-v*`, open in this build and answer exactly what the release that
//! wrote them answered (kept beside them in `answers.json`). Each folder holds flushed
//! Parquet segments and log frames that were never flushed (the writing server was killed),
//! so both the segment layout and log replay are covered. A folder written by a newer
//! release is refused with a message, never half-read.

mod common;

use common::*;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// Folders by the manifest version that wrote them: v1, the first versioned formats; v7,
/// the last before page URLs were stored without their path.
const FOLDERS: [&str; 2] = ["data-v1", "data-v7"];

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn fixture(name: &str) -> (tempfile::TempDir, Value) {
    let source = repo_root().join("crates/vigil/tests/fixtures").join(name);
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&source, dir.path());
    let answers = std::fs::read(dir.path().join("answers.json")).unwrap();
    (dir, serde_json::from_slice(&answers).unwrap())
}

/// Numbers equal to 12 significant digits (a float summed in another order may differ in
/// its last bits); everything else exactly. Rows compare as a multiset, since rows that
/// tie on the sort column may come in either order.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            x == y || (x - y).abs() <= 1e-12 * x.abs().max(y.abs())
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && {
                let mut left: Vec<&Value> = x.iter().collect();
                y.iter()
                    .all(|v| match left.iter().position(|l| same(l, v)) {
                        Some(i) => {
                            left.swap_remove(i);
                            true
                        }
                        None => false,
                    })
            }
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

/// Columns later releases added to an answer, with the value every row of a folder written
/// before them has: the sessions search's `has_replay` (no replay was kept then). They are
/// checked here and taken out, so the rest is compared with what was recorded.
fn without_added_columns(mut answer: Value, recorded: &Value) -> Value {
    const ADDED: [(&str, Value); 1] = [("has_replay", Value::Bool(false))];
    for (column, value) in ADDED {
        let known = |a: &Value| {
            a["columns"]
                .as_array()
                .and_then(|c| c.iter().position(|c| c == column))
        };
        let (Some(at), None) = (known(&answer), known(recorded)) else {
            continue;
        };
        if let Some(columns) = answer["columns"].as_array_mut() {
            columns.remove(at);
        }
        for row in answer["rows"].as_array_mut().into_iter().flatten() {
            if let Some(row) = row.as_array_mut() {
                assert_eq!(row.remove(at), value, "{column} of a row written before it");
            }
        }
    }
    answer
}

/// A sessions search without the mobile sessions (screens, no page views) that later
/// releases list beside web ones (issue 14): the same search asked for more rows, the
/// mobile ones taken out, cut back to the limit asked.
fn sessions_without_mobile(server: &Server, token: &str, request: &Value) -> (u16, Value) {
    let limit = request["limit"].as_u64().unwrap_or(100);
    let mut wider = request.clone();
    wider["limit"] = (limit + 20).into();
    let (status, mut answer) = server.post(token, "/api/v1/sessions", &wider);
    if let Some(rows) = answer["rows"].as_array_mut() {
        rows.retain(|row| {
            let id = row[0].as_str().unwrap_or_default();
            let timeline = server.session(token, id);
            timeline.iter().any(|e| e["type"] == "views")
                || !timeline.iter().any(|e| e["type"] == "screen_loads")
        });
        rows.truncate(limit as usize);
    }
    (status, answer)
}

#[test]
fn earlier_data_folders_open_and_answer_the_same() {
    for name in FOLDERS {
        let (dir, recorded) = fixture(name);
        let token = recorded["token"].as_str().unwrap();
        // Twice: the first start replays the old log, the second reads what the first one
        // flushed and wrote in this build's formats.
        for start in ["first start (replay)", "second start"] {
            let server = Server::start(dir.path());
            for case in recorded["answers"].as_array().unwrap() {
                let path = case["path"].as_str().unwrap();
                let (status, answer) = if case["request"].is_null() {
                    let (status, text) = server.get(path, Some(token));
                    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
                } else if path == "/api/v1/sessions" && name == "data-v1" {
                    sessions_without_mobile(&server, token, &case["request"])
                } else {
                    server.post(token, path, &case["request"])
                };
                assert_eq!(status, 200, "{name}, {start}: {path} {}", case["request"]);
                let answer = without_added_columns(answer, &case["answer"]);
                assert!(
                    same(&answer, &case["answer"]),
                    "{name}, {start}: {path} {}\nrecorded: {}\nnow:      {}",
                    case["request"],
                    case["answer"],
                    answer
                );
            }
            // data-v1 was written before errors had fingerprints and before mobile
            // sessions were listed; data-v7 after both.
            if name == "data-v1" {
                legacy_errors_keep_their_groups(&server, token, &recorded, name);
            }
            drop(server);
        }
    }
}

/// Errors stored before fingerprints group by type and message, as the release that wrote
/// them grouped them: under `legacy:` keys, adding up to the recorded count.
fn legacy_errors_keep_their_groups(server: &Server, token: &str, recorded: &Value, name: &str) {
    let errors_case = recorded["answers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["request"]["metric"] == "errors" && c["request"].get("group_by").is_none())
        .expect("the folder's answers count its errors");
    let range = &errors_case["request"];
    let (status, answer) = server.post(
        token,
        "/api/v1/errors/groups",
        &serde_json::json!({"from": range["from"], "to": range["to"], "state": "all", "limit": 1000}),
    );
    assert_eq!(status, 200, "{name}: {answer}");
    let groups = answer["groups"].as_array().unwrap();
    assert!(!groups.is_empty(), "{name}: {answer}");
    for g in groups {
        let key = g["fingerprint"].as_str().unwrap();
        let expected = format!(
            "legacy:{}: {}",
            g["error_type"].as_str().unwrap(),
            g["message"].as_str().unwrap()
        );
        assert_eq!(key, expected, "{name}");
    }
    let events: i64 = groups.iter().map(|g| g["events"].as_i64().unwrap()).sum();
    assert_eq!(
        Some(events),
        errors_case["answer"]["rows"][0][0].as_i64(),
        "{name}: every old error is in a group"
    );
}

/// Starts `vigil serve` on `data`, requires it to refuse, and gives what it said.
fn refusal(data: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(data)
        .output()
        .unwrap();
    assert!(!out.status.success(), "the server started");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_folder_from_a_newer_release_is_refused_with_a_message() {
    let (dir, _) = fixture(FOLDERS[0]);
    let manifest_path = dir.path().join("store/manifest.json");
    let mut manifest: Value =
        serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
    manifest["version"] = 999.into();
    std::fs::write(&manifest_path, serde_json::to_vec(&manifest).unwrap()).unwrap();
    let before = std::fs::read(&manifest_path).unwrap();
    let stderr = refusal(dir.path());
    assert!(
        stderr.contains("999") && stderr.contains("newer"),
        "unclear refusal: {stderr}"
    );
    assert_eq!(std::fs::read(&manifest_path).unwrap(), before);
}

#[test]
fn a_log_frame_from_a_newer_release_is_refused_with_a_message() {
    let (dir, _) = fixture(FOLDERS[0]);
    let wal = dir.path().join("store/wal");
    let segment = std::fs::read_dir(&wal)
        .unwrap()
        .map(|e| e.unwrap().path())
        .max()
        .unwrap();
    // A frame whose payload is in a format this build does not know yet.
    let newer = vigil_store::frame::FRAME_FORMAT + 1;
    let mut bytes = std::fs::read(&segment).unwrap();
    bytes.extend(vigil_store::wal::encode_frame(1_000_000, &[newer, 1, 2, 3]));
    std::fs::write(&segment, &bytes).unwrap();
    let stderr = refusal(dir.path());
    assert!(
        stderr.contains(&format!("format {newer}")) && stderr.contains("newer"),
        "unclear refusal: {stderr}"
    );
    // Nothing was touched: the log still holds every frame.
    assert_eq!(std::fs::read(&segment).unwrap(), bytes);
}
