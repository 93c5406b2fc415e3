//! How [`super::Rows`] are encoded: the bytes a batch's rows travel in from the intake to
//! the store, and the payload of a log frame (format 2) as they are, so the store writes
//! them without encoding anything again.
//!
//! ```text
//! u8 format = 6 | u32 project | shared: varint columns | per column:
//!     str name | u8 type (0 text, 1 int64, 2 bool) | one value
//! u8 tables | per table:
//!   str name | varint rows | varint columns | per column:
//!     str name | u8 type | u8 layout (1 constant, 2 values)
//!     constant: one value, the same in every row
//!     values:   u8 has_nulls | [validity bitmap] | every row's value (null rows: 0 / "")
//! str = varint length + UTF-8; int64 = zigzag varint; bool = one byte (0/1).
//! ```
//!
//! The shared columns are common columns (see `declare::COMMON_COLUMNS`) that hold one value
//! in every row of every event table of the batch: its context, mostly. They are written
//! once, and every event table reads them as constant columns of its own. Columns with no
//! value in any row are left out and read back as null, as are columns the table gained
//! since the bytes were written; columns the table no longer has are ignored.

use crate::field::{Field, Type};
use crate::table::Table;

/// The format of the encoding (the first byte). Format 6 added the shared columns; formats
/// 3 to 5 are its layout without them. Format 4 may hold the `spans` and `logs` tables,
/// format 5 the `janks` table: a release that reads only the format before would skip them
/// as unknown tables, so the format changed to make it refuse them instead. Format 2 is
/// format 3 with a vital's `value` at 0.001 instead of 0.0001; it is read by
/// [`upgrade_v2`].
pub const ROWS_FORMAT: u8 = 6;
pub(crate) const V5: u8 = 5;
pub(crate) const V4: u8 = 4;
pub(crate) const V3: u8 = 3;
const V2: u8 = 2;
/// The scale of `vitals.value` in format 2.
const V2_VITAL_SCALE: i64 = 1000;

pub(crate) const TEXT: u8 = 0;
pub(crate) const INT: u8 = 1;
pub(crate) const BOOL: u8 = 2;
pub(crate) const CONSTANT: u8 = 1;
pub(crate) const VALUES: u8 = 2;

/// A row count past this is damage: batches are far smaller.
const MAX_TABLE_ROWS: u64 = 1_000_000;

pub(crate) fn tag_of(field: &Field) -> u8 {
    match field.ty {
        Type::Text => TEXT,
        Type::Int | Type::Fixed(_) => INT,
        Type::Bool => BOOL,
    }
}

#[inline]
pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

#[inline]
pub(crate) fn put_str(out: &mut Vec<u8>, s: &str) {
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

pub(crate) fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

pub(crate) fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

pub(crate) struct Reader<'a> {
    pub(crate) bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if n > self.bytes.len() {
            return Err("rows end early".into());
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    pub(crate) fn varint(&mut self) -> Result<u64, String> {
        // Most varints (lengths, counts, small numbers) are one byte.
        if let Some((&b, rest)) = self.bytes.split_first()
            && b & 0x80 == 0
        {
            self.bytes = rest;
            return Ok(u64::from(b));
        }
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("varint too long".into())
    }

    /// A count of things that each take at least one byte, so it cannot exceed what is left.
    fn count(&mut self) -> Result<usize, String> {
        let n = self.varint()?;
        if n > self.bytes.len() as u64 + 1 {
            return Err(format!("count {n} exceeds the rows"));
        }
        Ok(n as usize)
    }

    pub(crate) fn str(&mut self) -> Result<&'a str, String> {
        let n = self.count()?;
        std::str::from_utf8(self.take(n)?).map_err(|e| e.to_string())
    }

    /// A string's bytes, not checked as UTF-8: a column's name (for [`column_index`]), or a
    /// value for a builder that checks all of its column's at once.
    pub(crate) fn str_bytes(&mut self) -> Result<&'a [u8], String> {
        let n = self.count()?;
        self.take(n)
    }

    /// [`Reader::varint`] for rows already checked (a memtable's), inlined where it is
    /// read: `None` where that errs. As calls (which build error text), the two readers
    /// took 2.2% of the server's instructions during ingest, most of it the memtable's;
    /// inlined there, 0.9% less in all (`make bench-instructions`).
    #[inline]
    pub(crate) fn next_varint(&mut self) -> Option<u64> {
        let (&b, rest) = self.bytes.split_first()?;
        if b & 0x80 == 0 {
            self.bytes = rest;
            return Some(u64::from(b));
        }
        self.varint().ok()
    }

    /// [`Reader::str_bytes`] for rows already checked, inlined: `None` where that errs.
    #[inline]
    pub(crate) fn next_str_bytes(&mut self) -> Option<&'a [u8]> {
        let n = usize::try_from(self.next_varint()?).ok()?;
        if n > self.bytes.len() {
            return None;
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Some(head)
    }

    /// Steps over a string, checking its length but not its UTF-8; returns its length.
    fn skip_str(&mut self) -> Result<usize, String> {
        let n = self.count()?;
        self.take(n).map(<[u8]>::len)
    }
}

