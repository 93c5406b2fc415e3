//! Error groups ("issues"): the list with figures, states and regressions, one group's
//! detail, triage (resolve, resolve in the next release, ignore, reopen), the project's
//! error settings (critical pages, noise filters) and the counts of filtered errors. Mobile
//! crash groups answer the same under `/api/v1/crashes/groups`; their states live beside
//! the errors' (fingerprints of the two never meet).

use crate::access::{ChangeSettings, ProjectAccess, Read, TriageErrors, with_meta};
use crate::login::parse_body;
use crate::read::QueryBody;
use crate::{ApiError, AppState};
use axum::extract::{Path, Query as QueryParams, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use vigil_meta::{ErrorSettings, GroupState, GroupStatus};
use vigil_query::{
    ErrorGroupSearch, GroupSet, GroupedTable, QueryResult, group_breakdown_sql, group_events_sql,
    group_series_sql, group_sessions_sql, releases_seen_sql,
};

/// The error-group routes.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/errors/groups", post(list_errors))
        .route("/api/v1/errors/groups/{fingerprint}", get(error_detail))
        .route(
            "/api/v1/errors/groups/{fingerprint}/state",
            put(set_error_state),
        )
        .route("/api/v1/crashes/groups", post(list_crashes))
        .route("/api/v1/crashes/groups/{fingerprint}", get(crash_detail))
        .route(
            "/api/v1/crashes/groups/{fingerprint}/state",
            put(set_crash_state),
        )
        .route(
            "/api/v1/errors/settings",
            get(settings).put(change_settings),
        )
        .route("/api/v1/errors/filtered", get(filtered))
}

/// Buckets of a group's events-over-time sparkline.
const SERIES_BUCKETS: i64 = 24;
/// Resolved groups checked for regressions: the most recently resolved ones, a third of the
/// SQL list bound (see `closed` in [`list`]).
const MAX_RESOLVED_CHECKED: usize = vigil_query::MAX_GROUP_KEYS / 3;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListRequest {
    from: i64,
    to: i64,
    #[serde(default)]
    filters: Vec<vigil_query::Filter>,
    #[serde(default)]
    order_by: Option<String>,
    #[serde(default)]
    limit: Option<usize>,
    /// `unresolved` (default: open groups and regressions), `resolved`, `ignored`, `all`.
    #[serde(default)]
    state: Option<String>,
    /// Regressed groups before the others.
    #[serde(default)]
    regressions_first: bool,
}

/// Rows as objects keyed by column.
fn objects(result: QueryResult) -> Vec<Map<String, Value>> {
    result
        .rows
        .into_iter()
        .map(|row| result.columns.iter().cloned().zip(row).collect())
        .collect()
}

/// The states recorded for a project's groups, and which resolved ones regressed in the
/// range: an event after the resolution, from a release not seen before it when resolved
/// "in the next release", from any release otherwise.
async fn states(
    state: &Arc<AppState>,
    grouped: GroupedTable,
    project: u32,
    from: i64,
    to: i64,
) -> Result<(HashMap<String, GroupStatus>, HashSet<String>), ApiError> {
    let statuses = with_meta(state, move |meta| {
        let mut keys = meta.groups_in_state(project, GroupState::Resolved)?;
        keys.extend(meta.groups_in_state(project, GroupState::Ignored)?);
        meta.group_statuses(project, &keys)
    })
    .await?;
    let mut resolved: Vec<(String, i64)> = statuses
        .iter()
        .filter(|s| s.state == GroupState::Resolved)
        .map(|s| (s.fingerprint.clone(), s.resolved_at.unwrap_or(0)))
        .collect();
    resolved.sort_by_key(|(_, at)| std::cmp::Reverse(*at));
    resolved.truncate(MAX_RESOLVED_CHECKED);
    let by_key: HashMap<String, GroupStatus> = statuses
        .into_iter()
        .map(|s| (s.fingerprint.clone(), s))
        .collect();
    let mut regressed = HashSet::new();
    if !resolved.is_empty() {
        let keys: Vec<String> = resolved.iter().map(|(k, _)| k.clone()).collect();
        let sql = releases_seen_sql(grouped, &keys, from, to)?;
        let seen = state
            .queries
            .sql(project, &[grouped.table()], from, to, &sql)
            .await?;
        for row in seen.rows {
            let (Some(key), Some(release), Some(last_seen)) =
                (row[0].as_str(), row[1].as_str(), row[2].as_i64())
            else {
                continue;
            };
            let Some(status) = by_key.get(key) else {
                continue;
            };
            if status.regressed_by(release, last_seen) {
                regressed.insert(key.to_owned());
            }
        }
    }
    Ok((by_key, regressed))
}

