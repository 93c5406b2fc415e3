//! The query layer: the typed query model, its translation to SQL, and its execution with
//! DataFusion over one project's snapshot of the store (Parquet segments and in-memory
//! batches). A query can only ever see the project it is run for: the snapshot holds no
//! other project's files or rows.

mod attributes;
mod compiled;
mod conversion;
mod errors;
mod estimated;
mod funnel;
mod limits;
mod model;
mod percentile;
mod remote;
mod sessions;
mod traces;

pub use attributes::{attribute_key, attribute_udf};
pub use compiled::{LocalRows, MAX_LOCAL_ROWS};
pub use conversion::{CONVERSION_PAGES, Conversion, ConversionRequest, Impact, wilson};
pub use errors::{
    ErrorGroupSearch, GROUP_COLUMNS, GROUP_KEY_SQL, GroupSet, GroupedTable, MAX_GROUP_KEYS,
    first_seen_sql, group_breakdown_sql, group_events_sql, group_series_sql, group_sessions_sql,
    releases_seen_sql,
};
pub use funnel::{
    FUNNEL_GROUPS, Funnel, FunnelFigures, FunnelRequest, FunnelStep, MAX_FUNNEL_STEPS, StepFigures,
};
pub use limits::QueryLimits;
pub use model::{
    Aggregation, Filter, FilterOp, InvalidQuery, MAX_FILTERS, MetricSource, Query, column_sum,
    column_value, filter_sql, quote_str, resolve_metric,
};
pub use percentile::{percentile, percentile_udaf};
pub use sessions::{SESSION_COLUMNS, SessionSearch};
pub use traces::{MAX_TRACE_LOGS, MAX_TRACE_SPANS, Trace, TraceLog, WaterfallSpan, is_trace_id};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type, Schema, SchemaRef};
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::error::DataFusionError;
use datafusion::execution::cache::cache_manager::CacheManagerConfig;
use datafusion::execution::cache::default_cache::DefaultCache;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::GreedyMemoryPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};
use limits::Gate;
use serde::Serialize;
use std::future::Future;
use std::sync::Arc;
use vigil_store::{ProjectId, Store, Table};
use vigil_threads::{Pool, Priority};

/// Why a query failed.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The query is wrong; the message says how.
    #[error(transparent)]
    Invalid(#[from] InvalidQuery),
    /// The query needs more memory than one query may take.
    #[error(
        "the query needs more than {} to answer: narrow the time range or the filters, or group by fewer or coarser dimensions",
        in_units(*.0)
    )]
    TooLarge(usize),
    /// Too many queries are running or waiting; retry shortly.
    #[error("too many queries at once; retry shortly")]
    Busy,
    /// The engine failed.
    #[error("query engine: {0}")]
    Engine(DataFusionError),
}

/// Bytes as MiB, or KiB below one MiB.
fn in_units(bytes: usize) -> String {
    if bytes >= 1 << 20 {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{} KiB", bytes >> 10)
    }
}

impl QueryError {
    /// Seconds a client should wait before retrying a [`QueryError::Busy`] query.
    pub const RETRY_AFTER_SECS: u64 = 2;
}

/// A table of results.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueryResult {
    /// Column names.
    pub columns: Vec<String>,
    /// Rows of JSON values (numbers, strings, booleans, null).
    pub rows: Vec<Vec<serde_json::Value>>,
}

pub use remote::{RemoteFilter, RemoteValue};

/// Where events live besides the embedded store, when the store is the instance's local
/// log and a server backend (ClickHouse) holds what it shipped there. Blocking: the query
/// engine calls it from its own threads.
pub trait RemoteEvents: Send + Sync {
    /// The named columns (in that order) of one table's rows of a project with
    /// `from <= ts < to`, but for those of the segments still in the local store
    /// (`local_segments`, as the local snapshot names them): rows shipped and not yet
    /// forgotten locally count once.
    ///
    /// `filters` may be applied there to fetch fewer rows (the engine applies them again).
    #[allow(clippy::too_many_arguments)]
    fn scan(
        &self,
        project: ProjectId,
        table: Table,
        from: i64,
        to: i64,
        local_segments: &[std::path::PathBuf],
        columns: &[String],
        filters: &[RemoteFilter],
    ) -> Result<Vec<RecordBatch>, String>;

    /// Marks the start of a read of both stores, before its first look at the local one,
    /// until the value returned is dropped: rows the local store commits to a segment after
    /// this (rows the read may take from memory) are not shipped meanwhile, so none counts
    /// twice.
    fn begin_read(&self) -> Box<dyn std::any::Any + Send>;

    /// How a query compiled for the remote store ([`Query::to_clickhouse_sql`]) names what it
    /// reads of a table: the remote store's rows meeting `local.condition` but those it got
    /// from `local.segments`, then `local.batches` (sent along by [`Self::select_with`]). The
    /// table's plain name when `local` is empty.
    fn source(&self, project: ProjectId, local: &LocalRows) -> String;

    /// Runs a query compiled for the remote store, with the local rows its sources name:
    /// the answer's rows, as the remote store writes them in JSON.
    fn select_with(
        &self,
        sql: &str,
        local: &[LocalRows],
    ) -> Result<Vec<Vec<serde_json::Value>>, String>;