/// One column of one table in encoded rows, checked: its values read without error.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ColumnSection<'a> {
    /// Where the column is in its table's schema.
    pub(crate) index: usize,
    pub(crate) tag: u8,
    pub(crate) constant: bool,
    pub(crate) validity: Option<&'a [u8]>,
    /// The encoded values: one for a constant, else one per row.
    pub(crate) values: &'a [u8],
    /// The bytes of text over all rows.
    text_bytes: usize,
}

impl ColumnSection<'_> {
    pub(crate) fn is_valid(&self, row: usize) -> bool {
        self.validity
            .is_none_or(|bits| bits[row / 8] & (1 << (row % 8)) != 0)
    }
}

/// Where a [`ColumnSection`]'s parts lie in its encoded rows (byte ranges): rows built here
/// keep their sections' places, so that the memtable takes them without parsing the rows
/// again (parsing a batch's sections was a third of the memtable's instructions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ColumnPlace {
    pub(crate) index: usize,
    pub(crate) tag: u8,
    pub(crate) constant: bool,
    pub(crate) validity: Option<(usize, usize)>,
    pub(crate) values: (usize, usize),
    pub(crate) text_bytes: usize,
}

/// Where a [`TableSection`]'s columns lie in its encoded rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SectionPlace {
    pub(crate) table: Table,
    pub(crate) rows: usize,
    /// Its columns' places: this range of the rows' one list of them (one list for all
    /// sections, not one per section: a list each was an allocation and a copy for every
    /// section of every request).
    pub(crate) columns: (usize, usize),
    /// The section's bytes as Arrow arrays, as [`parse`] counts them.
    pub(crate) arrow_bytes: usize,
}

impl SectionPlace {
    /// The section of `table` whose `rows` have the columns `columns` of `all`.
    pub(crate) fn new(
        table: Table,
        rows: usize,
        columns: (usize, usize),
        all: &[ColumnPlace],
    ) -> SectionPlace {
        let text_bytes: usize = all[columns.0..columns.1].iter().map(|c| c.text_bytes).sum();
        SectionPlace {
            table,
            rows,
            columns,
            arrow_bytes: fixed_bytes(table, rows) + text_bytes,
        }
    }
}

/// The places of `sections`, parsed from `encoded`, and of their columns, in one list.
pub(crate) fn places_of(
    encoded: &[u8],
    sections: &[TableSection<'_>],
) -> (Vec<SectionPlace>, Vec<ColumnPlace>) {
    let range = |part: &[u8]| {
        let start = part.as_ptr() as usize - encoded.as_ptr() as usize;
        (start, start + part.len())
    };
    let mut columns = Vec::with_capacity(sections.iter().map(|s| s.columns.len()).sum());
    let places = sections
        .iter()
        .map(|s| {
            let first = columns.len();
            columns.extend(s.columns.iter().map(|c| ColumnPlace {
                index: c.index,
                tag: c.tag,
                constant: c.constant,
                validity: c.validity.map(range),
                values: range(c.values),
                text_bytes: c.text_bytes,
            }));
            SectionPlace::new(s.table, s.rows, (first, columns.len()), &columns)
        })
        .collect();
    (places, columns)
}

/// The sections at `places` of `encoded`; `None` if a place lies outside the bytes (which
/// places made with the bytes never do). Each section takes its columns from their places
/// as they are read: building a list of them per section was 1.4% of the server's
/// instructions during ingest (`make bench-instructions`).
pub(crate) fn sections_at<'a>(
    encoded: &'a [u8],
    places: &'a [SectionPlace],
    columns: &'a [ColumnPlace],
) -> Option<Vec<TableSection<'a>>> {
    let within = |(start, end): (usize, usize)| start <= end && end <= encoded.len();
    let placed = columns
        .iter()
        .all(|c| within(c.values) && c.validity.is_none_or(within));
    let mut sections = Vec::with_capacity(places.len());
    for s in places {
        sections.push(TableSection {
            table: s.table,
            rows: s.rows,
            columns: Columns::Placed(encoded, columns.get(s.columns.0..s.columns.1)?),
            arrow_bytes: s.arrow_bytes,
        });
    }
    placed.then_some(sections)
}