/// A group row with its state, regression flag and sparkline.
fn decorate(
    mut group: Map<String, Value>,
    statuses: &HashMap<String, GroupStatus>,
    regressed: &HashSet<String>,
    series: &HashMap<String, Vec<i64>>,
) -> Value {
    let key = group["fingerprint"].as_str().unwrap_or_default().to_owned();
    let status = statuses.get(&key).cloned().unwrap_or_default();
    let is_regressed = regressed.contains(&key);
    group.insert(
        "state".into(),
        json!(if is_regressed {
            GroupState::Unresolved
        } else {
            status.state
        }),
    );
    group.insert("regressed".into(), json!(is_regressed));
    group.insert("in_next_release".into(), json!(status.in_next_release));
    group.insert("resolved_at".into(), json!(status.resolved_at));
    group.insert(
        "series".into(),
        json!(
            series
                .get(&key)
                .cloned()
                .unwrap_or_else(|| vec![0; SERIES_BUCKETS as usize])
        ),
    );
    Value::Object(group)
}

async fn series(
    state: &Arc<AppState>,
    grouped: GroupedTable,
    project: u32,
    keys: &[String],
    from: i64,
    to: i64,
) -> Result<HashMap<String, Vec<i64>>, ApiError> {
    let mut out: HashMap<String, Vec<i64>> = HashMap::new();
    if keys.is_empty() {
        return Ok(out);
    }
    let sql = group_series_sql(grouped, keys, from, to, SERIES_BUCKETS)?;
    let width = ((to - from) / SERIES_BUCKETS).max(1);
    for row in state
        .queries
        .sql(project, &[grouped.table()], from, to, &sql)
        .await?
        .rows
    {
        let (Some(key), Some(t), Some(n)) = (row[0].as_str(), row[1].as_i64(), row[2].as_i64())
        else {
            continue;
        };
        let bucket = ((t - from) / width).clamp(0, SERIES_BUCKETS - 1) as usize;
        out.entry(key.to_owned())
            .or_insert_with(|| vec![0; SERIES_BUCKETS as usize])[bucket] += n;
    }
    Ok(out)
}

/// `POST /api/v1/errors/groups`: the groups of the range, by impact unless told otherwise.
async fn list_errors(
    State(state): State<Arc<AppState>>,
    access: ProjectAccess<Read>,
    QueryBody(request): QueryBody<ListRequest>,
) -> Result<Response, ApiError> {
    list(state, access, request, GroupedTable::Errors).await
}

/// `POST /api/v1/crashes/groups`: the mobile crash groups, as the error groups.
async fn list_crashes(
    State(state): State<Arc<AppState>>,
    access: ProjectAccess<Read>,
    QueryBody(request): QueryBody<ListRequest>,
) -> Result<Response, ApiError> {
    list(state, access, request, GroupedTable::Crashes).await
}

async fn list(
    state: Arc<AppState>,
    access: ProjectAccess<Read>,
    request: ListRequest,
    grouped: GroupedTable,
) -> Result<Response, ApiError> {
    let project = access.project.id;
    let search = &ErrorGroupSearch {
        from: request.from,
        to: request.to,
        filters: request.filters,
        order_by: request.order_by,
        limit: request.limit,
        table: grouped,
    };
    let (from, to) = (search.from, search.to);
    if from >= to {
        return Err(ApiError::InvalidQuery("from must be before to".into()));
    }
    let settings = with_meta(&state, move |meta| meta.error_settings(project)).await?;
    let (statuses, regressed) = states(&state, grouped, project, from, to).await?;
    // The most recently changed groups first: a third of MAX_GROUP_KEYS (the SQL list bound)
    // per state, so resolved, ignored and regressed keys together stay under it; past that
    // the oldest decisions are not applied to the list rather than the list failing.
    let closed = |s: GroupState| -> Vec<String> {
        let mut keys: Vec<&GroupStatus> = statuses
            .values()
            .filter(|g| g.state == s && !regressed.contains(&g.fingerprint))
            .collect();
        keys.sort_by_key(|g| std::cmp::Reverse(g.updated_at));
        keys.into_iter()
            .take(vigil_query::MAX_GROUP_KEYS / 3)
            .map(|g| g.fingerprint.clone())
            .collect()
    };
    let set = match request.state.as_deref().unwrap_or("unresolved") {
        "unresolved" => {
            let mut hidden = closed(GroupState::Resolved);
            hidden.extend(closed(GroupState::Ignored));
            GroupSet::Except(hidden)
        }
        "resolved" => GroupSet::Only(closed(GroupState::Resolved)),
        "ignored" => GroupSet::Only(closed(GroupState::Ignored)),
        "all" => GroupSet::All,
        other => {
            return Err(ApiError::InvalidQuery(format!(
                "state {other:?}: use unresolved, resolved, ignored or all"
            )));
        }
    };
    let run = |set: GroupSet| {
        let state = state.clone();
        let critical = settings.critical_pages.clone();
        async move {
            Ok::<_, ApiError>(objects(
                state
                    .queries
                    .error_groups(project, search, &set, &critical)
                    .await?,
            ))
        }
    };
    let limit = search.limit.unwrap_or(100);
    let groups = if request.regressions_first && !regressed.is_empty() {
        let regressed_keys: Vec<String> = regressed.iter().cloned().collect();
        let mut groups = run(match &set {
            GroupSet::Except(_) | GroupSet::All => GroupSet::Only(regressed_keys.clone()),
            GroupSet::Only(keys) => GroupSet::Only(
                keys.iter()
                    .filter(|k| regressed.contains(*k))
                    .cloned()
                    .collect(),
            ),
        })
        .await?;
        let rest = match set {
            GroupSet::All => GroupSet::Except(regressed_keys),
            GroupSet::Except(mut keys) => {
                keys.extend(regressed_keys);
                GroupSet::Except(keys)
            }
            GroupSet::Only(keys) => GroupSet::Only(
                keys.into_iter()
                    .filter(|k| !regressed.contains(k))
                    .collect(),
            ),
        };
        groups.extend(run(rest).await?);
        groups.truncate(limit);
        groups
    } else {
        run(set).await?
    };
    let keys: Vec<String> = groups
        .iter()
        .filter_map(|g| g["fingerprint"].as_str().map(str::to_owned))
        .collect();
    let series = series(&state, grouped, project, &keys, from, to).await?;
    let groups: Vec<Value> = groups
        .into_iter()
        .map(|g| decorate(g, &statuses, &regressed, &series))
        .collect();
    Ok(
        Json(json!({ "groups": groups, "critical_pages": settings.critical_pages }))
            .into_response(),
    )
}

