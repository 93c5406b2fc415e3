//! Intake: `POST /api/v1/ingest`. Authenticates the public key and the browser origin,
//! enforces the body, decompression and batch limits, parses the batch into typed events,
//! runs enrichment, and answers 202 only once the store has made the batch durable.
//! Intake never queries event data.

mod error;
mod lookup;
mod metrics;
mod noise;
mod otlp;
mod replay;

pub use error::IntakeError;
pub use metrics::IntakeMetrics;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Deserialize;
use std::collections::HashMap;
use std::io::Read;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use vigil_enrich::{ClientInfo, Enricher};
use vigil_errors::{ErrorProcessor, PageContext};
use vigil_meta::{Meta, Project};
use vigil_protocol::{ParseLimits, parse_batch};
use vigil_store::{Store, StoreError};

/// The headers intake reads by name, made once: a name given as text is parsed and
/// lowercased for every lookup (about 450 instructions each, for every request).
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
pub(crate) const X_VIGIL_KEY: HeaderName = HeaderName::from_static("x-vigil-key");

/// Limits and trust settings of intake.
#[derive(Debug, Clone)]
pub struct IntakeConfig {
    /// Largest body as sent (compressed or not).
    pub max_body_bytes: usize,
    /// Largest body after gzip decompression.
    pub max_decompressed_bytes: usize,
    /// Parse limits (events per batch, nesting, string length).
    pub parse: ParseLimits,
    /// Take the client IP from `X-Forwarded-For` (only behind a trusted proxy).
    pub trust_forwarded_for: bool,
    /// Requests whose bodies may be in memory at once; beyond, intake answers 503. With the
    /// body limit this bounds intake's memory.
    pub max_inflight_requests: usize,
    /// Events per second one project may send (0: no limit); beyond, intake answers 429.
    pub rate_limit_events_per_second: u32,
    /// Requests that carry their key only inside the body (so are unauthenticated until it
    /// is read) may hold at most this many of the in-flight slots: a flood of stalled
    /// keyless bodies cannot take the slots that keyed requests need.
    pub max_inflight_keyless: usize,
    /// Bytes that bodies being read, decompressed and parsed may hold at once; beyond,
    /// intake answers 503. Bounds intake's memory whatever the mix of requests.
    pub max_inflight_bytes: usize,
    /// How long a client may take to send its body.
    pub body_timeout: Duration,
    /// Largest OTLP body as sent (an SDK's batch of 512 spans is well under it).
    pub max_otlp_body_bytes: usize,
    /// Most spans or log records in one OTLP request.
    pub max_otlp_records: usize,
}

impl Default for IntakeConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 1024 * 1024,
            max_decompressed_bytes: 8 * 1024 * 1024,
            parse: ParseLimits::default(),
            trust_forwarded_for: false,
            max_inflight_requests: 512,
            rate_limit_events_per_second: 0,
            max_inflight_keyless: 64,
            max_inflight_bytes: 256 * 1024 * 1024,
            body_timeout: Duration::from_secs(10),
            max_otlp_body_bytes: 4 * 1024 * 1024,
            max_otlp_records: 10_000,
        }
    }
}

/// The intake service.
pub struct Intake {
    store: Arc<Store>,
    meta: Arc<Meta>,
    enricher: Enricher,
    errors: Arc<ErrorProcessor>,
    noise: Arc<noise::NoiseFilter>,
    config: IntakeConfig,
    /// Counters for `/metrics`.
    pub metrics: IntakeMetrics,
    /// Shared, not cloned, per request: a project's name, key and origins are owned text.
    keys: lookup::CachedLookup<Arc<Project>>,
    /// Ingest tokens of OTLP requests, with their project (shared, as `keys`) and scope.
    tokens: lookup::CachedLookup<(Arc<Project>, vigil_meta::Scope)>,
    inflight: tokio::sync::Semaphore,
    inflight_keyless: tokio::sync::Semaphore,
    /// In KiB, so that a u32 count of permits covers any sensible budget.
    memory: tokio::sync::Semaphore,
    buckets: Mutex<HashMap<u32, TokenBucket>>,
    /// Where replay segments go; without it `/api/v1/replay` answers 503.
    replay: Option<Arc<vigil_replay::ReplayStore>>,
}

/// Whether a string can be a public key at all (`pk_` and up to 64 letters, digits, `_`
/// or `-`). Anything else is refused before any lookup, so the key cache only ever holds
/// short keys.
pub fn is_plausible_key(key: &str) -> bool {
    key.len() <= 67
        && key.strip_prefix("pk_").is_some_and(|rest| {
            !rest.is_empty()
                && rest
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        })
}

