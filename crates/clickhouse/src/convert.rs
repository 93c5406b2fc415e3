//! Rows to ClickHouse and back: a table's Arrow batch as `JSONEachRow` lines for an
//! `INSERT`, and a `JSONCompact` answer as an Arrow batch in the table's schema. JSON because
//! every server version since 18 reads and writes it the same way (Arrow and Parquet formats
//! came later); 64-bit integers come back quoted, booleans are `UInt8`.

use crate::ddl::{Features, column_type, quoted, string_literal};
use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{
    Array, ArrayRef, BooleanArray, Int64Array, RecordBatch, StringArray, new_null_array,
};
use arrow_schema::{DataType, Schema, SchemaRef};
use serde_json::{Map, Value};
use std::sync::Arc;
use vigil_model::{ProjectId, Table};
use vigil_query::LocalRows;

/// A batch's rows as `JSONEachRow`, each with the project and the batch it was shipped in.
pub fn json_each_row(project: ProjectId, batch_id: &str, batch: &RecordBatch) -> Vec<u8> {
    let mut out = Vec::with_capacity(batch.num_rows() * 256);
    let extra = [
        ("project", Value::from(project)),
        ("vigil_batch", Value::from(batch_id)),
    ];
    write_rows(&mut out, batch, &extra);
    out
}

fn write_rows(out: &mut Vec<u8>, batch: &RecordBatch, extra: &[(&str, Value)]) {
    let schema = batch.schema();
    for row in 0..batch.num_rows() {
        let mut object = Map::new();
        for (name, value) in extra {
            object.insert((*name).into(), value.clone());
        }
        for (field, column) in schema.fields().iter().zip(batch.columns()) {
            if column.is_null(row) {
                continue;
            }
            let value = match field.data_type() {
                DataType::Int64 => Value::from(column.as_primitive::<Int64Type>().value(row)),
                DataType::Boolean => Value::from(u8::from(column.as_boolean().value(row))),
                DataType::Utf8 => Value::from(column.as_string::<i32>().value(row)),
                // The embedded engine reads dimensions from segments as views.
                DataType::Utf8View => Value::from(column.as_string_view().value(row)),
                _ => continue,
            };
            object.insert(field.name().clone(), value);
        }
        serde_json::to_writer(&mut *out, &Value::Object(object)).expect("JSON to memory");
        out.push(b'\n');
    }
}

