//! Fetching a page's own source maps (`//# sourceMappingURL=`), for projects that turn it on
//! and upload nothing. Everything a URL from a visitor's stack could make the server do is
//! bounded: only the project's allowed origins (the page's own when any origin is allowed),
//! redirects followed by hand and checked like the first URL, no private, loopback or
//! link-local address unless the server is configured for it (checked on the addresses the
//! connection really uses, so a DNS answer cannot change between check and connect), a
//! byte cap and a timeout per file, one fetch at a time from a queue of 64, results kept in
//! a byte-bounded cache. Intake never waits: the first errors of a script say the map is
//! being fetched, and later ones are mapped.

use crate::symbolicate::{LoadedMap, MapCache, load_map};
use std::collections::HashMap;
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use vigil_model::ProjectId;
use vigil_outbound::ureq;

/// How fetching is bounded.
#[derive(Debug, Clone, Copy)]
pub struct FetchConfig {
    /// Whether private, loopback and link-local addresses may be fetched (an intranet
    /// install); off by default.
    pub allow_private: bool,
    /// The longest a file's fetch may take, redirects included.
    pub timeout: Duration,
    /// The largest script or map fetched.
    pub max_bytes: usize,
    /// Bytes of fetched, parsed maps kept.
    pub cache_bytes: usize,
}

impl Default for FetchConfig {
    fn default() -> Self {
        Self {
            allow_private: false,
            timeout: Duration::from_secs(5),
            max_bytes: 16 << 20,
            cache_bytes: 64 << 20,
        }
    }
}

/// Where a fetch stands.
#[derive(Debug, Clone)]
enum State {
    Pending,
    Ready,
    Failed(String),
}

/// How long a fetched map is used before it is fetched again, and how long a failure is
/// remembered (a fixed deploy is picked up, a broken one is not fetched on every error).
const READY_TTL: Duration = Duration::from_secs(3600);
const FAILED_TTL: Duration = Duration::from_secs(600);
/// Scripts whose state is remembered; past it, expired and failed entries go first, and
/// new scripts wait.
const MAX_SCRIPTS: usize = 1024;
const QUEUE: usize = 64;
const MAX_REDIRECTS: usize = 3;

struct Job {
    project: ProjectId,
    script: String,
    allowed: Vec<String>,
}

type Key = (ProjectId, String);

/// The fetcher: a worker thread and what it found.
pub struct MapFetcher {
    config: FetchConfig,
    states: Arc<Mutex<HashMap<Key, (Instant, State)>>>,
    maps: Arc<Mutex<MapCache>>,
    queue: SyncSender<Job>,
}

/// What a frame gets from the fetcher.
pub(crate) enum Fetched {
    Map(Arc<LoadedMap>),
    Pending,
    Failed(String),
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// `scheme://host[:port]` of a URL, lowercase.
pub fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let host = &rest[..end];
    (!host.is_empty() && !host.contains('@'))
        .then(|| format!("{scheme}://{host}").to_ascii_lowercase())
}

fn allowed(url: &str, origins: &[String]) -> bool {
    (url.starts_with("https://") || url.starts_with("http://"))
        && origin_of(url).is_some_and(|o| {
            origins
                .iter()
                .any(|a| a.trim_end_matches('/').eq_ignore_ascii_case(&o))
        })
}

