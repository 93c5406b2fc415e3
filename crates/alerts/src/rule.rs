//! An alert rule: what is computed (any metric and aggregation of the query model, or a
//! ratio of two counts), for which segments, compared with what, over which window, and
//! who is told. Checked once when saved; the evaluator and the preview read it.

use serde::{Deserialize, Serialize};
use vigil_query::{Aggregation, Filter, InvalidQuery, Query};

/// Most group-by dimensions of a rule.
pub const MAX_GROUP_BY: usize = 3;
/// The most segments a rule may watch.
pub const MAX_SEGMENTS: u32 = 500;
/// Most channels per rule.
pub const MAX_CHANNELS: usize = 10;
/// Longest window and delay.
pub const MAX_WINDOW_MINUTES: u32 = 7 * 24 * 60;

/// A rule as sent and stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleDefinition {
    /// What people see (1–200 bytes).
    pub name: String,
    /// Evaluated at all.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Any metric of the query model: `lcp`, `requests.duration`, `errors`, `custom_events`…
    pub metric: String,
    /// What is computed per segment.
    pub aggregation: Aggregation,
    /// Which events count.
    #[serde(default)]
    pub filters: Vec<Filter>,
    /// Dimensions that make segments (0–3): `country`, `device_type`, `attributes.plan`…
    #[serde(default)]
    pub group_by: Vec<String>,
    /// Divide the value by this count of the same segment (e.g. crashes per app start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ratio_of: Option<Denominator>,
    /// Fires when the value is above or below the threshold.
    pub condition: Condition,
    /// The threshold, in the metric's unit (ms, a share 0–1, a count).
    pub threshold: f64,
    /// Where a firing segment resolves (hysteresis); by default 10% of the threshold on
    /// the good side of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_threshold: Option<f64>,
    /// The window evaluated, minutes (1 to a week).
    #[serde(default = "fifteen")]
    pub window_minutes: u32,
    /// How far behind now the window ends, for batches that arrive late.
    #[serde(default = "two")]
    pub delay_minutes: u32,
    /// Segments with fewer samples than this are not judged.
    #[serde(default = "thirty")]
    pub min_samples: u64,
    /// Evaluations in a row that must breach before the segment fires.
    #[serde(default = "one")]
    pub pending_evaluations: u32,
    /// The most segments watched (the ones with most samples).
    #[serde(default = "fifty")]
    pub max_segments: u32,
    /// Who is told.
    #[serde(default)]
    pub channels: Vec<Channel>,
    /// For `errors` by `fingerprint`: only the groups first seen in the window (`new`), or
    /// resolved groups seen again (`regression`). Such a segment notifies when it fires;
    /// its leaving the set (no longer new, reopened or quiet) is recorded, not sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_groups: Option<ErrorGroups>,
    /// A spike: the value becomes the count in the window divided by the average count of
    /// this many windows before it (a baseline under one event per window counts as one),
    /// and the threshold is a factor ("3": three times the usual). Counts only; a window
    /// with fewer than `min_samples` events is no spike.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_windows: Option<u32>,
}

/// The spike factor of `current` events against `baseline` events over `windows` windows
/// before: `current / max(baseline / windows, 1)`, or 0 below `min_samples` events.
pub fn spike_factor(current: f64, baseline: f64, windows: u32, min_samples: u64) -> f64 {
    if current < min_samples as f64 {
        return 0.0;
    }
    current / (baseline / f64::from(windows.max(1))).max(1.0)
}

/// Which error groups an `errors` rule watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorGroups {
    /// Groups whose first event (within the project's retention) is in the window.
    New,
    /// Resolved groups with an event after their resolution (from a new release, when
    /// resolved "in the next release").
    Regression,
}

fn yes() -> bool {
    true
}
fn fifteen() -> u32 {
    15
}
fn two() -> u32 {
    2
}
fn thirty() -> u64 {
    30
}
fn one() -> u32 {
    1
}
fn fifty() -> u32 {
    50
}

/// The count a ratio rule divides by.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Denominator {
    /// A metric of the query model.
    pub metric: String,
    /// `count`, `sessions`, `users` or an estimated one.
    #[serde(default = "count")]
    pub aggregation: Aggregation,
    /// Which events count.
    #[serde(default)]
    pub filters: Vec<Filter>,
}

fn count() -> Aggregation {
    Aggregation::Count
}

/// Which side of the threshold breaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// Breaches when the value is above the threshold.
    Above,
    /// Breaches when the value is below the threshold.
    Below,
}

