//! Encoded rows from an enriched batch's events, column by column, by the declarations.

use super::codec::{
    BOOL, CONSTANT, ColumnPlace, INT, SectionPlace, TEXT, VALUES, put_str, put_varint, tag_of,
    zigzag,
};
use crate::field::{Extract, Field, Kind, Row, Type};
use crate::scrub::{scrubbed_message, scrubbed_url};
use crate::table::Table;
use std::borrow::Cow;
use std::rc::Rc;
use std::sync::OnceLock;

/// A text value on its way into the encoding: borrowed from the event, made for this row,
/// or one scrubbed context value shared by every row.
#[derive(Clone)]
enum Text<'a> {
    Own(Cow<'a, str>),
    Shared(Rc<str>),
}

impl Text<'_> {
    fn as_str(&self) -> &str {
        match self {
            Text::Own(v) => v,
            Text::Shared(v) => v,
        }
    }
}

impl PartialEq for Text<'_> {
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (self.as_str(), other.as_str());
        // A context value is one string shared by every row: the same bytes need no compare.
        std::ptr::eq(a, b) || a == b
    }
}

/// What the column's kind does to a text value before it is stored; a value borrowed from
/// the event stays borrowed when scrubbing leaves it as it was.
fn scrubbed<'a>(kind: Kind, value: Cow<'a, str>) -> Cow<'a, str> {
    let scrub = match kind {
        Kind::Url => scrubbed_url,
        Kind::Message => scrubbed_message,
        _ => return value,
    };
    match value {
        Cow::Borrowed(v) => scrub(v),
        Cow::Owned(v) => {
            let replaced = match scrub(&v) {
                Cow::Owned(replaced) => Some(replaced),
                Cow::Borrowed(_) => None,
            };
            Cow::Owned(replaced.unwrap_or(v))
        }
    }
}

/// Per table, per column: whether a later column is derived from it.
fn derive_sources() -> &'static [Vec<bool>] {
    static SOURCES: OnceLock<Vec<Vec<bool>>> = OnceLock::new();
    SOURCES.get_or_init(|| {
        Table::ALL
            .iter()
            .map(|t| {
                t.columns()
                    .iter()
                    .map(|c| {
                        t.columns()
                            .iter()
                            .any(|d| d.derive.is_some_and(|(from, _)| from == c.name))
                    })
                    .collect()
            })
            .collect()
    })
}

/// How rows are read and written; the default is intake's, the others are for tests to
/// compare encodings with.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Reading {
    /// Read even a context column row by row, as rows of many contexts are read.
    pub(crate) per_row_context: bool,
    /// Write every column through the scratch buffers of its type, as sources and derived
    /// columns are.
    pub(crate) all_through_buffers: bool,
}

/// Buffers reused from column to column and from table to table of one batch: buffers
/// made per column or table, for every request, were among the largest sources of calls
/// into glibc's allocator, which took a tenth of the server's CPU during ingest.
pub(crate) struct Scratch<'a> {
    text: Vec<Option<Text<'a>>>,
    ints: Vec<Option<i64>>,
    bools: Vec<Option<bool>>,
    /// The stored values of the columns others derive from, by column name (of the table
    /// being encoded).
    sources: Vec<(&'static str, Vec<Option<Text<'a>>>)>,
    /// Buffers of earlier tables' sources, for the next ones.
    spare: Vec<Vec<Option<Text<'a>>>>,
    /// The section being written, before its column count.
    pub(crate) body: Vec<u8>,
    /// How the batch is read (intake's way but in tests).
    pub(crate) how: Reading,
    /// A column's values as [`encode_values`] writes them, before they are copied after
    /// its layout.
    values: Vec<u8>,
    /// Their validity, one bit a row.
    validity: Vec<u8>,
}

/// The buffers of a [`Scratch`] that hold no borrowed values, kept by each thread from one
/// batch to the next: made and freed for every request, they took 0.7% of the server's
/// instructions during ingest (`make bench-instructions`).
#[derive(Default)]
struct Kept {
    ints: Vec<Option<i64>>,
    bools: Vec<Option<bool>>,
    body: Vec<u8>,
    values: Vec<u8>,
    validity: Vec<u8>,
}