impl MapFetcher {
    /// A fetcher with its worker thread.
    pub fn start(config: FetchConfig) -> Arc<Self> {
        let (queue, jobs) = std::sync::mpsc::sync_channel::<Job>(QUEUE);
        let agent = vigil_outbound::agent(vigil_outbound::AgentOptions {
            allow_private: config.allow_private,
            timeout: config.timeout,
            user_agent: "vigil-sourcemap-fetcher",
        });
        let fetcher = Arc::new(Self {
            config,
            states: Arc::new(Mutex::new(HashMap::new())),
            maps: Arc::new(Mutex::new(MapCache::new(config.cache_bytes))),
            queue,
        });
        let (states, maps) = (Arc::clone(&fetcher.states), Arc::clone(&fetcher.maps));
        let spawned = std::thread::Builder::new()
            .name("vigil-map-fetch".into())
            .spawn(move || {
                for job in jobs {
                    let key = (job.project, job.script.clone());
                    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        fetch_map(&agent, &config, &job)
                    }))
                    .unwrap_or_else(|_| Err("the map could not be read".into()));
                    let state = match outcome {
                        Ok(map) => {
                            lock(&maps).insert(key.clone(), Ok(Arc::new(map)));
                            State::Ready
                        }
                        Err(reason) => State::Failed(reason),
                    };
                    lock(&states).insert(key, (Instant::now(), state));
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the source-map fetcher");
        }
        fetcher
    }

    /// The fetched map of a script, or where its fetch stands (starting it when needed).
    /// `origins` are the origins the script and its map may come from.
    pub(crate) fn get(&self, project: ProjectId, script: &str, origins: &[String]) -> Fetched {
        if !allowed(script, origins) {
            return Fetched::Failed(format!(
                "{} is not served from one of the project's allowed origins, so its map is not fetched",
                origin_of(script).unwrap_or_else(|| script.chars().take(100).collect())
            ));
        }
        let key = (project, script.to_owned());
        let mut states = lock(&self.states);
        match states.get(&key) {
            Some((_, State::Pending)) => return Fetched::Pending,
            Some((at, State::Failed(reason))) if at.elapsed() < FAILED_TTL => {
                return Fetched::Failed(reason.clone());
            }
            Some((at, State::Ready)) if at.elapsed() < READY_TTL => {
                if let Some(Ok(map)) = lock(&self.maps).get(&key) {
                    return Fetched::Map(map);
                }
            }
            _ => {}
        }
        if states.len() >= MAX_SCRIPTS {
            states.retain(|_, (at, s)| match s {
                State::Pending => true,
                State::Ready => at.elapsed() < READY_TTL,
                State::Failed(_) => false,
            });
            if states.len() >= MAX_SCRIPTS {
                return Fetched::Failed(
                    "too many scripts' maps are being fetched; later errors will try again".into(),
                );
            }
        }
        match self.queue.try_send(Job {
            project,
            script: script.to_owned(),
            allowed: origins.to_vec(),
        }) {
            Ok(()) => {
                states.insert(key, (Instant::now(), State::Pending));
                Fetched::Pending
            }
            Err(TrySendError::Full(_)) => Fetched::Failed(
                "too many maps are waiting to be fetched; later errors will try again".into(),
            ),
            Err(TrySendError::Disconnected(_)) => {
                Fetched::Failed("the fetcher is not running".into())
            }
        }
    }

    /// The limits in force.
    pub fn config(&self) -> FetchConfig {
        self.config
    }
}

/// GETs a URL, following at most [`MAX_REDIRECTS`] redirects by hand, each checked against
/// the allowed origins; the body is capped. Returns the final URL and the body.
fn get(
    agent: &ureq::Agent,
    config: &FetchConfig,
    url: &str,
    origins: &[String],
) -> Result<(String, Vec<u8>), String> {
    let mut url = url.to_owned();
    for _ in 0..=MAX_REDIRECTS {
        if !allowed(&url, origins) {
            return Err(format!(
                "{url} is not on one of the project's allowed origins"
            ));
        }
        let mut response = agent
            .get(&url)
            .call()
            .map_err(|e| format!("fetching {url}: {e}"))?;
        let status = response.status().as_u16();
        if (300..400).contains(&status) {
            let location = response
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| format!("{url} redirects without a location"))?;
            url = join(&url, location).ok_or_else(|| format!("{url} redirects to {location:?}"))?;
            continue;
        }
        if status != 200 {
            return Err(format!("{url} answered {status}"));
        }
        let body = response
            .body_mut()
            .with_config()
            .limit(config.max_bytes as u64)
            .read_to_vec()
            .map_err(|e| match e {
                ureq::Error::BodyExceedsLimit(_) => {
                    format!("{url} is over {} bytes", config.max_bytes)
                }
                other => format!("reading {url}: {other}"),
            })?;
        return Ok((url, body));
    }
    Err(format!("more than {MAX_REDIRECTS} redirects from {url}"))
}

