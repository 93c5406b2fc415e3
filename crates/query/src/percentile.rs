//! Exact percentiles as DataFusion aggregate functions `p50`, `p75`, `p90`, `p99` (and
//! `percentile_exact(value, q)` through [`percentile`]).
//!
//! Definition: linear interpolation between the closest ranks, i.e. for sorted values
//! `x[0..n]` and `h = q·(n−1)`, the answer is `x[⌊h⌋] + (h−⌊h⌋)·(x[⌈h⌉]−x[⌊h⌋])` — the same
//! as numpy's default and PostgreSQL's `percentile_cont`. Nulls and NaNs are ignored. The
//! values are kept and selected with `select_nth_unstable` (linear time, no full sort).
//!
//! Grouped queries use [`PercentileGroups`], a `GroupsAccumulator` holding each group's
//! values in a vector of its own (8 bytes a value, 24 a group, a single value's group
//! taking room for one), reported exactly by `size()` so the query's memory pool can refuse
//! a query that would not fit. The per-row `Accumulator` remains for aggregates without a GROUP BY, which
//! DataFusion runs through `Accumulator` only.

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Float64Array, ListArray};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type};
use datafusion::common::tree_node::TreeNode;
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, EmitTo, Expr, GroupsAccumulator, LogicalPlan,
    Signature, Volatility,
};
use std::sync::{Arc, Mutex};

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

/// The list type of the intermediate state: the values seen so far.
fn state_type() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(DataType::Float64, true)))
}

