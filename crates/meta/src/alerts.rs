//! Alerts' metadata: rules (their definition is JSON that `vigil-alerts` checks and reads),
//! the state of every segment a rule evaluated, mutes, the history of state transitions, and
//! an outbox of notifications with every delivery attempt. An evaluation's states,
//! transitions and notifications are written in one transaction, so a notification exists
//! exactly when its transition does. Transactions that read before they write take the
//! write lock first (IMMEDIATE): a deferred one would fail at once, not wait, when another
//! process (the CLI, a second server on the folder) wrote in between.

use crate::db::{Q, Row};
use crate::{Meta, MetaError, params};
use serde::Serialize;

/// Most rules per project.
pub const MAX_ALERT_RULES: usize = 200;

/// Where a segment of a rule stands, or (in a transition) where it went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    /// Not breaching, or not known to.
    Ok,
    /// Breaching, for fewer evaluations in a row than the rule asks before firing.
    Pending,
    /// Breaching: notified.
    Firing,
    /// Back past the recovery threshold after firing (a transition only; the segment is
    /// then `ok`).
    Resolved,
}

sql_text_enum!(AlertState { Ok = "ok", Pending = "pending", Firing = "firing", Resolved = "resolved" });

/// Where a notification's delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Not delivered yet; tried again at `next_attempt_at`.
    Pending,
    /// Accepted by the receiver.
    Delivered,
    /// Every attempt failed.
    Failed,
}

sql_text_enum!(DeliveryState { Pending = "pending", Delivered = "delivered", Failed = "failed" });

/// A rule as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredRule {
    /// Its id.
    pub id: i64,
    /// Its project.
    pub project_id: u32,
    /// The definition, JSON.
    pub definition: String,
    /// Edits so far, from 1.
    pub version: i64,
    /// Muted (nothing sent) until then, ms.
    pub muted_until: Option<i64>,
    /// ms since the epoch.
    pub created_at: i64,
    /// ms since the epoch.
    pub updated_at: i64,
}

/// One segment's state after an evaluation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SegmentState {
    /// The segment: a JSON object of its group-by values (`{}` without group-by).
    pub segment: String,
    /// Ok, pending or firing.
    pub state: AlertState,
    /// Evaluations in a row that breached.
    pub breaches: u32,
    /// When it entered its state, ms.
    pub since: i64,
    /// The last value computed, if there were enough samples.
    pub value: Option<f64>,
    /// The samples behind it.
    pub samples: u64,
    /// When it was last evaluated, ms.
    pub evaluated_at: i64,
}

/// A change of state of one segment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Transition {
    /// Its id (0 before it is stored).
    pub id: i64,
    /// The rule.
    pub rule_id: i64,
    /// The segment (JSON object).
    pub segment: String,
    /// Before.
    pub from: AlertState,
    /// After.
    pub to: AlertState,
    /// The value that caused it.
    pub value: Option<f64>,
    /// The threshold it was compared with (the recovery threshold for `resolved`).
    pub threshold: f64,
    /// Samples behind the value.
    pub samples: u64,
    /// The window evaluated, ms.
    pub window_from: i64,
    /// The window's end (exclusive), ms.
    pub window_to: i64,
    /// When, ms.
    pub at: i64,
    /// Whether a notification was queued for it (not for pending, nor while muted).
    pub notified: bool,
}

/// A notification to send.
#[derive(Debug, Clone, PartialEq)]
pub struct NewNotification {
    /// `alert` or `test`.
    pub kind: String,
    /// Where to (JSON of the channel).
    pub channel: String,
    /// What (the webhook body, JSON; other channels are rendered from it).
    pub body: String,
}

/// A notification in the outbox.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Notification {
    /// Its id, also sent as the receiver's idempotency key.
    pub id: i64,
    /// The rule.
    pub rule_id: i64,
    /// `alert` or `test`.
    pub kind: String,
    /// Where to (JSON of the channel).
    pub channel: String,
    /// What (JSON).
    pub body: String,
    /// Where its delivery stands.
    pub state: DeliveryState,
    /// Attempts so far.
    pub attempts: u32,
    /// When it is tried next, ms.
    pub next_attempt_at: i64,
    /// ms.
    pub created_at: i64,
    /// The last attempt's error.
    pub last_error: Option<String>,
}