/// A reference resolved against the URL it was found in.
fn join(base: &str, reference: &str) -> Option<String> {
    if reference.starts_with("https://") || reference.starts_with("http://") {
        return Some(reference.to_owned());
    }
    let origin = origin_of(base)?;
    if let Some(rest) = reference.strip_prefix("//") {
        let scheme = base.split_once("://")?.0;
        return Some(format!("{scheme}://{rest}"));
    }
    if reference.starts_with('/') {
        return Some(format!("{origin}{reference}"));
    }
    let path = base.split(['?', '#']).next()?;
    let dir = &path[..path.rfind('/')? + 1];
    Some(format!("{dir}{reference}"))
}

fn fetch_map(agent: &ureq::Agent, config: &FetchConfig, job: &Job) -> Result<LoadedMap, String> {
    let (script_url, script) = get(agent, config, &job.script, &job.allowed)?;
    let script =
        String::from_utf8(script).map_err(|_| format!("{script_url} is not UTF-8 text"))?;
    let mut tail_start = script.len().saturating_sub(4096);
    while !script.is_char_boundary(tail_start) {
        tail_start -= 1;
    }
    let reference = script[tail_start..]
        .lines()
        .rev()
        .find_map(|l| {
            let l = l.trim();
            l.strip_prefix("//# sourceMappingURL=")
                .or_else(|| l.strip_prefix("//@ sourceMappingURL="))
        })
        .map(str::trim)
        .ok_or_else(|| format!("{script_url} names no source map (no //# sourceMappingURL=)"))?
        .to_owned();
    let map = if let Some(data) = reference.strip_prefix("data:") {
        let (_, encoded) = data
            .split_once("base64,")
            .ok_or("an inline map that is not base64")?;
        if encoded.len() > config.max_bytes * 4 / 3 + 4 {
            return Err(format!(
                "the inline map of {script_url} is over {} bytes",
                config.max_bytes
            ));
        }
        decode_base64(encoded)
            .ok_or_else(|| format!("the inline map of {script_url} is not valid base64"))?
    } else {
        let map_url =
            join(&script_url, &reference).ok_or_else(|| format!("cannot resolve {reference:?}"))?;
        get(agent, config, &map_url, &job.allowed)?.1
    };
    load_map(&map, Some(script))
        .map_err(|e| format!("the source map of {script_url} cannot be read: {e}"))
}

fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        } as u32)
    };
    let bytes: Vec<u8> = text
        .bytes()
        .filter(|b| !b.is_ascii_whitespace() && *b != b'=')
        .collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= value(*c)? << (18 - 6 * i);
        }
        out.push((n >> 16) as u8);
        if chunk.len() > 2 {
            out.push((n >> 8) as u8);
        }
        if chunk.len() > 3 {
            out.push(n as u8);
        }
        if chunk.len() == 1 {
            return None;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_and_references() {
        let origins = vec!["https://shop.example.com".to_owned()];
        assert!(allowed("https://shop.example.com/app.js?v=1", &origins));
        assert!(allowed("https://SHOP.example.com/app.js", &origins));
        assert!(!allowed(
            "https://shop.example.com.evil.test/app.js",
            &origins
        ));
        assert!(!allowed("https://user@shop.example.com/app.js", &origins));
        assert!(!allowed("http://shop.example.com/app.js", &origins));
        assert!(!allowed("file:///etc/passwd", &origins));
        assert_eq!(
            join("https://a.test/js/app.js?v=2", "app.js.map").as_deref(),
            Some("https://a.test/js/app.js.map")
        );
        assert_eq!(
            join("https://a.test/js/app.js", "/maps/app.map").as_deref(),
            Some("https://a.test/maps/app.map")
        );
        assert_eq!(
            join("https://a.test/js/app.js", "//cdn.test/x.map").as_deref(),
            Some("https://cdn.test/x.map")
        );
        assert_eq!(
            decode_base64("eyJ2IjozfQ==").as_deref(),
            Some(&b"{\"v\":3}"[..])
        );
        assert_eq!(decode_base64("e!"), None);
    }
}
