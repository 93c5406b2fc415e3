//! Writing and reading Parquet segments.

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::array::{Array, Int64Array};
use datafusion::arrow::compute::interleave_record_batch;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::parquet::basic::{Compression, Encoding, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::parquet::schema::types::ColumnPath;
use std::fs::{self, File};
use std::io;
use std::path::Path;
use vigil_model::{Kind, Table, Unit};

fn to_io<E: std::error::Error + Send + Sync + 'static>(e: E) -> io::Error {
    io::Error::other(e)
}

/// Merges batches into one sorted by `ts`, the order segments are kept in so that
/// row-group statistics prune time ranges well. (Sorting by hour, then session, was
/// measured: with `vigil bench query`'s one-view sessions nothing repeats to compress, and
/// it cost 98.0 against 92.3 bytes per page view.) Rows are gathered straight from the
/// batches in that order: one copy, where concatenating first made two.
pub fn sorted_for_segment(schema: &SchemaRef, batches: &[RecordBatch]) -> io::Result<RecordBatch> {
    let mut order: Vec<(i64, u32, u32)> = Vec::new();
    for (b, batch) in batches.iter().enumerate() {
        let ts = batch
            .column_by_name("ts")
            .and_then(|c| c.as_any().downcast_ref::<Int64Array>())
            .ok_or_else(|| io::Error::other("no ts column"))?;
        order.extend((0..ts.len()).map(|i| {
            (
                if ts.is_valid(i) {
                    ts.value(i)
                } else {
                    i64::MIN
                },
                b as u32,
                i as u32,
            )
        }));
    }
    if order.is_empty() {
        return Ok(RecordBatch::new_empty(schema.clone()));
    }
    // Equal times keep their arrival order (batch, then row), as the stable sort did.
    order.sort_unstable();
    let indices: Vec<(usize, usize)> = order
        .into_iter()
        .map(|(_, b, i)| (b as usize, i as usize))
        .collect();
    let refs: Vec<&RecordBatch> = batches.iter().collect();
    interleave_record_batch(&refs, &indices).map_err(to_io)
}

/// Minimum and maximum time of the rows a stored batch holds, vitals folded into view rows
/// included.
pub fn ts_range(batch: &RecordBatch) -> io::Result<(i64, i64)> {
    Ok(crate::fold::stored_ts_range(batch)
        .map_err(to_io)?
        .unwrap_or((0, 0)))
}

/// Writes a batch of `table` as a zstd Parquet file, durably: temp file, fsync, rename.
/// Rows per Parquet row group.
const ROW_GROUP_ROWS: usize = 256 * 1024;

pub fn write_parquet(path: &Path, table: Table, batch: &RecordBatch) -> io::Result<u64> {
    let dir = path.parent().expect("segment paths have a folder");
    fs::create_dir_all(dir)?;
    let tmp = path.with_extension("parquet.tmp");
    let mut props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).map_err(to_io)?));
    for field in batch.schema().fields() {
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
                // Lengths apart from the bytes: ids have one length, so the lengths take
                // nearly nothing and zstd sees only the id characters.
                props = props
                    .set_column_dictionary_enabled(path.clone(), false)
                    .set_column_encoding(path, Encoding::DELTA_LENGTH_BYTE_ARRAY);
            }
            _ => {}
        }
    }
    let props = props
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .build();
    let written = (|| {
        let file = File::create(&tmp)?;
        let mut writer = ArrowWriter::try_new(file, batch.schema(), Some(props)).map_err(to_io)?;
        writer.write(batch).map_err(to_io)?;
        let file = writer.into_inner().map_err(to_io)?;
        file.sync_all()?;
        file.metadata().map(|m| m.len())
    })();
    let bytes = match written {
        Ok(bytes) => bytes,
        Err(e) => {
            // A half-written file on a full disk would hold the space the retry needs.
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
    };
    fs::rename(&tmp, path)?;
    crate::wal::sync_dir(dir)?;
    Ok(bytes)
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
