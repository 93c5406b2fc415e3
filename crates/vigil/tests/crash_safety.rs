//! A 2xx from intake means the data is durable: kill -9 the server while clients send,
//! restart it, and every acknowledged event is there exactly once.

mod common;

use common::*;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

const EVENTS_PER_BATCH: usize = 3;

#[test]
fn kill_9_while_sending_loses_no_acknowledged_event_and_duplicates_none() {
    let dir = tempfile::tempdir().unwrap();
    let p = create_project(dir.path(), "shop", &[]);
    // Small flushes so the crash lands among Parquet flushes, compactions and log segments,
    // not only in the write-ahead log.
    const CONFIG: &str = "flush_rows = 300\nflush_interval_secs = 1\n";
    let mut acked_total = HashSet::new();
    for round in 0..3 {
        let mut server = Server::start_with_config(dir.path(), CONFIG);
        let senders = Senders::start(
            vec![server.addr.clone()],
            &p.public_key,
            &format!("r{round}"),
            4,
            EVENTS_PER_BATCH,
        );
        std::thread::sleep(Duration::from_millis(1500));
        server.kill9();
        let acked = senders.stop();
        assert!(
            acked.len() > 50,
            "round {round}: only {} batches acknowledged",
            acked.len()
        );
        acked_total.extend(acked);
    }
    let server = Server::start_with_config(dir.path(), CONFIG);
    let mut counts = HashMap::new();
    for round in 0..3 {
        for c in 0..4 {
            counts.extend(counts_by_session(
                &server,
                &p.api_token,
                &format!("r{round}c{c}"),
            ));
        }
    }
    assert_eq!(
        server.count(&p.api_token, "custom_events"),
        counts.len() as i64 * EVENTS_PER_BATCH as i64
    );
    eprintln!("acked {} stored {}", acked_total.len(), counts.len());
    for session in &acked_total {
        assert_eq!(
            counts.get(session).copied(),
            Some(EVENTS_PER_BATCH as i64),
            "acknowledged batch {session}"
        );
    }
    // A batch the server never acknowledged may or may not have landed, but never in part.
    for (session, n) in &counts {
        assert_eq!(
            *n, EVENTS_PER_BATCH as i64,
            "batch {session} is partial or duplicated"
        );
    }
    eprintln!(
        "{} acknowledged batches survived 3 kill -9s; {} stored in all",
        acked_total.len(),
        counts.len()
    );
}
