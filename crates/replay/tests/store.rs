//! The replay store on disk (layout v1): segments come back in order and as sent,
//! duplicates and oversize sessions are refused, a torn write loses nothing acknowledged,
//! retention and erasure delete files.

mod common;

use common::*;
use std::fs;
use vigil_replay::{Mode, ReplayStore, SegmentError, SegmentLimits, check_segment};

#[test]
fn segments_come_back_in_seq_order_across_days_and_as_sent() {
    let dir = tempfile::tempdir().unwrap();
    let store = ReplayStore::new(dir.path(), 1 << 20);
    segments_come_back_in_seq_order_across_days(&store);
    // two day folders, and within each one data and one index file for the session
    let days = fs::read_dir(dir.path().join("v1/p7")).unwrap().count();
    assert_eq!(days, 2);
}

#[test]
fn a_repeated_seq_is_refused_and_the_first_kept() {
    let dir = tempfile::tempdir().unwrap();
    common::a_repeated_seq_is_refused_and_the_first_kept(&ReplayStore::new(dir.path(), 1 << 20));
}

#[test]
fn a_session_past_its_byte_limit_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    common::a_session_past_its_byte_limit_is_refused(&ReplayStore::new(dir.path(), 400));
}

#[test]
fn a_torn_index_record_or_unindexed_bytes_lose_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let store = ReplayStore::new(dir.path(), 1 << 20);
    let (m0, j0) = segment("s", 0, T0, "zero");
    store.append(1, &m0, &j0).unwrap();
    let day = dir.path().join(format!("v1/p1/d{}", T0 / DAY));
    // a crash after the data write (bytes no record names) and mid-record (a torn record)
    let mut data = fs::read(day.join("s.data")).unwrap();
    data.extend_from_slice(b"half a segment");
    fs::write(day.join("s.data"), data).unwrap();
    let mut idx = fs::read(day.join("s.idx")).unwrap();
    idx.extend_from_slice(&[1, 2, 3, 4, 5]);
    fs::write(day.join("s.idx"), idx).unwrap();
    assert_eq!(read_all(&store, 1, "s"), vec![j0.clone()]);
    // the next append goes after both
    let (m1, j1) = segment("s", 1, T0 + 10, "one");
    store.append(1, &m1, &j1).unwrap();
    assert_eq!(read_all(&store, 1, "s"), vec![j0, j1]);
}

#[test]
fn a_corrupted_segment_is_an_error_not_garbage() {
    let dir = tempfile::tempdir().unwrap();
    let store = ReplayStore::new(dir.path(), 1 << 20);
    let (m0, j0) = segment("s", 0, T0, "zero");
    store.append(1, &m0, &j0).unwrap();
    let path = dir.path().join(format!("v1/p1/d{}/s.data", T0 / DAY));
    let mut data = fs::read(&path).unwrap();
    let last = data.len() - 3;
    data[last] ^= 0xff;
    fs::write(&path, data).unwrap();
    let got: Vec<_> = store.read(1, "s").unwrap().collect();
    assert_eq!(got.len(), 1);
    let err = got[0].as_ref().unwrap_err();
    assert!(err.to_string().contains("checksum"), "{err}");
}

#[test]
fn retention_drops_old_days_and_erasure_deletes_a_session() {
    let dir = tempfile::tempdir().unwrap();
    let store = ReplayStore::new(dir.path(), 1 << 20);
    common::retention_drops_old_days_and_erasure_deletes_a_session(&store);
    let days = fs::read_dir(dir.path().join("v1/p3")).unwrap().count();
    assert_eq!(days, 1, "the old day's folder is gone");
}

#[test]
fn sessions_between_finds_the_days_asked_and_either_side() {
    let dir = tempfile::tempdir().unwrap();
    common::sessions_between_finds_the_days_asked_and_either_side(&ReplayStore::new(
        dir.path(),
        1 << 20,
    ));
}

