//! The ClickHouse storage backend (issue 15): Vigil's [`EventStore`] over a ClickHouse
//! server's HTTP interface, for when one machine is not enough. One MergeTree table per event
//! table in a database of Vigil's, created and migrated by Vigil for the version the server
//! reports ([`ddl`]); rows in as `JSONEachRow` inserts, scans out as Arrow ([`convert`]);
//! retention by dropping a project's day partitions; erasure by mutations, waited for.
//!
//! Plain HTTP rather than the `clickhouse` crate: its typed `RowBinary` rows are Rust structs,
//! where Vigil's tables are declared at run time by the model, and the JSON formats read and
//! write the same from ClickHouse 18.16 (Debian's, which the tests run) to today's.
//!
//! Two ways in: [`EventStore::append`] inserts at once (ClickHouse's answer is the
//! acknowledgement), and [`ClickHouseRemote`] ships an instance's local store: intake keeps
//! acknowledging once rows are durable in the embedded store's log, and what it flushed to
//! Parquet is inserted in large batches, each marked with its id, then forgotten locally —
//! a batch cut short by a crash is found by its id and inserted again, so nothing
//! acknowledged is lost and nothing lands twice.

pub mod convert;
pub mod ddl;
mod ship;
#[cfg(feature = "test-server")]
pub mod testing;

pub use ship::{ClickHouseRemote, ShipReport};

use ddl::{
    Features, LOCAL_SUFFIX, SCHEMA_VERSION, ServerVersion, column_definition, quoted,
    string_literal as literal,
};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use vigil_model::storage::{Erasure, ErasureReport, EventStore};
use vigil_model::{ProjectId, Rows, Table};

const DAY_MS: i64 = 86_400_000;

/// Why a ClickHouse operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ClickHouseError {
    /// No server answered.
    #[error("ClickHouse at {url} did not answer: {reason}")]
    Unreachable {
        /// The server.
        url: String,
        /// Why.
        reason: String,
    },
    /// The server refused a statement.
    #[error("ClickHouse refused `{statement}`: {message}")]
    Refused {
        /// The statement, cut.
        statement: String,
        /// The server's message.
        message: String,
    },
    /// An answer Vigil could not read.
    #[error(transparent)]
    BadAnswer(#[from] convert::BadAnswer),
    /// A worker thread failed.
    #[error("a ClickHouse request could not run: {0}")]
    Task(String),
}

/// Where and how to reach ClickHouse.
#[derive(Debug, Clone)]
pub struct ClickHouseConfig {
    /// Servers' HTTP addresses (`http://127.0.0.1:8123`). Without a cluster the first that
    /// answers is used; with one, every shard's server, each of which must answer.
    pub urls: Vec<String>,
    /// A cluster of the servers' `remote_servers` to shard the tables over: each table is a
    /// MergeTree part on every server of `urls` and a Distributed table over them, which
    /// inserts (synchronously) and queries go through.
    pub cluster: Option<String>,
    /// The database Vigil keeps its tables in (created when missing).
    pub database: String,
    /// User and password, when the server wants them.
    pub user: Option<(String, String)>,
    /// Longest a statement may take.
    pub timeout: Duration,
}

impl Default for ClickHouseConfig {
    fn default() -> Self {
        Self {
            urls: vec!["http://127.0.0.1:8123".into()],
            cluster: None,
            database: "vigil".into(),
            user: None,
            timeout: Duration::from_secs(60),
        }
    }
}

/// One HTTP connection's worth of state, shared by the store's clones.
#[derive(Clone)]
struct Client {
    agent: ureq::Agent,
    url: String,
    database: String,
    user: Option<(String, String)>,
    /// Inserts into a Distributed table answer once every shard has the rows.
    sync_inserts: bool,
}

impl Client {
    /// Runs a statement, with `body` after it (an insert's rows); the answer's bytes.
    fn run(&self, statement: &str, body: &[u8]) -> Result<Vec<u8>, ClickHouseError> {
        // A statement without rows after it goes in the body: in the URL a long one (a
        // query's long text condition, many batch ids) passes the server's URL limit.
        let (statement_in_url, body) = if body.is_empty() {
            (None, statement.as_bytes())
        } else {
            (Some(statement), body)
        };
        let mut request = self.agent.post(&self.url).query("database", &self.database);
        if let Some(statement) = statement_in_url {
            request = request.query("query", statement);
        }
        if self.sync_inserts {
            request = request.query("insert_distributed_sync", "1");
        }
        if let Some((user, password)) = &self.user {
            request = request
                .header("X-ClickHouse-User", user)
                .header("X-ClickHouse-Key", password);
        }
        self.answer(statement, request.send(body))
    }

