//! Error tracking's metadata: what people decided about error groups (resolved, ignored)
//! and each project's error settings (critical pages, noise filters). Group figures (counts,
//! first and last seen) come from the events, never from here.

use crate::db::Q;
use crate::{Meta, MetaError, params};
use serde::{Deserialize, Serialize};

/// What people decided about a group.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupState {
    /// Open (the default for every group).
    #[default]
    Unresolved,
    /// Fixed: an event from a release not seen before the fix is a regression.
    Resolved,
    /// Not worth attention: left out of the default list.
    Ignored,
}

sql_text_enum!(GroupState { Unresolved = "unresolved", Resolved = "resolved", Ignored = "ignored" });

/// A group's recorded state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GroupStatus {
    /// The group.
    pub fingerprint: String,
    /// Its state.
    pub state: GroupState,
    /// Resolved "in the next release": events of the releases seen so far are expected.
    pub in_next_release: bool,
    /// When it was resolved, ms since the epoch.
    pub resolved_at: Option<i64>,
    /// The releases the group had been seen in when it was resolved: an event of any
    /// other release afterwards is a regression.
    pub releases_before: Vec<String>,
    /// Last change, seconds since the epoch.
    pub updated_at: i64,
}

impl GroupStatus {
    /// Whether an event of `release`, last seen at `last_seen` (ms), reopens this group: it
    /// is resolved and the event came after the resolution, from a release not seen before
    /// it when resolved "in the next release", from any release otherwise.
    pub fn regressed_by(&self, release: &str, last_seen: i64) -> bool {
        self.state == GroupState::Resolved
            && last_seen > self.resolved_at.unwrap_or(0)
            && (!self.in_next_release || !self.releases_before.iter().any(|r| r == release))
    }
}

/// Most releases remembered per resolution.
pub const MAX_RELEASES_BEFORE: usize = 200;

/// A user rule that drops errors at intake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IgnoreRule {
    /// `message` (the error's message) or `url` (the page or a frame's script URL).
    pub field: String,
    /// A substring to look for, or a pattern with `*` wildcards (matched whole).
    pub pattern: String,
}

/// A project's error settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ErrorSettings {
    /// Page path patterns (`/checkout/*`) whose errors rank first by impact.
    pub critical_pages: Vec<String>,
    /// Drop errors whose frames come from browser extensions.
    pub filter_extensions: bool,
    /// Drop `Script error.` without a stack (a cross-origin script's error, which says
    /// nothing).
    pub filter_script_error: bool,
    /// Drop errors matching any of these.
    pub ignore_rules: Vec<IgnoreRule>,
    /// Fetch the source maps pages name (`//# sourceMappingURL=`) from the project's
    /// allowed origins when no uploaded map matches. Off by default: it makes the server
    /// send requests to URLs found in visitors' stacks.
    pub fetch_sourcemaps: bool,
}

impl Default for ErrorSettings {
    fn default() -> Self {
        Self {
            critical_pages: Vec::new(),
            filter_extensions: true,
            filter_script_error: true,
            ignore_rules: Vec::new(),
            fetch_sourcemaps: false,
        }
    }
}

impl ErrorSettings {
    /// Checks bounds: at most 50 critical pages and 50 rules, patterns of 1–500 bytes.
    pub fn check(&self) -> Result<(), MetaError> {
        if self.critical_pages.len() > 50 || self.ignore_rules.len() > 50 {
            return Err(MetaError::Invalid(
                "at most 50 critical pages and 50 ignore rules".into(),
            ));
        }
        let bad = |p: &str| p.is_empty() || p.len() > 500 || p.chars().any(char::is_control);
        if let Some(p) = self
            .critical_pages
            .iter()
            .find(|p| bad(p) || !p.starts_with('/'))
        {
            return Err(MetaError::Invalid(format!(
                "critical page {p:?} must be a path pattern such as /checkout/*, 1 to 500 bytes"
            )));
        }
        for r in &self.ignore_rules {
            if r.field != "message" && r.field != "url" {
                return Err(MetaError::Invalid(format!(
                    "ignore rule field {:?} is not message or url",
                    r.field
                )));
            }
            if bad(&r.pattern) {
                return Err(MetaError::Invalid(format!(
                    "ignore rule pattern {:?} must be 1 to 500 bytes",
                    r.pattern
                )));
            }
        }
        Ok(())
    }
}

