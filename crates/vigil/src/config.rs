//! `vigil serve` configuration: defaults, then a TOML file, then `VIGIL_*` environment
//! variables and command-line flags (clap reads both), then `validate()`.

use anyhow::{Context, bail};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Everything `vigil serve` can be told.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Data folder (store, metadata).
    pub data: PathBuf,
    /// Address to listen on.
    pub listen: SocketAddr,
    /// DB-IP (ip-location-db) country mmdb.
    pub geo_country_db: Option<PathBuf>,
    /// Optional city mmdb (region and city).
    pub geo_city_db: Option<PathBuf>,
    /// Take the client IP from X-Forwarded-For.
    pub trust_forwarded_for: bool,
    /// Serve the dashboard from this folder instead of the embedded copy.
    pub web_dir: Option<PathBuf>,
    /// Largest request body as sent.
    pub max_body_bytes: usize,
    /// Largest body after decompression.
    pub max_decompressed_bytes: usize,
    /// Most events per batch.
    pub max_events_per_batch: usize,
    /// Longest string in a batch, in raw bytes.
    pub max_string_bytes: usize,
    /// Rows kept in memory before a Parquet flush.
    pub flush_rows: usize,
    /// Seconds before in-memory rows are flushed regardless.
    pub flush_interval_secs: u64,
    /// Batches that may wait for the store writer before intake answers 503.
    pub queue_batches: usize,
    /// Requests whose bodies may be in memory at once before intake answers 503.
    pub max_inflight_requests: usize,
    /// Events per second per project before intake answers 429 (0: no limit).
    pub rate_limit_events_per_second: u32,
    /// Bytes that intake's bodies (as sent and decompressed) may hold at once.
    pub max_inflight_bytes: usize,
    /// Seconds a client has to send a request body to intake.
    pub body_timeout_secs: u64,
    /// Bytes of rows waiting in memory for a Parquet flush before intake answers 503.
    pub max_unflushed_bytes: usize,
    /// Largest in-memory size of one batch's rows before intake answers 413.
    pub max_batch_row_bytes: usize,
    /// Open connections at most (default: below the open-file limit).
    pub max_connections: usize,
    /// Open connections from one client address at most.
    pub max_connections_per_ip: usize,
    /// Seconds a client has to send a request's headers (also the keep-alive idle time).
    pub header_read_timeout_secs: u64,
    /// Bytes one query's aggregations and sorts may hold before it is refused as too large.
    pub query_memory_bytes: usize,
    /// Queries running at once; more wait (up to `query_max_waiting`) or get 503.
    pub query_max_running: usize,
    /// Queries waiting for a turn before more are refused with 503.
    pub query_max_waiting: usize,
    /// Let projects that fetch their pages' source maps reach private, loopback and
    /// link-local addresses (an intranet install). Off: only public addresses.
    pub sourcemap_fetch_private_addresses: bool,
    /// Seconds one fetched script or map may take.
    pub sourcemap_fetch_timeout_secs: u64,
    /// Largest fetched script or map.
    pub sourcemap_fetch_max_bytes: usize,
    /// A second address serving only the OTLP routes (`/v1/traces`, `/v1/logs`), for
    /// collectors and SDKs configured by port (OTLP/HTTP's default is 4318). The OTLP
    /// routes are on `listen` too.
    pub otlp_listen: Option<SocketAddr>,
    /// Largest OTLP request body as sent.
    pub max_otlp_body_bytes: usize,
    /// Most spans or log records in one OTLP request.
    pub max_otlp_records: usize,
    /// The dashboard's address as users reach it (e.g. `https://vigil.example.com`), for
    /// the links in alert notifications; default: `http://` and the listening address.
    pub public_url: Option<String>,
    /// Seconds between two evaluations of every alert rule.
    pub alert_interval_secs: u64,
    /// Let alert webhooks reach private, loopback and link-local addresses (an intranet's
    /// chat server). Off: only public addresses.
    pub alert_webhook_private_addresses: bool,
    /// Milliseconds before a failed notification is sent again; doubles after each failure
    /// (at most an hour).
    pub alert_retry_base_ms: u64,
    /// Attempts before a notification is given up.
    pub alert_max_attempts: u32,
    /// Days of alert history (transitions, notifications) kept.
    pub alert_history_days: u32,
    /// With a PostgreSQL metadata database, seconds the lease to evaluate alerts lasts
    /// (one instance evaluates; another takes over within this once it dies).
    pub alert_lease_secs: u64,
    /// SMTP server for email notifications; none: email channels fail with a clear reason.
    pub smtp_host: Option<String>,
    /// SMTP port.
    pub smtp_port: u16,
    /// `starttls` (default), `tls` (from the first byte) or `none`.
    pub smtp_security: vigil_alerts::SmtpSecurity,
    /// SMTP login.
    pub smtp_username: Option<String>,
    /// SMTP password.
    pub smtp_password: Option<String>,
    /// The sender of notification emails.
    pub smtp_from: String,
    /// Where events are kept (`[storage]`).
    pub storage: StorageConfig,
    /// Where projects, users and settings are kept (`[meta]`).
    pub meta: MetaConfig,
    /// Where session replay and uploaded source maps are kept (`[blobs]`).
    pub blobs: BlobsConfig,
}

