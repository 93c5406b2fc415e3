//! The typed query: what the API accepts, checked against the store's schema and turned
//! into SQL. Every identifier in the SQL comes from the schema, never from the request, and
//! every value from the request is a quoted literal.

use crate::attributes::{attribute_key, attribute_sql};
use serde::{Deserialize, Serialize};
use vigil_model::{Field, Table, Type};

/// A question about one metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Query {
    /// `lcp`, `inp`, `cls`, `fcp`, `ttfb` (web vitals), `table.column` for any numeric
    /// column (`views.load`, `requests.duration`), or a table name (`views`, `errors`,
    /// `page_views`) to count events.
    pub metric: String,
    /// What to compute; default `["count"]`.
    #[serde(default = "default_aggregations")]
    pub aggregations: Vec<Aggregation>,
    /// Conditions, all of which must hold.
    #[serde(default)]
    pub filters: Vec<Filter>,
    /// Dimensions, or `time:<interval>` (`1m`, `5m`, `15m`, `1h`, `6h`, `1d`) for buckets.
    #[serde(default)]
    pub group_by: Vec<String>,
    /// Start of the range, ms since the epoch, inclusive.
    pub from: i64,
    /// End of the range, ms since the epoch, exclusive.
    pub to: i64,
    /// Sort by this output column (default: time, else the first aggregation).
    #[serde(default)]
    pub order_by: Option<String>,
    /// Ascending instead of descending (time always sorts ascending unless given).
    #[serde(default)]
    pub ascending: Option<bool>,
    /// Most rows (default 1000, at most 10000).
    #[serde(default)]
    pub limit: Option<usize>,
}

fn default_aggregations() -> Vec<Aggregation> {
    vec![Aggregation::Count]
}

/// An aggregation over the metric's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum Aggregation {
    Count,
    Sum,
    Avg,
    Min,
    Max,
    P50,
    P75,
    P90,
    P99,
    /// Share (0–1) of values rated good.
    Good,
    /// Share (0–1) of values rated needs-improvement.
    NeedsImprovement,
    /// Share (0–1) of values rated poor.
    Poor,
    /// Distinct sessions.
    Sessions,
    /// The count scaled to every session, kept or not: each event counts `1 / sample_rate`
    /// of its session (1 when the SDK sent no rate), rounded to a whole number.
    EstimatedCount,
    /// Distinct sessions, each counted `1 / sample_rate` times.
    EstimatedSessions,
    /// Distinct users, each counted `1 / sample_rate` (of the first of its sessions seen).
    EstimatedUsers,
    /// Distinct users.
    Users,
    /// Share (0–1) of rows that failed: spans with status `error`, requests that got no
    /// answer or a 5xx.
    ErrorRate,
}

impl Aggregation {
    /// Output column name.
    pub fn name(self) -> &'static str {
        match self {
            Aggregation::Count => "count",
            Aggregation::Sum => "sum",
            Aggregation::Avg => "avg",
            Aggregation::Min => "min",
            Aggregation::Max => "max",
            Aggregation::P50 => "p50",
            Aggregation::P75 => "p75",
            Aggregation::P90 => "p90",
            Aggregation::P99 => "p99",
            Aggregation::Good => "good",
            Aggregation::NeedsImprovement => "needs_improvement",
            Aggregation::Poor => "poor",
            Aggregation::Sessions => "sessions",
            Aggregation::EstimatedCount => "estimated_count",
            Aggregation::EstimatedSessions => "estimated_sessions",
            Aggregation::EstimatedUsers => "estimated_users",
            Aggregation::Users => "users",
            Aggregation::ErrorRate => "error_rate",
        }
    }
}

/// One condition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    /// A column of the metric's table.
    pub field: String,
    /// The comparison.
    pub op: FilterOp,
    /// The value; an array for `in` and `not_in`; absent for `exists` and `not_exists`.
    #[serde(default)]
    pub value: Option<serde_json::Value>,
}

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum FilterOp {
    Eq,
    Neq,
    In,
    NotIn,
    Contains,
    Gt,
    Gte,
    Lt,
    Lte,
    Exists,
    NotExists,
}

/// A query that cannot be answered as asked.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct InvalidQuery(pub String);

/// What a metric reads.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricSource {
    /// The table.
    pub table: Table,
    /// The value column, or none for count-only metrics.
    pub value: Option<&'static str>,
    /// The vital name for web-vital metrics.
    pub vital: Option<&'static str>,
}

