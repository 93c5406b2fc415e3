//! `estimated_distinct(id, weight)`: the number of distinct ids, each counted by its weight
//! (1 / the sample rate its session was kept at), for estimated sessions and users. An id
//! seen with several weights counts with the first one seen; the agent keeps one rate per
//! session.

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array, ListArray, StringArray};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Signature, Volatility,
};
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Debug, Default)]
struct EstimatedDistinctAccumulator {
    weights: HashMap<String, f64>,
    /// Bytes of the ids held, for the query's memory pool.
    id_bytes: usize,
}

impl EstimatedDistinctAccumulator {
    fn add(&mut self, ids: &StringArray, weights: &Float64Array) {
        for i in 0..ids.len() {
            if ids.is_null(i) {
                continue;
            }
            let id = ids.value(i);
            if !self.weights.contains_key(id) {
                let w = if weights.is_valid(i) {
                    weights.value(i)
                } else {
                    1.0
                };
                self.id_bytes += id.len();
                self.weights.insert(id.to_owned(), w);
            }
        }
    }
}

fn list_field(t: DataType) -> Arc<Field> {
    Arc::new(Field::new_list_field(t, true))
}

impl Accumulator for EstimatedDistinctAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.add(
            values[0].as_string::<i32>(),
            values[1].as_primitive::<Float64Type>(),
        );
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Float64(Some(self.weights.values().sum())))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.weights.capacity() * 48 + self.id_bytes
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let (ids, weights): (Vec<String>, Vec<f64>) =
            std::mem::take(&mut self.weights).into_iter().unzip();
        let n = ids.len();
        let ids = ListArray::try_new(
            list_field(DataType::Utf8),
            OffsetBuffer::from_lengths([n]),
            Arc::new(StringArray::from(ids)),
            None,
        )?;
        let weights = ListArray::try_new(
            list_field(DataType::Float64),
            OffsetBuffer::from_lengths([n]),
            Arc::new(Float64Array::from(weights)),
            None,
        )?;
        Ok(vec![
            ScalarValue::List(Arc::new(ids)),
            ScalarValue::List(Arc::new(weights)),
        ])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let (ids, weights) = (states[0].as_list::<i32>(), states[1].as_list::<i32>());
        for i in 0..ids.len() {
            if ids.is_valid(i) && weights.is_valid(i) {
                let part_ids = ids.value(i);
                let part_weights = weights.value(i);
                self.add(
                    part_ids.as_string::<i32>(),
                    part_weights.as_primitive::<Float64Type>(),
                );
            }
        }
        Ok(())
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct EstimatedDistinct {
    signature: Signature,
}

impl AggregateUDFImpl for EstimatedDistinct {
    fn name(&self) -> &str {
        "estimated_distinct"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::<EstimatedDistinctAccumulator>::default())
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![
            Arc::new(Field::new(
                format_state_name(args.name, "ids"),
                DataType::List(list_field(DataType::Utf8)),
                true,
            )),
            Arc::new(Field::new(
                format_state_name(args.name, "weights"),
                DataType::List(list_field(DataType::Float64)),
                true,
            )),
        ])
    }
}

/// The aggregate function `estimated_distinct(id, weight)`.
pub fn estimated_distinct_udaf() -> AggregateUDF {
    AggregateUDF::new_from_impl(EstimatedDistinct {
        signature: Signature::exact(
            vec![DataType::Utf8, DataType::Float64],
            Volatility::Immutable,
        ),
    })
}
