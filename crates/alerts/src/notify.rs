//! Notifications: what they say (one JSON document per rule and evaluation, holding every
//! segment that fired or resolved in it; Slack's and email's forms are rendered from it)
//! and their delivery from the outbox in meta.db, with retries and backoff, every attempt
//! recorded. Delivery is at least once: the receiver gets the notification's id to drop a
//! repeat.

use crate::lease::Lease;
use crate::rule::{Channel, Condition, RuleDefinition};
use crate::smtp::{SmtpConfig, send_email};
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::time::{Duration, Instant};
use vigil_meta::{DeliveryAttempt, DeliveryOutcome, Meta, Notification, Project, Transition};
use vigil_outbound::{AgentOptions, ureq};

/// How notifications are delivered.
#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    /// Whether webhooks may reach private, loopback and link-local addresses.
    pub allow_private: bool,
    /// The longest one attempt may take.
    pub timeout: Duration,
    /// The wait after the first failed attempt; it doubles after each (at most an hour).
    pub retry_base: Duration,
    /// Attempts before a notification is given up.
    pub max_attempts: u32,
    /// The SMTP server for email channels.
    pub smtp: Option<SmtpConfig>,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            allow_private: false,
            timeout: Duration::from_secs(10),
            retry_base: Duration::from_secs(30),
            max_attempts: 8,
            smtp: None,
        }
    }
}

/// Counts of delivery, for `/metrics`.
#[derive(Debug, Default)]
pub struct DeliveryMetrics {
    /// Notifications delivered.
    pub delivered: AtomicU64,
    /// Attempts that failed.
    pub failed_attempts: AtomicU64,
    /// Notifications given up.
    pub given_up: AtomicU64,
}

/// The handle that wakes the delivery thread; the thread stops when every handle is gone.
#[derive(Clone)]
pub struct Outbox {
    wake: SyncSender<()>,
    /// Delivery counts.
    pub metrics: Arc<DeliveryMetrics>,
}

impl Outbox {
    /// Starts the delivery thread; with a `lease`, it delivers only while the lease is held.
    pub fn start(
        meta: Arc<Meta>,
        config: DeliveryConfig,
        lease: Option<Arc<Lease>>,
    ) -> std::io::Result<Outbox> {
        let (wake, woken) = std::sync::mpsc::sync_channel(1);
        let metrics = Arc::new(DeliveryMetrics::default());
        let agent = vigil_outbound::agent(AgentOptions {
            allow_private: config.allow_private,
            timeout: config.timeout,
            user_agent: "vigil-alerts",
        });
        let worker = Deliverer {
            meta,
            lease,
            config,
            agent,
            metrics: metrics.clone(),
        };
        std::thread::Builder::new()
            .name("vigil-alert-delivery".into())
            .spawn(move || worker.run(woken))?;
        Ok(Outbox { wake, metrics })
    }

    /// Has the thread look at the outbox now.
    pub fn wake(&self) {
        match self.wake.try_send(()) {
            Ok(()) | Err(TrySendError::Full(())) => {}
            Err(TrySendError::Disconnected(())) => {
                tracing::error!("the alert delivery thread has stopped");
            }
        }
    }
}

struct Deliverer {
    meta: Arc<Meta>,
    lease: Option<Arc<Lease>>,
    config: DeliveryConfig,
    agent: ureq::Agent,
    metrics: Arc<DeliveryMetrics>,
}

/// The longest the thread sleeps without looking at the outbox (a notification queued by
/// another process, such as a second server on the same folder, is seen within it).
const IDLE_POLL: Duration = Duration::from_secs(1);

