//! Reads never wait for a write (issue 9 item 5). Every dashboard request checks a token or a
//! login session, and intake looks up public keys; with one connection behind one mutex, each
//! of these queued behind any write and its fsync. Here a write is held open and the reads
//! must still answer.

use rusqlite::Connection;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;
use vigil_meta::Meta;

#[test]
fn reads_answer_while_a_write_is_held_up() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.db");
    let meta = Arc::new(Meta::open(&path).unwrap());
    let (project, token) = meta.create_project("shop", &[], 30).unwrap();
    let user = meta
        .upsert_user("ann@example.com", "correct horse")
        .unwrap();
    meta.add_member(user.id, project.id).unwrap();
    let (cookie, _) = meta
        .login("ann@example.com", "correct horse", 3600)
        .unwrap()
        .unwrap();

    // Another process (`vigil project create` beside the server) holds the database's write
    // lock, so a write through `meta` waits in SQLite's busy handler, inside meta's writer.
    let other = Connection::open(&path).unwrap();
    other
        .execute_batch(
            "BEGIN IMMEDIATE; INSERT INTO projects (name, public_key) VALUES ('cli', 'pk_cli');",
        )
        .unwrap();
    let writing = std::thread::spawn({
        let meta = meta.clone();
        move || meta.create_token(project.id)
    });
    // Give the write time to take meta's writer and start waiting (it waits up to 5 s).
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !writing.is_finished(),
        "the write waits for the other process"
    );

    let (done, answered) = mpsc::channel();
    std::thread::spawn({
        let (meta, key, token) = (meta.clone(), project.public_key.clone(), token.clone());
        move || {
            let found = (
                meta.project_by_key(&key).unwrap().map(|p| p.id),
                meta.token(&token).unwrap().map(|(p, _)| p.id),
                meta.login_session(&cookie).unwrap().map(|s| s.user.id),
                meta.membership(user.id, project.id)
                    .unwrap()
                    .map(|(p, _)| p.id),
            );
            let _ = done.send(found);
        }
    });
    // Before the fix the reads waited for the write, which waited for the other process:
    // nothing came back until that process committed (below) or the busy timeout (5 s).
    let found = answered.recv_timeout(Duration::from_secs(2));
    let write_still_waiting = !writing.is_finished();
    other.execute_batch("COMMIT").unwrap();
    let found = found.expect("reads answered while a write was held up");
    assert!(write_still_waiting, "the reads came back before the write");
    assert_eq!(
        found,
        (
            Some(project.id),
            Some(project.id),
            Some(user.id),
            Some(project.id)
        )
    );
    // The write goes through once the other process is done, and reads see it at once.
    writing.join().unwrap().unwrap();
    assert_eq!(meta.tokens(project.id).unwrap().len(), 2);
    assert!(meta.project_by_name("cli").unwrap().is_some());
}
