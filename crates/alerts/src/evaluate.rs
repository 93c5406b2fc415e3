//! The evaluator: on each round, every enabled rule's queries over its window, one
//! observation per segment, each segment stepped through its states, and the states,
//! transitions and notifications written in one transaction. The preview runs the same
//! steps over past windows.

use crate::lease::Lease;
use crate::notify::{AlertNotice, Links, Outbox, now_ms};
use crate::rule::{ErrorGroups, RuleDefinition, is_count, spike_factor};
use crate::state::{Observation, Segment, step};
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use vigil_meta::{
    AlertState, GroupState, GroupStatus, Meta, MetaError, NewNotification, Project, SegmentState,
    StoredRule, Transition,
};
use vigil_query::{InvalidQuery, QueryEngine, QueryError, QueryResult};
use vigil_store::Table;

/// Why a rule could not be evaluated.
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    /// A query failed (or the rule's definition no longer checks).
    #[error(transparent)]
    Query(#[from] QueryError),
    /// Metadata failed.
    #[error(transparent)]
    Meta(#[from] MetaError),
    /// The stored definition cannot be read.
    #[error("rule {0}: unreadable definition: {1}")]
    Definition(i64, String),
}

impl From<InvalidQuery> for AlertError {
    fn from(e: InvalidQuery) -> Self {
        AlertError::Query(QueryError::Invalid(e))
    }
}

/// Counts and time spent, for `/metrics` and the benchmark.
#[derive(Debug, Default)]
pub struct EvaluatorMetrics {
    /// Rules evaluated.
    pub evaluations: AtomicU64,
    /// Evaluations that failed.
    pub failures: AtomicU64,
    /// Microseconds spent evaluating, in total.
    pub micros: AtomicU64,
    /// Segments judged, in total.
    pub segments: AtomicU64,
    /// Transitions recorded.
    pub transitions: AtomicU64,
    /// The last round's length, µs.
    pub last_round_micros: AtomicU64,
}

/// What one round did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Round {
    /// Rules evaluated.
    pub rules: usize,
    /// Segments judged.
    pub segments: usize,
    /// Transitions recorded.
    pub transitions: usize,
    /// Rules that failed.
    pub failed: usize,
    /// How long it took.
    pub elapsed: Duration,
}

/// Evaluates rules against the store and records what happened.
pub struct Evaluator {
    meta: Arc<Meta>,
    queries: Arc<QueryEngine>,
    links: Links,
    outbox: Option<Outbox>,
    /// With several instances, the lease that says whether this one evaluates.
    lease: Option<Arc<Lease>>,
    /// Counts and time spent.
    pub metrics: EvaluatorMetrics,
}

/// One segment's observation, by its key (the JSON of its group-by values).
type Observed = BTreeMap<String, (Map<String, Value>, Observation)>;

impl Evaluator {
    /// An evaluator; notifications are delivered through `outbox` when there is one.
    pub fn new(
        meta: Arc<Meta>,
        queries: Arc<QueryEngine>,
        links: Links,
        outbox: Option<Outbox>,
    ) -> Self {
        Self {
            meta,
            queries,
            links,
            outbox,
            lease: None,
            metrics: EvaluatorMetrics::default(),
        }
    }

    /// Evaluates only while `lease` is held (instances sharing a metadata database).
    pub fn with_lease(mut self, lease: Arc<Lease>) -> Self {
        self.lease = Some(lease);
        self
    }

    /// The lease this evaluator runs under, if any.
    pub fn lease(&self) -> Option<&Arc<Lease>> {
        self.lease.as_ref()
    }

    /// The links notifications carry.
    pub fn links(&self) -> &Links {
        &self.links
    }

    /// The delivery handle.
    pub fn outbox(&self) -> Option<&Outbox> {
        self.outbox.as_ref()
    }