/// `[blobs]`: session replay and uploaded source maps, in the data folder (default) or in
/// an S3-compatible bucket (`[blobs.s3]`), which several instances share.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BlobsConfig {
    /// The bucket; none: the data folder.
    pub s3: Option<vigil_blobs::S3Config>,
}

/// `[meta]`: the metadata database: SQLite in the data folder (default), or PostgreSQL,
/// which several instances share.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetaConfig {
    /// `postgres://user:password@host:port/database`; none: `meta.db` in the data folder.
    pub url: Option<String>,
}

/// `[storage]`: the embedded store alone (default), or ClickHouse behind it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// `embedded` or `clickhouse`. With ClickHouse, the embedded store is the instance's
    /// local log: intake answers once rows are durable there, and a shipper moves what it
    /// flushes into ClickHouse, which queries read beside what is still local.
    pub backend: String,
    /// ClickHouse HTTP addresses; the first that answers is used. With a cluster, every
    /// shard's server, one each.
    pub clickhouse_urls: Vec<String>,
    /// A cluster in the servers' `remote_servers` to shard the tables over (a Distributed
    /// table over a MergeTree part on each server); none: one server holds everything.
    pub clickhouse_cluster: Option<String>,
    /// The database Vigil creates its tables in.
    pub clickhouse_database: String,
    /// ClickHouse user, when the server wants one.
    pub clickhouse_user: Option<String>,
    /// Its password.
    pub clickhouse_password: Option<String>,
    /// How often flushed segments are shipped.
    pub ship_interval_ms: u64,
    /// With ClickHouse, how long rows may stay in the local store's memory before they are
    /// flushed for shipping.
    pub ship_flush_interval_secs: u64,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            backend: "embedded".into(),
            clickhouse_urls: vec!["http://127.0.0.1:8123".into()],
            clickhouse_cluster: None,
            clickhouse_database: "vigil".into(),
            clickhouse_user: None,
            clickhouse_password: None,
            ship_interval_ms: 1000,
            ship_flush_interval_secs: 5,
        }
    }
}

impl StorageConfig {
    /// Whether events go on to ClickHouse.
    pub fn is_clickhouse(&self) -> bool {
        self.backend == "clickhouse"
    }

    /// The ClickHouse connection settings.
    pub fn clickhouse(&self) -> vigil_clickhouse::ClickHouseConfig {
        vigil_clickhouse::ClickHouseConfig {
            urls: self.clickhouse_urls.clone(),
            cluster: self.clickhouse_cluster.clone(),
            database: self.clickhouse_database.clone(),
            user: self
                .clickhouse_user
                .clone()
                .map(|u| (u, self.clickhouse_password.clone().unwrap_or_default())),
            ..vigil_clickhouse::ClickHouseConfig::default()
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        let intake = vigil_intake::IntakeConfig::default();
        let store = vigil_store::StoreConfig::default();
        let serve = vigil_api::ServeLimits::default();
        let queries = vigil_query::QueryLimits::default();
        let fetch = vigil_errors::FetchConfig::default();
        Self {
            data: PathBuf::from("data"),
            listen: "127.0.0.1:8080".parse().expect("valid address"),
            geo_country_db: None,
            geo_city_db: None,
            trust_forwarded_for: false,
            web_dir: None,
            max_body_bytes: intake.max_body_bytes,
            max_decompressed_bytes: intake.max_decompressed_bytes,
            max_events_per_batch: intake.parse.max_events,
            max_string_bytes: intake.parse.scan.max_string_bytes,
            flush_rows: store.flush_rows,
            flush_interval_secs: store.flush_interval.as_secs(),
            queue_batches: store.queue_batches,
            max_inflight_requests: intake.max_inflight_requests,
            rate_limit_events_per_second: intake.rate_limit_events_per_second,
            max_inflight_bytes: intake.max_inflight_bytes,
            body_timeout_secs: intake.body_timeout.as_secs(),
            max_unflushed_bytes: store.max_unflushed_bytes,
            max_batch_row_bytes: store.max_batch_row_bytes,
            max_connections: serve.max_connections,
            max_connections_per_ip: serve.max_connections_per_ip,
            header_read_timeout_secs: serve.header_read_timeout.as_secs(),
            query_memory_bytes: queries.memory_bytes,
            query_max_running: queries.max_running,
            query_max_waiting: queries.max_waiting,
            sourcemap_fetch_private_addresses: fetch.allow_private,
            sourcemap_fetch_timeout_secs: fetch.timeout.as_secs(),
            sourcemap_fetch_max_bytes: fetch.max_bytes,
            otlp_listen: None,
            max_otlp_body_bytes: intake.max_otlp_body_bytes,
            max_otlp_records: intake.max_otlp_records,
            public_url: None,
            alert_interval_secs: 60,
            alert_webhook_private_addresses: false,
            alert_retry_base_ms: 30_000,
            alert_max_attempts: 8,
            alert_history_days: 90,
            alert_lease_secs: 30,
            smtp_host: None,
            smtp_port: 587,
            smtp_security: vigil_alerts::SmtpSecurity::Starttls,
            smtp_username: None,
            smtp_password: None,
            smtp_from: "Vigil <vigil@localhost>".into(),
            storage: StorageConfig::default(),
            meta: MetaConfig::default(),
            blobs: BlobsConfig::default(),
        }
    }
}

impl Config {
    /// Reads a TOML file over the defaults.
    pub fn from_file(path: &Path) -> anyhow::Result<Config> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }

    /// Rejects settings that cannot work.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.max_body_bytes < 1024 || self.max_decompressed_bytes < self.max_body_bytes {
            bail!("max_body_bytes must be ≥ 1024 and max_decompressed_bytes ≥ max_body_bytes");
        }
        if self.max_events_per_batch == 0
            || self.flush_rows == 0
            || self.queue_batches == 0
            || self.max_inflight_requests == 0
            || self.max_connections == 0
            || self.max_connections_per_ip == 0
            || self.header_read_timeout_secs == 0
            || self.body_timeout_secs == 0
        {
            bail!(
                "max_events_per_batch, flush_rows, queue_batches, max_inflight_requests, max_connections, max_connections_per_ip, header_read_timeout_secs and body_timeout_secs must be positive"
            );
        }
        if self.max_otlp_body_bytes < 1024
            || self.max_otlp_body_bytes > self.max_decompressed_bytes
            || self.max_otlp_records == 0
        {
            bail!(
                "max_otlp_body_bytes must be between 1024 and max_decompressed_bytes, and max_otlp_records positive"
            );
        }
        if self.max_inflight_bytes < 2 * self.max_decompressed_bytes {
            bail!("max_inflight_bytes must be at least twice max_decompressed_bytes");
        }
        if self.max_batch_row_bytes < 1024 * 1024
            || self.max_unflushed_bytes < self.max_batch_row_bytes
        {
            bail!(
                "max_batch_row_bytes must be ≥ 1 MiB and max_unflushed_bytes ≥ max_batch_row_bytes"
            );
        }
        if self.alert_interval_secs == 0 || self.alert_max_attempts == 0 {
            bail!("alert_interval_secs and alert_max_attempts must be positive");
        }
        if self.alert_lease_secs < 3 {
            bail!("alert_lease_secs must be at least 3");
        }
        if let Some(url) = &self.public_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            bail!("public_url must start with http:// or https://");
        }
        if let Some(smtp) = self.smtp() {
            smtp.check().map_err(|e| anyhow::anyhow!(e))?;
        }
        match self.storage.backend.as_str() {
            "embedded" => {}
            "clickhouse" => {
                if self.storage.clickhouse_urls.is_empty()
                    || self
                        .storage
                        .clickhouse_urls
                        .iter()
                        .any(|u| !(u.starts_with("http://") || u.starts_with("https://")))
                {
                    bail!(
                        "[storage] clickhouse_urls must be one or more http:// or https:// addresses"
                    );
                }
                if self.storage.clickhouse_database.is_empty()
                    || !self
                        .storage
                        .clickhouse_database
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_')
                {
                    bail!("[storage] clickhouse_database must be letters, digits and _");
                }
                if let Some(cluster) = &self.storage.clickhouse_cluster
                    && (cluster.is_empty()
                        || !cluster
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b)))
                {
                    bail!("[storage] clickhouse_cluster must be letters, digits, _, - and .");
                }
                if self.storage.ship_interval_ms == 0 || self.storage.ship_flush_interval_secs == 0
                {
                    bail!(
                        "[storage] ship_interval_ms and ship_flush_interval_secs must be positive"
                    );
                }
            }
            other => bail!("[storage] backend {other:?}: use embedded or clickhouse"),
        }
        if let Some(s3) = &self.blobs.s3 {
            s3.validate()
                .map_err(|e| anyhow::anyhow!("[blobs.s3]: {e}"))?;
        }
        if let Some(url) = &self.meta.url
            && !(url.starts_with("postgres://") || url.starts_with("postgresql://"))
        {
            bail!("[meta] url must be a postgres:// address");
        }
        self.query_limits()
            .validate()
            .map_err(|e| anyhow::anyhow!(e))?;
        for db in [&self.geo_country_db, &self.geo_city_db]
            .into_iter()
            .flatten()
        {
            if !db.is_file() {
                bail!("geo database {} does not exist", db.display());
            }
        }
        Ok(())
    }

    /// The store's settings.
    pub fn store(&self) -> vigil_store::StoreConfig {
        let clickhouse = self.storage.is_clickhouse();
        vigil_store::StoreConfig {
            flush_rows: self.flush_rows,
            // Shipped rows leave the local store: flush them soon, and never compact what
            // the shipper may be inserting (a merged segment would ship its rows again).
            flush_interval: std::time::Duration::from_secs(if clickhouse {
                self.storage.ship_flush_interval_secs
            } else {
                self.flush_interval_secs
            }),
            compact_min_files: if clickhouse {
                usize::MAX
            } else {
                vigil_store::StoreConfig::default().compact_min_files
            },
            queue_batches: self.queue_batches,
            max_unflushed_bytes: self.max_unflushed_bytes,
            max_batch_row_bytes: self.max_batch_row_bytes,
            ..vigil_store::StoreConfig::default()
        }
    }

    /// The query engine's limits.
    pub fn query_limits(&self) -> vigil_query::QueryLimits {
        vigil_query::QueryLimits {
            memory_bytes: self.query_memory_bytes,
            max_running: self.query_max_running,
            max_waiting: self.query_max_waiting,
            ..vigil_query::QueryLimits::default()
        }
    }

    /// The server's connection limits.
    pub fn serve_limits(&self) -> vigil_api::ServeLimits {
        vigil_api::ServeLimits {
            max_connections: self.max_connections,
            max_connections_per_ip: self.max_connections_per_ip,
            header_read_timeout: std::time::Duration::from_secs(self.header_read_timeout_secs),
        }
    }

    /// How pages' own source maps are fetched.
    pub fn sourcemap_fetch(&self) -> vigil_errors::FetchConfig {
        vigil_errors::FetchConfig {
            allow_private: self.sourcemap_fetch_private_addresses,
            timeout: std::time::Duration::from_secs(self.sourcemap_fetch_timeout_secs.max(1)),
            max_bytes: self.sourcemap_fetch_max_bytes,
            ..vigil_errors::FetchConfig::default()
        }
    }

    /// The SMTP server, if one is configured.
    pub fn smtp(&self) -> Option<vigil_alerts::SmtpConfig> {
        let host = self.smtp_host.clone()?;
        Some(vigil_alerts::SmtpConfig {
            host,
            port: self.smtp_port,
            security: self.smtp_security,
            username: self.smtp_username.clone(),
            password: self.smtp_password.clone(),
            from: self.smtp_from.clone(),
            timeout: std::time::Duration::from_secs(10),
        })
    }

    /// How alert notifications are delivered.
    pub fn alert_delivery(&self) -> vigil_alerts::DeliveryConfig {
        vigil_alerts::DeliveryConfig {
            allow_private: self.alert_webhook_private_addresses,
            retry_base: std::time::Duration::from_millis(self.alert_retry_base_ms),
            max_attempts: self.alert_max_attempts,
            smtp: self.smtp(),
            ..vigil_alerts::DeliveryConfig::default()
        }
    }

    /// Where notifications' links point: `public_url`, else the listening address.
    pub fn public_url(&self, bound: SocketAddr) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{bound}"))
            .trim_end_matches('/')
            .to_owned()
    }

    /// Intake's settings.
    pub fn intake(&self) -> vigil_intake::IntakeConfig {
        let mut c = vigil_intake::IntakeConfig {
            max_body_bytes: self.max_body_bytes,
            max_decompressed_bytes: self.max_decompressed_bytes,
            trust_forwarded_for: self.trust_forwarded_for,
            max_inflight_requests: self.max_inflight_requests,
            rate_limit_events_per_second: self.rate_limit_events_per_second,
            max_inflight_bytes: self.max_inflight_bytes,
            body_timeout: std::time::Duration::from_secs(self.body_timeout_secs),
            max_otlp_body_bytes: self.max_otlp_body_bytes,
            max_otlp_records: self.max_otlp_records,
            ..vigil_intake::IntakeConfig::default()
        };
        c.parse.max_events = self.max_events_per_batch;
        c.parse.scan.max_string_bytes = self.max_string_bytes;
        c
    }
}