/// A list array from per-row lengths and the concatenated values.
fn list_array(lengths: impl IntoIterator<Item = usize>, values: Vec<f64>) -> Result<ListArray> {
    Ok(ListArray::try_new(
        Arc::new(Field::new_list_field(DataType::Float64, true)),
        OffsetBuffer::from_lengths(lengths),
        Arc::new(Float64Array::from(values)),
        None,
    )?)
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
        let values = std::mem::take(&mut self.values);
        let list = list_array([values.len()], values)?;
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

/// Every group's values, a vector per group: a merge appends a partial state's list of
/// one group with one copy, and a group's values are selected in place, where one flat
/// vector of (group, value) pairs needed a counting sort of every value at each emit (12%
/// of the p75-by-country query's time at 10M page views, and as much again in page faults
/// and zeroing of its output).
///
/// A merged run of at least [`LONG_RUN`] values is not copied at once but kept as a slice
/// of the partial state that brought it, and copied when its group is emitted, into a
/// vector of exactly the group's size: growing a vector run by run copied each value about
/// twice more. The final aggregate runs in one partition (see `in_plan`), so the groups
/// are emitted on [`spread`]'s threads.
#[derive(Debug)]
struct PercentileGroups {
    q: f64,
    groups: Vec<Vec<f64>>,
    /// Full chunks of [`CHUNK`] pushed values set aside, with their group: a group past
    /// that size grows by new chunks, not by reallocating (and copying) its vector.
    full: Vec<(usize, Vec<f64>)>,
    /// Long merged runs not copied yet, with their group, in the order they came.
    runs: Vec<(usize, Float64Array)>,
    /// The capacity of all groups' vectors plus the length of the runs, kept up to date:
    /// `size()` is called after every batch and must not walk the groups.
    held: usize,
}

/// The shortest merged run kept as a slice rather than copied: shorter ones cost less to
/// copy than to track.
const LONG_RUN: usize = 4096;

/// The values a group's vector holds before it is set aside as a full chunk: 64 KiB,
/// small enough for the allocator to hand back again without new pages.
const CHUNK: usize = 8192;

/// One emitted group: its values so far, its full chunks and the runs still to copy.
#[derive(Default)]
struct Taken {
    values: Vec<f64>,
    chunks: Vec<Vec<f64>>,
    runs: Vec<Float64Array>,
}

impl Taken {
    fn len(&self) -> usize {
        self.values.len()
            + self.chunks.iter().map(Vec::len).sum::<usize>()
            + self.runs.iter().map(Array::len).sum::<usize>()
    }

    /// Appends every value to `out`: the runs' NaNs, which no state of ours holds, left out.
    fn copy_into(&self, out: &mut Vec<f64>) {
        out.extend_from_slice(&self.values);
        for chunk in &self.chunks {
            out.extend_from_slice(chunk);
        }
        let runs_from = out.len();
        for run in &self.runs {
            out.extend_from_slice(run.values());
        }
        if out[runs_from..].iter().any(|v| v.is_nan()) {
            let mut kept = runs_from;
            for i in runs_from..out.len() {
                if !out[i].is_nan() {
                    out[kept] = out[i];
                    kept += 1;
                }
            }
            out.truncate(kept);
        }
    }

    /// Every value in one vector, copied once at the size it needs (none when the group
    /// has only its own vector).
    fn settle(self) -> Vec<f64> {
        if self.runs.is_empty() && self.chunks.is_empty() {
            return self.values;
        }
        let mut all = Vec::with_capacity(self.len());
        self.copy_into(&mut all);
        all
    }
}

impl PercentileGroups {
    fn new(q: f64) -> Self {
        Self {
            q,
            groups: Vec::new(),
            full: Vec::new(),
            runs: Vec::new(),
            held: 0,
        }
    }

    fn see_groups(&mut self, total_num_groups: usize) {
        if total_num_groups > self.groups.len() {
            self.groups.resize_with(total_num_groups, Vec::new);
        }
    }

    fn push(&mut self, group: usize, value: f64) {
        if value.is_nan() {
            return;
        }
        let values = &mut self.groups[group];
        let before = values.capacity();
        if values.len() == before {
            if before >= CHUNK {
                let chunk = std::mem::replace(values, Vec::with_capacity(CHUNK));
                self.full.push((group, chunk));
                self.held += CHUNK;
            } else if before == 0 {
                // A group's first value takes room for one, not the four a push would: a
                // query grouped by something nearly unique has many groups of one value.
                values.reserve_exact(1);
                self.held += values.capacity();
            } else {
                values.reserve(1);
                self.held += values.capacity() - before;
            }
        }
        values.push(value);
    }

    /// Adds a run of one group's values (a partial state's list), `from..to` of `inner`.
    fn extend(&mut self, group: usize, inner: &Float64Array, from: usize, to: usize) {
        let run = &inner.values()[from..to];
        if inner.null_count() == 0 && run.len() >= LONG_RUN {
            // Its NaNs, which no state of ours holds, are left out when it is copied: the
            // merge runs in one partition, the copy on every core.
            self.runs.push((group, inner.slice(from, run.len())));
            self.held += run.len();
            return;
        }
        if inner.null_count() > 0 || run.iter().any(|v| v.is_nan()) {
            for j in from..to {
                if inner.is_valid(j) {
                    self.push(group, inner.value(j));
                }
            }
            return;
        }
        let values = &mut self.groups[group];
        let before = values.capacity();
        values.extend_from_slice(run);
        self.held += values.capacity() - before;
    }

    /// Takes the groups `emit_to` asks for; the groups left are renumbered from 0.
    fn take(&mut self, emit_to: EmitTo) -> Vec<Taken> {
        let n = match emit_to {
            EmitTo::All => self.groups.len(),
            EmitTo::First(n) => n.min(self.groups.len()),
        };
        let values: Vec<Vec<f64>> = if n == self.groups.len() {
            // A new vector, not a cleared one: the memory goes back at once.
            std::mem::take(&mut self.groups)
        } else {
            self.groups.drain(..n).collect()
        };
        let mut taken: Vec<Taken> = values
            .into_iter()
            .map(|values| Taken {
                values,
                ..Taken::default()
            })
            .collect();
        for (group, chunk) in split_first(&mut self.full, n) {
            taken[group].chunks.push(chunk);
        }
        for (group, run) in split_first(&mut self.runs, n) {
            taken[group].runs.push(run);
        }
        self.held -= taken
            .iter()
            .map(|t| {
                t.values.capacity()
                    + t.chunks.iter().map(Vec::capacity).sum::<usize>()
                    + t.runs.iter().map(Array::len).sum::<usize>()
            })
            .sum::<usize>();
        taken
    }
}

/// Takes out the parts of the first `n` groups; those left are renumbered from 0.
fn split_first<T>(parts: &mut Vec<(usize, T)>, n: usize) -> Vec<(usize, T)> {
    let (first, rest): (Vec<_>, Vec<_>) =
        std::mem::take(parts).into_iter().partition(|(g, _)| *g < n);
    *parts = rest.into_iter().map(|(g, part)| (g - n, part)).collect();
    first
}

/// Values worth a second thread: below this, starting one costs more than it saves.
const SPREAD_FROM: usize = 1 << 20;

/// `work` on each item, in order, spread over the machine's cores in runs of about equal
/// `weight` when the weights add up to [`SPREAD_FROM`] or more. The final aggregate of a
/// percentile runs in one partition; its copying and selecting are most of its time.
fn spread<T: Send, R: Send>(
    items: Vec<T>,
    weight: impl Fn(&T) -> usize,
    work: impl Fn(T) -> R + Sync,
) -> Vec<R> {
    let total: usize = items.iter().map(&weight).sum();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if total < SPREAD_FROM || threads < 2 || items.len() < 2 {
        return items.into_iter().map(work).collect();
    }
    // Consecutive items, cut where the running weight passes each thread's share.
    let share = total.div_ceil(threads);
    let mut parts: Vec<Vec<T>> = vec![Vec::new()];
    let mut weight_so_far = 0;
    for item in items {
        let w = weight(&item);
        if weight_so_far >= share && parts.len() < threads {
            parts.push(Vec::new());
            weight_so_far = 0;
        }
        weight_so_far += w;
        parts.last_mut().expect("one part at least").push(item);
    }
    // Each part waits in a slot for whichever thread takes it: a thread the system
    // refuses to start leaves its part to the caller, not to a panic.
    let slots: Vec<Mutex<Option<Vec<T>>>> =
        parts.into_iter().map(|p| Mutex::new(Some(p))).collect();
    let run = |i: usize| -> Vec<R> {
        let part = slots[i].lock().map_or(None, |mut slot| slot.take());
        part.unwrap_or_default().into_iter().map(&work).collect()
    };
    std::thread::scope(|scope| {
        let others: Vec<_> = (1..slots.len())
            .map(|i| {
                std::thread::Builder::new()
                    .name("vigil-select".into())
                    .spawn_scoped(scope, move || run(i))
                    .ok()
            })
            .collect();
        let mut out = run(0);
        for (i, other) in others.into_iter().enumerate() {
            match other.map(|t| t.join()) {
                Some(Ok(results)) => out.extend(results),
                Some(Err(panic)) => std::panic::resume_unwind(panic),
                None => out.extend(run(i + 1)),
            }
        }
        out
    })
}

/// Whether row `i` passes the aggregate's FILTER clause (none: all rows do).
fn passes(filter: Option<&BooleanArray>, i: usize) -> bool {
    filter.is_none_or(|f| f.is_valid(i) && f.value(i))
}

impl GroupsAccumulator for PercentileGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.see_groups(total_num_groups);
        let array = values[0].as_primitive::<Float64Type>();
        if array.null_count() == 0 && opt_filter.is_none() {
            for (&g, &v) in group_indices.iter().zip(array.values().iter()) {
                self.push(g, v);
            }
            return Ok(());
        }
        for (i, &g) in group_indices.iter().enumerate() {
            if array.is_valid(i) && passes(opt_filter, i) {
                self.push(g, array.value(i));
            }
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let q = self.q;
        let out: Vec<Option<f64>> = spread(self.take(emit_to), Taken::len, |taken| {
            percentile(&mut taken.settle(), q)
        });
        Ok(Arc::new(Float64Array::from(out)))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let taken = self.take(emit_to);
        let mut values = Vec::with_capacity(taken.iter().map(Taken::len).sum());
        let mut lengths = Vec::with_capacity(taken.len());
        for group in &taken {
            let before = values.len();
            group.copy_into(&mut values);
            lengths.push(values.len() - before);
        }
        Ok(vec![Arc::new(list_array(lengths, values)?)])
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.see_groups(total_num_groups);
        let lists = values[0].as_list::<i32>();
        let offsets = lists.value_offsets();
        let inner = lists.values().as_primitive::<Float64Type>();
        for (i, &g) in group_indices.iter().enumerate() {
            if lists.is_null(i) {
                continue;
            }
            self.extend(g, inner, offsets[i] as usize, offsets[i + 1] as usize);
        }
        Ok(())
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        // Each row becomes a group of its own: a list of its value, or an empty list.
        let array = values[0].as_primitive::<Float64Type>();
        let mut kept = Vec::with_capacity(array.len());
        let mut lengths = Vec::with_capacity(array.len());
        for i in 0..array.len() {
            let keep = array.is_valid(i) && passes(opt_filter, i) && !array.value(i).is_nan();
            if keep {
                kept.push(array.value(i));
            }
            lengths.push(usize::from(keep));
        }
        Ok(vec![Arc::new(list_array(lengths, kept)?)])
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
            + self.groups.capacity() * std::mem::size_of::<Vec<f64>>()
            + self.full.capacity() * std::mem::size_of::<(usize, Vec<f64>)>()
            + self.runs.capacity() * std::mem::size_of::<(usize, Float64Array)>()
            + self.held * std::mem::size_of::<f64>()
    }
}

