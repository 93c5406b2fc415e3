//! Writing and reading Parquet segments.

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Array, StringArray, new_null_array};
use datafusion::arrow::compute::interleave;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::row::{OwnedRow, RowConverter, Rows, SortField};
use datafusion::common::HashMap;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::arrow_reader::{
    ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder,
};
use datafusion::parquet::basic::{Compression, Encoding, ZstdLevel};
use datafusion::parquet::file::properties::{EnabledStatistics, WriterProperties};
use datafusion::parquet::schema::types::ColumnPath;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use vigil_model::{Kind, Table, Unit};

fn to_io<E: std::error::Error + Send + Sync + 'static>(e: E) -> io::Error {
    io::Error::other(e)
}

/// Columns a segment's rows are grouped by within each hour, those of them its table has:
/// rows of one device, browser and country lie together, so each of these columns is a few
/// long runs, and so are the columns that go with them (screen sizes, device memory, the
/// timings of slow devices). On `vigil bench query`'s one-view sessions, grouping a day's
/// rows (pyarrow over one 1.4M-row segment) by device type, OS, browser and country took
/// them from 44.0 to 41.8 bytes: the dimensions from about 4.0 bytes to 0.6, `ts` from 1.0
/// to 2.4; all six columns and page URLs without their path, 40.9. Sorting by hour, then
/// session, was measured before: with one-view sessions nothing repeats to compress, and it
/// cost 98.0 against 92.3 bytes per page view.
const GROUPED_BY: &[&str] = &[
    "device_type",
    "os",
    "os_version",
    "browser",
    "browser_version",
    "country",
];

/// The span of time whose rows are grouped together. An hour keeps row groups to short
/// spans of time, so that row-group statistics still prune a range of time well.
const GROUP_MS: i64 = 3_600_000;

/// The order segments keep their rows in: by hour of `ts`, then by the [`GROUPED_BY`]
/// columns (missing values first), then by `ts`. A row's key is its bytes in arrow's row
/// format, which compare as the columns do; a merge compares its inputs' next rows so.
struct RowOrder {
    converter: RowConverter,
    grouped_by: Vec<usize>,
}

impl RowOrder {
    fn new(schema: &SchemaRef) -> io::Result<RowOrder> {
        let grouped_by: Vec<usize> = GROUPED_BY
            .iter()
            .filter_map(|name| schema.index_of(name).ok())
            .collect();
        let mut fields = vec![SortField::new(DataType::Int64)];
        fields.extend(
            grouped_by
                .iter()
                .map(|&i| SortField::new(schema.field(i).data_type().clone())),
        );
        fields.push(SortField::new(DataType::Int64));
        Ok(RowOrder {
            converter: RowConverter::new(fields).map_err(to_io)?,
            grouped_by,
        })
    }

    /// The keys of a batch's rows.
    fn keys(&self, batch: &RecordBatch) -> io::Result<Rows> {
        let ts = ts_column(batch)?;
        let hour: Int64Array =
            datafusion::arrow::compute::kernels::arity::unary(&ts, |t| t.div_euclid(GROUP_MS));
        let mut columns: Vec<ArrayRef> = vec![Arc::new(hour)];
        columns.extend(self.grouped_by.iter().map(|&i| batch.column(i).clone()));
        columns.push(Arc::new(ts));
        self.converter.convert_columns(&columns).map_err(to_io)
    }
}

