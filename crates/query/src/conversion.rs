//! What slowness costs: how sessions convert (send a business event) and what they earn,
//! by the rating of their worst LCP, INP or CLS, overall or page by page; and, poor against
//! good, the change in conversion with its 95% confidence interval and the revenue that
//! change is worth.

use crate::model::{self, Filter, InvalidQuery, column_value, filter_sql, quote_str};
use crate::{QueryResult, Table};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// A conversion question.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConversionRequest {
    /// The business event that counts as converting (`checkout`, `sign_up`).
    pub event: String,
    /// `lcp` (default), `inp` or `cls`: the vital whose worst value in the session rates it.
    #[serde(default)]
    pub vital: Option<String>,
    /// Page by page: each session rated by its worst value on that page, for the pages
    /// with most sessions.
    #[serde(default)]
    pub by_page: bool,
    /// Conditions on the vital's rows choosing the sessions (e.g. `device_type`).
    #[serde(default)]
    pub filters: Vec<Filter>,
    /// Start, ms, inclusive.
    pub from: i64,
    /// End, ms, exclusive.
    pub to: i64,
}

/// Pages answered `by_page`: the ones with most rated sessions.
pub const CONVERSION_PAGES: usize = 50;

/// The answer: one row per rating (and page), and the cost of poor against good.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Conversion {
    /// Column names: `[page_path,] rating, sessions, converted, rate, revenue,
    /// revenue_per_session, rate_low, rate_high` (the rate's 95% Wilson interval).
    pub columns: Vec<String>,
    /// Rows.
    pub rows: Vec<Vec<Value>>,
    /// Poor against good, overall (absent page by page or without both buckets).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub impact: Option<Impact>,
}

/// What sessions rated poor convert and earn against good ones.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Impact {
    /// `LCP`, `INP` or `CLS`.
    pub vital: String,
    /// Sessions rated good.
    pub good_sessions: u64,
    /// Sessions rated poor.
    pub poor_sessions: u64,
    /// Conversion rate of good sessions.
    pub good_rate: f64,
    /// Conversion rate of poor sessions.
    pub poor_rate: f64,
    /// `poor_rate / good_rate − 1` (−0.31: poor sessions convert 31% less).
    pub relative_change: Option<f64>,
    /// The 95% interval of `relative_change` (Katz's log interval of the rate ratio);
    /// absent when either bucket has no conversion.
    pub relative_change_low: Option<f64>,
    /// Its upper end.
    pub relative_change_high: Option<f64>,
    /// Revenue per session, good.
    pub good_revenue_per_session: f64,
    /// Revenue per session, poor.
    pub poor_revenue_per_session: f64,
    /// What poor sessions would have earned more at good sessions' revenue per session:
    /// `poor_sessions × (good − poor revenue per session)`.
    pub lost_revenue: f64,
    /// The same in one sentence.
    pub sentence: String,
}

/// The 95% Wilson score interval of `k` successes in `n`.
pub fn wilson(k: u64, n: u64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 0.0);
    }
    let (k, n) = (k as f64, n as f64);
    let z = 1.959_963_984_540_054_f64;
    let p = k / n;
    let denom = 1.0 + z * z / n;
    let centre = (p + z * z / (2.0 * n)) / denom;
    let half = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt() / denom;
    // Exact at the ends: rounding would leave a low of 1e-17 when nothing converted.
    let low = if k == 0.0 {
        0.0
    } else {
        (centre - half).max(0.0)
    };
    let high = if k == n {
        1.0
    } else {
        (centre + half).min(1.0)
    };
    (low, high)
}

/// 1234567.8 as `1,234,568`.
fn grouped(v: f64) -> String {
    let whole = format!("{:.0}", v.abs());
    let mut out = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if v < -0.5 { format!("-{out}") } else { out }
}

fn percent(v: f64) -> String {
    format!("{:.0}%", (v * 100.0).abs())
}

