//! Arrow builders that encoded rows go into: how a memtable grows without an Arrow array per
//! batch, and how encoded rows become record batches.

use super::codec::{BOOL, ColumnSection, INT, Reader, TEXT, TableSection, unzigzag};
use crate::field::Type;
use crate::table::Table;
use arrow_array::builder::{ArrayBuilder, BooleanBuilder, Int64Builder, NullBufferBuilder};
use arrow_array::{Array, ArrayRef, BinaryArray, RecordBatch, StringArray, new_null_array};
use arrow_buffer::{Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow_schema::DataType;
use std::sync::{Arc, LazyLock};

enum ColumnBuilder {
    /// No row since the last finish had a value (how many rows there are, the appender
    /// knows). Tables are wide and each kind of event fills few of their columns, so most
    /// columns of a batch being gathered stay here and cost neither memory nor time.
    Nulls(Type),
    Text(TextBuilder),
    Int(Int64Builder),
    Bool(BooleanBuilder),
}

impl ColumnBuilder {
    /// A builder of `ty` holding `nulls` nulls, for the column's first value.
    fn with_nulls(ty: Type, nulls: usize) -> ColumnBuilder {
        let mut builder = match ty {
            Type::Text => ColumnBuilder::Text(TextBuilder::default()),
            Type::Int | Type::Fixed(_) => ColumnBuilder::Int(Int64Builder::new()),
            Type::Bool => ColumnBuilder::Bool(BooleanBuilder::new()),
        };
        builder.append_nulls(nulls);
        builder
    }

    fn append_nulls(&mut self, n: usize) {
        match self {
            ColumnBuilder::Nulls(_) => {}
            ColumnBuilder::Text(b) => b.append_nulls(n),
            ColumnBuilder::Int(b) => b.append_nulls(n),
            ColumnBuilder::Bool(b) => b.append_nulls(n),
        }
    }

    /// Appends a checked column's values (see [`super::codec::parse`]) to a builder (not
    /// [`ColumnBuilder::Nulls`]); a value that does not read (which the check rules out)
    /// becomes a null, so the columns stay aligned.
    fn append(&mut self, column: &ColumnSection<'_>, rows: usize) {
        let mut r = Reader {
            bytes: column.values,
        };
        match (self, column.tag) {
            (ColumnBuilder::Text(b), TEXT) => {
                if column.constant {
                    match r.next_str_bytes() {
                        Some(v) => b.append_repeated(v, rows),
                        None => b.append_nulls(rows),
                    }
                } else {
                    for i in 0..rows {
                        match r.next_str_bytes() {
                            Some(v) if column.is_valid(i) => b.append(v),
                            _ => b.append_nulls(1),
                        }
                    }
                }
            }
            (ColumnBuilder::Int(b), INT) => {
                if column.constant {
                    match r.next_varint() {
                        Some(v) => b.append_value_n(unzigzag(v), rows),
                        None => b.append_nulls(rows),
                    }
                } else {
                    for i in 0..rows {
                        let v = r.next_varint().map(unzigzag);
                        b.append_option(v.filter(|_| column.is_valid(i)));
                    }
                }
            }
            (ColumnBuilder::Bool(b), BOOL) => {
                if column.constant {
                    match r.u8() {
                        Ok(v) => b.append_n(rows, v != 0),
                        Err(_) => b.append_nulls(rows),
                    }
                } else {
                    for i in 0..rows {
                        let v = r.u8().ok().map(|v| v != 0);
                        b.append_option(v.filter(|_| column.is_valid(i)));
                    }
                }
            }
            (builder, _) => builder.append_nulls(rows),
        }
    }

    /// Rows gathered by a builder; `None` for [`ColumnBuilder::Nulls`], which has no count.
    fn len(&self) -> Option<usize> {
        match self {
            ColumnBuilder::Nulls(_) => None,
            ColumnBuilder::Text(b) => Some(b.len()),
            ColumnBuilder::Int(b) => Some(b.len()),
            ColumnBuilder::Bool(b) => Some(b.len()),
        }
    }

    /// The column's type, as far as its builder goes: fixed-point columns build as `Int`.
    fn ty(&self) -> Type {
        match self {
            ColumnBuilder::Nulls(ty) => *ty,
            ColumnBuilder::Text(_) => Type::Text,
            ColumnBuilder::Int(_) => Type::Int,
            ColumnBuilder::Bool(_) => Type::Bool,
        }
    }

    /// The gathered values as an array, sized to them (a sealed batch stays in memory until
    /// its memtable is flushed; builders grow by doubling); a column with no value at all
    /// becomes a slice of the type's [`SHARED_NULLS`] array. The builder is empty again.
    /// `rows`: how many rows were gathered.
    fn finish(&mut self, rows: usize) -> ArrayRef {
        let ty = self.ty();
        let array: ArrayRef = match std::mem::replace(self, ColumnBuilder::Nulls(ty)) {
            ColumnBuilder::Nulls(_) => return nulls(ty, rows),
            ColumnBuilder::Text(b) => Arc::new(b.finish()),
            ColumnBuilder::Int(mut b) => {
                let mut a = b.finish();
                a.shrink_to_fit();
                Arc::new(a)
            }
            ColumnBuilder::Bool(mut b) => Arc::new(b.finish()),
        };
        if array.null_count() < array.len() {
            return array;
        }
        nulls(ty, array.len())
    }

    /// The gathered values as an array, a copy; the builder keeps them.
    fn finish_cloned(&self, rows: usize) -> ArrayRef {
        let array: ArrayRef = match self {
            ColumnBuilder::Nulls(ty) => return nulls(*ty, rows),
            ColumnBuilder::Text(b) => Arc::new(b.finish_cloned()),
            ColumnBuilder::Int(b) => Arc::new(b.finish_cloned()),
            ColumnBuilder::Bool(b) => Arc::new(b.finish_cloned()),
        };
        if array.null_count() < array.len() {
            return array;
        }
        nulls(self.ty(), array.len())
    }
}

/// A text column being gathered. It copies bytes and checks the whole column's UTF-8 once,
/// when it becomes an array: a check per value (a call, a length, a short stretch of
/// bytes) cost about a hundred instructions, and a batch's context value, one for all its
/// rows, is copied into each of them at once.
struct TextBuilder {
    values: Vec<u8>,
    /// Where each value ends in `values`, after a first 0.
    offsets: Vec<i32>,
    nulls: NullBufferBuilder,
}

impl Default for TextBuilder {
    fn default() -> TextBuilder {
        TextBuilder {
            values: Vec::new(),
            offsets: vec![0],
            nulls: NullBufferBuilder::new(0),
        }
    }
}

impl TextBuilder {
    fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    fn end(&self) -> i32 {
        // A memtable seals its rows at 256 MiB (`SEALED_BATCH_BYTES`), and one section
        // comes from one request body, far below 2 GiB: the offsets fit Arrow's `i32`.
        i32::try_from(self.values.len()).expect("a sealed batch's text stays below 2 GiB")
    }

    fn append(&mut self, value: &[u8]) {
        self.values.extend_from_slice(value);
        self.offsets.push(self.end());
        self.nulls.append_non_null();
    }

    /// `value` in each of the next `rows` rows: a batch's context value in each of its rows.
    fn append_repeated(&mut self, value: &[u8], rows: usize) {
        if rows == 0 {
            return;
        }
        let start = self.values.len();
        let bytes = value.len() * rows;
        self.values.reserve(bytes);
        self.values.extend_from_slice(value);
        // Copies of what is already copied: a few calls to copy bytes, not one per row.
        while self.values.len() - start < bytes {
            let copied = self.values.len() - start;
            self.values
                .extend_from_within(start..start + copied.min(bytes - copied));
        }
        let first = self.end() - i32::try_from(bytes - value.len()).expect("below the end");
        let length = i32::try_from(value.len()).expect("below the end");
        // `k < rows`, and `first + k × length` is at most the end, which fits an `i32`.
        self.offsets
            .extend((0..rows).map(|k| first + k as i32 * length));
        self.nulls.append_n_non_nulls(rows);
    }

    fn append_nulls(&mut self, n: usize) {
        let end = self.end();
        self.offsets.extend(std::iter::repeat_n(end, n));
        self.nulls.append_n_nulls(n);
    }

    /// The values as an array, sized to them; the builder is spent.
    fn finish(mut self) -> StringArray {
        self.values.shrink_to_fit();
        self.offsets.shrink_to_fit();
        let nulls = self.nulls.finish();
        text_array(self.values, self.offsets, nulls)
    }

    /// The values as an array, a copy; the builder keeps them.
    fn finish_cloned(&self) -> StringArray {
        let nulls = self.nulls.finish_cloned();
        text_array(self.values.clone(), self.offsets.clone(), nulls)
    }
}

/// A text array of the bytes between `offsets`. Bytes that are not UTF-8 (which only a
/// damaged log could hold: encoded rows are written from Rust strings) become nulls, value
/// by value, as Arrow's builder made them.
fn text_array(values: Vec<u8>, offsets: Vec<i32>, nulls: Option<NullBuffer>) -> StringArray {
    let offsets = OffsetBuffer::new(ScalarBuffer::from(offsets));
    let values = Buffer::from_vec(values);
    match StringArray::try_new(offsets.clone(), values.clone(), nulls.clone()) {
        Ok(array) => array,
        Err(_) => BinaryArray::new(offsets, values, nulls)
            .iter()
            .map(|v| v.and_then(|v| std::str::from_utf8(v).ok()))
            .collect(),
    }
}

/// Rows of the shared all-null arrays: more than a memtable gathers into one batch (8,192
/// rows, passed by at most one batch's section).
const SHARED_NULL_ROWS: usize = 32 * 1024;

/// `rows` nulls of `ty`: a slice of the type's [`SHARED_NULLS`] array, or an array of
/// their own when they are more.
fn nulls(ty: Type, rows: usize) -> ArrayRef {
    let (shared, data_type) = match ty {
        Type::Text => (&SHARED_NULLS[0], DataType::Utf8),
        Type::Int | Type::Fixed(_) => (&SHARED_NULLS[1], DataType::Int64),
        Type::Bool => (&SHARED_NULLS[2], DataType::Boolean),
    };
    if rows <= SHARED_NULL_ROWS {
        shared.slice(0, rows)
    } else {
        new_null_array(&data_type, rows)
    }
}

/// One all-null array per column type that every column without a value in a finished
/// batch slices. Tables are wide and each kind of event fills few of their columns: in
/// `vigil bench ingest` 40–70% of a sealed batch's columns held no value, 30% of a
/// memtable's bytes (an `Int64` column of nulls is 8 bytes per row all the same).
static SHARED_NULLS: LazyLock<[ArrayRef; 3]> = LazyLock::new(|| {
    [DataType::Utf8, DataType::Int64, DataType::Boolean]
        .map(|ty| new_null_array(&ty, SHARED_NULL_ROWS))
});

/// One table's rows being gathered into Arrow builders, many batches' worth.
pub struct TableAppender {
    table: Table,
    columns: Vec<ColumnBuilder>,
    /// The columns that hold a builder (not [`ColumnBuilder::Nulls`]): only they count rows.
    built: Vec<usize>,
    rows: usize,
    /// The gathered sections' bytes as Arrow arrays, as their encodings count them.
    bytes: usize,
}

impl TableAppender {
    /// Empty builders for every column of `table`.
    pub fn new(table: Table) -> TableAppender {
        TableAppender {
            table,
            columns: table
                .columns()
                .iter()
                .map(|f| ColumnBuilder::Nulls(f.ty))
                .collect(),
            built: Vec::new(),
            rows: 0,
            bytes: 0,
        }
    }

    /// Rows gathered since the last finish.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether no row was gathered since the last finish.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// About the bytes the builders hold: what the gathered sections take as Arrow arrays,
    /// counted as they come (a sum over every column took 3% of a memtable's time).
    pub fn memory_bytes(&self) -> usize {
        self.bytes
    }

    /// Appends one table section of encoded rows; columns it does not carry get nulls.
    pub fn append(&mut self, section: &TableSection<'_>) {
        debug_assert_eq!(section.table, self.table);
        // Each builder is a row behind until its column of the section (or its nulls) is in.
        let before = self.rows;
        for column in section.columns.iter() {
            let builder = &mut self.columns[column.index];
            if let ColumnBuilder::Nulls(ty) = *builder {
                *builder = ColumnBuilder::with_nulls(ty, before);
                self.built.push(column.index);
            }
            builder.append(&column, section.rows);
        }
        self.rows += section.rows;
        self.bytes += section.arrow_bytes;
        // The section's columns are all built now: when they are as many as the built ones
        // they are the same ones (a section names a column once), and none needs nulls, as
        // in every section of a table whose events carry the same fields.
        if section.columns.len() == self.built.len() {
            return;
        }
        // Columns still without a value need nothing; of the others, those the section
        // does not carry get nulls (most of a wide table's columns are the former).
        for &i in &self.built {
            let builder = &mut self.columns[i];
            if builder.len() == Some(before) {
                builder.append_nulls(section.rows);
            }
        }
    }

    /// The gathered rows as a record batch; the builders start empty again.
    pub fn finish(&mut self) -> RecordBatch {
        let rows = std::mem::take(&mut self.rows);
        self.bytes = 0;
        self.built.clear();
        let arrays = self.columns.iter_mut().map(|c| c.finish(rows)).collect();
        RecordBatch::try_new(self.table.schema(), arrays)
            .expect("builders of the table's columns make its schema")
    }

    /// The gathered rows as a record batch, a copy; the builders keep them.
    pub fn finish_cloned(&self) -> RecordBatch {
        let arrays = self
            .columns
            .iter()
            .map(|c| c.finish_cloned(self.rows))
            .collect();
        RecordBatch::try_new(self.table.schema(), arrays)
            .expect("builders of the table's columns make its schema")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Rows;
    use crate::telemetry::SpanRecord;
    use arrow_array::cast::AsArray;

    fn span(id: u64, parent: Option<&str>) -> SpanRecord {
        SpanRecord {
            trace_id: format!("{id:032x}"),
            span_id: format!("{id:016x}"),
            parent_span_id: parent.map(str::to_owned),
            service: "shop".into(),
            name: "GET /cart".into(),
            kind: "server",
            start_ms: 1_700_000_000_000.0 + id as f64,
            duration_ms: 12.5,
            status: "ok",
            ..Default::default()
        }
    }

    fn column<'a>(batch: &'a RecordBatch, name: &str) -> &'a ArrayRef {
        batch.column_by_name(name).expect(name)
    }

    /// Sections carrying fewer columns than earlier ones: the columns they lack get nulls;
    /// sections carrying the same ones take the appender's short way.
    #[test]
    fn a_column_a_later_section_lacks_gets_its_rows_as_nulls() {
        let mut appender = TableAppender::new(Table::Spans);
        for spans in [
            vec![span(1, Some("0000000000000009"))],
            vec![span(2, None), span(3, None)],
            vec![span(4, Some("0000000000000008"))],
            vec![span(5, Some("0000000000000007"))],
        ] {
            let rows = Rows::from_spans(1, &spans);
            rows.sections().iter().for_each(|s| appender.append(s));
        }
        let batch = appender.finish();
        let parents = column(&batch, "parent_span_id").as_string::<i32>();
        assert_eq!(
            parents.iter().collect::<Vec<_>>(),
            [
                Some("0000000000000009"),
                None,
                None,
                Some("0000000000000008"),
                Some("0000000000000007")
            ]
        );
        assert!(batch.columns().iter().all(|c| c.len() == 5));
    }

    #[test]
    fn columns_without_a_value_share_one_array_of_nulls_and_the_others_keep_theirs() {
        let mut appender = TableAppender::new(Table::Spans);
        let mut finish = |spans: &[SpanRecord]| {
            let rows = Rows::from_spans(1, spans);
            rows.sections().iter().for_each(|s| appender.append(s));
            appender.finish()
        };
        let roots = finish(&[span(1, None), span(2, None), span(3, None)]);
        let more_roots = finish(&[span(4, None), span(5, None)]);
        let children = finish(&[span(6, Some("0000000000000001")), span(7, None)]);

        let parents = [&roots, &more_roots, &children].map(|b| column(b, "parent_span_id"));
        assert_eq!(
            parents.map(|c| (c.len(), c.null_count())),
            [(3, 3), (2, 2), (2, 1)]
        );
        assert!(parents.iter().all(|c| c.data_type() == &DataType::Utf8));
        let offsets = |c: &ArrayRef| c.to_data().buffers()[0].data_ptr();
        assert_eq!(offsets(parents[0]), offsets(parents[1]), "one shared array");
        assert_ne!(
            offsets(parents[0]),
            offsets(parents[2]),
            "a column with a value is its own"
        );
        assert_eq!(parents[2].as_string::<i32>().value(0), "0000000000000001");
        assert!(parents[2].is_null(1));
        let ids: Vec<_> = column(&more_roots, "span_id")
            .as_string::<i32>()
            .iter()
            .map(Option::unwrap)
            .collect();
        assert_eq!(ids, ["0000000000000004", "0000000000000005"]);
    }

    #[test]
    fn text_columns_come_back_as_the_same_strings() {
        let mut appender = TableAppender::new(Table::Spans);
        let mut spans = [span(1, None), span(2, Some("0000000000000001"))];
        spans[0].name = "GET /café/日本".into();
        spans[1].name = "é".repeat(100); // a length of two bytes
        let rows = Rows::from_spans(1, &spans);
        rows.sections().iter().for_each(|s| appender.append(s));
        let cloned = appender.finish_cloned();
        let finished = appender.finish();
        for batch in [&cloned, &finished] {
            let names: Vec<_> = column(batch, "name").as_string::<i32>().iter().collect();
            assert_eq!(names, [Some(spans[0].name.as_str()), Some(&spans[1].name)]);
            // One value in every row: written once, gathered for each.
            let services: Vec<_> = column(batch, "service").as_string::<i32>().iter().collect();
            assert_eq!(services, [Some("shop"), Some("shop")]);
            let parents: Vec<_> = column(batch, "parent_span_id")
                .as_string::<i32>()
                .iter()
                .collect();
            assert_eq!(parents, [None, Some("0000000000000001")]);
        }
    }

    #[test]
    fn only_columns_with_a_value_hold_a_builder_while_rows_are_gathered() {
        let mut appender = TableAppender::new(Table::Spans);
        let rows = Rows::from_spans(1, &[span(1, None), span(2, None)]);
        rows.sections().iter().for_each(|s| appender.append(s));
        let building = |a: &TableAppender| {
            a.columns
                .iter()
                .filter(|c| !matches!(c, ColumnBuilder::Nulls(..)))
                .count()
        };
        let gathered = building(&appender);
        let batch = appender.finish_cloned();
        let with_values = batch
            .columns()
            .iter()
            .filter(|c| c.null_count() < c.len())
            .count();
        assert!(with_values > 0 && with_values < batch.num_columns());
        assert_eq!(gathered, with_values);
        assert!(appender.memory_bytes() > 0);

        // A later value in a column of nulls keeps the rows before it null.
        let child = Rows::from_spans(1, &[span(3, Some("0000000000000001"))]);
        child.sections().iter().for_each(|s| appender.append(s));
        assert_eq!(building(&appender), gathered + 1);
        let batch = appender.finish();
        let parents = column(&batch, "parent_span_id").as_string::<i32>();
        assert_eq!(
            parents.iter().collect::<Vec<_>>(),
            [None, None, Some("0000000000000001")]
        );
        assert_eq!((building(&appender), appender.memory_bytes()), (0, 0));
    }

    #[test]
    fn a_value_repeated_in_many_rows_is_each_rows_value() {
        for rows in [0, 1, 2, 3, 7, 64, 1000] {
            for value in ["", "é", "Mozilla/5.0 (X11; Linux x86_64)"] {
                let mut builder = TextBuilder::default();
                builder.append(b"before");
                builder.append_repeated(value.as_bytes(), rows);
                builder.append_nulls(1);
                builder.append(b"after");
                let array = builder.finish();
                let mut expected = vec![Some("before")];
                expected.extend(std::iter::repeat_n(Some(value), rows));
                expected.extend([None, Some("after")]);
                assert_eq!(
                    array.iter().collect::<Vec<_>>(),
                    expected,
                    "{rows} × {value:?}"
                );
            }
        }
    }

    #[test]
    fn text_that_is_not_utf8_becomes_a_null_and_its_neighbours_stay() {
        let mut builder = TextBuilder::default();
        builder.append("café".as_bytes());
        builder.append_nulls(2);
        builder.append(&[b'a', 0xff, b'b']);
        builder.append(&"日本".as_bytes()[..4]); // cut inside a character
        builder.append(b"ok");
        let array = builder.finish();
        let values: Vec<_> = array.iter().collect();
        assert_eq!(values, [Some("café"), None, None, None, None, Some("ok")]);
    }

    /// Batches larger and smaller than the one before through one appender: each holds
    /// its own rows and no others.
    #[test]
    fn each_batch_holds_its_own_rows() {
        let mut appender = TableAppender::new(Table::Spans);
        let mut next = 0u64;
        for (count, parents) in [(3, true), (40, true), (2, false), (40, true), (1, true)] {
            let spans: Vec<_> = (next..next + count)
                .map(|i| span(i, parents.then_some("00000000000000ff")))
                .collect();
            next += count;
            let rows = Rows::from_spans(1, &spans);
            rows.sections().iter().for_each(|s| appender.append(s));
            let batch = appender.finish();
            let expected = &rows.batches()[0].1;
            assert_eq!(&batch, expected, "{count} spans");
            let ids = column(&batch, "span_id").as_string::<i32>();
            assert_eq!(ids.value(0), format!("{:016x}", next - count));
        }
    }

    #[test]
    fn a_batch_longer_than_the_shared_array_gets_nulls_of_its_own() {
        let spans: Vec<_> = (0..SHARED_NULL_ROWS as u64 + 1)
            .map(|i| span(i, None))
            .collect();
        let mut appender = TableAppender::new(Table::Spans);
        let rows = Rows::from_spans(1, &spans);
        rows.sections().iter().for_each(|s| appender.append(s));
        let batch = appender.finish();
        let parents = column(&batch, "parent_span_id");
        assert_eq!(
            (parents.len(), parents.null_count()),
            (spans.len(), spans.len())
        );
    }
}
