//! The ClickHouse backend against a real ClickHouse server: Debian's `clickhouse-server`
//! (18.16), started here on free loopback ports with a data folder of its own, passes the
//! storage conformance suite (`vigil_model::conformance`) that the embedded store passes;
//! the schema is created for the server's version, recorded, and a database written by a
//! newer Vigil is refused.

use vigil_clickhouse::ClickHouseStore;
use vigil_clickhouse::testing::Server;
use vigil_model::conformance::{Harness, run_all};

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
    let query = |q: &str| server.say(q);
    let country = query(
        "SELECT type FROM system.columns WHERE database = 'vigil_schema_check' AND table = 'views' AND name = 'country'",
    );
    assert_eq!(country, "Nullable(String)");
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