    /// Erases a user's or a session's rows from the local store and the remote one, with
    /// shipping held off meanwhile (a segment shipped during it would bring rows back).
    fn erase(
        &self,
        store: &Store,
        project: ProjectId,
        erasure: &vigil_store::Erasure,
    ) -> Result<vigil_store::ErasureReport, String>;

    /// Applies a project's retention to the local store and the remote one.
    fn apply_retention(
        &self,
        store: &Store,
        project: ProjectId,
        keep_days: u32,
    ) -> Result<(), String>;
}

/// Runs queries against a store, within [`QueryLimits`].
pub struct QueryEngine {
    shared: Arc<Shared>,
    gate: Gate,
    /// The query threads, at the process's own priority: someone waits on a query.
    threads: Pool,
    /// Queries the remote store answered, compiled to its SQL.
    remote_answers: std::sync::atomic::AtomicU64,
    /// Whether queries are compiled to the remote store's SQL when they can be (else the
    /// engine answers over both stores).
    compiling: bool,
}

/// What the work of a query needs, owned so it can run on the query threads.
struct Shared {
    store: Arc<Store>,
    remote: Option<Arc<dyn RemoteEvents>>,
    memory_bytes: usize,
    /// Segments' Parquet footers and statistics, read once for every query after.
    segment_caches: CacheManagerConfig,
}

/// Bounds of the caches of segments' footers and statistics every query shares (least
/// recently used first out). Segments are never changed in place, and an entry is used only
/// for a file of the same size and time, so a merged or rewritten segment is read anew.
const SEGMENT_METADATA_CACHE_BYTES: usize = 32 << 20;
const SEGMENT_STATISTICS_CACHE_BYTES: usize = 8 << 20;

fn segment_caches() -> CacheManagerConfig {
    CacheManagerConfig::default()
        .with_file_metadata_cache(Some(Arc::new(DefaultCache::new(
            SEGMENT_METADATA_CACHE_BYTES,
        ))))
        .with_metadata_cache_limit(SEGMENT_METADATA_CACHE_BYTES)
        .with_file_statistics_cache(Some(Arc::new(DefaultCache::new(
            SEGMENT_STATISTICS_CACHE_BYTES,
        ))))
        .with_file_statistics_cache_limit(SEGMENT_STATISTICS_CACHE_BYTES)
}

impl QueryEngine {
    /// An engine over a store, with the default limits.
    pub fn new(store: Arc<Store>) -> Self {
        Self::with_limits(store, QueryLimits::default())
    }

    /// An engine over a store, with these limits.
    pub fn with_limits(store: Arc<Store>, limits: QueryLimits) -> Self {
        Self {
            shared: Arc::new(Shared {
                store,
                remote: None,
                memory_bytes: limits.memory_bytes,
                segment_caches: segment_caches(),
            }),
            gate: Gate::new(&limits),
            threads: Pool::start("vigil-query", limits.threads, Priority::Interactive),
            remote_answers: std::sync::atomic::AtomicU64::new(0),
            compiling: true,
        }
    }

    /// The same engine, answering every query itself over both stores (for comparisons).
    pub fn without_compiling(mut self) -> Self {
        self.compiling = false;
        self
    }

    /// The same engine reading, besides the local store, what it shipped to `remote`.
    pub fn with_remote(mut self, remote: Arc<dyn RemoteEvents>) -> Self {
        let shared = Arc::get_mut(&mut self.shared).expect("set before the engine is shared");
        shared.remote = Some(remote);
        self
    }

    /// The remote store, when events are shipped to one.
    pub fn remote(&self) -> Option<Arc<dyn RemoteEvents>> {
        self.shared.remote.clone()
    }

