//! Lookups in meta.db for every request (public keys, ingest tokens), behind a short-lived,
//! bounded cache: a lookup never holds an async worker (it runs on the blocking pool), and
//! whatever names a sender invents, the cache holds at most `MAX_ENTRIES`.

use crate::{IntakeError, lock};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Past this many entries the cache starts over.
const MAX_ENTRIES: usize = 10_000;

/// Answers of one kind of lookup (found or not) by the string they were asked for.
pub(crate) struct CachedLookup<V> {
    entries: Mutex<HashMap<String, (Instant, Option<V>)>>,
    /// How long an answer is trusted; changes in meta.db take effect within it.
    ttl: Duration,
    /// What is looked up, for the log when meta.db fails.
    what: &'static str,
}

impl<V: Clone + Send + 'static> CachedLookup<V> {
    pub(crate) fn new(what: &'static str, ttl: Duration) -> Self {
        CachedLookup {
            entries: Mutex::new(HashMap::new()),
            ttl,
            what,
        }
    }

    /// The cached answer for `key`, else `load(key)` on the blocking pool, cached.
    pub(crate) async fn get<E: std::fmt::Display>(
        &self,
        key: &str,
        load: impl FnOnce(String) -> Result<Option<V>, E> + Send + 'static,
    ) -> Result<Option<V>, IntakeError> {
        if let Some((at, found)) = lock(&self.entries).get(key)
            && at.elapsed() < self.ttl
        {
            return Ok(found.clone());
        }
        let owned = key.to_owned();
        let found = tokio::task::spawn_blocking(move || load(owned).map_err(|e| e.to_string()))
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r)
            .map_err(|e| {
                tracing::error!(error = %e, what = self.what, "lookup failed");
                IntakeError::Unavailable
            })?;
        let mut entries = lock(&self.entries);
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(key.to_owned(), (Instant::now(), found.clone()));
        Ok(found)
    }
}
