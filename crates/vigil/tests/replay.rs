//! Session replay against the real binary: segments uploaded with the public key (gzip and
//! plain) come back in `seq` order across page loads, also after a crash; the files on
//! disk hold them zstd-compressed under the data folder; malformed and hostile uploads get
//! their 4xx and store nothing; reading needs the project's credentials; erasure deletes a
//! session's replay; the replay chunk is served beside the agent.

mod common;

use common::*;
use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::{Value, json};
use std::io::Write;
use std::path::Path;

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn segment(session: &str, view: &str, seq: u32, start: i64, text: &str) -> Vec<u8> {
    json!({
        "v": 1, "session_id": session, "view_id": view, "seq": seq,
        "start": start, "end": start + 4000, "mode": "session",
        "events": [
            { "type": 2, "timestamp": start, "data": { "node": { "type": 0, "textContent": text } } },
            { "type": 3, "timestamp": start + 4000, "data": { "source": 2, "type": 2 } }
        ]
    })
    .to_string()
    .into_bytes()
}

/// POSTs a segment; the status and the JSON answer.
fn upload(server: &Server, query: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, Value) {
    let mut req = agent().post(server.url(&format!("/api/v1/replay{query}")));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut resp = req.send(body).expect("replay upload");
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn replay_lines(server: &Server, project: u64, session: &str, token: &str) -> (u16, Vec<Value>) {
    let (status, body) = server.get(
        &format!("/api/v1/sessions/{session}/replay?project={project}"),
        Some(token),
    );
    if status != 200 {
        return (status, Vec::new());
    }
    assert!(body.ends_with('\n'), "{body}");
    (
        status,
        body.lines()
            .map(|l| serde_json::from_str(l).expect("one segment per line"))
            .collect(),
    )
}

fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path().display().to_string());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn segments_come_back_in_order_across_page_loads_and_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let keys = create_project(dir.path(), "shop", &["https://shop.example.com"]);
    let mut server = Server::start(dir.path());
    let t0 = now_ms() - 60_000;
    let origin = ("origin", "https://shop.example.com");
    let plain = ("content-type", "text/plain;charset=UTF-8");
    let key = format!("?key={}", keys.public_key);
    // page one's two segments and page two's first, sent out of order, gzip and plain
    let sent = [
        segment("sess-1", "view-a", 0, t0, "page one"),
        segment("sess-1", "view-a", 1, t0 + 5000, "page one, later"),
        segment("sess-1", "view-b", 2, t0 + 10_000, "page two"),
    ];
    let (s, v) = upload(
        &server,
        &format!("{key}&enc=gzip"),
        &[origin, plain],
        &gzip(&sent[1]),
    );
    assert_eq!((s, &v), (202, &json!({ "accepted": 1 })));
    let (s, v) = upload(
        &server,
        &format!("{key}&enc=none"),
        &[origin, plain],
        &sent[0],
    );
    assert_eq!(s, 202, "{v}");
    let (s, v) = upload(
        &server,
        &format!("{key}&enc=gzip"),
        &[origin, plain],
        &gzip(&sent[2]),
    );
    assert_eq!(s, 202, "{v}");
    let want: Vec<Value> = sent
        .iter()
        .map(|b| serde_json::from_slice(b).unwrap())
        .collect();
    let (status, got) = replay_lines(&server, keys.id, "sess-1", &keys.api_token);
    assert_eq!((status, &got), (200, &want));

    // a retried upload of a segment already stored is refused and changes nothing
    let (s, v) = upload(
        &server,
        &format!("{key}&enc=none"),
        &[origin, plain],
        &sent[0],
    );
    assert_eq!(
        (s, v["code"].as_str()),
        (409, Some("duplicate_segment")),
        "{v}"
    );

    // acknowledged means durable: a kill -9 right after loses nothing
    server.kill9();
    let server = Server::start(dir.path());
    let (_, got) = replay_lines(&server, keys.id, "sess-1", &keys.api_token);
    assert_eq!(got, want);

    // on disk: one data and one index file for the session's day, zstd frames, not JSON
    let files = files_under(&dir.path().join("replay"));
    assert_eq!(files.len(), 2, "{files:?}");
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains("page one"),
            "{f} holds the text uncompressed"
        );
    }
    // `vigil replay dump` reads the same files
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args([
            "replay",
            "dump",
            "--project",
            &keys.id.to_string(),
            "--session",
            "sess-1",
            "--data",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dumped: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(dumped, want);
}

/// What is sent (name, query, headers, body) and what must come back (status, code).
type Case<'a> = (
    &'a str,
    String,
    Vec<(&'a str, &'a str)>,
    Vec<u8>,
    u16,
    &'a str,
);