/// The most bytes a kept buffer may hold: a batch far larger than most leaves its buffers
/// to be freed, not held by the thread.
const KEPT_BYTES: usize = 256 * 1024;

thread_local! {
    static KEPT: std::cell::Cell<Option<Kept>> = const { std::cell::Cell::new(None) };
}

impl Default for Scratch<'_> {
    fn default() -> Self {
        let kept = KEPT
            .try_with(std::cell::Cell::take)
            .ok()
            .flatten()
            .unwrap_or_default();
        Scratch {
            text: Vec::new(),
            ints: kept.ints,
            bools: kept.bools,
            sources: Vec::new(),
            spare: Vec::new(),
            body: kept.body,
            how: Reading::default(),
            values: kept.values,
            validity: kept.validity,
        }
    }
}

impl Drop for Scratch<'_> {
    fn drop(&mut self) {
        fn bytes<T>(v: &Vec<T>) -> usize {
            v.capacity() * std::mem::size_of::<T>()
        }
        let mut kept = Kept {
            ints: std::mem::take(&mut self.ints),
            bools: std::mem::take(&mut self.bools),
            body: std::mem::take(&mut self.body),
            values: std::mem::take(&mut self.values),
            validity: std::mem::take(&mut self.validity),
        };
        let small = [
            bytes(&kept.ints),
            bytes(&kept.bools),
            bytes(&kept.body),
            bytes(&kept.values),
            bytes(&kept.validity),
        ]
        .iter()
        .all(|&b| b <= KEPT_BYTES);
        if small {
            kept.ints.clear();
            kept.bools.clear();
            kept.body.clear();
            kept.values.clear();
            kept.validity.clear();
            // A thread that is ending has no batch to keep them for.
            let _ = KEPT.try_with(|k| k.set(Some(kept)));
        }
    }
}

/// The bytes of the buffers this thread keeps (see [`Kept`]).
#[cfg(test)]
pub(crate) fn kept_bytes() -> usize {
    fn bytes<T>(v: &Vec<T>) -> usize {
        v.capacity() * std::mem::size_of::<T>()
    }
    let kept = KEPT.with(std::cell::Cell::take).unwrap_or_default();
    let total = bytes(&kept.ints)
        + bytes(&kept.bools)
        + bytes(&kept.body)
        + bytes(&kept.values)
        + bytes(&kept.validity);
    KEPT.with(|k| k.set(Some(kept)));
    total
}

impl Scratch<'_> {
    /// Ready for the next table: its columns are not the last one's sources.
    fn next_table(&mut self) {
        let sources = self.sources.drain(..).map(|(_, mut values)| {
            values.clear();
            values
        });
        self.spare.extend(sources);
        self.body.clear();
    }

    /// Room for the values of a column of `rows` rows (the most a table of the batch has).
    pub(crate) fn reserve(&mut self, rows: usize) {
        self.values.reserve(rows * 16);
        self.validity.reserve(rows.div_ceil(8));
    }

    /// Keeps the values in `text` as the column `name`'s, for the columns derived from it.
    fn keep_source(&mut self, name: &'static str) {
        let mut values = self.spare.pop().unwrap_or_default();
        values.extend_from_slice(&self.text);
        self.sources.push((name, values));
    }
}

/// The common columns (a browser batch's context, mostly) that hold one value in every row
/// of a batch's event tables, or none in any: written once, before the tables, instead of
/// once per table (see [`super::codec`]).
pub(crate) struct SharedColumns {
    /// Per common column: whether it is settled here (constant or absent everywhere), so
    /// that the tables leave it out.
    settled: Vec<bool>,
    /// The written columns: (index among the common columns, type tag, where the value
    /// lies in the encoded rows, its text bytes), for the places of each event table.
    written: Vec<(usize, u8, (usize, usize), usize)>,
}

impl SharedColumns {
    fn is_settled(&self, column: usize) -> bool {
        self.settled.get(column).copied().unwrap_or(false)
    }
}

