//! Vitals folded into their view's row at flush.
//!
//! A page view's vitals (LCP, INP, CLS, FCP, TTFB) repeat every column of the view they
//! belong to: its ids, URL, browser, country and so on. A vital that reaches the same flush
//! as its view, and whose shared columns are all equal to the view's, is stored in the
//! view's Parquet row instead, as a few `{vital}__{column}` columns and the offset of its
//! time from the view's. Nothing is lost: the vitals table's rows come back whole when a
//! scan or a query unfolds them (the query layer from [`FOLDED`], scans from [`unfold`]).
//! A vital that arrives after its view was flushed, or that differs from its view in any
//! shared column (a user id set mid-view, another page URL), stays a row of its own.
//!
//! This is the embedded store's physical layout only: the tables callers see are the same.

use datafusion::arrow::array::{
    Array, ArrayRef, BooleanArray, Int64Array, RecordBatch, StringArray, UInt32Array,
    make_comparator, new_null_array,
};
use datafusion::arrow::compute::{
    SortOptions, concat_batches, filter_record_batch, is_not_null, take,
};
use datafusion::arrow::datatypes::{DataType, Field as ArrowField, Schema, SchemaRef};
use datafusion::arrow::error::ArrowError;
use datafusion::common::HashMap;
use std::sync::{Arc, LazyLock};
use vigil_model::Table;

/// One vital that folds into view rows, and the vitals columns of its own it keeps (the
/// attribution the agent sends for it). A vital with any other column set stays a row.
pub struct FoldedVital {
    /// The vital's `name` in the vitals table.
    pub name: &'static str,
    /// Its columns stored in the view row, as `{prefix}__{column}`.
    pub columns: &'static [&'static str],
    /// The lowercase prefix of its view-row columns.
    pub prefix: &'static str,
}

/// The vitals that fold, each at most once per view.
pub const FOLDED: &[FoldedVital] = &[
    FoldedVital {
        name: "LCP",
        prefix: "lcp",
        columns: &[
            "value",
            "rating",
            "element",
            "url",
            "lcp_ttfb",
            "load_delay",
            "load_duration",
            "render_delay",
        ],
    },
    FoldedVital {
        name: "INP",
        prefix: "inp",
        columns: &[
            "value",
            "rating",
            "element",
            "event_type",
            "input_delay",
            "processing",
            "presentation_delay",
            "script_url",
            "script_duration",
            "load_state",
        ],
    },
    FoldedVital {
        name: "CLS",
        prefix: "cls",
        columns: &["value", "rating", "element", "shift_time", "load_state"],
    },
    FoldedVital {
        name: "FCP",
        prefix: "fcp",
        columns: &["value", "rating", "lcp_ttfb", "load_state"],
    },
    FoldedVital {
        name: "TTFB",
        prefix: "ttfb",
        columns: &["value", "rating"],
    },
];

impl FoldedVital {
    /// The view-row column holding this vital's `column`.
    pub fn column(&self, column: &str) -> String {
        format!("{}__{column}", self.prefix)
    }

    /// The view-row column holding the vital's time minus the view's.
    pub fn offset_column(&self) -> String {
        format!("{}__ts_offset", self.prefix)
    }

    /// The column that is set exactly when the vital is folded into the row.
    pub fn presence_column(&self) -> String {
        self.column("value")
    }
}

/// Columns every table has (ids, page, device, place, release…): a vital folds only when
/// all of them but `ts` equal its view's.
fn shared_columns() -> impl Iterator<Item = &'static str> {
    let vitals = Table::Vitals.columns();
    Table::Views
        .columns()
        .iter()
        .map(|f| f.name)
        .filter(move |n| *n != "ts" && vitals.iter().any(|v| v.name == *n))
}

/// The columns of a table's Parquet segments: for views, its columns and the folded
/// vitals'; for every other table, its columns.
pub fn stored_schema(table: Table) -> SchemaRef {
    static VIEWS: LazyLock<SchemaRef> = LazyLock::new(|| {
        let mut fields: Vec<ArrowField> = Table::Views
            .schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        for vital in FOLDED {
            fields.push(ArrowField::new(
                vital.offset_column(),
                DataType::Int64,
                true,
            ));
            for column in vital.columns {
                let field = Table::Vitals
                    .column(column)
                    .expect("folded columns are vitals columns");
                fields.push(ArrowField::new(
                    vital.column(column),
                    field.data_type(),
                    true,
                ));
            }
        }
        Arc::new(Schema::new(fields))
    });
    match table {
        Table::Views => VIEWS.clone(),
        other => other.schema(),
    }
}

