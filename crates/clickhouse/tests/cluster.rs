//! The ClickHouse backend sharded over two real servers (Debian's `clickhouse-server`, each
//! knowing both as one cluster): every table is a MergeTree part on each server and a
//! Distributed table over them. The sharded store passes the same conformance suite as one
//! server and the embedded store; rows are spread by session, and retention, erasure and a
//! shipped batch's replacement reach every shard. A configuration that does not match the
//! cluster, or a database made with the other layout, is refused.

use vigil_clickhouse::testing::{Cluster, Server, rows_in};
use vigil_clickhouse::{ClickHouseConfig, ClickHouseStore};
use vigil_model::Table;
use vigil_model::conformance::{Harness, run_all, session_batch};
use vigil_model::storage::{Erasure, EventStore};

const DAY: i64 = 86_400_000;

struct OnCluster<'a> {
    cluster: &'a Cluster,
    databases: usize,
}

impl Harness for OnCluster<'_> {
    type Store = ClickHouseStore;

    fn fresh(&mut self) -> ClickHouseStore {
        self.databases += 1;
        ClickHouseStore::open(&self.cluster.config(&format!("vigil_{}", self.databases))).unwrap()
    }

    fn reopen(&mut self, store: ClickHouseStore) -> ClickHouseStore {
        let database = store.database().to_owned();
        drop(store);
        ClickHouseStore::open(&self.cluster.config(&database)).unwrap()
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Rows of a project's table on each shard's part.
fn rows_per_shard(cluster: &Cluster, database: &str, table: &str, project: u32) -> Vec<u64> {
    cluster
        .servers()
        .iter()
        .map(|s| {
            s.say(&format!(
                "SELECT count() FROM {database}.{table}_local WHERE project = {project}"
            ))
            .parse()
            .unwrap()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_shard_cluster_passes_the_conformance_suite() {
    let cluster = Cluster::start(2);
    run_all(&mut OnCluster {
        cluster: &cluster,
        databases: 0,
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_spread_over_the_shards_and_retention_erasure_and_batches_reach_each() {
    let cluster = Cluster::start(2);
    let store = ClickHouseStore::open(&cluster.config("vigil_spread")).unwrap();
    assert_eq!(store.cluster(), Some(Cluster::NAME));
    let now = now_ms();
    // 24 sessions of 3 views today and 8 of 2 views ten days ago.
    let mut sessions = Vec::new();
    for i in 0..24 {
        let rows = session_batch(1, &format!("s-{i}"), &format!("u-{i}"), now - 60_000, 3);
        store.append(rows).await.unwrap();
        sessions.push(format!("s-{i}"));
    }
    for i in 0..8 {
        let rows = session_batch(1, &format!("old-{i}"), "old", now - 10 * DAY, 2);
        store.append(rows).await.unwrap();
    }
    let per_shard = rows_per_shard(&cluster, "vigil_spread", "views", 1);
    assert_eq!(
        per_shard.iter().sum::<u64>(),
        24 * 3 + 8 * 2,
        "{per_shard:?}"
    );
    assert!(
        per_shard.iter().all(|&n| n > 0),
        "both shards hold views: {per_shard:?}"
    );
    assert_eq!(rows_in(&store, Table::Views).await, 24 * 3 + 8 * 2);
    // A session's rows live on one shard.
    for server in cluster.servers() {
        let split = server.say("SELECT count() FROM (SELECT session_id, count() AS n FROM vigil_spread.views_local GROUP BY session_id HAVING n NOT IN (2, 3))",
        );
        assert_eq!(split, "0", "a session split across shards");
    }

    // Retention drops the old days on both shards.
    let old_per_shard = |cluster: &Cluster| -> Vec<String> {
        cluster
            .servers()
            .iter()
            .map(|s| s.say("SELECT count() FROM vigil_spread.views_local WHERE user_id = 'old'"))
            .collect()
    };
    let before = old_per_shard(&cluster);
    assert!(
        before.iter().all(|n| n != "0"),
        "old sessions on both shards: {before:?}"
    );
    store.apply_retention(1, 5).await.unwrap();
    assert_eq!(old_per_shard(&cluster), vec!["0", "0"]);
    assert_eq!(
        rows_per_shard(&cluster, "vigil_spread", "views", 1)
            .iter()
            .sum::<u64>(),
        72
    );

    // Erasing a session on each shard.
    let on_shard =
        |server: &Server| server.say("SELECT any(session_id) FROM vigil_spread.views_local");
    let first = on_shard(&cluster.servers()[0]);
    let second = on_shard(&cluster.servers()[1]);
    assert_ne!(first, second);
    // Every table's rows of a session: its views, vitals, errors, requests and spans.
    let per_session = session_batch(1, "s-0", "u-0", now - 60_000, 3).len() as u64;
    for session in [&first, &second] {
        let report = store
            .erase(1, Erasure::Session(session.clone()))
            .await
            .unwrap();
        assert_eq!(report.rows_removed, per_session, "{session}");
    }
    assert_eq!(rows_in(&store, Table::Views).await, 72 - 6);

    // A batch shipped in part is found by its id across shards and deleted from each.
    let batch = session_batch(1, "s-batch-a", "b", now - 1000, 2)
        .batches()
        .into_iter()
        .chain(session_batch(1, "s-batch-b", "b", now - 1000, 2).batches())
        .chain(session_batch(1, "s-batch-c", "b", now - 1000, 2).batches())
        .chain(session_batch(1, "s-batch-d", "b", now - 1000, 2).batches())
        .filter(|(t, _)| *t == Table::Views)
        .collect::<Vec<_>>();
    for (table, rows) in &batch {
        store.insert(1, *table, "instance/segment-1", rows).unwrap();
    }
    assert_eq!(
        store
            .batch_rows(Table::Views, "instance/segment-1")
            .unwrap(),
        8
    );
    store
        .delete_batch(Table::Views, "instance/segment-1")
        .unwrap();
    assert_eq!(
        store
            .batch_rows(Table::Views, "instance/segment-1")
            .unwrap(),
        0
    );
    assert_eq!(rows_in(&store, Table::Views).await, 72 - 6);
}

#[test]
fn a_configuration_that_does_not_match_the_cluster_is_refused() {
    let cluster = Cluster::start(2);
    // One shard's address of two: the other's rows would escape retention and erasure.
    let one = ClickHouseConfig {
        urls: vec![cluster.config("x").urls[0].clone()],
        ..cluster.config("vigil_one_of_two")
    };
    let Err(e) = ClickHouseStore::open(&one) else {
        panic!("a cluster with one of its two servers listed was opened");
    };
    assert!(e.to_string().contains("lists 1"), "{e}");
    // A cluster the servers do not know.
    let unknown = ClickHouseConfig {
        cluster: Some("nowhere".into()),
        ..cluster.config("vigil_unknown")
    };
    let Err(e) = ClickHouseStore::open(&unknown) else {
        panic!("an unknown cluster was accepted");
    };
    assert!(e.to_string().contains("no cluster \"nowhere\""), "{e}");
    // A database made on one server is not reused as a sharded one, nor the other way round.
    let single = ClickHouseConfig {
        cluster: None,
        ..cluster.config("vigil_single")
    };
    drop(ClickHouseStore::open(&single).unwrap());
    let Err(e) = ClickHouseStore::open(&cluster.config("vigil_single")) else {
        panic!("a one-server database was opened as a sharded one");
    };
    assert!(
        e.to_string().contains("either on one server or sharded"),
        "{e}"
    );
    drop(ClickHouseStore::open(&cluster.config("vigil_sharded")).unwrap());
    let Err(e) = ClickHouseStore::open(&ClickHouseConfig {
        cluster: None,
        ..cluster.config("vigil_sharded")
    }) else {
        panic!("a sharded database was opened as a one-server one");
    };
    assert!(
        e.to_string().contains("either on one server or sharded"),
        "{e}"
    );
}