/// One delivery attempt.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeliveryAttempt {
    /// 1 for the first.
    pub attempt: u32,
    /// When it started, ms.
    pub at: i64,
    /// How long it took.
    pub duration_ms: i64,
    /// The receiver's HTTP status or SMTP reply code.
    pub status: Option<u16>,
    /// Why it failed.
    pub error: Option<String>,
}

/// What became of a notification after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// Delivered.
    Delivered,
    /// Failed; try again at this time (ms).
    RetryAt(i64),
    /// Failed for the last time.
    GaveUp,
}

const RULE_COLUMNS: &str =
    "id, project_id, definition, version, muted_until, created_at, updated_at";

fn rule_of(r: &Row) -> Result<StoredRule, MetaError> {
    Ok(StoredRule {
        id: r.get(0)?,
        project_id: r.get(1)?,
        definition: r.get(2)?,
        version: r.get(3)?,
        muted_until: r.get(4)?,
        created_at: r.get(5)?,
        updated_at: r.get(6)?,
    })
}

const NOTIFICATION_COLUMNS: &str = "n.id, n.rule_id, n.kind, n.channel, n.body, n.state, n.attempts, n.next_attempt_at, n.created_at, n.last_error";

fn notification_of(r: &Row) -> Result<Notification, MetaError> {
    Ok(Notification {
        id: r.get(0)?,
        rule_id: r.get(1)?,
        kind: r.get(2)?,
        channel: r.get(3)?,
        body: r.get(4)?,
        state: r.get(5)?,
        attempts: r.get(6)?,
        next_attempt_at: r.get(7)?,
        created_at: r.get(8)?,
        last_error: r.get(9)?,
    })
}

const TRANSITION_COLUMNS: &str = "t.id, t.rule_id, t.segment, t.from_state, t.to_state, t.value, t.threshold, t.samples, t.window_from, t.window_to, t.at, t.notified";

fn transition_of(r: &Row) -> Result<Transition, MetaError> {
    Ok(Transition {
        id: r.get(0)?,
        rule_id: r.get(1)?,
        segment: r.get(2)?,
        from: r.get(3)?,
        to: r.get(4)?,
        value: r.get(5)?,
        threshold: r.get(6)?,
        samples: r.get::<i64>(7)? as u64,
        window_from: r.get(8)?,
        window_to: r.get(9)?,
        at: r.get(10)?,
        notified: r.get(11)?,
    })
}

impl Meta {
    /// Adds a rule (at most [`MAX_ALERT_RULES`] per project).
    pub fn create_alert_rule(
        &self,
        project_id: u32,
        definition: &str,
        now: i64,
    ) -> Result<StoredRule, MetaError> {
        self.write(|q| {
            let count: i64 = q.query_row(
                "SELECT COUNT(*) FROM alert_rules WHERE project_id = ?1",
                params![project_id],
                |r| r.get(0),
            )?;
            if count as usize >= MAX_ALERT_RULES {
                return Err(MetaError::Invalid(format!(
                    "a project has at most {MAX_ALERT_RULES} alert rules"
                )));
            }
            q.query_row(
                &format!(
                    "INSERT INTO alert_rules (project_id, definition, created_at, updated_at) \
                     VALUES (?1, ?2, ?3, ?3) RETURNING {RULE_COLUMNS}"
                ),
                params![project_id, definition, now],
                rule_of,
            )
        })
    }

    /// A project's rules, oldest first.
    pub fn alert_rules(&self, project_id: u32) -> Result<Vec<StoredRule>, MetaError> {
        self.read(|q| {
            q.query_map(
                &format!(
                    "SELECT {RULE_COLUMNS} FROM alert_rules WHERE project_id = ?1 ORDER BY id"
                ),
                params![project_id],
                rule_of,
            )
        })
    }