/// The rows of one table in encoded rows.
#[derive(Debug, Clone)]
pub struct TableSection<'a> {
    /// The table.
    pub table: Table,
    /// How many rows.
    pub rows: usize,
    pub(crate) columns: Columns<'a>,
    /// About the bytes the rows take as Arrow arrays.
    pub(crate) arrow_bytes: usize,
}

/// A section's columns: parsed, or where they lie in rows whose places are known (and were
/// checked to lie within them, see [`sections_at`]).
#[derive(Debug, Clone)]
pub(crate) enum Columns<'a> {
    Parsed(Vec<ColumnSection<'a>>),
    Placed(&'a [u8], &'a [ColumnPlace]),
}

impl<'a> Columns<'a> {
    pub(crate) fn len(&self) -> usize {
        match self {
            Columns::Parsed(columns) => columns.len(),
            Columns::Placed(_, places) => places.len(),
        }
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = ColumnSection<'a>> + '_ {
        let (parsed, placed) = match self {
            Columns::Parsed(columns) => (&columns[..], None),
            Columns::Placed(encoded, places) => (&[][..], Some((*encoded, *places))),
        };
        let placed = placed.into_iter().flat_map(|(encoded, places)| {
            // Within the bytes (checked when the section was made): never empty.
            let bytes = move |(start, end): (usize, usize)| encoded.get(start..end).unwrap_or(&[]);
            places.iter().map(move |c| ColumnSection {
                index: c.index,
                tag: c.tag,
                constant: c.constant,
                validity: c.validity.map(bytes),
                values: bytes(c.values),
                text_bytes: c.text_bytes,
            })
        });
        parsed.iter().copied().chain(placed)
    }
}

/// The bytes of a table's rows as Arrow arrays besides their text: offsets, integers and
/// booleans.
pub(crate) fn fixed_bytes(table: Table, rows: usize) -> usize {
    let per_row: usize = table
        .columns()
        .iter()
        .map(|f| match f.ty {
            Type::Text => 4,
            Type::Int | Type::Fixed(_) => 8,
            Type::Bool => 1,
        })
        .sum();
    per_row * rows
}

/// Whether [`parse`] checks that text values are UTF-8: bytes read from outside are
/// checked; rows already checked are not checked again (their builders check each value as
/// they take it anyway).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Text {
    Check,
    Trust,
}

/// Encoded rows of formats 3 to 5 in this format (no shared columns); rows of this format
/// as they are.
pub(crate) fn in_current_format(bytes: &[u8]) -> Result<Vec<u8>, String> {
    match bytes.first() {
        Some(&ROWS_FORMAT) => Ok(bytes.to_vec()),
        Some(&(V5 | V4 | V3)) if bytes.len() >= 5 => {
            let mut out = Vec::with_capacity(bytes.len() + 1);
            out.push(ROWS_FORMAT);
            out.extend_from_slice(&bytes[1..5]);
            out.push(0);
            out.extend_from_slice(&bytes[5..]);
            Ok(out)
        }
        Some(&(V5 | V4 | V3)) => Err("rows end early".into()),
        Some(&other) => Err(format!(
            "rows of format {other}, this build reads {V3} to {ROWS_FORMAT}"
        )),
        None => Err("no rows".into()),
    }
}

/// A shared column as read: where it is in every event table, its type and value.
struct SharedColumn<'a> {
    index: usize,
    tag: u8,
    value: &'a [u8],
    text_bytes: usize,
}