/// Appends the shared section (the constant common columns of `rows`, every row of the
/// batch's event tables) to `out`, and says which columns it settled.
pub(crate) fn encode_shared<'a>(
    s: &mut Scratch<'a>,
    out: &mut Vec<u8>,
    rows: &[Row<'a>],
) -> SharedColumns {
    let common = &crate::declare::COMMON_COLUMNS[..];
    let mut shared = SharedColumns {
        settled: vec![false; common.len()],
        written: Vec::new(),
    };
    if rows.is_empty() {
        put_varint(out, 0);
        return shared;
    }
    s.next_table();
    let mut body = std::mem::take(&mut s.body);
    let mut written = 0u64;
    // Event tables start with the common columns, and only common columns derive from
    // them (a test checks): any event table's flags serve.
    let sources = &derive_sources()[Table::Views as usize][..common.len()];
    let one_context = !s.how.per_row_context && one_context(rows);
    let mut places = Vec::new();
    for (index, ((field, is_source), settled)) in common
        .iter()
        .zip(sources)
        .zip(&mut shared.settled)
        .enumerate()
    {
        let before = body.len();
        put_str(&mut body, field.name);
        if one_context && read_once(field, *is_source) {
            // One value for every row: written as it is read, or not at all.
            *settled = true;
            let tag = tag_of(field);
            body.push(tag);
            let start = body.len();
            match put_context_value(&mut body, field, &rows[0]) {
                Some(text_bytes) => {
                    places.push((index, tag, (start, body.len()), text_bytes));
                    written += 1;
                }
                None => body.truncate(before),
            }
            continue;
        }
        let tag = fill(s, field, *is_source, rows, one_context);
        body.push(tag);
        let start = body.len();
        let mut text_bytes = 0;
        let value = match tag {
            TEXT => constant(&s.text).map(|v| {
                v.map(|v| {
                    text_bytes = v.as_str().len();
                    put_str(&mut body, v.as_str())
                })
            }),
            INT => constant(&s.ints).map(|v| v.map(|v| put_varint(&mut body, zigzag(*v)))),
            _ => constant(&s.bools).map(|v| v.map(|v| body.push(u8::from(*v)))),
        };
        match value {
            // Differs between rows: each table writes its own.
            None => body.truncate(before),
            // No row has a value: no table writes it.
            Some(None) => {
                *settled = true;
                body.truncate(before);
            }
            Some(Some(())) => {
                *settled = true;
                places.push((index, tag, (start, body.len()), text_bytes));
                written += 1;
            }
        }
    }
    put_varint(out, written);
    let base = out.len();
    out.extend_from_slice(&body);
    shared.written = places
        .into_iter()
        .map(|(index, tag, (start, end), text)| (index, tag, (base + start, base + end), text))
        .collect();
    s.body = body;
    shared
}

/// `Some(Some(v))` when every value is `v`, `Some(None)` when there is none, `None` when
/// they differ.
fn constant<T: PartialEq>(values: &[Option<T>]) -> Option<Option<&T>> {
    let first = values.first()?.as_ref();
    values.iter().all(|v| v.as_ref() == first).then_some(first)
}