impl ConversionRequest {
    /// The vital's name as stored.
    pub fn vital_name(&self) -> Result<&'static str, InvalidQuery> {
        match self
            .vital
            .as_deref()
            .unwrap_or("lcp")
            .to_ascii_lowercase()
            .as_str()
        {
            "lcp" => Ok("LCP"),
            "inp" => Ok("INP"),
            "cls" => Ok("CLS"),
            other => Err(InvalidQuery(format!(
                "vital {other:?}: use lcp, inp or cls"
            ))),
        }
    }

    /// The SQL over `vitals` and `custom_events`.
    pub fn to_sql(&self) -> Result<String, InvalidQuery> {
        if self.from >= self.to {
            return Err(InvalidQuery("from must be before to".into()));
        }
        if self.event.is_empty() || self.event.len() > 200 {
            return Err(InvalidQuery("event must be 1 to 200 bytes".into()));
        }
        model::check_filters("filters", &self.filters)?;
        let vital = self.vital_name()?;
        let mut chosen = String::new();
        for f in &self.filters {
            chosen.push_str(" AND ");
            chosen.push_str(&filter_sql(Table::Vitals, f)?);
        }
        let value = column_value(Table::Vitals.column("value").expect("vitals.value"));
        // Revenue is summed in the stored fixed point, as 128-bit decimals (an Int64 sum
        // wraps past 9.2e18, i.e. 9.2e15 of currency at the 0.001 scale), and scaled once:
        // exact, and the same whatever order the rows are added in.
        let scale = match Table::CustomEvents.column("value").map(|c| c.ty) {
            Some(vigil_model::Type::Fixed(scale)) => scale,
            _ => unreachable!("custom_events.value is fixed point"),
        };
        let t = vigil_protocol::thresholds(vital).expect("thresholds of LCP, INP and CLS");
        let (page, page_out, group, order) = if self.by_page {
            (", \"page_path\"", "s.\"page_path\", ", "1, 2", "1, ")
        } else {
            ("", "", "1", "")
        };
        let (from, to) = (self.from, self.to);
        Ok(format!(
            "WITH s AS (SELECT \"session_id\"{page}, MAX({value}) AS v FROM \"vitals\" \
               WHERE \"name\" = '{vital}' AND \"ts\" >= {from} AND \"ts\" < {to}{chosen} GROUP BY \"session_id\"{page}), \
             c AS (SELECT \"session_id\", COALESCE(SUM(CAST(\"value\" AS DECIMAL(38, 0))), 0) AS revenue FROM \"custom_events\" \
               WHERE \"name\" = {event} AND \"ts\" >= {from} AND \"ts\" < {to} GROUP BY \"session_id\") \
             SELECT {page_out}CASE WHEN s.v <= {good} THEN 'good' WHEN s.v <= {poor} THEN 'needs-improvement' ELSE 'poor' END AS \"rating\", \
               COUNT(*) AS \"sessions\", COUNT(c.\"session_id\") AS \"converted\", \
               CAST(COUNT(c.\"session_id\") AS DOUBLE) / COUNT(*) AS \"rate\", CAST(COALESCE(SUM(c.revenue), 0) AS DOUBLE) / {scale}.0 AS \"revenue\" \
             FROM s LEFT JOIN c ON s.\"session_id\" = c.\"session_id\" GROUP BY {group} \
             ORDER BY {order}CASE \"rating\" WHEN 'good' THEN 0 WHEN 'needs-improvement' THEN 1 ELSE 2 END",
            event = quote_str(&self.event),
            good = t.good,
            poor = t.poor,
        ))
    }

    /// The same question in ClickHouse's SQL, each table named by `table`, for `project`;
    /// `None` when a filter has no ClickHouse spelling. Sessions are keyed as text that
    /// tells a missing session id apart (the engine groups those rows as one session, and
    /// they never convert); a session without a conversion gets the join's defaults, 0.
    pub fn to_clickhouse_sql(
        &self,
        table: &dyn Fn(Table) -> String,
        project: u32,
    ) -> Result<Option<String>, InvalidQuery> {
        self.to_sql()?;
        let dialect = model::Dialect::ClickHouse { table: "", project };
        let mut chosen = String::new();
        for f in &self.filters {
            chosen.push_str(" AND ");
            match model::filter_sql_in(Table::Vitals, f, dialect) {
                Ok(sql) => chosen.push_str(&sql),
                Err(model::SqlError::Invalid(e)) => return Err(e),
                Err(model::SqlError::Unsupported(_)) => return Ok(None),
            }
        }
        let vital = self.vital_name()?;
        let value = dialect.value(Table::Vitals.column("value").expect("vitals.value"));
        let scale = match Table::CustomEvents.column("value").map(|c| c.ty) {
            Some(vigil_model::Type::Fixed(scale)) => scale,
            _ => unreachable!("custom_events.value is fixed point"),
        };
        let t = vigil_protocol::thresholds(vital).expect("thresholds of LCP, INP and CLS");
        let (page, page_out, order) = if self.by_page {
            (", \"page_path\"", "\"page_path\", ", "\"page_path\", ")
        } else {
            ("", "", "")
        };
        let key = "if(isNull(\"session_id\"), 'N', concat('V', assumeNotNull(\"session_id\")))";
        let (from, to) = (self.from, self.to);
        Ok(Some(format!(
            "SELECT {page_out}\"vigil_rating\" AS \"rating\", toInt64(count()) AS \"sessions\", \
               toInt64(sum(\"vigil_hit\")) AS \"converted\", sum(\"vigil_hit\") / count() AS \"rate\", \
               toFloat64(sum(\"vigil_revenue\")) / {scale}.0 AS \"revenue\", \
               toString(\"rate\") AS \"rate__text\", toString(\"revenue\") AS \"revenue__text\" \
             FROM (SELECT {page_out}multiIf(\"vigil_v\" <= {good}, 'good', \"vigil_v\" <= {poor}, \
               'needs-improvement', 'poor') AS \"vigil_rating\", \"vigil_hit\", \"vigil_revenue\" \
             FROM (SELECT {key} AS \"vigil_sk\"{page}, max({value}) AS \"vigil_v\" FROM {vitals} \
               WHERE \"project\" = {project} AND \"name\" = '{vital}' AND \"ts\" >= {from} AND \"ts\" < {to}{chosen} \
               GROUP BY \"vigil_sk\"{page}) AS \"s\" \
             ANY LEFT JOIN (SELECT {key} AS \"vigil_sk\", toUInt8(1) AS \"vigil_hit\", \
               ifNull(sum(toDecimal128(\"value\", 0)), toDecimal128(0, 0)) AS \"vigil_revenue\" FROM {events} \
               WHERE \"project\" = {project} AND isNotNull(\"session_id\") AND \"name\" = {event} \
               AND \"ts\" >= {from} AND \"ts\" < {to} GROUP BY \"vigil_sk\") AS \"c\" USING (\"vigil_sk\")) \
             GROUP BY {page_out}\"rating\" \
             ORDER BY {order}indexOf(['good', 'needs-improvement', 'poor'], \"rating\")",
            event = dialect.quote(&self.event),
            good = t.good,
            poor = t.poor,
            vitals = table(Table::Vitals),
            events = table(Table::CustomEvents),
        )))
    }

    /// The answer's columns (before [`Self::answer`] adds its own) and the JSON kind of
    /// their values.
    pub fn output_columns(&self) -> Vec<(String, model::OutputKind)> {
        use model::OutputKind::{Float, Int, Text};
        self.by_page
            .then(|| ("page_path".to_owned(), Text))
            .into_iter()
            .chain([
                ("rating".to_owned(), Text),
                ("sessions".to_owned(), Int),
                ("converted".to_owned(), Int),
                ("rate".to_owned(), Float),
                ("revenue".to_owned(), Float),
            ])
            .collect()
    }

    /// The answer from the SQL's rows.
    pub fn answer(&self, result: QueryResult) -> Result<Conversion, InvalidQuery> {
        let offset = usize::from(self.by_page);
        let mut rows = result.rows;
        if self.by_page {
            // The pages with most rated sessions, their ratings in order.
            let mut totals: Vec<(String, u64)> = Vec::new();
            for r in &rows {
                let page = r[0].as_str().unwrap_or_default().to_owned();
                let n = r[2].as_u64().unwrap_or(0);
                match totals.iter_mut().find(|(p, _)| *p == page) {
                    Some((_, t)) => *t += n,
                    None => totals.push((page, n)),
                }
            }
            totals.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            totals.truncate(CONVERSION_PAGES);
            let rank = |p: &str| totals.iter().position(|(t, _)| t == p);
            rows.retain(|r| rank(r[0].as_str().unwrap_or_default()).is_some());
            rows.sort_by_key(|r| rank(r[0].as_str().unwrap_or_default()));
        }
        for r in &mut rows {
            let sessions = r[offset + 1].as_u64().unwrap_or(0);
            let converted = r[offset + 2].as_u64().unwrap_or(0);
            let revenue = r[offset + 4].as_f64().unwrap_or(0.0);
            let (low, high) = wilson(converted, sessions);
            r.push(json!(if sessions > 0 {
                revenue / sessions as f64
            } else {
                0.0
            }));
            r.push(json!(low));
            r.push(json!(high));
        }
        let mut columns = result.columns;
        columns.extend(["revenue_per_session", "rate_low", "rate_high"].map(String::from));
        let impact = if self.by_page {
            None
        } else {
            impact(self.vital_name()?, &rows)
        };
        Ok(Conversion {
            columns,
            rows,
            impact,
        })
    }
}

