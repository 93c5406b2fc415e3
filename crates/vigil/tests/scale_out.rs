//! Two `vigil serve` instances that share nothing but a real PostgreSQL (projects, users,
//! login sessions, tokens, alert rules), a real ClickHouse (events) and an S3 server (moto:
//! session replay, source maps): a login on one is a login on the other, each answers with
//! the events and the replay the other took in, one of them evaluates alerts and the other
//! takes over when it dies, and with a client sending round robin to both, killing either
//! with SIGKILL loses no acknowledged event and duplicates none.

mod common;

use common::clickhouse::ClickHouse;
use common::*;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use vigil_blobs::testing::MotoServer;
use vigil_meta::testing::Postgres;

const EVENTS_PER_BATCH: usize = 3;

/// The shared backends and the configuration both instances run with.
struct Cluster {
    _postgres: Postgres,
    clickhouse: ClickHouse,
    _s3: MotoServer,
    meta_url: String,
    config: String,
}

impl Cluster {
    /// PostgreSQL, moto, and one ClickHouse server.
    fn start() -> Cluster {
        Cluster::start_on(ClickHouse::one())
    }

    fn start_on(clickhouse: ClickHouse) -> Cluster {
        let postgres = Postgres::start();
        let meta_url = postgres.create_database("vigil");
        let s3 = MotoServer::start();
        let config = format!(
            "alert_lease_secs = 3\nalert_interval_secs = 1\n\
             [meta]\nurl = \"{meta_url}\"\n\
             {}\
             [blobs.s3]\nendpoint = \"{}\"\nbucket = \"{}\"\naccess_key_id = \"testing\"\n\
             secret_access_key = \"testing\"\nprefix = \"cluster\"\n",
            clickhouse.storage_config("vigil"),
            s3.endpoint(),
            vigil_blobs::testing::BUCKET,
        );
        Cluster {
            _postgres: postgres,
            clickhouse,
            _s3: s3,
            meta_url,
            config,
        }
    }

    /// An instance over a data folder of its own (its local log).
    fn instance(&self, data: &std::path::Path) -> Server {
        Server::start_with_config(data, &self.config)
    }
}

/// A value from a server's /metrics.
fn metric(server: &Server, name: &str) -> Option<u64> {
    let (status, text) = server.get("/metrics", None);
    assert_eq!(status, 200);
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .map(|v| v.trim().parse().unwrap())
}

/// `vigil_alert_lease_held` from a server's /metrics.
fn holds_lease(server: &Server) -> Option<bool> {
    metric(server, "vigil_alert_lease_held").map(|v| v == 1)
}

fn evaluations(server: &Server) -> u64 {
    metric(server, "vigil_alert_evaluations_total").unwrap()
}

