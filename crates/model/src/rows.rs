//! Rows: what a storage backend receives. Columnar, per table, already scrubbed, with no
//! trace of the wire protocol.

use crate::field::{Extract, Field, Kind, Row, Type};
use crate::record::{IngestBatch, ProjectId};
use crate::scrub::{scrub_message, scrub_url};
use crate::table::Table;
use arrow_array::builder::{BooleanBuilder, Int64Builder, StringBuilder};
use arrow_array::{Array, ArrayRef, RecordBatch, StringArray};
use std::borrow::Cow;
use std::sync::Arc;

/// One batch's rows: for each table it has events in, one Arrow batch in that table's
/// schema. The unit a storage backend makes durable.
#[derive(Debug, Clone, PartialEq)]
pub struct Rows {
    /// Whose rows.
    pub project: ProjectId,
    /// Per table, its rows (tables without rows are left out).
    pub tables: Vec<(Table, RecordBatch)>,
}

impl Rows {
    /// Rows over all tables: one per event.
    pub fn len(&self) -> usize {
        self.tables.iter().map(|(_, b)| b.num_rows()).sum()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes the rows take in memory.
    pub fn memory_bytes(&self) -> usize {
        self.tables
            .iter()
            .map(|(_, b)| b.get_array_memory_size())
            .sum()
    }
}

/// Why a batch did not become rows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RowsError {
    /// Its rows would take more memory than allowed.
    #[error("the batch's rows would take {bytes} bytes, the limit is {limit}")]
    TooLarge {
        /// Estimated or measured bytes.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// Building them failed (a defect, caught so it cannot take a server down).
    #[error("the batch cannot be stored: {0}")]
    Unbuildable(String),
}

impl IngestBatch {
    /// Builds the batch's rows, refusing a batch whose rows would pass `limit` bytes: first
    /// by the context copied into each row (before anything is built), then by the rows'
    /// measured size. A panic while building is caught and returned as an error.
    pub fn to_rows(&self, limit: usize) -> Result<Rows, RowsError> {
        let estimate = self.context_row_bytes();
        if estimate > limit {
            return Err(RowsError::TooLarge {
                bytes: estimate,
                limit,
            });
        }
        let rows = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.build_rows()))
            .map_err(|panic| {
                RowsError::Unbuildable(
                    panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                        .unwrap_or_else(|| "rows could not be built".to_owned()),
                )
            })?;
        let bytes = rows.memory_bytes();
        if bytes > limit {
            return Err(RowsError::TooLarge { bytes, limit });
        }
        Ok(rows)
    }

    fn build_rows(&self) -> Rows {
        let mut by_table: Vec<Vec<Row<'_>>> = Table::ALL.iter().map(|_| Vec::new()).collect();
        for e in &self.events {
            by_table[Table::of(&e.body) as usize].push(Row {
                common: &self.common,
                event: e,
            });
        }
        let tables = Table::ALL
            .iter()
            .zip(by_table)
            .filter(|(_, rows)| !rows.is_empty())
            .map(|(&t, rows)| (t, build_table(t, &rows)))
            .collect();
        Rows {
            project: self.project,
            tables,
        }
    }
}

/// What the column's kind does to a text value before it is stored.
fn scrubbed<'a>(kind: Kind, value: Cow<'a, str>) -> Cow<'a, str> {
    match kind {
        Kind::Url => Cow::Owned(scrub_url(&value)),
        Kind::Message => Cow::Owned(scrub_message(&value)),
        _ => value,
    }
}

fn text_column(field: &Field, rows: &[Row<'_>], built: &[ArrayRef], table: Table) -> ArrayRef {
    let Extract::Str(extract) = field.extract else {
        unreachable!("text columns extract text")
    };
    let source = field.derive.map(|(from, derive)| {
        let at = table
            .columns()
            .iter()
            .position(|c| c.name == from)
            .expect("derived columns name an earlier column");
        let array = built[at]
            .as_any()
            .downcast_ref::<StringArray>()
            .expect("derived columns come from text columns")
            .clone();
        (array, derive)
    });
    let mut b = StringBuilder::with_capacity(rows.len(), rows.len() * 16);
    let scrubs = matches!(field.kind, Kind::Url | Kind::Message);
    // Context values are the same string for every row of a batch: scrub them once. Other
    // values go into the builder as they are, without a copy of their own.
    let mut last: Option<(*const u8, usize, String)> = None;
    for (i, r) in rows.iter().enumerate() {
        match extract(r) {
            Some(Cow::Borrowed(v)) if scrubs => {
                let same =
                    matches!(&last, Some((ptr, len, _)) if *ptr == v.as_ptr() && *len == v.len());
                if !same {
                    let out = scrubbed(field.kind, Cow::Borrowed(v)).into_owned();
                    last = Some((v.as_ptr(), v.len(), out));
                }
                b.append_value(last.as_ref().map_or("", |(_, _, out)| out.as_str()));
            }
            Some(v) if scrubs => b.append_value(scrubbed(field.kind, v)),
            Some(v) => b.append_value(v),
            None => match &source {
                Some((array, derive)) if array.is_valid(i) => {
                    b.append_option(derive(array.value(i)))
                }
                _ => b.append_null(),
            },
        }
    }
    Arc::new(b.finish())
}

/// Builds one Arrow batch of `table` from rows that all belong to it.
fn build_table(table: Table, rows: &[Row<'_>]) -> RecordBatch {
    let mut built: Vec<ArrayRef> = Vec::with_capacity(table.columns().len());
    for field in table.columns() {
        let array: ArrayRef = match (field.extract, field.ty) {
            (Extract::Str(_), _) => text_column(field, rows, &built, table),
            (Extract::F64(f), Type::Fixed(scale)) => {
                let mut b = Int64Builder::with_capacity(rows.len());
                let fixed = |v: f64| (v * scale as f64).round() as i64;
                rows.iter().for_each(|r| b.append_option(f(r).map(fixed)));
                Arc::new(b.finish())
            }
            (Extract::F64(_), _) => unreachable!("numbers are stored as fixed point"),
            (Extract::I64(f), _) => {
                let mut b = Int64Builder::with_capacity(rows.len());
                rows.iter().for_each(|r| b.append_option(f(r)));
                Arc::new(b.finish())
            }
            (Extract::Bool(f), _) => {
                let mut b = BooleanBuilder::with_capacity(rows.len());
                rows.iter().for_each(|r| b.append_option(f(r)));
                Arc::new(b.finish())
            }
        };
        built.push(array);
    }
    RecordBatch::try_new(table.schema(), built).expect("columns match the schema they came from")
}