    /// Every project's rules, for the evaluator.
    pub fn all_alert_rules(&self) -> Result<Vec<StoredRule>, MetaError> {
        self.read(|q| {
            q.query_map(
                &format!("SELECT {RULE_COLUMNS} FROM alert_rules ORDER BY project_id, id"),
                params![],
                rule_of,
            )
        })
    }

    /// One rule of a project.
    pub fn alert_rule(&self, project_id: u32, id: i64) -> Result<Option<StoredRule>, MetaError> {
        self.read(|q| {
            q.query_opt(
                &format!(
                    "SELECT {RULE_COLUMNS} FROM alert_rules WHERE project_id = ?1 AND id = ?2"
                ),
                params![project_id, id],
                rule_of,
            )
        })
    }

    /// Replaces a rule's definition. Its segments' states are dropped: they were computed
    /// for the old one. Mutes and history stay.
    pub fn update_alert_rule(
        &self,
        project_id: u32,
        id: i64,
        definition: &str,
        now: i64,
    ) -> Result<Option<StoredRule>, MetaError> {
        self.write(|q| {
            let rule = q.query_opt(
                &format!(
                    "UPDATE alert_rules SET definition = ?3, version = version + 1, updated_at = ?4 \
                     WHERE project_id = ?1 AND id = ?2 RETURNING {RULE_COLUMNS}"
                ),
                params![project_id, id, definition, now],
                rule_of,
            )?;
            if rule.is_some() {
                q.execute(
                    "DELETE FROM alert_segments WHERE rule_id = ?1",
                    params![id],
                )?;
            }
            Ok(rule)
        })
    }

    /// Deletes a rule with its states, history and notifications.
    pub fn delete_alert_rule(&self, project_id: u32, id: i64) -> Result<bool, MetaError> {
        self.write(|q| {
            Ok(q.execute(
                "DELETE FROM alert_rules WHERE project_id = ?1 AND id = ?2",
                params![project_id, id],
            )? > 0)
        })
    }

    /// Mutes a whole rule until `until` (ms), or unmutes it (`None`).
    pub fn mute_alert_rule(
        &self,
        project_id: u32,
        id: i64,
        until: Option<i64>,
    ) -> Result<bool, MetaError> {
        self.write(|q| {
            Ok(q.execute(
                "UPDATE alert_rules SET muted_until = ?3 WHERE project_id = ?1 AND id = ?2",
                params![project_id, id, until],
            )? > 0)
        })
    }

    /// Mutes one segment of a rule until `until` (ms), or unmutes it (`None`). False when
    /// the project has no such rule.
    pub fn mute_alert_segment(
        &self,
        project_id: u32,
        id: i64,
        segment: &str,
        until: Option<i64>,
    ) -> Result<bool, MetaError> {
        self.write(|q| {
            let exists: bool = q.query_row(
                "SELECT COUNT(*) > 0 FROM alert_rules WHERE project_id = ?1 AND id = ?2",
                params![project_id, id],
                |r| r.get(0),
            )?;
            if exists {
                match until {
                    Some(until) => q.execute(
                        "INSERT INTO alert_mutes (rule_id, segment, until) VALUES (?1, ?2, ?3) \
                         ON CONFLICT (rule_id, segment) DO UPDATE SET until = excluded.until",
                        params![id, segment, until],
                    )?,
                    None => q.execute(
                        "DELETE FROM alert_mutes WHERE rule_id = ?1 AND segment = ?2",
                        params![id, segment],
                    )?,
                };
            }
            Ok(exists)
        })
    }

