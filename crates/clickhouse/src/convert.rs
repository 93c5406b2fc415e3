//! Rows to ClickHouse and back: a table's Arrow batch as `JSONEachRow` lines for an
//! `INSERT`, and a `JSONCompact` answer as an Arrow batch in the table's schema. JSON because
//! every server version since 18 reads and writes it the same way (Arrow and Parquet formats
//! came later); 64-bit integers come back quoted, booleans are `UInt8`.

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{
    Array, ArrayRef, BooleanArray, Int64Array, RecordBatch, StringArray, new_null_array,
};
use arrow_schema::{DataType, Schema, SchemaRef};
use serde_json::{Map, Value};
use std::sync::Arc;
use vigil_model::{ProjectId, Table};

/// A batch's rows as `JSONEachRow`, each with the project and the batch it was shipped in.
pub fn json_each_row(project: ProjectId, batch_id: &str, batch: &RecordBatch) -> Vec<u8> {
    let schema = batch.schema();
    let mut out = Vec::with_capacity(batch.num_rows() * 256);
    for row in 0..batch.num_rows() {
        let mut object = Map::new();
        object.insert("project".into(), Value::from(project));
        object.insert("vigil_batch".into(), Value::from(batch_id));
        for (field, column) in schema.fields().iter().zip(batch.columns()) {
            if column.is_null(row) {
                continue;
            }
            let value = match field.data_type() {
                DataType::Int64 => Value::from(column.as_primitive::<Int64Type>().value(row)),
                DataType::Boolean => Value::from(u8::from(column.as_boolean().value(row))),
                DataType::Utf8 => Value::from(column.as_string::<i32>().value(row)),
                _ => continue,
            };
            object.insert(field.name().clone(), value);
        }
        serde_json::to_writer(&mut out, &Value::Object(object)).expect("JSON to memory");
        out.push(b'\n');
    }
    out
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
