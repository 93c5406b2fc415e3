//! Session ids stored relative to their row's time.
//!
//! The browser agent's session id is its start in ms as 11 hex characters, then 40 random
//! bits as 10 hex characters. Rows in a segment are grouped by device and country within
//! each hour ([`crate::segment`]), so neighbouring rows' ids share little of their start and
//! front coding saves little: 8.5 bytes a row on `vigil bench query`. The row's `ts` is
//! never far after the session's start, so a segment keeps the distance instead, in decimal
//! (`0` for the page load that started the session), and the random part: `0.9f3a0c1e2b`.
//! Nothing is lost, whatever a client sends:
//!
//! - an id of the agent's form (21 lowercase hex characters, the first not `0`) whose
//!   start is at most [`MAX_AGE_MS`] before the row's time: stored as
//!   `{ts − start}.{random part}`;
//! - any other id that holds a `.` or starts with `~`: stored as `~` + id;
//! - any other id: stored as it is.
//!
//! Readers of segments turn them back: the store's scans with [`whole`], the query layer
//! with the SQL function of [`whole_udf`]. Memory and the log hold whole ids; only segments
//! hold this form, written by a flush ([`relative`], after view ids are made relative to
//! the whole session id) and copied as they are by merges.

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Array, RecordBatch, StringBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::error::ArrowError;
use datafusion::logical_expr::{ColumnarValue, ScalarUDF, Volatility, create_udf};
use std::fmt::Write;
use std::sync::Arc;

/// The column stored relative to the row's time.
pub const COLUMN: &str = "session_id";
/// The row's time.
const TS: &str = "ts";
/// Parts a relative id: the distance before it, the random part after.
const RELATIVE: char = '.';
/// Marks a stored id that is the whole id after it.
const ESCAPED: char = '~';
/// The longest distance stored (about 115 days; a session lasts hours at most): it keeps the
/// decimal short and the arithmetic far from overflow.
pub const MAX_AGE_MS: i64 = 10_000_000_000;
/// The name of the SQL function of [`whole_udf`].
pub const UDF: &str = "vigil_session_id";

/// The start of an id of the agent's form, and its random part.
fn agent_form(id: &str) -> Option<(i64, &str)> {
    let bytes = id.as_bytes();
    let hex = |b: &u8| matches!(b, b'0'..=b'9' | b'a'..=b'f');
    if bytes.len() != 21 || bytes[0] == b'0' || !bytes.iter().all(hex) {
        return None;
    }
    // 11 hex digits, the first not 0: between 16^10 and 16^11, so `{start:x}` gives them
    // back exactly.
    let start = i64::from_str_radix(&id[..11], 16).ok()?;
    Some((start, &id[11..]))
}

/// The id a flush stored last and its agent form: a flush's rows lie grouped by session
/// (by context, then time), so most ids are the one before them, and comparing an id with
/// it costs less than checking and parsing the id again.
type LastId<'a> = Option<(&'a str, Option<(i64, &'a str)>)>;

/// Appends the stored form of one id of a row at `ts`.
fn stored<'a>(id: &'a str, ts: i64, last: &mut LastId<'a>, out: &mut StringBuilder) {
    let form = match last {
        Some((before, form)) if *before == id => *form,
        _ => {
            let form = agent_form(id);
            *last = Some((id, form));
            form
        }
    };
    if let Some((start, random)) = form
        && let Some(age) = ts
            .checked_sub(start)
            .filter(|a| (0..=MAX_AGE_MS).contains(a))
    {
        // Written whole into one buffer and appended once: `write!` went through the
        // formatting machinery for each row of every flush (a third of the flusher's work
        // on ids), and a write per part cost a call each.
        let mut digits = [0u8; 20];
        let mut at = digits.len();
        let mut rest = age.unsigned_abs();
        loop {
            at -= 1;
            digits[at] = b'0' + (rest % 10) as u8;
            rest /= 10;
            if rest == 0 {
                break;
            }
        }
        // At most 11 digits (`MAX_AGE_MS`), the mark and the 10 characters of the random
        // part: all ASCII.
        let mut text = [0u8; 32];
        let digits = &digits[at..];
        let mut end = digits.len();
        text[..end].copy_from_slice(digits);
        text[end] = RELATIVE as u8;
        end += 1;
        text[end..end + random.len()].copy_from_slice(random.as_bytes());
        end += random.len();
        match std::str::from_utf8(&text[..end]) {
            Ok(value) => out.append_value(value),
            Err(_) => out.append_value(id),
        }
    } else if id.contains(RELATIVE) || id.starts_with(ESCAPED) {
        let _ = out.write_char(ESCAPED);
        out.append_value(id);
    } else {
        out.append_value(id);
    }
}