#[test]
fn malformed_segments_are_refused_with_their_codes() {
    let limits = SegmentLimits {
        max_events: 3,
        earliest: T0 - DAY,
        latest: T0 + DAY,
    };
    let ok = |session: &str, events: &str, start: i64| {
        format!(
            r#"{{"v":1,"session_id":"{session}","seq":0,"start":{start},"end":{start},"mode":"session","events":[{events}]}}"#
        )
    };
    let ev = format!(r#"{{"type":2,"timestamp":{T0}}}"#);
    let cases: Vec<(String, &str)> = vec![
        ("not json".into(), "invalid_json"),
        (ok("../../etc", &ev, T0), "invalid_session_id"),
        (ok("a/b", &ev, T0), "invalid_session_id"),
        (ok(&"x".repeat(65), &ev, T0), "invalid_session_id"),
        (ok("s", "", T0), "invalid_value"),
        (ok("s", &[ev.as_str(); 4].join(","), T0), "invalid_value"),
        (
            ok("s", r#"{"type":"two","timestamp":1}"#, T0),
            "invalid_field",
        ),
        (ok("s", r#"[1,2]"#, T0), "invalid_field"),
        (ok("s", &ev, T0 - 2 * DAY), "invalid_value"),
        (ok("s", &ev, T0 + 2 * DAY), "invalid_value"),
        (
            ok("s", &ev, T0).replace(r#""mode":"session""#, r#""mode":"always""#),
            "invalid_field",
        ),
        (
            ok("s", &ev, T0).replace(r#""v":1"#, r#""v":1,"extra":true"#),
            "invalid_field",
        ),
        (
            ok("s", &ev, T0).replace(r#""v":1"#, r#""v":2"#),
            "invalid_value",
        ),
    ];
    for (json, code) in cases {
        let got = check_segment(json.as_bytes(), &limits).map(|_| ());
        match got {
            Err(e) => assert_eq!(e.code(), code, "{json}: {e}"),
            Ok(()) => panic!("{json}: accepted"),
        }
    }
    let meta = check_segment(ok("s-1_A", &ev, T0).as_bytes(), &limits).unwrap();
    assert_eq!((meta.seq, meta.mode, meta.events), (0, Mode::Session, 1));
    assert!(matches!(
        SegmentError::InvalidId("session_id").code(),
        "invalid_session_id"
    ));
}

#[test]
fn a_data_folder_of_an_earlier_release_reads_unchanged() {
    // Files laid out by hand as `files.rs` documents layout v1 (what every release so far
    // wrote), not by the code under test.
    let dir = tempfile::tempdir().unwrap();
    let (_, json) = segment("legacy", 4, T0, "from an older release");
    let stored = zstd::bulk::compress(&json, 3).unwrap();
    let day = dir.path().join(format!("v1/p2/d{}", T0 / DAY));
    fs::create_dir_all(&day).unwrap();
    let mut data = b"VGRPLD\x01\0".to_vec();
    data.extend_from_slice(&stored);
    fs::write(day.join("legacy.data"), &data).unwrap();
    let mut idx = b"VGRPLI\x01\0".to_vec();
    idx.extend_from_slice(&4u32.to_le_bytes());
    idx.extend_from_slice(&(stored.len() as u32).to_le_bytes());
    idx.extend_from_slice(&(json.len() as u32).to_le_bytes());
    idx.extend_from_slice(&crc32fast::hash(&stored).to_le_bytes());
    idx.extend_from_slice(&8u64.to_le_bytes());
    idx.extend_from_slice(&T0.to_le_bytes());
    idx.extend_from_slice(&(T0 + 1000).to_le_bytes());
    fs::write(day.join("legacy.idx"), &idx).unwrap();

    let store = ReplayStore::new(dir.path(), 1 << 20);
    assert!(store.has_replay(2, "legacy").unwrap());
    assert_eq!(read_all(&store, 2, "legacy"), vec![json]);
    assert_eq!(store.sessions_between(2, T0, T0).unwrap(), ["legacy"]);
    let usage = store.usage(2).unwrap();
    assert_eq!((usage.session_days, usage.bytes), (1, data.len() as u64));
    // and the next segment is appended to the same files
    let (m5, j5) = segment("legacy", 5, T0 + 10, "from this release");
    store.append(2, &m5, &j5).unwrap();
    assert_eq!(read_all(&store, 2, "legacy").len(), 2);
    assert_eq!(fs::read_dir(&day).unwrap().count(), 2);
    assert!(
        fs::read(day.join("legacy.data"))
            .unwrap()
            .starts_with(&data)
    );
}