#[test]
fn malformed_and_hostile_uploads_get_their_4xx_and_store_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let keys = create_project(dir.path(), "shop", &["https://shop.example.com"]);
    let other = create_project(dir.path(), "other", &["*"]);
    let server = Server::start(dir.path());
    let t0 = now_ms() - 60_000;
    let good = segment("sess-1", "view-a", 0, t0, "x");
    let key = format!("?key={}", keys.public_key);
    let origin = ("origin", "https://shop.example.com");
    let big: Vec<u8> = {
        // Text that does not compress much, just over the 1 MiB limit as sent. Just over:
        // the server answers 413 without reading the rest, and a body much larger than the
        // socket buffers could still be being written when the connection closes (the
        // client then sees a broken pipe instead of the answer, as one CI run did at 2 MiB).
        let mut seed = 7u64;
        let noise: String = (0..(1 << 20) + 1024)
            .map(|_| {
                seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                char::from(b'a' + (seed >> 59) as u8 % 26)
            })
            .collect();
        segment("sess-1", "view-a", 0, t0, &noise)
    };
    let bomb = gzip(&vec![b' '; 9 << 20]);
    let cases: Vec<Case> = vec![
        (
            "no key",
            "?enc=none".into(),
            vec![origin],
            good.clone(),
            401,
            "missing_key",
        ),
        (
            "unknown key",
            "?key=pk_nothing&enc=none".into(),
            vec![origin],
            good.clone(),
            401,
            "invalid_key",
        ),
        (
            "origin not allowed",
            format!("{key}&enc=none"),
            vec![("origin", "https://evil.example.com")],
            good.clone(),
            403,
            "origin_not_allowed",
        ),
        (
            "not compressed as said",
            format!("{key}&enc=gzip"),
            vec![origin],
            good.clone(),
            400,
            "bad_gzip",
        ),
        (
            "an encoding nobody speaks",
            format!("{key}&enc=lz4"),
            vec![origin],
            good.clone(),
            400,
            "bad_encoding",
        ),
        (
            "oversize",
            format!("{key}&enc=none"),
            vec![origin],
            big,
            413,
            "body_too_large",
        ),
        (
            "a gzip bomb",
            format!("{key}&enc=gzip"),
            vec![origin],
            bomb,
            413,
            "decompressed_too_large",
        ),
        (
            "a session id with path characters",
            format!("{key}&enc=none"),
            vec![origin],
            segment("../../../etc/passwd", "v", 0, t0, "x"),
            400,
            "invalid_session_id",
        ),
        (
            "a view id with path characters",
            format!("{key}&enc=none"),
            vec![origin],
            segment("sess-1", "a/b", 0, t0, "x"),
            400,
            "invalid_session_id",
        ),
        (
            "not json",
            format!("{key}&enc=gzip"),
            vec![origin],
            gzip(b"<html>"),
            400,
            "invalid_json",
        ),
        (
            "events that are not rrweb events",
            format!("{key}&enc=none"),
            vec![origin],
            String::from_utf8(good.clone())
                .unwrap()
                .replace(r#""type":2"#, r#""type":"full""#)
                .into_bytes(),
            400,
            "invalid_field",
        ),
        (
            "a segment from long before the project's retention",
            format!("{key}&enc=none"),
            vec![origin],
            segment("sess-1", "v", 0, t0 - 400 * 86_400_000, "x"),
            400,
            "invalid_value",
        ),
    ];
    for (name, query, headers, body, status, code) in cases {
        let (s, v) = upload(&server, &query, &headers, &body);
        assert_eq!((s, v["code"].as_str()), (status, Some(code)), "{name}: {v}");
        assert!(
            v["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{name}: {v}"
        );
    }
    assert_eq!(
        files_under(&dir.path().join("replay")),
        Vec::<String>::new()
    );
    assert!(!dir.path().join("etc").exists());

    // another project's key stores under that project: never visible to this one
    let (s, v) = upload(
        &server,
        &format!("?key={}&enc=none", other.public_key),
        &[],
        &good,
    );
    assert_eq!(s, 202, "{v}");
    let (status, _) = replay_lines(&server, keys.id, "sess-1", &keys.api_token);
    assert_eq!(status, 404);
    // and this project's token cannot read the other's
    let (status, _) = replay_lines(&server, other.id, "sess-1", &keys.api_token);
    assert!(status == 403 || status == 404, "{status}");
    let (status, lines) = replay_lines(&server, other.id, "sess-1", &other.api_token);
    assert_eq!((status, lines.len()), (200, 1));
    // without credentials: nothing
    let (status, _) = server.get(
        &format!("/api/v1/sessions/sess-1/replay?project={}", other.id),
        None,
    );
    assert_eq!(status, 401);
    // the server still serves after all of it
    assert_eq!(server.get("/readyz", None).0, 200);
}

#[test]
fn erasure_deletes_a_sessions_replay_and_the_chunk_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let keys = create_project(dir.path(), "shop", &["*"]);
    let server = Server::start(dir.path());
    let t0 = now_ms() - 60_000;
    let key = format!("?key={}&enc=none", keys.public_key);
    for (session, seq) in [("gone", 0), ("gone", 1), ("kept", 0)] {
        let (s, v) = upload(&server, &key, &[], &segment(session, "v", seq, t0, "x"));
        assert_eq!(s, 202, "{v}");
    }
    let admin = {
        let meta = vigil_meta::Meta::open(&dir.path().join("meta.db")).unwrap();
        meta.create_scoped_token(keys.id as u32, vigil_meta::Scope::Admin)
            .unwrap()
            .1
    };
    let (s, v) = server.post(
        &admin,
        &format!("/api/v1/projects/{}/erasure", keys.id),
        &json!({ "session_id": "gone" }),
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["replay_segments_removed"], 2, "{v}");
    let (status, body) = server.get(
        &format!("/api/v1/sessions/gone/replay?project={}", keys.id),
        Some(&keys.api_token),
    );
    assert_eq!(status, 404);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (body["code"].as_str(), body["message"].as_str()),
        (Some("not_found"), Some("this session has no replay"))
    );
    assert_eq!(
        replay_lines(&server, keys.id, "kept", &keys.api_token)
            .1
            .len(),
        1
    );

    // counted for operators
    let (_, metrics) = server.get("/metrics", None);
    assert!(
        metrics.contains("vigil_replay_accepted_segments_total 3"),
        "{metrics}"
    );

    // the replay chunk, beside the agent (404 with a hint when it was not built)
    let (status, body) = server.get("/agent/vigil-replay.js", None);
    let built = repo_root().join("agent/dist/vigil-replay.js").exists();
    if built {
        assert_eq!(status, 200);
        assert!(!body.is_empty());
    } else {
        assert_eq!(status, 404);
        assert!(body.contains("npm run build"), "{body}");
    }
}