/// Appends the whole id of one stored one of a row at `ts`.
fn whole_id(stored: &str, ts: i64, out: &mut StringBuilder) {
    if let Some(escaped) = stored.strip_prefix(ESCAPED) {
        out.append_value(escaped);
    } else if let Some((age, random)) = stored.split_once(RELATIVE)
        && let Ok(age) = age.parse::<i64>()
    {
        let _ = write!(out, "{:x}{random}", ts.wrapping_sub(age));
        out.append_value("");
    } else {
        out.append_value(stored);
    }
}

/// `ids` with each value rewritten by `map`, given its row's time.
fn rewrite_ids<'a>(
    ids: &'a dyn Array,
    ts: &Int64Array,
    mut map: impl FnMut(&'a str, i64, &mut StringBuilder),
) -> Option<ArrayRef> {
    let ids = ids.as_string_opt::<i32>()?;
    let mut builder = StringBuilder::with_capacity(ids.len(), ids.value_data().len());
    for row in 0..ids.len() {
        if ids.is_null(row) || ts.is_null(row) {
            builder.append_option(ids.is_valid(row).then(|| ids.value(row)));
        } else {
            map(ids.value(row), ts.value(row), &mut builder);
        }
    }
    Some(Arc::new(builder.finish()))
}

/// `batch` with its session ids rewritten by `map` (a batch without both columns, as
/// Utf8 and Int64, is returned as it is).
fn rewrite<'a>(
    batch: &'a RecordBatch,
    map: impl FnMut(&'a str, i64, &mut StringBuilder),
) -> Result<RecordBatch, ArrowError> {
    let schema = batch.schema();
    let (Ok(index), Some(ts)) = (
        schema.index_of(COLUMN),
        batch
            .column_by_name(TS)
            .and_then(|c| c.as_any().downcast_ref::<Int64Array>()),
    ) else {
        return Ok(batch.clone());
    };
    let Some(ids) = rewrite_ids(batch.column(index).as_ref(), ts, map) else {
        return Ok(batch.clone());
    };
    let mut columns = batch.columns().to_vec();
    columns[index] = ids;
    RecordBatch::try_new(schema, columns)
}

/// Rows as a segment stores them: session ids relative to their row's time.
pub fn relative(batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
    let mut last = None;
    rewrite(batch, |id, ts, out| stored(id, ts, &mut last, out))
}

/// Rows read from a segment with their whole session ids.
pub fn whole(batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
    rewrite(batch, whole_id)
}

/// Whether a whole id would read as another one if stored as it is (a segment written
/// before ids were stored relative, holding such an id, must be rewritten).
pub fn has_marks(id: &str) -> bool {
    id.contains(RELATIVE) || id.starts_with(ESCAPED)
}

/// `vigil_session_id(stored_session_id, ts)`: the whole session id of a segment's row,
/// for a query reading the segment's columns as they are stored.
pub fn whole_udf() -> ScalarUDF {
    create_udf(
        UDF,
        vec![DataType::Utf8, DataType::Int64],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let ts = arrays[1].as_primitive::<datafusion::arrow::datatypes::Int64Type>();
            let ids = rewrite_ids(arrays[0].as_ref(), ts, whole_id).ok_or_else(|| {
                datafusion::error::DataFusionError::Internal(format!("{UDF} takes Utf8 ids"))
            })?;
            Ok(ColumnarValue::Array(ids))
        }),
    )
}

