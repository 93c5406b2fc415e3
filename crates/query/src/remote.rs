//! The rows a remote store (ClickHouse) holds, as a table of the query plan: only the
//! columns the plan reads are fetched, over the query's time range, leaving out the batches
//! still in the local store.

use crate::RemoteEvents;
use async_trait::async_trait;
use datafusion::arrow::array::{RecordBatch, RecordBatchOptions};
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::MemTable;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{Expr, TableType};
use datafusion::physical_plan::ExecutionPlan;
use std::path::PathBuf;
use std::sync::Arc;
use vigil_store::{ProjectId, Table};

/// One table of a project over a time range, in the remote store.
pub(crate) struct RemoteTable {
    pub remote: Arc<dyn RemoteEvents>,
    pub project: ProjectId,
    pub table: Table,
    pub from: i64,
    pub to: i64,
    /// Segments still in the local store, whose rows the local branches read.
    pub local: Vec<PathBuf>,
}

impl std::fmt::Debug for RemoteTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RemoteTable({}, {})", self.project, self.table.name())
    }
}

#[async_trait]
impl TableProvider for RemoteTable {
    fn schema(&self) -> SchemaRef {
        self.table.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let schema = self.table.schema();
        let projected: SchemaRef = match projection {
            Some(p) => Arc::new(schema.project(p)?),
            None => schema.clone(),
        };
        // A count reads no column: fetch the time alone for the row count.
        let columns: Vec<String> = if projected.fields().is_empty() {
            vec!["ts".to_owned()]
        } else {
            projected
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect()
        };
        let (remote, project, table, from, to, local) = (
            self.remote.clone(),
            self.project,
            self.table,
            self.from,
            self.to,
            self.local.clone(),
        );
        let fetched = tokio::task::spawn_blocking(move || {
            remote.scan(project, table, from, to, &local, &columns)
        })
        .await
        .map_err(|e| DataFusionError::External(e.into()))?
        .map_err(|e| DataFusionError::External(e.into()))?;
        let batches: Vec<RecordBatch> = if projected.fields().is_empty() {
            fetched
                .iter()
                .map(|b| {
                    RecordBatch::try_new_with_options(
                        Arc::new(Schema::empty()),
                        Vec::new(),
                        &RecordBatchOptions::new().with_row_count(Some(b.num_rows())),
                    )
                })
                .collect::<std::result::Result<_, _>>()?
        } else {
            fetched
        };
        MemTable::try_new(projected, vec![batches])?
            .scan(state, None, filters, limit)
            .await
    }
}