#[test]
fn sessions_search_filters_and_marks_sessions_with_a_replay() {
    let dir = tempfile::tempdir().unwrap();
    let keys = create_project(dir.path(), "shop", &["*"]);
    let server = Server::start(dir.path());
    let t0 = now_ms() - 60_000;
    for session in ["with-replay", "without-replay"] {
        let (s, v) = server.ingest(
            &keys.public_key,
            &batch(session, json!([{ "type": "view", "ts": t0 }])),
        );
        assert_eq!(s, 202, "{v}");
    }
    let (s, v) = upload(
        &server,
        &format!("?key={}&enc=none", keys.public_key),
        &[],
        &segment("with-replay", "v", 0, t0, "x"),
    );
    assert_eq!(s, 202, "{v}");
    let search = |has_replay: Value| {
        let (s, v) = server.post(
            &keys.api_token,
            &format!("/api/v1/sessions?project={}", keys.id),
            &json!({ "from": t0 - 3_600_000, "to": t0 + 3_600_000, "has_replay": has_replay }),
        );
        assert_eq!(s, 200, "{v}");
        let columns = v["columns"].as_array().unwrap().clone();
        let at = |name: &str| columns.iter().position(|c| c == name).unwrap();
        let (id, has) = (at("session_id"), at("has_replay"));
        let mut rows: Vec<(String, bool)> = v["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r[id].as_str().unwrap().to_owned(),
                    r[has].as_bool().unwrap(),
                )
            })
            .collect();
        rows.sort();
        rows
    };
    assert_eq!(
        search(Value::Null),
        [
            ("with-replay".to_owned(), true),
            ("without-replay".to_owned(), false)
        ]
    );
    assert_eq!(search(json!(true)), [("with-replay".to_owned(), true)]);
    assert_eq!(search(json!(false)), [("without-replay".to_owned(), false)]);
}

#[test]
fn the_cli_erases_a_users_replay_and_lists_what_replay_holds() {
    let dir = tempfile::tempdir().unwrap();
    let keys = create_project(dir.path(), "shop", &["*"]);
    let t0 = now_ms() - 60_000;
    {
        let server = Server::start(dir.path());
        for (session, user) in [("s-ann", "ann"), ("s-bob", "bob")] {
            let mut body: Value =
                serde_json::from_slice(&batch(session, json!([{ "type": "view", "ts": t0 }])))
                    .unwrap();
            body["context"]["user_id"] = json!(user);
            let (s, v) = server.ingest(&keys.public_key, body.to_string().as_bytes());
            assert_eq!(s, 202, "{v}");
            let (s, v) = upload(
                &server,
                &format!("?key={}&enc=none", keys.public_key),
                &[],
                &segment(session, "v", 0, t0, "x"),
            );
            assert_eq!(s, 202, "{v}");
        }
    }
    let vigil = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_vigil"))
            .args(args)
            .arg("--data")
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    assert!(
        vigil(&["project", "list"]).contains("replay of 2 session-days"),
        "{}",
        vigil(&["project", "list"])
    );
    let erased = vigil(&["erase", "--project", "shop", "--user-id", "ann"]);
    assert!(erased.contains("erased 1 replay segments"), "{erased}");
    let dump = |session: &str| {
        vigil(&[
            "replay",
            "dump",
            "--project",
            &keys.id.to_string(),
            "--session",
            session,
        ])
    };
    assert_eq!(dump("s-ann"), "");
    assert_eq!(dump("s-bob").lines().count(), 1);
}