/// Appends one table's section (`rows` all belong to it) to `out`, without the common
/// columns `shared` settled; returns where its columns lie in `out` (shared ones included,
/// as [`super::codec::parse`] gives them) and about the bytes its rows take as Arrow arrays.
pub(crate) fn encode_table<'a>(
    s: &mut Scratch<'a>,
    out: &mut Vec<u8>,
    columns: &mut Vec<ColumnPlace>,
    table: Table,
    rows: &[Row<'a>],
    shared: &SharedColumns,
) -> SectionPlace {
    put_str(out, table.name());
    put_varint(out, rows.len() as u64);
    s.next_table();
    let mut body = std::mem::take(&mut s.body);
    let mut present = 0u64;
    let sources = &derive_sources()[table as usize];
    let one_context = !s.how.per_row_context && one_context(rows);
    // This section's places go after the batch's earlier sections' in one list.
    let first = columns.len();
    for (i, (field, is_source)) in table.columns().iter().zip(sources).enumerate() {
        if table.is_event() && shared.is_settled(i) {
            continue;
        }
        let one_pass = !*is_source
            && field.derive.is_none()
            && (!one_context || !field.context_only)
            && !s.how.all_through_buffers;
        if one_pass {
            // The name only when a row has a value: most columns of a table have none.
            if let Some(found) = encode_values(s, field, rows) {
                put_str(&mut body, field.name);
                let tag = tag_of(field);
                let (layout, text_bytes) = found.put(&mut body, tag, s, rows.len());
                present += 1;
                columns.push(layout.place(i, tag, text_bytes));
            }
            continue;
        }
        let before = body.len();
        put_str(&mut body, field.name);
        if one_context && read_once(field, *is_source) {
            let tag = tag_of(field);
            body.extend_from_slice(&[tag, CONSTANT]);
            let start = body.len();
            match put_context_value(&mut body, field, &rows[0]) {
                Some(text_bytes) => {
                    present += 1;
                    columns.push(ColumnPlace {
                        index: i,
                        tag,
                        constant: true,
                        validity: None,
                        values: (start, body.len()),
                        text_bytes: text_bytes * rows.len(),
                    });
                }
                None => body.truncate(before),
            }
            continue;
        }
        let tag = fill(s, field, *is_source, rows, one_context);
        let mut text_bytes = 0;
        let layout = match tag {
            TEXT => {
                text_bytes = s
                    .text
                    .iter()
                    .map(|v| v.as_ref().map_or(0, |v| v.as_str().len()))
                    .sum::<usize>();
                write_column(&mut body, TEXT, &s.text, |out, v| put_str(out, v.as_str()))
            }
            INT => write_column(&mut body, INT, &s.ints, |out, v| {
                put_varint(out, zigzag(*v))
            }),
            _ => write_column(&mut body, BOOL, &s.bools, |out, v| out.push(u8::from(*v))),
        };
        match layout {
            Some(layout) => {
                present += 1;
                columns.push(layout.place(i, tag, text_bytes));
            }
            None => body.truncate(before),
        }
    }
    put_varint(out, present);
    let base = out.len();
    out.extend_from_slice(&body);
    s.body = body;
    let shift = |(start, end): (usize, usize)| (base + start, base + end);
    for column in &mut columns[first..] {
        column.validity = column.validity.map(shift);
        column.values = shift(column.values);
    }
    if table.is_event() {
        columns.extend(
            shared
                .written
                .iter()
                .map(|&(index, tag, values, text)| ColumnPlace {
                    index,
                    tag,
                    constant: true,
                    validity: None,
                    values,
                    text_bytes: text * rows.len(),
                }),
        );
    }
    SectionPlace::new(table, rows.len(), (first, columns.len()), columns)
}

/// What [`encode_values`] saw of a column's values as it wrote them.
struct Encoded {
    /// Where the first present value lies in [`Scratch::values`].
    first: (usize, usize),
    /// Whether every present value is the first one, byte for byte.
    all_equal: bool,
    /// Whether some row has no value.
    any_null: bool,
    /// The bytes of text over all rows.
    text_bytes: usize,
}

impl Encoded {
    /// Writes the column's type, layout and values after its name, as [`write_column`]
    /// writes them; returns where they went and the column's text bytes.
    fn put(&self, out: &mut Vec<u8>, tag: u8, s: &Scratch<'_>, rows: usize) -> (Layout, usize) {
        out.push(tag);
        if self.all_equal && !self.any_null {
            out.push(CONSTANT);
            let start = out.len();
            out.extend_from_slice(&s.values[self.first.0..self.first.1]);
            let layout = Layout {
                constant: true,
                validity: None,
                values: (start, out.len()),
            };
            return (layout, self.text_bytes);
        }
        out.extend_from_slice(&[VALUES, u8::from(self.any_null)]);
        let mut validity = None;
        if self.any_null {
            let start = out.len();
            out.extend_from_slice(&s.validity[..rows.div_ceil(8)]);
            validity = Some((start, out.len()));
        }
        let start = out.len();
        out.extend_from_slice(&s.values);
        let layout = Layout {
            constant: false,
            validity,
            values: (start, out.len()),
        };
        (layout, self.text_bytes)
    }
}

