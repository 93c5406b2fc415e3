//! Error groups: one row per fingerprint with its figures (events, sessions, users affected,
//! first and last seen, users on critical pages), and the breakdowns of one group. Errors
//! stored before grouping (no fingerprint) group by type and message under a `legacy:` key,
//! as they did. Mobile crashes group the same way, over the `crashes` table.

use crate::model::{
    Dialect, Filter, InvalidQuery, OutputKind, SqlError, check_filters, filter_sql_in, quote_str,
};
use serde::Deserialize;
use vigil_store::Table;

/// A group's key in SQL: the fingerprint, or for errors stored before grouping existed,
/// `legacy:` with the type and message (how they were grouped then).
pub const GROUP_KEY_SQL: &str =
    "COALESCE(\"fingerprint\", concat('legacy:', \"error_type\", ': ', \"message\"))";

/// Who an error affected: the user id when the application set one, else the session.
const AFFECTED_SQL: &str = "COALESCE(NULLIF(\"user_id\", ''), \"session_id\")";

/// The events grouped: JavaScript errors or mobile crashes. Both tables have the columns the
/// group queries read (`fingerprint`, `error_type`, `message`, `culprit`, `release`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum GroupedTable {
    /// `errors`.
    #[default]
    Errors,
    /// `crashes`: every crash is unhandled.
    Crashes,
}

impl GroupedTable {
    /// The table.
    pub fn table(self) -> Table {
        match self {
            GroupedTable::Errors => Table::Errors,
            GroupedTable::Crashes => Table::Crashes,
        }
    }

    fn name(self) -> &'static str {
        self.table().name()
    }

    /// How many of a group's events were handled.
    fn handled_sql(self) -> &'static str {
        match self {
            GroupedTable::Errors => "SUM(CASE WHEN \"handled\" THEN 1 ELSE 0 END)",
            GroupedTable::Crashes => "0",
        }
    }
}

/// Most fingerprints a search may name or exclude.
pub const MAX_GROUP_KEYS: usize = 10_000;

/// What to list.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorGroupSearch {
    /// Start of the range, ms since the epoch, inclusive.
    pub from: i64,
    /// End of the range, ms since the epoch, exclusive.
    pub to: i64,
    /// Conditions on the errors (any column of `errors`).
    #[serde(default)]
    pub filters: Vec<Filter>,
    /// `impact` (default: users affected, those on critical pages ten times), `users`,
    /// `events`, `sessions`, `last_seen` or `first_seen`.
    #[serde(default)]
    pub order_by: Option<String>,
    /// Most rows, 1–1000 (default 100).
    #[serde(default)]
    pub limit: Option<usize>,
    /// Errors or crashes (set by the route, not the body).
    #[serde(skip)]
    pub table: GroupedTable,
}

/// The output columns of a group search, in order.
pub const GROUP_COLUMNS: [&str; 13] = [
    "fingerprint",
    "events",
    "sessions",
    "users",
    "critical_users",
    "impact",
    "first_seen",
    "last_seen",
    "error_type",
    "message",
    "culprit",
    "handled",
    "last_release",
];

/// Which groups a search covers, besides its filters (from the groups' states).
#[derive(Debug, Clone, Default, PartialEq)]
pub enum GroupSet {
    /// Every group.
    #[default]
    All,
    /// Only these.
    Only(Vec<String>),
    /// All but these.
    Except(Vec<String>),
}

/// `page_path LIKE …` for critical page patterns (`*` is any text).
fn critical_sql(critical_pages: &[String], dialect: Dialect<'_>) -> String {
    if critical_pages.is_empty() {
        return dialect.constant(false).to_owned();
    }
    critical_pages
        .iter()
        .map(|p| {
            let like = p
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
                .replace('*', "%");
            format!("\"page_path\" LIKE {}", dialect.quote(&like))
        })
        .collect::<Vec<_>>()
        .join(" OR ")
}

/// The condition that a row is in one of the named groups: the group key among `keys`,
/// and, when no key is a `legacy:` one, the same as a plain condition on `fingerprint`
/// (a key that is not `legacy:` is a fingerprint), which the remote store's scans and the
/// segments' statistics apply before the key is computed.
fn in_groups_sql(keys: &[String]) -> Result<String, InvalidQuery> {
    let list = keys_sql(keys)?;
    let mut sql = format!("{GROUP_KEY_SQL} IN ({list})");
    if !keys.iter().any(|k| k.starts_with("legacy:")) {
        sql.push_str(&format!(" AND \"fingerprint\" IN ({list})"));
    }
    Ok(sql)
}

