//! The replay store on a blob store (layout v2): on S3 (a real moto server, `make moto`)
//! and on a local folder, the same behaviours as on disk, plus what sharing a bucket
//! between servers needs: a `seq` stored by one server is a duplicate for another.

mod common;

use common::*;
use std::sync::{Arc, Barrier};
use vigil_blobs::testing::MotoServer;
use vigil_blobs::{BlobStore, LocalBlobs};
use vigil_replay::{ReplayError, ReplayStore};

/// Runs `check` on a store over S3 and on one over a local folder.
fn on_both(max_session_bytes: u64, check: impl Fn(&ReplayStore, &dyn BlobStore)) {
    let moto = MotoServer::start();
    let s3: Arc<dyn BlobStore> = Arc::new(moto.blobs("vigil"));
    check(
        &ReplayStore::with_blobs(s3.clone(), max_session_bytes),
        &*s3,
    );
    let dir = tempfile::tempdir().unwrap();
    let local: Arc<dyn BlobStore> = Arc::new(LocalBlobs::new(dir.path()));
    check(
        &ReplayStore::with_blobs(local.clone(), max_session_bytes),
        &*local,
    );
}

#[test]
fn segments_come_back_in_seq_order_across_days_and_as_sent() {
    on_both(1 << 20, |store, blobs| {
        segments_come_back_in_seq_order_across_days(store);
        // one object per segment, filed under the day it started
        let keys: Vec<String> = blobs
            .list("replay/v2/p7")
            .unwrap()
            .into_iter()
            .map(|e| e.key)
            .collect();
        let day = T0 / DAY;
        assert_eq!(
            keys,
            [
                format!("replay/v2/p7/d{}/sess-1/0000000000", day - 1),
                format!("replay/v2/p7/d{}/sess-1/0000000001", day - 1),
                format!("replay/v2/p7/d{day}/sess-1/0000000002"),
            ]
        );
    });
}

#[test]
fn a_repeated_seq_is_refused_and_the_first_kept() {
    on_both(1 << 20, |store, _| {
        common::a_repeated_seq_is_refused_and_the_first_kept(store);
    });
}

#[test]
fn a_session_past_its_byte_limit_is_refused() {
    on_both(400, |store, _| {
        common::a_session_past_its_byte_limit_is_refused(store)
    });
}

#[test]
fn retention_drops_old_days_and_erasure_deletes_a_session() {
    on_both(1 << 20, |store, blobs| {
        common::retention_drops_old_days_and_erasure_deletes_a_session(store);
        assert_eq!(
            blobs.folders("replay/v2/p3").unwrap(),
            [format!("d{}", T0 / DAY)],
            "the old day is gone"
        );
    });
}

#[test]
fn sessions_between_finds_the_days_asked_and_either_side() {
    on_both(1 << 20, |store, _| {
        common::sessions_between_finds_the_days_asked_and_either_side(store);
    });
}

#[test]
fn a_corrupted_or_foreign_segment_is_an_error_not_garbage() {
    on_both(1 << 20, |store, blobs| {
        let (m0, j0) = segment("s", 0, T0, "zero");
        store.append(1, &m0, &j0).unwrap();
        let key = format!("replay/v2/p1/d{}/s/0000000000", T0 / DAY);
        let mut object = blobs.get(&key).unwrap().unwrap();
        let last = object.len() - 3;
        object[last] ^= 0xff;
        blobs.put(&key, &object).unwrap();
        let got: Vec<_> = store.read(1, "s").unwrap().collect();
        assert_eq!(got.len(), 1);
        let err = got[0].as_ref().unwrap_err();
        assert!(err.to_string().contains("checksum"), "{err}");

        blobs
            .put(&key, b"VGRPLS\x09\0 from a release to come")
            .unwrap();
        let err = store.read(1, "s").unwrap().next().unwrap().unwrap_err();
        assert!(err.to_string().contains("unknown format"), "{err}");
    });
}

#[test]
fn servers_sharing_a_bucket_see_each_others_segments_and_never_store_a_seq_twice() {
    let moto = MotoServer::start();
    // each server has its own client and its own locks, as two processes would
    let servers: Vec<Arc<ReplayStore>> = (0..4)
        .map(|_| Arc::new(ReplayStore::with_blobs(Arc::new(moto.blobs("")), 1 << 20)))
        .collect();
    let (m0, j0) = segment("shared", 0, T0, "by the first");
    servers[0].append(9, &m0, &j0).unwrap();
    assert!(servers[1].has_replay(9, "shared").unwrap());
    assert_eq!(read_all(&servers[1], 9, "shared"), vec![j0]);

    // all of them store seq 1 at once: one wins, the others are told it is a duplicate
    let barrier = Arc::new(Barrier::new(servers.len()));
    let handles: Vec<_> = servers
        .iter()
        .enumerate()
        .map(|(i, server)| {
            let (server, barrier) = (server.clone(), barrier.clone());
            std::thread::spawn(move || {
                let (m, j) = segment("shared", 1, T0 + 50, &format!("by server {i}"));
                barrier.wait();
                server.append(9, &m, &j)
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let stored = results.iter().filter(|r| r.is_ok()).count();
    let duplicates = results
        .iter()
        .filter(|r| matches!(r, Err(ReplayError::Duplicate(1))))
        .count();
    assert_eq!((stored, duplicates), (1, servers.len() - 1), "{results:?}");
    assert_eq!(read_all(&servers[3], 9, "shared").len(), 2);
    assert_eq!(servers[2].erase_session(9, "shared").unwrap(), 2);
    assert!(!servers[0].has_replay(9, "shared").unwrap());
}