/// Reads the header and the table sections of encoded rows, checking every value, so that
/// what reads here loads into builders without an error. Tables this build does not have
/// are skipped (nothing could read their rows), as are columns it does not have.
pub(crate) fn parse(bytes: &[u8], text: Text) -> Result<(u32, Vec<TableSection<'_>>), String> {
    let mut r = Reader { bytes };
    let format = r.u8()?;
    match format {
        // Formats 2 to 5 have no shared columns; only `upgrade_v2` hands format 2 here, and
        // `in_current_format` turns the others into this format before they are kept.
        ROWS_FORMAT | V5 | V4 | V3 | V2 => {}
        other => {
            return Err(format!(
                "rows of format {other}, this build reads {ROWS_FORMAT}"
            ));
        }
    }
    let project = u32::from_le_bytes(r.take(4)?.try_into().expect("4 bytes"));
    let mut shared: Vec<SharedColumn<'_>> = Vec::new();
    if format == ROWS_FORMAT {
        // Event tables start with the common columns: a shared column is at the same
        // place in each of them. They come in that order from this build.
        let common = &crate::declare::COMMON_COLUMNS[..];
        let mut next = 0;
        let count = r.count()?;
        shared.reserve(count.min(common.len()));
        for _ in 0..count {
            let name = r.str_bytes()?;
            let tag = r.u8()?;
            let start = r.bytes;
            let text_bytes = read_value(&mut r, tag, text)?;
            let value = &start[..start.len() - r.bytes.len()];
            // A column this build does not have is ignored, as in a table.
            let Some(index) = column_index(common, name, next) else {
                continue;
            };
            next = index + 1;
            let field = &common[index];
            if tag != tag_of(field) {
                return Err(format!(
                    "shared column {} is of type {tag}, {:?} in this build",
                    field.name, field.ty
                ));
            }
            if shared.iter().any(|c| c.index == index) {
                return Err(format!("shared column {} appears twice", field.name));
            }
            shared.push(SharedColumn {
                index,
                tag,
                value,
                text_bytes,
            });
        }
    }
    let tables = r.u8()?;
    let mut out = Vec::with_capacity(tables as usize);
    // Per column of the table being read, whether the rows carry it: duplicates and
    // missing required columns are found by index, not by searching the columns read.
    let mut carried: Vec<bool> = Vec::new();
    for _ in 0..tables {
        let name = r.str()?;
        let rows = r.varint()?;
        if rows > MAX_TABLE_ROWS {
            return Err(format!("table {name} claims {rows} rows"));
        }
        let rows = rows as usize;
        let table = Table::from_name(name);
        let schema = table.map_or(&[][..], |t| t.columns());
        let count = r.count()?;
        // An event table also reads the shared columns as its own.
        let mut columns = Vec::with_capacity(count.min(schema.len()) + shared.len());
        // Columns come in schema order from this build, so the next one is looked for first.
        let mut next = 0;
        carried.clear();
        carried.resize(schema.len(), false);
        for _ in 0..count {
            let column = r.str_bytes()?;
            let index = column_index(schema, column, next);
            let section = column_section(&mut r, rows, text)?;
            let Some(index) = index else { continue };
            next = index + 1;
            let field = &schema[index];
            if section.tag != tag_of(field) {
                return Err(format!(
                    "{name}.{} is of type {} in the rows, {:?} in this build",
                    field.name, section.tag, field.ty
                ));
            }
            if std::mem::replace(&mut carried[index], true) {
                return Err(format!("{name}.{} appears twice", field.name));
            }
            columns.push(ColumnSection { index, ..section });
        }
        let Some(table) = table else { continue };
        if table.is_event() {
            for column in &shared {
                if std::mem::replace(&mut carried[column.index], true) {
                    return Err(format!(
                        "{name}.{} is shared and its own",
                        schema[column.index].name
                    ));
                }
                columns.push(ColumnSection {
                    index: column.index,
                    tag: column.tag,
                    constant: true,
                    validity: None,
                    values: column.value,
                    text_bytes: column.text_bytes * rows,
                });
            }
        }
        for (index, field) in schema.iter().enumerate() {
            if field.is_nullable() {
                continue;
            }
            let column = carried[index]
                .then(|| columns.iter().find(|c| c.index == index))
                .flatten();
            if column.is_none_or(|c| c.validity.is_some()) {
                return Err(format!("{name}.{} has rows without a value", field.name));
            }
        }
        let text_bytes: usize = columns.iter().map(|c| c.text_bytes).sum();
        out.push(TableSection {
            table,
            rows,
            columns: Columns::Parsed(columns),
            arrow_bytes: fixed_bytes(table, rows) + text_bytes,
        });
    }
    if !r.bytes.is_empty() {
        return Err(format!("{} bytes after the last table", r.bytes.len()));
    }
    Ok((project, out))
}