/// Takes, scrubs and encodes one column's values for `rows` in one pass, into
/// [`Scratch::values`] as a column of differing values lays them out (a row without one as
/// its 0 byte) and their validity into [`Scratch::validity`]; `None` when no row has one.
/// For a column that is no other's source and not derived: those go through [`fill`].
fn encode_values<'a>(s: &mut Scratch<'a>, field: &Field, rows: &[Row<'a>]) -> Option<Encoded> {
    let values = &mut s.values;
    let validity = &mut s.validity;
    values.clear();
    validity.clear();
    validity.resize(rows.len().div_ceil(8), 0);
    let mut first: Option<(usize, usize)> = None;
    let mut all_equal = true;
    let mut any_null = false;
    let mut text_bytes = 0;
    // After a row's value is written from `start`: its validity bit, and whether it is the
    // first value's bytes.
    let mut present = |values: &Vec<u8>, i: usize, start: usize| {
        validity[i / 8] |= 1 << (i % 8);
        match first {
            None => first = Some((start, values.len())),
            // Once two differ, the rest need no compare.
            Some((a, b)) if all_equal => all_equal = values[a..b] == values[start..],
            Some(_) => {}
        }
    };
    match (field.extract, field.ty) {
        (Extract::Str(extract), _) => {
            let scrubs = matches!(field.kind, Kind::Url | Kind::Message);
            // Context values are the same string in every row of a batch: scrubbed once,
            // then their encoding copied.
            let mut last: Option<(*const u8, usize, (usize, usize), usize)> = None;
            for (i, r) in rows.iter().enumerate() {
                let start = values.len();
                match extract(r) {
                    None => {
                        values.push(0);
                        any_null = true;
                        continue;
                    }
                    Some(Cow::Borrowed(v)) if scrubs => match last {
                        Some((ptr, len, (a, b), stored)) if ptr == v.as_ptr() && len == v.len() => {
                            values.extend_from_within(a..b);
                            text_bytes += stored;
                        }
                        _ => {
                            let out = scrubbed(field.kind, Cow::Borrowed(v));
                            put_str(values, &out);
                            text_bytes += out.len();
                            last = Some((v.as_ptr(), v.len(), (start, values.len()), out.len()));
                        }
                    },
                    Some(v) => {
                        let out = if scrubs { scrubbed(field.kind, v) } else { v };
                        put_str(values, &out);
                        text_bytes += out.len();
                    }
                }
                present(values, i, start);
            }
        }
        (Extract::F64(f), Type::Fixed(scale)) => {
            for (i, r) in rows.iter().enumerate() {
                let start = values.len();
                match f(r) {
                    Some(v) => put_varint(values, zigzag(fixed_point(v, scale))),
                    None => {
                        values.push(0);
                        any_null = true;
                        continue;
                    }
                }
                present(values, i, start);
            }
        }
        (Extract::F64(_), _) => unreachable!("numbers are stored as fixed point"),
        (Extract::I64(f), _) => {
            for (i, r) in rows.iter().enumerate() {
                let start = values.len();
                match f(r) {
                    Some(v) => put_varint(values, zigzag(v)),
                    None => {
                        values.push(0);
                        any_null = true;
                        continue;
                    }
                }
                present(values, i, start);
            }
        }
        (Extract::Bool(f), _) => {
            for (i, r) in rows.iter().enumerate() {
                let start = values.len();
                match f(r) {
                    Some(v) => values.push(u8::from(v)),
                    None => {
                        values.push(0);
                        any_null = true;
                        continue;
                    }
                }
                present(values, i, start);
            }
        }
    }
    Some(Encoded {
        first: first?,
        all_equal,
        any_null,
        text_bytes,
    })
}

/// Where [`write_column`] put a column's parts in its output.
struct Layout {
    constant: bool,
    validity: Option<(usize, usize)>,
    values: (usize, usize),
}

impl Layout {
    /// The place of the column at `index` of its table, of type `tag`, laid out so.
    fn place(self, index: usize, tag: u8, text_bytes: usize) -> ColumnPlace {
        ColumnPlace {
            index,
            tag,
            constant: self.constant,
            validity: self.validity,
            values: self.values,
            text_bytes,
        }
    }
}

/// Whether a column of rows that share one context is read once for all of them and
/// written as one value, with no per-row buffer: a column of the context alone that no
/// other column derives from. Most columns of a batch's shared section are such.
fn read_once(field: &Field, is_source: bool) -> bool {
    field.context_only && field.derive.is_none() && !is_source
}

