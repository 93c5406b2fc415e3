//! The payload of a log frame: one batch's [`Rows`], encoded column by column.
//!
//! Every payload starts with its format. Format 1 (before this module) is the JSON of an
//! enriched wire batch, recognised by its `{`, and read by `vigil_model::legacy`. Format 2
//! is this encoding, which names tables and columns instead of wire fields, so renaming or
//! removing a wire field never makes a log unreadable:
//!
//! ```text
//! u8 format = 2 | u32 project | u8 tables | per table:
//!   str name | varint rows | varint columns | per column:
//!     str name | u8 type (0 text, 1 int64, 2 bool) | u8 layout (1 constant, 2 values)
//!     constant: one value, the same in every row (the batch context, mostly)
//!     values:   u8 has_nulls | [validity bitmap] | every row's value (null rows: 0 / "")
//! str = varint length + UTF-8; int64 = zigzag varint; bool = one byte (0/1).
//! ```
//!
//! Columns with no value in any row are left out and read back as null, as are columns the
//! table gained since the frame was written; columns the table no longer has are ignored.

use arrow_array::builder::{BooleanBuilder, Int64Builder, StringBuilder};
use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{Array, ArrayRef, RecordBatch, new_null_array};
use arrow_schema::DataType;
use std::sync::Arc;
use vigil_model::{Rows, Table};

/// The format this build writes.
pub const FRAME_FORMAT: u8 = 2;
/// The first byte of a format-1 (JSON) payload.
const LEGACY_JSON: u8 = b'{';

const TEXT: u8 = 0;
const INT: u8 = 1;
const BOOL: u8 = 2;
const CONSTANT: u8 = 1;
const VALUES: u8 = 2;

/// Encodes rows as a format-2 payload.
pub fn encode(rows: &Rows) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + rows.memory_bytes() / 4);
    out.push(FRAME_FORMAT);
    out.extend_from_slice(&rows.project.to_le_bytes());
    out.push(rows.tables.len() as u8);
    for (table, batch) in &rows.tables {
        put_str(&mut out, table.name());
        put_varint(&mut out, batch.num_rows() as u64);
        let present: Vec<(&str, &ArrayRef)> = batch
            .schema_ref()
            .fields()
            .iter()
            .zip(batch.columns())
            .filter(|(_, c)| c.null_count() < c.len())
            .map(|(f, c)| (f.name().as_str(), c))
            .collect();
        put_varint(&mut out, present.len() as u64);
        for (name, column) in present {
            put_str(&mut out, name);
            encode_column(&mut out, column);
        }
    }
    out
}

fn encode_column(out: &mut Vec<u8>, column: &ArrayRef) {
    let n = column.len();
    let constant = n > 0 && column.null_count() == 0 && (1..n).all(|i| same(column, 0, i));
    let tag = match column.data_type() {
        DataType::Utf8 => TEXT,
        DataType::Int64 => INT,
        DataType::Boolean => BOOL,
        other => unreachable!("tables hold text, int64 and bool columns, not {other}"),
    };
    out.push(tag);
    let rows = if constant { 0..1.min(n) } else { 0..n };
    if constant {
        out.push(CONSTANT);
    } else {
        out.push(VALUES);
        let has_nulls = column.null_count() > 0;
        out.push(u8::from(has_nulls));
        if has_nulls {
            let mut bits = vec![0u8; n.div_ceil(8)];
            for i in 0..n {
                if column.is_valid(i) {
                    bits[i / 8] |= 1 << (i % 8);
                }
            }
            out.extend_from_slice(&bits);
        }
    }
    for i in rows {
        let valid = column.is_valid(i);
        match tag {
            TEXT => put_str(
                out,
                if valid {
                    column.as_string::<i32>().value(i)
                } else {
                    ""
                },
            ),
            INT => put_varint(
                out,
                zigzag(if valid {
                    column.as_primitive::<Int64Type>().value(i)
                } else {
                    0
                }),
            ),
            _ => out.push(u8::from(valid && column.as_boolean().value(i))),
        }
    }
}

fn same(column: &ArrayRef, a: usize, b: usize) -> bool {
    match column.data_type() {
        DataType::Utf8 => {
            let c = column.as_string::<i32>();
            c.value(a) == c.value(b)
        }
        DataType::Int64 => {
            let c = column.as_primitive::<Int64Type>();
            c.value(a) == c.value(b)
        }
        _ => {
            let c = column.as_boolean();
            c.value(a) == c.value(b)
        }
    }
}

/// Why a payload could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// Written by a newer release in a format this build does not know.
    Newer(u8),
    /// Damaged or malformed.
    Bad(String),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::Newer(format) => write!(
                f,
                "log frame format {format} is newer than this build reads (up to {FRAME_FORMAT})"
            ),
            FrameError::Bad(why) => write!(f, "unreadable log frame: {why}"),
        }
    }
}

type DecodeError = String;

