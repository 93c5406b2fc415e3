//! Timings stored as their difference from what the same row predicts.
//!
//! Several of a view row's timings nearly repeat others: `DOMContentLoaded` ends a few
//! milliseconds after the DOM is interactive, `load` after `domComplete`, the request
//! starts when DNS and the connection are done; an LCP's or FCP's
//! time to first byte is the view's TTFB, an FCP or TTFB vital's value is the view's `fcp`
//! or `ttfb`; and LCP's four parts add up to its value (web-vitals' attribution), so its
//! render delay is the value less the other three. A segment stores each of these as the
//! difference from that prediction, a few bits where the timing took 14 to 20.
//!
//! Nothing is lost: the prediction is a sum of columns the segment stores as they are or
//! that [`DELTAS`] lists earlier (decoded first, encoded last), computed in wrapping
//! integer arithmetic, so stored = value − prediction and value = stored +
//! prediction hold for any numbers. Where a column of the prediction is null the value is
//! stored as it is, and reading adds nothing (the prediction counts as 0).
//!
//! Only view segments (their own columns and the vitals folded into them) are stored this
//! way. The flush writes it ([`encode`]), merges copy it, the store's scans read it back
//! ([`decode`]) and the query layer reads it back in SQL ([`decoded_sql`]).

use datafusion::arrow::array::{Array, ArrayRef, Int64Array, RecordBatch};
use datafusion::arrow::error::ArrowError;
use std::sync::Arc;

/// One column of a prediction: `sign × column × multiply / divide` (`divide` truncates,
/// as SQL's integer division does).
pub struct Term {
    /// A column of the same stored row, stored as it is.
    pub column: &'static str,
    /// +1 or −1.
    pub sign: i64,
    /// Scales the column to the predicted column's units (a vital's value is kept at
    /// 0.0001, timings at 0.1 ms).
    pub multiply: i64,
    /// Divides it (after `multiply`; the two are never both other than 1).
    pub divide: i64,
}

/// A column stored as its difference from the sum of `prediction`.
pub struct Delta {
    /// The stored column (in the views' stored schema).
    pub column: &'static str,
    /// What the row predicts it to be.
    pub prediction: &'static [Term],
}

const fn plus(column: &'static str) -> Term {
    Term {
        column,
        sign: 1,
        multiply: 1,
        divide: 1,
    }
}

const fn minus(column: &'static str) -> Term {
    Term {
        column,
        sign: -1,
        multiply: 1,
        divide: 1,
    }
}

/// The vital scale over the millisecond scale: a time in 0.1 ms as a vital's value.
const VITAL_PER_MS: i64 = 1000;

/// The columns of view segments stored as differences.
pub const DELTAS: &[Delta] = &[
    Delta {
        column: "dom_content_loaded",
        prediction: &[plus("dom_interactive")],
    },
    Delta {
        column: "load",
        prediction: &[plus("dom_complete")],
    },
    // The request starts once the connection is up: TTFB less DNS and connection time,
    // give or take a redirect or a service worker.
    Delta {
        column: "request",
        prediction: &[plus("ttfb"), minus("dns"), minus("tcp")],
    },
    Delta {
        column: "lcp__lcp_ttfb",
        prediction: &[plus("ttfb")],
    },
    Delta {
        column: "fcp__lcp_ttfb",
        prediction: &[plus("ttfb")],
    },
    // An LCP is reported at the time it happened: its offset from the view's start, in
    // whole milliseconds, is its value. (Predicted this way round so that the query of
    // LCP percentiles, which reads both, only multiplies.)
    Delta {
        column: "lcp__value",
        prediction: &[Term {
            column: "lcp__ts_offset",
            sign: 1,
            multiply: VITAL_PER_MS * 10,
            divide: 1,
        }],
    },
    // LCP = TTFB + load delay + load duration + render delay.
    Delta {
        column: "lcp__render_delay",
        prediction: &[
            Term {
                column: "lcp__value",
                sign: 1,
                multiply: 1,
                divide: VITAL_PER_MS,
            },
            minus("ttfb"),
            minus("lcp__load_delay"),
            minus("lcp__load_duration"),
        ],
    },
    Delta {
        column: "fcp__value",
        prediction: &[Term {
            column: "fcp",
            sign: 1,
            multiply: VITAL_PER_MS,
            divide: 1,
        }],
    },
    Delta {
        column: "ttfb__value",
        prediction: &[Term {
            column: "ttfb",
            sign: 1,
            multiply: VITAL_PER_MS,
            divide: 1,
        }],
    },
];

/// The Int64 column `name` of `columns` (by `batch`'s schema), if the batch has it.
fn int64<'a>(
    batch: &RecordBatch,
    columns: &'a [ArrayRef],
    name: &str,
) -> Result<Option<(usize, &'a Int64Array)>, ArrowError> {
    let Ok(index) = batch.schema_ref().index_of(name) else {
        return Ok(None);
    };
    let values = columns[index]
        .as_any()
        .downcast_ref::<Int64Array>()
        .ok_or_else(|| ArrowError::SchemaError(format!("{name} is not Int64")))?;
    Ok(Some((index, values)))
}