    /// Queries (typed queries, session searches) the remote store answered, compiled to its
    /// SQL.
    pub fn remote_answers(&self) -> u64 {
        self.remote_answers
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Runs `work` with a turn, on the query threads.
    async fn execute<T, F, Fut>(&self, work: F) -> Result<T, QueryError>
    where
        T: Send + 'static,
        F: FnOnce(Arc<Shared>) -> Fut,
        Fut: Future<Output = Result<T, QueryError>> + Send + 'static,
    {
        let permit = self.gate.enter().await.map_err(|_| QueryError::Busy)?;
        let work = work(self.shared.clone());
        // The turn ends with the work, not with the request: a request that went away
        // aborts its task, and the permit is released when the task stops.
        let result = self
            .threads
            .run(async move {
                let result = work.await;
                drop(permit);
                result
            })
            .await;
        result.unwrap_or_else(|e| {
            Err(QueryError::Engine(DataFusionError::Execution(format!(
                "query task failed: {e}"
            ))))
        })
    }

    /// Runs SQL over the given tables of one project, limited to `from <= ts < to` for the
    /// choice of segments (the SQL itself must filter rows).
    pub async fn sql(
        &self,
        project: ProjectId,
        tables: &[Table],
        from: i64,
        to: i64,
        sql: &str,
    ) -> Result<QueryResult, QueryError> {
        self.sql_of(project, tables, Needs::ALL, (from, to), sql)
            .await
    }

    /// [`Self::sql`], planning only what `needs` says the SQL reads.
    async fn sql_of(
        &self,
        project: ProjectId,
        tables: &[Table],
        needs: Needs,
        (from, to): (i64, i64),
        sql: &str,
    ) -> Result<QueryResult, QueryError> {
        let (tables, sql) = (tables.to_vec(), sql.to_owned());
        self.execute(move |s| async move {
            let needs = needs.of(&sql);
            s.sql(project, &tables, needs, from, to, &sql).await
        })
        .await
    }

    /// Answers a typed query for one project: compiled to the remote store's SQL when there
    /// is one (with the range's local rows sent along), else in the engine over both.
    pub async fn run(&self, project: ProjectId, query: &Query) -> Result<QueryResult, QueryError> {
        let (source, sql) = query.to_sql()?;
        let mut condition = format!("\"ts\" >= {} AND \"ts\" < {}", query.from, query.to);
        if let Some(vital) = source.vital {
            condition.push_str(&format!(" AND \"name\" = {}", quote_str(vital)));
        }
        let compiled = query.clone();
        if let Some(answer) = self
            .compiled(
                project,
                (query.from, query.to),
                vec![(source.table, condition)],
                Box::new(move |name| {
                    Ok(compiled
                        .to_clickhouse_sql(&name(source.table), project)?
                        .map(|(_, sql)| sql))
                }),
                query.output_columns()?,
            )
            .await?
        {
            return Ok(answer);
        }
        tracing::debug!(%sql, "query");
        // Generated SQL quotes every column it names: the others are left out of the plan.
        let needs = Needs {
            vital: source.vital,
            quoted_columns_only: true,
        };
        self.sql_of(
            project,
            &[source.table],
            needs,
            (query.from, query.to),
            &sql,
        )
        .await
    }

    /// How sessions convert and earn by the rating of their worst LCP, INP or CLS,
    /// overall or page by page, with the cost of poor against good (see
    /// [`ConversionRequest`]).
    pub async fn conversion(
        &self,
        project: ProjectId,
        request: &ConversionRequest,
    ) -> Result<Conversion, QueryError> {
        let sql = request.to_sql()?;
        let range = format!("\"ts\" >= {} AND \"ts\" < {}", request.from, request.to);
        let vital = format!(
            "{range} AND \"name\" = {}",
            quote_str(request.vital_name()?)
        );
        let compiled = request.clone();
        if let Some(answer) = self
            .compiled(
                project,
                (request.from, request.to),
                vec![(Table::Vitals, vital), (Table::CustomEvents, range)],
                Box::new(move |name| Ok(compiled.to_clickhouse_sql(name, project)?)),
                request.output_columns(),
            )
            .await?
        {
            return Ok(request.answer(answer)?);
        }
        let result = self
            .sql(
                project,
                &[Table::Vitals, Table::CustomEvents],
                request.from,
                request.to,
                &sql,
            )
            .await?;
        Ok(request.answer(result)?)
    }

    /// A funnel's figures (see [`FunnelRequest`]), split by its group when it has one.
    pub async fn funnel(
        &self,
        project: ProjectId,
        request: &FunnelRequest,
    ) -> Result<Funnel, QueryError> {
        let to = request
            .to
            .saturating_add(i64::from(request.within_minutes) * 60_000);
        let all = self.funnel_figures(project, request, None, to).await?;
        let grouped = match &request.group_by {
            Some(g) => Some(self.funnel_figures(project, request, Some(g), to).await?),
            None => None,
        };
        Ok(request.answer(&all, grouped.as_ref()))
    }

    /// A funnel's rows, overall or by `group`, for steps up to `to`: compiled when it can be.
    async fn funnel_figures(
        &self,
        project: ProjectId,
        request: &FunnelRequest,
        group: Option<&str>,
        to: i64,
    ) -> Result<QueryResult, QueryError> {
        let tables = [Table::CustomEvents, Table::Views];
        let sql = request.to_sql(group)?;
        let range = format!("\"ts\" >= {} AND \"ts\" < {to}", request.from);
        let (compiled, group_by) = (request.clone(), group.map(str::to_owned));
        if let Some(answer) = self
            .compiled(
                project,
                (request.from, to),
                tables.iter().map(|&t| (t, range.clone())).collect(),
                Box::new(move |name| {
                    Ok(compiled.to_clickhouse_sql(group_by.as_deref(), name, project)?)
                }),
                FunnelRequest::output_columns(),
            )
            .await?
        {
            return Ok(answer);
        }
        self.sql(project, &tables, request.from, to, &sql).await
    }

    /// Sessions matching a search, one row each (see [`SessionSearch`]), with the columns
    /// of [`SESSION_COLUMNS`].
    pub async fn sessions(
        &self,
        project: ProjectId,
        search: &SessionSearch,
    ) -> Result<QueryResult, QueryError> {
        let sql = search.to_sql()?;
        let range = format!("\"ts\" >= {} AND \"ts\" < {}", search.from, search.to);
        let compiled = search.clone();
        let columns = SESSION_COLUMNS
            .iter()
            .map(|&c| {
                let kind = match c {
                    "start" | "end" | "duration" | "views" | "errors" => model::OutputKind::Int,
                    _ => model::OutputKind::Text,
                };
                (c.to_owned(), kind)
            })
            .collect();
        if let Some(answer) = self
            .compiled(
                project,
                (search.from, search.to),
                Table::EVENTS.iter().map(|&t| (t, range.clone())).collect(),
                Box::new(move |name| Ok(compiled.to_clickhouse_sql(name, project)?)),
                columns,
            )
            .await?
        {
            return Ok(answer);
        }
        self.sql(project, &Table::EVENTS, search.from, search.to, &sql)
            .await
    }

    /// Error or crash groups matching a search within `set` (see [`ErrorGroupSearch`]), with
    /// the columns of [`GROUP_COLUMNS`]; users on `critical_pages` weigh ten times in the
    /// impact.
    pub async fn error_groups(
        &self,
        project: ProjectId,
        search: &ErrorGroupSearch,
        set: &GroupSet,
        critical_pages: &[String],
    ) -> Result<QueryResult, QueryError> {
        let sql = search.to_sql(set, critical_pages)?;
        let table = search.table.table();
        let range = format!("\"ts\" >= {} AND \"ts\" < {}", search.from, search.to);
        let (compiled, set, critical) = (search.clone(), set.clone(), critical_pages.to_vec());
        if let Some(answer) = self
            .compiled(
                project,
                (search.from, search.to),
                vec![(table, range)],
                Box::new(move |name| {
                    Ok(compiled.to_clickhouse_sql(&set, &critical, &name(table), project)?)
                }),
                ErrorGroupSearch::output_columns(),
            )
            .await?
        {
            return Ok(answer);
        }
        self.sql(project, &[table], search.from, search.to, &sql)
            .await
    }

    /// The ids of a user's latest `limit` sessions (1–1000), for erasing what is kept beside
    /// the events (replay).
    pub async fn sessions_of_user(
        &self,
        project: ProjectId,
        user_id: &str,
        limit: usize,
    ) -> Result<Vec<String>, QueryError> {
        let search: SessionSearch = serde_json::from_value(serde_json::json!({
            "from": 0,
            "to": i64::MAX,
            "filters": [{ "field": "user_id", "op": "eq", "value": user_id }],
            "limit": limit,
        }))
        .map_err(|e| QueryError::Invalid(InvalidQuery(e.to_string())))?;
        let found = self.sessions(project, &search).await?;
        Ok(found
            .rows
            .iter()
            .filter_map(|r| r.first().and_then(|v| v.as_str()).map(str::to_owned))
            .collect())
    }

    /// The custom attribute keys seen on views in the range, most frequent first, with the
    /// number of views carrying each (over the 1,000 most common attribute sets).
    pub async fn attribute_keys(
        &self,
        project: ProjectId,
        from: i64,
        to: i64,
    ) -> Result<Vec<(String, i64)>, QueryError> {
        let sql = format!(
            "SELECT \"attributes\", COUNT(*) AS n FROM \"views\" WHERE \"ts\" >= {from} AND \"ts\" < {to} \
             AND \"attributes\" IS NOT NULL GROUP BY \"attributes\" ORDER BY n DESC LIMIT 1000"
        );
        let sets = self.sql(project, &[Table::Views], from, to, &sql).await?;
        let mut counts = std::collections::BTreeMap::<String, i64>::new();
        for row in sets.rows {
            let n = row[1].as_i64().unwrap_or(0);
            let Some(obj) = row[0].as_str().and_then(|t| {
                serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(t).ok()
            }) else {
                continue;
            };
            for key in obj
                .keys()
                .filter(|k| attribute_key(&format!("attributes.{k}")).is_some())
            {
                *counts.entry(key.clone()).or_default() += n;
            }
        }
        let mut keys: Vec<(String, i64)> = counts.into_iter().collect();
        keys.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        Ok(keys)
    }

    /// One trace's waterfall (see [`Trace`]), from its spans and logs with `from <= ts < to`;
    /// `None` when nothing of it is stored.
    pub async fn trace(
        &self,
        project: ProjectId,
        trace_id: &str,
        from: i64,
        to: i64,
    ) -> Result<Option<Trace>, QueryError> {
        if !is_trace_id(trace_id) {
            return Err(InvalidQuery(format!(
                "{trace_id:?} is not a trace id: 32 lowercase hex digits, not all zeros"
            ))
            .into());
        }
        if from >= to {
            return Err(InvalidQuery("from must be before to".into()).into());
        }
        let spans = traces::spans_sql(trace_id, from, to);
        let spans = self.sql(project, &[Table::Spans], from, to, &spans).await?;
        let logs = traces::logs_sql(trace_id, from, to);
        let logs = self.sql(project, &[Table::Logs], from, to, &logs).await?;
        Ok(traces::waterfall(trace_id, &spans.rows, &logs.rows))
    }

    /// Every event of one session, all tables merged in time order, each as an object with
    /// its `type` (the table) and its non-null fields.
    pub async fn session(
        &self,
        project: ProjectId,
        session_id: &str,
        from: i64,
        to: i64,
    ) -> Result<Vec<serde_json::Map<String, serde_json::Value>>, QueryError> {
        let session_id = session_id.to_owned();
        self.execute(move |s| async move { s.session(project, &session_id, from, to).await })
            .await
    }
}

impl Shared {
    /// A DataFusion session of its own for one query, with its own memory pool; the caches
    /// of segments' footers and statistics are every query's.
    fn context(&self) -> Result<SessionContext, QueryError> {
        let mut config = SessionConfig::new().with_information_schema(false);
        // Strings stay Utf8 so in-memory batches and Parquet segments share one schema.
        config
            .options_mut()
            .execution
            .parquet
            .schema_force_view_types = false;
        config.options_mut().execution.parquet.pushdown_filters = true;
        // No filters from a hash join's build side into the other side's scan: DataFusion's
        // join dynamic filters have dropped matching rows when both sides name a column
        // alike (apache/datafusion#20213, #25262; our joins are all on `session_id`), and
        // the conversion test once answered 0 converted sessions where the page had 21.
        config
            .options_mut()
            .optimizer
            .enable_join_dynamic_filter_pushdown = false;
        // Nothing spills: a query past its memory is refused with a clear answer rather than
        // filling the disk the store needs.
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_pool(Arc::new(GreedyMemoryPool::new(self.memory_bytes)))
            .with_disk_manager_builder(
                DiskManagerBuilder::default().with_mode(DiskManagerMode::Disabled),
            )
            .with_cache_manager(self.segment_caches.clone())
            .build_arc()
            .map_err(QueryError::Engine)?;
        let ctx = SessionContext::new_with_config_rt(config, runtime);
        for (name, q) in [("p50", 0.5), ("p75", 0.75), ("p90", 0.9), ("p99", 0.99)] {
            ctx.register_udaf(percentile_udaf(name, q));
        }
        ctx.register_udaf(estimated::estimated_distinct_udaf());
        ctx.register_udf(attribute_udf());
        ctx.register_udf(vigil_store::session_ids::whole_udf());
        Ok(ctx)
    }