/// The condition that a row is in the group `key` (see [`in_groups_sql`]).
fn in_group_sql(key: &str) -> String {
    let mut sql = format!("{GROUP_KEY_SQL} = {}", quote_str(key));
    if !key.starts_with("legacy:") {
        sql.push_str(&format!(" AND \"fingerprint\" = {}", quote_str(key)));
    }
    sql
}

fn keys_sql(keys: &[String]) -> Result<String, InvalidQuery> {
    if keys.len() > MAX_GROUP_KEYS {
        return Err(InvalidQuery(format!(
            "at most {MAX_GROUP_KEYS} groups can be named"
        )));
    }
    Ok(keys
        .iter()
        .map(|k| quote_str(k))
        .collect::<Vec<_>>()
        .join(", "))
}

/// The parts of a group search both dialects write alike.
struct SearchParts {
    conditions: Vec<String>,
    order: &'static str,
    limit: usize,
}

impl ErrorGroupSearch {
    /// Checks the search and writes its conditions in `dialect`.
    fn parts(&self, set: &GroupSet, dialect: Dialect<'_>) -> Result<SearchParts, SqlError> {
        let (from, to) = (self.from, self.to);
        if from >= to {
            return Err(InvalidQuery("from must be before to".into()).into());
        }
        check_filters("filters", &self.filters)?;
        let limit = self.limit.unwrap_or(100);
        if !(1..=1000).contains(&limit) {
            return Err(InvalidQuery("limit must be between 1 and 1000".into()).into());
        }
        let order = match self.order_by.as_deref().unwrap_or("impact") {
            "impact" => "impact",
            "users" => "users",
            "events" => "events",
            "sessions" => "sessions",
            "last_seen" => "last_seen",
            "first_seen" => "first_seen",
            other => {
                return Err(InvalidQuery(format!(
                    "order_by {other:?}: use impact, users, events, sessions, last_seen or first_seen"
                ))
                .into());
            }
        };
        let mut conditions = vec![format!("\"ts\" >= {from} AND \"ts\" < {to}")];
        for f in &self.filters {
            conditions.push(filter_sql_in(self.table.table(), f, dialect)?);
        }
        let keys = |keys: &[String]| -> Result<String, InvalidQuery> {
            if keys.len() > MAX_GROUP_KEYS {
                return Err(InvalidQuery(format!(
                    "at most {MAX_GROUP_KEYS} groups can be named"
                )));
            }
            Ok(keys
                .iter()
                .map(|k| dialect.quote(k))
                .collect::<Vec<_>>()
                .join(", "))
        };
        match set {
            GroupSet::All => {}
            GroupSet::Only(k) if k.is_empty() => conditions.push(dialect.constant(false).into()),
            GroupSet::Only(k) => conditions.push(format!("{GROUP_KEY_SQL} IN ({})", keys(k)?)),
            GroupSet::Except(k) if k.is_empty() => {}
            GroupSet::Except(k) => {
                conditions.push(format!("{GROUP_KEY_SQL} NOT IN ({})", keys(k)?))
            }
        }
        Ok(SearchParts {
            conditions,
            order,
            limit,
        })
    }

