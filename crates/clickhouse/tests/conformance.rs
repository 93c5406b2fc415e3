//! The ClickHouse backend against a real ClickHouse server: Debian's `clickhouse-server`
//! (18.16), started here on free loopback ports with a data folder of its own, passes the
//! storage conformance suite (`vigil_model::conformance`) that the embedded store passes;
//! the schema is created for the server's version, recorded, and a database written by a
//! newer Vigil is refused.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use vigil_clickhouse::{ClickHouseConfig, ClickHouseStore};
use vigil_model::conformance::{Harness, run_all};

/// A ClickHouse server for one test, stopped when dropped.
struct Server {
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
    fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let (http, tcp) = (free_port(), free_port());
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

    fn config(&self, database: &str) -> ClickHouseConfig {
        ClickHouseConfig {
            urls: vec![format!("http://127.0.0.1:{}", self.http)],
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

struct OnClickHouse<'a> {
    server: &'a Server,
    databases: usize,
}

impl Harness for OnClickHouse<'_> {
    type Store = ClickHouseStore;

    fn fresh(&mut self) -> ClickHouseStore {
        self.databases += 1;
        ClickHouseStore::open(&self.server.config(&format!("vigil_{}", self.databases))).unwrap()
    }

    fn reopen(&mut self, store: ClickHouseStore) -> ClickHouseStore {
        let database = store.database().to_owned();
        drop(store);
        ClickHouseStore::open(&self.server.config(&database)).unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clickhouse_passes_the_conformance_suite() {
    let server = Server::start();
    run_all(&mut OnClickHouse {
        server: &server,
        databases: 0,
    })
    .await;
}

#[test]
fn the_schema_follows_the_servers_version_and_a_newer_one_is_refused() {
    let server = Server::start();
    let store = ClickHouseStore::open(&server.config("vigil_schema_check")).unwrap();
    // Debian's server: no LowCardinality or codecs in what was created.
    assert_eq!(
        (store.version().major, store.version().minor),
        (18, 16),
        "the tests run Debian's ClickHouse 18.16"
    );
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let url = format!("http://127.0.0.1:{}/", server.http);
    let query = |q: &str| -> String {
        agent
            .post(&url)
            .query("query", q)
            .send(&[][..])
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap()
    };
    let country = query(
        "SELECT type FROM system.columns WHERE database = 'vigil_schema_check' AND table = 'views' AND name = 'country'",
    );
    assert_eq!(country.trim(), "Nullable(String)");
    assert_eq!(
        query("SELECT max(version) FROM vigil_schema_check.vigil_schema").trim(),
        "1"
    );
    // Opening again records nothing new and changes nothing.
    drop(ClickHouseStore::open(&server.config("vigil_schema_check")).unwrap());
    assert_eq!(
        query("SELECT count() FROM vigil_schema_check.vigil_schema").trim(),
        "1"
    );
    // A column the model declares and the table lacks is added when Vigil starts.
    query("ALTER TABLE vigil_schema_check.views DROP COLUMN `tti`");
    drop(ClickHouseStore::open(&server.config("vigil_schema_check")).unwrap());
    assert_eq!(
        query("SELECT count() FROM system.columns WHERE database = 'vigil_schema_check' AND table = 'views' AND name = 'tti'").trim(),
        "1"
    );
    // A newer Vigil's database is refused with a message, never half-used.
    query("INSERT INTO vigil_schema_check.vigil_schema VALUES (99, 0)");
    let Err(e) = ClickHouseStore::open(&server.config("vigil_schema_check")) else {
        panic!("a schema from a newer vigil was opened");
    };
    assert!(e.to_string().contains("newer vigil"), "{e}");
}
