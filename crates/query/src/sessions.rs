//! Session search: one row per session with its time span, counts and who it was, for the
//! sessions list. A session is found when at least one of its views matches the filters;
//! its figures then cover all its events in the range, not only the matching ones.

use crate::model::{Dialect, Filter, InvalidQuery, SqlError, check_filters, filter_sql_in};
use serde::Deserialize;
use vigil_store::Table;

/// What to look for.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionSearch {
    /// Start of the range, ms since the epoch, inclusive.
    pub from: i64,
    /// End of the range, ms since the epoch, exclusive.
    pub to: i64,
    /// Conditions on the session's views (any column of `views`), all of which must hold
    /// for at least one view.
    #[serde(default)]
    pub filters: Vec<Filter>,
    /// Only sessions with (true) or without (false) an error.
    #[serde(default)]
    pub has_error: Option<bool>,
    /// Only sessions with at least one error matching all of these (any column of `errors`,
    /// e.g. `error_type` and `message`): from an error to the sessions it hit.
    #[serde(default)]
    pub error_filters: Vec<Filter>,
    /// Only sessions with (true) or without (false) a session replay.
    #[serde(default)]
    pub has_replay: Option<bool>,
    /// The sessions of the range that have a replay, from the replay store (replay is kept
    /// beside the event tables): set by the server, never read from a request.
    #[serde(skip)]
    pub with_replay: Option<Vec<String>>,
    /// Only sessions lasting at least this long (ms, first to last event).
    #[serde(default)]
    pub min_duration: Option<f64>,
    /// Only sessions lasting at most this long (ms).
    #[serde(default)]
    pub max_duration: Option<f64>,
    /// `start` (default), `duration`, `views` or `errors`.
    #[serde(default)]
    pub order_by: Option<String>,
    /// Ascending instead of descending.
    #[serde(default)]
    pub ascending: bool,
    /// Most rows, 1–1000 (default 100).
    #[serde(default)]
    pub limit: Option<usize>,
}

/// Most sessions with a replay a `has_replay` search takes (they become a list in its SQL).
pub const MAX_REPLAY_SESSIONS: usize = 20_000;

/// The output columns, in order.
pub const SESSION_COLUMNS: [&str; 11] = [
    "session_id",
    "start",
    "end",
    "duration",
    "views",
    "errors",
    "user_id",
    "country",
    "device_type",
    "browser",
    "os",
];

/// The parts of a search both dialects write alike.
struct Parts {
    /// Conditions on a view that make its session match.
    matching: Vec<String>,
    /// The same on a mobile screen load.
    screen_matching: Vec<String>,
    /// Conditions on an error that make its session match, when the search has some.
    erring: Option<Vec<String>>,
    /// The output column to order by.
    order: &'static str,
    /// `ASC` or `DESC`.
    direction: &'static str,
    limit: usize,
}

