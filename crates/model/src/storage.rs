//! The storage boundary: what any backend that keeps events must do. The embedded store
//! implements it over its log and Parquet segments; a server-backed one (ClickHouse) will
//! implement the same, and [`crate::conformance`] holds both to the same answers.

use crate::record::ProjectId;
use crate::rows::Rows;
use crate::table::Table;
use arrow_array::RecordBatch;
use std::future::Future;

/// Whose data to erase from a project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Erasure {
    /// Every row with this `user_id`.
    User(String),
    /// Every row with this `session_id`.
    Session(String),
}

impl Erasure {
    /// The column that names whose data it is.
    pub fn column(&self) -> &'static str {
        match self {
            Erasure::User(_) => "user_id",
            Erasure::Session(_) => "session_id",
        }
    }

    /// The user or session id.
    pub fn value(&self) -> &str {
        match self {
            Erasure::User(v) | Erasure::Session(v) => v,
        }
    }
}

/// What an erasure removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ErasureReport {
    /// Rows removed, across all tables.
    pub rows_removed: u64,
    /// Stored parts (segment files, partitions) rewritten without those rows, or dropped
    /// when nothing was left.
    pub files_rewritten: u64,
}

/// A place events are kept.
pub trait EventStore: Send + Sync {
    /// Why an operation failed.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Keeps `rows`. Resolves `Ok` only once they are durable: after a crash of the process
    /// or the machine, a reopened store has them, exactly once.
    fn append(&self, rows: Rows) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Every row of one table of one project with `from_ms <= ts < to_ms`, in any order
    /// and any batching, in the table's current schema (columns a row was written without
    /// are null). Rows acknowledged by `append` are visible at once.
    fn scan(
        &self,
        project: ProjectId,
        table: Table,
        from_ms: i64,
        to_ms: i64,
    ) -> impl Future<Output = Result<Vec<RecordBatch>, Self::Error>> + Send;

    /// Drops a project's rows from days (UTC) that ended more than `keep_days` days ago.
    fn apply_retention(
        &self,
        project: ProjectId,
        keep_days: u32,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Removes every row of one user or one session of a project, in every table, including
    /// rows acknowledged but not yet moved to long-term storage.
    fn erase(
        &self,
        project: ProjectId,
        erasure: Erasure,
    ) -> impl Future<Output = Result<ErasureReport, Self::Error>> + Send;
}
