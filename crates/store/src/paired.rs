//! A string column that segments store in a form relative to another column of the same
//! row ([`crate::view_ids`], [`crate::page_urls`]).

use datafusion::arrow::array::{Array, ArrayRef, RecordBatch, StringArray, StringBuilder};
use datafusion::arrow::error::ArrowError;
use std::sync::Arc;

/// `batch` with its `column` rewritten by `map`, which is given each value and the same
/// row's `base` (a batch without both columns, as Utf8, is returned as it is).
pub(crate) fn rewrite(
    batch: &RecordBatch,
    column: &str,
    base: &str,
    map: fn(&str, Option<&str>, &mut StringBuilder),
) -> Result<RecordBatch, ArrowError> {
    let schema = batch.schema();
    let (Ok(index), Some(bases)) = (
        schema.index_of(column),
        batch
            .column_by_name(base)
            .and_then(|c| c.as_any().downcast_ref::<StringArray>()),
    ) else {
        return Ok(batch.clone());
    };
    let Some(values) = batch.column(index).as_any().downcast_ref::<StringArray>() else {
        return Ok(batch.clone());
    };
    let mut builder = StringBuilder::with_capacity(values.len(), values.value_data().len());
    for row in 0..values.len() {
        if values.is_null(row) {
            builder.append_null();
        } else {
            let base = bases.is_valid(row).then(|| bases.value(row));
            map(values.value(row), base, &mut builder);
        }
    }
    let mut columns = batch.columns().to_vec();
    columns[index] = Arc::new(builder.finish()) as ArrayRef;
    RecordBatch::try_new(schema, columns)
}