    /// An engine error as the query's: a memory pool refusal is the query being too large.
    fn engine_error(&self, e: DataFusionError) -> QueryError {
        if matches!(e.find_root(), DataFusionError::ResourcesExhausted(_)) {
            tracing::debug!(error = %e, "query over its memory limit");
            QueryError::TooLarge(self.memory_bytes)
        } else {
            QueryError::Engine(e)
        }
    }

    /// Runs one statement, keeping the output's column names even when no row comes back.
    async fn frame(&self, ctx: &SessionContext, sql: &str) -> Result<QueryResult, QueryError> {
        let run = async {
            let plan = ctx.state().create_logical_plan(sql).await?;
            // A percentile's state is every value it saw. A repartition between the partial
            // and the final aggregate copies them twice more (its `take`, then its
            // coalescing): 15% of the p75-by-country query's CPU at 10M page views (median
            // 412 → 357 ms without it). Without it the final aggregate runs in one
            // partition; the partial aggregates before it still use every core. Set for
            // each statement: a context may run several.
            ctx.state_ref()
                .write()
                .config_mut()
                .options_mut()
                .optimizer
                .repartition_aggregations = !percentile::in_plan(&plan);
            let frame = ctx.execute_logical_plan(plan).await?;
            let schema = frame.schema().as_arrow().clone();
            let batches = frame.collect().await?;
            Ok::<_, DataFusionError>(to_result(&schema, &batches))
        };
        run.await.map_err(|e| self.engine_error(e))
    }

