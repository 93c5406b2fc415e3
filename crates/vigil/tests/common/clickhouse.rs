//! ClickHouse for the black-box tests: one real server, or a cluster of real servers each
//! holding one shard of Vigil's tables.

use vigil_clickhouse::testing::{Cluster, Server};

/// Where `vigil serve` keeps its events in a test.
pub enum ClickHouse {
    /// One server holds every table.
    One(Server),
    /// Each server holds a shard, under a Distributed table on every server.
    Sharded(Cluster),
}

impl ClickHouse {
    /// One server.
    pub fn one() -> ClickHouse {
        ClickHouse::One(Server::start())
    }

    /// `shards` servers, one cluster.
    pub fn sharded(shards: usize) -> ClickHouse {
        ClickHouse::Sharded(Cluster::start(shards))
    }

    /// The `[storage]` lines for a database of it (shipping every 100 ms, flushing every
    /// second).
    pub fn storage_config(&self, database: &str) -> String {
        let urls: Vec<String> = self
            .servers()
            .iter()
            .map(|s| format!("\"http://127.0.0.1:{}\"", s.http_port()))
            .collect();
        let cluster = match self {
            ClickHouse::One(_) => String::new(),
            ClickHouse::Sharded(_) => format!("clickhouse_cluster = \"{}\"\n", Cluster::NAME),
        };
        format!(
            "[storage]\nbackend = \"clickhouse\"\nclickhouse_urls = [{}]\n{cluster}\
             clickhouse_database = \"{database}\"\nship_interval_ms = 100\nship_flush_interval_secs = 1\n",
            urls.join(", ")
        )
    }

    /// Its servers.
    pub fn servers(&self) -> &[Server] {
        match self {
            ClickHouse::One(server) => std::slice::from_ref(server),
            ClickHouse::Sharded(cluster) => cluster.servers(),
        }
    }

    /// A statement's answer from the first server (through the Distributed tables when
    /// sharded, so a count is the whole table's).
    pub fn says(&self, statement: &str) -> String {
        self.servers()[0].say(statement)
    }
}
