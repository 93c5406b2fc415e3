//! Connections to PostgreSQL: an idle stack reused, a new connection when all are busy
//! (as for SQLite's readers), so no read queues behind a write.
//!
//! The client is `postgres`' blocking one: every metadata call already runs on tokio's
//! blocking pool (`with_meta` in the API), never on an async worker.

use crate::MetaError;
use postgres::{Client, NoTls};
use std::ops::{Deref, DerefMut};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// Idle connections kept for reuse.
const IDLE: usize = 8;

/// How long a connection attempt may take before the call fails.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) struct Pool {
    config: postgres::Config,
    idle: Mutex<Vec<Client>>,
}

impl Pool {
    /// Settings from a `postgres://user:password@host:port/database` URL (or a key=value
    /// string); nothing is connected yet.
    pub(crate) fn new(url: &str) -> Result<Pool, MetaError> {
        let mut config: postgres::Config = url.parse().map_err(|e| {
            MetaError::Invalid(format!("[meta] url is not a PostgreSQL address: {e}"))
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        config.application_name("vigil");
        Ok(Pool {
            config,
            idle: Mutex::new(Vec::new()),
        })
    }

    /// A connection for this caller alone until dropped.
    pub(crate) fn get(&self) -> Result<Pooled<'_>, MetaError> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let client = match idle {
            Some(c) if !c.is_closed() => c,
            _ => self.config.connect(NoTls)?,
        };
        Ok(Pooled {
            client: Some(client),
            pool: self,
        })
    }
}

/// A connection, back to the idle stack when dropped (unless it broke).
pub(crate) struct Pooled<'a> {
    client: Option<Client>,
    pool: &'a Pool,
}

impl Deref for Pooled<'_> {
    type Target = Client;

    fn deref(&self) -> &Client {
        self.client.as_ref().expect("present until drop")
    }
}

impl DerefMut for Pooled<'_> {
    fn deref_mut(&mut self) -> &mut Client {
        self.client.as_mut().expect("present until drop")
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        let Some(client) = self.client.take() else {
            return;
        };
        if client.is_closed() {
            return;
        }
        let mut idle = self
            .pool
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if idle.len() < IDLE {
            idle.push(client);
        }
    }
}
