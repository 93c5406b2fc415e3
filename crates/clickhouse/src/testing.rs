//! A real ClickHouse server for tests (feature `test-server`): Debian's `clickhouse-server`
//! (`make test` installs it), or `$CLICKHOUSE_SERVER`, started on free loopback ports.
#![allow(clippy::missing_panics_doc)]

use crate::{ClickHouseConfig, ClickHouseStore};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use vigil_model::Table;
use vigil_model::storage::EventStore;

/// A ClickHouse server for one test, on free loopback ports with a folder of its own,
/// stopped when dropped.
pub struct Server {
    child: Child,
    http: u16,
    _dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `clickhouse-server` from Debian's package (`make test` installs it), or `$CLICKHOUSE_SERVER`.
fn server_binary() -> String {
    std::env::var("CLICKHOUSE_SERVER").unwrap_or_else(|_| "/usr/sbin/clickhouse-server".into())
}

impl Server {
    /// Starts one and waits until it answers.
    pub fn start() -> Server {
        Server::start_on(free_port(), free_port(), "")
    }

    /// Starts one on these ports, with `remote_servers` (a cluster's XML, or nothing), and
    /// waits until it answers.
    fn start_on(http: u16, tcp: u16, remote_servers: &str) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let path = |p: &str| dir.path().join(p).display().to_string() + "/";
        let config = format!(
            r#"<?xml version="1.0"?>
<yandex>
    <logger><level>warning</level><console>1</console></logger>
    <http_port>{http}</http_port>
    <tcp_port>{tcp}</tcp_port>
    <listen_host>127.0.0.1</listen_host>
    <path>{data}</path>
    <tmp_path>{tmp}</tmp_path>
    <user_files_path>{files}</user_files_path>
    <format_schema_path>{schemas}</format_schema_path>
    <users_config>{users}</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <mark_cache_size>5368709</mark_cache_size>
    <remote_servers>{remote_servers}</remote_servers>
</yandex>
"#,
            data = path("data"),
            tmp = path("tmp"),
            files = path("user_files"),
            schemas = path("format_schemas"),
            users = dir.path().join("users.xml").display(),
        );
        std::fs::write(dir.path().join("config.xml"), config).unwrap();
        std::fs::write(
            dir.path().join("users.xml"),
            r#"<?xml version="1.0"?>
<yandex>
    <profiles><default></default></profiles>
    <users><default><password></password><networks><ip>127.0.0.1</ip></networks>
        <profile>default</profile><quota>default</quota></default></users>
    <quotas><default></default></quotas>
</yandex>
"#,
        )
        .unwrap();
        let child = Command::new(server_binary())
            .arg(format!(
                "--config-file={}",
                dir.path().join("config.xml").display()
            ))
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "{} could not start ({e}): install Debian's clickhouse-server (make test does)",
                    server_binary()
                )
            });
        let server = Server {
            child,
            http,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if ClickHouseStore::open(&server.config("default")).is_ok() {
                return server;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("ClickHouse did not answer on port {http} within 30 s");
    }

    /// The HTTP port it listens on (127.0.0.1).
    pub fn http_port(&self) -> u16 {
        self.http
    }

    /// A statement's answer (an error's text too), trimmed: for tests to look at what the
    /// server holds.
    pub fn say(&self, statement: &str) -> String {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .new_agent()
            .post(&format!("http://127.0.0.1:{}/", self.http))
            .send(statement.as_bytes())
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap()
            .trim()
            .to_owned()
    }

    /// Settings for a store in `database` on this server.
    pub fn config(&self, database: &str) -> ClickHouseConfig {
        ClickHouseConfig {
            urls: vec![format!("http://127.0.0.1:{}", self.http)],
            database: database.into(),
            ..ClickHouseConfig::default()
        }
    }
}

/// A cluster of servers for one test: each holds one shard, and each knows them all under
/// [`Cluster::NAME`] in its `remote_servers`.
pub struct Cluster {
    servers: Vec<Server>,
}

impl Cluster {
    /// The cluster's name in the servers' configuration.
    pub const NAME: &str = "vigil_test_shards";

    /// Starts `shards` servers.
    pub fn start(shards: usize) -> Cluster {
        let ports: Vec<(u16, u16)> = (0..shards).map(|_| (free_port(), free_port())).collect();
        let shard_xml: String = ports
            .iter()
            .map(|(_, tcp)| {
                format!(
                    "<shard><replica><host>127.0.0.1</host><port>{tcp}</port></replica></shard>"
                )
            })
            .collect();
        let remote_servers = format!("<{0}>{shard_xml}</{0}>", Cluster::NAME);
        let servers = ports
            .iter()
            .map(|&(http, tcp)| Server::start_on(http, tcp, &remote_servers))
            .collect();
        Cluster { servers }
    }

    /// Its servers, in shard order.
    pub fn servers(&self) -> &[Server] {
        &self.servers
    }

    /// Settings for a store in `database` sharded over the cluster.
    pub fn config(&self, database: &str) -> ClickHouseConfig {
        ClickHouseConfig {
            urls: self
                .servers
                .iter()
                .map(|s| format!("http://127.0.0.1:{}", s.http))
                .collect(),
            cluster: Some(Cluster::NAME.into()),
            database: database.into(),
            ..ClickHouseConfig::default()
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How many rows of project 1's table a store answers, over all time.
pub async fn rows_in(store: &ClickHouseStore, table: Table) -> usize {
    store
        .scan(1, table, 0, i64::MAX)
        .await
        .unwrap()
        .iter()
        .map(|b| b.num_rows())
        .sum()
}
