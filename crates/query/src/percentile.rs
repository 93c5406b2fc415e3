//! Exact percentiles as DataFusion aggregate functions `p50`, `p75`, `p90`, `p99` (and
//! `percentile_exact(value, q)` through [`percentile`]).
//!
//! Definition: linear interpolation between the closest ranks, i.e. for sorted values
//! `x[0..n]` and `h = q·(n−1)`, the answer is `x[⌊h⌋] + (h−⌊h⌋)·(x[⌈h⌉]−x[⌊h⌋])` — the same
//! as numpy's default and PostgreSQL's `percentile_cont`. Nulls and NaNs are ignored. The
//! values are kept and selected with `select_nth_unstable` (linear time, no full sort).

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array, ListArray};
use datafusion::arrow::datatypes::{DataType, Field, Float64Type};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{Accumulator, AggregateUDF, Volatility, create_udaf};
use std::sync::Arc;

/// The percentile of `values` by the definition above; `None` when empty.
pub fn percentile(values: &mut [f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let h = q.clamp(0.0, 1.0) * (values.len() - 1) as f64;
    let lo = h.floor() as usize;
    let (_, &mut lo_value, right) = values.select_nth_unstable_by(lo, f64::total_cmp);
    let frac = h - lo as f64;
    if frac == 0.0 || right.is_empty() {
        return Some(lo_value);
    }
    let hi_value = right.iter().copied().fold(f64::INFINITY, f64::min);
    Some(lo_value + frac * (hi_value - lo_value))
}

#[derive(Debug)]
struct PercentileAccumulator {
    q: f64,
    values: Vec<f64>,
}

impl PercentileAccumulator {
    fn extend_from(&mut self, array: &Float64Array) {
        if array.null_count() == 0 {
            self.values
                .extend(array.values().iter().copied().filter(|v| !v.is_nan()));
        } else {
            self.values
                .extend(array.iter().flatten().filter(|v| !v.is_nan()));
        }
    }
}

impl Accumulator for PercentileAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.extend_from(values[0].as_primitive::<Float64Type>());
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Float64(percentile(&mut self.values, self.q)))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.values.capacity() * 8
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let values = Float64Array::from(std::mem::take(&mut self.values));
        let field = Arc::new(Field::new_list_field(DataType::Float64, true));
        let list = ListArray::try_new(
            field,
            datafusion::arrow::buffer::OffsetBuffer::from_lengths([values.len()]),
            Arc::new(values),
            None,
        )?;
        Ok(vec![ScalarValue::List(Arc::new(list))])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let lists = states[0].as_list::<i32>();
        for i in 0..lists.len() {
            if lists.is_valid(i) {
                let part = lists.value(i);
                self.extend_from(part.as_primitive::<Float64Type>());
            }
        }
        Ok(())
    }
}

/// The aggregate function `name(value)` giving the exact `q` percentile.
pub fn percentile_udaf(name: &str, q: f64) -> AggregateUDF {
    let state = DataType::List(Arc::new(Field::new_list_field(DataType::Float64, true)));
    create_udaf(
        name,
        vec![DataType::Float64],
        Arc::new(DataType::Float64),
        Volatility::Immutable,
        Arc::new(move |_| {
            Ok(Box::new(PercentileAccumulator {
                q,
                values: Vec::new(),
            }))
        }),
        Arc::new(vec![state]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_linear_interpolation() {
        let mut v = vec![15.0, 20.0, 35.0, 40.0, 50.0];
        assert_eq!(percentile(&mut v.clone(), 0.5), Some(35.0));
        assert_eq!(percentile(&mut v.clone(), 0.75), Some(40.0));
        assert_eq!(percentile(&mut v.clone(), 0.9), Some(46.0));
        assert_eq!(percentile(&mut v, 0.0), Some(15.0));
        let mut two = vec![1.0, 2.0];
        assert_eq!(percentile(&mut two, 0.99), Some(1.99));
        assert_eq!(percentile(&mut [], 0.5), None);
        assert_eq!(percentile(&mut [7.0], 0.99), Some(7.0));
    }
}