    /// A rule's segment mutes that have not ended at `now`: (segment, until).
    pub fn alert_mutes(&self, rule_id: i64, now: i64) -> Result<Vec<(String, i64)>, MetaError> {
        self.read(|q| {
            q.query_map(
                "SELECT segment, until FROM alert_mutes WHERE rule_id = ?1 AND until > ?2 ORDER BY segment",
                params![rule_id, now],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
        })
    }

    /// A rule's segments as last evaluated: firing first, then pending, then by samples.
    pub fn alert_segments(&self, rule_id: i64) -> Result<Vec<SegmentState>, MetaError> {
        self.read(|q| {
            q.query_map(
                "SELECT segment, state, breaches, since, value, samples, evaluated_at FROM alert_segments \
                 WHERE rule_id = ?1 \
                 ORDER BY CASE state WHEN 'firing' THEN 0 WHEN 'pending' THEN 1 ELSE 2 END, samples DESC, segment",
                params![rule_id],
                |r| {
                    Ok(SegmentState {
                        segment: r.get(0)?,
                        state: r.get(1)?,
                        breaches: r.get(2)?,
                        since: r.get(3)?,
                        value: r.get(4)?,
                        samples: r.get::<i64>(5)? as u64,
                        evaluated_at: r.get(6)?,
                    })
                },
            )
        })
    }

    /// Records one evaluation of a rule: its segments' states replace the previous ones,
    /// its transitions join the history, its notifications the outbox. Nothing is written,
    /// and false returned, when the rule was deleted or edited since `version` was read.
    pub fn record_alert_evaluation(
        &self,
        rule_id: i64,
        version: i64,
        segments: &[SegmentState],
        transitions: &[Transition],
        notifications: &[NewNotification],
        now: i64,
    ) -> Result<bool, MetaError> {
        self.write(|q| {
            let current: Option<i64> = q.query_opt(
                "SELECT version FROM alert_rules WHERE id = ?1",
                params![rule_id],
                |r| r.get(0),
            )?;
            if current != Some(version) {
                return Ok(false);
            }
            q.execute(
                "DELETE FROM alert_segments WHERE rule_id = ?1",
                params![rule_id],
            )?;
            for s in segments {
                q.execute(
                    "INSERT INTO alert_segments (rule_id, segment, state, breaches, since, value, samples, evaluated_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    params![
                        rule_id,
                        s.segment,
                        s.state,
                        s.breaches,
                        s.since,
                        s.value,
                        s.samples as i64,
                        s.evaluated_at
                    ],
                )?;
            }
            for t in transitions {
                q.execute(
                    "INSERT INTO alert_transitions (rule_id, segment, from_state, to_state, value, threshold, samples, window_from, window_to, at, notified) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                    params![
                        rule_id,
                        t.segment,
                        t.from,
                        t.to,
                        t.value,
                        t.threshold,
                        t.samples as i64,
                        t.window_from,
                        t.window_to,
                        t.at,
                        t.notified
                    ],
                )?;
            }
            insert_notifications(q, rule_id, notifications, now)?;
            Ok(true)
        })
    }

    /// Queues notifications of a rule (e.g. a test), returning their ids.
    pub fn enqueue_alert_notifications(
        &self,
        rule_id: i64,
        notifications: &[NewNotification],
        now: i64,
    ) -> Result<Vec<i64>, MetaError> {
        self.write(|q| insert_notifications(q, rule_id, notifications, now))
    }

    /// A project's transitions from `from` to `to` (ms), newest first, of one rule or all.
    pub fn alert_transitions(
        &self,
        project_id: u32,
        rule_id: Option<i64>,
        from: i64,
        to: i64,
        limit: usize,
    ) -> Result<Vec<Transition>, MetaError> {
        // `?2` is typed by its cast: PostgreSQL cannot infer a type from `?2 IS NULL`.
        self.read(|q| {
            q.query_map(
                &format!(
                    "SELECT {TRANSITION_COLUMNS} FROM alert_transitions t JOIN alert_rules r ON r.id = t.rule_id \
                     WHERE r.project_id = ?1 AND (CAST(?2 AS BIGINT) IS NULL OR t.rule_id = ?2) AND t.at >= ?3 AND t.at < ?4 \
                     ORDER BY t.at DESC, t.id DESC LIMIT ?5"
                ),
                params![project_id, rule_id, from, to, limit as i64],
                transition_of,
            )
        })
    }

    /// Notifications due at `now`, oldest first.
    pub fn due_alert_notifications(
        &self,
        now: i64,
        limit: usize,
    ) -> Result<Vec<Notification>, MetaError> {
        self.read(|q| {
            q.query_map(
                &format!(
                    "SELECT {NOTIFICATION_COLUMNS} FROM alert_notifications n \
                     WHERE n.state = 'pending' AND n.next_attempt_at <= ?1 ORDER BY n.next_attempt_at, n.id LIMIT ?2"
                ),
                params![now, limit as i64],
                notification_of,
            )
        })
    }

    /// When the next pending notification is due, if any.
    pub fn next_alert_notification_at(&self) -> Result<Option<i64>, MetaError> {
        self.read(|q| {
            q.query_row(
                "SELECT MIN(next_attempt_at) FROM alert_notifications WHERE state = 'pending'",
                params![],
                |r| r.get(0),
            )
        })
    }

    /// Records a delivery attempt and what became of the notification.
    pub fn record_delivery_attempt(
        &self,
        notification_id: i64,
        attempt: &DeliveryAttempt,
        outcome: DeliveryOutcome,
    ) -> Result<(), MetaError> {
        let (state, next) = match outcome {
            DeliveryOutcome::Delivered => (DeliveryState::Delivered, None),
            DeliveryOutcome::RetryAt(at) => (DeliveryState::Pending, Some(at)),
            DeliveryOutcome::GaveUp => (DeliveryState::Failed, None),
        };
        self.write(|q| {
            q.execute(
                "INSERT INTO alert_delivery_attempts (notification_id, attempt, at, duration_ms, status, error) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
                 ON CONFLICT (notification_id, attempt) DO UPDATE SET at = excluded.at, \
                 duration_ms = excluded.duration_ms, status = excluded.status, error = excluded.error",
                params![
                    notification_id,
                    attempt.attempt,
                    attempt.at,
                    attempt.duration_ms,
                    attempt.status,
                    attempt.error
                ],
            )?;
            q.execute(
                "UPDATE alert_notifications SET state = ?2, attempts = ?3, \
                 next_attempt_at = COALESCE(?4, next_attempt_at), last_error = ?5 WHERE id = ?1",
                params![notification_id, state, attempt.attempt, next, attempt.error],
            )?;
            Ok(())
        })
    }

    /// A project's latest notifications created from `from` to `to` (ms) with their
    /// attempts, of one rule or all.
    pub fn alert_notifications(
        &self,
        project_id: u32,
        rule_id: Option<i64>,
        from: i64,
        to: i64,
        limit: usize,
    ) -> Result<Vec<(Notification, Vec<DeliveryAttempt>)>, MetaError> {
        self.read(|q| {
            // `?2` is typed by its cast: PostgreSQL cannot infer a type from `?2 IS NULL`.
            let notifications = q.query_map(
                &format!(
                    "SELECT {NOTIFICATION_COLUMNS} FROM alert_notifications n JOIN alert_rules r ON r.id = n.rule_id \
                     WHERE r.project_id = ?1 AND (CAST(?2 AS BIGINT) IS NULL OR n.rule_id = ?2) AND n.created_at >= ?3 AND n.created_at < ?4 \
                     ORDER BY n.id DESC LIMIT ?5"
                ),
                params![project_id, rule_id, from, to, limit as i64],
                notification_of,
            )?;
            let mut out = Vec::with_capacity(notifications.len());
            for n in notifications {
                let tried = q.query_map(
                    "SELECT attempt, at, duration_ms, status, error FROM alert_delivery_attempts \
                     WHERE notification_id = ?1 ORDER BY attempt",
                    params![n.id],
                    |r| {
                        Ok(DeliveryAttempt {
                            attempt: r.get(0)?,
                            at: r.get(1)?,
                            duration_ms: r.get(2)?,
                            status: r.get(3)?,
                            error: r.get(4)?,
                        })
                    },
                )?;
                out.push((n, tried));
            }
            Ok(out)
        })
    }

    /// Drops history older than `before` (ms): transitions, delivered or failed
    /// notifications with their attempts, and ended mutes.
    pub fn prune_alert_history(&self, before: i64) -> Result<(), MetaError> {
        self.write(|q| {
            q.execute(
                "DELETE FROM alert_transitions WHERE at < ?1",
                params![before],
            )?;
            q.execute(
                "DELETE FROM alert_notifications WHERE state != 'pending' AND created_at < ?1",
                params![before],
            )?;
            q.execute("DELETE FROM alert_mutes WHERE until < ?1", params![before])?;
            Ok(())
        })
    }
}