/// Merges batches into one in the order segments keep ([`RowOrder`]); rows of equal keys
/// keep their arrival order (batch, then row). Rows are gathered straight from the
/// batches in that order: one copy, where concatenating first made two.
///
/// The order is [`RowOrder`]'s, but not its keys: a flush sorts up to 100,000 rows, whose
/// keys in arrow's row format take about 90 bytes a row. Rows name their grouped columns'
/// values by the rank of those values among the flush's distinct ones instead (a few
/// hundred), so a row's place is 32 bytes. (`vigil bench ingest` peaked at 293 and 294 MiB
/// with row keys, 286 to 292 with ranks: within the spread of its runs.)
pub fn sorted_for_segment(schema: &SchemaRef, batches: &[RecordBatch]) -> io::Result<RecordBatch> {
    let rows = batches.iter().map(|b| b.num_rows()).sum::<usize>();
    if rows == 0 {
        return Ok(RecordBatch::new_empty(schema.clone()));
    }
    type Grouped<'a> = [Option<&'a str>; GROUPED_BY.len()];
    // DataFusion's map (foldhash, seeded per process), as its own grouping hashes rows:
    // std's SipHash took twice the instructions on these short strings.
    let mut distinct: HashMap<Grouped<'_>, u32> = HashMap::default();
    // (hour, grouped values' id, ts, batch, row), the id replaced by its rank below.
    let mut order: Vec<(i64, u32, i64, u32, u32)> = Vec::with_capacity(rows);
    for (b, batch) in batches.iter().enumerate() {
        let ts = ts_column(batch)?;
        let columns: Vec<Option<&StringArray>> = GROUPED_BY
            .iter()
            .map(|name| {
                batch
                    .column_by_name(name)
                    .and_then(|c| c.as_string_opt::<i32>())
            })
            .collect();
        // Rows of one request come in a run and share their context: a row like the one
        // before needs no hashing.
        let mut last: Option<(Grouped<'_>, u32)> = None;
        for i in 0..batch.num_rows() {
            let mut grouped: Grouped<'_> = [None; GROUPED_BY.len()];
            for (value, column) in grouped.iter_mut().zip(&columns) {
                *value = column.filter(|c| c.is_valid(i)).map(|c| c.value(i));
            }
            let id = match last {
                Some((before, id)) if before == grouped => id,
                _ => {
                    let next = distinct.len() as u32;
                    let id = *distinct.entry(grouped).or_insert(next);
                    last = Some((grouped, id));
                    id
                }
            };
            let t = ts.value(i);
            order.push((t.div_euclid(GROUP_MS), id, t, b as u32, i as u32));
        }
    }
    // Values compare as arrow's row format compares them: missing first, then by bytes.
    let mut by_value: Vec<(Grouped<'_>, u32)> = distinct.into_iter().collect();
    by_value.sort_unstable();
    let mut rank = vec![0u32; by_value.len()];
    for (r, (_, id)) in by_value.iter().enumerate() {
        rank[*id as usize] = r as u32;
    }
    for row in &mut order {
        row.1 = rank[row.1 as usize];
    }
    let indices = sorted_places(order);
    let refs: Vec<&RecordBatch> = batches.iter().collect();
    interleave_rows(&refs, &indices)
}

/// The (batch, row) places of `order`'s rows, (hour, rank, ts, batch, row) in the order
/// of the batches' rows, sorted by those five.
///
/// Each row's sort key is packed into one `u128` when it fits, which it does unless a
/// flush spans more than about 2^60 hours or rows: the hour as a distance from the flush's
/// first, the rank, `ts` within its hour (22 bits) and the row's position (which orders
/// rows as (batch, row) do). Two `u128`s compare in a few instructions where two tuples
/// compared field by field: the sort took 420 instructions a row on `make
/// bench-instructions`, and takes 210.
fn sorted_places(mut order: Vec<(i64, u32, i64, u32, u32)>) -> Vec<(usize, usize)> {
    fn bits(max: u128) -> u32 {
        u128::BITS - max.leading_zeros()
    }
    let hours = order.iter().map(|row| row.0);
    let (first, last) = (hours.clone().min(), hours.max());
    let packed = first.zip(last).and_then(|(first, last)| {
        let hour_bits = bits(u128::try_from(i128::from(last) - i128::from(first)).ok()?);
        let rank_bits = bits(order.iter().map(|row| row.1).max().map_or(0, u128::from));
        let ts_bits = bits(GROUP_MS as u128 - 1);
        let position_bits = bits(order.len() as u128);
        let used = hour_bits + rank_bits + ts_bits + position_bits;
        (used <= u128::BITS).then(|| {
            let keys = order
                .iter()
                .enumerate()
                .map(|(position, &(hour, rank, ts, ..))| {
                    let hour = (i128::from(hour) - i128::from(first)) as u128;
                    let within = ts.rem_euclid(GROUP_MS) as u128;
                    (((((hour << rank_bits) | u128::from(rank)) << ts_bits) | within)
                        << position_bits)
                        | position as u128
                });
            let mut keys: Vec<u128> = keys.collect();
            keys.sort_unstable();
            let mask = (1u128 << position_bits) - 1;
            keys.into_iter()
                .map(|key| {
                    let (.., b, i) = order[(key & mask) as usize];
                    (b as usize, i as usize)
                })
                .collect()
        })
    });
    packed.unwrap_or_else(|| {
        order.sort_unstable();
        order
            .into_iter()
            .map(|(.., b, i)| (b as usize, i as usize))
            .collect()
    })
}

/// The rows at `indices` (batch, row) of `batches`, in that order, as arrow's
/// `interleave_record_batch` gathers them, except that a column without a value in any of
/// the batches becomes nulls at once: arrow gathers such a column's null bits and zeroed
/// values row by row, and tables are wide while each kind of event fills few of their
/// columns (61% of the columns of a flush in `vigil bench ingest` are empty).
fn interleave_rows(
    batches: &[&RecordBatch],
    indices: &[(usize, usize)],
) -> io::Result<RecordBatch> {
    let schema = batches[0].schema();
    // One array of nulls per type, shared by every empty column of that type: made per
    // column, zeroed buffers of a flush's rows took 0.8% of the server's instructions
    // during ingest (`make bench-instructions`).
    let mut nulls: Vec<ArrayRef> = Vec::new();
    let columns = (0..schema.fields().len())
        .map(|i| {
            let inputs: Vec<&dyn Array> = batches.iter().map(|b| b.column(i).as_ref()).collect();
            if inputs.iter().all(|a| a.null_count() == a.len()) {
                let ty = schema.field(i).data_type();
                if let Some(shared) = nulls.iter().find(|a| a.data_type() == ty) {
                    return Ok(shared.clone());
                }
                let made = new_null_array(ty, indices.len());
                nulls.push(made.clone());
                Ok(made)
            } else {
                interleave(&inputs, indices)
            }
        })
        .collect::<Result<Vec<ArrayRef>, _>>()
        .map_err(to_io)?;
    RecordBatch::try_new(schema, columns).map_err(to_io)
}

/// Minimum and maximum time of the rows a stored batch holds, vitals folded into view rows
/// included.
pub fn ts_range(batch: &RecordBatch) -> io::Result<(i64, i64)> {
    Ok(crate::fold::stored_ts_range(batch)
        .map_err(to_io)?
        .unwrap_or((0, 0)))
}

/// Rows per Parquet row group.
const ROW_GROUP_ROWS: usize = 256 * 1024;
/// Rows per data page at most. A reader holds one decoded page per column, so a merge of
/// segments holds a page of each column of each input: with pages of up to 1 MiB (the
/// default size limit), 16 inputs of a ~150-column table took 750 MiB of RSS.
const PAGE_ROWS: usize = 8192;

/// How a segment's pages are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packing {
    /// A flush's segment, soon read again by a merge: pages uncompressed. A merge reads
    /// every column of each of its inputs at once, and a zstd page reader holds a decoder
    /// context of about 95 KiB: merges (up to 8 inputs of a table of ~150 columns) held 75
    /// MiB of contexts, a third of the server's heap at its peak during `vigil bench
    /// ingest` (heaptrack). LZ4 took no context, but compressing took 460 instructions an
    /// event of intake's 22,500 (2%) for pages the next merge decompresses; dictionaries and
    /// runs already make the pages small (a flush's segments take about 30 bytes an event
    /// uncompressed, 13 in LZ4).
    Fresh,
    /// A segment kept as it is (merged or rewritten): zstd, about twice as tight.
    Lasting,
}

