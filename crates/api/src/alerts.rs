//! Alert rules and what they did (`docs/alerts.md`): rules (list, create, read, change,
//! delete), mutes of a rule or a segment, test notifications, a preview over past days,
//! the history of transitions, notifications with their delivery attempts, and what is
//! firing now. Reading needs [`Read`]; every change needs [`ManageAlerts`]. Readers who may
//! not change rules see channels without their secrets.

use crate::access::{Actor, ManageAlerts, ProjectAccess, Read, with_meta};
use crate::login::parse_body;
use crate::{ApiError, AppState};
use axum::extract::{DefaultBodyLimit, Path, Query as QueryParams, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use vigil_alerts::{Channel, RuleDefinition, now_ms, segment_label, segment_of};
use vigil_meta::{AlertState, Role, Scope, StoredRule};

/// The alert routes.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/alerts/rules", get(list).post(create))
        .route(
            "/api/v1/alerts/rules/{rule}",
            get(detail).put(change).delete(remove),
        )
        .route("/api/v1/alerts/rules/{rule}/mute", post(mute))
        .route("/api/v1/alerts/rules/{rule}/test", post(test))
        .route("/api/v1/alerts/preview", post(preview))
        .route("/api/v1/alerts/history", get(history))
        .route("/api/v1/alerts/notifications", get(notifications))
        .route("/api/v1/alerts/firing", get(firing))
        // A rule is a few KiB; its largest honest form (10 channels, 32 filters of 1,000
        // values) stays well under this.
        .layer(DefaultBodyLimit::max(ALERT_BODY_LIMIT))
}

/// The largest body an alert route reads.
const ALERT_BODY_LIMIT: usize = 256 << 10;

/// Whether the caller may see channels' secrets (those who may change rules).
fn sees_secrets(actor: Actor) -> bool {
    match actor {
        Actor::User(role) => role >= Role::Member,
        Actor::Token(scope) => scope >= Scope::Admin,
    }
}

fn definition(rule: &StoredRule) -> Result<RuleDefinition, ApiError> {
    vigil_alerts::parse(rule).map_err(|e| ApiError::Internal(e.to_string()))
}

/// A rule's name, from the project's rules.
fn rule_name(rules: &[StoredRule], id: i64) -> Option<String> {
    rules
        .iter()
        .find(|r| r.id == id)
        .and_then(|r| vigil_alerts::parse(r).ok())
        .map(|d| d.name)
}

/// A rule as answered: its definition, id and times.
fn rule_json(rule: &StoredRule, def: &RuleDefinition, secrets: bool) -> Value {
    let mut def = def.clone();
    if !secrets {
        def.channels = def.channels.iter().map(Channel::redacted).collect();
    }
    let mut v = serde_json::to_value(&def).expect("a rule serializes");
    v["id"] = json!(rule.id);
    v["version"] = json!(rule.version);
    v["muted_until"] = json!(rule.muted_until);
    v["created_at"] = json!(rule.created_at);
    v["updated_at"] = json!(rule.updated_at);
    // As stored (null: the default, which follows the threshold), so a client that reads
    // a rule and saves it back keeps it following; and the one in use.
    v["recovery_threshold"] = json!(def.recovery_threshold);
    v["effective_recovery_threshold"] = json!(def.recovery());
    v
}

/// A rule from a request body, checked.
fn checked(body: &[u8]) -> Result<RuleDefinition, ApiError> {
    let def: RuleDefinition = parse_body(body)?;
    def.check().map_err(|e| ApiError::InvalidBody(e.0))?;
    Ok(def)
}

fn rule_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::InvalidRequest(format!("{raw:?} is not a rule id")))
}

async fn rule_of(state: &Arc<AppState>, project: u32, id: i64) -> Result<StoredRule, ApiError> {
    with_meta(state, move |meta| meta.alert_rule(project, id))
        .await?
        .ok_or(ApiError::Missing("no such alert rule"))
}