/// A group's recorded state, if it has one.
fn group_status(
    q: &mut Q<'_>,
    project_id: u32,
    fingerprint: &str,
) -> Result<Option<GroupStatus>, MetaError> {
    q.query_opt(
        "SELECT fingerprint, state, in_next_release, resolved_at, releases_before, updated_at \
         FROM error_groups WHERE project_id = ?1 AND fingerprint = ?2",
        params![project_id, fingerprint],
        |r| {
            let releases: String = r.get(4)?;
            Ok(GroupStatus {
                fingerprint: r.get(0)?,
                state: r.get(1)?,
                in_next_release: r.get(2)?,
                resolved_at: r.get(3)?,
                releases_before: serde_json::from_str(&releases).unwrap_or_default(),
                updated_at: r.get(5)?,
            })
        },
    )
}

impl Meta {
    /// The recorded states of these groups (groups never changed are absent: unresolved).
    pub fn group_statuses(
        &self,
        project_id: u32,
        fingerprints: &[String],
    ) -> Result<Vec<GroupStatus>, MetaError> {
        self.read(|q| {
            let mut out = Vec::new();
            for f in fingerprints {
                if let Some(s) = group_status(q, project_id, f)? {
                    out.push(s);
                }
            }
            Ok(out)
        })
    }

    /// The groups of a project in a state (for the state filter of the list).
    pub fn groups_in_state(
        &self,
        project_id: u32,
        state: GroupState,
    ) -> Result<Vec<String>, MetaError> {
        self.read(|q| {
            q.query_map(
                "SELECT fingerprint FROM error_groups WHERE project_id = ?1 AND state = ?2",
                params![project_id, state],
                |r| r.get(0),
            )
        })
    }

    /// Records a group's new state. Resolving records when, and the releases seen so far.
    pub fn set_group_state(
        &self,
        project_id: u32,
        fingerprint: &str,
        state: GroupState,
        in_next_release: bool,
        resolved_at: Option<i64>,
        releases_before: &[String],
    ) -> Result<GroupStatus, MetaError> {
        // Groups stored before fingerprints are keyed by their type and message.
        if fingerprint.is_empty() || fingerprint.len() > 8192 {
            return Err(MetaError::Invalid("a group key is 1 to 8192 bytes".into()));
        }
        let releases: Vec<&String> = releases_before.iter().take(MAX_RELEASES_BEFORE).collect();
        self.write(|q| {
            q.execute(
                "INSERT INTO error_groups (project_id, fingerprint, state, in_next_release, resolved_at, releases_before, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, unixepoch()) \
                 ON CONFLICT (project_id, fingerprint) DO UPDATE SET state = excluded.state, \
                 in_next_release = excluded.in_next_release, resolved_at = excluded.resolved_at, \
                 releases_before = excluded.releases_before, updated_at = excluded.updated_at",
                params![
                    project_id,
                    fingerprint,
                    state,
                    in_next_release,
                    resolved_at,
                    serde_json::to_string(&releases).expect("strings")
                ],
            )?;
            Ok(group_status(q, project_id, fingerprint)?.expect("just written"))
        })
    }

    /// A project's error settings (defaults when never set).
    pub fn error_settings(&self, project_id: u32) -> Result<ErrorSettings, MetaError> {
        let text: Option<String> = self.read(|q| {
            q.query_opt(
                "SELECT settings FROM error_settings WHERE project_id = ?1",
                params![project_id],
                |r| r.get(0),
            )
        })?;
        Ok(text
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default())
    }

    /// Replaces a project's error settings.
    pub fn set_error_settings(
        &self,
        project_id: u32,
        settings: &ErrorSettings,
    ) -> Result<(), MetaError> {
        settings.check()?;
        self.write(|q| {
            q.execute(
                "INSERT INTO error_settings (project_id, settings) VALUES (?1, ?2) \
                 ON CONFLICT (project_id) DO UPDATE SET settings = excluded.settings",
                params![
                    project_id,
                    serde_json::to_string(settings).expect("settings serialise")
                ],
            )
        })?;
        Ok(())
    }
}

/// Errors dropped by a noise filter: how many, per day and reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FilteredCount {
    /// Days since the epoch (UTC).
    pub day: i64,
    /// `extension`, `script_error` or `rule:<index>`.
    pub reason: String,
    /// Errors dropped.
    pub count: i64,
}