/// `columns[delta.column]` turned by `apply(value, prediction)`, the prediction read from
/// `columns` as they are now (a batch without the column or a column of the prediction is
/// left as it is).
fn rewrite_one(
    batch: &RecordBatch,
    columns: &mut [ArrayRef],
    delta: &Delta,
    apply: fn(i64, i64) -> i64,
) -> Result<(), ArrowError> {
    let Some((index, values)) = int64(batch, columns, delta.column)? else {
        return Ok(());
    };
    let mut terms = Vec::new();
    for term in delta.prediction {
        let Some((_, column)) = int64(batch, columns, term.column)? else {
            return Ok(());
        };
        terms.push((term, column));
    }
    let rewritten: Int64Array = (0..values.len())
        .map(|row| {
            values.is_valid(row).then(|| {
                let predicted = terms
                    .iter()
                    .try_fold(0i64, |sum, (term, column)| {
                        column.is_valid(row).then(|| {
                            let scaled =
                                column.value(row).wrapping_mul(term.multiply) / term.divide;
                            sum.wrapping_add(term.sign.wrapping_mul(scaled))
                        })
                    })
                    .unwrap_or(0);
                apply(values.value(row), predicted)
            })
        })
        .collect();
    columns[index] = Arc::new(rewritten) as ArrayRef;
    Ok(())
}

/// View rows as a segment stores them: the delta columns as differences. Last first, so
/// that each prediction reads whole values.
pub fn encode(stored_views: &RecordBatch) -> Result<RecordBatch, ArrowError> {
    let mut columns = stored_views.columns().to_vec();
    for delta in DELTAS.iter().rev() {
        rewrite_one(stored_views, &mut columns, delta, i64::wrapping_sub)?;
    }
    RecordBatch::try_new(stored_views.schema(), columns)
}

/// View rows read from a segment with their timings whole. First first, so that each
/// prediction reads values already whole.
pub fn decode(stored_views: &RecordBatch) -> Result<RecordBatch, ArrowError> {
    let mut columns = stored_views.columns().to_vec();
    for delta in DELTAS {
        rewrite_one(stored_views, &mut columns, delta, i64::wrapping_add)?;
    }
    RecordBatch::try_new(stored_views.schema(), columns)
}

/// The SQL expression of a stored view column's value (the column itself, but for the
/// delta columns, whose predictions read earlier delta columns decoded). SQL's integer
/// `+`, `-` and `*` wrap, as [`encode`] does.
pub fn decoded_sql(column: &str) -> String {
    let Some(delta) = DELTAS.iter().find(|d| d.column == column) else {
        return format!("\"{column}\"");
    };
    let terms: Vec<String> = delta
        .prediction
        .iter()
        .map(|t| {
            let sign = if t.sign < 0 { "-" } else { "+" };
            let mut term = decoded_sql(t.column);
            if t.multiply != 1 {
                term = format!("{term} * {}", t.multiply);
            }
            if t.divide != 1 {
                term = format!("{term} / {}", t.divide);
            }
            format!("{sign} ({term})")
        })
        .collect();
    format!("(\"{column}\" + COALESCE(0 {}, 0))", terms.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    /// A prediction reads columns stored as they are or delta columns listed before it
    /// (decoded first): never itself or a later one.
    #[test]
    fn predictions_read_columns_stored_as_they_are_or_decoded_before() {
        for (i, delta) in DELTAS.iter().enumerate() {
            for term in delta.prediction {
                assert!(
                    DELTAS[i..].iter().all(|d| d.column != term.column),
                    "{} predicts from {}",
                    delta.column,
                    term.column
                );
                assert!(term.multiply == 1 || term.divide == 1);
                assert!(term.divide > 0 && term.sign.abs() == 1);
            }
        }
    }

    #[test]
    fn every_value_comes_back_whatever_its_prediction() {
        let names = [
            "lcp__ts_offset",
            "ttfb",
            "lcp__value",
            "lcp__load_delay",
            "lcp__load_duration",
            "lcp__render_delay",
            "lcp__lcp_ttfb",
        ];
        let schema = Arc::new(Schema::new(
            names
                .iter()
                .map(|n| Field::new(*n, DataType::Int64, true))
                .collect::<Vec<_>>(),
        ));
        let (max, min) = (Some(i64::MAX), Some(i64::MIN));
        let rows: [[Option<i64>; 7]; 5] = [
            // Reported 1830 ms after the view started, and web-vitals' parts add up to the
            // value: the value and the render delay are stored as 0.
            [
                Some(1830),
                Some(1205),
                Some(18_300_000),
                Some(300),
                Some(4000),
                Some(12_795),
                Some(1205),
            ],
            // The view has no TTFB: the render delay and the LCP's TTFB are stored whole.
            [
                Some(1831),
                None,
                Some(18_300_000),
                Some(300),
                Some(4000),
                Some(1),
                Some(9),
            ],
            [None, Some(5), None, None, None, None, None],
            // Overflow wraps both ways.
            [max, max, min, Some(-1), min, max, min],
            [
                Some(-1),
                Some(-7),
                Some(-9999),
                Some(0),
                Some(3),
                Some(-2),
                Some(0),
            ],
        ];
        let columns: Vec<ArrayRef> = (0..names.len())
            .map(|c| Arc::new(rows.iter().map(|r| r[c]).collect::<Int64Array>()) as ArrayRef)
            .collect();
        let batch = RecordBatch::try_new(schema, columns).unwrap();
        let stored = encode(&batch).unwrap();
        let column = |b: &RecordBatch, name: &str| -> Vec<Option<i64>> {
            b.column_by_name(name)
                .unwrap()
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap()
                .iter()
                .collect()
        };
        assert_eq!(column(&stored, "lcp__value")[..2], [Some(0), Some(-10_000)]);
        assert_eq!(
            column(&stored, "lcp__render_delay")[..2],
            [Some(0), Some(1)]
        );
        assert_eq!(column(&stored, "lcp__lcp_ttfb")[..2], [Some(0), Some(9)]);
        assert_eq!(decode(&stored).unwrap(), batch);
    }
}