async fn list(
    State(state): State<Arc<AppState>>,
    access: ProjectAccess<Read>,
) -> Result<Json<Value>, ApiError> {
    let project = access.project.id;
    let rules = with_meta(&state, move |meta| {
        let rules = meta.alert_rules(project)?;
        let mut out = Vec::with_capacity(rules.len());
        for r in rules {
            let segments = meta.alert_segments(r.id)?;
            out.push((r, segments));
        }
        Ok(out)
    })
    .await?;
    let secrets = sees_secrets(access.actor);
    let mut out = Vec::with_capacity(rules.len());
    for (rule, segments) in rules {
        let def = definition(&rule)?;
        let mut v = rule_json(&rule, &def, secrets);
        let count = |s: AlertState| segments.iter().filter(|x| x.state == s).count();
        v["status"] = json!({
            "firing": count(AlertState::Firing),
            "pending": count(AlertState::Pending),
            "segments": segments.len(),
            "evaluated_at": segments.iter().map(|s| s.evaluated_at).max(),
        });
        out.push(v);
    }
    Ok(Json(json!({ "rules": out })))
}

async fn create(
    State(state): State<Arc<AppState>>,
    access: ProjectAccess<ManageAlerts>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let def = checked(&body)?;
    let text = serde_json::to_string(&def).expect("a rule serializes");
    let project = access.project.id;
    let rule = with_meta(&state, move |meta| {
        meta.create_alert_rule(project, &text, now_ms())
    })
    .await?;
    Ok((StatusCode::CREATED, Json(rule_json(&rule, &def, true))).into_response())
}

async fn detail(
    State(state): State<Arc<AppState>>,
    access: ProjectAccess<Read>,
    Path(raw): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = rule_id(&raw)?;
    let rule = rule_of(&state, access.project.id, id).await?;
    let def = definition(&rule)?;
    let now = now_ms();
    let (segments, mutes) = with_meta(&state, move |meta| {
        Ok((meta.alert_segments(id)?, meta.alert_mutes(id, now)?))
    })
    .await?;
    let mut v = rule_json(&rule, &def, sees_secrets(access.actor));
    let segments: Vec<Value> = segments
        .iter()
        .map(|s| {
            let segment = segment_of(&s.segment);
            json!({
                "segment": segment,
                "label": segment_label(&segment),
                "state": s.state,
                "since": s.since,
                "value": s.value,
                "samples": s.samples,
                "evaluated_at": s.evaluated_at,
                "muted_until": mutes.iter().find(|(k, _)| *k == s.segment).map(|(_, u)| u),
            })
        })
        .collect();
    v["segments"] = json!(segments);
    v["mutes"] = json!(
        mutes
            .iter()
            .map(|(k, until)| json!({"segment": segment_of(k), "until": until}))
            .collect::<Vec<_>>()
    );
    Ok(Json(v))
}

async fn change(
    State(state): State<Arc<AppState>>,
    access: ProjectAccess<ManageAlerts>,
    Path(raw): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let id = rule_id(&raw)?;
    let def = checked(&body)?;
    let text = serde_json::to_string(&def).expect("a rule serializes");
    let project = access.project.id;
    let rule = with_meta(&state, move |meta| {
        meta.update_alert_rule(project, id, &text, now_ms())
    })
    .await?
    .ok_or(ApiError::Missing("no such alert rule"))?;
    Ok(Json(rule_json(&rule, &def, true)))
}

async fn remove(
    State(state): State<Arc<AppState>>,
    access: ProjectAccess<ManageAlerts>,
    Path(raw): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = rule_id(&raw)?;
    let project = access.project.id;
    if with_meta(&state, move |meta| meta.delete_alert_rule(project, id)).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::Missing("no such alert rule"))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Mute {
    /// Muted until then (ms); `null` unmutes.
    until: Option<i64>,
    /// One segment (its group-by values); absent: the whole rule.
    #[serde(default)]
    segment: Option<serde_json::Map<String, Value>>,
}

/// The longest a mute may last: a year.
const MAX_MUTE_MS: i64 = 366 * 86_400_000;