/// Writes a [`read_once`] column's value, read from `row`, as the scratch path writes a
/// constant; `None` (nothing written) when it has none, else the text bytes it takes.
fn put_context_value(out: &mut Vec<u8>, field: &Field, row: &Row<'_>) -> Option<usize> {
    match (field.extract, field.ty) {
        (Extract::Str(extract), _) => {
            let value = scrubbed(field.kind, extract(row)?);
            put_str(out, &value);
            Some(value.len())
        }
        (Extract::F64(f), Type::Fixed(scale)) => {
            put_varint(out, zigzag(fixed_point(f(row)?, scale)));
            Some(0)
        }
        (Extract::F64(_), _) => unreachable!("numbers are stored as fixed point"),
        (Extract::I64(f), _) => {
            put_varint(out, zigzag(f(row)?));
            Some(0)
        }
        (Extract::Bool(f), _) => {
            out.push(u8::from(f(row)?));
            Some(0)
        }
    }
}

/// Whether every row is an event of one batch, whose context they then share.
fn one_context(rows: &[Row<'_>]) -> bool {
    let Some(Row::Event(first)) = rows.first() else {
        return false;
    };
    rows.iter()
        .all(|r| matches!(r, Row::Event(e) if std::ptr::eq(e.common, first.common)))
}

/// Takes one column's values for `rows` into the scratch buffer of its type (a source of
/// derived columns also into `sources`); returns the column's type tag. `one_context`
/// says [`one_context`] of `rows`: a column of the context alone is then read once.
fn fill<'a>(
    s: &mut Scratch<'a>,
    field: &Field,
    is_source: bool,
    rows: &[Row<'a>],
    one_context: bool,
) -> u8 {
    if one_context && field.context_only && field.derive.is_none() {
        return fill_from_context(s, field, is_source, rows);
    }
    match (field.extract, field.ty) {
        (Extract::Str(extract), _) => {
            fill_text(s, field, rows, extract);
            if is_source {
                s.keep_source(field.name);
            }
            TEXT
        }
        (Extract::F64(f), Type::Fixed(scale)) => {
            s.ints.clear();
            s.ints
                .extend(rows.iter().map(|r| f(r).map(|v| fixed_point(v, scale))));
            INT
        }
        (Extract::F64(_), _) => unreachable!("numbers are stored as fixed point"),
        (Extract::I64(f), _) => {
            s.ints.clear();
            s.ints.extend(rows.iter().map(f));
            INT
        }
        (Extract::Bool(f), _) => {
            s.bools.clear();
            s.bools.extend(rows.iter().map(f));
            BOOL
        }
    }
}

/// A number as its column stores it: `v × scale`, rounded.
fn fixed_point(v: f64, scale: i64) -> i64 {
    (v * scale as f64).round() as i64
}

/// [`fill`] for a column of the context alone, `rows` of one batch: one value for all.
fn fill_from_context<'a>(
    s: &mut Scratch<'a>,
    field: &Field,
    is_source: bool,
    rows: &[Row<'a>],
) -> u8 {
    let n = rows.len();
    match (field.extract, field.ty) {
        (Extract::Str(extract), _) => {
            let value = extract(&rows[0]).map(|v| match scrubbed(field.kind, v) {
                Cow::Borrowed(v) => Text::Own(Cow::Borrowed(v)),
                Cow::Owned(v) => Text::Shared(v.into()),
            });
            s.text.clear();
            s.text.resize(n, value);
            if is_source {
                s.keep_source(field.name);
            }
            TEXT
        }
        (Extract::F64(f), Type::Fixed(scale)) => {
            s.ints.clear();
            s.ints.resize(n, f(&rows[0]).map(|v| fixed_point(v, scale)));
            INT
        }
        (Extract::F64(_), _) => unreachable!("numbers are stored as fixed point"),
        (Extract::I64(f), _) => {
            s.ints.clear();
            s.ints.resize(n, f(&rows[0]));
            INT
        }
        (Extract::Bool(f), _) => {
            s.bools.clear();
            s.bools.resize(n, f(&rows[0]));
            BOOL
        }
    }
}

fn fill_text<'a>(
    s: &mut Scratch<'a>,
    field: &Field,
    rows: &[Row<'a>],
    extract: crate::field::StrFn,
) {
    let scrubs = matches!(field.kind, Kind::Url | Kind::Message);
    let source = field
        .derive
        .and_then(|(from, derive)| Some((s.sources.iter().find(|(n, _)| *n == from)?, derive)));
    s.text.clear();
    // Context values are the same string for every row of a batch: scrub them once.
    let mut last: Option<(*const u8, usize, Text<'a>)> = None;
    // The source value last derived from, and the row holding what it gave.
    let mut last_derived: Option<((*const u8, usize), usize)> = None;
    for (i, r) in rows.iter().enumerate() {
        let value = match extract(r) {
            Some(Cow::Borrowed(v)) if scrubs => {
                let same =
                    matches!(&last, Some((ptr, len, _)) if *ptr == v.as_ptr() && *len == v.len());
                if !same {
                    // Most values come out of scrubbing as they went in: still borrowed.
                    let out = match scrubbed(field.kind, Cow::Borrowed(v)) {
                        Cow::Borrowed(v) => Text::Own(Cow::Borrowed(v)),
                        Cow::Owned(v) => Text::Shared(v.into()),
                    };
                    last = Some((v.as_ptr(), v.len(), out));
                }
                last.as_ref().map(|(_, _, out)| out.clone())
            }
            Some(v) if scrubs => Some(Text::Own(scrubbed(field.kind, v))),
            Some(v) => Some(Text::Own(v)),
            None => {
                match source.and_then(|((_, values), derive)| Some((values[i].as_ref()?, derive))) {
                    None => None,
                    Some((from, derive)) => {
                        let from = from.as_str();
                        // A context value (the page URL) is one string in every row: derived
                        // once, and shared from its second row on.
                        let key = (from.as_ptr(), from.len());
                        match last_derived.filter(|(k, _)| *k == key) {
                            Some((_, row)) => shared_copy(&mut s.text[row]),
                            None => {
                                last_derived = Some((key, i));
                                derive(from).map(|d| Text::Own(Cow::Owned(d)))
                            }
                        }
                    }
                }
            }
        };
        s.text.push(value);
    }
}

/// A copy of a row's text for another row: an owned value becomes shared first (one
/// allocation for the value's second row, none for a value only one row holds, which most
/// derived values are: each request's URL template and host).
fn shared_copy<'a>(slot: &mut Option<Text<'a>>) -> Option<Text<'a>> {
    if let Some(Text::Own(Cow::Owned(value))) = slot {
        let shared: Rc<str> = std::mem::take(value).into();
        *slot = Some(Text::Shared(shared));
    }
    slot.clone()
}