/// Reads a payload of any format this build knows.
pub fn decode(payload: &[u8]) -> Result<Rows, FrameError> {
    match payload.first() {
        Some(&FRAME_FORMAT) => decode_v2(&payload[1..]).map_err(FrameError::Bad),
        Some(&LEGACY_JSON) => {
            vigil_model::legacy::rows_of_v1_frame(payload).map_err(FrameError::Bad)
        }
        // Formats 3 to 122 are for later releases; other first bytes are damage.
        Some(&other) if other > FRAME_FORMAT && other < LEGACY_JSON => {
            Err(FrameError::Newer(other))
        }
        Some(&other) => Err(FrameError::Bad(format!("unknown log frame format {other}"))),
        None => Err(FrameError::Bad("empty log frame".into())),
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.bytes.len() {
            return Err("log frame ends early".into());
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    fn varint(&mut self) -> Result<u64, DecodeError> {
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
    fn count(&mut self) -> Result<usize, DecodeError> {
        let n = self.varint()?;
        if n > self.bytes.len() as u64 + 1 {
            return Err(format!("count {n} exceeds the frame"));
        }
        Ok(n as usize)
    }

    fn str(&mut self) -> Result<&'a str, DecodeError> {
        let n = self.count()?;
        std::str::from_utf8(self.take(n)?).map_err(|e| e.to_string())
    }
}

fn decode_v2(bytes: &[u8]) -> Result<Rows, DecodeError> {
    let mut r = Reader { bytes };
    let project = u32::from_le_bytes(r.take(4)?.try_into().expect("4 bytes"));
    let tables = r.u8()?;
    let mut out = Vec::with_capacity(tables as usize);
    for _ in 0..tables {
        let name = r.str()?;
        let rows = r.varint()?;
        // Every row costs at least one bit in some column, or the frame is constant-only;
        // a count past a million rows per batch is corrupt either way.
        if rows > 1_000_000 {
            return Err(format!("table {name} claims {rows} rows"));
        }
        let rows = rows as usize;
        let columns = r.count()?;
        let mut decoded: Vec<(&str, ArrayRef)> = Vec::with_capacity(columns);
        for _ in 0..columns {
            let column = r.str()?;
            decoded.push((column, decode_column(&mut r, rows)?));
        }
        let Some(table) = Table::from_name(name) else {
            // A table this build does not have: nothing could read its rows anyway.
            continue;
        };
        let schema = table.schema();
        let arrays = schema
            .fields()
            .iter()
            .map(|f| match decoded.iter().find(|(n, _)| *n == f.name()) {
                Some((_, a)) if a.data_type() == f.data_type() => Ok(a.clone()),
                Some((_, a)) => Err(format!(
                    "{name}.{} is {} in the log, {} in this build",
                    f.name(),
                    a.data_type(),
                    f.data_type()
                )),
                None if f.is_nullable() => Ok(new_null_array(f.data_type(), rows)),
                None => Err(format!("{name}.{} missing", f.name())),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let batch = RecordBatch::try_new(schema, arrays).map_err(|e| e.to_string())?;
        out.push((table, batch));
    }
    if !r.bytes.is_empty() {
        return Err(format!("{} bytes after the last table", r.bytes.len()));
    }
    Ok(Rows {
        project,
        tables: out,
    })
}

fn decode_column(r: &mut Reader<'_>, rows: usize) -> Result<ArrayRef, DecodeError> {
    let tag = r.u8()?;
    let layout = r.u8()?;
    let (count, validity) = match layout {
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
    let valid = |i: usize| validity.is_none_or(|bits| bits[i / 8] & (1 << (i % 8)) != 0);
    // Constants repeat one value over every row.
    let at = |i: usize| if layout == CONSTANT { 0 } else { i };
    let array: ArrayRef = match tag {
        TEXT => {
            let values = (0..count).map(|_| r.str()).collect::<Result<Vec<_>, _>>()?;
            let mut b = StringBuilder::with_capacity(rows, values.iter().map(|v| v.len()).sum());
            for i in 0..rows {
                b.append_option(valid(i).then(|| values[at(i)]));
            }
            Arc::new(b.finish())
        }
        INT => {
            let values = (0..count)
                .map(|_| r.varint().map(unzigzag))
                .collect::<Result<Vec<_>, _>>()?;
            let mut b = Int64Builder::with_capacity(rows);
            for i in 0..rows {
                b.append_option(valid(i).then(|| values[at(i)]));
            }
            Arc::new(b.finish())
        }
        BOOL => {
            let values = (0..count)
                .map(|_| r.u8().map(|v| v != 0))
                .collect::<Result<Vec<_>, _>>()?;
            let mut b = BooleanBuilder::with_capacity(rows);
            for i in 0..rows {
                b.append_option(valid(i).then(|| values[at(i)]));
            }
            Arc::new(b.finish())
        }
        other => return Err(format!("bad column type {other}")),
    };
    if layout == CONSTANT && rows == 0 {
        return Err("a constant column of no rows".into());
    }
    Ok(array)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_model::conformance::session_batch;

    #[test]
    fn rows_survive_encoding() {
        let rows = session_batch(7, "s-1", "ann", 1_800_000_000_000, 5);
        let bytes = encode(&rows);
        assert_eq!(decode(&bytes).unwrap(), rows);
        // The context is written once per column, not once per row.
        let json_like: usize = rows.len() * 100;
        assert!(bytes.len() < json_like, "{} bytes", bytes.len());
    }

    #[test]
    fn zigzag_round_trips() {
        for v in [0, 1, -1, i64::MAX, i64::MIN, 1_800_000_000_000] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
    }

    #[test]
    fn every_truncation_and_bit_flip_is_an_error_or_a_valid_batch_never_a_panic() {
        let bytes = encode(&session_batch(1, "s", "u", 1_800_000_000_000, 2));
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        for i in 1..bytes.len() {
            for bit in 0..8 {
                let mut b = bytes.clone();
                b[i] ^= 1 << bit;
                let _ = decode(&b);
            }
        }
    }

    #[test]
    fn a_newer_format_is_refused_by_name() {
        let err = decode(&[9, 0, 0]).unwrap_err();
        assert_eq!(err, FrameError::Newer(9));
        assert!(err.to_string().contains("newer"), "{err}");
    }
}