fn insert_notifications(
    q: &mut Q<'_>,
    rule_id: i64,
    notifications: &[NewNotification],
    now: i64,
) -> Result<Vec<i64>, MetaError> {
    let mut ids = Vec::with_capacity(notifications.len());
    for n in notifications {
        ids.push(q.query_row(
            "INSERT INTO alert_notifications (rule_id, kind, channel, body, state, next_attempt_at, created_at) \
             VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?5) RETURNING id",
            params![rule_id, n.kind, n.channel, n.body, now],
            |r| r.get(0),
        )?);
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use crate::tests::open;

    use super::*;

    fn transition(rule_id: i64, to: AlertState, at: i64) -> Transition {
        Transition {
            id: 0,
            rule_id,
            segment: "{\"country\":\"IN\"}".into(),
            from: AlertState::Ok,
            to,
            value: Some(5000.0),
            threshold: 4000.0,
            samples: 60,
            window_from: at - 900_000,
            window_to: at,
            at,
            notified: true,
        }
    }

    /// Text orders bytewise on both databases, whatever PostgreSQL's collation (the tests
    /// make its databases with ICU's `en-US`, where `apple` sorts before `Bar` and `é`
    /// beside `e`).
    #[test]
    fn segments_order_bytewise_on_every_database() {
        let (_dir, meta) = open();
        let (p, _) = meta.create_project("p", &[], 30).unwrap();
        let rule = meta.create_alert_rule(p.id, "{\"v\":1}", 1000).unwrap();
        let segments = [
            "{\"country\":\"apple\"}",
            "{\"country\":\"Bar\"}",
            "{\"country\":\"éclair\"}",
            "{\"country\":\"fig\"}",
            "{\"country\":\"a_z\"}",
            "{\"country\":\"ab\"}",
        ];
        for segment in segments {
            assert!(
                meta.mute_alert_segment(p.id, rule.id, segment, Some(10_000))
                    .unwrap()
            );
        }
        let mut bytewise: Vec<&str> = segments.to_vec();
        bytewise.sort_unstable();
        let listed: Vec<String> = meta
            .alert_mutes(rule.id, 0)
            .unwrap()
            .into_iter()
            .map(|(segment, _)| segment)
            .collect();
        assert_eq!(listed, bytewise);
    }

    #[test]
    fn rules_belong_to_their_project_and_edits_drop_states() {
        let (_dir, meta) = open();
        let (a, _) = meta.create_project("a", &[], 30).unwrap();
        let (b, _) = meta.create_project("b", &[], 30).unwrap();
        let rule = meta.create_alert_rule(a.id, "{\"v\":1}", 1000).unwrap();
        assert_eq!(meta.alert_rules(a.id).unwrap(), std::slice::from_ref(&rule));
        assert!(meta.alert_rules(b.id).unwrap().is_empty());
        assert_eq!(meta.alert_rule(b.id, rule.id).unwrap(), None);
        assert!(!meta.delete_alert_rule(b.id, rule.id).unwrap());
        assert!(!meta.mute_alert_rule(b.id, rule.id, Some(5)).unwrap());
        assert!(
            !meta
                .mute_alert_segment(b.id, rule.id, "{}", Some(5))
                .unwrap()
        );
        assert!(
            meta.update_alert_rule(b.id, rule.id, "{}", 2)
                .unwrap()
                .is_none()
        );

        let state = SegmentState {
            segment: "{}".into(),
            state: AlertState::Firing,
            breaches: 2,
            since: 1000,
            value: Some(1.5),
            samples: 40,
            evaluated_at: 1000,
        };
        let queued = NewNotification {
            kind: "alert".into(),
            channel: "{}".into(),
            body: "{}".into(),
        };
        assert!(
            meta.record_alert_evaluation(
                rule.id,
                rule.version,
                std::slice::from_ref(&state),
                &[transition(rule.id, AlertState::Firing, 1000)],
                std::slice::from_ref(&queued),
                1000
            )
            .unwrap()
        );
        assert_eq!(
            meta.alert_segments(rule.id).unwrap(),
            std::slice::from_ref(&state)
        );
        let edited = meta
            .update_alert_rule(a.id, rule.id, "{\"v\":2}", 2000)
            .unwrap()
            .unwrap();
        assert_eq!((edited.version, edited.updated_at), (2, 2000));
        assert!(meta.alert_segments(rule.id).unwrap().is_empty());
        // An evaluation of the first definition, finished after the edit, is not recorded.
        assert!(
            !meta
                .record_alert_evaluation(rule.id, rule.version, &[state], &[], &[queued], 2001)
                .unwrap()
        );
        assert_eq!(
            meta.alert_transitions(a.id, None, 0, i64::MAX, 10)
                .unwrap()
                .len(),
            1
        );
        assert!(
            meta.alert_transitions(b.id, None, 0, i64::MAX, 10)
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            meta.alert_notifications(a.id, None, 0, i64::MAX, 10)
                .unwrap()
                .len(),
            1
        );
        assert!(meta.delete_alert_rule(a.id, rule.id).unwrap());
        assert!(
            meta.alert_notifications(a.id, None, 0, i64::MAX, 10)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn a_project_has_a_bounded_number_of_rules() {
        let (_dir, meta) = open();
        let (a, _) = meta.create_project("a", &[], 30).unwrap();
        for _ in 0..MAX_ALERT_RULES {
            meta.create_alert_rule(a.id, "{}", 1).unwrap();
        }
        assert!(matches!(
            meta.create_alert_rule(a.id, "{}", 1),
            Err(MetaError::Invalid(_))
        ));
    }

    #[test]
    fn the_outbox_retries_then_delivers_and_keeps_every_attempt() {
        let (_dir, meta) = open();
        let (a, _) = meta.create_project("a", &[], 30).unwrap();
        let rule = meta.create_alert_rule(a.id, "{}", 0).unwrap();
        let ids = meta
            .enqueue_alert_notifications(
                rule.id,
                &[NewNotification {
                    kind: "test".into(),
                    channel: "{\"type\":\"webhook\"}".into(),
                    body: "{}".into(),
                }],
                100,
            )
            .unwrap();
        assert_eq!(meta.due_alert_notifications(99, 10).unwrap().len(), 0);
        assert_eq!(meta.due_alert_notifications(100, 10).unwrap()[0].id, ids[0]);
        let failed = DeliveryAttempt {
            attempt: 1,
            at: 100,
            duration_ms: 3,
            status: Some(500),
            error: Some("HTTP 500".into()),
        };
        meta.record_delivery_attempt(ids[0], &failed, DeliveryOutcome::RetryAt(1100))
            .unwrap();
        assert!(meta.due_alert_notifications(1000, 10).unwrap().is_empty());
        assert_eq!(meta.next_alert_notification_at().unwrap(), Some(1100));
        let ok = DeliveryAttempt {
            attempt: 2,
            at: 1100,
            duration_ms: 2,
            status: Some(200),
            error: None,
        };
        meta.record_delivery_attempt(ids[0], &ok, DeliveryOutcome::Delivered)
            .unwrap();
        assert!(
            meta.due_alert_notifications(i64::MAX, 10)
                .unwrap()
                .is_empty()
        );
        let (n, attempts) = meta
            .alert_notifications(a.id, Some(rule.id), 0, i64::MAX, 10)
            .unwrap()[0]
            .clone();
        assert_eq!((n.state, n.attempts), (DeliveryState::Delivered, 2));
        assert_eq!(attempts, [failed, ok]);
        meta.prune_alert_history(2000).unwrap();
        assert!(
            meta.alert_notifications(a.id, None, 0, i64::MAX, 10)
                .unwrap()
                .is_empty()
        );
    }
}