#[derive(Deserialize)]
struct Range {
    from: i64,
    to: i64,
}

/// `GET /api/v1/errors/groups/{fingerprint}?from=&to=`: one group with its breakdowns, its
/// latest events (frames, breadcrumbs, causes, grouping) and the sessions it hit.
async fn error_detail(
    State(state): State<Arc<AppState>>,
    access: ProjectAccess<Read>,
    Path(key): Path<String>,
    QueryParams(range): QueryParams<Range>,
) -> Result<Response, ApiError> {
    detail(state, access, key, range, GroupedTable::Errors).await
}

/// `GET /api/v1/crashes/groups/{fingerprint}?from=&to=`: one crash group, broken down by
/// the app's and device's dimensions.
async fn crash_detail(
    State(state): State<Arc<AppState>>,
    access: ProjectAccess<Read>,
    Path(key): Path<String>,
    QueryParams(range): QueryParams<Range>,
) -> Result<Response, ApiError> {
    detail(state, access, key, range, GroupedTable::Crashes).await
}

async fn detail(
    state: Arc<AppState>,
    access: ProjectAccess<Read>,
    key: String,
    range: Range,
    grouped: GroupedTable,
) -> Result<Response, ApiError> {
    let project = access.project.id;
    let (from, to) = (range.from, range.to);
    if from >= to {
        return Err(ApiError::InvalidQuery("from must be before to".into()));
    }
    let settings = with_meta(&state, move |meta| meta.error_settings(project)).await?;
    let search = ErrorGroupSearch {
        from,
        to,
        filters: Vec::new(),
        order_by: None,
        limit: Some(1),
        table: grouped,
    };
    let group = state
        .queries
        .error_groups(
            project,
            &search,
            &GroupSet::Only(vec![key.clone()]),
            &settings.critical_pages,
        )
        .await?;
    let run = |sql: String| {
        let state = state.clone();
        async move {
            state
                .queries
                .sql(project, &[grouped.table()], from, to, &sql)
                .await
        }
    };
    let Some(group) = objects(group).pop() else {
        return Err(ApiError::NotFound);
    };
    let (statuses, regressed) = states(&state, grouped, project, from, to).await?;
    let series = series(
        &state,
        grouped,
        project,
        std::slice::from_ref(&key),
        from,
        to,
    )
    .await?;
    let mut breakdowns = Map::new();
    let dimensions: &[&str] = match grouped {
        GroupedTable::Errors => &[
            "release",
            "browser",
            "os",
            "device_type",
            "country",
            "page_path",
            "url_template",
        ],
        GroupedTable::Crashes => &[
            "app_version",
            "os",
            "os_version",
            "device_model",
            "carrier",
            "connection_type",
            "country",
            "page_path",
        ],
    };
    for &dimension in dimensions {
        if grouped.table().column(dimension).is_none() {
            continue;
        }
        let rows =
            objects(run(group_breakdown_sql(grouped, &key, dimension, from, to, 10)?).await?);
        breakdowns.insert(dimension.into(), json!(rows));
    }
    let events = objects(run(group_events_sql(grouped, &key, from, to, 20)).await?);
    let sessions = objects(run(group_sessions_sql(grouped, &key, from, to, 20)).await?);
    Ok(Json(json!({
        "group": decorate(group, &statuses, &regressed, &series),
        "breakdowns": breakdowns,
        "events": events,
        "sessions": sessions,
    }))
    .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StateChange {
    state: GroupState,
    #[serde(default)]
    in_next_release: bool,
}

/// `PUT /api/v1/errors/groups/{fingerprint}/state` `{"state", "in_next_release"?}`.
/// Resolving records the time and the releases the group was seen in so far (within the
/// project's retention), against which a later event is judged a regression. A key with
/// no event in the project is 404.
async fn set_error_state(
    State(state): State<Arc<AppState>>,
    access: ProjectAccess<TriageErrors>,
    Path(key): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    set_state(state, access, key, body, GroupedTable::Errors).await
}

/// `PUT /api/v1/crashes/groups/{fingerprint}/state`: as for error groups.
async fn set_crash_state(
    State(state): State<Arc<AppState>>,
    access: ProjectAccess<TriageErrors>,
    Path(key): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    set_state(state, access, key, body, GroupedTable::Crashes).await
}

async fn set_state(
    state: Arc<AppState>,
    access: ProjectAccess<TriageErrors>,
    key: String,
    body: axum::body::Bytes,
    grouped: GroupedTable,
) -> Result<Response, ApiError> {
    let change: StateChange = parse_body(&body)?;
    let project = access.project.id;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    if key.is_empty() || key.len() > 8192 {
        return Err(ApiError::InvalidRequest(
            "a group key is 1 to 8192 bytes".into(),
        ));
    }
    // The group's releases within the project's retention: none means the project has no
    // such group (a made-up key gets no row in meta.db), and resolving records them.
    let from = now - i64::from(access.project.retention_days) * 86_400_000;
    let sql = group_breakdown_sql(
        grouped,
        &key,
        "release",
        from,
        now + 1,
        vigil_meta::MAX_RELEASES_BEFORE,
    )?;
    let seen = state
        .queries
        .sql(project, &[grouped.table()], from, now + 1, &sql)
        .await?;
    if seen.rows.is_empty() {
        return Err(ApiError::NotFound);
    }
    let releases: Vec<String> = if change.state == GroupState::Resolved {
        seen.rows
            .iter()
            .map(|r| r[0].as_str().unwrap_or_default().to_owned())
            .collect()
    } else {
        Vec::new()
    };
    let resolved_at = (change.state == GroupState::Resolved).then_some(now);
    let in_next = change.state == GroupState::Resolved && change.in_next_release;
    let status = with_meta(&state, move |meta| {
        meta.set_group_state(project, &key, change.state, in_next, resolved_at, &releases)
    })
    .await?;
    Ok(Json(status).into_response())
}

/// `GET /api/v1/errors/settings`.
async fn settings(
    State(state): State<Arc<AppState>>,
    access: ProjectAccess<Read>,
) -> Result<Response, ApiError> {
    let project = access.project.id;
    let settings = with_meta(&state, move |meta| meta.error_settings(project)).await?;
    Ok(Json(settings).into_response())
}

/// `PUT /api/v1/errors/settings`: the whole settings document; intake applies it within 5 s.
async fn change_settings(
    State(state): State<Arc<AppState>>,
    access: ProjectAccess<ChangeSettings>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let settings: ErrorSettings = parse_body(&body)?;
    let project = access.project.id;
    let saved = settings.clone();
    with_meta(&state, move |meta| {
        meta.set_error_settings(project, &settings)
    })
    .await?;
    Ok(Json(saved).into_response())
}

/// `GET /api/v1/errors/filtered?from=&to=`: errors the noise filters dropped, per day and
/// reason.
async fn filtered(
    State(state): State<Arc<AppState>>,
    access: ProjectAccess<Read>,
    QueryParams(range): QueryParams<Range>,
) -> Result<Response, ApiError> {
    let project = access.project.id;
    let intake = state.intake.clone();
    let (from_day, to_day) = (
        range.from.div_euclid(86_400_000),
        range.to.div_euclid(86_400_000),
    );
    let counts = with_meta(&state, move |meta| {
        intake.flush_filtered_counts();
        meta.filtered_counts(project, from_day, to_day)
    })
    .await?;
    let total: i64 = counts.iter().map(|c| c.count).sum();
    Ok(Json(json!({ "total": total, "counts": counts })).into_response())
}
