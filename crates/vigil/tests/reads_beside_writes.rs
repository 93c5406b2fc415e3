//! Reads never wait on writes (issue 9 item 5), end to end: while a metadata write is held
//! up, the login-cookie check, an API-token query and intake's public-key lookup all answer.
//!
//! Another process holds meta.db's write lock (as `vigil project create` beside a running
//! server can), so a token issued through the API waits in SQLite's busy handler for it.
//! Before reads had connections of their own, that write held the one metadata connection:
//! every read (each dashboard request checks a cookie or a token) queued behind it until the
//! other process let go or the write timed out 5 s later.

mod common;

use common::*;
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Holds meta.db's write lock (`BEGIN IMMEDIATE`) in a process of its own until its stdin
/// closes, then commits. Returns once the lock is held.
fn hold_write_lock(meta_db: &std::path::Path) -> std::process::Child {
    let script = "import sqlite3, sys\n\
        c = sqlite3.connect(sys.argv[1], isolation_level=None)\n\
        c.execute('BEGIN IMMEDIATE')\n\
        print('locked', flush=True)\n\
        sys.stdin.read()\n\
        c.execute('COMMIT')\n";
    let mut child = Command::new("python3")
        .args(["-c", script])
        .arg(meta_db)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 (with its sqlite3 module) holds the lock");
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "locked");
    child
}

#[test]
fn reads_answer_while_a_metadata_write_waits() {
    let dir = tempfile::tempdir().unwrap();
    let a = create_project(dir.path(), "a", &[]);
    add_user(dir.path(), "ann@example.com", "a", "correct horse");
    let server = Server::start(dir.path());
    let (cookie, csrf) = sign_in(&server, "ann@example.com", "correct horse");

    let mut holder = hold_write_lock(&dir.path().join("meta.db"));
    let writing = std::thread::spawn({
        let (url, cookie, csrf) = (
            server.url(&format!("/api/v1/projects/{}/tokens", a.id)),
            cookie.clone(),
            csrf.clone(),
        );
        move || {
            agent()
                .post(&url)
                .header("content-type", "application/json")
                .header("cookie", &cookie)
                .header("x-csrf-token", &csrf)
                .send("{}")
                .unwrap()
                .status()
                .as_u16()
        }
    });
    // Time for the write to reach SQLite and start waiting (for up to 5 s).
    std::thread::sleep(Duration::from_millis(500));
    assert!(!writing.is_finished(), "the write waits for the lock");

    let me = agent()
        .get(&server.url("/api/v1/me"))
        .header("cookie", &cookie)
        .call()
        .unwrap();
    assert_eq!(me.status().as_u16(), 200, "the login-cookie check");
    let (status, body) = server.query(
        &a.api_token,
        &json!({"metric": "views", "aggregations": ["count"], "from": 0, "to": now_ms()}),
    );
    assert_eq!(status, 200, "a query with an API token: {body}");
    let (status, body) = server.ingest(
        &a.public_key,
        &batch(
            "s-1",
            json!([{"type": "view", "ts": now_ms(), "view_id": "v-1"}]),
        ),
    );
    assert_eq!(status, 202, "intake's public-key lookup: {body}");
    let write_still_waiting = !writing.is_finished();

    drop(holder.stdin.take());
    holder.wait().unwrap();
    assert!(
        write_still_waiting,
        "every read answered while the write was held up"
    );
    assert_eq!(writing.join().unwrap(), 201, "the write goes through after");
}