    /// Registers `table` for `project` under its own name: the union of its segments and
    /// its in-memory batches, and `with_remote`, of the remote store's rows; of those, only
    /// what `needs` says is read.
    async fn register(
        &self,
        ctx: &SessionContext,
        project: ProjectId,
        table: Table,
        needs: TableNeeds<'_>,
        (from, to): (i64, i64),
    ) -> Result<(), DataFusionError> {
        let snap = self.store.snapshot(project, table, from, to);
        self.register_snapshot(ctx, project, table, (from, to), snap, true, needs)
            .await
    }

    /// Registers `table` as [`Self::register`] does, from a snapshot already taken, and with
    /// the remote store's rows only when `with_remote`.
    #[allow(clippy::too_many_arguments)]
    async fn register_snapshot(
        &self,
        ctx: &SessionContext,
        project: ProjectId,
        table: Table,
        (from, to): (i64, i64),
        snap: vigil_store::TableSnapshot,
        with_remote: bool,
        needs: TableNeeds<'_>,
    ) -> Result<(), DataFusionError> {
        let schema = table.schema();
        let name = table.name();
        let keep = |column: &str| needs.keeps(column);
        let list = if needs.sql.is_none() {
            "*".to_owned()
        } else {
            columns_sql(table, keep, |c| format!("\"{c}\""))
        };
        // Two partitions let the two cores share the in-memory part.
        let mut parts = vec![Vec::new(), Vec::new()];
        for (i, b) in snap.batches.into_iter().enumerate() {
            parts[i % 2].push(b);
        }
        ctx.register_table(
            format!("{name}__mem"),
            Arc::new(MemTable::try_new(schema.clone(), parts)?),
        )?;
        let mut branches = vec![format!("SELECT {list} FROM \"{name}__mem\"")];
        if let Some(remote) = self.remote.as_ref().filter(|_| with_remote) {
            ctx.register_table(
                format!("{name}__remote"),
                Arc::new(remote::RemoteTable {
                    remote: remote.clone(),
                    project,
                    table,
                    from,
                    to,
                    local: snap.files.iter().chain(&snap.folded).cloned().collect(),
                }),
            )?;
            branches.push(format!("SELECT {list} FROM \"{name}__remote\""));
        }
        if !snap.files.is_empty() {
            register_parquet(ctx, &format!("{name}__disk"), &snap.files, table, schema)?;
            branches.push(format!(
                "SELECT {} FROM \"{name}__disk\"",
                stored_columns_sql(table, keep)
            ));
        }
        if !snap.folded.is_empty() {
            // Vitals folded into their view rows come back as vitals rows, one branch per
            // vital (a filter on `name` leaves only its own branch). Each branch is about 50
            // columns to plan: a query of one vital plans only that one's.
            let views = format!("{name}__folded");
            register_parquet(
                ctx,
                &views,
                &snap.folded,
                Table::Views,
                vigil_store::fold::stored_schema(Table::Views),
            )?;
            branches.extend(
                vigil_store::fold::FOLDED
                    .iter()
                    .filter(|folded| needs.vital.is_none_or(|v| v == folded.name))
                    .map(|folded| unfolded_vital_sql(folded, &views, keep)),
            );
        }
        ctx.sql(&format!(
            "CREATE VIEW \"{name}\" AS {}",
            branches.join(" UNION ALL ")
        ))
        .await?;
        Ok(())
    }