/// Where notifications go.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Channel {
    /// A JSON POST of the notification (`docs/alerts.md`).
    Webhook {
        /// `http(s)://…`
        url: String,
    },
    /// A Slack-compatible incoming webhook (`{text, blocks}`), also Mattermost and Rocket.Chat.
    Slack {
        /// The incoming webhook's URL.
        url: String,
    },
    /// Email through the server's SMTP settings.
    Email {
        /// Recipients (1–20).
        to: Vec<String>,
    },
}

/// Aggregations that count (events, sessions, users): a count of zero is a value, so they
/// are judged whatever the samples.
pub fn is_count(a: Aggregation) -> bool {
    matches!(
        a,
        Aggregation::Count
            | Aggregation::Sessions
            | Aggregation::Users
            | Aggregation::EstimatedCount
            | Aggregation::EstimatedSessions
            | Aggregation::EstimatedUsers
    )
}

impl RuleDefinition {
    /// Checks everything a saved rule must hold; the message says what to change.
    pub fn check(&self) -> Result<(), InvalidQuery> {
        let bad = |m: String| Err(InvalidQuery(m));
        if self.name.trim().is_empty() || self.name.len() > 200 {
            return bad("name must be 1 to 200 bytes".into());
        }
        if self.group_by.len() > MAX_GROUP_BY {
            return bad(format!("group_by takes at most {MAX_GROUP_BY} dimensions"));
        }
        if let Some(g) = self.group_by.iter().find(|g| g.starts_with("time:")) {
            return bad(format!(
                "group_by {g:?}: a rule's window is its time; group by dimensions only"
            ));
        }
        if !self.threshold.is_finite() {
            return bad("threshold must be a number".into());
        }
        let recovery = self.recovery();
        if !recovery.is_finite() {
            return bad("recovery_threshold must be a number".into());
        }
        match self.condition {
            Condition::Above if recovery > self.threshold => {
                return bad(format!(
                    "recovery_threshold {recovery} must not be above the threshold {} of an `above` rule",
                    self.threshold
                ));
            }
            Condition::Below if recovery < self.threshold => {
                return bad(format!(
                    "recovery_threshold {recovery} must not be below the threshold {} of a `below` rule",
                    self.threshold
                ));
            }
            _ => {}
        }
        if self.window_minutes == 0 || self.window_minutes > MAX_WINDOW_MINUTES {
            return bad(format!("window_minutes must be 1 to {MAX_WINDOW_MINUTES}"));
        }
        if self.delay_minutes > 24 * 60 {
            return bad("delay_minutes must be at most 1440".into());
        }
        if self.pending_evaluations == 0 || self.pending_evaluations > 100 {
            return bad("pending_evaluations must be 1 to 100".into());
        }
        if self.max_segments == 0 || self.max_segments > MAX_SEGMENTS {
            return bad(format!("max_segments must be 1 to {MAX_SEGMENTS}"));
        }
        if self.min_samples > 1_000_000_000 {
            return bad("min_samples must be at most 1000000000".into());
        }
        if let Some(d) = &self.ratio_of
            && (!is_count(self.aggregation) || !is_count(d.aggregation))
        {
            return bad(
                "a ratio divides counts: aggregation and ratio_of.aggregation must be count, sessions, users or an estimated one"
                    .into(),
            );
        }
        if self.error_groups.is_some()
            && (self.metric != "errors"
                || self.group_by != ["fingerprint"]
                || self.ratio_of.is_some()
                || !is_count(self.aggregation))
        {
            return bad(
                "error_groups rules count errors (metric errors, a count) grouped by fingerprint alone"
                    .into(),
            );
        }
        if let Some(n) = self.baseline_windows
            && (n == 0
                || n > 168
                || self.ratio_of.is_some()
                || self.error_groups.is_some()
                || !is_count(self.aggregation))
        {
            return bad(
                "baseline_windows (1 to 168) compares counts with their own past: a count aggregation, without ratio_of or error_groups"
                    .into(),
            );
        }
        if self.channels.len() > MAX_CHANNELS {
            return bad(format!("at most {MAX_CHANNELS} channels"));
        }
        for c in &self.channels {
            c.check()?;
        }
        // The queries the evaluator will run: the query model checks metric, aggregation,
        // filters and dimensions.
        for q in self.queries(0, 60_000, None) {
            q.to_sql()?;
        }
        Ok(())
    }

    /// The threshold at which a firing segment resolves.
    pub fn recovery(&self) -> f64 {
        self.recovery_threshold.unwrap_or_else(|| {
            let margin = self.threshold.abs() * 0.1;
            match self.condition {
                Condition::Above => self.threshold - margin,
                Condition::Below => self.threshold + margin,
            }
        })
    }

    /// Whether a value breaches.
    pub fn breaches(&self, value: f64) -> bool {
        match self.condition {
            Condition::Above => value > self.threshold,
            Condition::Below => value < self.threshold,
        }
    }