    /// The bytes of an answer to `statement`, or why there are none.
    fn answer(
        &self,
        statement: &str,
        sent: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Vec<u8>, ClickHouseError> {
        let mut response = sent.map_err(|e| ClickHouseError::Unreachable {
            url: self.url.clone(),
            reason: e.to_string(),
        })?;
        let status = response.status();
        let bytes = response
            .body_mut()
            .with_config()
            .limit(1 << 30)
            .read_to_vec()
            .map_err(|e| ClickHouseError::Unreachable {
                url: self.url.clone(),
                reason: e.to_string(),
            })?;
        if !status.is_success() {
            let cut: String = statement.chars().take(200).collect();
            return Err(ClickHouseError::Refused {
                statement: cut,
                message: String::from_utf8_lossy(&bytes).trim().to_owned(),
            });
        }
        Ok(bytes)
    }

    /// Runs a query with tables of rows sent along it (ClickHouse's external data: a
    /// multipart form whose files are tables the query reads by name, each with its
    /// structure and format in the URL). The statement is a form field too: 18.16 takes up
    /// to 256 KiB there.
    fn run_with_tables(
        &self,
        statement: &str,
        tables: &[ExternalTable],
    ) -> Result<Vec<u8>, ClickHouseError> {
        if tables.is_empty() {
            return self.run(statement, &[]);
        }
        // A boundary no row can contain: random, and looked for in the rows anyway.
        let boundary = loop {
            let random = std::hash::BuildHasher::hash_one(
                &std::collections::hash_map::RandomState::new(),
                now_ms(),
            );
            let boundary = format!("vigil-{random:016x}");
            let inside = |bytes: &[u8]| {
                bytes
                    .windows(boundary.len())
                    .any(|w| w == boundary.as_bytes())
            };
            if !inside(statement.as_bytes()) && !tables.iter().any(|t| inside(&t.rows)) {
                break boundary;
            }
        };
        let mut body = Vec::with_capacity(
            statement.len() + tables.iter().map(|t| t.rows.len() + 200).sum::<usize>(),
        );
        let mut part = |name: &str, file: bool, content: &[u8]| {
            body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
            let filename = if file {
                format!("; filename=\"{name}\"")
            } else {
                String::new()
            };
            body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"{filename}\r\n\r\n")
                    .as_bytes(),
            );
            body.extend_from_slice(content);
            body.extend_from_slice(b"\r\n");
        };
        part("query", false, statement.as_bytes());
        for t in tables {
            part(&t.name, true, &t.rows);
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        let mut request = self.agent.post(&self.url).query("database", &self.database);
        for t in tables {
            request = request
                .query(format!("{}_structure", t.name), &t.structure)
                .query(format!("{}_format", t.name), "JSONEachRow");
        }
        if let Some((user, password)) = &self.user {
            request = request
                .header("X-ClickHouse-User", user)
                .header("X-ClickHouse-Key", password);
        }
        let request = request.header(
            "Content-Type",
            format!("multipart/form-data; boundary={boundary}"),
        );
        self.answer(statement, request.send(&body[..]))
    }

    fn text(&self, statement: &str) -> Result<String, ClickHouseError> {
        Ok(String::from_utf8_lossy(&self.run(statement, &[])?)
            .trim()
            .to_owned())
    }
}

/// A table of rows sent along with a query (external data).
pub struct ExternalTable {
    /// The name the query reads it by.
    pub name: String,
    /// Its columns and their types (`"a" Int64, "b" Nullable(String)`).
    pub structure: String,
    /// Its rows, as `JSONEachRow`.
    pub rows: Vec<u8>,
}

/// Events kept in ClickHouse.
#[derive(Clone)]
pub struct ClickHouseStore {
    /// Where inserts and queries go.
    client: Arc<Client>,
    /// Every server holding a part of the tables (the one server without a cluster):
    /// schema changes, retention and erasure run on each.
    shards: Arc<Vec<Client>>,
    cluster: Option<String>,
    version: ServerVersion,
}