fn kib(bytes: usize) -> u32 {
    u32::try_from(bytes.div_ceil(1024)).unwrap_or(u32::MAX)
}

/// Deflate cannot expand data more than about 1032 times, so a gzip body of n bytes needs
/// at most this much room once inflated.
const GZIP_MAX_RATIO: usize = 1032;

/// A token bucket per project: one second of burst at the configured rate.
struct TokenBucket {
    tokens: f64,
    updated: Instant,
}

/// How long a key or token lookup is trusted; origin and token changes take effect within
/// this time.
const KEY_CACHE_TTL: Duration = Duration::from_secs(5);

#[derive(Deserialize)]
struct IngestParams {
    key: Option<String>,
}

impl Intake {
    /// A new intake over a store and the metadata database.
    pub fn new(
        store: Arc<Store>,
        meta: Arc<Meta>,
        enricher: Enricher,
        config: IntakeConfig,
    ) -> Self {
        let inflight = tokio::sync::Semaphore::new(config.max_inflight_requests);
        let inflight_keyless = tokio::sync::Semaphore::new(config.max_inflight_keyless);
        let memory = tokio::sync::Semaphore::new(kib(config.max_inflight_bytes) as usize);
        Self {
            store,
            meta: Arc::clone(&meta),
            enricher,
            errors: Arc::new(ErrorProcessor::default()),
            noise: Arc::new(noise::NoiseFilter::new(Arc::clone(&meta))),
            config,
            metrics: IntakeMetrics::default(),
            keys: lookup::CachedLookup::new("public key", KEY_CACHE_TTL),
            tokens: lookup::CachedLookup::new("ingest token", KEY_CACHE_TTL),
            inflight,
            inflight_keyless,
            memory,
            buckets: Mutex::new(HashMap::new()),
            replay: None,
        }
    }

    /// Stores session replay segments here (`POST /api/v1/replay`).
    pub fn with_replay(mut self, replay: Arc<vigil_replay::ReplayStore>) -> Self {
        self.replay = Some(replay);
        self
    }

    /// Analyses errors with this processor (symbolication with the data folder's source
    /// maps); without it errors are grouped by their frames as received.
    pub fn with_error_processor(mut self, errors: Arc<ErrorProcessor>) -> Self {
        self.errors = errors;
        self
    }

    /// Writes the gathered counts of errors the noise filters dropped to meta.db (they
    /// are written every 10 s anyway; call this before reading them, and at shutdown).
    pub fn flush_filtered_counts(&self) {
        self.noise.flush();
    }

    /// The routes intake serves.
    pub fn router(self: Arc<Self>) -> Router {
        Router::new()
            .route("/api/v1/ingest", post(ingest).options(preflight))
            .route("/api/v1/replay", post(replay::replay).options(preflight))
            .with_state(self)
    }

    /// The project of a public key: from a 5 s cache, else from meta.db on the blocking
    /// pool, so a lookup never holds an async worker.
    async fn project(&self, key: &str) -> Result<Arc<Project>, IntakeError> {
        if !is_plausible_key(key) {
            return Err(IntakeError::InvalidKey);
        }
        let meta = self.meta.clone();
        self.keys
            .get(key, move |k| {
                meta.project_by_key(&k).map(|p| p.map(Arc::new))
            })
            .await?
            .ok_or(IntakeError::InvalidKey)
    }

    /// Takes `events` tokens from the project's bucket, or says it is over its rate.
    fn admit(&self, project: u32, events: usize) -> Result<(), IntakeError> {
        let rate = f64::from(self.config.rate_limit_events_per_second);
        if rate == 0.0 {
            return Ok(());
        }
        let mut buckets = lock(&self.buckets);
        let now = Instant::now();
        let bucket = buckets.entry(project).or_insert(TokenBucket {
            tokens: rate,
            updated: now,
        });
        bucket.tokens =
            (bucket.tokens + now.duration_since(bucket.updated).as_secs_f64() * rate).min(rate);
        bucket.updated = now;
        if bucket.tokens < events as f64 {
            return Err(IntakeError::RateLimited);
        }
        bucket.tokens -= events as f64;
        Ok(())
    }

    fn client_ip(&self, headers: &HeaderMap, peer: SocketAddr) -> IpAddr {
        if self.config.trust_forwarded_for
            && let Some(ip) = headers
                .get(X_FORWARDED_FOR)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .and_then(|v| v.trim().parse().ok())
        {
            return ip;
        }
        peer.ip()
    }

