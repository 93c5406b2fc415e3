//! The replay store on disk: segments come back in order and as sent, duplicates and
//! oversize sessions are refused, a torn write loses nothing acknowledged, retention and
//! erasure delete files.

use std::fs;
use vigil_replay::{
    Mode, ReplayError, ReplayStore, SegmentError, SegmentLimits, SegmentMeta, check_segment,
};

const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
const DAY: i64 = 86_400_000;

fn segment(session: &str, seq: u32, start: i64, text: &str) -> (SegmentMeta, Vec<u8>) {
    let json = format!(
        r#"{{"v":1,"session_id":"{session}","view_id":"v1","seq":{seq},"start":{start},"end":{},"mode":"session","events":[{{"type":2,"timestamp":{start},"data":{{"text":"{text}"}}}},{{"type":3,"timestamp":{},"data":{{}}}}]}}"#,
        start + 1000,
        start + 1000
    );
    let limits = SegmentLimits {
        max_events: 10_000,
        earliest: 0,
        latest: i64::MAX,
    };
    (
        check_segment(json.as_bytes(), &limits).unwrap(),
        json.into_bytes(),
    )
}

fn read_all(store: &ReplayStore, project: u32, session: &str) -> Vec<Vec<u8>> {
    store
        .read(project, session)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn segments_come_back_in_seq_order_across_days_and_as_sent() {
    let dir = tempfile::tempdir().unwrap();
    let store = ReplayStore::new(dir.path(), 1 << 20);
    // uploaded out of order, the last one after midnight
    let sent: Vec<_> = [(1, T0 - 10_000), (0, T0 - 20_000), (2, T0 + 5_000)]
        .into_iter()
        .map(|(seq, start)| segment("sess-1", seq, start, &format!("page {seq}")))
        .collect();
    for (meta, json) in &sent {
        store.append(7, meta, json).unwrap();
    }
    let got = read_all(&store, 7, "sess-1");
    let want: Vec<Vec<u8>> = [1, 0, 2].iter().map(|&i| sent[i].1.clone()).collect();
    assert_eq!(got, want);
    assert!(store.has_replay(7, "sess-1").unwrap());
    // other projects and sessions see nothing of it
    assert!(read_all(&store, 8, "sess-1").is_empty());
    assert!(!store.has_replay(7, "sess-2").unwrap());
    // two day folders, and within each one data and one index file for the session
    let days = fs::read_dir(dir.path().join("v1/p7")).unwrap().count();
    assert_eq!(days, 2);
    let usage = store.usage(7).unwrap();
    assert_eq!(usage.session_days, 2);
    assert!(usage.bytes > 0);
}

#[test]
fn a_repeated_seq_is_refused_and_the_first_kept() {
    let dir = tempfile::tempdir().unwrap();
    let store = ReplayStore::new(dir.path(), 1 << 20);
    let (meta, json) = segment("s", 0, T0, "first");
    store.append(1, &meta, &json).unwrap();
    let (meta2, json2) = segment("s", 0, T0 + 100, "second");
    assert!(matches!(
        store.append(1, &meta2, &json2),
        Err(ReplayError::Duplicate(0))
    ));
    assert_eq!(read_all(&store, 1, "s"), vec![json]);
}

#[test]
fn a_session_past_its_byte_limit_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = ReplayStore::new(dir.path(), 400);
    let mut stored = 0;
    let mut refused = None;
    for seq in 0..100 {
        // text that does not compress away
        let noise: String = (0..200)
            .map(|i| char::from(b'a' + ((seq * 7919 + i * 104_729) % 26) as u8))
            .collect();
        let (meta, json) = segment("big", seq, T0 + i64::from(seq), &noise);
        match store.append(1, &meta, &json) {
            Ok(()) => stored += 1,
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
    }
    assert!(stored >= 1, "the first segment fits");
    assert!(
        matches!(
            refused,
            Some(ReplayError::SessionTooLarge { limit: 400, .. })
        ),
        "{refused:?}"
    );
    assert_eq!(read_all(&store, 1, "big").len(), stored);
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
    for (session, start) in [("old", T0 - 40 * DAY), ("new", T0), ("other", T0)] {
        let (m, j) = segment(session, 0, start, "x");
        store.append(3, &m, &j).unwrap();
    }
    assert_eq!(store.apply_retention(3, 30, T0).unwrap(), 1);
    assert!(!store.has_replay(3, "old").unwrap());
    assert!(store.has_replay(3, "new").unwrap());
    assert_eq!(store.erase_session(3, "new").unwrap(), 1);
    assert!(!store.has_replay(3, "new").unwrap());
    assert!(read_all(&store, 3, "new").is_empty());
    assert!(store.has_replay(3, "other").unwrap());
    assert_eq!(store.erase_session(3, "../other").unwrap(), 0);
    assert!(store.has_replay(3, "other").unwrap());
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