impl SessionSearch {
    /// Checks the search and writes its conditions in `dialect`.
    fn parts(&self, dialect: Dialect<'_>) -> Result<Parts, SqlError> {
        let (from, to) = (self.from, self.to);
        if from >= to {
            return Err(InvalidQuery("from must be before to".into()).into());
        }
        check_filters("filters", &self.filters)?;
        check_filters("error_filters", &self.error_filters)?;
        let limit = self.limit.unwrap_or(100);
        if !(1..=1000).contains(&limit) {
            return Err(InvalidQuery("limit must be between 1 and 1000".into()).into());
        }
        let order = match self.order_by.as_deref().unwrap_or("start") {
            "start" => "start",
            "duration" => "duration",
            "views" => "views",
            "errors" => "errors",
            other => {
                return Err(InvalidQuery(format!(
                    "order_by {other:?}: use start, duration, views or errors"
                ))
                .into());
            }
        };
        for bound in [self.min_duration, self.max_duration].into_iter().flatten() {
            if !bound.is_finite() {
                return Err(InvalidQuery("durations must be finite numbers".into()).into());
            }
        }
        let range = format!("\"ts\" >= {from} AND \"ts\" < {to}");
        let mut matching = vec![range.clone()];
        for f in &self.filters {
            matching.push(filter_sql_in(Table::Views, f, dialect)?);
        }
        // A mobile app's views are its screens: its sessions match on their screen loads
        // when every filter names a column screens have (the context's, `screen`).
        let mut screen_matching = vec![range.clone()];
        for f in &self.filters {
            if Table::ScreenLoads.column(&f.field).is_none() {
                screen_matching = vec![dialect.constant(false).to_owned()];
                break;
            }
            screen_matching.push(filter_sql_in(Table::ScreenLoads, f, dialect)?);
        }
        match (self.has_replay, &self.with_replay) {
            (None, _) => {}
            (Some(_), None) => {
                return Err(InvalidQuery("has_replay: this server keeps no replay".into()).into());
            }
            (Some(_), Some(ids)) if ids.len() > MAX_REPLAY_SESSIONS => {
                return Err(InvalidQuery(format!(
                    "has_replay: more than {MAX_REPLAY_SESSIONS} sessions have a replay in this range; narrow the range"
                ))
                .into());
            }
            (Some(want), Some(ids)) if ids.is_empty() => {
                matching.push(dialect.constant(!want).to_owned());
                screen_matching.push(dialect.constant(!want).to_owned());
            }
            (Some(want), Some(ids)) => {
                let list = ids
                    .iter()
                    .map(|id| dialect.quote(id))
                    .collect::<Vec<_>>()
                    .join(", ");
                let not = if want { "" } else { "NOT " };
                matching.push(format!("\"session_id\" {not}IN ({list})"));
                screen_matching.push(format!("\"session_id\" {not}IN ({list})"));
            }
        }
        let erring = if self.error_filters.is_empty() {
            None
        } else {
            let mut erring = vec![range];
            for f in &self.error_filters {
                erring.push(filter_sql_in(Table::Errors, f, dialect)?);
            }
            Some(erring)
        };
        Ok(Parts {
            matching,
            screen_matching,
            erring,
            order,
            direction: if self.ascending { "ASC" } else { "DESC" },
            limit,
        })
    }

    /// Conditions on a session's figures (`errors`, `start` and `end` as named in `SQL`).
    fn outer_conditions(&self, errors: &str, start: &str, end: &str) -> Vec<String> {
        let mut outer = Vec::new();
        match self.has_error {
            Some(true) => outer.push(format!("{errors} > 0")),
            Some(false) => outer.push(format!("{errors} = 0")),
            None => {}
        }
        for (bound, op) in [(self.min_duration, ">="), (self.max_duration, "<=")] {
            if let Some(ms) = bound {
                outer.push(format!("({end} - {start}) {op} {ms}"));
            }
        }
        outer
    }

