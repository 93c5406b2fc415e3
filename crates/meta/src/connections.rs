//! The connections: one that writes, and any number that read.
//!
//! SQLite in WAL mode lets readers run beside a writer: a read sees the last commit before
//! it started and never waits for the write in progress or its fsync (`synchronous=FULL`).
//! So writes share one connection behind a mutex, while every read takes a connection of
//! its own: an idle one from a small stack, or a new one when all are busy. The stack's
//! lock is held only to push or pop, never while SQLite works, so no read queues behind a
//! write (the test `tests/reads_beside_writes.rs` holds a write open and reads).

use crate::MetaError;
use rusqlite::Connection;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// Idle read connections kept for reuse; more may be open at once, they are closed after use.
const IDLE_READERS: usize = 8;

/// How long a write waits for another process's write (e.g. `vigil project create` next to
/// a running server) before it fails.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The writer and the read connections of one database file.
pub(crate) struct Connections {
    writer: Mutex<Connection>,
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Connections {
    /// Opens the writer (WAL, fsync on every commit) and hands it to `prepare` (migrations)
    /// before any reader exists.
    pub(crate) fn open(
        path: &Path,
        prepare: impl FnOnce(&mut Connection) -> Result<(), MetaError>,
    ) -> Result<Self, MetaError> {
        let mut conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        prepare(&mut conn)?;
        Ok(Self {
            writer: Mutex::new(conn),
            path: path.to_owned(),
            idle: Mutex::new(Vec::new()),
        })
    }

    /// The connection that writes; one write at a time.
    pub(crate) fn writer(&self) -> MutexGuard<'_, Connection> {
        // A panic in another write left no transaction open (rusqlite rolls back on drop).
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A connection that only reads, for this caller alone until dropped.
    pub(crate) fn reader(&self) -> Result<Reader<'_>, MetaError> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let conn = match idle {
            Some(conn) => conn,
            None => {
                let conn = Connection::open(&self.path)?;
                // Reads only, whatever the SQL: a bug cannot write outside the writer's lock.
                conn.pragma_update(None, "query_only", "ON")?;
                conn.busy_timeout(BUSY_TIMEOUT)?;
                conn
            }
        };
        Ok(Reader {
            conn: Some(conn),
            pool: self,
        })
    }

    /// Read connections open and idle (for tests).
    #[cfg(test)]
    pub(crate) fn idle_readers(&self) -> usize {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// A read connection, back to the idle stack when dropped.
pub(crate) struct Reader<'a> {
    conn: Option<Connection>,
    pool: &'a Connections,
}

impl Deref for Reader<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.conn.as_ref().expect("present until drop")
    }
}

impl Drop for Reader<'_> {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else {
            return;
        };
        // A connection left inside a transaction (a panic mid-read) is not reused.
        if !conn.is_autocommit() {
            return;
        }
        let mut idle = self
            .pool
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if idle.len() < IDLE_READERS {
            idle.push(conn);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readers_see_every_commit_cannot_write_and_are_reused() {
        let dir = tempfile::tempdir().unwrap();
        let conns = Connections::open(&dir.path().join("meta.db"), |c| {
            Ok(c.execute_batch("CREATE TABLE t (x INTEGER)")?)
        })
        .unwrap();
        let count = |r: &Reader<'_>| -> i64 {
            r.query_row("SELECT COUNT(*) FROM t", [], |row| row.get(0))
                .unwrap()
        };
        let (a, b) = (conns.reader().unwrap(), conns.reader().unwrap());
        assert_eq!(count(&a), 0);
        conns
            .writer()
            .execute("INSERT INTO t VALUES (1)", [])
            .unwrap();
        assert_eq!((count(&a), count(&b)), (1, 1), "a commit is seen at once");
        assert!(a.execute("INSERT INTO t VALUES (2)", []).is_err());
        drop((a, b));
        assert_eq!(conns.idle_readers(), 2);
        let many: Vec<_> = (0..IDLE_READERS + 3)
            .map(|_| conns.reader().unwrap())
            .collect();
        assert_eq!(conns.idle_readers(), 0, "nobody waits: new ones are opened");
        drop(many);
        assert_eq!(conns.idle_readers(), IDLE_READERS);
    }
}