    async fn sql(
        &self,
        project: ProjectId,
        tables: &[Table],
        needs: TableNeeds<'_>,
        from: i64,
        to: i64,
        sql: &str,
    ) -> Result<QueryResult, QueryError> {
        // Shipping holds back what this read may also take from memory.
        let _reading = self.remote.as_ref().map(|r| r.begin_read());
        let ctx = self.context()?;
        for &t in tables {
            self.register(&ctx, project, t, needs, (from, to))
                .await
                .map_err(QueryError::Engine)?;
        }
        self.frame(&ctx, sql).await
    }

    async fn session(
        &self,
        project: ProjectId,
        session_id: &str,
        from: i64,
        to: i64,
    ) -> Result<Vec<serde_json::Map<String, serde_json::Value>>, QueryError> {
        let _reading = self.remote.as_ref().map(|r| r.begin_read());
        let ctx = self.context()?;
        let mut events = Vec::new();
        for table in Table::EVENTS {
            self.register(&ctx, project, table, TableNeeds::ALL, (from, to))
                .await
                .map_err(QueryError::Engine)?;
            let columns: Vec<String> = table
                .columns()
                .iter()
                .map(|c| match c.ty {
                    // Fixed-point numbers come back as the numbers that were sent.
                    vigil_model::Type::Fixed(_) => {
                        format!("{} AS \"{}\"", column_value(c), c.name)
                    }
                    _ => format!("\"{}\"", c.name),
                })
                .collect();
            let sql = format!(
                "SELECT {} FROM \"{}\" WHERE \"session_id\" = {} AND \"ts\" >= {from} AND \"ts\" < {to}",
                columns.join(", "),
                table.name(),
                quote_str(session_id)
            );
            let result = self.frame(&ctx, &sql).await?;
            for row in result.rows {
                let mut obj = serde_json::Map::new();
                obj.insert("type".into(), table.name().into());
                for (c, v) in result.columns.iter().zip(row) {
                    if !v.is_null() {
                        obj.insert(c.clone(), v);
                    }
                }
                events.push(obj);
            }
        }
        events.sort_by_key(|e| {
            (
                e.get("ts").and_then(serde_json::Value::as_i64),
                e["type"].as_str().map(str::to_owned),
            )
        });
        Ok(events)
    }
}

/// Registers `files`, segments of `table` stored as `schema`, under `name`.
fn register_parquet(
    ctx: &SessionContext,
    name: &str,
    files: &[std::path::PathBuf],
    table: Table,
    schema: SchemaRef,
) -> Result<(), DataFusionError> {
    let schema = read_schema(table, &schema);
    let urls = files
        .iter()
        .map(|p| ListingTableUrl::parse(p.to_string_lossy()))
        .collect::<Result<Vec<_>, _>>()?;
    let options =
        ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
    let config = ListingTableConfig::new_with_multi_paths(urls)
        .with_listing_options(options)
        .with_schema(schema);
    // The engine's statistics cache: a table made by hand has none unless given one.
    let statistics = ctx.runtime_env().cache_manager.get_file_statistic_cache();
    ctx.register_table(
        name,
        Arc::new(ListingTable::try_new(config)?.with_cache(statistics)),
    )?;
    Ok(())
}

/// The schema segments are read with: dimensions (country, browser, status text…) as
/// `Utf8View`. Read from a segment's dictionary pages, a short string is a 16-byte view
/// with no copy of its bytes, and grouping by it compares views: the p75-by-country query
/// at 10M page views took 321 ms with `Utf8` and 272 ms with views. In-memory rows stay
/// `Utf8`; a union casts them to views.
fn read_schema(table: Table, stored: &Schema) -> SchemaRef {
    let fields: Vec<_> = stored
        .fields()
        .iter()
        .map(|f| {
            let dimension = table
                .column(f.name())
                .is_some_and(|c| c.kind == vigil_model::Kind::Dimension);
            if dimension && f.data_type() == &DataType::Utf8 {
                Arc::new(f.as_ref().clone().with_data_type(DataType::Utf8View))
            } else {
                f.clone()
            }
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, stored.metadata().clone()))
}

/// The columns of `table` read from its segments: as they are stored, but for view ids,
/// which segments keep relative to their session's ([`vigil_store::view_ids`]), session ids,
/// which they keep relative to their row's time ([`vigil_store::session_ids`]), page URLs,
/// which they keep without their path ([`vigil_store::page_urls`]), and the view timings
/// they keep as differences ([`vigil_store::deltas`]).
fn stored_columns_sql(table: Table, keep: impl Fn(&str) -> bool) -> String {
    columns_sql(table, keep, |c| match whole_column_sql(table, c) {
        Some(sql) => format!("{sql} AS \"{c}\""),
        None => format!("\"{c}\""),
    })
}

/// A select list of the columns of `table` that `keep` keeps, each spelled by `column`.
fn columns_sql(
    table: Table,
    keep: impl Fn(&str) -> bool,
    column: impl Fn(&str) -> String,
) -> String {
    table
        .columns()
        .iter()
        .filter(|c| keep(c.name))
        .map(|c| column(c.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What a query reads of its tables, so that the rest is not planned: a view of a table
/// with about 60 columns is a union of up to four branches, each of which DataFusion
/// names, types and optimises column by column before a projection drops most of them.
#[derive(Debug, Clone, Copy)]
struct Needs {
    /// Only this vital's rows (the SQL filters on its name): views that fold other vitals
    /// in are left out.
    vital: Option<&'static str>,
    /// Only the columns the SQL names in double quotes, as generated SQL names every
    /// column it reads. SQL from outside may name columns bare, so it gets all of them.
    quoted_columns_only: bool,
}

impl Needs {
    const ALL: Needs = Needs {
        vital: None,
        quoted_columns_only: false,
    };

    fn of(self, sql: &str) -> TableNeeds<'_> {
        TableNeeds {
            vital: self.vital,
            sql: self.quoted_columns_only.then_some(sql),
        }
    }
}

/// [`Needs`] with the SQL it is for.
#[derive(Debug, Clone, Copy)]
struct TableNeeds<'a> {
    vital: Option<&'a str>,
    sql: Option<&'a str>,
}

impl TableNeeds<'_> {
    const ALL: TableNeeds<'static> = TableNeeds {
        vital: None,
        sql: None,
    };

