//! Funnels: the sessions that went through steps (business events and page views) in
//! order, within a time limit counted from the first step. Every occurrence of the first
//! step starts a try; each next step takes the earliest match at or after the previous
//! one (which leaves the most room for the rest); a session counts at a step when any of
//! its tries reached it. The same rule as ClickHouse's `windowFunnel`.

use crate::model::{self, Filter, InvalidQuery, filter_sql, quote_str};
use crate::{QueryResult, Table};
use serde::{Deserialize, Serialize};

/// Most steps of a funnel.
pub const MAX_FUNNEL_STEPS: usize = 10;
/// Groups answered when grouped: the ones with most sessions at the first step.
pub const FUNNEL_GROUPS: usize = 20;

/// One step: a business event by name, or a page view by path (`*` matches anything).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunnelStep {
    /// A custom event's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// A page path pattern: `/checkout`, `/products/*`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<String>,
}

/// A funnel question.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunnelRequest {
    /// 2 to 10 steps, in order.
    pub steps: Vec<FunnelStep>,
    /// The time from the first step within which the last must happen (default 60).
    #[serde(default = "sixty")]
    pub within_minutes: u32,
    /// Conditions every step's events must meet (common fields: country, device_type…).
    #[serde(default)]
    pub filters: Vec<Filter>,
    /// A common dimension of the first step's event to split by (`country`).
    #[serde(default)]
    pub group_by: Option<String>,
    /// Start, ms, inclusive (of the first step; later steps may follow until `to`).
    pub from: i64,
    /// End, ms, exclusive.
    pub to: i64,
}

fn sixty() -> u32 {
    60
}

/// One step's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepFigures {
    /// What the step is: the event's name or the page pattern.
    pub label: String,
    /// Sessions that reached it.
    pub sessions: u64,
    /// Of the sessions at the previous step, the share that reached this one (1 for the
    /// first).
    pub conversion_from_previous: f64,
    /// Of the sessions at the first step, the share that reached this one.
    pub conversion_from_first: f64,
    /// Sessions at the previous step that did not reach this one.
    pub drop_off: u64,
    /// Median time from the first step (each session's quickest try), ms.
    pub median_ms_from_first: Option<f64>,
}

/// A funnel's figures, for all sessions or one group.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FunnelFigures {
    /// The group's value (absent for all sessions).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<serde_json::Value>,
    /// Step by step.
    pub steps: Vec<StepFigures>,
    /// Of the sessions at the first step, the share that reached the last.
    pub conversion: f64,
}

/// The answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Funnel {
    /// All sessions.
    #[serde(flatten)]
    pub all: FunnelFigures,
    /// By group, when grouped: the groups with most sessions at the first step.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<FunnelFigures>,
}