/// How a compiled query names a table it reads (see `RemoteEvents::source`): the
/// server's rows of `project` meeting the local rows' condition but those shipped from the
/// segments still local (`except_batches`), then the local rows, sent along as the
/// external table `external`.
pub fn compiled_source(
    project: ProjectId,
    local: &LocalRows,
    except_batches: &[String],
    external: &str,
) -> String {
    let columns = local
        .columns
        .iter()
        .map(|c| quoted(c))
        .collect::<Vec<_>>()
        .join(", ");
    let except = if except_batches.is_empty() {
        String::new()
    } else {
        format!(
            " AND {} NOT IN ({})",
            crate::ddl::BATCH_COLUMN,
            except_batches
                .iter()
                .map(|b| string_literal(b))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let mut source = format!(
        "(SELECT `project`, {columns} FROM {} WHERE `project` = {project} AND {}{except}",
        quoted(local.table.name()),
        local.condition
    );
    if local.batches.iter().any(|b| b.num_rows() > 0) {
        source.push_str(&format!(
            " UNION ALL SELECT CAST({project} AS UInt32) AS `project`, {columns} FROM {external}"
        ));
    }
    source.push(')');
    source
}

/// The structure of the external table of local rows: each column with the type the
/// server's tables give it, so that both sides of the `UNION ALL` agree.
pub fn external_structure(local: &LocalRows, features: Features) -> Result<String, String> {
    Ok(local
        .columns
        .iter()
        .map(|c| {
            let field = local
                .table
                .column(c)
                .ok_or_else(|| format!("{} has no column {c:?}", local.table.name()))?;
            // Bare names: 18.16 reads a quote as part of the name there.
            Ok(format!("{c} {}", column_type(field, features)))
        })
        .collect::<Result<Vec<_>, String>>()?
        .join(", "))
}

/// The local rows as `JSONEachRow`.
pub fn external_rows(local: &LocalRows) -> Vec<u8> {
    let mut rows = Vec::new();
    for batch in &local.batches {
        write_rows(&mut rows, batch, &[]);
    }
    rows
}

/// Why an answer could not be read.
#[derive(Debug, thiserror::Error)]
#[error("unexpected answer from ClickHouse: {0}")]
pub struct BadAnswer(pub String);

/// The `SELECT` list of columns.
pub fn select_list(schema: &Schema) -> String {
    schema
        .fields()
        .iter()
        .map(|f| crate::ddl::quoted(f.name()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The part of a table's schema with the named columns, in that order; an unknown name is
/// an error.
pub fn projected(table: Table, columns: &[String]) -> Result<SchemaRef, BadAnswer> {
    let schema = table.schema();
    let indices = columns
        .iter()
        .map(|c| {
            schema
                .index_of(c)
                .map_err(|_| BadAnswer(format!("{} has no column {c:?}", table.name())))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Arc::new(
        schema
            .project(&indices)
            .map_err(|e| BadAnswer(e.to_string()))?,
    ))
}

/// A `JSONCompact` answer to [`select_list`] of `schema` as one batch in it.
pub fn batch_of(schema: SchemaRef, answer: &[u8]) -> Result<RecordBatch, BadAnswer> {
    let parsed: Value =
        serde_json::from_slice(answer).map_err(|e| BadAnswer(format!("not JSON: {e}")))?;
    let rows = parsed["data"]
        .as_array()
        .ok_or_else(|| BadAnswer("no data".into()))?;
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for (i, field) in schema.fields().iter().enumerate() {
        let cell = |row: &Value| -> Result<Option<Value>, BadAnswer> {
            let v = row
                .get(i)
                .ok_or_else(|| BadAnswer(format!("a row without column {}", field.name())))?;
            Ok((!v.is_null()).then(|| v.clone()))
        };
        let column: ArrayRef = match field.data_type() {
            DataType::Int64 => Arc::new(
                rows.iter()
                    .map(|r| {
                        cell(r)?
                            .map(|v| {
                                match &v {
                                    Value::String(s) => s.parse::<i64>().ok(),
                                    other => other.as_i64(),
                                }
                                .ok_or_else(|| BadAnswer(format!("{}: {v}", field.name())))
                            })
                            .transpose()
                    })
                    .collect::<Result<Int64Array, BadAnswer>>()?,
            ),
            DataType::Boolean => Arc::new(
                rows.iter()
                    .map(|r| Ok(cell(r)?.map(|v| v.as_u64() == Some(1) || v == "1")))
                    .collect::<Result<BooleanArray, BadAnswer>>()?,
            ),
            DataType::Utf8 => Arc::new(
                rows.iter()
                    .map(|r| Ok(cell(r)?.map(|v| v.as_str().unwrap_or_default().to_owned())))
                    .collect::<Result<StringArray, BadAnswer>>()?,
            ),
            other => new_null_array(other, rows.len()),
        };
        columns.push(column);
    }
    RecordBatch::try_new(schema, columns).map_err(|e| BadAnswer(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::StringViewArray;
    use arrow_schema::Field;

    #[test]
    fn rows_read_as_string_views_keep_their_text() {
        // The embedded engine reads dimensions from segments as views; the local rows sent
        // along with a compiled query must carry them like plain strings.
        let schema = Arc::new(Schema::new(vec![
            Field::new("ts", DataType::Int64, false),
            Field::new("country", DataType::Utf8View, true),
            Field::new("url", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(vec![1, 2])),
                Arc::new(StringViewArray::from(vec![Some("DE"), None])),
                Arc::new(StringArray::from(vec![Some("/a"), Some("/b")])),
            ],
        )
        .unwrap();
        let mut out = Vec::new();
        write_rows(&mut out, &batch, &[]);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"country\":\"DE\",\"ts\":1,\"url\":\"/a\"}\n{\"ts\":2,\"url\":\"/b\"}\n"
        );
    }
}