    /// Whether a firing segment's value has recovered.
    pub fn recovered(&self, value: f64) -> bool {
        match self.condition {
            Condition::Above => value <= self.recovery(),
            Condition::Below => value >= self.recovery(),
        }
    }

    /// The query of a spike rule's baseline: the `baseline_windows` windows before `from`,
    /// by the rule's dimensions.
    pub fn baseline_query(&self, from: i64) -> Option<Query> {
        let n = self.baseline_windows?;
        let span = i64::from(n) * i64::from(self.window_minutes) * 60_000;
        Some(Query {
            metric: self.metric.clone(),
            aggregations: vec![self.aggregation],
            filters: self.filters.clone(),
            group_by: self.group_by.clone(),
            from: from - span,
            to: from,
            order_by: Some(self.aggregation.name().into()),
            ascending: Some(false),
            limit: Some(10_000),
        })
    }

    /// The least samples a segment needs to be judged: none for counts (zero is a value).
    pub fn least_samples(&self) -> u64 {
        if self.ratio_of.is_none() && is_count(self.aggregation) {
            0
        } else {
            self.min_samples
        }
    }

    /// The queries of one evaluation over `[from, to)`: the value's (with the sample count)
    /// and, for a ratio, the denominator's. `bucket` adds a time bucket of that many
    /// minutes (the preview) and lifts the segment limit to the query model's maximum.
    pub fn queries(&self, from: i64, to: i64, bucket: Option<u32>) -> Vec<Query> {
        let mut group_by = self.group_by.clone();
        if let Some(m) = bucket {
            group_by.push(format!("time:{m}m"));
        }
        let limit = if bucket.is_some() {
            10_000
        } else {
            self.max_segments as usize
        };
        let mut aggregations = vec![self.aggregation];
        if self.ratio_of.is_none() && self.aggregation != Aggregation::Count {
            aggregations.push(Aggregation::Count);
        }
        let order_by = if self.ratio_of.is_none() {
            "count"
        } else {
            self.aggregation.name()
        };
        let mut queries = vec![Query {
            metric: self.metric.clone(),
            aggregations,
            filters: self.filters.clone(),
            group_by: group_by.clone(),
            from,
            to,
            order_by: Some(order_by.into()),
            ascending: Some(false),
            limit: Some(limit),
        }];
        if let Some(d) = &self.ratio_of {
            // The denominator decides which segments are watched: the largest ones.
            queries.push(Query {
                metric: d.metric.clone(),
                aggregations: vec![d.aggregation],
                filters: d.filters.clone(),
                group_by,
                from,
                to,
                order_by: Some(d.aggregation.name().into()),
                ascending: Some(false),
                limit: Some(limit),
            });
        }
        queries
    }
}

impl Channel {
    fn check(&self) -> Result<(), InvalidQuery> {
        match self {
            Channel::Webhook { url } | Channel::Slack { url } => {
                let ok = (url.starts_with("https://") || url.starts_with("http://"))
                    && url.len() <= 2048
                    && !url.chars().any(|c| c.is_control() || c.is_whitespace())
                    && url
                        .split_once("://")
                        .is_some_and(|(_, rest)| !rest.is_empty() && !rest.starts_with('/'));
                if !ok {
                    return Err(InvalidQuery(format!(
                        "channel url {:?} must be an http(s) URL of at most 2048 bytes",
                        url.chars().take(100).collect::<String>()
                    )));
                }
            }
            Channel::Email { to } => {
                if to.is_empty() || to.len() > 20 {
                    return Err(InvalidQuery(
                        "an email channel has 1 to 20 recipients".into(),
                    ));
                }
                if let Some(a) = to.iter().find(|a| !is_email(a)) {
                    return Err(InvalidQuery(format!(
                        "{:?} is not an email address",
                        a.chars().take(100).collect::<String>()
                    )));
                }
            }
        }
        Ok(())
    }

    /// The channel with its secret (a webhook URL's path) hidden, for readers who may not
    /// change rules: `https://hooks.slack.com/…`.
    pub fn redacted(&self) -> Channel {
        let hide = |url: &str| match url.split_once("://") {
            Some((scheme, rest)) => {
                let host = rest.split(['/', '?', '#']).next().unwrap_or("");
                format!("{scheme}://{host}/…")
            }
            None => "…".into(),
        };
        match self {
            Channel::Webhook { url } => Channel::Webhook { url: hide(url) },
            Channel::Slack { url } => Channel::Slack { url: hide(url) },
            Channel::Email { to } => Channel::Email { to: to.clone() },
        }
    }
}