fn impact(vital: &str, rows: &[Vec<Value>]) -> Option<Impact> {
    let bucket = |name: &str| {
        rows.iter().find(|r| r[0] == name).map(|r| {
            (
                r[1].as_u64().unwrap_or(0),
                r[2].as_u64().unwrap_or(0),
                r[4].as_f64().unwrap_or(0.0),
            )
        })
    };
    let (ng, xg, rg) = bucket("good")?;
    let (np, xp, rp) = bucket("poor")?;
    if ng == 0 || np == 0 {
        return None;
    }
    let (pg, pp) = (xg as f64 / ng as f64, xp as f64 / np as f64);
    let relative = (xg > 0).then(|| pp / pg - 1.0);
    let (low, high) = if xg > 0 && xp > 0 {
        let se = (1.0 / xp as f64 - 1.0 / np as f64 + 1.0 / xg as f64 - 1.0 / ng as f64)
            .max(0.0)
            .sqrt();
        let log_rr = (pp / pg).ln();
        let z = 1.959_963_984_540_054_f64;
        (
            Some((log_rr - z * se).exp() - 1.0),
            Some((log_rr + z * se).exp() - 1.0),
        )
    } else {
        (None, None)
    };
    let (rps_good, rps_poor) = (rg / ng as f64, rp / np as f64);
    let lost = np as f64 * (rps_good - rps_poor);
    let counts = format!(
        "{} poor and {} good sessions",
        grouped(np as f64),
        grouped(ng as f64)
    );
    let sentence = match relative {
        None => format!(
            "No session with good {vital} converted in this period ({counts}), so there is nothing to compare."
        ),
        Some(r) => {
            let direction = if r <= 0.0 { "less" } else { "more" };
            let interval = match (low, high) {
                (Some(l), Some(h)) if (l <= 0.0) == (h <= 0.0) => format!(
                    "95% CI {} to {} {direction}",
                    percent(if r <= 0.0 { h } else { l }),
                    percent(if r <= 0.0 { l } else { h })
                ),
                (Some(l), Some(h)) => format!(
                    "95% CI from {} less to {} more: not a clear difference",
                    percent(l.min(0.0)),
                    percent(h.max(0.0))
                ),
                _ => "no interval: a bucket has no conversion".into(),
            };
            let money = if lost > 0.0 {
                format!(": about {} of revenue in this period", grouped(lost))
            } else {
                String::new()
            };
            format!(
                "Sessions with poor {vital} convert {} {direction} than sessions with good {vital} ({interval}; {counts}){money}.",
                percent(r)
            )
        }
    };
    Some(Impact {
        vital: vital.to_owned(),
        good_sessions: ng,
        poor_sessions: np,
        good_rate: pg,
        poor_rate: pp,
        relative_change: relative,
        relative_change_low: low,
        relative_change_high: high,
        good_revenue_per_session: rps_good,
        poor_revenue_per_session: rps_poor,
        lost_revenue: lost,
        sentence,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_matches_its_formula() {
        let (l, h) = wilson(10, 100);
        assert!(
            (l - 0.05523).abs() < 1e-4 && (h - 0.17437).abs() < 1e-4,
            "{l} {h}"
        );
        assert_eq!(wilson(0, 0), (0.0, 0.0));
        let (l, h) = wilson(0, 10);
        assert_eq!(l, 0.0);
        assert_eq!(wilson(7, 7).1, 1.0);
        assert!(h > 0.27 && h < 0.28);
    }

    #[test]
    fn the_sentence_says_the_cost() {
        let rows = vec![
            vec![
                json!("good"),
                json!(1000),
                json!(100),
                json!(0.1),
                json!(5000.0),
            ],
            vec![
                json!("poor"),
                json!(500),
                json!(30),
                json!(0.06),
                json!(1500.0),
            ],
        ];
        let i = impact("LCP", &rows).unwrap();
        assert!((i.relative_change.unwrap() + 0.4).abs() < 1e-9);
        assert_eq!(i.lost_revenue, 500.0 * (5.0 - 3.0));
        assert!(
            i.sentence.starts_with(
                "Sessions with poor LCP convert 40% less than sessions with good LCP (95% CI"
            ),
            "{}",
            i.sentence
        );
        assert!(
            i.sentence.ends_with(
                "500 poor and 1,000 good sessions): about 1,000 of revenue in this period."
            ),
            "{}",
            i.sentence
        );
        assert_eq!(grouped(1234567.8), "1,234,568");
    }
}