/// Writes a batch of `table` as a Parquet file, durably: temp file, fsync, rename.
pub fn write_parquet(
    path: &Path,
    table: Table,
    batch: &RecordBatch,
    packing: Packing,
) -> io::Result<u64> {
    let mut writer = SegmentWriter::create(path, table, batch.schema(), packing)?;
    writer.write(batch)?;
    writer.finish()
}

/// A segment being written a batch at a time: a temp file until [`SegmentWriter::finish`]
/// makes it durable under its name; dropped unfinished, the temp file goes.
pub struct SegmentWriter {
    path: PathBuf,
    tmp: PathBuf,
    writer: Option<ArrowWriter<File>>,
}

impl SegmentWriter {
    /// Starts the segment at `path` for rows of `schema`.
    pub fn create(
        path: &Path,
        table: Table,
        schema: SchemaRef,
        packing: Packing,
    ) -> io::Result<SegmentWriter> {
        let dir = path.parent().expect("segment paths have a folder");
        fs::create_dir_all(dir)?;
        let tmp = path.with_extension("parquet.tmp");
        let props = writer_properties(table, &schema, packing)?;
        let file = File::create(&tmp)?;
        let mut out = SegmentWriter {
            path: path.to_owned(),
            tmp,
            writer: None,
        };
        out.writer = Some(ArrowWriter::try_new(file, schema, Some(props)).map_err(to_io)?);
        Ok(out)
    }

    /// Appends rows (encoded into the open row group; a full one is written out).
    pub fn write(&mut self, batch: &RecordBatch) -> io::Result<()> {
        let writer = self.writer.as_mut().expect("a writer until finished");
        writer.write(batch).map_err(to_io)
    }

    /// Writes the footer, fsyncs, and renames the file to its name; its bytes.
    pub fn finish(mut self) -> io::Result<u64> {
        let writer = self.writer.take().expect("finished once");
        let file = writer.into_inner().map_err(to_io)?;
        file.sync_all()?;
        let bytes = file.metadata()?.len();
        fs::rename(&self.tmp, &self.path)?;
        crate::wal::sync_dir(self.path.parent().expect("segment paths have a folder"))?;
        Ok(bytes)
    }
}