impl ClickHouseStore {
    /// Connects to the first server that answers (to every server, on a cluster), creates
    /// the database and tables when missing, adds the columns the model gained since, and
    /// records the schema version.
    pub fn open(config: &ClickHouseConfig) -> Result<ClickHouseStore, ClickHouseError> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(config.timeout))
            .build()
            .into();
        let client = |url: &str| Client {
            agent: agent.clone(),
            url: url.trim_end_matches('/').to_owned() + "/",
            database: "default".into(),
            user: config.user.clone(),
            sync_inserts: config.cluster.is_some(),
        };
        let mut answered = Vec::new();
        let mut last = None;
        for url in &config.urls {
            let client = client(url);
            match client.text("SELECT version()") {
                Ok(version) => {
                    let version =
                        ServerVersion::parse(&version).ok_or_else(|| ClickHouseError::Refused {
                            statement: "SELECT version()".into(),
                            message: format!("an unknown version {version:?}"),
                        })?;
                    client.run(
                        &format!("CREATE DATABASE IF NOT EXISTS {}", quoted(&config.database)),
                        &[],
                    )?;
                    answered.push((
                        Client {
                            database: config.database.clone(),
                            ..client
                        },
                        version,
                    ));
                    if config.cluster.is_none() {
                        break;
                    }
                }
                // Every shard's server is needed to create the tables and erase.
                Err(e) if config.cluster.is_some() => return Err(e),
                Err(e) => last = Some(e),
            }
        }
        if answered.is_empty() {
            return Err(last.unwrap_or(ClickHouseError::Unreachable {
                url: String::new(),
                reason: "no ClickHouse URL configured".into(),
            }));
        }
        // The DDL is what the oldest server understands.
        let version = answered
            .iter()
            .map(|(_, v)| *v)
            .min()
            .unwrap_or(answered[0].1);
        let shards: Vec<Client> = answered.into_iter().map(|(c, _)| c).collect();
        let store = ClickHouseStore {
            client: Arc::new(shards[0].clone()),
            shards: Arc::new(shards),
            cluster: config.cluster.clone(),
            version,
        };
        if let Some(cluster) = &store.cluster {
            store.check_cluster(cluster)?;
        }
        store.migrate()?;
        Ok(store)
    }

    /// Each listed server must be one of the cluster's, and the cluster have no other: a
    /// server left out would hold rows that retention and erasure never reach.
    fn check_cluster(&self, cluster: &str) -> Result<(), ClickHouseError> {
        for shard in self.shards.iter() {
            let statement = format!(
                "SELECT count(), sum(is_local) FROM system.clusters WHERE cluster = {} FORMAT TabSeparated",
                literal(cluster)
            );
            let answer = shard.text(&statement)?;
            let (hosts, local) = answer.split_once('\t').unwrap_or((&answer, "0"));
            let refuse = |message: String| ClickHouseError::Refused {
                statement: statement.clone(),
                message,
            };
            if hosts == "0" {
                return Err(refuse(format!(
                    "{} has no cluster {cluster:?} in its remote_servers",
                    shard.url
                )));
            }
            if hosts != self.shards.len().to_string() {
                return Err(refuse(format!(
                    "cluster {cluster:?} has {hosts} servers and clickhouse_urls lists {}: list every shard's server, one each (replicas are not supported)",
                    self.shards.len()
                )));
            }
            if local != "1" {
                return Err(refuse(format!(
                    "{} is not one of cluster {cluster:?}'s servers",
                    shard.url
                )));
            }
        }
        Ok(())
    }

    /// Whether the tables are sharded over a cluster.
    pub fn cluster(&self) -> Option<&str> {
        self.cluster.as_deref()
    }

    /// The name of a table's rows on each server: its own name, or its local part's on a
    /// cluster.
    fn local_name(&self, table: Table) -> String {
        match self.cluster {
            Some(_) => format!("{}{LOCAL_SUFFIX}", table.name()),
            None => table.name().to_owned(),
        }
    }

    /// The server's version.
    pub fn version(&self) -> ServerVersion {
        self.version
    }

    /// The database the store keeps its tables in.
    pub fn database(&self) -> &str {
        &self.client.database
    }

    fn migrate(&self) -> Result<(), ClickHouseError> {
        for shard in self.shards.iter() {
            self.migrate_server(shard)?;
        }
        Ok(())
    }

    /// Creates or completes the tables on one server, and records the schema version there.
    fn migrate_server(&self, server: &Client) -> Result<(), ClickHouseError> {
        let features = Features::of(self.version);
        let db = &server.database;
        server.run(&ddl::create_schema_table(db), &[])?;
        for table in Table::ALL {
            let local = self.local_name(table);
            // A database made with the other layout (one server's tables, or a cluster's)
            // is refused rather than half-used.
            let engine = server.text(&format!(
                "SELECT engine FROM system.tables WHERE database = {} AND name = {}",
                literal(db),
                literal(table.name())
            ))?;
            let want_distributed = self.cluster.is_some();
            if !engine.is_empty() && (engine == "Distributed") != want_distributed {
                return Err(ClickHouseError::Refused {
                    statement: format!("CREATE TABLE {}", table.name()),
                    message: format!(
                        "{}.{} on {} is a {engine} table, and [storage] clickhouse_cluster is {}: a database is either on one server or sharded; use another clickhouse_database",
                        db,
                        table.name(),
                        server.url,
                        if want_distributed { "set" } else { "not set" },
                    ),
                });
            }
            server.run(&ddl::create_table(db, table, &local, features), &[])?;
            let mut names = vec![local];
            if let Some(cluster) = &self.cluster {
                server.run(&ddl::create_distributed(db, table, cluster), &[])?;
                names.push(table.name().to_owned());
            }
            for name in names {
                // Columns the model declared since the table was created.
                let have: BTreeSet<String> = server
                    .text(&format!(
                        "SELECT name FROM system.columns WHERE database = {} AND table = {}",
                        literal(db),
                        literal(&name)
                    ))?
                    .lines()
                    .map(str::to_owned)
                    .collect();
                for field in table.columns().iter().filter(|f| !have.contains(f.name)) {
                    server.run(
                        &format!(
                            "ALTER TABLE {} ADD COLUMN {}",
                            quoted(&name),
                            column_definition(field, features)
                        ),
                        &[],
                    )?;
                }
            }
        }
        let applied: u32 = server
            .text("SELECT max(version) FROM vigil_schema")?
            .parse()
            .unwrap_or(0);
        if applied > SCHEMA_VERSION {
            return Err(ClickHouseError::Refused {
                statement: "SELECT max(version) FROM vigil_schema".into(),
                message: format!(
                    "the database holds schema version {applied}, written by a newer vigil (this one knows up to {SCHEMA_VERSION})"
                ),
            });
        }
        if applied < SCHEMA_VERSION {
            server.run(
                "INSERT INTO vigil_schema FORMAT JSONEachRow",
                format!(
                    "{{\"version\":{SCHEMA_VERSION},\"applied_ms\":{}}}\n",
                    now_ms()
                )
                .as_bytes(),
            )?;
        }
        Ok(())
    }

    fn append_blocking(&self, rows: &Rows) -> Result<(), ClickHouseError> {
        for (table, batch) in rows.batches() {
            self.insert(rows.project, table, "", &batch)?;
        }
        Ok(())
    }

    /// Inserts one batch of a table's rows, marked as shipped in `batch_id`: one `INSERT`,
    /// which ClickHouse writes as one part.
    pub fn insert(
        &self,
        project: ProjectId,
        table: Table,
        batch_id: &str,
        batch: &arrow_array::RecordBatch,
    ) -> Result<(), ClickHouseError> {
        let body = convert::json_each_row(project, batch_id, batch);
        self.client.run(
            &format!("INSERT INTO {} FORMAT JSONEachRow", quoted(table.name())),
            &body,
        )?;
        Ok(())
    }

    /// How many rows of a table came in a shipped batch.
    pub fn batch_rows(&self, table: Table, batch_id: &str) -> Result<u64, ClickHouseError> {
        Ok(self
            .client
            .text(&format!(
                "SELECT count() FROM {} WHERE {} = {}",
                quoted(table.name()),
                ddl::BATCH_COLUMN,
                literal(batch_id)
            ))?
            .parse()
            .unwrap_or(0))
    }

    /// Removes the rows of a shipped batch whose insert was cut short.
    pub fn delete_batch(&self, table: Table, batch_id: &str) -> Result<(), ClickHouseError> {
        self.delete_where(
            table,
            &format!("{} = {}", ddl::BATCH_COLUMN, literal(batch_id)),
        )
    }

    /// Deletes a table's rows matching `condition` on every server holding a part of it
    /// (mutations do not go through a Distributed table), and waits until they are gone.
    fn delete_where(&self, table: Table, condition: &str) -> Result<(), ClickHouseError> {
        let local = self.local_name(table);
        for shard in self.shards.iter() {
            shard.run(
                &format!("ALTER TABLE {} DELETE WHERE {condition}", quoted(&local)),
                &[],
            )?;
        }
        for shard in self.shards.iter() {
            wait_for_mutations(shard, &local)?;
        }
        Ok(())
    }

    fn scan_blocking(
        &self,
        project: ProjectId,
        table: Table,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<arrow_array::RecordBatch, ClickHouseError> {
        self.scan_except(project, table, (from_ms, to_ms), &[], table.schema(), &[])
    }

    /// Columns (`schema`, a part of the table's) of a table's rows of a project in a time
    /// range, but for those of the named batches, and within `filters` when they name its
    /// columns.
    pub fn scan_except(
        &self,
        project: ProjectId,
        table: Table,
        (from_ms, to_ms): (i64, i64),
        except_batches: &[String],
        schema: arrow_schema::SchemaRef,
        filters: &[vigil_query::RemoteFilter],
    ) -> Result<arrow_array::RecordBatch, ClickHouseError> {
        let except = if except_batches.is_empty() {
            String::new()
        } else {
            format!(
                " AND {} NOT IN ({})",
                ddl::BATCH_COLUMN,
                except_batches
                    .iter()
                    .map(|b| literal(b))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let conditions: String = filters
            .iter()
            .filter(|f| filter_column_known(table, f))
            .map(|f| format!(" AND {}", filter_sql(f)))
            .collect();
        let answer = self.client.run(
            &format!(
                "SELECT {} FROM {} WHERE `project` = {project} AND `ts` >= {from_ms} AND `ts` < {to_ms}{except}{conditions} FORMAT JSONCompact",
                convert::select_list(&schema),
                quoted(table.name())
            ),
            &[],
        )?;
        Ok(convert::batch_of(schema, &answer)?)
    }

    /// Runs a SELECT (without a FORMAT clause) and returns its rows as ClickHouse writes
    /// them in JSON (64-bit integers may be quoted).
    pub fn select_rows(&self, sql: &str) -> Result<Vec<Vec<serde_json::Value>>, ClickHouseError> {
        self.select_rows_with(sql, &[])
    }

    /// Runs a SELECT (without a FORMAT clause) over the server's tables and `tables`, sent
    /// along with it; its rows as [`Self::select_rows`] returns them.
    pub fn select_rows_with(
        &self,
        sql: &str,
        tables: &[ExternalTable],
    ) -> Result<Vec<Vec<serde_json::Value>>, ClickHouseError> {
        let answer = self
            .client
            .run_with_tables(&format!("{sql} FORMAT JSONCompact"), tables)?;
        #[derive(serde::Deserialize)]
        struct Answer {
            data: Vec<Vec<serde_json::Value>>,
        }
        let parsed: Answer =
            serde_json::from_slice(&answer).map_err(|e| ClickHouseError::Refused {
                statement: sql.chars().take(200).collect(),
                message: format!("unreadable answer: {e}"),
            })?;
        Ok(parsed.data)
    }

    /// Drops a project's day partitions older than `keep_days`.
    pub fn retention_blocking(
        &self,
        project: ProjectId,
        keep_days: u32,
    ) -> Result<(), ClickHouseError> {
        let cutoff_day = (now_ms() - i64::from(keep_days) * DAY_MS).div_euclid(DAY_MS);
        for shard in self.shards.iter() {
            for table in Table::ALL {
                self.drop_days_before(shard, project, table, cutoff_day)?;
            }
        }
        Ok(())
    }

    /// Drops one server's partitions of a project's table from days before `cutoff_day`.
    fn drop_days_before(
        &self,
        shard: &Client,
        project: ProjectId,
        table: Table,
        cutoff_day: i64,
    ) -> Result<(), ClickHouseError> {
        let local = self.local_name(table);
        // Partitions are (project, day): `(1,20425)`.
        let parts = shard.text(&format!(
            "SELECT DISTINCT partition, partition_id FROM system.parts \
             WHERE database = {} AND table = {} AND active FORMAT TabSeparated",
            literal(&shard.database),
            literal(&local)
        ))?;
        for line in parts.lines() {
            let Some((partition, id)) = line.split_once('\t') else {
                continue;
            };
            let numbers: Vec<i64> = partition
                .trim_matches(['(', ')'])
                .split(',')
                .filter_map(|n| n.trim().parse().ok())
                .collect();
            if let [p, day] = numbers[..]
                && p == i64::from(project)
                && day < cutoff_day
            {
                shard.run(
                    &format!(
                        "ALTER TABLE {} DROP PARTITION ID {}",
                        quoted(&local),
                        literal(id)
                    ),
                    &[],
                )?;
            }
        }
        Ok(())
    }

    /// Removes a user's or a session's rows of a project from every table, and waits.
    pub fn erase_blocking(
        &self,
        project: ProjectId,
        erasure: &Erasure,
    ) -> Result<ErasureReport, ClickHouseError> {
        let mut report = ErasureReport::default();
        let condition = format!(
            "`project` = {project} AND {} = {}",
            quoted(erasure.column()),
            literal(erasure.value())
        );
        for table in Table::ALL {
            let name = quoted(table.name());
            let rows: u64 = self
                .client
                .text(&format!("SELECT count() FROM {name} WHERE {condition}"))?
                .parse()
                .unwrap_or(0);
            if rows == 0 {
                continue;
            }
            self.delete_where(table, &condition)?;
            report.rows_removed += rows;
            report.files_rewritten += 1;
        }
        Ok(report)
    }

    /// Runs blocking HTTP work off the async workers.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(ClickHouseStore) -> Result<T, ClickHouseError> + Send + 'static,
    ) -> Result<T, ClickHouseError> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || work(store))
            .await
            .map_err(|e| ClickHouseError::Task(e.to_string()))?
    }
}

