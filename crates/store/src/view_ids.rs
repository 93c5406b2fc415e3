//! View ids stored relative to their session's id.
//!
//! The browser agent names a view after its session: `{session_id}-{8 hex}`. Stored whole,
//! a random 64-bit id costs 9 bytes a row in Parquet; a row already holds its session id,
//! so a segment keeps only the part after it (`-{8 hex}`, about 5.5 bytes). Nothing is
//! lost, whatever a client sends:
//!
//! - `view_id` = `session_id` + `-` + rest: stored as `-` + rest;
//! - any other view id that starts with `-` or `~`: stored as `~` + view id;
//! - any other view id, or a row without a session id: stored as it is.
//!
//! Readers of segments turn them back: the store's scans with [`absolute`], the query
//! layer with [`absolute_sql`]. Memory and the log hold whole ids; only segments hold the
//! relative form, written by a flush ([`relative`]) and copied as they are by merges.

use datafusion::arrow::array::{RecordBatch, StringBuilder};
use datafusion::arrow::error::ArrowError;
use std::fmt::Write;

/// The column that is stored relative to [`SESSION`].
pub const VIEW: &str = "view_id";
/// The column a view id is relative to.
pub const SESSION: &str = "session_id";

/// Marks a stored view id as the part after its session's id.
const RELATIVE: char = '-';
/// Marks a stored view id that would otherwise read as relative.
const ESCAPED: char = '~';

/// Appends the stored form of one view id.
fn stored(view: &str, session: Option<&str>, out: &mut StringBuilder) {
    if let Some(rest) = session.and_then(|s| view.strip_prefix(s))
        && rest.starts_with(RELATIVE)
    {
        out.append_value(rest);
    } else if view.starts_with([RELATIVE, ESCAPED]) {
        let _ = out.write_char(ESCAPED);
        out.append_value(view);
    } else {
        out.append_value(view);
    }
}

/// Appends the whole view id of one stored one.
fn whole(stored: &str, session: Option<&str>, out: &mut StringBuilder) {
    if let Some(escaped) = stored.strip_prefix(ESCAPED) {
        out.append_value(escaped);
    } else if stored.starts_with(RELATIVE) {
        // Written into the builder's buffer in two pieces, then ended as one value: no
        // String per row.
        let _ = out.write_str(session.unwrap_or(""));
        out.append_value(stored);
    } else {
        out.append_value(stored);
    }
}

/// Rows as a segment stores them: view ids relative to their session's.
pub fn relative(batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
    crate::paired::rewrite(batch, VIEW, SESSION, stored)
}

/// Rows read from a segment with their whole view ids.
pub fn absolute(batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
    crate::paired::rewrite(batch, VIEW, SESSION, whole)
}

/// The SQL expression of the whole view id of a segment's row, for a query reading the
/// segment's columns as they are stored, given the SQL of the row's whole session id.
/// (`overlay` drops the escape: `substr` is in DataFusion's unicode functions, which the
/// build leaves out.)
pub fn absolute_sql(session: &str) -> String {
    format!(
        "CASE WHEN starts_with(\"{VIEW}\", '{RELATIVE}') THEN concat({session}, \"{VIEW}\") \
         WHEN starts_with(\"{VIEW}\", '{ESCAPED}') THEN overlay(\"{VIEW}\", '', 1, 1) \
         ELSE \"{VIEW}\" END"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::StringArray;
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;

    fn batch(rows: &[(Option<&str>, Option<&str>)]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new(SESSION, DataType::Utf8, true),
            Field::new(VIEW, DataType::Utf8, true),
        ]));
        let sessions: StringArray = rows.iter().map(|r| r.0).collect();
        let views: StringArray = rows.iter().map(|r| r.1).collect();
        RecordBatch::try_new(schema, vec![Arc::new(sessions), Arc::new(views)]).unwrap()
    }

    fn views(batch: &RecordBatch) -> Vec<Option<String>> {
        batch
            .column_by_name(VIEW)
            .unwrap()
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap()
            .iter()
            .map(|v| v.map(str::to_owned))
            .collect()
    }

    /// Every kind of id a client can send comes back the same, and only the agent's form
    /// is shortened.
    #[test]
    fn any_view_id_comes_back_whole() {
        let rows = [
            (Some("0123456789abcdef"), Some("0123456789abcdef-89abcdef")),
            (Some("0123456789abcdef"), Some("fedcba9876543210")),
            (Some("0123456789abcdef"), Some("-89abcdef")),
            (Some("0123456789abcdef"), Some("~89abcdef")),
            (Some("0123456789abcdef"), Some("~~-")),
            (Some("0123456789abcdef"), Some("0123456789abcdef")),
            (Some("0123456789abcdef"), Some("0123456789abcdef-")),
            (Some("0123456789abcdef"), Some("0123456789abcdefx-1")),
            (Some("0123456789abcdef"), Some("")),
            (Some(""), Some("-1")),
            (Some(""), Some("x")),
            (None, Some("-1")),
            (None, Some("~1")),
            (None, Some("1")),
            (Some("s"), None),
            (None, None),
        ];
        let original = batch(&rows);
        let stored = relative(&original).unwrap();
        assert_eq!(
            views(&stored),
            [
                Some("-89abcdef"),
                Some("fedcba9876543210"),
                Some("~-89abcdef"),
                Some("~~89abcdef"),
                Some("~~~-"),
                Some("0123456789abcdef"),
                Some("-"),
                Some("0123456789abcdefx-1"),
                Some(""),
                Some("-1"),
                Some("x"),
                Some("~-1"),
                Some("~~1"),
                Some("1"),
                None,
                None,
            ]
            .map(|v| v.map(str::to_owned))
        );
        assert_eq!(absolute(&stored).unwrap(), original);
    }

    /// A batch without both columns (a table with no view id) is left as it is.
    #[test]
    fn tables_without_view_ids_are_untouched() {
        let schema = Arc::new(Schema::new(vec![Field::new(VIEW, DataType::Utf8, true)]));
        let views: StringArray = [Some("-1")].into_iter().collect();
        let b = RecordBatch::try_new(schema, vec![Arc::new(views)]).unwrap();
        assert_eq!(relative(&b).unwrap(), b);
        assert_eq!(absolute(&b).unwrap(), b);
    }
}