/// `LIKE` pattern of a page pattern: `*` matches anything, `%`, `_` and `\` are literal.
fn like_pattern(page: &str) -> String {
    let mut out = String::new();
    for c in page.chars() {
        match c {
            '*' => out.push('%'),
            '%' | '_' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

impl FunnelStep {
    fn label(&self) -> String {
        match (&self.event, &self.page) {
            (Some(e), _) => e.clone(),
            (_, Some(p)) => p.clone(),
            _ => String::new(),
        }
    }
}

impl FunnelRequest {
    /// Checks the request and writes the SQL for `group` (a dimension, or none).
    pub fn to_sql(&self, group: Option<&str>) -> Result<String, InvalidQuery> {
        if self.from >= self.to {
            return Err(InvalidQuery("from must be before to".into()));
        }
        if self.steps.len() < 2 || self.steps.len() > MAX_FUNNEL_STEPS {
            return Err(InvalidQuery(format!(
                "a funnel has 2 to {MAX_FUNNEL_STEPS} steps"
            )));
        }
        if self.within_minutes == 0 || self.within_minutes > 7 * 24 * 60 {
            return Err(InvalidQuery(
                "within_minutes must be 1 to 10080 (a week)".into(),
            ));
        }
        model::check_filters("filters", &self.filters)?;
        let limit = i64::from(self.within_minutes) * 60_000;
        let group_sql = match group {
            None => "''".to_owned(),
            Some(g) => {
                // A dimension both step tables have.
                for t in [Table::CustomEvents, Table::Views] {
                    t.column(g)
                        .filter(|c| c.is_dimension() && c.name != "session_id")
                        .ok_or_else(|| {
                            InvalidQuery(format!(
                                "group_by {g:?} is not a dimension of every step's events"
                            ))
                        })?;
                }
                format!("\"{g}\"")
            }
        };
        let mut ctes = Vec::new();
        for (i, step) in self.steps.iter().enumerate() {
            let (table, condition) = match (&step.event, &step.page) {
                (Some(e), None) if !e.is_empty() && e.len() <= 200 => {
                    (Table::CustomEvents, format!("\"name\" = {}", quote_str(e)))
                }
                (None, Some(p)) if !p.is_empty() && p.len() <= 500 => {
                    let condition = if p.contains('*') {
                        format!("\"page_path\" LIKE {}", quote_str(&like_pattern(p)))
                    } else {
                        format!("\"page_path\" = {}", quote_str(p))
                    };
                    (Table::Views, condition)
                }
                _ => {
                    return Err(InvalidQuery(format!(
                        "step {}: name one event (1 to 200 bytes) or one page (1 to 500 bytes)",
                        i + 1
                    )));
                }
            };
            let mut conditions = vec![condition, self.step_range(i)];
            for f in &self.filters {
                conditions.push(filter_sql(table, f)?);
            }
            let columns = if i == 0 {
                format!("\"session_id\", \"ts\" AS t0, {group_sql} AS g")
            } else {
                "\"session_id\", \"ts\"".to_owned()
            };
            ctes.push(format!(
                "e{i} AS (SELECT {columns} FROM \"{}\" WHERE {})",
                table.name(),
                conditions.join(" AND ")
            ));
        }
        // a<i>: each try of the first step with the earliest match of step i.
        ctes.push("a0 AS (SELECT \"session_id\", g, t0, t0 AS t FROM e0)".into());
        for i in 1..self.steps.len() {
            ctes.push(format!(
                "a{i} AS (SELECT a.\"session_id\", a.g, a.t0, MIN(e.\"ts\") AS t FROM a{p} a \
                 JOIN e{i} e ON e.\"session_id\" = a.\"session_id\" AND e.\"ts\" >= a.t AND e.\"ts\" <= a.t0 + {limit} \
                 GROUP BY a.\"session_id\", a.g, a.t0)",
                p = i - 1
            ));
        }
        let reached: Vec<String> = (0..self.steps.len())
            .map(|i| format!("SELECT {i} AS step, \"session_id\", g, t - t0 AS took FROM a{i}"))
            .collect();
        ctes.push(format!("r AS ({})", reached.join(" UNION ALL ")));
        ctes.push(
            "per AS (SELECT step, g, \"session_id\", MIN(took) AS took FROM r GROUP BY step, g, \"session_id\")"
                .into(),
        );
        Ok(format!(
            "WITH {} SELECT g, step, COUNT(*) AS sessions, p50(CAST(took AS DOUBLE)) AS median_ms \
             FROM per GROUP BY g, step ORDER BY g, step",
            ctes.join(", ")
        ))
    }

    /// The times step `i`'s events may have: later steps may follow the first until the
    /// time limit past `to`.
    fn step_range(&self, i: usize) -> String {
        let limit = i64::from(self.within_minutes) * 60_000;
        let to = if i == 0 {
            self.to
        } else {
            self.to.saturating_add(limit)
        };
        format!("\"ts\" >= {} AND \"ts\" < {to}", self.from)
    }

    /// The same funnel in ClickHouse's SQL (as old as 18.16: no table expressions in
    /// `WITH`, joins on equality only, so each step joins its session's events and keeps the
    /// ones in time order), each table named by `table`, for `project`; `None` when a filter
    /// has no ClickHouse spelling or the group is not text. Sessions are keyed as text that
    /// tells a missing session id apart: the engine counts such first steps as one session
    /// that never goes further. The median is the engine's: linear interpolation between
    /// the closest ranks of the sorted times.
    pub fn to_clickhouse_sql(
        &self,
        group: Option<&str>,
        table: &dyn Fn(Table) -> String,
        project: u32,
    ) -> Result<Option<String>, InvalidQuery> {
        self.to_sql(group)?;
        let dialect = model::Dialect::ClickHouse { table: "", project };
        let limit = i64::from(self.within_minutes) * 60_000;
        let group_sql = match group {
            None => "''".to_owned(),
            Some(g) => match Table::Views.column(g).map(|c| c.ty) {
                Some(vigil_model::Type::Text) => format!("\"{g}\""),
                _ => return Ok(None),
            },
        };
        let key = "if(isNull(\"session_id\"), 'N', concat('V', assumeNotNull(\"session_id\")))";
        let mut events = Vec::new();
        for (i, step) in self.steps.iter().enumerate() {
            let (t, condition) = match (&step.event, &step.page) {
                (Some(e), None) => (
                    Table::CustomEvents,
                    format!("\"name\" = {}", dialect.quote(e)),
                ),
                (None, Some(p)) if p.contains('*') => (
                    Table::Views,
                    format!("\"page_path\" LIKE {}", dialect.quote(&like_pattern(p))),
                ),
                (None, Some(p)) => (
                    Table::Views,
                    format!("\"page_path\" = {}", dialect.quote(p)),
                ),
                _ => unreachable!("checked by to_sql"),
            };
            let mut conditions = vec![
                format!("\"project\" = {project}"),
                condition,
                self.step_range(i),
            ];
            if i > 0 {
                conditions.push("isNotNull(\"session_id\")".into());
            }
            for f in &self.filters {
                match model::filter_sql_in(t, f, dialect) {
                    Ok(sql) => conditions.push(sql),
                    Err(model::SqlError::Invalid(e)) => return Err(e),
                    Err(model::SqlError::Unsupported(_)) => return Ok(None),
                }
            }
            events.push(format!(
                "FROM {} WHERE {}",
                table(t),
                conditions.join(" AND ")
            ));
        }
        // a<i>: each try of the first step with the earliest match of step i.
        let mut tries = vec![format!(
            "SELECT {key} AS \"vigil_sk\", {group_sql} AS \"vigil_g\", \"ts\" AS \"vigil_t0\", \
             \"ts\" AS \"vigil_t\" {}",
            events[0]
        )];
        // Step 0 is the query above; each later step joins the step before it.
        for (i, e) in events.iter().enumerate().skip(1) {
            tries.push(format!(
                "SELECT \"vigil_sk\", \"vigil_g\", \"vigil_t0\", min(\"vigil_e\") AS \"vigil_t\" FROM (\
                 SELECT * FROM ({previous}) AS \"a\" ALL INNER JOIN (SELECT {key} AS \"vigil_sk\", \
                 \"ts\" AS \"vigil_e\" {e}) AS \"e\" USING (\"vigil_sk\") \
                 WHERE \"vigil_e\" >= \"vigil_t\" AND \"vigil_e\" <= \"vigil_t0\" + {limit}) \
                 GROUP BY \"vigil_sk\", \"vigil_g\", \"vigil_t0\"",
                previous = tries[i - 1]
            ));
        }
        let reached = tries
            .iter()
            .enumerate()
            .map(|(i, a)| {
                format!(
                    "SELECT toInt64({i}) AS \"vigil_step\", \"vigil_sk\", \"vigil_g\", \
                     \"vigil_t\" - \"vigil_t0\" AS \"vigil_took\" FROM ({a})"
                )
            })
            .collect::<Vec<_>>()
            .join(" UNION ALL ");
        let median = "if((length(arraySort(groupArray(toFloat64(\"vigil_took\"))) AS \"vigil_xs\") AS \"vigil_n\") = 0, NULL, \
             if(((0.5 * (\"vigil_n\" - 1)) AS \"vigil_h\") - (floor(\"vigil_h\") AS \"vigil_lo\") = 0, \
             \"vigil_xs\"[toUInt64(\"vigil_lo\") + 1], \"vigil_xs\"[toUInt64(\"vigil_lo\") + 1] + \
             (\"vigil_h\" - \"vigil_lo\") * (\"vigil_xs\"[toUInt64(\"vigil_lo\") + 2] - \"vigil_xs\"[toUInt64(\"vigil_lo\") + 1])))";
        Ok(Some(format!(
            "SELECT \"vigil_g\" AS \"g\", \"vigil_step\" AS \"step\", toInt64(count()) AS \"sessions\", \
               {median} AS \"median_ms\", toString(\"median_ms\") AS \"median_ms__text\" \
             FROM (SELECT \"vigil_step\", \"vigil_g\", \"vigil_sk\", min(\"vigil_took\") AS \"vigil_took\" \
               FROM ({reached}) GROUP BY \"vigil_step\", \"vigil_g\", \"vigil_sk\") \
             GROUP BY \"vigil_g\", \"vigil_step\" ORDER BY \"g\", \"step\""
        )))
    }

    /// The columns of the funnel's SQL and the JSON kind of their values.
    pub fn output_columns() -> Vec<(String, model::OutputKind)> {
        use model::OutputKind::{Float, Int, Text};
        vec![
            ("g".into(), Text),
            ("step".into(), Int),
            ("sessions".into(), Int),
            ("median_ms".into(), Float),
        ]
    }

    /// Figures from the SQL's rows (`g, step, sessions, median_ms`).
    pub fn figures(&self, result: &QueryResult) -> Vec<FunnelFigures> {
        // Per group: each step's sessions and median time.
        type Steps = Vec<(u64, Option<f64>)>;
        let mut groups: Vec<(serde_json::Value, Steps)> = Vec::new();
        for row in &result.rows {
            let g = row[0].clone();
            let step = row[1].as_u64().unwrap_or(0) as usize;
            let sessions = row[2].as_u64().unwrap_or(0);
            let median = row[3].as_f64();
            let at = match groups.iter().position(|(x, _)| *x == g) {
                Some(i) => i,
                None => {
                    groups.push((g, vec![(0, None); self.steps.len()]));
                    groups.len() - 1
                }
            };
            if let Some(slot) = groups[at].1.get_mut(step) {
                *slot = (sessions, median);
            }
        }
        groups
            .into_iter()
            .map(|(g, counts)| {
                let first = counts[0].0;
                let steps = self
                    .steps
                    .iter()
                    .zip(&counts)
                    .enumerate()
                    .map(|(i, (step, &(sessions, median)))| {
                        let previous = if i == 0 { sessions } else { counts[i - 1].0 };
                        StepFigures {
                            label: step.label(),
                            sessions,
                            conversion_from_previous: share(sessions, previous),
                            conversion_from_first: share(sessions, first),
                            drop_off: previous.saturating_sub(sessions),
                            median_ms_from_first: median,
                        }
                    })
                    .collect();
                FunnelFigures {
                    group: Some(g),
                    steps,
                    conversion: share(counts[counts.len() - 1].0, first),
                }
            })
            .collect()
    }

    /// The answer from the ungrouped and (when grouped) grouped results.
    pub fn answer(&self, all: &QueryResult, grouped: Option<&QueryResult>) -> Funnel {
        let mut all = self.figures(all).into_iter().next().unwrap_or_else(|| {
            self.figures(&QueryResult {
                columns: vec![],
                rows: vec![vec![
                    serde_json::Value::Null,
                    0.into(),
                    0.into(),
                    serde_json::Value::Null,
                ]],
            })
            .remove(0)
        });
        all.group = None;
        let mut groups = grouped.map(|g| self.figures(g)).unwrap_or_default();
        groups.sort_by(|a, b| b.steps[0].sessions.cmp(&a.steps[0].sessions));
        groups.truncate(FUNNEL_GROUPS);
        Funnel { all, groups }
    }
}

fn share(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_patterns_escape_like() {
        assert_eq!(like_pattern("/products/*"), "/products/%");
        assert_eq!(like_pattern("/100%_off\\"), "/100\\%\\_off\\\\");
    }

    #[test]
    fn requests_are_checked() {
        let req = |json: serde_json::Value| serde_json::from_value::<FunnelRequest>(json).unwrap();
        let one = req(serde_json::json!({"steps": [{"event": "a"}], "from": 0, "to": 1}));
        assert!(one.to_sql(None).unwrap_err().0.contains("2 to 10 steps"));
        let both = req(
            serde_json::json!({"steps": [{"event": "a", "page": "/"}, {"event": "b"}], "from": 0, "to": 1}),
        );
        assert!(both.to_sql(None).unwrap_err().0.contains("name one event"));
        let ok = req(
            serde_json::json!({"steps": [{"page": "/products/*"}, {"event": "add_to_cart"}], "from": 0, "to": 1}),
        );
        assert!(ok.to_sql(Some("country")).is_ok());
        assert!(
            ok.to_sql(Some("nope"))
                .unwrap_err()
                .0
                .contains("not a dimension")
        );
        assert!(
            ok.to_sql(Some("name"))
                .unwrap_err()
                .0
                .contains("not a dimension")
        );
    }
}