impl Meta {
    /// Adds to the counts of filtered errors: (project, day, reason, count), in one
    /// transaction.
    pub fn add_filtered_counts(&self, counts: &[(u32, i64, String, i64)]) -> Result<(), MetaError> {
        self.write(|q| {
            for (project, day, reason, n) in counts {
                q.execute(
                    "INSERT INTO error_filter_counts (project_id, day, reason, count) VALUES (?1, ?2, ?3, ?4) \
                     ON CONFLICT (project_id, day, reason) \
                     DO UPDATE SET count = error_filter_counts.count + excluded.count",
                    params![project, day, reason, n],
                )?;
            }
            Ok(())
        })
    }

    /// The filtered counts of a project's days in `[from_day, to_day]`.
    pub fn filtered_counts(
        &self,
        project_id: u32,
        from_day: i64,
        to_day: i64,
    ) -> Result<Vec<FilteredCount>, MetaError> {
        self.read(|q| {
            q.query_map(
                "SELECT day, reason, count FROM error_filter_counts \
                 WHERE project_id = ?1 AND day BETWEEN ?2 AND ?3 ORDER BY day, reason",
                params![project_id, from_day, to_day],
                |r| {
                    Ok(FilteredCount {
                        day: r.get(0)?,
                        reason: r.get(1)?,
                        count: r.get(2)?,
                    })
                },
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::open;

    #[test]
    fn group_states_are_per_project_and_default_to_unresolved() {
        let (_dir, meta) = open();
        let (p, _) = meta.create_project("shop", &[], 30).unwrap();
        let (q, _) = meta.create_project("other", &[], 30).unwrap();
        let f = "0123456789abcdef0123456789abcdef".to_owned();
        assert!(
            meta.group_statuses(p.id, std::slice::from_ref(&f))
                .unwrap()
                .is_empty()
        );
        let s = meta
            .set_group_state(
                p.id,
                &f,
                GroupState::Resolved,
                true,
                Some(1000),
                &["1.0".into()],
            )
            .unwrap();
        assert_eq!(
            (s.state, s.in_next_release, s.resolved_at),
            (GroupState::Resolved, true, Some(1000))
        );
        assert_eq!(s.releases_before, vec!["1.0".to_owned()]);
        assert!(
            meta.group_statuses(q.id, std::slice::from_ref(&f))
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            meta.groups_in_state(p.id, GroupState::Resolved).unwrap(),
            vec![f.clone()]
        );
        let s = meta
            .set_group_state(p.id, &f, GroupState::Ignored, false, None, &[])
            .unwrap();
        assert_eq!((s.state, s.resolved_at), (GroupState::Ignored, None));
        assert!(
            meta.groups_in_state(p.id, GroupState::Resolved)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn filtered_counts_add_up_per_day_and_reason() {
        let (_dir, meta) = open();
        let (p, _) = meta.create_project("shop", &[], 30).unwrap();
        meta.add_filtered_counts(&[
            (p.id, 20000, "extension".into(), 3),
            (p.id, 20001, "rule:0".into(), 1),
        ])
        .unwrap();
        meta.add_filtered_counts(&[(p.id, 20000, "extension".into(), 2)])
            .unwrap();
        let counts = meta.filtered_counts(p.id, 20000, 20001).unwrap();
        assert_eq!(
            counts
                .iter()
                .map(|c| (c.day, c.reason.as_str(), c.count))
                .collect::<Vec<_>>(),
            vec![(20000, "extension", 5), (20001, "rule:0", 1)]
        );
        assert!(meta.filtered_counts(p.id, 0, 19999).unwrap().is_empty());
    }

    #[test]
    fn settings_default_round_trip_and_are_checked() {
        let (_dir, meta) = open();
        let (p, _) = meta.create_project("shop", &[], 30).unwrap();
        assert_eq!(meta.error_settings(p.id).unwrap(), ErrorSettings::default());
        let mut s = ErrorSettings {
            critical_pages: vec!["/checkout/*".into()],
            ..ErrorSettings::default()
        };
        s.ignore_rules.push(IgnoreRule {
            field: "message".into(),
            pattern: "ResizeObserver loop*".into(),
        });
        meta.set_error_settings(p.id, &s).unwrap();
        assert_eq!(meta.error_settings(p.id).unwrap(), s);
        s.ignore_rules[0].field = "stack".into();
        assert!(meta.set_error_settings(p.id, &s).is_err());
        s.ignore_rules.clear();
        s.critical_pages = vec!["checkout".into()];
        assert!(meta.set_error_settings(p.id, &s).is_err());
    }
}