    fn decode_body<'a>(
        &'a self,
        headers: &HeaderMap,
        body: Bytes,
        memory: &mut Vec<tokio::sync::SemaphorePermit<'a>>,
    ) -> Result<Bytes, IntakeError> {
        match headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
        {
            None => {}
            Some(ct) => {
                let mime = ct
                    .split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase();
                if mime != "text/plain" && mime != "application/json" {
                    return Err(IntakeError::UnsupportedMediaType(mime));
                }
            }
        }
        self.inflate(headers, body, memory)
    }

    /// The body as sent, or inflated when it is gzip: within the decompression limit, and
    /// only with room for its inflated size in intake's memory budget.
    fn inflate<'a>(
        &'a self,
        headers: &HeaderMap,
        body: Bytes,
        memory: &mut Vec<tokio::sync::SemaphorePermit<'a>>,
    ) -> Result<Bytes, IntakeError> {
        let encoding = headers
            .get(header::CONTENT_ENCODING)
            .map(|v| v.to_str().unwrap_or("?").trim().to_ascii_lowercase());
        match encoding.as_deref() {
            None | Some("") | Some("identity") => Ok(body),
            Some("gzip") => {
                let limit = self.config.max_decompressed_bytes;
                let room = limit.min(body.len().saturating_mul(GZIP_MAX_RATIO)) + 1024;
                memory.push(
                    self.memory
                        .try_acquire_many(kib(room))
                        .map_err(|_| IntakeError::Overloaded)?,
                );
                Ok(Bytes::from(gunzip_capped(&body, limit)?))
            }
            Some(other) => Err(IntakeError::UnsupportedEncoding(other.to_owned())),
        }
    }

    /// Reads a body of at most `max_body` bytes within the body timeout, holding room for
    /// it in intake's memory budget (given back when the permits are dropped).
    async fn read_body(
        &self,
        headers: &HeaderMap,
        body: Body,
        max_body: usize,
    ) -> Result<(Bytes, Vec<tokio::sync::SemaphorePermit<'_>>), IntakeError> {
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        // An over-long declared length is refused by the read below, once the limit is
        // passed: answering before reading would break the pipe under a client still
        // sending, which then never sees the 413.
        let memory = vec![
            self.memory
                .try_acquire_many(kib(declared.unwrap_or(max_body).min(max_body)))
                .map_err(|_| IntakeError::Overloaded)?,
        ];
        let timeout = self.config.body_timeout;
        let raw = tokio::time::timeout(timeout, axum::body::to_bytes(body, max_body))
            .await
            .map_err(|_| IntakeError::BodyTimeout(timeout.as_secs()))?
            .map_err(|_| IntakeError::BodyTooLarge(max_body))?;
        Ok((raw, memory))
    }

    async fn handle(
        &self,
        key: Option<String>,
        headers: &HeaderMap,
        peer: SocketAddr,
        body: Body,
    ) -> Result<usize, IntakeError> {
        let header_key = headers
            .get(X_VIGIL_KEY)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let early_key = key.or(header_key);
        // Authenticate before taking a slot or reading the body when the key is outside
        // it, so requests with a bad key cost nothing that others need.
        let mut project = match early_key.as_deref() {
            Some(k) => Some(self.project(k).await?),
            None => None,
        };
        if let Some(p) = &project {
            check_origin(p, headers)?;
        }
        let _slot = if project.is_some() {
            self.inflight.try_acquire()
        } else {
            self.inflight_keyless.try_acquire()
        }
        .map_err(|_| IntakeError::Overloaded)?;
        let (raw, mut memory) = self
            .read_body(headers, body, self.config.max_body_bytes)
            .await?;
        let decoded = self.decode_body(headers, raw, &mut memory)?;
        let mut batch = parse_batch(&decoded, &self.config.parse)?;
        drop(decoded);
        let body_key = batch.key.take();
        let project = match (project.take(), body_key) {
            (Some(p), Some(k)) if k != p.public_key => return Err(IntakeError::InvalidKey),
            (Some(p), _) => p,
            (None, Some(k)) => {
                let p = self.project(&k).await?;
                check_origin(&p, headers)?;
                p
            }
            (None, None) => return Err(IntakeError::MissingKey),
        };
        let client = ClientInfo {
            ip: Some(self.client_ip(headers, peer)),
            user_agent: headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok()),
        };
        let now = now_ms();
        let earliest = now.saturating_sub(i64::from(project.retention_days) * 86_400_000);
        vigil_protocol::check_time_window(&batch, earliest, now + MAX_CLOCK_SKEW_MS)?;
        let events = batch.events.len();
        self.admit(project.id, events)?;
        // Noise filters, symbolication and grouping read meta.db and files and parse
        // maps: the blocking pool's work, not an async worker's.
        let (batch, errors) = if ErrorProcessor::has_errors(&batch.events) {
            let processor = Arc::clone(&self.errors);
            let trusted: Vec<String> = project
                .allowed_origins
                .iter()
                .filter_map(|o| vigil_model::host_of(o))
                .collect();
            let project_id = project.id;
            let origins = project.allowed_origins.clone();
            let noise = Arc::clone(&self.noise);
            tokio::task::spawn_blocking(move || {
                let mut batch = batch;
                noise.drop_noise(project_id, &mut batch, now);
                let page_url = batch.context.page_url.as_deref().unwrap_or_default();
                // Fetched maps come from the allowed origins, or the page's own when any
                // origin may send.
                let fetch_origins: Option<Vec<String>> =
                    noise.settings(project_id).fetch_sourcemaps.then(|| {
                        if origins.iter().any(|o| o == "*") {
                            vigil_errors::origin_of(page_url).into_iter().collect()
                        } else {
                            origins.clone()
                        }
                    });
                let page = PageContext {
                    release: batch.context.release.as_deref().unwrap_or_default(),
                    page_url,
                    trusted_hosts: &trusted,
                    fetch_origins: fetch_origins.as_deref(),
                };
                let errors = processor.analyse_batch(project_id, &page, &batch.events);
                (batch, errors)
            })
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "error analysis failed");
                IntakeError::Unavailable
            })?
        } else {
            (batch, Vec::new())
        };
        if batch.events.is_empty() {
            // Every event was noise: counted, nothing to store.
            return Ok(events);
        }
        let mut enriched = self.enricher.enrich(project.id, batch, &client);
        enriched.errors = errors;
        // Rows are built here, on the request's task, so the store's single writer thread
        // only logs and links them.
        let appended = match enriched.to_rows(self.store.row_limit()) {
            Ok(rows) => self.store.append(rows).await,
            Err(e) => Err(self.store.refuse(e)),
        };
        appended.map_err(store_error)?;
        Ok(events)
    }
}