    /// The search's SQL over `errors`, with the columns of [`GROUP_COLUMNS`].
    pub fn to_sql(
        &self,
        set: &GroupSet,
        critical_pages: &[String],
    ) -> Result<String, InvalidQuery> {
        let SearchParts {
            conditions,
            order,
            limit,
        } = match self.parts(set, Dialect::DataFusion) {
            Ok(parts) => parts,
            Err(SqlError::Invalid(e)) => return Err(e),
            Err(SqlError::Unsupported(what)) => {
                unreachable!("the embedded engine spells every search, {what} too")
            }
        };
        let critical = critical_sql(critical_pages, Dialect::DataFusion);
        Ok(format!(
            "SELECT \"fingerprint\", \"events\", \"sessions\", \"users\", \"critical_users\", \
               \"users\" + 9 * \"critical_users\" AS \"impact\", \"first_seen\", \"last_seen\", \
               \"error_type\", \"message\", \"culprit\", \"handled\", \"last_release\" FROM (\
             SELECT {GROUP_KEY_SQL} AS \"fingerprint\", COUNT(*) AS \"events\", \
               COUNT(DISTINCT \"session_id\") AS \"sessions\", COUNT(DISTINCT {AFFECTED_SQL}) AS \"users\", \
               COUNT(DISTINCT CASE WHEN {critical} THEN {AFFECTED_SQL} END) AS \"critical_users\", \
               MIN(\"ts\") AS \"first_seen\", MAX(\"ts\") AS \"last_seen\", \
               last_value(\"error_type\" ORDER BY \"ts\") AS \"error_type\", \
               last_value(\"message\" ORDER BY \"ts\") AS \"message\", \
               last_value(\"culprit\" ORDER BY \"ts\") AS \"culprit\", \
               {handled} AS \"handled\", \
               last_value(\"release\" ORDER BY \"ts\") AS \"last_release\" \
             FROM \"{table}\" WHERE {conditions} GROUP BY 1) g \
             ORDER BY \"{order}\" DESC, \"fingerprint\" LIMIT {limit}",
            conditions = conditions.join(" AND "),
            handled = self.table.handled_sql(),
            table = self.table.name(),
        ))
    }

    /// The same search in ClickHouse's SQL over `table` (as the query names it) for
    /// `project`; `None` when a filter has no ClickHouse spelling. A group's latest type,
    /// message, culprit and release are those of its latest event even when NULL
    /// (`argMax` of a one-element tuple: `argMax` of a nullable value skips NULLs).
    /// Aliases are prefixed inside: ClickHouse resolves a name to an alias before a column,
    /// and `fingerprint` is both.
    pub fn to_clickhouse_sql(
        &self,
        set: &GroupSet,
        critical_pages: &[String],
        table: &str,
        project: u32,
    ) -> Result<Option<String>, InvalidQuery> {
        let dialect = Dialect::ClickHouse { table, project };
        let SearchParts {
            mut conditions,
            order,
            limit,
        } = match self.parts(set, dialect) {
            Ok(parts) => parts,
            Err(SqlError::Invalid(e)) => return Err(e),
            Err(SqlError::Unsupported(_)) => return Ok(None),
        };
        conditions.push(format!("\"project\" = {project}"));
        let critical = critical_sql(critical_pages, dialect);
        let affected = "coalesce(nullIf(\"user_id\", ''), \"session_id\")";
        let latest = |c: &str| format!("tupleElement(argMax(tuple(\"{c}\"), \"ts\"), 1)");
        let handled = match self.table {
            GroupedTable::Errors => "toInt64(countIf(\"handled\" = 1))",
            GroupedTable::Crashes => "toInt64(0)",
        };
        Ok(Some(format!(
            "SELECT \"vigil_key\" AS \"fingerprint\", \"vigil_events\" AS \"events\", \
               \"vigil_sessions\" AS \"sessions\", \"vigil_users\" AS \"users\", \
               \"vigil_critical\" AS \"critical_users\", \
               \"vigil_users\" + 9 * \"vigil_critical\" AS \"impact\", \
               \"vigil_first\" AS \"first_seen\", \"vigil_last\" AS \"last_seen\", \
               \"vigil_type\" AS \"error_type\", \"vigil_message\" AS \"message\", \
               \"vigil_culprit\" AS \"culprit\", \"vigil_handled\" AS \"handled\", \
               \"vigil_release\" AS \"last_release\" FROM (\
             SELECT {GROUP_KEY_SQL} AS \"vigil_key\", count() AS \"vigil_events\", \
               ifNull(uniqExact(\"session_id\"), 0) AS \"vigil_sessions\", \
               ifNull(uniqExact({affected}), 0) AS \"vigil_users\", \
               ifNull(uniqExact(if({critical}, {affected}, NULL)), 0) AS \"vigil_critical\", \
               min(\"ts\") AS \"vigil_first\", max(\"ts\") AS \"vigil_last\", \
               {} AS \"vigil_type\", {} AS \"vigil_message\", {} AS \"vigil_culprit\", \
               {handled} AS \"vigil_handled\", {} AS \"vigil_release\" \
             FROM {table} WHERE {conditions} GROUP BY \"vigil_key\") AS \"g\" \
             ORDER BY \"{order}\" DESC, \"fingerprint\" ASC LIMIT {limit}",
            latest("error_type"),
            latest("message"),
            latest("culprit"),
            latest("release"),
            conditions = conditions.join(" AND "),
        )))
    }