    /// Whether `column` is read: every column, or one the SQL names (the time always, so
    /// that no branch is empty and the rows' range can be pruned on).
    fn keeps(&self, column: &str) -> bool {
        self.sql.is_none_or(|sql| {
            column == "ts"
                || sql
                    .match_indices(column)
                    .any(|(at, _)| quoted_at(sql, at, column.len()))
        })
    }
}

/// Whether the `len` bytes at `at` of `sql` stand between double quotes.
fn quoted_at(sql: &str, at: usize, len: usize) -> bool {
    at > 0 && sql.as_bytes()[at - 1] == b'"' && sql.as_bytes().get(at + len) == Some(&b'"')
}

/// The SQL expression of a column of `table` that its segments store in another form than
/// its own, over their stored columns; `None` for a column stored as it is.
fn whole_column_sql(table: Table, column: &str) -> Option<String> {
    use vigil_store::{page_urls, session_ids, view_ids};
    let has = |c: &str| table.column(c).is_some();
    if column == session_ids::COLUMN && has("ts") {
        Some(session_ids::whole_sql())
    } else if column == view_ids::VIEW && has(view_ids::SESSION) {
        Some(view_ids::absolute_sql(&session_ids::whole_sql()))
    } else if column == page_urls::URL && has(page_urls::PATH) {
        Some(page_urls::whole_sql())
    } else if table == Table::Views {
        Some(vigil_store::deltas::decoded_sql(column))
    } else {
        None
    }
}