/// Resolves a metric name.
pub fn resolve_metric(metric: &str) -> Result<MetricSource, InvalidQuery> {
    let vital = match metric.to_ascii_lowercase().as_str() {
        "lcp" => Some("LCP"),
        "inp" => Some("INP"),
        "cls" => Some("CLS"),
        "fcp" => Some("FCP"),
        "ttfb" => Some("TTFB"),
        _ => None,
    };
    if let Some(v) = vital {
        return Ok(MetricSource {
            table: Table::Vitals,
            value: Some("value"),
            vital: Some(v),
        });
    }
    let table_name = if metric == "page_views" {
        "views"
    } else {
        metric
    };
    if let Some(table) = Table::from_name(table_name) {
        return Ok(MetricSource {
            table,
            value: None,
            vital: None,
        });
    }
    let Some((t, c)) = metric.split_once('.') else {
        return Err(InvalidQuery(format!(
            "unknown metric {metric:?}: use lcp, inp, cls, fcp, ttfb, a table name or table.column"
        )));
    };
    let table = Table::from_name(t).ok_or_else(|| InvalidQuery(format!("unknown table {t:?}")))?;
    let column = table
        .column(c)
        .filter(|col| col.is_numeric())
        .ok_or_else(|| InvalidQuery(format!("{t} has no numeric column {c:?}")))?;
    Ok(MetricSource {
        table,
        value: Some(column.name),
        vital: None,
    })
}

/// The SQL for a column's value as users see it: fixed-point columns divided back by
/// their scale, integers as doubles, text as it is.
pub fn column_value(col: &Field) -> String {
    match col.ty {
        Type::Fixed(scale) => format!("(CAST(\"{}\" AS DOUBLE) / {scale}.0)", col.name),
        Type::Int => format!("CAST(\"{}\" AS DOUBLE)", col.name),
        Type::Text | Type::Bool => quote_ident(col.name),
    }
}

/// The SQL for the sum of a numeric column's values: fixed-point integers are summed as
/// integers and scaled once, so the answer is exact and the same whatever order the rows
/// are added in (a float sum's last digits vary with the order of parallel partitions).
/// The sum is a 128-bit decimal: an Int64 sum wraps silently past 9.2e18, which two
/// values of 9e15 at a 0.001 scale already reach.
pub fn column_sum(col: &Field) -> String {
    let sum = format!(
        "CAST(SUM(CAST(\"{}\" AS DECIMAL(38, 0))) AS DOUBLE)",
        col.name
    );
    match col.ty {
        Type::Fixed(scale) => format!("({sum} / {scale}.0)"),
        _ => sum,
    }
}

fn quote_ident(name: &str) -> String {
    format!("\"{name}\"")
}

/// A SQL string literal.
pub fn quote_str(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// Where a query's SQL runs: the embedded engine (DataFusion) over the local store, or a
/// ClickHouse server holding every row of the range (the table as its qualified name, the
/// project as a condition). The two spellings differ only where the dialects do; each
/// computes the same values (percentiles with the same interpolation, sums exact).
#[derive(Debug, Clone, Copy)]
pub enum Dialect<'a> {
    /// DataFusion, with Vigil's percentile and attribute functions.
    DataFusion,
    /// ClickHouse: `table` is the qualified table (`"vigil"."vitals"`).
    ClickHouse {
        /// The qualified table.
        table: &'a str,
        /// The project whose rows are read.
        project: u32,
    },
}

impl Aggregation {
    /// The JSON kind of its values.
    pub fn output_kind(self) -> OutputKind {
        match self {
            Aggregation::Count | Aggregation::Sessions | Aggregation::Users => OutputKind::Int,
            _ => OutputKind::Float,
        }
    }
}

/// What an answer's column holds, as the embedded engine writes it in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputKind {
    /// Whole numbers (counts, integer columns, time buckets).
    Int,
    /// Doubles (values, percentiles, shares).
    Float,
    /// Text.
    Text,
    /// Booleans.
    Bool,
}

impl OutputKind {
    /// A value another engine wrote (64-bit integers may come quoted, booleans as 0/1) as
    /// the embedded engine writes it; `None` when it is not of this kind.
    pub fn read(self, v: &serde_json::Value) -> Option<serde_json::Value> {
        use serde_json::Value as J;
        if v.is_null() {
            return Some(J::Null);
        }
        let number = || match v {
            J::Number(n) => n.as_f64(),
            J::String(s) => s.parse::<f64>().ok(),
            _ => None,
        };
        match self {
            OutputKind::Int => match v {
                J::Number(n) if n.is_i64() || n.is_u64() => n.as_i64().map(J::from),
                J::String(s) => s.parse::<i64>().ok().map(J::from),
                _ => None,
            },
            OutputKind::Float => {
                number().map(|f| serde_json::Number::from_f64(f).map_or(J::Null, J::Number))
            }
            OutputKind::Text => match v {
                J::String(s) => Some(J::String(s.clone())),
                _ => None,
            },
            OutputKind::Bool => match v {
                J::Bool(b) => Some(J::Bool(*b)),
                _ => number().map(|f| J::Bool(f != 0.0)),
            },
        }
    }
}

