//! Shipping is exactly once across crashes, against a real ClickHouse: a segment whose rows
//! reached ClickHouse before the instance died (so it was never forgotten locally) is not
//! inserted again, and a segment whose insert was cut short is replaced whole.

use std::sync::Arc;
use vigil_clickhouse::testing::{Server, rows_in};
use vigil_clickhouse::{ClickHouseRemote, ClickHouseStore};
use vigil_model::Table;
use vigil_model::conformance::session_batch;
use vigil_store::{Store, StoreConfig};

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_segment_already_in_clickhouse_or_cut_short_lands_exactly_once() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path(), StoreConfig::default()).unwrap());
    // Two sessions on two days: two views segments (and their requests', errors' …).
    let now = now_ms();
    let a = session_batch(1, "s-a", "ann", now - 86_400_000, 6);
    let b = session_batch(1, "s-b", "bob", now - 60_000, 4);
    store.append(a.clone()).await.unwrap();
    store.append(b.clone()).await.unwrap();
    store.flush().await.unwrap();
    let clickhouse = ClickHouseStore::open(&server.config("vigil_ship")).unwrap();
    let remote = ClickHouseRemote::new(store.clone(), clickhouse.clone()).unwrap();
    let instance = std::fs::read_to_string(dir.path().join("clickhouse-instance")).unwrap();
    let views: Vec<_> = store
        .segments()
        .into_iter()
        .filter(|s| s.table == "views")
        .collect();
    assert_eq!(views.len(), 2, "one views segment per day");

    // The first day's views reached ClickHouse, then the instance died before forgetting it.
    let id = |path: &str| format!("{}/{path}", instance.trim());
    for (table, batch) in store.segment_rows(&views[0]).unwrap() {
        clickhouse
            .insert(views[0].project, table, &id(&views[0].path), &batch)
            .unwrap();
    }
    // The second day's insert was cut short: half its views.
    let second = store.segment_rows(&views[1]).unwrap();
    let (table, batch) = second.iter().find(|(t, _)| *t == Table::Views).unwrap();
    clickhouse
        .insert(
            views[1].project,
            *table,
            &id(&views[1].path),
            &batch.slice(0, 2),
        )
        .unwrap();

    let report = remote.ship().unwrap();
    assert_eq!(report.already_shipped, 1, "{report:?}");
    assert_eq!(report.replaced, 1, "{report:?}");
    assert!(
        store.segments().is_empty(),
        "every segment forgotten locally"
    );
    assert_eq!(
        rows_in(&clickhouse, Table::Views).await,
        a.tables()
            .iter()
            .find(|(t, _)| *t == Table::Views)
            .unwrap()
            .1
            + 4
    );
    for (table, rows) in a.tables() {
        let from_b = b
            .tables()
            .iter()
            .find(|(t, _)| t == table)
            .map_or(0, |(_, n)| *n);
        assert_eq!(
            rows_in(&clickhouse, *table).await,
            rows + from_b,
            "{} once each",
            table.name()
        );
    }
    // Shipping again finds nothing to do.
    assert_eq!(remote.ship().unwrap().segments, 0);
}

/// A read of both stores lists the local segments when it starts and may take rows from
/// memory: a segment flushed from that memory after it started is not shipped until the
/// read ends (its rows would count twice), while one already listed is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_segment_flushed_during_a_read_waits_for_the_read_to_end() {
    use vigil_query::RemoteEvents;
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path(), StoreConfig::default()).unwrap());
    let clickhouse = ClickHouseStore::open(&server.config("vigil_reads")).unwrap();
    let remote = ClickHouseRemote::new(store.clone(), clickhouse.clone()).unwrap();
    let now = now_ms();
    store
        .append(session_batch(1, "s-before", "ann", now - 60_000, 3))
        .await
        .unwrap();
    store.flush().await.unwrap();
    // Rows still in memory when the read starts.
    store
        .append(session_batch(1, "s-during", "bob", now - 30_000, 2))
        .await
        .unwrap();
    let read = remote.begin_read();
    store.flush().await.unwrap();
    let report = remote.ship().unwrap();
    assert!(report.segments > 0, "{report:?}");
    assert_eq!(
        rows_in(&clickhouse, Table::Views).await,
        3,
        "only the segment listed before the read"
    );
    assert!(
        !store.segments().is_empty(),
        "the segment flushed during the read stays local"
    );
    drop(read);
    remote.ship().unwrap();
    assert_eq!(rows_in(&clickhouse, Table::Views).await, 5, "shipped after");
    assert!(store.segments().is_empty());
}