/// The SQL expression of the whole session id of a segment's row.
pub fn whole_sql() -> String {
    format!("{UDF}(\"{COLUMN}\", \"{TS}\")")
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::StringArray;
    use datafusion::arrow::datatypes::{Field, Schema};

    fn batch(rows: &[(Option<&str>, i64)]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new(COLUMN, DataType::Utf8, true),
            Field::new(TS, DataType::Int64, false),
        ]));
        let ids: StringArray = rows.iter().map(|r| r.0).collect();
        let ts: Int64Array = rows.iter().map(|r| Some(r.1)).collect();
        RecordBatch::try_new(schema, vec![Arc::new(ids), Arc::new(ts)]).unwrap()
    }

    fn ids(batch: &RecordBatch) -> Vec<Option<String>> {
        let c = batch.column_by_name(COLUMN).unwrap().as_string::<i32>();
        c.iter().map(|v| v.map(str::to_owned)).collect()
    }

    /// Every id a client can send comes back the same, and only the agent's form within
    /// its age is shortened.
    #[test]
    fn any_session_id_comes_back_whole() {
        let start = 0x1a2b3c4d5e6i64;
        let agent = "1a2b3c4d5e69f3a0c1e2b";
        let rows = [
            (Some(agent), start),
            (Some(agent), start + 61_000),
            (Some(agent), start + MAX_AGE_MS),
            (Some(agent), start + MAX_AGE_MS + 1),
            (Some(agent), start - 1),
            (Some(agent), i64::MIN),
            (Some(agent), i64::MAX),
            (Some("0a2b3c4d5e69f3a0c1e2b"), start),
            (Some("1A2B3C4D5E69F3A0C1E2B"), start),
            (Some("1a2b3c4d5e69f3a0c1e2"), start),
            (Some("1a2b3c4d5e69f3a0c1e2bb"), start),
            (Some("9b2f4c1e-6d3a-4f8e-b5a7-2c0d1e9f8a34"), start),
            (Some("0.9f3a0c1e2b"), start),
            (Some("~x"), start),
            (Some("."), start),
            (Some(""), start),
            (Some("ünï.cødé"), start),
            (None, start),
        ];
        let original = batch(&rows);
        let stored = relative(&original).unwrap();
        assert_eq!(
            ids(&stored),
            [
                Some("0.9f3a0c1e2b"),
                Some("61000.9f3a0c1e2b"),
                Some("10000000000.9f3a0c1e2b"),
                Some(agent),
                Some(agent),
                Some(agent),
                Some(agent),
                Some("0a2b3c4d5e69f3a0c1e2b"),
                Some("1A2B3C4D5E69F3A0C1E2B"),
                Some("1a2b3c4d5e69f3a0c1e2"),
                Some("1a2b3c4d5e69f3a0c1e2bb"),
                Some("9b2f4c1e-6d3a-4f8e-b5a7-2c0d1e9f8a34"),
                Some("~0.9f3a0c1e2b"),
                Some("~~x"),
                Some("~."),
                Some(""),
                Some("~ünï.cødé"),
                None,
            ]
            .map(|v| v.map(str::to_owned))
        );
        assert_eq!(whole(&stored).unwrap(), original);
    }

    /// A batch without both columns is left as it is.
    #[test]
    fn tables_without_session_ids_are_untouched() {
        let schema = Arc::new(Schema::new(vec![Field::new(COLUMN, DataType::Utf8, true)]));
        let ids: StringArray = [Some("0.1")].into_iter().collect();
        let b = RecordBatch::try_new(schema, vec![Arc::new(ids)]).unwrap();
        assert_eq!(relative(&b).unwrap(), b);
        assert_eq!(whole(&b).unwrap(), b);
    }
}
