//! The rows a remote store (ClickHouse) holds, as a table of the query plan: only the
//! columns the plan reads are fetched, over the query's time range, leaving out the batches
//! still in the local store; the plan's simple conditions on columns (`=`, `<`, `IN`,
//! `IS NULL`, …) go along so fewer rows travel, and the engine applies them again.

use crate::RemoteEvents;
use async_trait::async_trait;
use datafusion::arrow::array::{RecordBatch, RecordBatchOptions};
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::ScalarValue;
use datafusion::datasource::MemTable;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{Expr, Operator, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::ExecutionPlan;
use std::path::PathBuf;
use std::sync::Arc;
use vigil_store::{ProjectId, Table};

/// A value in a condition sent to the remote store.
#[derive(Debug, Clone, PartialEq)]
pub enum RemoteValue {
    /// Text.
    Text(String),
    /// A 64-bit integer (fixed-point columns as stored).
    Int(i64),
    /// A boolean.
    Bool(bool),
}

/// A condition on one column that the remote store may apply: a subset of the plan's
/// filters, each of which keeps every row the plan's own filter keeps.
#[derive(Debug, Clone, PartialEq)]
pub enum RemoteFilter {
    /// `column op value`, `op` one of `=`, `!=`, `<`, `<=`, `>`, `>=`.
    Compare(String, &'static str, RemoteValue),
    /// `column [NOT] IN (values)`.
    In(String, Vec<RemoteValue>, bool),
    /// `column IS [NOT] NULL` (`true`: IS NULL).
    IsNull(String, bool),
    /// `column LIKE pattern`, case-sensitive, `\\` escaping `%`, `_` and itself.
    Like(String, String),
}

fn value_of(expr: &Expr) -> Option<RemoteValue> {
    match expr {
        Expr::Literal(ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)), _) => {
            Some(RemoteValue::Text(s.clone()))
        }
        Expr::Literal(ScalarValue::Int64(Some(n)), _) => Some(RemoteValue::Int(*n)),
        Expr::Literal(ScalarValue::Boolean(Some(b)), _) => Some(RemoteValue::Bool(*b)),
        _ => None,
    }
}

fn column_of(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Column(c) => Some(c.name.clone()),
        _ => None,
    }
}

/// The conditions of a plan filter the remote store can apply (an `AND` gives its parts).
fn remote_filters(expr: &Expr, out: &mut Vec<RemoteFilter>) -> bool {
    match expr {
        Expr::BinaryExpr(b) if b.op == Operator::And => {
            // Both sides or none: a half-sent conjunction would still be correct (the
            // engine filters again), but say only what is wholly sent.
            let mut parts = Vec::new();
            if remote_filters(&b.left, &mut parts) && remote_filters(&b.right, &mut parts) {
                out.extend(parts);
                return true;
            }
            false
        }
        Expr::BinaryExpr(b) => {
            let op = match b.op {
                Operator::Eq => "=",
                Operator::NotEq => "!=",
                Operator::Lt => "<",
                Operator::LtEq => "<=",
                Operator::Gt => ">",
                Operator::GtEq => ">=",
                _ => return false,
            };
            let flipped = match op {
                "<" => ">",
                "<=" => ">=",
                ">" => "<",
                ">=" => "<=",
                same => same,
            };
            let filter = match (column_of(&b.left), value_of(&b.right)) {
                (Some(c), Some(v)) => RemoteFilter::Compare(c, op, v),
                _ => match (value_of(&b.left), column_of(&b.right)) {
                    (Some(v), Some(c)) => RemoteFilter::Compare(c, flipped, v),
                    _ => return false,
                },
            };
            out.push(filter);
            true
        }
        Expr::InList(list) => {
            let (Some(c), Some(values)) = (
                column_of(&list.expr),
                list.list.iter().map(value_of).collect::<Option<Vec<_>>>(),
            ) else {
                return false;
            };
            out.push(RemoteFilter::In(c, values, list.negated));
            true
        }
        // Page patterns (a funnel's steps): both engines read `\\` as LIKE's escape.
        Expr::Like(like)
            if !like.negated
                && !like.case_insensitive
                && matches!(like.escape_char, None | Some('\\')) =>
        {
            let (Some(c), Some(RemoteValue::Text(pattern))) =
                (column_of(&like.expr), value_of(&like.pattern))
            else {
                return false;
            };
            out.push(RemoteFilter::Like(c, pattern));
            true
        }
        Expr::IsNull(e) | Expr::IsNotNull(e) => {
            let Some(c) = column_of(e) else { return false };
            out.push(RemoteFilter::IsNull(c, matches!(expr, Expr::IsNull(_))));
            true
        }
        _ => false,
    }
}

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

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(|f| {
                if remote_filters(f, &mut Vec::new()) {
                    TableProviderFilterPushDown::Inexact
                } else {
                    TableProviderFilterPushDown::Unsupported
                }
            })
            .collect())
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
        let mut pushed = Vec::new();
        for f in filters {
            remote_filters(f, &mut pushed);
        }
        let (remote, project, table, from, to, local) = (
            self.remote.clone(),
            self.project,
            self.table,
            self.from,
            self.to,
            self.local.clone(),
        );
        let fetched = tokio::task::spawn_blocking(move || {
            remote.scan(project, table, from, to, &local, &columns, &pushed)
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
        // The filters were pushed as inexact: the plan applies them above this scan.
        MemTable::try_new(projected, vec![batches])?
            .scan(state, None, &[], limit)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::logical_expr::{col, lit};

    #[test]
    fn simple_conditions_go_along_and_others_stay() {
        let mut out = Vec::new();
        assert!(remote_filters(
            &col("name").eq(lit("lcp")).and(lit(5i64).lt(col("ts"))),
            &mut out
        ));
        assert_eq!(
            out,
            [
                RemoteFilter::Compare("name".into(), "=", RemoteValue::Text("lcp".into())),
                RemoteFilter::Compare("ts".into(), ">", RemoteValue::Int(5)),
            ]
        );
        let mut out = Vec::new();
        assert!(remote_filters(
            &col("country").in_list(vec![lit("IN"), lit("DE")], true),
            &mut out
        ));
        assert_eq!(
            out,
            [RemoteFilter::In(
                "country".into(),
                vec![
                    RemoteValue::Text("IN".into()),
                    RemoteValue::Text("DE".into())
                ],
                true
            )]
        );
        // A computed column, an OR, or a float are left to the engine.
        for kept in [
            (col("value") / lit(10000.0)).gt(lit(2.5)),
            col("a").eq(lit("x")).or(col("b").eq(lit("y"))),
            col("value").gt(lit(2.5)),
            col("a").not_like(lit("%x%")),
            col("a").ilike(lit("%x%")),
        ] {
            assert!(!remote_filters(&kept, &mut Vec::new()), "{kept}");
        }
        let mut out = Vec::new();
        assert!(remote_filters(
            &col("page_path").like(lit("/p\\_x/%")),
            &mut out
        ));
        assert_eq!(
            out,
            [RemoteFilter::Like("page_path".into(), "/p\\_x/%".into())]
        );
    }
}