/// The aggregate function `name(value)`: the exact `q` percentile of a DOUBLE column.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Percentile {
    name: String,
    /// `q` as bits, so the function can be compared and hashed as DataFusion requires.
    q_bits: u64,
    signature: Signature,
}

impl Percentile {
    fn q(&self) -> f64 {
        f64::from_bits(self.q_bits)
    }
}

impl AggregateUDFImpl for Percentile {
    fn name(&self) -> &str {
        &self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(PercentileAccumulator {
            q: self.q(),
            values: Vec::new(),
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(
            format_state_name(args.name, "values"),
            state_type(),
            true,
        ))])
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(
        &self,
        _args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(PercentileGroups::new(self.q())))
    }
}

/// Whether `plan` computes an exact percentile anywhere (a state of every value).
pub(crate) fn in_plan(plan: &LogicalPlan) -> bool {
    plan.exists(|node| {
        Ok(match node {
            LogicalPlan::Aggregate(aggregate) => aggregate.aggr_expr.iter().any(|e| {
                e.exists(|e| {
                    Ok(matches!(e, Expr::AggregateFunction(f)
                        if f.func.inner().is::<Percentile>()))
                })
                .unwrap_or(false)
            }),
            _ => false,
        })
    })
    .unwrap_or(false)
}

/// The aggregate function `name(value)` giving the exact `q` percentile.
pub fn percentile_udaf(name: &str, q: f64) -> AggregateUDF {
    AggregateUDF::new_from_impl(Percentile {
        name: name.to_owned(),
        q_bits: q.to_bits(),
        signature: Signature::exact(vec![DataType::Float64], Volatility::Immutable),
    })
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

    fn doubles(values: &[Option<f64>]) -> ArrayRef {
        Arc::new(Float64Array::from(values.to_vec()))
    }

    fn results(array: &ArrayRef) -> Vec<Option<f64>> {
        array.as_primitive::<Float64Type>().iter().collect()
    }

    /// The reference: each group's values, computed one group at a time.
    fn by_group(rows: &[(usize, Option<f64>)], groups: usize, q: f64) -> Vec<Option<f64>> {
        (0..groups)
            .map(|g| {
                let mut v: Vec<f64> = rows
                    .iter()
                    .filter(|r| r.0 == g)
                    .filter_map(|r| r.1)
                    .filter(|x| !x.is_nan())
                    .collect();
                percentile(&mut v, q)
            })
            .collect()
    }

    fn rows() -> Vec<(usize, Option<f64>)> {
        let mut state = 7u64;
        (0..500)
            .map(|i| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                let v = match i % 23 {
                    0 => None,
                    1 => Some(f64::NAN),
                    _ => Some((state >> 40) as f64 / 10.0),
                };
                ((state >> 20) as usize % 9, v)
            })
            .collect()
    }

    #[test]
    fn grouped_equals_per_group_through_partial_state_and_early_emits() {
        let rows = rows();
        let (groups, values): (Vec<usize>, Vec<Option<f64>>) = rows.iter().copied().unzip();
        // Two partial accumulators, as two partitions would have, merged into a final one.
        let mut parts = [PercentileGroups::new(0.75), PercentileGroups::new(0.75)];
        let half = rows.len() / 2;
        parts[0]
            .update_batch(&[doubles(&values[..half])], &groups[..half], None, 9)
            .unwrap();
        parts[1]
            .update_batch(&[doubles(&values[half..])], &groups[half..], None, 9)
            .unwrap();
        let mut last = PercentileGroups::new(0.75);
        for part in &mut parts {
            let state = part.state(EmitTo::All).unwrap();
            last.merge_batch(&state, &(0..9).collect::<Vec<_>>(), 9)
                .unwrap();
            assert_eq!(part.size(), std::mem::size_of::<PercentileGroups>());
        }
        let want = by_group(&rows, 9, 0.75);
        let counted = |acc: &PercentileGroups| {
            acc.groups.iter().map(Vec::capacity).sum::<usize>()
                + acc.full.iter().map(|(_, c)| c.capacity()).sum::<usize>()
        };
        assert_eq!(last.held, counted(&last));
        // The first 4 groups early, the other 5 renumbered from 0 afterwards.
        let mut got = results(&last.evaluate(EmitTo::First(4)).unwrap());
        assert_eq!(last.held, counted(&last));
        got.extend(results(&last.evaluate(EmitTo::All).unwrap()));
        assert_eq!(last.held, 0);
        assert_eq!(got, want);
    }

    #[test]
    fn filter_and_convert_to_state_keep_only_real_values() {
        let values = doubles(&[Some(1.0), None, Some(f64::NAN), Some(4.0), Some(8.0)]);
        let filter = BooleanArray::from(vec![Some(true), Some(true), Some(true), None, Some(true)]);
        let mut acc = PercentileGroups::new(0.5);
        acc.update_batch(
            std::slice::from_ref(&values),
            &[0, 0, 0, 0, 1],
            Some(&filter),
            3,
        )
        .unwrap();
        assert_eq!(
            results(&acc.evaluate(EmitTo::All).unwrap()),
            [Some(1.0), Some(8.0), None]
        );
        let state = acc.convert_to_state(&[values], Some(&filter)).unwrap();
        let lists = state[0].as_list::<i32>();
        let lengths: Vec<usize> = (0..lists.len()).map(|i| lists.value(i).len()).collect();
        assert_eq!(lengths, [1, 0, 0, 0, 1]);
        let mut merged = PercentileGroups::new(0.5);
        merged.merge_batch(&state, &[0, 0, 0, 0, 0], 1).unwrap();
        assert_eq!(results(&merged.evaluate(EmitTo::All).unwrap()), [Some(4.5)]);
    }

    #[test]
    fn size_counts_the_values_held() {
        let mut acc = PercentileGroups::new(0.5);
        let empty = acc.size();
        let values = doubles(&vec![Some(1.0); 10_000]);
        acc.update_batch(&[values], &vec![3; 10_000], None, 4)
            .unwrap();
        assert!(acc.size() >= empty + 10_000 * 8, "{}", acc.size());
        acc.evaluate(EmitTo::All).unwrap();
        assert_eq!(acc.size(), empty);
    }

    #[test]
    fn groups_of_one_value_take_room_for_one() {
        let mut acc = PercentileGroups::new(0.5);
        let empty = acc.size();
        let groups: Vec<usize> = (0..10_000).collect();
        let values = doubles(&vec![Some(1.0); 10_000]);
        acc.update_batch(&[values], &groups, None, 10_000).unwrap();
        assert_eq!(acc.held, 10_000);
        assert_eq!(acc.size(), empty + 10_000 * (24 + 8));
    }

    /// Rows of `groups` groups with long runs each: values from a fixed generator.
    fn long_rows(groups: usize, per_group: usize) -> (Vec<usize>, Vec<Option<f64>>) {
        let mut state = 11u64;
        (0..groups * per_group)
            .map(|i| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                (i % groups, Some((state >> 40) as f64 / 7.0))
            })
            .unzip()
    }

    #[test]
    fn long_runs_are_kept_as_slices_and_emitted_like_copied_ones() {
        // Two partials of 5 groups and 3 × LONG_RUN values a group each: every merged
        // run is long, so none is copied before its group is emitted.
        let (groups, values) = long_rows(5, 6 * LONG_RUN);
        let rows: Vec<(usize, Option<f64>)> =
            groups.iter().copied().zip(values.iter().copied()).collect();
        let half = rows.len() / 2;
        let mut last = PercentileGroups::new(0.9);
        for range in [0..half, half..rows.len()] {
            let mut part = PercentileGroups::new(0.9);
            part.update_batch(&[doubles(&values[range.clone()])], &groups[range], None, 5)
                .unwrap();
            let state = part.state(EmitTo::All).unwrap();
            last.merge_batch(&state, &[0, 1, 2, 3, 4], 5).unwrap();
        }
        assert_eq!(last.runs.len(), 10, "every run kept as a slice");
        assert!(last.groups.iter().all(Vec::is_empty));
        assert_eq!(last.held, rows.len(), "the runs' values are counted");
        assert!(last.size() >= rows.len() * 8);
        let want = by_group(&rows, 5, 0.9);
        // Two groups early, the other three renumbered and their runs with them.
        let mut got = results(&last.evaluate(EmitTo::First(2)).unwrap());
        assert_eq!(last.runs.len(), 6);
        assert!(last.runs.iter().all(|(g, _)| *g < 3));
        got.extend(results(&last.evaluate(EmitTo::All).unwrap()));
        assert_eq!(got, want);
        assert_eq!(last.held, 0);
        assert!(last.runs.is_empty());
    }

    #[test]
    fn a_final_state_holds_its_runs_values_in_group_order() {
        let (groups, values) = long_rows(3, 2 * LONG_RUN);
        let mut part = PercentileGroups::new(0.5);
        part.update_batch(&[doubles(&values)], &groups, None, 3)
            .unwrap();
        let state = part.state(EmitTo::All).unwrap();
        let mut last = PercentileGroups::new(0.5);
        last.merge_batch(&state, &[2, 0, 1], 3).unwrap();
        last.push(0, 1.5);
        let again = last.state(EmitTo::All).unwrap();
        let lists = again[0].as_list::<i32>();
        let list = |i: usize| -> Vec<f64> {
            lists
                .value(i)
                .as_primitive::<Float64Type>()
                .values()
                .to_vec()
        };
        let of = |g: usize| -> Vec<f64> {
            let l = state[0].as_list::<i32>().value(g);
            l.as_primitive::<Float64Type>().values().to_vec()
        };
        let mut first = vec![1.5];
        first.extend(of(1));
        assert_eq!(list(0), first, "own values, then the run");
        assert_eq!(list(1), of(2));
        assert_eq!(list(2), of(0));
    }

    #[test]
    fn spread_keeps_the_order_and_uses_other_threads_past_its_threshold() {
        let caller = std::thread::current().id();
        let items: Vec<usize> = (0..64).collect();
        let small = spread(items.clone(), |_| 1, |i| (i, std::thread::current().id()));
        assert!(small.iter().all(|(_, t)| *t == caller));
        let large = spread(
            items.clone(),
            |_| SPREAD_FROM,
            |i| (i, std::thread::current().id()),
        );
        assert_eq!(large.iter().map(|(i, _)| *i).collect::<Vec<_>>(), items);
        if std::thread::available_parallelism().map_or(1, |n| n.get()) > 1 {
            assert!(
                large.iter().any(|(_, t)| *t != caller),
                "no other thread worked"
            );
            assert_eq!(large[0].1, caller, "the first part stays on the caller");
        }
    }

    #[tokio::test]
    async fn a_plan_with_a_percentile_anywhere_is_found() {
        let ctx = datafusion::prelude::SessionContext::new();
        ctx.register_udaf(percentile_udaf("p75", 0.75));
        let rows = "(VALUES (1.0, 'a'), (2.0, 'b')) AS t(x, k)";
        let found =
            async |sql: String| in_plan(&ctx.state().create_logical_plan(&sql).await.unwrap());
        assert!(found(format!("SELECT k, p75(x) FROM {rows} GROUP BY k")).await);
        assert!(found(format!("SELECT p75(x) / 2 FROM {rows}")).await);
        assert!(
            found(format!(
                "SELECT * FROM (SELECT k, p75(x) AS p FROM {rows} GROUP BY k) WHERE p > 1"
            ))
            .await
        );
        assert!(!found(format!("SELECT k, count(*), avg(x) FROM {rows} GROUP BY k")).await);
        assert!(!found(format!("SELECT x FROM {rows}")).await);
    }

    #[test]
    fn nans_in_a_long_merged_run_are_left_out() {
        let mut values = vec![2.0; LONG_RUN];
        values[7] = f64::NAN;
        values[LONG_RUN - 1] = f64::NAN;
        values[100] = 1.0;
        let state: ArrayRef = Arc::new(list_array([LONG_RUN], values).unwrap());
        let mut last = PercentileGroups::new(0.0);
        last.merge_batch(std::slice::from_ref(&state), &[0], 1)
            .unwrap();
        assert_eq!(last.runs.len(), 1);
        let again = last.state(EmitTo::All).unwrap();
        assert_eq!(again[0].as_list::<i32>().value(0).len(), LONG_RUN - 2);
        last.merge_batch(&again, &[0], 1).unwrap();
        assert_eq!(results(&last.evaluate(EmitTo::All).unwrap()), [Some(1.0)]);
    }

    #[test]
    fn a_group_past_a_chunk_grows_by_chunks_and_answers_the_same() {
        // Group 1 gets 3 chunks and some; group 0 a few values; group 2 one chunk exactly.
        let (mut groups, mut values) = (Vec::new(), Vec::new());
        let mut state = 5u64;
        for i in 0..(4 * CHUNK + 40) {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
            groups.push(if i % 4 == 0 {
                2
            } else if i < 40 {
                0
            } else {
                1
            });
            values.push(Some((state >> 40) as f64));
        }
        let rows: Vec<(usize, Option<f64>)> =
            groups.iter().copied().zip(values.iter().copied()).collect();
        let mut acc = PercentileGroups::new(0.75);
        for (g, v) in groups.chunks(1000).zip(values.chunks(1000)) {
            acc.update_batch(&[doubles(v)], g, None, 3).unwrap();
        }
        assert!(
            acc.full.iter().filter(|(g, _)| *g == 1).count() >= 2,
            "chunks set aside"
        );
        let counted = acc.groups.iter().map(Vec::capacity).sum::<usize>()
            + acc.full.iter().map(|(_, c)| c.capacity()).sum::<usize>();
        assert_eq!(acc.held, counted);
        assert!(acc.groups.iter().all(|g| g.capacity() <= CHUNK));
        // Through a state and a final accumulator, and directly with an early emit.
        let state = acc.state(EmitTo::All).unwrap();
        let lists = state[0].as_list::<i32>();
        let lengths: Vec<usize> = (0..3).map(|i| lists.value(i).len()).collect();
        let want_lengths: Vec<usize> = (0..3)
            .map(|g| groups.iter().filter(|&&x| x == g).count())
            .collect();
        assert_eq!(lengths, want_lengths);
        assert_eq!(acc.held, 0);
        let mut last = PercentileGroups::new(0.75);
        last.merge_batch(&state, &[0, 1, 2], 3).unwrap();
        let want = by_group(&rows, 3, 0.75);
        assert_eq!(results(&last.evaluate(EmitTo::All).unwrap()), want);
        let mut direct = PercentileGroups::new(0.75);
        direct
            .update_batch(&[doubles(&values)], &groups, None, 3)
            .unwrap();
        let mut got = results(&direct.evaluate(EmitTo::First(2)).unwrap());
        assert!(
            direct.full.iter().all(|(g, _)| *g == 0),
            "group 2 renumbered to 0"
        );
        got.extend(results(&direct.evaluate(EmitTo::All).unwrap()));
        assert_eq!(got, want);
        assert_eq!(direct.held, 0);
    }
}
