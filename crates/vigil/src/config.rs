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
}

impl Default for Config {
    fn default() -> Self {
        let intake = vigil_intake::IntakeConfig::default();
        let store = vigil_store::StoreConfig::default();
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
        {
            bail!(
                "max_events_per_batch, flush_rows, queue_batches and max_inflight_requests must be positive"
            );
        }
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
        vigil_store::StoreConfig {
            flush_rows: self.flush_rows,
            flush_interval: std::time::Duration::from_secs(self.flush_interval_secs),
            queue_batches: self.queue_batches,
            ..vigil_store::StoreConfig::default()
        }
    }

    /// Intake's settings.
    pub fn intake(&self) -> vigil_intake::IntakeConfig {
        let mut c = vigil_intake::IntakeConfig {
            max_body_bytes: self.max_body_bytes,
            max_decompressed_bytes: self.max_decompressed_bytes,
            trust_forwarded_for: self.trust_forwarded_for,
            max_inflight_requests: self.max_inflight_requests,
            rate_limit_events_per_second: self.rate_limit_events_per_second,
            ..vigil_intake::IntakeConfig::default()
        };
        c.parse.max_events = self.max_events_per_batch;
        c.parse.scan.max_string_bytes = self.max_string_bytes;
        c
    }
}