impl Deliverer {
    fn run(self, woken: Receiver<()>) {
        loop {
            if self.lease.as_ref().is_some_and(|l| !l.held()) {
                match woken.recv_timeout(IDLE_POLL) {
                    Ok(()) | Err(RecvTimeoutError::Timeout) => continue,
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            }
            let now = now_ms();
            match self.meta.due_alert_notifications(now, 32) {
                Ok(due) => {
                    for n in due {
                        self.deliver(&n);
                    }
                }
                Err(e) => tracing::error!(error = %e, "reading the alert outbox"),
            }
            let wait = match self.meta.next_alert_notification_at() {
                Ok(Some(at)) => Duration::from_millis((at - now_ms()).clamp(0, 1000) as u64),
                _ => IDLE_POLL,
            };
            match woken.recv_timeout(wait) {
                Ok(()) | Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    fn deliver(&self, n: &Notification) {
        let started = Instant::now();
        let at = now_ms();
        let attempt = n.attempts + 1;
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.send(n)))
            .unwrap_or_else(|_| Err((None, "the notification could not be sent".into())));
        let (status, error) = match result {
            Ok(status) => (status, None),
            Err((status, e)) => (status, Some(e)),
        };
        let outcome = if error.is_none() {
            self.metrics.delivered.fetch_add(1, Ordering::Relaxed);
            DeliveryOutcome::Delivered
        } else if attempt >= self.config.max_attempts || status == Some(0) {
            self.metrics.failed_attempts.fetch_add(1, Ordering::Relaxed);
            self.metrics.given_up.fetch_add(1, Ordering::Relaxed);
            DeliveryOutcome::GaveUp
        } else {
            self.metrics.failed_attempts.fetch_add(1, Ordering::Relaxed);
            let wait = self
                .config
                .retry_base
                .saturating_mul(1 << (attempt - 1).min(16))
                .min(Duration::from_secs(3600));
            DeliveryOutcome::RetryAt(now_ms() + wait.as_millis() as i64)
        };
        let record = DeliveryAttempt {
            attempt,
            at,
            duration_ms: started.elapsed().as_millis() as i64,
            status: status.filter(|s| *s != 0),
            error,
        };
        if let Err(e) = self.meta.record_delivery_attempt(n.id, &record, outcome) {
            tracing::error!(error = %e, notification = n.id, "recording a delivery attempt");
        }
    }

    /// Sends once: the receiver's status, or the status (0: not worth retrying) and why
    /// it failed.
    fn send(&self, n: &Notification) -> Result<Option<u16>, (Option<u16>, String)> {
        let channel: Channel = serde_json::from_str(&n.channel)
            .map_err(|e| (Some(0), format!("unreadable channel: {e}")))?;
        let mut body: Value = serde_json::from_str(&n.body)
            .map_err(|e| (Some(0), format!("unreadable notification: {e}")))?;
        body["notification_id"] = json!(n.id);
        match channel {
            Channel::Webhook { url } => self.post(&url, &body, n.id),
            Channel::Slack { url } => self.post(&url, &slack_body(&body), n.id),
            Channel::Email { to } => {
                let smtp = self.config.smtp.as_ref().ok_or((
                    Some(0),
                    "no SMTP server is configured (smtp_host in the configuration)".to_owned(),
                ))?;
                let (subject, text) = email_text(&body);
                send_email(smtp, &to, &subject, &text, n.id).map(Some)
            }
        }
    }

    fn post(&self, url: &str, body: &Value, id: i64) -> Result<Option<u16>, (Option<u16>, String)> {
        let response = self
            .agent
            .post(url)
            .header("content-type", "application/json")
            .header("x-vigil-notification", id.to_string())
            .send(body.to_string().as_bytes())
            .map_err(|e| (None, truncate(&e.to_string(), 300)))?;
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            Ok(Some(status))
        } else {
            Err((Some(status), format!("the receiver answered HTTP {status}")))
        }
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// Milliseconds since the epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Where a notification's links point.
#[derive(Debug, Clone)]
pub struct Links {
    /// The dashboard's address as users reach it, without a trailing slash.
    pub base_url: String,
}

impl Links {
    /// The performance explorer on a segment and window, or for a metric the explorer does
    /// not draw, the sessions search on it.
    pub fn segment(
        &self,
        project: u32,
        rule: &RuleDefinition,
        segment: &Map<String, Value>,
        from: i64,
        to: i64,
    ) -> String {
        let vital = ["lcp", "inp", "cls", "fcp", "ttfb"].contains(&rule.metric.as_str());
        let mut q = vec![
            ("project".to_owned(), project.to_string()),
            ("range".into(), "custom".into()),
            ("from".into(), from.to_string()),
            ("to".into(), to.to_string()),
        ];
        if vital {
            q.push(("metric".into(), rule.metric.clone()));
            let pct = rule.aggregation.name();
            if pct.starts_with('p') && pct.len() == 3 {
                q.push(("percentile".into(), pct.into()));
            }
        }
        for (field, value) in segment {
            let v = match value {
                Value::String(s) => s.clone(),
                Value::Null => continue,
                other => other.to_string(),
            };
            q.push(("f".into(), format!("{field}:eq:{v}")));
        }
        for f in &rule.filters {
            let op = match f.op {
                vigil_query::FilterOp::Eq => "eq",
                vigil_query::FilterOp::Neq => "neq",
                vigil_query::FilterOp::Contains => "contains",
                _ => continue,
            };
            if let Some(v) = &f.value {
                let v = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                q.push(("f".into(), format!("{}:{op}:{v}", f.field)));
            }
        }
        let query: Vec<String> = q
            .iter()
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect();
        let path = if vital { "explorer" } else { "sessions" };
        format!("{}/{path}?{}", self.base_url, query.join("&"))
    }
}

/// Percent-encodes a query value.
fn encode(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A segment's values as `country=IN, device_type=mobile` (`all` without group-by).
pub fn segment_label(segment: &Map<String, Value>) -> String {
    if segment.is_empty() {
        return "all".into();
    }
    segment
        .iter()
        .map(|(k, v)| match v {
            Value::String(s) => format!("{k}={s}"),
            other => format!("{k}={other}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A value in the rule's unit: ms for durations, a percentage for shares and ratios,
/// three decimals for CLS, whole numbers for counts.
pub fn format_value(rule: &RuleDefinition, v: f64) -> String {
    use vigil_query::Aggregation as A;
    if rule.baseline_windows.is_some() {
        return format!("{v:.1}×");
    }
    let share = rule.ratio_of.is_some()
        || matches!(
            rule.aggregation,
            A::Good | A::NeedsImprovement | A::Poor | A::ErrorRate
        );
    if share {
        return format!("{:.2}%", v * 100.0);
    }
    if crate::rule::is_count(rule.aggregation) {
        return format!("{v:.0}");
    }
    if rule.metric == "cls" {
        return format!("{v:.3}");
    }
    let timed = ["lcp", "inp", "fcp", "ttfb"].contains(&rule.metric.as_str())
        || rule.metric.ends_with("duration")
        || rule.metric.starts_with("views.");
    if timed {
        format!("{v:.0} ms")
    } else {
        format!("{v:.3}")
    }
}

/// The notification of one evaluation of a rule: every segment that fired or resolved.
pub struct AlertNotice<'a> {
    /// The project.
    pub project: &'a Project,
    /// The rule's id.
    pub rule_id: i64,
    /// The rule.
    pub rule: &'a RuleDefinition,
    /// When it was evaluated, ms.
    pub at: i64,
    /// The transitions notified, with their segments as objects.
    pub transitions: Vec<(Map<String, Value>, &'a Transition)>,
    /// `alert` or `test`.
    pub kind: &'a str,
}

impl AlertNotice<'_> {
    /// The webhook body (documented in `docs/alerts.md`).
    pub fn body(&self, links: &Links) -> Value {
        let r = self.rule;
        let what = format!("{} of {}", r.aggregation.name(), r.metric);
        let side = match r.condition {
            Condition::Above => "above",
            Condition::Below => "below",
        };
        let transitions: Vec<Value> = self
            .transitions
            .iter()
            .map(|(segment, t)| {
                let value = t.value.map(|v| format_value(r, v));
                let label = segment_label(segment);
                let text = match t.to {
                    vigil_meta::AlertState::Firing => format!(
                        "FIRING · {name} · {label}: {what} is {value}, {side} {threshold} ({samples} samples, {minutes} min window)",
                        name = r.name,
                        value = value.as_deref().unwrap_or("—"),
                        threshold = format_value(r, t.threshold),
                        samples = t.samples,
                        minutes = r.window_minutes,
                    ),
                    _ => format!(
                        "RESOLVED · {name} · {label}: {what} is {value}, back past {threshold} ({samples} samples, {minutes} min window)",
                        name = r.name,
                        value = value.as_deref().unwrap_or("—"),
                        threshold = format_value(r, t.threshold),
                        samples = t.samples,
                        minutes = r.window_minutes,
                    ),
                };
                json!({
                    "segment": segment,
                    "state": t.to,
                    "previous": t.from,
                    "value": t.value,
                    "value_text": value,
                    "threshold": t.threshold,
                    "samples": t.samples,
                    "window": {"from": t.window_from, "to": t.window_to},
                    "link": links.segment(self.project.id, r, segment, t.window_from, t.window_to),
                    "text": text,
                })
            })
            .collect();
        let firing = self
            .transitions
            .iter()
            .filter(|(_, t)| t.to == vigil_meta::AlertState::Firing)
            .count();
        let resolved = self.transitions.len() - firing;
        let mut summary = match (firing, resolved) {
            (f, 0) => format!("{}: {f} segment{} firing", r.name, plural(f)),
            (0, s) => format!("{}: {s} segment{} resolved", r.name, plural(s)),
            (f, s) => format!("{}: {f} firing, {s} resolved", r.name),
        };
        if self.kind == "test" {
            summary = format!("Test notification from Vigil · {summary}");
        }
        json!({
            "version": 1,
            "kind": self.kind,
            "summary": summary,
            "project": {"id": self.project.id, "name": self.project.name},
            "rule": {
                "id": self.rule_id,
                "name": r.name,
                "metric": r.metric,
                "aggregation": r.aggregation,
                "filters": r.filters,
                "group_by": r.group_by,
                "ratio_of": r.ratio_of,
                "condition": r.condition,
                "threshold": r.threshold,
                "recovery_threshold": r.recovery(),
                "window_minutes": r.window_minutes,
                "delay_minutes": r.delay_minutes,
                "min_samples": r.min_samples,
                "link": format!("{}/alerts?project={}&rule={}", links.base_url, self.project.id, self.rule_id),
            },
            "evaluated_at": self.at,
            "transitions": transitions,
        })
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The Slack incoming-webhook form of a notification: a `text` fallback and one section
/// per segment with its link.
pub fn slack_body(body: &Value) -> Value {
    let summary = body["summary"].as_str().unwrap_or("Vigil alert");
    let mut blocks = vec![json!({
        "type": "header",
        "text": {"type": "plain_text", "text": truncate(summary, 150)}
    })];
    let mut lines = vec![summary.to_owned()];
    for t in body["transitions"]
        .as_array()
        .into_iter()
        .flatten()
        .take(45)
    {
        let text = t["text"].as_str().unwrap_or_default();
        let link = t["link"].as_str().unwrap_or_default();
        lines.push(text.to_owned());
        blocks.push(json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": format!("{} <{}|Open in Vigil>", slack_escape(text), link)}
        }));
    }
    json!({"text": lines.join("\n"), "blocks": blocks})
}

/// Slack's mrkdwn treats `&`, `<` and `>` as markup.
fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The subject and plain text of a notification's email.
pub fn email_text(body: &Value) -> (String, String) {
    let summary = body["summary"].as_str().unwrap_or("Vigil alert");
    let mut text = format!("{summary}\n\n");
    for t in body["transitions"].as_array().into_iter().flatten() {
        text.push_str(t["text"].as_str().unwrap_or_default());
        text.push_str("\n  ");
        text.push_str(t["link"].as_str().unwrap_or_default());
        text.push_str("\n\n");
    }
    if let Some(link) = body["rule"]["link"].as_str() {
        text.push_str(&format!("The rule: {link}\n"));
    }
    (format!("[Vigil] {summary}"), text)
}