    /// The answer's columns and the JSON kind of their values.
    pub fn output_columns() -> Vec<(String, OutputKind)> {
        GROUP_COLUMNS
            .iter()
            .map(|&c| {
                let kind = match c {
                    "fingerprint" | "error_type" | "message" | "culprit" | "last_release" => {
                        OutputKind::Text
                    }
                    _ => OutputKind::Int,
                };
                (c.to_owned(), kind)
            })
            .collect()
    }
}

/// Events per time bucket of the given groups: rows of (fingerprint, bucket start, count),
/// `buckets` buckets over the range.
pub fn group_series_sql(
    grouped: GroupedTable,
    keys: &[String],
    from: i64,
    to: i64,
    buckets: i64,
) -> Result<String, InvalidQuery> {
    if from >= to || !(1..=1000).contains(&buckets) {
        return Err(InvalidQuery(
            "a series needs from < to and 1 to 1000 buckets".into(),
        ));
    }
    let width = ((to - from) / buckets).max(1);
    Ok(format!(
        "SELECT {GROUP_KEY_SQL} AS \"fingerprint\", {from} + ((\"ts\" - {from}) / {width}) * {width} AS \"time\", \
         COUNT(*) AS \"events\" FROM \"{}\" WHERE \"ts\" >= {from} AND \"ts\" < {to} \
         AND {} GROUP BY 1, 2 ORDER BY 1, 2",
        grouped.name(),
        in_groups_sql(keys)?
    ))
}

/// The releases the given groups were seen in, each with its last event's time: rows of
/// (fingerprint, release, last_seen). The caller compares `last_seen` with each group's own
/// time (its resolution): one flat `IN` list rather than a condition per group, whose `OR`
/// chain would nest as deep as there are groups in the planner's recursive passes.
pub fn releases_seen_sql(
    grouped: GroupedTable,
    keys: &[String],
    from: i64,
    to: i64,
) -> Result<String, InvalidQuery> {
    if keys.is_empty() {
        return Err(InvalidQuery("no groups named".into()));
    }
    Ok(format!(
        "SELECT {GROUP_KEY_SQL} AS \"fingerprint\", COALESCE(\"release\", '') AS \"release\", MAX(\"ts\") AS \"last_seen\" \
         FROM \"{}\" WHERE \"ts\" >= {from} AND \"ts\" < {to} AND {} GROUP BY 1, 2",
        grouped.name(),
        in_groups_sql(keys)?
    ))
}

/// When each named group was first seen from `from` to `to`: rows of (fingerprint,
/// first_seen).
pub fn first_seen_sql(
    grouped: GroupedTable,
    keys: &[String],
    from: i64,
    to: i64,
) -> Result<String, InvalidQuery> {
    if keys.is_empty() {
        return Err(InvalidQuery("no groups named".into()));
    }
    Ok(format!(
        "SELECT {GROUP_KEY_SQL} AS \"fingerprint\", MIN(\"ts\") AS \"first_seen\" \
         FROM \"{}\" WHERE \"ts\" >= {from} AND \"ts\" < {to} AND {} GROUP BY 1",
        grouped.name(),
        in_groups_sql(keys)?
    ))
}

/// One group's counts by a dimension (`release`, `browser`, `os`, `page_path`, …): rows of
/// (value, events, users), most events first, at most `limit`.
pub fn group_breakdown_sql(
    grouped: GroupedTable,
    key: &str,
    dimension: &str,
    from: i64,
    to: i64,
    limit: usize,
) -> Result<String, InvalidQuery> {
    let table = grouped.name();
    if grouped.table().column(dimension).is_none() {
        return Err(InvalidQuery(format!("{table} has no column {dimension:?}")));
    }
    Ok(format!(
        "SELECT \"{dimension}\" AS \"value\", COUNT(*) AS \"events\", COUNT(DISTINCT {AFFECTED_SQL}) AS \"users\" \
         FROM \"{table}\" WHERE \"ts\" >= {from} AND \"ts\" < {to} AND {} \
         GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT {limit}",
        in_group_sql(key)
    ))
}

