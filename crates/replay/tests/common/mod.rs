//! What every replay store does, whatever holds its segments: the local layout (v1) and
//! the blob layout (v2) on a folder or on S3 run the same checks.
#![allow(dead_code)]

use vigil_replay::{ReplayError, ReplayStore, SegmentLimits, SegmentMeta, check_segment};

pub const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
pub const DAY: i64 = 86_400_000;

pub fn segment(session: &str, seq: u32, start: i64, text: &str) -> (SegmentMeta, Vec<u8>) {
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

pub fn read_all(store: &ReplayStore, project: u32, session: &str) -> Vec<Vec<u8>> {
    store
        .read(project, session)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// Segments uploaded out of order, across midnight, come back in `seq` order and as sent.
pub fn segments_come_back_in_seq_order_across_days(store: &ReplayStore) {
    // uploaded out of order, the last one after midnight
    let sent: Vec<_> = [(1, T0 - 10_000), (0, T0 - 20_000), (2, T0 + 5_000)]
        .into_iter()
        .map(|(seq, start)| segment("sess-1", seq, start, &format!("page {seq}")))
        .collect();
    for (meta, json) in &sent {
        store.append(7, meta, json).unwrap();
    }
    let got = read_all(store, 7, "sess-1");
    let want: Vec<Vec<u8>> = [1, 0, 2].iter().map(|&i| sent[i].1.clone()).collect();
    assert_eq!(got, want);
    assert!(store.has_replay(7, "sess-1").unwrap());
    // other projects and sessions see nothing of it
    assert!(read_all(store, 8, "sess-1").is_empty());
    assert!(!store.has_replay(7, "sess-2").unwrap());
    assert!(!store.has_replay(8, "sess-1").unwrap());
    assert!(read_all(store, 7, "../sess-1").is_empty());
    assert!(!store.has_replay(7, "../sess-1").unwrap());
    let usage = store.usage(7).unwrap();
    assert_eq!(usage.session_days, 2);
    assert!(usage.bytes > 0);
    assert_eq!(store.usage(8).unwrap(), Default::default());
}

/// A second segment with a `seq` the session has is refused; the first stays.
pub fn a_repeated_seq_is_refused_and_the_first_kept(store: &ReplayStore) {
    let (meta, json) = segment("s", 0, T0, "first");
    store.append(1, &meta, &json).unwrap();
    let (meta2, json2) = segment("s", 0, T0 + 100, "second");
    assert!(matches!(
        store.append(1, &meta2, &json2),
        Err(ReplayError::Duplicate(0))
    ));
    // also when it starts the next day (a session spans midnight)
    let (meta3, json3) = segment("s", 0, T0 + DAY, "third");
    assert!(matches!(
        store.append(1, &meta3, &json3),
        Err(ReplayError::Duplicate(0))
    ));
    assert_eq!(read_all(store, 1, "s"), vec![json]);
}

/// A store made with a 400-byte limit per session refuses past it.
pub fn a_session_past_its_byte_limit_is_refused(store: &ReplayStore) {
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
            Some(ReplayError::SessionTooLarge { limit: 400, held }) if held <= 400 && held > 0
        ),
        "{refused:?}"
    );
    assert_eq!(read_all(store, 1, "big").len(), stored);
    // another session is not held back
    let (meta, json) = segment("small", 0, T0, "x");
    store.append(1, &meta, &json).unwrap();
}

/// Retention drops whole old days; erasure deletes one session and nothing else.
pub fn retention_drops_old_days_and_erasure_deletes_a_session(store: &ReplayStore) {
    for (session, start) in [("old", T0 - 40 * DAY), ("new", T0), ("other", T0)] {
        let (m, j) = segment(session, 0, start, "x");
        store.append(3, &m, &j).unwrap();
    }
    let (m, j) = segment("new", 1, T0 + 10, "y");
    store.append(3, &m, &j).unwrap();
    assert_eq!(store.apply_retention(3, 30, T0).unwrap(), 1);
    assert_eq!(store.apply_retention(3, 30, T0).unwrap(), 0);
    assert!(!store.has_replay(3, "old").unwrap());
    assert!(read_all(store, 3, "old").is_empty());
    assert!(store.has_replay(3, "new").unwrap());
    assert_eq!(store.erase_session(3, "new").unwrap(), 2);
    assert_eq!(store.erase_session(3, "new").unwrap(), 0);
    assert!(!store.has_replay(3, "new").unwrap());
    assert!(read_all(store, 3, "new").is_empty());
    assert!(store.has_replay(3, "other").unwrap());
    assert_eq!(store.erase_session(3, "../other").unwrap(), 0);
    assert!(store.has_replay(3, "other").unwrap());
    assert_eq!(
        store.sessions_between(3, T0 - 50 * DAY, T0 + DAY).unwrap(),
        ["other"]
    );
    assert_eq!(store.usage(3).unwrap().session_days, 1);
    // an erased session can record again
    let (m, j) = segment("new", 0, T0 + 20, "again");
    store.append(3, &m, &j).unwrap();
    assert_eq!(read_all(store, 3, "new"), vec![j]);
}

/// Sessions are found on the days asked and the day either side, once each, sorted.
pub fn sessions_between_finds_the_days_asked_and_either_side(store: &ReplayStore) {
    for (session, seq, start) in [
        ("b", 0, T0),
        ("a", 0, T0 + DAY + 5),
        ("a", 1, T0 - 1000),
        ("later", 0, T0 + 3 * DAY),
        ("earlier", 0, T0 - 5 * DAY),
    ] {
        let (m, j) = segment(session, seq, start, "x");
        store.append(4, &m, &j).unwrap();
    }
    let (m, j) = segment("elsewhere", 0, T0, "x");
    store.append(5, &m, &j).unwrap();
    assert_eq!(
        store.sessions_between(4, T0, T0 + 1000).unwrap(),
        ["a", "b"]
    );
    assert_eq!(
        store
            .sessions_between(4, T0 + 3 * DAY, T0 + 3 * DAY)
            .unwrap(),
        ["later"]
    );
    assert_eq!(
        store
            .sessions_between(4, T0 - 10 * DAY, T0 + 10 * DAY)
            .unwrap(),
        ["a", "b", "earlier", "later"]
    );
    assert!(
        store
            .sessions_between(4, T0 + 30 * DAY, T0 + 31 * DAY)
            .unwrap()
            .is_empty()
    );
    assert!(store.sessions_between(6, T0, T0).unwrap().is_empty());
    assert_eq!(store.sessions_between(5, T0, T0).unwrap(), ["elsewhere"]);
}
