//! Queries compiled to the remote store's SQL also while rows of their range are still in
//! the local store, as they always are for a range that reaches the present: the local rows
//! the query reads (its columns, within its range) go along with the query, and the remote
//! store reads them after its own rows but those of the segments still local. The remote
//! store then aggregates everything, instead of sending its rows to the engine.
//!
//! When the local rows are too many to send (the shipper far behind) or the remote store
//! refuses the query, the engine answers over both stores as before: same answer, slower.

use crate::model::OutputKind;
use crate::{QueryEngine, QueryError, QueryResult, Shared, TableNeeds, typed_result};
use datafusion::arrow::array::RecordBatch;
use datafusion::error::DataFusionError;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use vigil_store::{ProjectId, Table};

/// The most local rows (all tables together) sent along with one query; past it the engine
/// answers. 200,000 rows of a few columns are a few MB of JSON.
pub const MAX_LOCAL_ROWS: usize = 200_000;

/// The longest statement sent with rows: it travels as a form field then, and ClickHouse
/// 18.16 refuses one over 256 KiB.
const MAX_STATEMENT_WITH_ROWS: usize = 250_000;

/// What a compiled query reads of one table besides the remote store's rows.
#[derive(Debug, Clone)]
pub struct LocalRows {
    /// The table.
    pub table: Table,
    /// A condition on the table's columns that every row the query reads meets (its time
    /// range, a vital's name), in SQL both engines read: the remote store applies it to its
    /// own rows, and `batches` meet it.
    pub condition: String,
    /// The columns the query reads, in the order of `batches`' schema.
    pub columns: Vec<String>,
    /// The local store's segments with rows of the range: the remote store leaves out the
    /// rows it was sent from them (they are in `batches`).
    pub segments: Vec<PathBuf>,
    /// The local rows meeting `condition`, of `columns`.
    pub batches: Vec<RecordBatch>,
}

impl LocalRows {
    /// Whether the remote store holds every row the query reads of this table.
    pub fn is_empty(&self) -> bool {
        self.segments.is_empty() && self.batches.iter().all(|b| b.num_rows() == 0)
    }
}

/// The columns of `table` that `sql` names (every column reference is quoted): a name that
/// only appears in a literal adds a column sent for nothing, never one missed.
fn columns_read(table: Table, sql: &str) -> Vec<String> {
    table
        .columns()
        .iter()
        .filter(|c| sql.contains(&format!("\"{}\"", c.name)))
        .map(|c| c.name.to_owned())
        .collect()
}

/// SQL over named tables: given how each table is named, the statement, or `None` when the
/// remote store's dialect has no spelling for part of it.
pub(crate) type CompiledSql =
    Box<dyn Fn(&dyn Fn(Table) -> String) -> Result<Option<String>, QueryError> + Send>;

impl QueryEngine {
    /// Answers in the remote store alone when there is one and it can: `reads` lists each
    /// table the SQL reads with the condition all its rows read meet, `sql` writes the
    /// statement, `columns` read the answer. `None`: the engine is to answer.
    pub(crate) async fn compiled(
        &self,
        project: ProjectId,
        (from, to): (i64, i64),
        reads: Vec<(Table, String)>,
        sql: CompiledSql,
        columns: Vec<(String, OutputKind)>,
    ) -> Result<Option<QueryResult>, QueryError> {
        let Some(remote) = self.shared.remote.clone().filter(|_| self.compiling) else {
            return Ok(None);
        };
        let answer = self
            .execute(move |shared| async move {
                let Some(plain) = sql(&|t| format!("\"{}\"", t.name()))? else {
                    return Ok(None);
                };
                // Shipping holds back what this read may also take from memory.
                let _reading = remote.begin_read();
                let mut local = Vec::with_capacity(reads.len());
                let mut rows = 0;
                for (table, condition) in reads {
                    let columns = columns_read(table, &plain);
                    let Some(read) = shared
                        .local_rows(project, table, (from, to), condition, columns)
                        .await?
                    else {
                        return Ok(None);
                    };
                    rows += read.batches.iter().map(RecordBatch::num_rows).sum::<usize>();
                    if rows > MAX_LOCAL_ROWS {
                        tracing::debug!(rows, "too many local rows to send: the engine answers");
                        return Ok(None);
                    }
                    local.push(read);
                }
                let sources: BTreeMap<Table, String> = local
                    .iter()
                    .map(|l| (l.table, remote.source(project, l)))
                    .collect();
                let statement = sql(&|t| {
                    sources
                        .get(&t)
                        .cloned()
                        .unwrap_or_else(|| format!("\"{}\"", t.name()))
                })?
                .expect("spelled once, spelled again");
                tracing::debug!(sql = %statement, "query in the remote store");
                let local: Vec<LocalRows> = local.into_iter().filter(|l| !l.is_empty()).collect();
                if !local.is_empty() && statement.len() > MAX_STATEMENT_WITH_ROWS {
                    // A long list of sessions with a replay, say: the engine answers.
                    tracing::debug!(bytes = statement.len(), "statement too long to send with rows");
                    return Ok(None);
                }
                match remote
                    .select_with(&statement, &local)
                    .map_err(|e| QueryError::Engine(DataFusionError::External(e.into())))
                    .and_then(|rows| typed_result(&columns, rows))
                {
                    Ok(answer) => Ok(Some(answer)),
                    Err(e) => {
                        // The engine gives the same answer over both stores.
                        tracing::warn!(error = %e, "the remote store did not answer a compiled query; the engine answers");
                        Ok(None)
                    }
                }
            })
            .await?;
        if answer.is_some() {
            self.remote_answers.fetch_add(1, Ordering::Relaxed);
        }
        Ok(answer)
    }
}