/// One group's latest events, whole: every column, newest first.
pub fn group_events_sql(
    grouped: GroupedTable,
    key: &str,
    from: i64,
    to: i64,
    limit: usize,
) -> String {
    format!(
        "SELECT * FROM \"{}\" WHERE \"ts\" >= {from} AND \"ts\" < {to} AND {} \
         ORDER BY \"ts\" DESC LIMIT {limit}",
        grouped.name(),
        in_group_sql(key)
    )
}

/// The sessions one group hit, most recent first: (session_id, user_id, last error, errors,
/// browser, os, country, page_path).
pub fn group_sessions_sql(
    grouped: GroupedTable,
    key: &str,
    from: i64,
    to: i64,
    limit: usize,
) -> String {
    format!(
        "SELECT \"session_id\", MAX(\"user_id\") AS \"user_id\", MAX(\"ts\") AS \"last_seen\", COUNT(*) AS \"events\", \
         MAX(\"browser\") AS \"browser\", MAX(\"os\") AS \"os\", MAX(\"country\") AS \"country\", \
         last_value(\"page_path\" ORDER BY \"ts\") AS \"page_path\" \
         FROM \"{}\" WHERE \"ts\" >= {from} AND \"ts\" < {to} AND {} \
         GROUP BY 1 ORDER BY 3 DESC LIMIT {limit}",
        grouped.name(),
        in_group_sql(key)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn search(json: serde_json::Value) -> ErrorGroupSearch {
        serde_json::from_value(json).expect("well-formed")
    }

    #[test]
    fn a_fingerprint_key_is_also_a_plain_condition_and_a_legacy_one_is_not() {
        let one = in_group_sql("ab12");
        assert!(one.ends_with("AND \"fingerprint\" = 'ab12'"), "{one}");
        let legacy = in_group_sql("legacy:TypeError: x");
        assert!(!legacy.contains("AND \"fingerprint\""), "{legacy}");
        let both = in_groups_sql(&["ab12".into(), "legacy:E: m".into()]).unwrap();
        assert!(!both.contains("AND \"fingerprint\""), "{both}");
        let keys = in_groups_sql(&["ab12".into(), "cd'34".into()]).unwrap();
        assert!(
            keys.ends_with("AND \"fingerprint\" IN ('ab12', 'cd''34')"),
            "{keys}"
        );
    }

    #[test]
    fn bad_searches_are_refused() {
        for bad in [
            serde_json::json!({"from": 5, "to": 1}),
            serde_json::json!({"from": 0, "to": 1, "limit": 0}),
            serde_json::json!({"from": 0, "to": 1, "order_by": "ts; DROP"}),
            serde_json::json!({"from": 0, "to": 1, "filters": [{"field": "nope", "op": "eq", "value": "x"}]}),
        ] {
            assert!(
                search(bad.clone()).to_sql(&GroupSet::All, &[]).is_err(),
                "{bad}"
            );
        }
        let many = GroupSet::Only((0..=MAX_GROUP_KEYS).map(|i| i.to_string()).collect());
        assert!(
            search(serde_json::json!({"from": 0, "to": 1}))
                .to_sql(&many, &[])
                .is_err()
        );
    }

    #[test]
    fn keys_and_patterns_are_quoted() {
        let sql = search(serde_json::json!({"from": 0, "to": 1}))
            .to_sql(
                &GroupSet::Except(vec!["a' OR '1'='1".into()]),
                &["/pay_ment/*".into(), "/it's".into()],
            )
            .unwrap();
        assert!(sql.contains("NOT IN ('a'' OR ''1''=''1')"), "{sql}");
        assert!(sql.contains("LIKE '/pay\\_ment/%'"), "{sql}");
        assert!(sql.contains("LIKE '/it''s'"), "{sql}");
        assert!(group_breakdown_sql(GroupedTable::Errors, "k", "release; DROP", 0, 1, 5).is_err());
        // Crashes have no `handled` column: every crash counts as unhandled.
        let crashes = ErrorGroupSearch {
            table: GroupedTable::Crashes,
            ..search(serde_json::json!({"from": 0, "to": 1}))
        };
        let sql = crashes.to_sql(&GroupSet::All, &[]).unwrap();
        assert!(
            sql.contains("FROM \"crashes\"") && sql.contains("0 AS \"handled\""),
            "{sql}"
        );
        assert!(group_breakdown_sql(GroupedTable::Crashes, "k", "browser_x", 0, 1, 5).is_err());
        assert!(group_breakdown_sql(GroupedTable::Crashes, "k", "device_model", 0, 1, 5).is_ok());
    }
}