impl Drop for SegmentWriter {
    fn drop(&mut self) {
        if self.writer.is_some() {
            // A half-written file on a full disk would hold the space the retry needs.
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

fn writer_properties(
    table: Table,
    schema: &SchemaRef,
    packing: Packing,
) -> io::Result<WriterProperties> {
    let compression = match packing {
        Packing::Fresh => Compression::UNCOMPRESSED,
        Packing::Lasting => Compression::ZSTD(ZstdLevel::try_new(3).map_err(to_io)?),
    };
    let mut props = WriterProperties::builder().set_compression(compression);
    for field in schema.fields() {
        let Some(kind) = crate::fold::stored_field(table, field.name()).map(|f| f.kind) else {
            continue;
        };
        let path = ColumnPath::from(field.name().as_str());
        // Dictionaries pay off for dimensions and small sets of numbers (pixels, counts,
        // statuses); for measurements and ids (nearly all values distinct) they only add
        // a page that is thrown away.
        match kind {
            Kind::Time => {
                props = props
                    .set_column_dictionary_enabled(path.clone(), false)
                    .set_column_encoding(path, Encoding::DELTA_BINARY_PACKED);
            }
            Kind::Measurement(Unit::Px | Unit::Count | Unit::Status) => {}
            Kind::Measurement(_) if *field.data_type() == DataType::Int64 => {
                // Byte stream split puts each byte position of the values together (the
                // high bytes of fixed-point numbers are mostly zero), which zstd then packs
                // tighter than whole little-endian values: 101.2 → 92.3 bytes per page
                // view on `vigil bench query --page-views 300000` (delta binary packing:
                // 95.6).
                props = props
                    .set_column_dictionary_enabled(path.clone(), false)
                    .set_column_encoding(path, Encoding::BYTE_STREAM_SPLIT);
            }
            Kind::Id => {
                // Each id as the length of the start it shares with the id before it and
                // the rest: the browser agent's session ids begin with their start time, so
                // rows in time order share most of it, and a view id stored after its session
                // begins with its start after the session's (`-0` for a session's first).
                // zstd sees only the rest; the two lengths take about 0.6 byte a row.
                props = props
                    .set_column_dictionary_enabled(path.clone(), false)
                    .set_column_encoding(path, Encoding::DELTA_BYTE_ARRAY);
            }
            // A flush's segment is merged with the next ones (see `Packing::Fresh`; a
            // table-day's last few may stay): min/max statistics of its text columns cost
            // 1,100 instructions an event (4% of intake's, `make bench-instructions`) and
            // served only queries that filter those few segments' rows by a text value.
            // Merged segments have them. Dictionaries stay: without them (700 more) the
            // dashboard's last hour, read from these segments, took 15–20% longer.
            _ if packing == Packing::Fresh && *field.data_type() == DataType::Utf8 => {
                props = props.set_column_statistics_enabled(path, EnabledStatistics::None);
            }
            _ => {}
        }
    }
    Ok(props
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_data_page_row_count_limit(PAGE_ROWS)
        .build())
}

/// Rows each input of a merge is read in: a merge holds about this many rows per input.
const MERGE_READ_ROWS: usize = 2048;
/// Rows a merge gathers before it writes them out.
const MERGE_WRITE_ROWS: usize = 16 * 1024;

/// What [`merge_segments`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Merged {
    /// Rows in the new segment.
    pub rows: u64,
    /// Its bytes on disk.
    pub bytes: u64,
    /// The earliest and latest time of its rows (vitals folded into views included).
    pub ts: (i64, i64),
}

/// One segment being read for a merge: its current batch and the next row of it.
struct MergeInput {
    reader: ParquetRecordBatchReader,
    batch: RecordBatch,
    keys: Rows,
    row: usize,
    /// Where `batch` is in the merge's list of held batches.
    held: usize,
}

impl MergeInput {
    /// Moves to the input's next batch, held from now on; false once it has no more rows.
    /// The exhausted input's last batch stays held until the rows picked from it are
    /// written; an empty batch stands in for it meanwhile.
    fn advance(
        &mut self,
        held: &mut Vec<RecordBatch>,
        schema: &SchemaRef,
        order: &RowOrder,
    ) -> io::Result<bool> {
        self.row = 0;
        let Some(batch) = next_batch(&mut self.reader, schema)? else {
            self.batch = RecordBatch::new_empty(schema.clone());
            return Ok(false);
        };
        self.keys = order.keys(&batch)?;
        self.batch = batch.clone();
        held.push(batch);
        self.held = held.len() - 1;
        Ok(true)
    }

    fn key(&self) -> OwnedRow {
        self.keys.row(self.row).owned()
    }
}

/// Merges segments of `table`, each in the order segments keep ([`RowOrder`]), into one
/// segment at `path` in that order, equal keys in the inputs' order (the order
/// [`sorted_for_segment`] gives their rows). An input in another order (a segment written
/// in time order by an earlier release) merges whole, only less well grouped. Each input is read [`MERGE_READ_ROWS`] rows at a time, so memory grows with the
/// number of inputs and not with their rows: compaction merged whole segments in memory
/// before, 1.6 GB of RSS for a day of 42 small segments per table in `vigil bench ingest
/// --events 5000000`.
pub fn merge_segments(inputs: &[PathBuf], table: Table, path: &Path) -> io::Result<Merged> {
    let schema = crate::fold::stored_schema(table);
    let order = RowOrder::new(&schema)?;
    let mut held: Vec<RecordBatch> = Vec::new();
    let mut readers = Vec::new();
    for input in inputs {
        let mut reader = ParquetRecordBatchReaderBuilder::try_new(File::open(input)?)
            .map_err(to_io)?
            .with_batch_size(MERGE_READ_ROWS)
            .build()
            .map_err(to_io)?;
        if let Some(batch) = next_batch(&mut reader, &schema)? {
            held.push(batch.clone());
            readers.push(MergeInput {
                keys: order.keys(&batch)?,
                reader,
                batch,
                row: 0,
                held: held.len() - 1,
            });
        }
    }
    let mut heads: BinaryHeap<Reverse<(OwnedRow, usize)>> = readers
        .iter()
        .enumerate()
        .map(|(i, r)| Reverse((r.key(), i)))
        .collect();
    let mut writer = SegmentWriter::create(path, table, schema.clone(), Packing::Lasting)?;
    let mut picked: Vec<(usize, usize)> = Vec::with_capacity(MERGE_WRITE_ROWS);
    let mut merged = Merged {
        rows: 0,
        bytes: 0,
        ts: (i64::MAX, i64::MIN),
    };
    let mut write = |held: &mut Vec<RecordBatch>,
                     picked: &mut Vec<(usize, usize)>,
                     readers: &mut [MergeInput]|
     -> io::Result<()> {
        if !picked.is_empty() {
            let refs: Vec<&RecordBatch> = held.iter().collect();
            let out = interleave_rows(&refs, picked)?;
            if let Some((lo, hi)) = crate::fold::stored_ts_range(&out).map_err(to_io)? {
                merged.ts = (merged.ts.0.min(lo), merged.ts.1.max(hi));
            }
            merged.rows += out.num_rows() as u64;
            writer.write(&out)?;
            picked.clear();
        }
        // Only the inputs' current batches stay held.
        held.clear();
        for r in readers.iter_mut() {
            held.push(r.batch.clone());
            r.held = held.len() - 1;
        }
        Ok(())
    };
    while let Some(Reverse((_, i))) = heads.pop() {
        let input = &mut readers[i];
        picked.push((input.held, input.row));
        input.row += 1;
        if input.row < input.batch.num_rows() || input.advance(&mut held, &schema, &order)? {
            heads.push(Reverse((input.key(), i)));
        }
        if picked.len() >= MERGE_WRITE_ROWS {
            write(&mut held, &mut picked, &mut readers)?;
        }
    }
    write(&mut held, &mut picked, &mut readers)?;
    merged.bytes = writer.finish()?;
    if merged.rows == 0 {
        merged.ts = (0, 0);
    }
    Ok(merged)
}

fn next_batch(
    reader: &mut ParquetRecordBatchReader,
    schema: &SchemaRef,
) -> io::Result<Option<RecordBatch>> {
    loop {
        match reader.next() {
            None => return Ok(None),
            Some(batch) => {
                let batch = conform(schema, &batch.map_err(to_io)?)?;
                if batch.num_rows() > 0 {
                    return Ok(Some(batch));
                }
            }
        }
    }
}

fn ts_column(batch: &RecordBatch) -> io::Result<Int64Array> {
    batch
        .column_by_name("ts")
        .and_then(|c| c.as_any().downcast_ref::<Int64Array>())
        .cloned()
        .ok_or_else(|| io::Error::other("no ts column"))
}

/// Reads a whole Parquet segment.
pub fn read_parquet(path: &Path) -> io::Result<Vec<RecordBatch>> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(path)?)
        .map_err(to_io)?
        .with_batch_size(64 * 1024)
        .build()
        .map_err(to_io)?;
    reader.map(|b| b.map_err(to_io)).collect()
}