/// What a failed append means for the sender.
fn store_error(e: StoreError) -> IntakeError {
    match e {
        StoreError::Overloaded => IntakeError::Overloaded,
        StoreError::DiskFull => IntakeError::StorageFull,
        StoreError::BatchTooLarge { .. } => IntakeError::BatchTooLarge(e.to_string()),
        StoreError::Unstorable(why) => IntakeError::Unstorable(why),
        other => {
            tracing::error!(error = %other, "store append failed");
            IntakeError::Unavailable
        }
    }
}

/// Inflates a gzip body (one or more members), refusing output past `limit` bytes; the
/// work and memory are bounded by the limit whatever the input.
pub fn gunzip_capped(body: &[u8], limit: usize) -> Result<Vec<u8>, IntakeError> {
    let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(limit));
    flate2::read::MultiGzDecoder::new(body)
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| IntakeError::BadGzip(e.to_string()))?;
    if out.len() > limit {
        return Err(IntakeError::DecompressedTooLarge(limit));
    }
    Ok(out)
}

/// How far ahead of the collector's clock an event may be stamped (clients' clocks drift).
const MAX_CLOCK_SKEW_MS: i64 = 86_400_000;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn check_origin(project: &Project, headers: &HeaderMap) -> Result<(), IntakeError> {
    match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        Some(origin) if !project.allows_origin(origin) => {
            Err(IntakeError::OriginNotAllowed(origin.to_owned()))
        }
        _ => Ok(()),
    }
}

fn cors(headers: &HeaderMap, response: &mut Response, allowed: bool) {
    if let Some(origin) = headers.get(header::ORIGIN)
        && allowed
    {
        let h = response.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        h.insert(header::VARY, HeaderValue::from_static("Origin"));
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("Retry-After"),
        );
    }
}

/// The answer to an accepted batch, `{"accepted":N}`: how many of its events were kept.
/// Written as it is rather than serialised, for every request.
fn accepted_response(events: usize) -> Response {
    (
        StatusCode::ACCEPTED,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        format!("{{\"accepted\":{events}}}"),
    )
        .into_response()
}