impl Shared {
    /// The local rows of one table a compiled query reads: `None` when more than
    /// [`MAX_LOCAL_ROWS`].
    async fn local_rows(
        self: &Arc<Self>,
        project: ProjectId,
        table: Table,
        (from, to): (i64, i64),
        condition: String,
        columns: Vec<String>,
    ) -> Result<Option<LocalRows>, QueryError> {
        let snap = self.store.snapshot(project, table, from, to);
        let segments: Vec<PathBuf> = snap.files.iter().chain(&snap.folded).cloned().collect();
        let mut read = LocalRows {
            table,
            condition,
            columns,
            segments,
            batches: Vec::new(),
        };
        if read.segments.is_empty() && snap.batches.iter().all(|b| b.num_rows() == 0) {
            return Ok(Some(read));
        }
        let ctx = self.context()?;
        // The same snapshot as the segments left out of the remote store's rows: one taken
        // again could miss a segment shipped and forgotten in between, left out of both.
        self.register_snapshot(
            &ctx,
            project,
            table,
            (from, to),
            snap,
            false,
            TableNeeds::ALL,
        )
        .await
        .map_err(QueryError::Engine)?;
        let list = read
            .columns
            .iter()
            .map(|c| format!("\"{c}\""))
            .collect::<Vec<_>>()
            .join(", ");
        // Every column is named by the query: at least `ts`, which its range reads.
        let frame = ctx
            .sql(&format!(
                "SELECT {list} FROM \"{}\" WHERE {} LIMIT {}",
                table.name(),
                read.condition,
                MAX_LOCAL_ROWS + 1
            ))
            .await
            .map_err(|e| self.engine_error(e))?;
        read.batches = frame.collect().await.map_err(|e| self.engine_error(e))?;
        if read
            .batches
            .iter()
            .map(RecordBatch::num_rows)
            .sum::<usize>()
            > MAX_LOCAL_ROWS
        {
            return Ok(None);
        }
        Ok(Some(read))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_read_are_the_quoted_names_of_the_table() {
        let sql = "SELECT \"country\", p75(\"value\") FROM \"vitals\" WHERE \"ts\" >= 0 \
                   AND \"name\" = 'lcp' AND \"os\" <> 'browser'";
        let read = columns_read(Table::Vitals, sql);
        for name in ["ts", "name", "value", "country", "os"] {
            assert!(read.iter().any(|c| c == name), "{name} in {read:?}");
        }
        // Named only in a literal, unquoted: not read.
        assert!(
            !read.iter().any(|c| c == "browser" || c == "page_url"),
            "{read:?}"
        );
        // In the table's order, each once.
        let order: Vec<&str> = Table::Vitals
            .columns()
            .iter()
            .map(|c| c.name)
            .filter(|n| read.iter().any(|r| r == n))
            .collect();
        assert_eq!(read, order);
    }
}