async fn mute(
    State(state): State<Arc<AppState>>,
    access: ProjectAccess<ManageAlerts>,
    Path(raw): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let id = rule_id(&raw)?;
    let m: Mute = parse_body(&body)?;
    let now = now_ms();
    if let Some(until) = m.until
        && (until <= now || until > now + MAX_MUTE_MS)
    {
        return Err(ApiError::InvalidBody(
            "until must be a time (ms) in the next year".into(),
        ));
    }
    let project = access.project.id;
    let rule = rule_of(&state, project, id).await?;
    let def = definition(&rule)?;
    let changed = match m.segment {
        None => {
            with_meta(&state, move |meta| {
                meta.mute_alert_rule(project, id, m.until)
            })
            .await?
        }
        Some(segment) => {
            let keys: Vec<&String> = segment.keys().collect();
            let mut expected: Vec<&String> = def.group_by.iter().collect();
            expected.sort();
            if keys != expected {
                return Err(ApiError::InvalidBody(format!(
                    "a segment of this rule names its group-by dimensions: {:?}",
                    def.group_by
                )));
            }
            if segment.values().any(|v| v.is_object() || v.is_array()) {
                return Err(ApiError::InvalidBody(
                    "a segment's values are strings, numbers, booleans or null".into(),
                ));
            }
            let key = Value::Object(segment).to_string();
            if key.len() > 4096 {
                return Err(ApiError::InvalidBody("the segment is too long".into()));
            }
            with_meta(&state, move |meta| {
                meta.mute_alert_segment(project, id, &key, m.until)
            })
            .await?
        }
    };
    if !changed {
        return Err(ApiError::Missing("no such alert rule"));
    }
    Ok(Json(json!({ "muted_until": m.until })))
}