    /// Checks the search and writes its SQL over every table (for the time span), `views`
    /// and mobile `screen_loads` (for matching and who), and `errors` and `crashes`.
    pub fn to_sql(&self) -> Result<String, InvalidQuery> {
        let parts = match self.parts(Dialect::DataFusion) {
            Ok(parts) => parts,
            Err(SqlError::Invalid(e)) => return Err(e),
            Err(SqlError::Unsupported(what)) => {
                unreachable!("the embedded engine spells every search, {what} too")
            }
        };
        let Parts {
            matching,
            screen_matching,
            erring,
            order,
            direction,
            limit,
        } = parts;
        let (from, to) = (self.from, self.to);
        let range = format!("\"ts\" >= {from} AND \"ts\" < {to}");
        // Web page views and mobile screens, with what the search shows of a session.
        let views = ["views", "screen_loads"]
            .map(|t| {
                format!(
                    "SELECT \"session_id\", \"ts\", \"user_id\", \"country\", \"device_type\", \
                     \"browser\", \"os\" FROM \"{t}\""
                )
            })
            .join(" UNION ALL ");
        let x_range = format!("x.\"ts\" >= {from} AND x.\"ts\" < {to}");
        let spans = Table::EVENTS
            .iter()
            .map(|t| {
                format!(
                    "SELECT \"session_id\", \"ts\" FROM \"{}\" WHERE {range}",
                    t.name()
                )
            })
            .collect::<Vec<_>>()
            .join(" UNION ALL ");
        // Sessions with a matching error, as a join (DataFusion cannot decorrelate an IN
        // subquery here: every side has a session_id).
        let (erring_cte, erring_join) = match erring {
            None => (String::new(), String::new()),
            Some(erring) => (
                format!(
                    "ef AS (SELECT DISTINCT \"session_id\" AS \"erring\" FROM \"errors\" WHERE {}), ",
                    erring.join(" AND ")
                ),
                "JOIN ef ON v.\"session_id\" = ef.\"erring\" ".to_owned(),
            ),
        };
        let outer = self.outer_conditions("COALESCE(e.\"errors\", 0)", "t.\"start\"", "t.\"end\"");
        let outer = if outer.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", outer.join(" AND "))
        };
        Ok(format!(
            "WITH m AS (SELECT DISTINCT \"session_id\" FROM (\
               SELECT \"session_id\" FROM \"views\" WHERE {matching} UNION ALL \
               SELECT \"session_id\" FROM \"screen_loads\" WHERE {screen_matching})), \
             v AS (SELECT x.\"session_id\", COUNT(*) AS \"views\", MAX(x.\"user_id\") AS \"user_id\", \
               MAX(x.\"country\") AS \"country\", MAX(x.\"device_type\") AS \"device_type\", \
               MAX(x.\"browser\") AS \"browser\", MAX(x.\"os\") AS \"os\" \
               FROM ({views}) x JOIN m ON x.\"session_id\" = m.\"session_id\" \
               WHERE {x_range} GROUP BY x.\"session_id\"), \
             t AS (SELECT u.\"session_id\", MIN(u.\"ts\") AS \"start\", MAX(u.\"ts\") AS \"end\" \
               FROM ({spans}) u JOIN m ON u.\"session_id\" = m.\"session_id\" GROUP BY u.\"session_id\"), \
             {erring_cte}e AS (SELECT \"session_id\", COUNT(*) AS \"errors\" FROM (\
               SELECT \"session_id\" FROM \"errors\" WHERE {range} UNION ALL \
               SELECT \"session_id\" FROM \"crashes\" WHERE {range}) GROUP BY \"session_id\") \
             SELECT v.\"session_id\", t.\"start\", t.\"end\", t.\"end\" - t.\"start\" AS \"duration\", \
               v.\"views\", COALESCE(e.\"errors\", 0) AS \"errors\", v.\"user_id\", v.\"country\", \
               v.\"device_type\", v.\"browser\", v.\"os\" \
             FROM v JOIN t ON v.\"session_id\" = t.\"session_id\" {erring_join}\
               LEFT JOIN e ON v.\"session_id\" = e.\"session_id\" {outer} \
             ORDER BY \"{order}\" {direction}, \"session_id\" LIMIT {limit}",
            matching = matching.join(" AND "),
            screen_matching = screen_matching.join(" AND "),
        ))
    }

    /// The same search in ClickHouse's SQL (as old as 18.16: no table expressions in
    /// `WITH`, one join per `SELECT`, `GLOBAL IN` so that a set is computed once and sent to
    /// every shard), each table named by `table`; `None` when a filter has no ClickHouse
    /// spelling (attributes).
    ///
    /// Rows without a session id match nothing, as in the engine's joins. Without filters
    /// every session with a view in the range matches, so the sets are left out.
    pub fn to_clickhouse_sql(
        &self,
        table: &dyn Fn(Table) -> String,
        project: u32,
    ) -> Result<Option<String>, InvalidQuery> {
        let dialect = Dialect::ClickHouse { table: "", project };
        let parts = match self.parts(dialect) {
            Ok(parts) => parts,
            Err(SqlError::Invalid(e)) => return Err(e),
            Err(SqlError::Unsupported(_)) => return Ok(None),
        };
        let (from, to) = (self.from, self.to);
        let sid = "assumeNotNull(\"session_id\")";
        let rows = |t: Table, conditions: &[String]| {
            format!(
                "FROM {} WHERE \"project\" = {project} AND isNotNull(\"session_id\") AND {}",
                table(t),
                conditions.join(" AND ")
            )
        };
        let range = [format!("\"ts\" >= {from} AND \"ts\" < {to}")];
        // The sessions found, as conditions on `sid`.
        let mut found = Vec::new();
        if parts.matching.len() > 1 || parts.screen_matching.len() > 1 {
            found.push(format!(
                "\"sid\" GLOBAL IN (SELECT {sid} {} UNION ALL SELECT {sid} {})",
                rows(Table::Views, &parts.matching),
                rows(Table::ScreenLoads, &parts.screen_matching)
            ));
        }
        if let Some(erring) = &parts.erring {
            found.push(format!(
                "\"sid\" GLOBAL IN (SELECT {sid} {})",
                rows(Table::Errors, erring)
            ));
        }
        let found = if found.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", found.join(" AND "))
        };
        let views = [Table::Views, Table::ScreenLoads]
            .map(|t| {
                format!(
                    "SELECT {sid} AS \"sid\", \"user_id\", \"country\", \"device_type\", \"browser\", \"os\" {}",
                    rows(t, &range)
                )
            })
            .join(" UNION ALL ");
        let spans = Table::EVENTS
            .iter()
            .map(|&t| format!("SELECT {sid} AS \"sid\", \"ts\" {}", rows(t, &range)))
            .collect::<Vec<_>>()
            .join(" UNION ALL ");
        let errors = [Table::Errors, Table::Crashes]
            .map(|t| format!("SELECT {sid} AS \"sid\" {}", rows(t, &range)))
            .join(" UNION ALL ");
        let outer = self.outer_conditions("\"errors\"", "\"start\"", "\"end\"");
        let outer = if outer.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", outer.join(" AND "))
        };
        let Parts {
            order,
            direction,
            limit,
            ..
        } = parts;
        Ok(Some(format!(
            "SELECT \"sid\" AS \"session_id\", \"start\", \"end\", \"end\" - \"start\" AS \"duration\", \
               \"views\", \"errors\", \"user_id\", \"country\", \"device_type\", \"browser\", \"os\" \
             FROM (SELECT * FROM (\
               SELECT \"sid\", count() AS \"views\", max(\"user_id\") AS \"user_id\", \
                 max(\"country\") AS \"country\", max(\"device_type\") AS \"device_type\", \
                 max(\"browser\") AS \"browser\", max(\"os\") AS \"os\" \
               FROM ({views}) {found} GROUP BY \"sid\") AS \"v\" \
             ANY INNER JOIN (\
               SELECT \"sid\", min(\"ts\") AS \"start\", max(\"ts\") AS \"end\" \
               FROM ({spans}) {found} GROUP BY \"sid\") AS \"t\" USING (\"sid\")) AS \"vt\" \
             ANY LEFT JOIN (SELECT \"sid\", count() AS \"errors\" FROM ({errors}) GROUP BY \"sid\") AS \"e\" \
               USING (\"sid\") {outer} \
             ORDER BY \"{order}\" {direction}, \"session_id\" ASC LIMIT {limit}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn search(json: serde_json::Value) -> Result<String, InvalidQuery> {
        serde_json::from_value::<SessionSearch>(json)
            .expect("well-formed search")
            .to_sql()
    }

    #[test]
    fn rejects_bad_order_limit_range_and_fields() {
        for bad in [
            serde_json::json!({"from": 5, "to": 1}),
            serde_json::json!({"from": 0, "to": 1, "limit": 0}),
            serde_json::json!({"from": 0, "to": 1, "limit": 1001}),
            serde_json::json!({"from": 0, "to": 1, "order_by": "ts; DROP"}),
            serde_json::json!({"from": 0, "to": 1, "filters": [{"field": "nope", "op": "eq", "value": "x"}]}),
        ] {
            assert!(search(bad.clone()).is_err(), "{bad}");
        }
        assert!(
            serde_json::from_value::<SessionSearch>(
                serde_json::json!({"from": 0, "to": 1, "x": 1})
            )
            .is_err()
        );
    }

    #[test]
    fn quotes_filter_values() {
        let sql = search(serde_json::json!({
            "from": 0, "to": 1,
            "filters": [{"field": "user_id", "op": "contains", "value": "a' OR '1'='1"}],
            "has_error": true, "min_duration": 1000
        }))
        .unwrap();
        assert!(
            sql.contains("strpos(\"user_id\", 'a'' OR ''1''=''1') > 0"),
            "{sql}"
        );
        assert!(sql.contains("COALESCE(e.\"errors\", 0) > 0"));
        assert!(sql.contains(">= 1000"));
    }
}