#[test]
fn two_instances_share_users_projects_and_events_and_one_evaluates_alerts() {
    let cluster = Cluster::start();
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let url = Some(cluster.meta_url.as_str());
    let p = create_project_with(dir_a.path(), url, "shop", &[]);
    add_user_with(dir_a.path(), url, "ann@example.com", "shop", "ann password");
    let a = cluster.instance(dir_a.path());
    let b = cluster.instance(dir_b.path());
    for dir in [&dir_a, &dir_b] {
        assert!(
            !dir.path().join("meta.db").exists(),
            "metadata is in PostgreSQL"
        );
    }

    // A login on A is a login on B; a token made on B reads on A.
    let (cookie, csrf) = sign_in(&a, "ann@example.com", "ann password");
    let mut me = agent()
        .get(b.url("/api/v1/me"))
        .header("cookie", &cookie)
        .call()
        .unwrap();
    assert_eq!(me.status().as_u16(), 200);
    let me: Value = serde_json::from_str(&me.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(me["user"]["email"], "ann@example.com", "{me}");
    let mut made = agent()
        .post(b.url(&format!("/api/v1/projects/{}/tokens", p.id)))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .header("content-type", "application/json")
        .send(json!({"scope": "read"}).to_string().as_bytes())
        .unwrap();
    assert_eq!(made.status().as_u16(), 201);
    let made: Value = serde_json::from_str(&made.body_mut().read_to_string().unwrap()).unwrap();
    let token_from_b = made["token"].as_str().unwrap().to_owned();
    assert_eq!(a.count(&token_from_b, "custom_events"), 0);

    // Events taken in by either are answered by both once shipped.
    for (i, server) in [&a, &b].into_iter().enumerate() {
        for n in 0..5 {
            let events = json!([{"type": "custom", "ts": now_ms(), "name": "order", "value": n}]);
            let (status, body) = server.ingest(&p.public_key, &batch(&format!("s{i}-{n}"), events));
            assert_eq!(status, 202, "{body}");
        }
    }
    for server in [&a, &b] {
        assert!(
            eventually(Duration::from_secs(30), || server
                .count(&p.api_token, "custom_events")
                == 10),
            "{} answers {} events",
            server.addr,
            server.count(&p.api_token, "custom_events")
        );
    }

    // A replay recorded through A is played back from B (the segments are in the bucket).
    let t = now_ms();
    let segment = json!({
        "v": 1, "session_id": "s-replayed", "seq": 0, "start": t, "end": t + 1, "mode": "session",
        "events": [{"type": 4, "timestamp": t, "data": {"href": "https://shop.example/"}}]
    });
    let stored = agent()
        .post(a.url(&format!("/api/v1/replay?key={}&enc=none", p.public_key)))
        .send(segment.to_string().as_bytes())
        .unwrap();
    assert_eq!(stored.status().as_u16(), 202);
    let (status, played) = b.get("/api/v1/sessions/s-replayed/replay", Some(&p.api_token));
    assert_eq!(status, 200, "{played}");
    let played: Value = serde_json::from_str(played.trim()).unwrap();
    assert_eq!(played["events"], segment["events"], "{played}");
    for dir in [&dir_a, &dir_b] {
        assert!(
            !dir.path().join("replay").exists(),
            "replay is in the bucket"
        );
    }

    // One instance holds the alerts lease and evaluates the rules, the other does not; when
    // the holder dies, the other takes over.
    let rule = json!({
        "name": "orders", "metric": "custom_events", "aggregation": "count", "condition": "above",
        "threshold": 1000, "channels": []
    });
    open_meta(dir_a.path(), url)
        .create_alert_rule(p.id as u32, &rule.to_string(), now_ms())
        .unwrap();
    assert!(
        eventually(Duration::from_secs(10), || {
            let held = [holds_lease(&a), holds_lease(&b)];
            held.iter().filter(|h| **h == Some(true)).count() == 1
                && held.iter().all(Option::is_some)
        }),
        "exactly one holder: {:?} {:?}",
        holds_lease(&a),
        holds_lease(&b)
    );
    let (mut holder, other) = if holds_lease(&a) == Some(true) {
        (a, b)
    } else {
        (b, a)
    };
    assert!(
        eventually(Duration::from_secs(10), || evaluations(&holder) >= 2),
        "the holder evaluates"
    );
    assert_eq!(evaluations(&other), 0, "the other does not");
    holder.kill9();
    assert!(
        eventually(Duration::from_secs(15), || holds_lease(&other)
            == Some(true)),
        "the survivor took the lease over"
    );
    assert!(
        eventually(Duration::from_secs(10), || evaluations(&other) >= 1),
        "and evaluates"
    );
}

#[test]
fn killing_either_instance_behind_a_round_robin_client_loses_no_acknowledged_event() {
    kill_either_instance_and_count(&Cluster::start());
}

/// The same with the events sharded over two ClickHouse servers.
#[test]
fn killing_either_instance_over_two_clickhouse_shards_loses_no_acknowledged_event() {
    let cluster = Cluster::start_on(ClickHouse::sharded(2));
    kill_either_instance_and_count(&cluster);
    let per_shard: Vec<String> = cluster
        .clickhouse
        .servers()
        .iter()
        .map(|s| s.say("SELECT count() FROM vigil.custom_events_local"))
        .collect();
    assert!(
        per_shard.iter().all(|n| n != "0"),
        "both shards hold events: {per_shard:?}"
    );
}

fn kill_either_instance_and_count(cluster: &Cluster) {
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let url = Some(cluster.meta_url.as_str());
    let p = create_project_with(dirs[0].path(), url, "shop", &[]);
    let mut servers: Vec<Server> = dirs.iter().map(|d| cluster.instance(d.path())).collect();
    let mut acked_total = HashSet::new();
    // Each round kills one instance mid-stream and starts it again over its data folder.
    for (round, victim) in [0usize, 1, 0].into_iter().enumerate() {
        let senders = Senders::start(
            servers.iter().map(|s| s.addr.clone()).collect(),
            &p.public_key,
            &format!("r{round}"),
            4,
            EVENTS_PER_BATCH,
        );
        std::thread::sleep(Duration::from_millis(1500));
        servers[victim].kill9();
        // The clients keep sending: half their batches now fail, the other half land.
        std::thread::sleep(Duration::from_millis(500));
        let acked = senders.stop();
        assert!(
            acked.len() > 50,
            "round {round}: only {} batches acknowledged",
            acked.len()
        );
        acked_total.extend(acked);
        servers[victim] = cluster.instance(dirs[victim].path());
    }
    // Both answer every acknowledged batch exactly once, once the restarted ones shipped.
    let count_all = |server: &Server| -> HashMap<String, i64> {
        let mut counts = HashMap::new();
        for round in 0..3 {
            for c in 0..4 {
                counts.extend(counts_by_session(
                    server,
                    &p.api_token,
                    &format!("r{round}c{c}"),
                ));
            }
        }
        counts
    };
    for server in &servers {
        let shipped = eventually(Duration::from_secs(60), || {
            let counts = count_all(server);
            acked_total.iter().all(|s| counts.contains_key(s))
        });
        assert!(shipped, "{} answers every acknowledged batch", server.addr);
        let counts = count_all(server);
        assert_eq!(
            server.count(&p.api_token, "custom_events"),
            counts.len() as i64 * EVENTS_PER_BATCH as i64
        );
        for session in &acked_total {
            assert_eq!(
                counts.get(session).copied(),
                Some(EVENTS_PER_BATCH as i64),
                "acknowledged batch {session}"
            );
        }
        let duplicated = counts
            .values()
            .filter(|n| **n != EVENTS_PER_BATCH as i64)
            .count();
        assert_eq!(duplicated, 0, "batches partial or duplicated");
        eprintln!(
            "{}: {} acknowledged batches survived 3 kill -9s of 2 instances; {} stored, {duplicated} duplicated",
            server.addr,
            acked_total.len(),
            counts.len()
        );
    }
}