    /// Evaluates every enabled rule of every project at `now`, one after another (a round
    /// shares the query engine's turns with people's queries rather than crowd them out).
    pub async fn round(&self, now: i64) -> Result<Round, AlertError> {
        let started = Instant::now();
        let rules = {
            let meta = self.meta.clone();
            tokio::task::spawn_blocking(move || meta.all_alert_rules())
                .await
                .map_err(|e| AlertError::Definition(0, e.to_string()))??
        };
        let projects: HashMap<u32, Project> = {
            let meta = self.meta.clone();
            tokio::task::spawn_blocking(move || meta.projects())
                .await
                .map_err(|e| AlertError::Definition(0, e.to_string()))??
                .into_iter()
                .map(|p| (p.id, p))
                .collect()
        };
        let mut round = Round::default();
        for rule in &rules {
            let Some(project) = projects.get(&rule.project_id) else {
                continue;
            };
            let def = match parse(rule) {
                Ok(def) if def.enabled => def,
                Ok(_) => continue,
                Err(e) => {
                    tracing::error!(error = %e, "alert rule");
                    round.failed += 1;
                    continue;
                }
            };
            match self.evaluate(project, rule, &def, now).await {
                Ok((segments, transitions)) => {
                    round.rules += 1;
                    round.segments += segments;
                    round.transitions += transitions;
                }
                Err(e) => {
                    tracing::warn!(error = %e, rule = rule.id, "alert rule not evaluated");
                    round.failed += 1;
                    self.metrics.failures.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        round.elapsed = started.elapsed();
        self.metrics
            .last_round_micros
            .store(round.elapsed.as_micros() as u64, Ordering::Relaxed);
        Ok(round)
    }

    /// Evaluates one rule at `now`: (segments judged, transitions recorded).
    pub async fn evaluate(
        &self,
        project: &Project,
        rule: &StoredRule,
        def: &RuleDefinition,
        now: i64,
    ) -> Result<(usize, usize), AlertError> {
        let started = Instant::now();
        let to = now - i64::from(def.delay_minutes) * 60_000;
        let from = to - i64::from(def.window_minutes) * 60_000;
        let mut results = Vec::new();
        for q in def.queries(from, to, None) {
            results.push(self.queries.run(project.id, &q).await?);
        }
        let mut observed = observe(def, &results, false).remove(&0).unwrap_or_default();
        if let Some(q) = def.baseline_query(from) {
            let past = self.queries.run(project.id, &q).await?;
            let usual = counts_by_segment(def, &past);
            for (key, (_, o)) in observed.iter_mut() {
                let current = o.value.unwrap_or(0.0);
                let before = usual.get(key).copied().unwrap_or(0.0);
                o.value = Some(spike_factor(
                    current,
                    before,
                    def.baseline_windows.unwrap_or(1),
                    def.min_samples,
                ));
            }
        }
        if let Some(kind) = def.error_groups {
            let keep = self
                .error_groups(project, kind, &observed, from, to)
                .await?;
            observed.retain(|_, (segment, _)| {
                segment
                    .get("fingerprint")
                    .and_then(Value::as_str)
                    .is_some_and(|f| keep.contains(f))
            });
        }
        let (meta, id) = (self.meta.clone(), rule.id);
        let (previous, mutes) = tokio::task::spawn_blocking(move || {
            Ok::<_, MetaError>((meta.alert_segments(id)?, meta.alert_mutes(id, now)?))
        })
        .await
        .map_err(|e| AlertError::Definition(rule.id, e.to_string()))??;
        let muted_rule = rule.muted_until.is_some_and(|until| until > now);
        let muted: HashMap<String, i64> = mutes.into_iter().collect();

        let mut states = Vec::new();
        let mut transitions = Vec::new();
        let mut notified = Vec::new();
        let mut seen_keys: Vec<&String> = observed.keys().collect();
        let before: HashMap<&str, &SegmentState> =
            previous.iter().map(|s| (s.segment.as_str(), s)).collect();
        for s in &previous {
            if !observed.contains_key(&s.segment) {
                seen_keys.push(&s.segment);
            }
        }
        for key in seen_keys {
            let prev = before
                .get(key.as_str())
                .map_or(Segment::new(now), |s| Segment {
                    state: s.state,
                    breaches: s.breaches,
                    since: s.since,
                });
            let found = observed.get(key).map(|(_, o)| *o).or_else(|| {
                // A count with no events in the window is a count of zero.
                (def.ratio_of.is_none() && is_count(def.aggregation)).then_some(Observation {
                    value: Some(0.0),
                    samples: 0,
                })
            });
            let (next, change) = step(def, prev, found, now);
            let has_data = observed.contains_key(key);
            if has_data || next.state != AlertState::Ok {
                let kept = before.get(key.as_str());
                states.push(SegmentState {
                    segment: key.clone(),
                    state: next.state,
                    breaches: next.breaches,
                    since: next.since,
                    value: found
                        .and_then(|o| o.value)
                        .or_else(|| kept.and_then(|s| s.value)),
                    samples: found.map_or(0, |o| o.samples),
                    evaluated_at: now,
                });
            }
            if let Some((was, to_state)) = change {
                let tell = matches!(
                    (to_state, def.error_groups),
                    (AlertState::Firing, _) | (AlertState::Resolved, None)
                ) && !muted_rule
                    && !muted.contains_key(key);
                let t = Transition {
                    id: 0,
                    rule_id: rule.id,
                    segment: key.clone(),
                    from: was,
                    to: to_state,
                    value: found.and_then(|o| o.value),
                    threshold: if to_state == AlertState::Resolved {
                        def.recovery()
                    } else {
                        def.threshold
                    },
                    samples: found.map_or(0, |o| o.samples),
                    window_from: from,
                    window_to: to,
                    at: now,
                    notified: tell,
                };
                if tell {
                    notified.push(transitions.len());
                }
                transitions.push(t);
            }
        }
        // Segments that fired and then left the watched set stay firing until their data
        // says otherwise; past twice the watched number, the longest-firing of them are
        // resolved for want of data, so the states a rule keeps stay bounded whatever
        // values the events bring.
        let cap = 2 * def.max_segments as usize;
        if states.len() > cap {
            let mut unseen: Vec<usize> = (0..states.len())
                .filter(|&i| !observed.contains_key(&states[i].segment))
                .collect();
            unseen.sort_by_key(|&i| (states[i].since, i));
            let drop: Vec<usize> = unseen.into_iter().take(states.len() - cap).collect();
            for &i in &drop {
                let s = &states[i];
                let tell = !muted_rule && !muted.contains_key(&s.segment);
                if tell {
                    notified.push(transitions.len());
                }
                transitions.push(Transition {
                    id: 0,
                    rule_id: rule.id,
                    segment: s.segment.clone(),
                    from: s.state,
                    to: if s.state == AlertState::Firing {
                        AlertState::Resolved
                    } else {
                        AlertState::Ok
                    },
                    value: None,
                    threshold: def.recovery(),
                    samples: 0,
                    window_from: from,
                    window_to: to,
                    at: now,
                    notified: tell,
                });
            }
            let mut i = 0;
            states.retain(|_| {
                i += 1;
                !drop.contains(&(i - 1))
            });
        }
        let segments = states.len();
        let notifications = if notified.is_empty() || def.channels.is_empty() {
            Vec::new()
        } else {
            let notice = AlertNotice {
                project,
                rule_id: rule.id,
                rule: def,
                at: now,
                transitions: notified
                    .iter()
                    .map(|&i| (segment_of(&transitions[i].segment), &transitions[i]))
                    .collect(),
                kind: "alert",
            };
            let body = notice.body(&self.links).to_string();
            def.channels
                .iter()
                .map(|c| NewNotification {
                    kind: "alert".into(),
                    channel: serde_json::to_string(c).expect("a channel serializes"),
                    body: body.clone(),
                })
                .collect()
        };
        let count = transitions.len();
        let queued = !notifications.is_empty();
        let (meta, id, version) = (self.meta.clone(), rule.id, rule.version);
        tokio::task::spawn_blocking(move || {
            meta.record_alert_evaluation(id, version, &states, &transitions, &notifications, now)
        })
        .await
        .map_err(|e| AlertError::Definition(rule.id, e.to_string()))??;
        if queued && let Some(outbox) = &self.outbox {
            outbox.wake();
        }
        self.metrics.evaluations.fetch_add(1, Ordering::Relaxed);
        self.metrics
            .segments
            .fetch_add(segments as u64, Ordering::Relaxed);
        self.metrics
            .transitions
            .fetch_add(count as u64, Ordering::Relaxed);
        self.metrics
            .micros
            .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        Ok((segments, count))
    }

    /// Of the error groups observed, the ones an `error_groups` rule watches: first seen in
    /// the window (looking back over the project's retention), or resolved and seen again.
    async fn error_groups(
        &self,
        project: &Project,
        kind: ErrorGroups,
        observed: &Observed,
        from: i64,
        to: i64,
    ) -> Result<HashSet<String>, AlertError> {
        let keys: Vec<String> = observed
            .values()
            .filter_map(|(segment, _)| segment.get("fingerprint")?.as_str().map(str::to_owned))
            .collect();
        if keys.is_empty() {
            return Ok(HashSet::new());
        }
        let mut keep = HashSet::new();
        match kind {
            ErrorGroups::New => {
                let since = to - i64::from(project.retention_days) * 86_400_000;
                let sql = vigil_query::first_seen_sql(
                    vigil_query::GroupedTable::Errors,
                    &keys,
                    since,
                    to,
                )?;
                let seen = self
                    .queries
                    .sql(project.id, &[Table::Errors], since, to, &sql)
                    .await?;
                for row in seen.rows {
                    if let (Some(key), Some(first)) = (row[0].as_str(), row[1].as_i64())
                        && first >= from
                    {
                        keep.insert(key.to_owned());
                    }
                }
            }
            ErrorGroups::Regression => {
                let (meta, id, asked) = (self.meta.clone(), project.id, keys.clone());
                let statuses = tokio::task::spawn_blocking(move || meta.group_statuses(id, &asked))
                    .await
                    .map_err(|e| AlertError::Definition(0, e.to_string()))??;
                let resolved: HashMap<&str, &GroupStatus> = statuses
                    .iter()
                    .filter(|s| s.state == GroupState::Resolved)
                    .map(|s| (s.fingerprint.as_str(), s))
                    .collect();
                if resolved.is_empty() {
                    return Ok(keep);
                }
                let keys: Vec<String> = resolved.keys().map(|k| (*k).to_owned()).collect();
                let sql = vigil_query::releases_seen_sql(
                    vigil_query::GroupedTable::Errors,
                    &keys,
                    from,
                    to,
                )?;
                let seen = self
                    .queries
                    .sql(project.id, &[Table::Errors], from, to, &sql)
                    .await?;
                for row in seen.rows {
                    if let (Some(key), Some(release), Some(last)) =
                        (row[0].as_str(), row[1].as_str(), row[2].as_i64())
                        && resolved
                            .get(key)
                            .is_some_and(|s| s.regressed_by(release, last))
                    {
                        keep.insert(key.to_owned());
                    }
                }
            }
        }
        Ok(keep)
    }

    /// Runs a rule over the past `days` in consecutive windows of its length, through the
    /// same states as the evaluator, and says when each segment would have fired and
    /// resolved. The evaluation delay does not apply: the past is complete.
    pub async fn preview(
        &self,
        project: u32,
        def: &RuleDefinition,
        days: u32,
        now: i64,
    ) -> Result<Preview, AlertError> {
        let step_ms = i64::from(def.window_minutes) * 60_000;
        let end = now.div_euclid(step_ms) * step_ms;
        let start = end - i64::from(days) * 86_400_000;
        let start = start.div_euclid(step_ms) * step_ms;
        // Chunks of whole windows, about a day each: each query's rows stay within the
        // query model's limit for up to ~100 segments of 15-minute windows.
        let per_chunk = (86_400_000 / step_ms).max(1) * step_ms;
        let mut by_time: BTreeMap<i64, Observed> = BTreeMap::new();
        let mut truncated = false;
        let mut chunk_from = start;
        while chunk_from < end {
            let chunk_to = (chunk_from + per_chunk).min(end);
            let mut results = Vec::new();
            for q in def.queries(chunk_from, chunk_to, Some(def.window_minutes)) {
                let r = self.queries.run(project, &q).await?;
                truncated |= r.rows.len() >= 10_000;
                results.push(r);
            }
            for (t, o) in observe(def, &results, true) {
                by_time.entry(t).or_default().extend(o);
            }
            chunk_from = chunk_to;
        }
        // The segments watched: the largest over the whole range, as many as the rule
        // watches at once.
        let mut totals: HashMap<String, (Map<String, Value>, u64)> = HashMap::new();
        for o in by_time.values() {
            for (k, (seg, obs)) in o {
                totals
                    .entry(k.clone())
                    .or_insert_with(|| (seg.clone(), 0))
                    .1 += obs.samples;
            }
        }
        let mut keys: Vec<(String, Map<String, Value>, u64)> =
            totals.into_iter().map(|(k, (s, n))| (k, s, n)).collect();
        keys.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
        keys.truncate(def.max_segments as usize);
        let zero = (def.ratio_of.is_none() && is_count(def.aggregation)).then_some(Observation {
            value: Some(0.0),
            samples: 0,
        });
        let mut segments = Vec::new();
        let mut events = Vec::new();
        for (key, segment, samples) in keys {
            let mut state = Segment::new(start);
            let mut points = Vec::new();
            // A spike rule's counts of the windows before, newest last.
            let mut past: std::collections::VecDeque<f64> = std::collections::VecDeque::new();
            let mut t = start;
            while t < end {
                let at = t + step_ms;
                let mut seen = by_time
                    .get(&t)
                    .and_then(|o| o.get(&key))
                    .map(|(_, o)| *o)
                    .or(zero);
                if let Some(n) = def.baseline_windows {
                    let current = seen.and_then(|o| o.value).unwrap_or(0.0);
                    // Judged once a whole baseline is behind it.
                    seen = (past.len() == n as usize).then(|| Observation {
                        value: Some(spike_factor(current, past.iter().sum(), n, def.min_samples)),
                        samples: current as u64,
                    });
                    past.push_back(current);
                    if past.len() > n as usize {
                        past.pop_front();
                    }
                }
                let (next, change) = step(def, state, seen, at);
                state = next;
                if let Some((from, to)) = change
                    && matches!(to, AlertState::Firing | AlertState::Resolved)
                {
                    events.push(PreviewEvent {
                        segment: segment.clone(),
                        from,
                        to,
                        at,
                        value: seen.and_then(|o| o.value),
                        samples: seen.map_or(0, |o| o.samples),
                    });
                }
                points.push(PreviewPoint {
                    at,
                    value: seen.and_then(|o| o.value),
                    samples: seen.map_or(0, |o| o.samples),
                    state: state.state,
                });
                t = at;
            }
            if segments.len() < PREVIEW_SERIES {
                segments.push(PreviewSegment {
                    segment,
                    samples,
                    points,
                });
            }
        }
        events.sort_by_key(|e| e.at);
        Ok(Preview {
            from: start,
            to: end,
            window_minutes: def.window_minutes,
            truncated,
            fired: events.iter().filter(|e| e.to == AlertState::Firing).count(),
            events,
            segments,
        })
    }

    /// Queues a test notification to every channel of a rule, as if its first segment (or
    /// an example one) had fired now.
    pub fn test_notification(
        &self,
        project: &Project,
        rule: &StoredRule,
        def: &RuleDefinition,
        now: i64,
    ) -> Result<Vec<i64>, AlertError> {
        let to = now - i64::from(def.delay_minutes) * 60_000;
        let example = Transition {
            id: 0,
            rule_id: rule.id,
            segment: "{}".into(),
            from: AlertState::Pending,
            to: AlertState::Firing,
            value: Some(def.threshold),
            threshold: def.threshold,
            samples: def.min_samples,
            window_from: to - i64::from(def.window_minutes) * 60_000,
            window_to: to,
            at: now,
            notified: true,
        };
        let segment: Map<String, Value> = def
            .group_by
            .iter()
            .map(|g| (g.clone(), Value::String("example".into())))
            .collect();
        let notice = AlertNotice {
            project,
            rule_id: rule.id,
            rule: def,
            at: now,
            transitions: vec![(segment, &example)],
            kind: "test",
        };
        let body = notice.body(&self.links).to_string();
        let notifications: Vec<NewNotification> = def
            .channels
            .iter()
            .map(|c| NewNotification {
                kind: "test".into(),
                channel: serde_json::to_string(c).expect("a channel serializes"),
                body: body.clone(),
            })
            .collect();
        let ids = self
            .meta
            .enqueue_alert_notifications(rule.id, &notifications, now)?;
        if let Some(outbox) = &self.outbox {
            outbox.wake();
        }
        Ok(ids)
    }

    /// Evaluates on a fixed cadence until the task is dropped; history older than
    /// `keep_history` goes once an hour.
    pub async fn run(self: Arc<Self>, every: Duration, keep_history: Duration) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut pruned_at = 0i64;
        loop {
            tick.tick().await;
            if self.lease.as_ref().is_some_and(|l| !l.held()) {
                continue;
            }
            let now = now_ms();
            match self.round(now).await {
                Ok(r) if r.rules > 0 => tracing::debug!(
                    rules = r.rules,
                    segments = r.segments,
                    transitions = r.transitions,
                    ms = r.elapsed.as_millis() as u64,
                    "alert round"
                ),
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "alert round"),
            }
            if now - pruned_at > 3_600_000 {
                pruned_at = now;
                let meta = self.meta.clone();
                let before = now - keep_history.as_millis() as i64;
                let pruned =
                    tokio::task::spawn_blocking(move || meta.prune_alert_history(before)).await;
                if let Ok(Err(e)) = pruned {
                    tracing::error!(error = %e, "pruning alert history");
                }
            }
        }
    }
}

/// Segments whose window-by-window values the preview returns (the largest ones); the
/// firing and resolving of every watched segment is returned whatever their number.
const PREVIEW_SERIES: usize = 10;

/// A rule's stored definition.
pub fn parse(rule: &StoredRule) -> Result<RuleDefinition, AlertError> {
    serde_json::from_str(&rule.definition)
        .map_err(|e| AlertError::Definition(rule.id, e.to_string()))
}

/// A segment key back as an object.
pub fn segment_of(key: &str) -> Map<String, Value> {
    serde_json::from_str(key).unwrap_or_default()
}

fn number(v: &Value) -> Option<f64> {
    v.as_f64()
}

/// A count query's counts by segment key.
fn counts_by_segment(def: &RuleDefinition, result: &QueryResult) -> HashMap<String, f64> {
    observe(def, std::slice::from_ref(result), false)
        .remove(&0)
        .unwrap_or_default()
        .into_iter()
        .map(|(k, (_, o))| (k, o.value.unwrap_or(0.0)))
        .collect()
}

/// Observations from a rule's query results, by time bucket (0 without buckets) and
/// segment.
fn observe(
    def: &RuleDefinition,
    results: &[QueryResult],
    with_time: bool,
) -> BTreeMap<i64, Observed> {
    let mut out: BTreeMap<i64, Observed> = BTreeMap::new();
    let index = |r: &QueryResult, name: &str| r.columns.iter().position(|c| c == name);
    let key_of = |r: &QueryResult, row: &[Value]| {
        let segment: Map<String, Value> = def
            .group_by
            .iter()
            .map(|g| {
                (
                    g.clone(),
                    index(r, g).map_or(Value::Null, |i| row[i].clone()),
                )
            })
            .collect();
        let time = if with_time {
            index(r, "time").and_then(|i| row[i].as_i64()).unwrap_or(0)
        } else {
            0
        };
        (time, Value::Object(segment.clone()).to_string(), segment)
    };
    let value_name = def.aggregation.name();
    let Some(first) = results.first() else {
        return out;
    };
    match (&def.ratio_of, results.get(1)) {
        (Some(d), Some(den)) => {
            let mut numerators: HashMap<(i64, String), f64> = HashMap::new();
            if let Some(vi) = index(first, value_name) {
                for row in &first.rows {
                    let (t, key, _) = key_of(first, row);
                    numerators.insert((t, key), number(&row[vi]).unwrap_or(0.0));
                }
            }
            let Some(di) = index(den, d.aggregation.name()) else {
                return out;
            };
            for row in &den.rows {
                let (t, key, segment) = key_of(den, row);
                let samples = number(&row[di]).unwrap_or(0.0).max(0.0) as u64;
                let num = numerators.get(&(t, key.clone())).copied().unwrap_or(0.0);
                let value = (samples > 0).then(|| num / samples as f64);
                out.entry(t)
                    .or_default()
                    .insert(key, (segment, Observation { value, samples }));
            }
        }
        _ => {
            let (Some(vi), ci) = (index(first, value_name), index(first, "count")) else {
                return out;
            };
            for row in &first.rows {
                let (t, key, segment) = key_of(first, row);
                let value = number(&row[vi]);
                let samples = ci
                    .and_then(|i| number(&row[i]))
                    .or(value)
                    .unwrap_or(0.0)
                    .max(0.0) as u64;
                out.entry(t)
                    .or_default()
                    .insert(key, (segment, Observation { value, samples }));
            }
        }
    }
    out
}

/// What a rule would have done over past windows.
#[derive(Debug, Clone, Serialize)]
pub struct Preview {
    /// The range, ms.
    pub from: i64,
    /// Its end, ms.
    pub to: i64,
    /// The window (and step) length.
    pub window_minutes: u32,
    /// A query reached the row limit: some windows or segments are missing.
    pub truncated: bool,
    /// Times a segment would have fired.
    pub fired: usize,
    /// Fired and resolved, in time order.
    pub events: Vec<PreviewEvent>,
    /// Each watched segment's values and states, window by window.
    pub segments: Vec<PreviewSegment>,
}

/// A segment firing or resolving in the preview.
#[derive(Debug, Clone, Serialize)]
pub struct PreviewEvent {
    /// The segment.
    pub segment: Map<String, Value>,
    /// The state before.
    pub from: AlertState,
    /// Firing or resolved.
    pub to: AlertState,
    /// The end of the window, ms.
    pub at: i64,
    /// The value.
    pub value: Option<f64>,
    /// Its samples.
    pub samples: u64,
}

/// One segment in the preview.
#[derive(Debug, Clone, Serialize)]
pub struct PreviewSegment {
    /// The segment.
    pub segment: Map<String, Value>,
    /// Its samples over the range.
    pub samples: u64,
    /// One point per window.
    pub points: Vec<PreviewPoint>,
}

/// One window of one segment in the preview.
#[derive(Debug, Clone, Serialize)]
pub struct PreviewPoint {
    /// The window's end, ms.
    pub at: i64,
    /// The value, if any.
    pub value: Option<f64>,
    /// Its samples.
    pub samples: u64,
    /// The state after this window.
    pub state: AlertState,
}