/// Compressed bytes per column of a Parquet segment, from its footer (for figures such as
/// what each column costs per row).
pub fn column_bytes(path: &Path) -> io::Result<Vec<(String, u64)>> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(path)?).map_err(to_io)?;
    let mut out: Vec<(String, u64)> = Vec::new();
    for group in builder.metadata().row_groups() {
        for column in group.columns() {
            let name = column.column_path().string();
            let bytes = column.compressed_size().max(0) as u64;
            match out.iter_mut().find(|(n, _)| *n == name) {
                Some((_, b)) => *b += bytes,
                None => out.push((name, bytes)),
            }
        }
    }
    Ok(out)
}

/// Reads a whole segment of `table` in the table's current stored schema (for views, with
/// the folded vitals' columns): a segment written before the table gained columns reads
/// them as null, so it merges with newer ones.
pub fn read_segment(path: &Path, table: Table) -> io::Result<Vec<RecordBatch>> {
    let schema = crate::fold::stored_schema(table);
    read_parquet(path)?
        .iter()
        .map(|b| conform(&schema, b))
        .collect()
}

/// A batch in `schema`: columns it lacks are null, columns the schema lacks are left out.
pub fn conform(schema: &SchemaRef, batch: &RecordBatch) -> io::Result<RecordBatch> {
    if batch.schema() == *schema {
        return Ok(batch.clone());
    }
    let columns = schema
        .fields()
        .iter()
        .map(|f| match batch.column_by_name(f.name()) {
            Some(c) => c.clone(),
            None => datafusion::arrow::array::new_null_array(f.data_type(), batch.num_rows()),
        })
        .collect();
    RecordBatch::try_new(schema.clone(), columns).map_err(to_io)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::compute::concat_batches;
    use datafusion::parquet::file::reader::{FileReader, SerializedFileReader};
    use vigil_model::Rows;
    use vigil_model::SpanRecord;

    /// A segment of spans with these start times, sorted as a flush writes it; each span's
    /// id says which input and which row it came from.
    fn segment(dir: &Path, input: usize, starts: &[i64]) -> (PathBuf, RecordBatch) {
        let spans: Vec<SpanRecord> = starts
            .iter()
            .enumerate()
            .map(|(row, &ms)| SpanRecord {
                trace_id: format!("{input:016x}{row:016x}"),
                span_id: format!("{input:04x}{row:012x}"),
                parent_span_id: None,
                service: "shop".into(),
                name: format!("input {input} row {row}"),
                kind: "server",
                start_ms: ms as f64,
                duration_ms: 1.0,
                status: "ok",
                ..Default::default()
            })
            .collect();
        let batches: Vec<RecordBatch> = Rows::from_spans(1, &spans)
            .batches()
            .into_iter()
            .map(|(_, b)| b)
            .collect();
        let schema = crate::fold::stored_schema(Table::Spans);
        let sorted = sorted_for_segment(&schema, &batches).unwrap();
        let path = dir.join(format!("in-{input}.parquet"));
        write_parquet(&path, Table::Spans, &sorted, Packing::Fresh).unwrap();
        (path, sorted)
    }

    #[test]
    fn packed_sort_keys_order_rows_as_their_fields_do() {
        // xorshift: the same rows on every run.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let base = 1_700_000_000_000i64;
        // Spans of time from one millisecond to centuries (and before 1970), few and many
        // ranks, and times far enough apart that the keys no longer fit (the field sort).
        let spans = [
            1i64,
            GROUP_MS - 1,
            GROUP_MS * 3 + 5,
            10 * 365 * 86_400_000,
            i64::MAX,
        ];
        for (case, span) in spans.into_iter().enumerate() {
            for ranks in [1u32, 7, 5_000] {
                let batches = 1 + next() % 4;
                let mut order = Vec::new();
                for b in 0..batches {
                    for i in 0..next() % 3_000 {
                        let ts = if span == i64::MAX {
                            [i64::MIN, i64::MAX, base, -base][next() as usize % 4]
                        } else {
                            base - span / 2 + (next() % span as u64) as i64
                        };
                        let rank = (next() % u64::from(ranks)) as u32;
                        order.push((ts.div_euclid(GROUP_MS), rank, ts, b as u32, i as u32));
                    }
                }
                let mut expected = order.clone();
                expected.sort_unstable();
                let expected: Vec<(usize, usize)> = expected
                    .into_iter()
                    .map(|(.., b, i)| (b as usize, i as usize))
                    .collect();
                assert_eq!(sorted_places(order), expected, "case {case}, {ranks} ranks");
            }
        }
        assert_eq!(sorted_places(Vec::new()), Vec::new());
    }

    #[test]
    fn a_merge_of_segments_is_the_in_memory_sort_of_their_rows() {
        let dir = tempfile::tempdir().unwrap();
        // Sizes around the merge's read and write chunks, and few distinct times, so that
        // equal times across inputs and batch boundaries inside an input both occur.
        let sizes = [3_000usize, 1, 0, MERGE_READ_ROWS * 3 + 7, 20_000, 2_048];
        let base = 1_700_000_000_000i64;
        let (mut paths, mut sorted) = (Vec::new(), Vec::new());
        for (input, &n) in sizes.iter().enumerate() {
            let starts: Vec<i64> = (0..n)
                .map(|row| base + ((row * 7919 + input * 31) % 997) as i64)
                .collect();
            let (path, batch) = segment(dir.path(), input, &starts);
            paths.push(path);
            sorted.push(batch);
        }
        let out = dir.path().join("merged.parquet");
        let merged = merge_segments(&paths, Table::Spans, &out).unwrap();

        let schema = crate::fold::stored_schema(Table::Spans);
        let expected = sorted_for_segment(&schema, &sorted).unwrap();
        let got = concat_batches(&schema, &read_parquet(&out).unwrap()).unwrap();
        assert_eq!(got.num_rows(), sizes.iter().sum::<usize>());
        assert!(
            got == expected,
            "the merged rows differ from the in-memory sort"
        );
        assert_eq!(merged.rows, got.num_rows() as u64);
        assert_eq!(merged.ts, ts_range(&expected).unwrap());
        assert_eq!(merged.bytes, fs::metadata(&out).unwrap().len());
        assert!(!out.with_extension("parquet.tmp").exists());
    }

    /// View rows over three hours with few devices, browsers and countries (some missing),
    /// in `batches` batches of arrival order.
    fn view_rows(batches: usize, rows: usize, seed: usize) -> Vec<RecordBatch> {
        use datafusion::arrow::array::StringArray;
        let schema = crate::fold::stored_schema(Table::Views);
        let pick = |i: usize, of: &[&'static str]| -> Option<&'static str> {
            let k = (i * 2_654_435_761 + seed) % (of.len() + 1);
            of.get(k).copied()
        };
        (0..batches)
            .map(|b| {
                let at = |r: usize| b * rows + r;
                let ts: Int64Array = (0..rows)
                    .map(|r| {
                        let i = at(r);
                        1_700_000_000_000 + ((i * 7_919 + seed) % 997) as i64 * 11_000
                    })
                    .collect();
                let column = |name: &str, of: &[&'static str], salt: usize| -> (String, ArrayRef) {
                    let values: StringArray =
                        (0..rows).map(|r| pick(at(r) / 3 + salt, of)).collect();
                    (name.to_owned(), Arc::new(values))
                };
                let batch = RecordBatch::try_from_iter([
                    ("ts".to_owned(), Arc::new(ts) as ArrayRef),
                    column("device_type", &["desktop", "mobile"], 1),
                    column("os", &["Android", "Windows", "iOS"], 7),
                    column("browser", &["Chrome", "Safari"], 3),
                    column("country", &["DE", "FR", "US"], 11),
                    column("session_id", &["a", "b", "c", "d"], 5),
                ])
                .unwrap();
                conform(&schema, &batch).unwrap()
            })
            .collect()
    }

    /// A row's place in the order segments keep, spelled out: hour, the grouped columns
    /// (missing first), time.
    fn expected_key(
        batch: &RecordBatch,
        row: usize,
    ) -> (Option<i64>, Vec<Option<String>>, Option<i64>) {
        use datafusion::arrow::array::AsArray;
        let ts = ts_column(batch).unwrap();
        let ts = ts.is_valid(row).then(|| ts.value(row));
        let grouped = GROUPED_BY
            .iter()
            .map(|name| {
                let c = batch.column_by_name(name).unwrap().as_string::<i32>();
                c.is_valid(row).then(|| c.value(row).to_owned())
            })
            .collect();
        (ts.map(|t| t.div_euclid(GROUP_MS)), grouped, ts)
    }

    #[test]
    fn gathering_rows_skips_empty_columns_and_keeps_every_value() {
        use datafusion::arrow::compute::interleave_record_batch;
        let mut batches = view_rows(3, 200, 4);
        // `browser` has values in the middle batch only: it is gathered, not skipped.
        for b in [0, 2] {
            let i = batches[b].schema().index_of("browser").unwrap();
            let mut columns = batches[b].columns().to_vec();
            columns[i] = new_null_array(&DataType::Utf8, batches[b].num_rows());
            batches[b] = RecordBatch::try_new(batches[b].schema(), columns).unwrap();
        }
        let refs: Vec<&RecordBatch> = batches.iter().collect();
        let indices: Vec<(usize, usize)> =
            (0..600).map(|k| ((k * 7) % 3, (k * 13) % 200)).collect();
        let got = interleave_rows(&refs, &indices).unwrap();
        assert_eq!(got, interleave_record_batch(&refs, &indices).unwrap());
        let empty = got
            .columns()
            .iter()
            .filter(|c| c.null_count() == c.len())
            .count();
        assert!(
            empty > 10,
            "only {empty} empty columns: the test misses the skip"
        );
        let browser = got.column_by_name("browser").unwrap();
        assert!(browser.null_count() > 0 && browser.null_count() < 600);
    }

    #[test]
    fn segments_keep_each_hours_rows_grouped_by_device_and_place() {
        let schema = crate::fold::stored_schema(Table::Views);
        let batches = view_rows(4, 500, 0);
        let sorted = sorted_for_segment(&schema, &batches).unwrap();
        assert_eq!(sorted.num_rows(), 2_000);
        let keys: Vec<_> = (0..sorted.num_rows())
            .map(|r| expected_key(&sorted, r))
            .collect();
        for pair in keys.windows(2) {
            assert!(
                pair[0] <= pair[1],
                "{:?} came before {:?}",
                pair[0],
                pair[1]
            );
        }
        // Every row is there once (the session column tells rows apart only loosely, so
        // count each key's rows on both sides).
        let mut before: Vec<_> = batches
            .iter()
            .flat_map(|b| (0..b.num_rows()).map(move |r| expected_key(b, r)))
            .collect();
        before.sort();
        assert_eq!(before, keys);
        // The grouping is there to be had: an hour holds more than one device.
        assert!(
            keys.windows(2)
                .any(|p| p[0].0 == p[1].0 && p[0].1 != p[1].1)
        );
    }

    #[test]
    fn a_merge_of_view_segments_keeps_their_grouped_order() {
        let dir = tempfile::tempdir().unwrap();
        let schema = crate::fold::stored_schema(Table::Views);
        let (mut paths, mut sorted) = (Vec::new(), Vec::new());
        for (input, rows) in [
            (0usize, MERGE_READ_ROWS * 2 + 3),
            (1, 1),
            (2, 700),
            (3, 5_000),
        ] {
            let batch = sorted_for_segment(&schema, &view_rows(2, rows, input * 17)).unwrap();
            let path = dir.path().join(format!("in-{input}.parquet"));
            write_parquet(&path, Table::Views, &batch, Packing::Fresh).unwrap();
            paths.push(path);
            sorted.push(batch);
        }
        let out = dir.path().join("merged.parquet");
        merge_segments(&paths, Table::Views, &out).unwrap();
        let expected = sorted_for_segment(&schema, &sorted).unwrap();
        let got = concat_batches(&schema, &read_segment(&out, Table::Views).unwrap()).unwrap();
        assert!(
            got == expected,
            "the merged rows differ from the in-memory sort"
        );
        // The inputs were written for the merge (uncompressed, no decoder context), its
        // output to be kept (zstd).
        let codecs = |path: &Path| {
            let file = File::open(path).unwrap();
            let reader = SerializedFileReader::new(file).unwrap();
            let group = reader.metadata().row_group(0);
            // A file does not record zstd's level.
            let mut codecs: Vec<_> = group
                .columns()
                .iter()
                .map(|c| match c.compression() {
                    Compression::ZSTD(_) => "zstd".to_owned(),
                    other => other.to_string(),
                })
                .collect();
            codecs.dedup();
            codecs
        };
        assert_eq!(codecs(&paths[0]), ["UNCOMPRESSED"]);
        assert_eq!(codecs(&out), ["zstd"]);
        // Text columns: dictionaries in both, min/max only where segments are kept; times
        // keep their statistics in both, for pruning.
        let column = |path: &Path, name: &str| {
            let reader = SerializedFileReader::new(File::open(path).unwrap()).unwrap();
            let group = reader.metadata().row_group(0);
            let c = group
                .columns()
                .iter()
                .find(|c| c.column_path().string() == name)
                .unwrap_or_else(|| panic!("no column {name}"))
                .clone();
            (
                c.dictionary_page_offset().is_some(),
                c.statistics().is_some_and(|s| s.min_bytes_opt().is_some()),
            )
        };
        assert_eq!(column(&paths[0], "country"), (true, false));
        assert_eq!(column(&out, "country"), (true, true));
        for path in [&paths[0], &out] {
            assert!(column(path, "ts").1, "{path:?}");
        }
    }

    #[test]
    fn a_merge_that_fails_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let (good, _) = segment(dir.path(), 0, &[1, 2, 3]);
        let bad = dir.path().join("not-parquet.parquet");
        fs::write(&bad, b"not a parquet file").unwrap();
        let out = dir.path().join("merged.parquet");
        assert!(merge_segments(&[good, bad], Table::Spans, &out).is_err());
        assert!(!out.exists() && !out.with_extension("parquet.tmp").exists());
    }
}