async fn test(
    State(state): State<Arc<AppState>>,
    access: ProjectAccess<ManageAlerts>,
    Path(raw): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = rule_id(&raw)?;
    let rule = rule_of(&state, access.project.id, id).await?;
    let def = definition(&rule)?;
    if def.channels.is_empty() {
        return Err(ApiError::InvalidRequest(
            "this rule has no channels to send to".into(),
        ));
    }
    let alerts = state.alerts.clone();
    let project = access.project.clone();
    let ids = with_meta(&state, move |_| {
        alerts
            .test_notification(&project, &rule, &def, now_ms())
            .map_err(|e| match e {
                vigil_alerts::AlertError::Meta(m) => m,
                other => vigil_meta::MetaError::Invalid(other.to_string()),
            })
    })
    .await?;
    Ok(Json(json!({ "notifications": ids })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PreviewRequest {
    rule: Value,
    #[serde(default = "seven")]
    days: u32,
}

fn seven() -> u32 {
    7
}

async fn preview(
    State(state): State<Arc<AppState>>,
    access: ProjectAccess<Read>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let req: PreviewRequest = parse_body(&body)?;
    if req.days == 0 || req.days > 14 {
        return Err(ApiError::InvalidBody("days must be 1 to 14".into()));
    }
    let def = checked(req.rule.to_string().as_bytes())?;
    let windows = u64::from(req.days) * 1440 / u64::from(def.window_minutes);
    if windows > 20_160 {
        return Err(ApiError::InvalidBody(format!(
            "{windows} windows to preview; preview fewer days or a longer window"
        )));
    }
    let preview = state
        .alerts
        .preview(access.project.id, &def, req.days, now_ms())
        .await
        .map_err(|e| match e {
            vigil_alerts::AlertError::Query(q) => ApiError::from(q),
            other => ApiError::Internal(other.to_string()),
        })?;
    Ok(Json(
        serde_json::to_value(preview).expect("a preview serializes"),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
/// `?rule=&from=&to=&limit=` of the history and the notifications (`project` is read by
/// the access check).
struct ListParams {
    #[serde(default)]
    project: Option<u32>,
    #[serde(default)]
    rule: Option<i64>,
    #[serde(default)]
    from: Option<i64>,
    #[serde(default)]
    to: Option<i64>,
    #[serde(default)]
    limit: Option<usize>,
}

async fn history(
    State(state): State<Arc<AppState>>,
    access: ProjectAccess<Read>,
    QueryParams(p): QueryParams<ListParams>,
) -> Result<Json<Value>, ApiError> {
    let _ = p.project;
    let limit = p.limit.unwrap_or(200).clamp(1, 1000);
    let (from, to) = (p.from.unwrap_or(0), p.to.unwrap_or(i64::MAX));
    let project = access.project.id;
    let (transitions, rules) = with_meta(&state, move |meta| {
        Ok((
            meta.alert_transitions(project, p.rule, from, to, limit)?,
            meta.alert_rules(project)?,
        ))
    })
    .await?;
    let name = |id: i64| rule_name(&rules, id);
    let out: Vec<Value> = transitions
        .iter()
        .map(|t| {
            let segment = segment_of(&t.segment);
            json!({
                "id": t.id,
                "rule_id": t.rule_id,
                "rule_name": name(t.rule_id),
                "segment": segment,
                "label": segment_label(&segment),
                "from": t.from,
                "to": t.to,
                "value": t.value,
                "threshold": t.threshold,
                "samples": t.samples,
                "window": {"from": t.window_from, "to": t.window_to},
                "at": t.at,
                "notified": t.notified,
            })
        })
        .collect();
    Ok(Json(json!({ "transitions": out })))
}

async fn notifications(
    State(state): State<Arc<AppState>>,
    access: ProjectAccess<Read>,
    QueryParams(p): QueryParams<ListParams>,
) -> Result<Json<Value>, ApiError> {
    let _ = p.project;
    let limit = p.limit.unwrap_or(100).clamp(1, 500);
    let (from, to) = (p.from.unwrap_or(0), p.to.unwrap_or(i64::MAX));
    let project = access.project.id;
    let (list, rules) = with_meta(&state, move |meta| {
        Ok((
            meta.alert_notifications(project, p.rule, from, to, limit)?,
            meta.alert_rules(project)?,
        ))
    })
    .await?;
    let secrets = sees_secrets(access.actor);
    let out: Vec<Value> = list
        .iter()
        .map(|(n, attempts)| {
            let channel = serde_json::from_str::<Channel>(&n.channel)
                .map(|c| if secrets { c } else { c.redacted() })
                .ok();
            let body: Value = serde_json::from_str(&n.body).unwrap_or(Value::Null);
            json!({
                "id": n.id,
                "rule_id": n.rule_id,
                "rule_name": rule_name(&rules, n.rule_id),
                "kind": n.kind,
                "channel": channel,
                "summary": body["summary"],
                "transitions": body["transitions"].as_array().map_or(0, Vec::len),
                "state": n.state,
                "attempts": n.attempts,
                "next_attempt_at": n.next_attempt_at,
                "created_at": n.created_at,
                "last_error": n.last_error,
                "deliveries": attempts,
            })
        })
        .collect();
    Ok(Json(json!({ "notifications": out })))
}

async fn firing(
    State(state): State<Arc<AppState>>,
    access: ProjectAccess<Read>,
) -> Result<Json<Value>, ApiError> {
    let project = access.project.id;
    let rules = with_meta(&state, move |meta| {
        let mut out = Vec::new();
        for r in meta.alert_rules(project)? {
            let firing: Vec<_> = meta
                .alert_segments(r.id)?
                .into_iter()
                .filter(|s| s.state == AlertState::Firing)
                .collect();
            if !firing.is_empty() {
                let mutes = meta.alert_mutes(r.id, now_ms())?;
                out.push((r, firing, mutes));
            }
        }
        Ok(out)
    })
    .await?;
    let now = now_ms();
    let mut out = Vec::new();
    for (rule, segments, mutes) in rules {
        let def = definition(&rule)?;
        let rule_muted = rule.muted_until.filter(|u| *u > now);
        for s in segments {
            let segment = segment_of(&s.segment);
            let segment_muted = mutes.iter().find(|(k, _)| *k == s.segment).map(|(_, u)| *u);
            out.push(json!({
                "rule_id": rule.id,
                "rule_name": def.name,
                "metric": def.metric,
                "aggregation": def.aggregation,
                "condition": def.condition,
                "threshold": def.threshold,
                "threshold_text": vigil_alerts::format_value(&def, def.threshold),
                "segment": segment,
                "label": segment_label(&segment),
                "since": s.since,
                "value": s.value,
                "value_text": s.value.map(|v| vigil_alerts::format_value(&def, v)),
                "samples": s.samples,
                "muted": rule_muted.is_some() || segment_muted.is_some(),
                "muted_until": rule_muted.max(segment_muted),
            }));
        }
    }
    Ok(Json(json!({ "firing": out })))
}
