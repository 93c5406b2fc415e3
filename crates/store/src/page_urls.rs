//! Page URLs stored without their path.
//!
//! Every row that has a page URL also has its path (`page_path`, derived from the URL at
//! intake), so the path is stored twice: 0.7 byte a page view on `vigil bench query`. A
//! segment keeps the URL with its path cut out and a mark in its place, which leaves
//! nearly every URL of a site the same few strings (its origins) and costs almost nothing.
//! Nothing is lost, whatever a client sends:
//!
//! - a URL that holds its path after the `://` (or anywhere, without one): stored with the
//!   first such place replaced by [`PATH_HERE`];
//! - a URL that holds [`PATH_HERE`] or starts with [`ESCAPED`]: stored as [`ESCAPED`] + URL;
//! - any other URL, or a row without a path: stored as it is.
//!
//! Readers of segments turn them back: the store's scans with [`whole`], the query layer
//! with [`whole_sql`]. Memory and the log hold whole URLs; only segments hold this form,
//! written by a flush ([`without_paths`]) and copied as they are by merges.

use datafusion::arrow::array::{RecordBatch, StringBuilder};
use datafusion::arrow::error::ArrowError;
use std::fmt::Write;

/// The column stored without its path.
pub const URL: &str = "page_url";
/// The column holding the path.
pub const PATH: &str = "page_path";

/// Stands where the path was cut out of a stored URL.
const PATH_HERE: char = '\u{1}';
/// Marks a stored URL that is the whole URL after it.
const ESCAPED: char = '\u{2}';

/// Whether a whole URL holds a mark of the stored form (a segment written before URLs were
/// stored without their path, with such a URL, must be rewritten to read back the same).
pub fn has_marks(url: &str) -> bool {
    url.contains([PATH_HERE, ESCAPED])
}

/// Appends the stored form of one URL.
fn stored(url: &str, path: Option<&str>, out: &mut StringBuilder) {
    if url.contains(PATH_HERE) || url.starts_with(ESCAPED) {
        let _ = out.write_char(ESCAPED);
        out.append_value(url);
        return;
    }
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let at = path.filter(|p| !p.is_empty()).and_then(|p| {
        url[after_scheme..]
            .find(p)
            .map(|i| (after_scheme + i, p.len()))
    });
    match at {
        Some((start, len)) => {
            let _ = out.write_str(&url[..start]);
            let _ = out.write_char(PATH_HERE);
            out.append_value(&url[start + len..]);
        }
        None => out.append_value(url),
    }
}

/// Appends the whole URL of one stored one.
fn whole_url(stored: &str, path: Option<&str>, out: &mut StringBuilder) {
    if let Some(escaped) = stored.strip_prefix(ESCAPED) {
        out.append_value(escaped);
    } else if let (Some((before, after)), Some(path)) = (stored.split_once(PATH_HERE), path) {
        let _ = out.write_str(before);
        let _ = out.write_str(path);
        out.append_value(after);
    } else {
        out.append_value(stored);
    }
}

/// Rows as a segment stores them: page URLs without their path.
pub fn without_paths(batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
    crate::paired::rewrite(batch, URL, PATH, stored)
}

/// Rows read from a segment with their whole page URLs.
pub fn whole(batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
    crate::paired::rewrite(batch, URL, PATH, whole_url)
}