/// Why a query cannot be written in a dialect.
#[derive(Debug)]
pub enum SqlError {
    /// The query is wrong (400).
    Invalid(InvalidQuery),
    /// The dialect has no spelling for part of it (the caller runs it another way).
    Unsupported(&'static str),
}

impl From<InvalidQuery> for SqlError {
    fn from(e: InvalidQuery) -> Self {
        SqlError::Invalid(e)
    }
}

impl Dialect<'_> {
    fn is_clickhouse(self) -> bool {
        matches!(self, Dialect::ClickHouse { .. })
    }

    /// A constant condition: 18.16 has no `TRUE` or `FALSE`.
    pub(crate) fn constant(self, holds: bool) -> &'static str {
        match (self, holds) {
            (Dialect::DataFusion, true) => "TRUE",
            (Dialect::DataFusion, false) => "FALSE",
            (Dialect::ClickHouse { .. }, true) => "1",
            (Dialect::ClickHouse { .. }, false) => "0",
        }
    }

    /// A string literal: ClickHouse also reads backslashes as escapes.
    pub(crate) fn quote(self, value: &str) -> String {
        match self {
            Dialect::DataFusion => quote_str(value),
            Dialect::ClickHouse { .. } => {
                format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
            }
        }
    }

    /// A column's value as users see it (see [`column_value`]).
    pub(crate) fn value(self, col: &Field) -> String {
        match (self, col.ty) {
            (Dialect::DataFusion, _) => column_value(col),
            (_, Type::Fixed(scale)) => format!("(toFloat64(\"{}\") / {scale}.0)", col.name),
            (_, Type::Int) => format!("toFloat64(\"{}\")", col.name),
            (_, Type::Text | Type::Bool) => quote_ident(col.name),
        }
    }

    /// The exact sum of a numeric column (see [`column_sum`]).
    fn sum(self, col: &Field) -> String {
        match self {
            Dialect::DataFusion => column_sum(col),
            Dialect::ClickHouse { .. } => {
                let sum = format!("toFloat64(sum(toDecimal128(\"{}\", 0)))", col.name);
                match col.ty {
                    Type::Fixed(scale) => format!("({sum} / {scale}.0)"),
                    _ => sum,
                }
            }
        }
    }

    /// The `q` percentile of `v`: linear interpolation between the closest ranks, as
    /// `percentile::percentile` computes it, term for term. `tag` names the expression's
    /// inner aliases in ClickHouse.
    ///
    /// ClickHouse does not sort: its rows carry `x`, one order statistic of their group
    /// (`quantileExact`, joined back by [`Query::sql_in`]), and the two closest ranks are
    /// read around it: an index below the count of values under `x` is the largest value
    /// under `x`, one below the count up to `x` is `x`, any other the smallest value over
    /// `x`. That holds for the two ranks needed because `quantileExact` picks an index
    /// within one of them. Sorting every value of a group (`arraySort(groupArray)`) took
    /// four times as long over 10M rows.
    fn percentile(self, v: &str, name: &str, q: f64, tag: &str) -> String {
        match self {
            Dialect::DataFusion => format!("{name}({v})"),
            Dialect::ClickHouse { .. } => {
                let x = format!("\"vigil_x_{tag}\"");
                // The aliases are defined at their first use and reused after it.
                let lower = format!(
                    "if(toUInt64(lo_{tag}) < (countIf(ifNull({v} < {x}, 0)) AS lt_{tag}), \
                     (maxIf({v}, ifNull({v} < {x}, 0)) AS below_{tag}), \
                     if(toUInt64(lo_{tag}) < (countIf(ifNull({v} <= {x}, 0)) AS le_{tag}), \
                     (any({x}) AS x_{tag}), (minIf({v}, ifNull({v} > {x}, 0)) AS above_{tag})))"
                );
                let upper = format!(
                    "if(toUInt64(lo_{tag}) + 1 < lt_{tag}, below_{tag}, \
                     if(toUInt64(lo_{tag}) + 1 < le_{tag}, x_{tag}, above_{tag}))"
                );
                format!(
                    "if((count({v}) AS n_{tag}) = 0, NULL, \
                     if(((({q:?} * (toFloat64(n_{tag}) - 1)) AS h_{tag}) - (floor(h_{tag}) AS lo_{tag})) = 0, \
                     ({lower} AS s0_{tag}), \
                     s0_{tag} + (h_{tag} - lo_{tag}) * ({upper} - s0_{tag})))"
                )
            }
        }
    }

    /// Distinct non-null values of a column: 0, not NULL, when every value is null
    /// (ClickHouse's aggregates of a nullable column answer NULL then).
    fn count_distinct(self, column: &str) -> String {
        match self {
            Dialect::DataFusion => format!("COUNT(DISTINCT \"{column}\")"),
            Dialect::ClickHouse { .. } => format!("ifNull(COUNT(DISTINCT \"{column}\"), 0)"),
        }
    }

    /// The start of `ts`'s bucket of `ms`.
    fn time_bucket(self, ms: i64) -> String {
        match self {
            Dialect::DataFusion => format!("(\"ts\" / {ms}) * {ms}"),
            Dialect::ClickHouse { .. } => format!("intDiv(\"ts\", {ms}) * {ms}"),
        }
    }
}