/// Format-2 rows in this format: every vital's `value` rescaled from 0.001 to the current
/// scale; everything else is copied as it is.
pub(crate) fn upgrade_v2(bytes: &[u8]) -> Result<Vec<u8>, String> {
    if bytes.first() != Some(&V2) {
        return Err("not format 2".into());
    }
    let current = Table::Vitals
        .column("value")
        .and_then(Field::scale)
        .unwrap_or(V2_VITAL_SCALE);
    let factor = current / V2_VITAL_SCALE;
    let (_, sections) = parse(bytes, Text::Check)?;
    let value = Table::Vitals
        .columns()
        .iter()
        .position(|f| f.name == "value");
    let base = bytes.as_ptr() as usize;
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 8);
    let mut copied = 0;
    for section in sections.iter().filter(|s| s.table == Table::Vitals) {
        for column in section.columns.iter().filter(|c| Some(c.index) == value) {
            // The values are a slice of `bytes`: copy up to them, then rewrite them.
            let start = column.values.as_ptr() as usize - base;
            out.extend_from_slice(&bytes[copied..start]);
            let mut r = Reader {
                bytes: column.values,
            };
            while !r.bytes.is_empty() {
                let v = unzigzag(r.varint()?);
                put_varint(&mut out, zigzag(v.saturating_mul(factor)));
            }
            copied = start + column.values.len();
        }
    }
    out.extend_from_slice(&bytes[copied..]);
    out[0] = V3;
    in_current_format(&out)
}

/// Where the column named `name` is in `columns`, looked for from `next` on first: columns
/// come in declaration order from this build, so that is where the next one is. Names are
/// compared as bytes: one that names no column is skipped whatever it holds, so names need
/// no UTF-8 check.
fn column_index(columns: &[Field], name: &[u8], next: usize) -> Option<usize> {
    (next..columns.len())
        .chain(0..next.min(columns.len()))
        .find(|&i| columns[i].name.as_bytes() == name)
}

/// Steps over one value of type `tag`, checking it; returns its text bytes.
fn read_value(r: &mut Reader<'_>, tag: u8, text: Text) -> Result<usize, String> {
    match tag {
        TEXT if text == Text::Check => Ok(r.str()?.len()),
        TEXT => r.skip_str(),
        INT => r.varint().map(|_| 0),
        BOOL => r.u8().map(|_| 0),
        other => Err(format!("bad column type {other}")),
    }
}