/// An address SMTP can carry: `local@domain`, no spaces, no angle brackets or line breaks.
fn is_email(a: &str) -> bool {
    a.len() <= 254
        && a.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.')
        })
        && !a
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>,;\"".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(json: serde_json::Value) -> RuleDefinition {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn defaults_and_checks() {
        let r = rule(serde_json::json!({
            "name": "mobile LCP", "metric": "lcp", "aggregation": "p75",
            "filters": [{"field": "device_type", "op": "eq", "value": "mobile"}],
            "group_by": ["country"], "condition": "above", "threshold": 4000
        }));
        assert_eq!(
            (
                r.window_minutes,
                r.delay_minutes,
                r.min_samples,
                r.max_segments
            ),
            (15, 2, 30, 50)
        );
        assert_eq!(r.recovery(), 3600.0);
        assert!(r.check().is_ok());
        assert!(r.breaches(4000.1) && !r.breaches(4000.0));
        assert!(r.recovered(3600.0) && !r.recovered(3700.0));

        let wrong = |change: serde_json::Value| {
            let mut v = serde_json::to_value(&r).unwrap();
            for (k, x) in change.as_object().unwrap() {
                v[k] = x.clone();
            }
            serde_json::from_value::<RuleDefinition>(v)
                .map_err(|e| e.to_string())
                .and_then(|r| r.check().map_err(|e| e.0))
                .unwrap_err()
        };
        assert!(wrong(serde_json::json!({"metric": "nope"})).contains("unknown metric"));
        assert!(
            wrong(serde_json::json!({"group_by": ["country", "browser", "os", "release"]}))
                .contains("at most 3")
        );
        assert!(wrong(serde_json::json!({"group_by": ["time:5m"]})).contains("dimensions only"));
        assert!(wrong(serde_json::json!({"group_by": ["colour"]})).contains("no dimension"));
        assert!(wrong(serde_json::json!({"recovery_threshold": 4100})).contains("not be above"));
        assert!(wrong(serde_json::json!({"window_minutes": 0})).contains("window_minutes"));
        assert!(wrong(serde_json::json!({"max_segments": 501})).contains("max_segments"));
        assert!(wrong(serde_json::json!({"aggregation": "error_rate"})).contains("error_rate"));
        assert!(
            wrong(serde_json::json!({"channels": [{"type": "webhook", "url": "ftp://x"}]}))
                .contains("http(s)")
        );
        assert!(
            wrong(serde_json::json!({"channels": [{"type": "email", "to": ["a@b.c\r\nRCPT TO:<x@y.z>"]}]}))
                .contains("not an email")
        );
        assert!(
            wrong(serde_json::json!({"ratio_of": {"metric": "views"}})).contains("divides counts")
        );
        assert!(wrong(serde_json::json!({"surprise": 1})).contains("unknown field"));
        assert!(
            wrong(serde_json::json!({"error_groups": "new"})).contains("grouped by fingerprint")
        );
    }

    #[test]
    fn queries_watch_the_largest_segments() {
        let r = rule(serde_json::json!({
            "name": "crash rate", "metric": "crashes", "aggregation": "count",
            "ratio_of": {"metric": "app_starts"}, "group_by": ["os_version"],
            "condition": "above", "threshold": 0.02, "max_segments": 20
        }));
        let q = r.queries(0, 900_000, None);
        assert_eq!(q.len(), 2);
        assert_eq!(q[1].metric, "app_starts");
        assert_eq!(q[1].limit, Some(20));
        assert_eq!(r.least_samples(), 30);
        let preview = r.queries(0, 86_400_000, Some(15));
        assert_eq!(preview[0].group_by, ["os_version", "time:15m"]);
        let counted = rule(serde_json::json!({
            "name": "checkout failures", "metric": "custom_events", "aggregation": "count",
            "condition": "above", "threshold": 10
        }));
        assert_eq!(counted.least_samples(), 0);
        assert_eq!(
            counted.queries(0, 1, None)[0].aggregations,
            [Aggregation::Count]
        );
    }

    #[test]
    fn spikes_compare_with_the_usual() {
        // 20 now against 8 over 4 windows (2 a window): ten times the usual.
        assert_eq!(spike_factor(20.0, 8.0, 4, 5), 10.0);
        // A quiet past counts as one a window, so a first burst is a spike too.
        assert_eq!(spike_factor(12.0, 0.0, 4, 5), 12.0);
        // Too few events now: no spike, whatever the past.
        assert_eq!(spike_factor(4.0, 0.0, 4, 5), 0.0);
    }

    #[test]
    fn secrets_are_hidden_from_readers() {
        let c = Channel::Slack {
            url: "https://hooks.slack.com/services/T0/B0/secret".into(),
        };
        assert_eq!(
            c.redacted(),
            Channel::Slack {
                url: "https://hooks.slack.com/…".into()
            }
        );
    }
}