/// The model column a stored column holds values of (for a folded column, the vitals
/// column), which decides its encoding.
pub fn stored_field(table: Table, name: &str) -> Option<&'static vigil_model::Field> {
    if let Some(f) = table.column(name) {
        return Some(f);
    }
    if table != Table::Views {
        return None;
    }
    let (prefix, column) = name.split_once("__")?;
    FOLDED.iter().find(|v| v.prefix == prefix)?;
    match column {
        "ts_offset" => Table::Vitals.column("ts"),
        c => Table::Vitals.column(c),
    }
}

/// Views and vitals of one project from one memtable: the views as stored (with every
/// vital that folds into them) and the vitals that stay rows.
pub fn fold(
    views: &[RecordBatch],
    vitals: &[RecordBatch],
) -> Result<(RecordBatch, Vec<RecordBatch>), ArrowError> {
    let views = concat_batches(&Table::Views.schema(), views)?;
    let vitals = concat_batches(&Table::Vitals.schema(), vitals)?;
    let folded = fold_targets(&views, &vitals)?;
    let mut columns: Vec<ArrayRef> = views.columns().to_vec();
    let view_ts = int64(&views, "ts")?;
    let vital_ts = int64(&vitals, "ts")?;
    let mut taken = vec![false; vitals.num_rows()];
    for (vital, rows) in FOLDED.iter().zip(&folded) {
        let indices: UInt32Array = rows.iter().map(|r| r.map(|j| j as u32)).collect();
        let offsets: Int64Array = rows
            .iter()
            .enumerate()
            .map(|(i, r)| r.map(|j| vital_ts.value(j) - view_ts.value(i)))
            .collect();
        columns.push(Arc::new(offsets));
        for column in vital.columns {
            let source = vitals
                .column_by_name(column)
                .ok_or_else(|| ArrowError::SchemaError(format!("no vitals column {column}")))?;
            columns.push(take(source.as_ref(), &indices, None)?);
        }
        for j in rows.iter().flatten() {
            taken[*j] = true;
        }
    }
    let stored = RecordBatch::try_new(stored_schema(Table::Views), columns)?;
    let keep: BooleanArray = taken.iter().map(|t| Some(!t)).collect();
    let left = filter_record_batch(&vitals, &keep)?;
    let left = if left.num_rows() == 0 {
        Vec::new()
    } else {
        vec![left]
    };
    Ok((stored, left))
}

/// For each folded vital, for each view row, the vitals row folded into it.
fn fold_targets(
    views: &RecordBatch,
    vitals: &RecordBatch,
) -> Result<Vec<Vec<Option<usize>>>, ArrowError> {
    let mut targets = vec![vec![None; views.num_rows()]; FOLDED.len()];
    if views.num_rows() == 0 || vitals.num_rows() == 0 {
        return Ok(targets);
    }
    // A view id seen twice in the flush is ambiguous: nothing folds into either row.
    let view_ids = string(views, "view_id")?;
    // DataFusion's map (foldhash, seeded per process, as the flush's grouping uses): with
    // std's SipHash, folding took 7.1M more instructions per 100,000 events.
    let mut row_of: HashMap<&str, Option<usize>> = HashMap::with_capacity(views.num_rows());
    for (i, id) in view_ids.iter().enumerate() {
        if let Some(id) = id {
            row_of
                .entry(id)
                .and_modify(|r| *r = None)
                .or_insert(Some(i));
        }
    }
    let shared: Vec<(ArrayRef, ArrayRef)> = shared_columns()
        .map(|c| {
            let view = views.column_by_name(c);
            let vital = vitals.column_by_name(c);
            match (view, vital) {
                (Some(a), Some(b)) => Ok((a.clone(), b.clone())),
                _ => Err(ArrowError::SchemaError(format!("no shared column {c}"))),
            }
        })
        .collect::<Result<_, _>>()?;
    let comparators = shared
        .iter()
        .map(|(a, b)| make_comparator(a.as_ref(), b.as_ref(), SortOptions::default()))
        .collect::<Result<Vec<_>, _>>()?;
    let names = string(vitals, "name")?;
    let vital_ids = string(vitals, "view_id")?;
    // The vitals columns a folded vital may not set: all but the shared ones, ts, name and
    // the ones it keeps.
    let own: Vec<(&str, &ArrayRef)> = Table::Vitals
        .columns()
        .iter()
        .filter(|f| f.name != "ts" && f.name != "name" && views.column_by_name(f.name).is_none())
        .filter_map(|f| vitals.column_by_name(f.name).map(|c| (f.name, c)))
        .collect();
    for j in 0..vitals.num_rows() {
        if names.is_null(j) || vital_ids.is_null(j) {
            continue;
        }
        let (name, id) = (names.value(j), vital_ids.value(j));
        let Some(v) = FOLDED.iter().position(|f| f.name == name) else {
            continue;
        };
        let Some(Some(i)) = row_of.get(id).copied() else {
            continue;
        };
        if targets[v][i].is_some() {
            continue;
        }
        let same = comparators.iter().all(|cmp| cmp(i, j).is_eq());
        let nothing_else = own
            .iter()
            .all(|(c, a)| FOLDED[v].columns.contains(c) || a.is_null(j));
        if same && nothing_else {
            targets[v][i] = Some(j);
        }
    }
    Ok(targets)
}