impl EventStore for ClickHouseStore {
    type Error = ClickHouseError;

    async fn append(&self, rows: Rows) -> Result<(), ClickHouseError> {
        self.blocking(move |s| s.append_blocking(&rows)).await
    }

    async fn scan(
        &self,
        project: ProjectId,
        table: Table,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<arrow_array::RecordBatch>, ClickHouseError> {
        let batch = self
            .blocking(move |s| s.scan_blocking(project, table, from_ms, to_ms))
            .await?;
        Ok(vec![batch])
    }

    async fn apply_retention(
        &self,
        project: ProjectId,
        keep_days: u32,
    ) -> Result<(), ClickHouseError> {
        self.blocking(move |s| s.retention_blocking(project, keep_days))
            .await
    }

    async fn erase(
        &self,
        project: ProjectId,
        erasure: Erasure,
    ) -> Result<ErasureReport, ClickHouseError> {
        self.blocking(move |s| s.erase_blocking(project, &erasure))
            .await
    }
}

/// Whether a pushed condition names a column of the table (anything else is left to the
/// engine, which applies every condition again).
fn filter_column_known(table: Table, filter: &vigil_query::RemoteFilter) -> bool {
    use vigil_query::RemoteFilter as F;
    let (F::Compare(c, _, _) | F::In(c, _, _) | F::IsNull(c, _) | F::Like(c, _)) = filter;
    table.column(c).is_some()
}

fn value_sql(value: &vigil_query::RemoteValue) -> String {
    match value {
        vigil_query::RemoteValue::Text(s) => literal(s),
        vigil_query::RemoteValue::Int(n) => n.to_string(),
        vigil_query::RemoteValue::Bool(b) => u8::from(*b).to_string(),
    }
}

/// A pushed condition in ClickHouse SQL.
fn filter_sql(filter: &vigil_query::RemoteFilter) -> String {
    use vigil_query::RemoteFilter as F;
    match filter {
        F::Compare(c, op, v) => format!("{} {op} {}", quoted(c), value_sql(v)),
        F::In(c, values, negated) => format!(
            "{} {}IN ({})",
            quoted(c),
            if *negated { "NOT " } else { "" },
            values.iter().map(value_sql).collect::<Vec<_>>().join(", ")
        ),
        F::IsNull(c, true) => format!("isNull({})", quoted(c)),
        F::IsNull(c, false) => format!("isNotNull({})", quoted(c)),
        // The literal keeps the pattern's backslashes (escaped once more for the parser).
        F::Like(c, pattern) => format!("{} LIKE {}", quoted(c), literal(pattern)),
    }
}

/// Mutations run in the background; an erasure is done when a server's are (servers before
/// 19.x have no `mutations_sync`).
fn wait_for_mutations(server: &Client, table: &str) -> Result<(), ClickHouseError> {
    let pending = format!(
        "SELECT count() FROM system.mutations WHERE database = {} AND table = {} AND is_done = 0",
        literal(&server.database),
        literal(table)
    );
    for _ in 0..600 {
        if server.text(&pending)? == "0" {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(ClickHouseError::Task(format!(
        "the deletion from {table} on {} did not finish in 30 s",
        server.url
    )))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
