//! A string column that segments store in a form relative to another column of the same
//! row ([`crate::view_ids`], [`crate::page_urls`]).

use datafusion::arrow::array::{Array, ArrayRef, RecordBatch, StringArray, StringBuilder};
use datafusion::arrow::error::ArrowError;
use std::sync::Arc;

/// `batch` with its `column` rewritten by `map`, which is given each value and the same
/// row's `base` and appends exactly one value: the stored form, which depends on those two
/// alone (a batch without both columns, as Utf8, is returned as it is).
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
    // Rows in segment order come in runs of one session and page, whose values and bases are
    // the same: `map` gives the same stored form for them, so it runs once per run. (A page
    // URL's form takes two substring searches; they were 2.8% of the server's instructions
    // under `vigil bench ingest`.)
    // The last run's stored form is kept in one buffer, not a string per run (runs are
    // about two rows long: a string each was 47,000 allocations in a flush of 100,000).
    let mut last: Option<(&str, Option<&str>)> = None;
    let mut last_stored = String::new();
    for row in 0..values.len() {
        if values.is_null(row) {
            builder.append_null();
            continue;
        }
        let (value, base) = (
            values.value(row),
            bases.is_valid(row).then(|| bases.value(row)),
        );
        if last == Some((value, base)) {
            builder.append_value(&last_stored);
            continue;
        }
        map(value, base, &mut builder);
        let offsets = builder.offsets_slice();
        let written = &builder.values_slice()[offsets[offsets.len() - 2] as usize..];
        let stored = std::str::from_utf8(written).map_err(|e| {
            ArrowError::InvalidArgumentError(format!("{column} stored as invalid UTF-8: {e}"))
        })?;
        last_stored.clear();
        last_stored.push_str(stored);
        last = Some((value, base));
    }
    let mut columns = batch.columns().to_vec();
    columns[index] = Arc::new(builder.finish()) as ArrayRef;
    RecordBatch::try_new(schema, columns)
}