/// The vitals folded into stored view rows, as rows of the vitals table.
pub fn unfold(stored_views: &RecordBatch) -> Result<Vec<RecordBatch>, ArrowError> {
    let schema = Table::Vitals.schema();
    let mut out = Vec::new();
    for vital in FOLDED {
        let Some(presence) = stored_views.column_by_name(&vital.presence_column()) else {
            continue;
        };
        let rows = filter_record_batch(stored_views, &is_not_null(presence.as_ref())?)?;
        if rows.num_rows() == 0 {
            continue;
        }
        let view_ts = int64(&rows, "ts")?;
        let offsets = int64(&rows, &vital.offset_column())?;
        let columns = schema
            .fields()
            .iter()
            .map(|f| -> Result<ArrayRef, ArrowError> {
                let name = f.name().as_str();
                Ok(if name == "ts" {
                    Arc::new(datafusion::arrow::compute::kernels::numeric::add(
                        view_ts, offsets,
                    )?)
                } else if name == "name" {
                    Arc::new(StringArray::from(vec![vital.name; rows.num_rows()]))
                } else if vital.columns.contains(&name) {
                    rows.column_by_name(&vital.column(name))
                        .cloned()
                        .unwrap_or_else(|| new_null_array(f.data_type(), rows.num_rows()))
                } else if Table::Views.column(name).is_some() {
                    rows.column_by_name(name)
                        .cloned()
                        .unwrap_or_else(|| new_null_array(f.data_type(), rows.num_rows()))
                } else {
                    new_null_array(f.data_type(), rows.num_rows())
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        out.push(RecordBatch::try_new(schema.clone(), columns)?);
    }
    Ok(out)
}

/// The rows of its table a stored batch holds, with the vitals folded into view rows.
pub fn rows_held(batch: &RecordBatch) -> usize {
    batch.num_rows()
        + FOLDED
            .iter()
            .filter_map(|v| batch.column_by_name(&v.presence_column()))
            .map(|c| c.len() - c.null_count())
            .sum::<usize>()
}

/// The smallest and largest time of any row a stored batch holds, folded vitals included
/// (segment pruning must find a vital in its view's segment).
pub fn stored_ts_range(batch: &RecordBatch) -> Result<Option<(i64, i64)>, ArrowError> {
    let ts = int64(batch, "ts")?;
    let mut range: Option<(i64, i64)> = None;
    let mut widen = |v: i64| {
        range = Some(range.map_or((v, v), |(lo, hi)| (lo.min(v), hi.max(v))));
    };
    ts.iter().flatten().for_each(&mut widen);
    for vital in FOLDED {
        if let Some(offsets) = batch
            .column_by_name(&vital.offset_column())
            .and_then(|c| c.as_any().downcast_ref::<Int64Array>())
        {
            for (t, o) in ts.iter().zip(offsets.iter()) {
                if let (Some(t), Some(o)) = (t, o) {
                    widen(t.saturating_add(o));
                }
            }
        }
    }
    Ok(range)
}

fn int64<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a Int64Array, ArrowError> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<Int64Array>())
        .ok_or_else(|| ArrowError::SchemaError(format!("{name} is not an Int64 column")))
}

fn string<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a StringArray, ArrowError> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<StringArray>())
        .ok_or_else(|| ArrowError::SchemaError(format!("{name} is not a text column")))
}