/// The `key` parameter of an intake URL's query, read as `Query<IngestParams>` reads it.
/// A query of plain `name=value` pairs (no `%` escape, no `+`) is split here: axum's
/// `Query` deserialises through serde for every request, about 2,500 instructions for a
/// query of one key (`make bench-instructions`). Any other query, or a repeated `key`
/// (which `Query` refuses), goes through `Query` itself, so what is accepted and how a
/// query is refused stay the same.
fn query_key(
    uri: &axum::http::Uri,
) -> Result<Option<String>, axum::extract::rejection::QueryRejection> {
    let query = uri.query().unwrap_or("");
    if !query.bytes().any(|b| b == b'%' || b == b'+') {
        let mut key = None;
        let mut repeated = false;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            if name == "key" {
                repeated |= key.replace(value).is_some();
            }
        }
        if !repeated {
            return Ok(key.map(str::to_owned));
        }
    }
    Query::<IngestParams>::try_from_uri(uri).map(|Query(params)| params.key)
}

async fn ingest(
    State(intake): State<Arc<Intake>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: axum::extract::Request,
) -> Response {
    // The request taken apart rather than through the `HeaderMap` extractor, which clones
    // every header of every request.
    let (parts, body) = request.into_parts();
    let key = match query_key(&parts.uri) {
        Ok(key) => key,
        Err(refused) => return refused.into_response(),
    };
    let headers = parts.headers;
    let result = intake.handle(key, &headers, peer, body).await;
    let allowed = !matches!(result, Err(IntakeError::OriginNotAllowed(_)));
    let mut response = match result {
        Ok(events) => {
            intake.metrics.accepted(events);
            accepted_response(events)
        }
        Err(e) => {
            intake.metrics.rejected(e.code());
            let e_unread = e.leaves_body_unread();
            let mut response = e.into_response();
            if e_unread {
                error::close_connection(&mut response);
            }
            response
        }
    };
    cors(&headers, &mut response, allowed);
    response
}

async fn preflight(
    State(intake): State<Arc<Intake>>,
    Query(params): Query<IngestParams>,
    headers: HeaderMap,
) -> Response {
    // A preflight carries no body and no custom header values; with the key in the query
    // string the origin is checked now, otherwise on the real request.
    let allowed = match params.key.as_deref() {
        Some(k) => intake
            .project(k)
            .await
            .is_ok_and(|p| check_origin(&p, &headers).is_ok()),
        None => true,
    };
    let mut response = if allowed {
        StatusCode::NO_CONTENT.into_response()
    } else {
        IntakeError::OriginNotAllowed(String::new()).into_response()
    };
    if allowed {
        allow_post(&mut response);
    }
    cors(&headers, &mut response, allowed);
    response
}

/// What a preflight of an intake route is allowed: a POST with the content headers and the
/// key header, remembered for a day.
pub(crate) fn allow_post(response: &mut Response) {
    let h = response.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("POST, OPTIONS"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("content-type, content-encoding, x-vigil-key"),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("86400"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What axum's `Query` makes of a query: the key, or the status it refuses with.
    fn by_query(uri: &axum::http::Uri) -> Result<Option<String>, StatusCode> {
        Query::<IngestParams>::try_from_uri(uri)
            .map(|Query(p)| p.key)
            .map_err(|e| e.into_response().status())
    }

    #[test]
    fn the_key_is_read_from_a_query_as_axums_query_reads_it() {
        let queries = [
            "",
            "key=pk_abc",
            "key=pk_abc&other=1",
            "other=1&key=pk_abc",
            "key=",
            "key",
            "&&key=pk_abc&&",
            "key=a=b",
            "key=pk_a&key=pk_b",
            "key=pk_a&key=pk_a",
            "k%65y=pk_abc",
            "key=pk%5Fabc",
            "key=pk+abc",
            "key=%zz",
            "key=%FF%FE",
            "key=pk_\u{e9}",
            "kEy=pk_abc",
            "=pk_abc",
            "key=pk_abc&key",
            "other",
        ];
        for query in queries {
            let uri: axum::http::Uri = if query.is_empty() {
                "/api/v1/ingest".parse().unwrap()
            } else {
                // A URI is ASCII: other characters go as their UTF-8 bytes, escaped.
                let escaped: String = query
                    .bytes()
                    .map(|b| {
                        if b.is_ascii() {
                            char::from(b).to_string()
                        } else {
                            format!("%{b:02X}")
                        }
                    })
                    .collect();
                format!("/api/v1/ingest?{escaped}").parse().unwrap()
            };
            let ours = query_key(&uri).map_err(|r| r.into_response().status());
            assert_eq!(ours, by_query(&uri), "query {query:?}");
        }
    }
}