/// What a filtered column holds, for checking and writing its literals.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Text,
    Bool,
    Number,
}

/// A request value as a SQL literal of the column's kind, or why it cannot be one: a wrong
/// type is the request's error (400), not the engine's (500).
fn literal(
    value: &serde_json::Value,
    kind: Kind,
    field: &str,
    dialect: Dialect<'_>,
) -> Result<String, InvalidQuery> {
    use serde_json::Value as J;
    // ClickHouse keeps booleans as UInt8.
    let boolean = |b: bool| match (dialect.is_clickhouse(), b) {
        (false, b) => b.to_string(),
        (true, b) => u8::from(b).to_string(),
    };
    match (kind, value) {
        (Kind::Number, J::Number(n)) => Ok(n.to_string()),
        (Kind::Number, J::String(s)) => s
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(|f| f.to_string())
            .ok_or_else(|| InvalidQuery(format!("{field}: {s:?} is not a number"))),
        (Kind::Bool, J::Bool(b)) => Ok(boolean(*b)),
        (Kind::Bool, J::String(s)) if s == "true" || s == "false" => Ok(boolean(s == "true")),
        (Kind::Text, J::String(s)) => Ok(dialect.quote(s)),
        (Kind::Text, J::Number(_) | J::Bool(_)) => Ok(dialect.quote(&value.to_string())),
        (Kind::Number, _) => Err(InvalidQuery(format!("{field} takes a number, not {value}"))),
        (Kind::Bool, _) => Err(InvalidQuery(format!(
            "{field} takes true or false, not {value}"
        ))),
        (Kind::Text, _) => Err(InvalidQuery(format!(
            "{field} takes a string, number or boolean, not {value}"
        ))),
    }
}

/// The most filters in one list of a request. Each filter is a level of the condition's
/// expression tree, which DataFusion walks recursively: 800 overflowed a thread's stack.
/// Real questions use a handful; `in` takes up to 1,000 values in one filter.
pub const MAX_FILTERS: usize = 32;

/// Refuses a list of more than [`MAX_FILTERS`] filters; `what` names the list.
pub(crate) fn check_filters(what: &str, filters: &[Filter]) -> Result<(), InvalidQuery> {
    if filters.len() > MAX_FILTERS {
        return Err(InvalidQuery(format!(
            "{} {what}: at most {MAX_FILTERS} are allowed (use `in` for many values of one field)",
            filters.len()
        )));
    }
    Ok(())
}

/// The first item that appeared before it in the list (each would be the same output column).
fn first_repeat<T: PartialEq>(items: &[T]) -> Option<&T> {
    items
        .iter()
        .enumerate()
        .find_map(|(i, x)| items[..i].contains(x).then_some(x))
}