/// Writes one column's type, layout and values after its name, and says where they went;
/// `None` when no row has a value (the column is then left out).
fn write_column<T: PartialEq>(
    out: &mut Vec<u8>,
    tag: u8,
    values: &[Option<T>],
    put: impl Fn(&mut Vec<u8>, &T),
) -> Option<Layout> {
    let Some(Some(first)) = values.iter().find(|v| v.is_some()) else {
        return None;
    };
    out.push(tag);
    if values.iter().all(|v| v.as_ref() == Some(first)) {
        out.push(CONSTANT);
        let start = out.len();
        put(out, first);
        return Some(Layout {
            constant: true,
            validity: None,
            values: (start, out.len()),
        });
    }
    out.push(VALUES);
    let has_nulls = values.iter().any(Option::is_none);
    out.push(u8::from(has_nulls));
    let mut validity = None;
    if has_nulls {
        let start = out.len();
        out.resize(start + values.len().div_ceil(8), 0);
        let bits = &mut out[start..];
        for (i, v) in values.iter().enumerate() {
            if v.is_some() {
                bits[i / 8] |= 1 << (i % 8);
            }
        }
        validity = Some((start, out.len()));
    }
    let start = out.len();
    for v in values {
        match v {
            Some(v) => put(out, v),
            // A null row's value: "" (length 0), zigzag 0 or false, each one 0 byte.
            None => out.push(0),
        }
    }
    Some(Layout {
        constant: false,
        validity,
        values: (start, out.len()),
    })
}