/// The rows of the vitals table that one folded vital gives back from stored view rows.
fn unfolded_vital_sql(
    vital: &vigil_store::fold::FoldedVital,
    views: &str,
    keep: impl Fn(&str) -> bool,
) -> String {
    let columns: Vec<String> = Table::Vitals
        .schema()
        .fields()
        .iter()
        .filter(|f| keep(f.name()))
        .map(|f| {
            let c = f.name().as_str();
            let value = if c == "ts" {
                format!("\"ts\" + \"{}\"", vital.offset_column())
            } else if c == "name" {
                format!("'{}'", vital.name)
            } else if vital.columns.contains(&c) {
                vigil_store::deltas::decoded_sql(&vital.column(c))
            } else if Table::Views.column(c).is_some() {
                // A shared column, stored in the view's form (whole view ids and URLs).
                whole_column_sql(Table::Views, c).unwrap_or_else(|| format!("\"{c}\""))
            } else {
                let ty = match f.data_type() {
                    DataType::Int64 => "BIGINT",
                    DataType::Float64 => "DOUBLE",
                    DataType::Boolean => "BOOLEAN",
                    _ => "VARCHAR",
                };
                format!("CAST(NULL AS {ty})")
            };
            format!("{value} AS \"{c}\"")
        })
        .collect();
    format!(
        "SELECT {} FROM \"{views}\" WHERE \"{}\" IS NOT NULL",
        columns.join(", "),
        vital.presence_column()
    )
}

fn cell(array: &ArrayRef, row: usize) -> serde_json::Value {
    if array.is_null(row) {
        return serde_json::Value::Null;
    }
    match array.data_type() {
        DataType::Utf8 => array.as_string::<i32>().value(row).into(),
        DataType::Utf8View => array.as_string_view().value(row).into(),
        DataType::Boolean => array.as_boolean().value(row).into(),
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64 => {
            let a = cast(&array.slice(row, 1), &DataType::Int64).expect("integers cast to i64");
            a.as_primitive::<Int64Type>().value(0).into()
        }
        DataType::Float16 | DataType::Float32 | DataType::Float64 => {
            let a = cast(&array.slice(row, 1), &DataType::Float64).expect("floats cast to f64");
            let v = a.as_primitive::<Float64Type>().value(0);
            serde_json::Number::from_f64(v)
                .map_or(serde_json::Value::Null, serde_json::Value::Number)
        }
        _ => match cast(&array.slice(row, 1), &DataType::Utf8) {
            Ok(a) => a.as_string::<i32>().value(0).into(),
            Err(_) => serde_json::Value::Null,
        },
    }
}

/// Another engine's rows read as the embedded engine writes its answer.
fn typed_result(
    columns: &[(String, model::OutputKind)],
    rows: Vec<Vec<serde_json::Value>>,
) -> Result<QueryResult, QueryError> {
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        // Doubles come again as exact text after the columns (see `Query::sql_in`).
        let floats = columns
            .iter()
            .filter(|(_, k)| *k == model::OutputKind::Float)
            .count();
        if row.len() != columns.len() + floats {
            return Err(QueryError::Engine(DataFusionError::Execution(format!(
                "the remote store answered {} columns, not {}",
                row.len(),
                columns.len() + floats
            ))));
        }
        let mut text_of_float = row[columns.len()..].iter();
        let typed = row
            .iter()
            .zip(columns)
            .map(|(v, (name, kind))| {
                let v = match kind {
                    model::OutputKind::Float => text_of_float.next().unwrap_or(v),
                    _ => v,
                };
                kind.read(v).ok_or_else(|| {
                    QueryError::Engine(DataFusionError::Execution(format!(
                        "the remote store answered {v} for {name}"
                    )))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        out.push(typed);
    }
    Ok(QueryResult {
        columns: columns.iter().map(|(name, _)| name.clone()).collect(),
        rows: out,
    })
}

/// Turns Arrow batches of `schema` into a JSON-friendly table (the columns are the schema's,
/// so an empty answer still names them).
pub fn to_result(schema: &Schema, batches: &[RecordBatch]) -> QueryResult {
    let columns = schema.fields().iter().map(|f| f.name().clone()).collect();
    let mut rows = Vec::new();
    for b in batches {
        for r in 0..b.num_rows() {
            rows.push(b.columns().iter().map(|c| cell(c, r)).collect());
        }
    }
    QueryResult { columns, rows }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_sql_keeps_the_columns_it_quotes_and_the_time() {
        let sql = r#"SELECT "country", vigil_p75("value") FROM "vitals" WHERE "page_url_template" = 'x' AND "name" = 'LCP'"#;
        let needs = Needs {
            vital: Some("LCP"),
            quoted_columns_only: true,
        }
        .of(sql);
        let kept: Vec<&str> = Table::Vitals
            .columns()
            .iter()
            .map(|c| c.name)
            .filter(|c| needs.keeps(c))
            .collect();
        // `page_url` stands inside another name only: not named, not kept.
        assert_eq!(kept, ["ts", "country", "name", "value"]);
        assert_eq!(needs.vital, Some("LCP"));
    }

    #[test]
    fn sql_from_outside_keeps_every_column() {
        let needs = Needs::ALL.of("SELECT country FROM vitals");
        assert!(Table::Vitals.columns().iter().all(|c| needs.keeps(c.name)));
        assert_eq!(
            columns_sql(Table::Vitals, |c| needs.keeps(c), |c| c.to_owned())
                .split(", ")
                .count(),
            Table::Vitals.columns().len()
        );
    }
}