fn interval_ms(spec: &str) -> Option<i64> {
    let (num, unit) = spec.split_at(spec.find(|c: char| !c.is_ascii_digit())?);
    let n: i64 = num.parse().ok().filter(|n| *n > 0)?;
    let unit_ms: i64 = match unit {
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    n.checked_mul(unit_ms)
}

impl Query {
    /// Checks the query and writes its SQL against the table named as in the store.
    pub fn to_sql(&self) -> Result<(MetricSource, String), InvalidQuery> {
        match self.sql_in(Dialect::DataFusion) {
            Ok(answer) => Ok(answer),
            Err(SqlError::Invalid(e)) => Err(e),
            Err(SqlError::Unsupported(what)) => {
                unreachable!("the embedded engine spells everything, {what} too")
            }
        }
    }

    /// The same query as ClickHouse SQL over `table` (qualified) for `project`; `None` when
    /// part of it has no ClickHouse spelling yet (attributes, estimated totals).
    pub fn to_clickhouse_sql(
        &self,
        table: &str,
        project: u32,
    ) -> Result<Option<(MetricSource, String)>, InvalidQuery> {
        match self.sql_in(Dialect::ClickHouse { table, project }) {
            Ok(answer) => Ok(Some(answer)),
            Err(SqlError::Invalid(e)) => Err(e),
            Err(SqlError::Unsupported(_)) => Ok(None),
        }
    }

    /// The answer's columns in order (group-bys, then aggregations), each with the JSON
    /// kind of its values, for reading another engine's answer as the embedded one's.
    pub fn output_columns(&self) -> Result<Vec<(String, OutputKind)>, InvalidQuery> {
        let table = resolve_metric(&self.metric)?.table;
        let mut out = Vec::new();
        for g in &self.group_by {
            if g.starts_with("time:") {
                out.push(("time".to_owned(), OutputKind::Int));
            } else if attribute_key(g).is_some() {
                out.push((g.clone(), OutputKind::Text));
            } else {
                let kind = match table.column(g).map(|c| c.ty) {
                    Some(Type::Text) => OutputKind::Text,
                    Some(Type::Bool) => OutputKind::Bool,
                    _ => OutputKind::Int,
                };
                out.push((g.clone(), kind));
            }
        }
        for a in &self.aggregations {
            out.push((a.name().to_owned(), a.output_kind()));
        }
        Ok(out)
    }

    fn sql_in(&self, dialect: Dialect<'_>) -> Result<(MetricSource, String), SqlError> {
        let source = resolve_metric(&self.metric)?;
        let table = source.table;
        if self.from >= self.to {
            return Err(InvalidQuery("from must be before to".into()).into());
        }
        if self.aggregations.is_empty() {
            return Err(InvalidQuery("aggregations must not be empty".into()).into());
        }
        if let Some(a) = first_repeat(&self.aggregations) {
            return Err(InvalidQuery(format!("{} is in aggregations twice", a.name())).into());
        }
        if self.group_by.len() > 4 {
            return Err(InvalidQuery("group by at most 4 dimensions".into()).into());
        }
        if self
            .group_by
            .iter()
            .filter(|g| g.starts_with("time:"))
            .count()
            > 1
        {
            return Err(InvalidQuery("group by one time interval at most".into()).into());
        }
        if let Some(g) = first_repeat(&self.group_by) {
            return Err(InvalidQuery(format!("{g:?} is in group_by twice")).into());
        }
        if let Some(a) = self
            .aggregations
            .iter()
            .find(|a| self.group_by.iter().any(|g| g == a.name()))
        {
            // Both would be output columns of the same name.
            return Err(InvalidQuery(format!(
                "{:?} is both a group_by and an aggregation; drop one of them",
                a.name()
            ))
            .into());
        }
        check_filters("filters", &self.filters)?;
        let mut select = Vec::new();
        let mut group = Vec::new();
        let mut has_time = false;
        for g in &self.group_by {
            if let Some(spec) = g.strip_prefix("time:") {
                let ms = interval_ms(spec).ok_or_else(|| {
                    InvalidQuery(format!("bad interval {spec:?}: use e.g. 1m, 5m, 1h, 1d"))
                })?;
                // In i128: the range of two i64 bounds does not fit an i64.
                let buckets = (i128::from(self.to) - i128::from(self.from)) / i128::from(ms);
                if buckets > 10_000 {
                    return Err(InvalidQuery(format!(
                        "{buckets} time buckets; use a larger interval"
                    ))
                    .into());
                }
                select.push(format!("{} AS \"time\"", dialect.time_bucket(ms)));
                group.push(dialect.time_bucket(ms));
                has_time = true;
            } else if let Some(key) = attribute_key(g) {
                if dialect.is_clickhouse() {
                    return Err(SqlError::Unsupported("attributes"));
                }
                select.push(format!("{} AS \"{g}\"", attribute_sql(key)));
                group.push(attribute_sql(key));
            } else {
                let col = table
                    .column(g)
                    .filter(|c| c.is_dimension() || c.ty == Type::Int)
                    .filter(|c| c.name != "ts")
                    .ok_or_else(|| {
                        InvalidQuery(format!("{} has no dimension {g:?}", table.name()))
                    })?;
                select.push(quote_ident(col.name));
                group.push(quote_ident(col.name));
            }
        }
        let value_col = source.value.and_then(|v| table.column(v));
        let value = value_col.map(|c| dialect.value(c));
        let thresholds = source
            .vital
            .and_then(vigil_protocol::thresholds)
            .map(|t| (t.good, t.poor));
        for agg in &self.aggregations {
            let needs_value = !matches!(
                agg,
                Aggregation::Count
                    | Aggregation::Sessions
                    | Aggregation::Users
                    | Aggregation::EstimatedCount
                    | Aggregation::EstimatedSessions
                    | Aggregation::EstimatedUsers
            );
            let v = match (&value, needs_value) {
                (Some(v), _) => v.clone(),
                (None, false) => String::new(),
                (None, true) => {
                    return Err(InvalidQuery(format!(
                        "{} needs a numeric metric, not the event count {:?}",
                        agg.name(),
                        self.metric
                    ))
                    .into());
                }
            };
            let share = |cond: String| {
                format!("AVG(CASE WHEN {v} IS NULL THEN NULL WHEN {cond} THEN 1.0 ELSE 0.0 END)")
            };
            let expr = match agg {
                Aggregation::Count => "COUNT(*)".to_owned(),
                Aggregation::Sum => dialect.sum(value_col.expect("a value column")),
                Aggregation::Avg => {
                    let c = value_col.expect("a value column");
                    format!("({} / COUNT(\"{}\"))", dialect.sum(c), c.name)
                }
                Aggregation::Min => format!("MIN({v})"),
                Aggregation::Max => format!("MAX({v})"),
                Aggregation::P50 => dialect.percentile(&v, "p50", 0.5, "p50"),
                Aggregation::P75 => dialect.percentile(&v, "p75", 0.75, "p75"),
                Aggregation::P90 => dialect.percentile(&v, "p90", 0.9, "p90"),
                Aggregation::P99 => dialect.percentile(&v, "p99", 0.99, "p99"),
                Aggregation::Sessions => dialect.count_distinct("session_id"),
                Aggregation::EstimatedCount
                | Aggregation::EstimatedSessions
                | Aggregation::EstimatedUsers
                    if dialect.is_clickhouse() =>
                {
                    return Err(SqlError::Unsupported("estimated totals"));
                }
                Aggregation::EstimatedCount => {
                    let rate = column_value(table.column("sample_rate").expect("a common column"));
                    format!("ROUND(SUM(1.0 / COALESCE({rate}, 1.0)))")
                }
                Aggregation::EstimatedSessions | Aggregation::EstimatedUsers => {
                    let rate = column_value(table.column("sample_rate").expect("a common column"));
                    let id = if *agg == Aggregation::EstimatedSessions {
                        "session_id"
                    } else {
                        "user_id"
                    };
                    format!("ROUND(estimated_distinct(\"{id}\", 1.0 / COALESCE({rate}, 1.0)))")
                }
                Aggregation::Users => dialect.count_distinct("user_id"),
                Aggregation::ErrorRate => {
                    let failed = match table {
                        Table::Spans => "\"status\" = 'error'",
                        Table::Requests => "(\"failure\" IS NOT NULL OR \"status\" >= 500)",
                        _ => {
                            return Err(InvalidQuery(
                                "error_rate applies to spans and requests".into(),
                            )
                            .into());
                        }
                    };
                    format!("AVG(CASE WHEN {failed} THEN 1.0 ELSE 0.0 END)")
                }
                Aggregation::Good | Aggregation::NeedsImprovement | Aggregation::Poor => {
                    let (good, poor) = thresholds.ok_or_else(|| {
                        InvalidQuery(format!("{} applies to web vitals only", agg.name()))
                    })?;
                    share(match agg {
                        Aggregation::Good => format!("{v} <= {good}"),
                        Aggregation::NeedsImprovement => format!("{v} > {good} AND {v} <= {poor}"),
                        _ => format!("{v} > {poor}"),
                    })
                }
            };
            select.push(format!("{expr} AS \"{}\"", agg.name()));
        }
        if dialect.is_clickhouse() {
            // Each double also comes as text, after the columns, and is read from there
            // (`typed_result` in lib.rs) with Rust's correctly rounded parser: serde_json's
            // default one can land a long double one ulp off (2507.8618500000002 read as
            // 2507.86185), and the answer would differ from the engine's in the last digit.
            for agg in &self.aggregations {
                if agg.output_kind() == OutputKind::Float {
                    select.push(format!("toString(\"{0}\") AS \"{0}__text\"", agg.name()));
                }
            }
        }
        let mut conditions = vec![format!("\"ts\" >= {} AND \"ts\" < {}", self.from, self.to)];
        if let Some(vital) = source.vital {
            conditions.push(format!("\"name\" = {}", dialect.quote(vital)));
        }
        for f in &self.filters {
            conditions.push(filter_sql_in(table, f, dialect)?);
        }
        let from = match dialect {
            Dialect::DataFusion => quote_ident(table.name()),
            Dialect::ClickHouse { table, project } => {
                conditions.push(format!("\"project\" = {project}"));
                let percentiles: Vec<(&str, f64)> = self
                    .aggregations
                    .iter()
                    .filter_map(|a| match a {
                        Aggregation::P50 => Some(("p50", 0.5)),
                        Aggregation::P75 => Some(("p75", 0.75)),
                        Aggregation::P90 => Some(("p90", 0.9)),
                        Aggregation::P99 => Some(("p99", 0.99)),
                        _ => None,
                    })
                    .collect();
                match (&value, percentiles.is_empty()) {
                    (Some(v), false) => {
                        percentile_join(table, &group, v, &percentiles, &conditions.join(" AND "))
                    }
                    _ => table.to_owned(),
                }
            }
        };
        let mut sql = format!(
            "SELECT {} FROM {from} WHERE {}",
            select.join(", "),
            conditions.join(" AND ")
        );
        if !group.is_empty() {
            sql.push_str(&format!(" GROUP BY {}", group.join(", ")));
        }
        let outputs: Vec<String> = self
            .group_by
            .iter()
            .map(|g| {
                if g.starts_with("time:") {
                    "time".to_owned()
                } else {
                    g.clone()
                }
            })
            .chain(self.aggregations.iter().map(|a| a.name().to_owned()))
            .collect();
        let (order, default_asc) = match &self.order_by {
            Some(o) if outputs.contains(o) => (o.clone(), o == "time"),
            Some(o) => {
                return Err(InvalidQuery(format!("order_by {o:?} is not an output column")).into());
            }
            None if has_time => ("time".to_owned(), true),
            None => (self.aggregations[0].name().to_owned(), false),
        };
        let dir = if self.ascending.unwrap_or(default_asc) {
            "ASC"
        } else {
            "DESC"
        };
        let tiebreak: Vec<String> = outputs
            .iter()
            .filter(|o| **o != order)
            .map(|o| format!("\"{o}\" ASC"))
            .collect();
        sql.push_str(&format!(" ORDER BY \"{order}\" {dir} NULLS LAST"));
        for t in tiebreak {
            sql.push_str(&format!(", {t}"));
        }
        let limit = self.limit.unwrap_or(1000);
        if limit == 0 || limit > 10_000 {
            return Err(InvalidQuery("limit must be between 1 and 10000".into()).into());
        }
        sql.push_str(&format!(" LIMIT {limit}"));
        Ok((source, sql))
    }
}

/// The rows of `table` meeting `conditions`, each with `"vigil_x_<tag>"`: one order
/// statistic of its group's values `v` near each percentile asked (ClickHouse's
/// `quantileExact`, which selects rather than sorts), joined to the rows by their group
/// (see [`Dialect::percentile`]). `GLOBAL`, so that on a Distributed table the statistics
/// are of the whole group, computed once and sent to every shard.
fn percentile_join(
    table: &str,
    group: &[String],
    v: &str,
    percentiles: &[(&str, f64)],
    conditions: &str,
) -> String {
    // A group key as text that tells NULL apart from every value (join keys must not be
    // NULL); one constant key when nothing is grouped.
    let keys: Vec<String> = if group.is_empty() {
        vec!["toUInt8(1)".to_owned()]
    } else {
        group
            .iter()
            .map(|g| format!("if(isNull({g}), 'N', concat('V', toString(assumeNotNull({g}))))"))
            .collect()
    };
    let names: Vec<String> = (0..keys.len()).map(|i| format!("\"vigil_k{i}\"")).collect();
    let keyed: Vec<String> = keys
        .iter()
        .zip(&names)
        .map(|(k, n)| format!("{k} AS {n}"))
        .collect();
    // One state for every percentile asked: the group's values are gathered once and
    // each level selects in the same array.
    let levels: Vec<String> = percentiles.iter().map(|(_, q)| format!("{q:?}")).collect();
    let statistics: Vec<String> = std::iter::once(format!(
        "quantilesExact({})({v}) AS \"vigil_xs\"",
        levels.join(", ")
    ))
    .chain(
        percentiles
            .iter()
            .enumerate()
            .map(|(i, (tag, _))| format!("\"vigil_xs\"[{}] AS \"vigil_x_{tag}\"", i + 1)),
    )
    .collect();
    format!(
        "(SELECT *, {keyed} FROM {table} WHERE {conditions}) AS \"vigil_rows\" GLOBAL ANY LEFT JOIN \
         (SELECT {keyed}, {statistics} FROM {table} WHERE {conditions} GROUP BY {names}) AS \"vigil_statistics\" \
         USING ({names})",
        keyed = keyed.join(", "),
        statistics = statistics.join(", "),
        names = names.join(", "),
    )
}

/// The SQL condition for one filter on a column of `table`.
pub fn filter_sql(table: Table, f: &Filter) -> Result<String, InvalidQuery> {
    match filter_sql_in(table, f, Dialect::DataFusion) {
        Ok(sql) => Ok(sql),
        Err(SqlError::Invalid(e)) => Err(e),
        Err(SqlError::Unsupported(what)) => {
            unreachable!("the embedded engine spells every filter, {what} too")
        }
    }
}

/// The condition for one filter in `dialect`.
pub(crate) fn filter_sql_in(
    table: Table,
    f: &Filter,
    dialect: Dialect<'_>,
) -> Result<String, SqlError> {
    let (ident, kind) = if let Some(key) = attribute_key(&f.field) {
        if dialect.is_clickhouse() {
            return Err(SqlError::Unsupported("attributes"));
        }
        (attribute_sql(key), Kind::Text)
    } else {
        let col = table
            .column(&f.field)
            .ok_or_else(|| InvalidQuery(format!("{} has no field {:?}", table.name(), f.field)))?;
        match col.ty {
            Type::Fixed(_) | Type::Int => (dialect.value(col), Kind::Number),
            Type::Bool => (quote_ident(col.name), Kind::Bool),
            Type::Text => (quote_ident(col.name), Kind::Text),
        }
    };
    let value = || {
        f.value
            .as_ref()
            .ok_or_else(|| InvalidQuery(format!("filter on {} needs a value", f.field)))
    };
    let one = || literal(value()?, kind, &f.field, dialect);
    let list = || -> Result<String, InvalidQuery> {
        let items = value()?
            .as_array()
            .filter(|a| !a.is_empty() && a.len() <= 1000)
            .ok_or_else(|| {
                InvalidQuery(format!(
                    "filter on {} needs an array of 1 to 1000 values",
                    f.field
                ))
            })?;
        Ok(items
            .iter()
            .map(|v| literal(v, kind, &f.field, dialect))
            .collect::<Result<Vec<_>, _>>()?
            .join(", "))
    };
    Ok(match f.op {
        FilterOp::Eq => format!("{ident} = {}", one()?),
        FilterOp::Neq => format!("({ident} IS NULL OR {ident} <> {})", one()?),
        FilterOp::In => format!("{ident} IN ({})", list()?),
        FilterOp::NotIn => format!("({ident} IS NULL OR {ident} NOT IN ({}))", list()?),
        FilterOp::Contains => {
            let needle = value()?
                .as_str()
                .filter(|_| kind == Kind::Text)
                .ok_or_else(|| {
                    InvalidQuery(format!(
                        "contains needs a text field and a string: {}",
                        f.field
                    ))
                })?;
            match dialect {
                Dialect::DataFusion => format!("strpos({ident}, {}) > 0", quote_str(needle)),
                Dialect::ClickHouse { .. } => {
                    format!("position({ident}, {}) > 0", dialect.quote(needle))
                }
            }
        }
        FilterOp::Gt => format!("{ident} > {}", one()?),
        FilterOp::Gte => format!("{ident} >= {}", one()?),
        FilterOp::Lt => format!("{ident} < {}", one()?),
        FilterOp::Lte => format!("{ident} <= {}", one()?),
        FilterOp::Exists => format!("{ident} IS NOT NULL"),
        FilterOp::NotExists => format!("{ident} IS NULL"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(json: serde_json::Value) -> Query {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn doubles_from_another_engine_read_exactly_from_their_text() {
        let exact = 2_507.861_850_000_000_2_f64;
        let text = serde_json::json!("2507.8618500000002");
        assert_eq!(
            OutputKind::Float.read(&text),
            Some(serde_json::json!(exact)),
            "the text is parsed correctly rounded"
        );
        // Why the text: serde_json's default parser reads the same digits one ulp off.
        let as_number: serde_json::Value = serde_json::from_str("2507.8618500000002").unwrap();
        assert_ne!(as_number.as_f64(), Some(exact));
    }

    #[test]
    fn sql_for_p75_lcp_by_country() {
        let (_, sql) = q(serde_json::json!({
            "metric": "lcp", "aggregations": ["p75", "good"], "group_by": ["country"],
            "filters": [{"field": "device_type", "op": "eq", "value": "mobile"}],
            "from": 0, "to": 1000
        }))
        .to_sql()
        .unwrap();
        insta::assert_snapshot!(sql);
    }

    #[test]
    fn rejects_unknown_names_and_injection() {
        let bad = [
            serde_json::json!({"metric": "views.nope", "from": 0, "to": 1}),
            serde_json::json!({"metric": "lcp", "group_by": ["country\"; DROP"], "from": 0, "to": 1}),
            serde_json::json!({"metric": "views", "aggregations": ["p75"], "from": 0, "to": 1}),
            serde_json::json!({"metric": "requests.duration", "aggregations": ["good"], "from": 0, "to": 1}),
            serde_json::json!({"metric": "lcp", "from": 5, "to": 1}),
            serde_json::json!({"metric": "lcp", "group_by": ["time:7x"], "from": 0, "to": 1}),
        ];
        for b in bad {
            assert!(q(b.clone()).to_sql().is_err(), "{b}");
        }
        let (_, sql) = q(serde_json::json!({
            "metric": "views", "filters": [{"field": "country", "op": "eq", "value": "x' OR '1'='1"}],
            "from": 0, "to": 1
        }))
        .to_sql()
        .unwrap();
        assert!(sql.contains("'x'' OR ''1''=''1'"));
    }

    #[test]
    fn overflowing_intervals_ranges_filter_lists_and_name_collisions_are_invalid() {
        let filters = |n: usize| {
            (0..n)
                .map(|_| serde_json::json!({"field": "country", "op": "eq", "value": "DE"}))
                .collect::<Vec<_>>()
        };
        for bad in [
            serde_json::json!({"metric": "views", "group_by": ["time:999999999999999m"], "from": 0, "to": 1}),
            serde_json::json!({"metric": "views", "group_by": ["time:18014398509481984d"], "from": 0, "to": 1}),
            serde_json::json!({"metric": "views", "group_by": ["time:1d"], "from": i64::MIN, "to": i64::MAX}),
            serde_json::json!({"metric": "actions", "group_by": ["count"], "aggregations": ["count"], "from": 0, "to": 1}),
            serde_json::json!({"metric": "views", "filters": filters(MAX_FILTERS + 1), "from": 0, "to": 1}),
        ] {
            assert!(q(bad.clone()).to_sql().is_err(), "{bad}");
        }
        let (_, sql) = q(serde_json::json!({
            "metric": "views", "filters": filters(MAX_FILTERS), "group_by": ["time:1d"],
            "from": i64::MAX - 86_400_000, "to": i64::MAX
        }))
        .to_sql()
        .unwrap();
        assert!(sql.contains("(\"ts\" / 86400000) * 86400000"), "{sql}");
    }
}