/// The SQL expression of the whole page URL of a segment's row, for a query reading the
/// segment's columns as they are stored. A stored URL holds [`PATH_HERE`] only where a
/// path was cut out, so replacing every one is replacing that one.
pub fn whole_sql() -> String {
    format!(
        "CASE WHEN starts_with(\"{URL}\", chr({escaped})) THEN overlay(\"{URL}\", '', 1, 1) \
         WHEN \"{PATH}\" IS NULL THEN \"{URL}\" \
         ELSE replace(\"{URL}\", chr({here}), \"{PATH}\") END",
        escaped = ESCAPED as u32,
        here = PATH_HERE as u32,
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
            Field::new(URL, DataType::Utf8, true),
            Field::new(PATH, DataType::Utf8, true),
        ]));
        let urls: StringArray = rows.iter().map(|r| r.0).collect();
        let paths: StringArray = rows.iter().map(|r| r.1).collect();
        RecordBatch::try_new(schema, vec![Arc::new(urls), Arc::new(paths)]).unwrap()
    }

    fn urls(batch: &RecordBatch) -> Vec<Option<String>> {
        let c = batch.column_by_name(URL).unwrap();
        let c = c.as_any().downcast_ref::<StringArray>().unwrap();
        c.iter().map(|v| v.map(str::to_owned)).collect()
    }

    /// Every URL a client can send comes back the same; those that hold their path after
    /// the scheme are stored without it.
    #[test]
    fn any_page_url_comes_back_whole() {
        let rows = [
            (Some("https://shop.example.com/"), Some("/")),
            (Some("https://shop.example.com/p/1?x=/p/1#h"), Some("/p/1")),
            (Some("https://shop.example.com"), Some("/")),
            (Some("https://a.example/b"), Some("/c")),
            (Some("https://a.example/b"), Some("")),
            (Some("https://a.example/b"), None),
            (Some("/relative/x?y"), Some("/relative/x")),
            (Some("a\u{1}b/p"), Some("/p")),
            (Some("\u{2}https://x/p"), Some("/p")),
            (Some("\u{2}"), None),
            (Some(""), Some("/")),
            (Some("ünïcødé://höst/päth"), Some("/päth")),
            (None, Some("/")),
            (None, None),
        ];
        let original = batch(&rows);
        let stored = without_paths(&original).unwrap();
        assert_eq!(
            urls(&stored),
            [
                Some("https://shop.example.com\u{1}"),
                Some("https://shop.example.com\u{1}?x=/p/1#h"),
                Some("https://shop.example.com"),
                Some("https://a.example/b"),
                Some("https://a.example/b"),
                Some("https://a.example/b"),
                Some("\u{1}?y"),
                Some("\u{2}a\u{1}b/p"),
                Some("\u{2}\u{2}https://x/p"),
                Some("\u{2}\u{2}"),
                Some(""),
                Some("ünïcødé://höst\u{1}"),
                None,
                None,
            ]
            .map(|v| v.map(str::to_owned))
        );
        assert_eq!(whole(&stored).unwrap(), original);
    }

    /// Runs of the same URL and path (rows of one page in segment order) are stored as each
    /// row alone is, also when only the path or only the URL changes, or a null breaks in.
    #[test]
    fn runs_of_one_page_are_stored_as_single_rows_are() {
        let a = (Some("https://s.example/a?q=1"), Some("/a"));
        let rows = [
            a,
            a,
            (Some("https://s.example/a?q=1"), Some("/q")),
            (Some("https://s.example/a?q=1"), None),
            (None, None),
            (Some("https://s.example/a?q=1"), None),
            a,
            (Some("https://s.example/b?q=1"), Some("/a")),
            (Some("\u{2}x/a"), Some("/a")),
            (Some("\u{2}x/a"), Some("/a")),
            a,
        ];
        let stored = urls(&without_paths(&batch(&rows)).unwrap());
        let one_by_one: Vec<Option<String>> = rows
            .iter()
            .flat_map(|row| urls(&without_paths(&batch(&[*row])).unwrap()))
            .collect();
        assert_eq!(stored, one_by_one);
        assert_eq!(stored[0].as_deref(), Some("https://s.example\u{1}?q=1"));
        assert_eq!(stored[2].as_deref(), Some("https://s.example/a?q=1"));
        assert_eq!(
            whole(&without_paths(&batch(&rows)).unwrap()).unwrap(),
            batch(&rows)
        );
    }

    /// A batch without both columns (a table with no page) is left as it is.
    #[test]
    fn tables_without_pages_are_untouched() {
        let schema = Arc::new(Schema::new(vec![Field::new(URL, DataType::Utf8, true)]));
        let urls: StringArray = [Some("\u{1}")].into_iter().collect();
        let b = RecordBatch::try_new(schema, vec![Arc::new(urls)]).unwrap();
        assert_eq!(without_paths(&b).unwrap(), b);
        assert_eq!(whole(&b).unwrap(), b);
    }
}