fn column_section<'a>(
    r: &mut Reader<'a>,
    rows: usize,
    text: Text,
) -> Result<ColumnSection<'a>, String> {
    let tag = r.u8()?;
    let layout = r.u8()?;
    let (count, validity) = match layout {
        CONSTANT if rows == 0 => return Err("a constant column of no rows".into()),
        CONSTANT => (1, None),
        VALUES => {
            let validity = match r.u8()? {
                0 => None,
                1 => Some(r.take(rows.div_ceil(8))?),
                other => return Err(format!("bad null flag {other}")),
            };
            (rows, validity)
        }
        other => return Err(format!("bad column layout {other}")),
    };
    let start = r.bytes;
    let mut text_bytes = 0;
    for _ in 0..count {
        text_bytes += read_value(r, tag, text)?;
    }
    let values = &start[..start.len() - r.bytes.len()];
    Ok(ColumnSection {
        index: 0,
        tag,
        constant: layout == CONSTANT,
        validity,
        values,
        text_bytes: if layout == CONSTANT {
            text_bytes * rows
        } else {
            text_bytes
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The memtable's readers answer as the checked ones do, and leave the same rest, on
    /// any bytes: short, long, cut inside a varint or a string.
    #[test]
    fn inlined_readers_read_as_the_checked_ones() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut below = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for _ in 0..20_000 {
            let bytes: Vec<u8> = (0..below(24))
                .map(|_| match below(4) {
                    0 => 0x80 | below(128) as u8,
                    1 => below(4) as u8,
                    _ => below(256) as u8,
                })
                .collect();
            let (mut a, mut b) = (Reader { bytes: &bytes }, Reader { bytes: &bytes });
            for _ in 0..4 {
                let read = if below(2) == 0 {
                    let got = a.next_varint();
                    assert_eq!(got, b.varint().ok(), "{bytes:?}");
                    got.is_some()
                } else {
                    let got = a.next_str_bytes();
                    assert_eq!(got, b.str_bytes().ok(), "{bytes:?}");
                    got.is_some()
                };
                // Where they err, the checked reader may have read part of the value:
                // neither goes on.
                if !read {
                    break;
                }
                assert_eq!(a.bytes, b.bytes, "{bytes:?}");
            }
        }
    }

    #[test]
    fn zigzag_round_trips() {
        for v in [0, 1, -1, i64::MAX, i64::MIN, 1_800_000_000_000] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
    }
}

#[cfg(test)]
mod upgrade_tests {
    use super::*;
    use crate::rows::Rows;
    use arrow_array::cast::AsArray;
    use arrow_array::types::Int64Type;

    /// A format-2 frame as the release before wrote it: CLS 0.023 and 0.0005 (stored 1 at
    /// 0.001) in one VALUES column with a null, and a constant-layout table of its own.
    fn v2_frame() -> Vec<u8> {
        let mut out = vec![V2];
        out.extend_from_slice(&7u32.to_le_bytes());
        out.push(2);
        for (rows, layout) in [(3u64, VALUES), (2, CONSTANT)] {
            put_str(&mut out, "vitals");
            put_varint(&mut out, rows);
            put_varint(&mut out, 3);
            put_str(&mut out, "ts");
            out.extend_from_slice(&[INT, CONSTANT]);
            put_varint(&mut out, zigzag(1_800_000_000_000));
            put_str(&mut out, "name");
            out.extend_from_slice(&[TEXT, CONSTANT]);
            put_str(&mut out, "CLS");
            put_str(&mut out, "value");
            if layout == VALUES {
                out.extend_from_slice(&[INT, VALUES, 1, 0b101]);
                for v in [23, 0, 1] {
                    put_varint(&mut out, zigzag(v));
                }
            } else {
                out.extend_from_slice(&[INT, CONSTANT]);
                put_varint(&mut out, zigzag(-4));
            }
        }
        out
    }

    #[test]
    fn a_format_2_vital_value_reads_at_the_current_scale() {
        let rows = Rows::from_encoded(&v2_frame()).unwrap();
        assert_eq!(rows.encoded()[0], ROWS_FORMAT);
        let values: Vec<Option<i64>> = rows
            .batches()
            .iter()
            .flat_map(|(_, b)| {
                b.column_by_name("value")
                    .unwrap()
                    .as_primitive::<Int64Type>()
                    .iter()
                    .collect::<Vec<_>>()
            })
            .collect();
        // 0.023 and 0.001 at 0.0001; the null stays null; a constant is rescaled too.
        assert_eq!(values, [Some(230), None, Some(10), Some(-40), Some(-40)]);
        assert_eq!(
            Table::Vitals.column("value").and_then(Field::scale),
            Some(10_000)
        );
    }
}

#[cfg(test)]
mod shared_tests {
    use super::*;
    use crate::record::{Common, IngestBatch};
    use crate::rows::Rows;
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    use arrow_array::types::Int64Type;
    use vigil_protocol::{Action, Event, EventBody, Request, View, Vital};

    /// `n` each of a view, a vital, an action and a traced request, in one session.
    fn session_batch(session: &str, ts: i64, n: i64) -> Rows {
        let mut events = Vec::new();
        for i in 0..n {
            let event = |dt: i64, body: EventBody| Event {
                ts: ts + i * 10 + dt,
                view_id: None,
                page_url: None,
                body,
            };
            events.push(event(0, EventBody::View(View::default())));
            events.push(event(
                1,
                EventBody::Vital(Vital {
                    name: "LCP".into(),
                    value: 1000.0 + i as f64,
                    ..Vital::default()
                }),
            ));
            events.push(event(2, EventBody::Action(Action::default())));
            events.push(event(
                3,
                EventBody::Request(Request {
                    method: "GET".into(),
                    url: format!("https://api.example.com/orders/{i}").into(),
                    trace_id: Some(format!("{:032x}", i + 1).into()),
                    span_id: Some(format!("{:016x}", i + 1).into()),
                    ..Request::default()
                }),
            ));
        }
        IngestBatch {
            errors: Vec::new(),
            project: 1,
            common: Common {
                session_id: session.into(),
                view_id: format!("{session}-view").into(),
                page_url: "https://shop.example.com/cart".into(),
                browser: "Chrome".into(),
                country: "DE".into(),
                agent: "vigil-browser".into(),
                ..Common::default()
            },
            events,
        }
        .to_rows(usize::MAX)
        .unwrap()
    }

    fn occurrences(haystack: &[u8], needle: &[u8]) -> usize {
        haystack
            .windows(needle.len())
            .filter(|w| *w == needle)
            .count()
    }

    #[test]
    fn a_batch_context_is_encoded_once_and_every_event_table_reads_it() {
        let rows = session_batch("s-shared", 1_800_000_000_000, 3);
        let encoded = rows.encoded();
        assert_eq!(encoded[0], ROWS_FORMAT);
        // Views, vitals, actions and requests: four event tables, one copy of the context
        // as an encoded value (its length, then its bytes; the client spans' `resource`
        // JSON names the browser too, in quotes).
        assert_eq!(occurrences(encoded, b"\x06Chrome"), 1);
        assert_eq!(occurrences(encoded, b"\x0dvigil-browser"), 1);
        let batches = rows.batches();
        let events: Vec<_> = batches.iter().filter(|(t, _)| t.is_event()).collect();
        assert_eq!(events.len(), 4);
        for (table, batch) in events {
            for (column, value) in [
                ("browser", "Chrome"),
                ("country", "DE"),
                ("session_id", "s-shared"),
            ] {
                let values = batch.column_by_name(column).unwrap().as_string::<i32>();
                assert_eq!(values.len(), 3, "{table:?}");
                assert!(
                    values.iter().all(|v| v == Some(value)),
                    "{table:?}.{column}"
                );
            }
        }
        // The traced requests' client spans keep their own columns.
        let (_, spans) = batches.iter().find(|(t, _)| *t == Table::Spans).unwrap();
        assert_eq!(spans.num_rows(), 3);
        // Read back, checked, the rows are the same.
        assert_eq!(Rows::from_encoded(encoded).unwrap(), rows);
    }

    #[test]
    fn a_path_derived_once_for_the_context_is_still_each_rows_own() {
        let view = |ts: i64, page_url: Option<&str>| Event {
            ts,
            view_id: None,
            page_url: page_url.map(vigil_protocol::Text::from),
            body: EventBody::View(View::default()),
        };
        let rows = IngestBatch {
            errors: Vec::new(),
            project: 1,
            common: Common {
                session_id: "s-paths".into(),
                page_url: "https://shop.example.com/cart?x=1".into(),
                ..Common::default()
            },
            events: vec![
                view(1, None),
                view(2, Some("https://shop.example.com/pay")),
                view(3, None),
                view(4, Some("https://shop.example.com/pay?step=2")),
                view(5, Some("https://shop.example.com/done")),
            ],
        }
        .to_rows(usize::MAX)
        .unwrap();
        let batches = rows.batches();
        let paths: Vec<_> = batches[0]
            .1
            .column_by_name("page_path")
            .unwrap()
            .as_string::<i32>()
            .iter()
            .map(|p| p.map(str::to_owned))
            .collect();
        let expected = ["/cart", "/pay", "/cart", "/pay", "/done"];
        assert_eq!(paths, expected.map(|p| Some(p.to_owned())));
    }

    /// A text column of one value in every row, as a table section holds it.
    fn text_constant(out: &mut Vec<u8>, name: &str, value: &str) {
        put_str(out, name);
        out.extend_from_slice(&[TEXT, CONSTANT]);
        put_str(out, value);
    }

    /// Rows of format 5 (no shared columns), as the release before wrote them.
    fn v5_rows() -> Vec<u8> {
        let mut out = vec![V5];
        out.extend_from_slice(&7u32.to_le_bytes());
        out.push(1);
        put_str(&mut out, "vitals");
        put_varint(&mut out, 2);
        put_varint(&mut out, 4);
        put_str(&mut out, "ts");
        out.extend_from_slice(&[INT, VALUES, 0]);
        put_varint(&mut out, zigzag(1_800_000_000_000));
        put_varint(&mut out, zigzag(1_800_000_000_005));
        text_constant(&mut out, "browser", "Firefox");
        text_constant(&mut out, "name", "INP");
        put_str(&mut out, "value");
        out.extend_from_slice(&[INT, VALUES, 0]);
        put_varint(&mut out, zigzag(1_200_000));
        put_varint(&mut out, zigzag(800_000));
        out
    }

    #[test]
    fn format_5_rows_read_as_they_were_written() {
        let rows = Rows::from_encoded(&v5_rows()).unwrap();
        assert_eq!(rows.encoded()[0], ROWS_FORMAT);
        assert_eq!(
            (rows.project, rows.tables()),
            (7, &[(Table::Vitals, 2)][..])
        );
        let batches = rows.batches();
        let batch = &batches[0].1;
        let text = |c: &str| -> Vec<Option<String>> {
            let values = batch.column_by_name(c).unwrap().as_string::<i32>();
            values.iter().map(|v| v.map(str::to_owned)).collect()
        };
        assert_eq!(
            text("browser"),
            [Some("Firefox".into()), Some("Firefox".into())]
        );
        assert_eq!(text("name"), [Some("INP".into()), Some("INP".into())]);
        let value = batch
            .column_by_name("value")
            .unwrap()
            .as_primitive::<Int64Type>();
        assert_eq!(value.values().to_vec(), [1_200_000, 800_000]);
        assert!(text("country").iter().all(Option::is_none));
        // Kept in this format, they read again as the same rows.
        assert_eq!(Rows::from_encoded(rows.encoded()).unwrap(), rows);
    }

    /// Format-6 rows of one vitals row whose shared section holds `shared` columns.
    fn v6_rows(shared: &[(&str, u8, &str)], own_browser: bool) -> Vec<u8> {
        let mut out = vec![ROWS_FORMAT];
        out.extend_from_slice(&7u32.to_le_bytes());
        put_varint(&mut out, shared.len() as u64);
        for (name, tag, value) in shared {
            put_str(&mut out, name);
            out.push(*tag);
            put_str(&mut out, value);
        }
        out.push(1);
        put_str(&mut out, "vitals");
        put_varint(&mut out, 1);
        put_varint(&mut out, 3 + u64::from(own_browser));
        put_str(&mut out, "ts");
        out.extend_from_slice(&[INT, CONSTANT]);
        put_varint(&mut out, zigzag(1_800_000_000_000));
        if own_browser {
            text_constant(&mut out, "browser", "Safari");
        }
        text_constant(&mut out, "name", "CLS");
        put_str(&mut out, "value");
        out.extend_from_slice(&[INT, CONSTANT]);
        put_varint(&mut out, zigzag(250));
        out
    }

    #[test]
    fn shared_columns_that_clash_or_do_not_read_are_refused_with_a_reason() {
        let ok = Rows::from_encoded(&v6_rows(&[("browser", TEXT, "Edge")], false)).unwrap();
        let browser = ok.batches()[0]
            .1
            .column_by_name("browser")
            .unwrap()
            .as_string::<i32>()
            .value(0)
            .to_owned();
        assert_eq!(browser, "Edge");
        // A column this build does not know is skipped, as in a table.
        assert!(Rows::from_encoded(&v6_rows(&[("gone_column", TEXT, "x")], false)).is_ok());

        let refused = |bytes: Vec<u8>| Rows::from_encoded(&bytes).unwrap_err();
        let why = refused(v6_rows(&[("browser", TEXT, "Edge")], true));
        assert!(why.contains("shared and its own"), "{why}");
        let why = refused(v6_rows(&[("browser", INT, "Edge")], false));
        assert!(why.contains("shared column browser is of type"), "{why}");
        let why = refused(v6_rows(
            &[("browser", TEXT, "Edge"), ("browser", TEXT, "Edge")],
            false,
        ));
        assert!(why.contains("appears twice"), "{why}");
        let mut cut = v6_rows(&[("browser", TEXT, "Edge")], false);
        cut.truncate(12);
        assert!(!refused(cut).is_empty());
        let mut bad_utf8 = v6_rows(&[("browser", TEXT, "Edge")], false);
        let at = occurrences(&bad_utf8, b"Edge");
        assert_eq!(at, 1);
        let at = bad_utf8.windows(4).position(|w| w == b"Edge").unwrap();
        bad_utf8[at] = 0xff;
        assert!(!refused(bad_utf8).is_empty());
    }

    /// Format-6 rows of one vitals row with no shared section and these constant columns.
    fn v6_table(columns: &[(&str, i64)]) -> Vec<u8> {
        let mut out = vec![ROWS_FORMAT];
        out.extend_from_slice(&7u32.to_le_bytes());
        put_varint(&mut out, 0);
        out.push(1);
        put_str(&mut out, "vitals");
        put_varint(&mut out, 1);
        put_varint(&mut out, columns.len() as u64);
        for (name, value) in columns {
            put_str(&mut out, name);
            out.extend_from_slice(&[INT, CONSTANT]);
            put_varint(&mut out, zigzag(*value));
        }
        out
    }

    #[test]
    fn a_table_column_twice_or_a_required_one_missing_is_refused_by_name() {
        assert!(Rows::from_encoded(&v6_table(&[("ts", 1), ("value", 2)])).is_ok());
        let why = Rows::from_encoded(&v6_table(&[("ts", 1), ("value", 2), ("ts", 3)]));
        assert!(why.unwrap_err().contains("vitals.ts appears twice"));
        let why = Rows::from_encoded(&v6_table(&[("value", 2)])).unwrap_err();
        assert!(why.contains("vitals.ts has rows without a value"), "{why}");
    }
}
