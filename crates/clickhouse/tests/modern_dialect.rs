//! The DDL and SQL Vigil generates for a current ClickHouse run in a current ClickHouse:
//! chdb (ClickHouse's engine as a Python library, `chdb-core` from PyPI, 26.x) creates every
//! table as Vigil would for that version (LowCardinality, codecs), takes the rows Vigil
//! inserts, answers Vigil's scan with its pushed conditions, adds a column, drops a
//! partition and runs an erasure; the scanned rows read back through Vigil's reader equal
//! the rows sent. The tests against a server run Debian's 18.16; this one catches what a
//! newer dialect refuses. The venv is made under ~/.cache on first use.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use vigil_clickhouse::convert::{
    batch_of, compiled_source, external_rows, external_structure, json_each_row, select_list,
};
use vigil_clickhouse::ddl::{
    Features, ServerVersion, column_definition, create_schema_table, create_table, quoted,
};
use vigil_model::Table;
use vigil_model::conformance::{backend_log, session_batch};

/// The chdb release the test runs (pinned: the dialect checked is a known one).
const CHDB_CORE: &str = "chdb-core==26.9.0";

/// A Python with chdb-core, in a venv kept under ~/.cache.
fn python() -> PathBuf {
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    let venv = PathBuf::from(home).join(".cache/vigil-chdb-venv");
    let python = venv.join("bin/python");
    let stamp = venv.join("installed");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(CHDB_CORE) {
        return python;
    }
    let _ = std::fs::remove_dir_all(&venv);
    let ok = |c: &mut Command| c.status().is_ok_and(|s| s.success());
    assert!(
        ok(Command::new("python3").args(["-m", "venv"]).arg(&venv)),
        "python3 -m venv failed (python3-venv missing?)"
    );
    assert!(
        ok(Command::new(&python).args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-input",
            CHDB_CORE
        ])),
        "pip install {CHDB_CORE} failed"
    );
    std::fs::write(&stamp, CHDB_CORE).unwrap();
    python
}

struct Answer {
    ok: bool,
    out: String,
    error: String,
}

fn run(statements: &[String]) -> Vec<Answer> {
    // Read at run time: a binary reused from another clone has its path in `env!`.
    let script = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"))
        .join("tests/chdb_run.py");
    let mut child = Command::new(python())
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(statements).unwrap().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "chdb_run.py failed");
    let answers: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    answers
        .into_iter()
        .map(|a| Answer {
            ok: a["ok"].as_bool().unwrap(),
            out: a["out"].as_str().unwrap().to_owned(),
            error: a["error"].as_str().unwrap().to_owned(),
        })
        .collect()
}

#[test]
fn the_generated_ddl_and_sql_run_in_a_current_clickhouse() {
    let version = ServerVersion::parse("26.9.2.1").unwrap();
    let features = Features::of(version);
    assert!(features.low_cardinality && features.codecs);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let rows = [
        session_batch(1, "s-modern", "ann", now - 60_000, 3),
        backend_log(1, now - 30_000),
    ];
    let mut statements = vec![
        "CREATE DATABASE IF NOT EXISTS vigil".to_owned(),
        create_schema_table("vigil"),
    ];
    for table in Table::ALL {
        statements.push(create_table("vigil", table, table.name(), features));
    }
    let mut sent = Vec::new();
    for r in &rows {
        for (table, batch) in r.batches() {
            let body = String::from_utf8(json_each_row(r.project, "i/segment-1", &batch)).unwrap();
            statements.push(format!(
                "INSERT INTO vigil.{} FORMAT JSONEachRow\n{body}",
                quoted(table.name())
            ));
            sent.push((table, batch));
        }
    }
    let scans: Vec<(Table, usize)> = sent
        .iter()
        .map(|(table, _)| {
            statements.push(format!(
                "SELECT {} FROM vigil.{} WHERE `project` = 1 AND `ts` >= 0 AND `ts` < {} \
                 AND `vigil_batch` NOT IN ('other/segment') AND isNotNull(`ts`) FORMAT JSONCompact",
                select_list(&table.schema()),
                quoted(table.name()),
                now + 1
            ));
            (*table, statements.len() - 1)
        })
        .collect();
    // Typed queries compiled to ClickHouse SQL: every aggregation (percentiles by array),
    // time buckets, each filter operator, a boolean dimension.
    let compiled: Vec<usize> = [
        serde_json::json!({"metric": "lcp", "aggregations": ["count", "p50", "p75", "p99", "min", "max", "avg", "sum",
                           "good", "needs_improvement", "poor", "sessions", "users"], "group_by": ["country", "time:1h"],
                           "filters": [{"field": "device_type", "op": "neq", "value": "tv'\\"},
                                       {"field": "value", "op": "gte", "value": 0}]}),
        serde_json::json!({"metric": "views", "aggregations": ["count"], "group_by": ["browser"],
                           "filters": [{"field": "page_path", "op": "contains", "value": "/"},
                                       {"field": "os", "op": "in", "value": ["Linux", "iOS"]},
                                       {"field": "user_id", "op": "exists"}], "order_by": "count", "limit": 5}),
        serde_json::json!({"metric": "errors", "aggregations": ["count", "sessions"], "group_by": ["handled"],
                           "filters": [{"field": "handled", "op": "eq", "value": true}]}),
        serde_json::json!({"metric": "requests.duration", "aggregations": ["avg", "error_rate", "p90"],
                           "group_by": ["status"], "filters": [{"field": "status", "op": "not_in", "value": [0]}]}),
    ]
    .into_iter()
    .map(|mut q| {
        (q["from"], q["to"]) = ((now - 86_400_000).into(), (now + 1).into());
        let q: vigil_query::Query = serde_json::from_value(q).unwrap();
        let (_, sql) = q
            .to_clickhouse_sql(&format!("vigil.{}", quoted(q_table(&q))), 1)
            .unwrap()
            .expect("these have a ClickHouse spelling");
        statements.push(format!("{sql} FORMAT JSONCompact"));
        statements.len() - 1
    })
    .collect();
    // Session searches compiled to ClickHouse SQL: no filter, filters on views, errors,
    // durations, replay.
    let searches: Vec<usize> = [
        serde_json::json!({}),
        serde_json::json!({"filters": [{"field": "browser", "op": "neq", "value": "x'\\"}], "order_by": "duration"}),
        serde_json::json!({"has_error": true, "error_filters": [{"field": "error_type", "op": "exists"}],
                           "min_duration": 0, "order_by": "errors", "ascending": true}),
        serde_json::json!({"has_replay": false, "max_duration": 1e9, "limit": 5}),
    ]
    .into_iter()
    .map(|mut q| {
        (q["from"], q["to"]) = ((now - 86_400_000).into(), (now + 1).into());
        let mut search: vigil_query::SessionSearch = serde_json::from_value(q).unwrap();
        search.with_replay = Some(vec!["s-other".into()]);
        let sql = search
            .to_clickhouse_sql(&|t| format!("vigil.{}", quoted(t.name())), 1)
            .unwrap()
            .expect("these have a ClickHouse spelling");
        statements.push(format!("{sql} FORMAT JSONCompact"));
        statements.len() - 1
    })
    .collect();
    // Error and crash group searches: every set, a filter, critical pages with LIKE's
    // special characters.
    let groups: Vec<usize> = [
        (
            vigil_query::GroupedTable::Errors,
            vigil_query::GroupSet::All,
        ),
        (
            vigil_query::GroupedTable::Errors,
            vigil_query::GroupSet::Except(vec!["k'\\".into()]),
        ),
        (
            vigil_query::GroupedTable::Crashes,
            vigil_query::GroupSet::Only(vec!["a".into(), "b".into()]),
        ),
        (
            vigil_query::GroupedTable::Errors,
            vigil_query::GroupSet::Only(Vec::new()),
        ),
    ]
    .into_iter()
    .map(|(table, set)| {
        let search = vigil_query::ErrorGroupSearch {
            from: now - 86_400_000,
            to: now + 1,
            filters: vec![
                serde_json::from_value(
                    serde_json::json!({"field": "message", "op": "contains", "value": "fail"}),
                )
                .unwrap(),
            ],
            order_by: Some("users".into()),
            limit: Some(10),
            table,
        };
        let sql = search
            .to_clickhouse_sql(
                &set,
                &["/pay_ment/*".into(), "/100%".into()],
                &format!("vigil.{}", quoted(table.table().name())),
                1,
            )
            .unwrap()
            .expect("a ClickHouse spelling");
        statements.push(format!("{sql} FORMAT JSONCompact"));
        statements.len() - 1
    })
    .collect();
    // Conversion, overall and page by page with a filter.
    let conversions: Vec<usize> = [
        serde_json::json!({"event": "checkout"}),
        serde_json::json!({"event": "sign'up", "vital": "inp", "by_page": true,
                           "filters": [{"field": "device_type", "op": "neq", "value": "tv"}]}),
    ]
    .into_iter()
    .map(|mut q| {
        (q["from"], q["to"]) = ((now - 86_400_000).into(), (now + 1).into());
        let request: vigil_query::ConversionRequest = serde_json::from_value(q).unwrap();
        let sql = request
            .to_clickhouse_sql(&|t| format!("vigil.{}", quoted(t.name())), 1)
            .unwrap()
            .expect("a ClickHouse spelling");
        statements.push(format!("{sql} FORMAT JSONCompact"));
        statements.len() - 1
    })
    .collect();
    // Funnels: an event then pages, overall and by a dimension, with a filter.
    let funnels: Vec<usize> = [None, Some("country")]
        .into_iter()
        .map(|group| {
            let request: vigil_query::FunnelRequest = serde_json::from_value(serde_json::json!({
                "steps": [{"page": "/*"}, {"event": "checkout"}, {"page": "/it's_100%"}],
                "within_minutes": 30, "from": now - 86_400_000, "to": now + 1,
                "filters": [{"field": "device_type", "op": "neq", "value": "tv"}]
            }))
            .unwrap();
            let sql = request
                .to_clickhouse_sql(group, &|t| format!("vigil.{}", quoted(t.name())), 1)
                .unwrap()
                .expect("a ClickHouse spelling");
            statements.push(format!("{sql} FORMAT JSONCompact"));
            statements.len() - 1
        })
        .collect();
    // A typed query over the server's rows and local ones sent along with it: an external
    // table in a server, a Memory table of the same name and structure here. The rows sent
    // are those the server holds, so every row counts twice.
    let lcp: vigil_query::Query = serde_json::from_value(serde_json::json!({
        "metric": "lcp", "aggregations": ["count", "p75"], "from": now - 86_400_000, "to": now + 1
    }))
    .unwrap();
    let vitals = sent
        .iter()
        .find(|(t, _)| *t == Table::Vitals)
        .map(|(_, b)| b.clone())
        .expect("the session has vitals");
    let columns = ["ts", "name", "value"];
    let local = vigil_query::LocalRows {
        table: Table::Vitals,
        condition: format!(
            "\"ts\" >= {} AND \"ts\" < {} AND \"name\" = 'LCP'",
            lcp.from, lcp.to
        ),
        columns: columns.iter().map(|c| c.to_string()).collect(),
        segments: Vec::new(),
        batches: vec![
            vitals
                .project(&columns.map(|c| vitals.schema().index_of(c).unwrap()))
                .unwrap(),
        ],
    };
    statements.push("USE vigil".into());
    statements.push(format!(
        "CREATE TABLE vigil_local_vitals ({}) ENGINE = Memory",
        external_structure(&local, features).unwrap()
    ));
    statements.push(format!(
        "INSERT INTO vigil_local_vitals FORMAT JSONEachRow\n{}",
        String::from_utf8(external_rows(&local)).unwrap()
    ));
    let source = compiled_source(1, &local, &["i/other".into()], "vigil_local_vitals");
    let (_, sql) = lcp
        .to_clickhouse_sql(&source, 1)
        .unwrap()
        .expect("a ClickHouse spelling");
    statements.push(format!("{sql} FORMAT CSV"));
    let with_local = statements.len() - 1;
    // What Vigil runs besides: a column added at start, retention, erasure.
    let added = Table::Views.column("tti").unwrap();
    statements.push(format!(
        "ALTER TABLE vigil.`views` DROP COLUMN {}",
        quoted(added.name)
    ));
    statements.push(format!(
        "ALTER TABLE vigil.`views` ADD COLUMN {}",
        column_definition(added, features)
    ));
    statements.push(
        "SELECT DISTINCT partition, partition_id FROM system.parts \
         WHERE database = 'vigil' AND table = 'views' AND active FORMAT TabSeparated"
            .into(),
    );
    statements
        .push("ALTER TABLE vigil.`views` DELETE WHERE `project` = 1 AND `user_id` = 'ann'".into());

    let answers = run(&statements);
    for (statement, answer) in statements.iter().zip(&answers) {
        assert!(
            answer.ok,
            "chdb refused {}: {}",
            statement.chars().take(300).collect::<String>(),
            answer.error
        );
    }
    // The rows come back through Vigil's reader as they were sent (in any order).
    for ((table, at), (_, batch)) in scans.iter().zip(&sent) {
        let back = batch_of(table.schema(), answers[*at].out.as_bytes())
            .unwrap_or_else(|e| panic!("{}: {e}", table.name()));
        assert_eq!(back.schema(), batch.schema());
        assert_eq!(lines(&back), lines(batch), "{} round trip", table.name());
    }
    for at in compiled {
        assert!(
            answers[at].out.contains("\"data\""),
            "a compiled query answers: {}",
            answers[at].out
        );
    }
    assert!(
        answers[groups[0]].out.contains("TypeError"),
        "the session's errors form a group: {}",
        answers[groups[0]].out
    );
    assert!(
        answers[conversions[0]].out.contains("\"good\""),
        "the session's LCPs rate it: {}",
        answers[conversions[0]].out
    );
    for at in funnels {
        assert!(
            answers[at].out.contains("\"data\""),
            "a compiled funnel answers: {}",
            answers[at].out
        );
    }
    for at in searches {
        assert!(
            answers[at].out.contains("s-modern"),
            "a compiled session search finds the session: {}",
            answers[at].out
        );
    }
    let count: usize = answers[with_local]
        .out
        .split(',')
        .next()
        .and_then(|c| c.trim().trim_matches('"').parse().ok())
        .unwrap_or_else(|| panic!("a count: {}", answers[with_local].out));
    assert_eq!(
        count,
        2 * vitals.num_rows(),
        "the server's rows and the local ones"
    );
    let partitions = &answers[statements.len() - 2].out;
    assert!(
        partitions.contains("(1,"),
        "partitions are (project, day): {partitions}"
    );
}

/// The table a typed query reads.
fn q_table(q: &vigil_query::Query) -> &'static str {
    vigil_query::resolve_metric(&q.metric).unwrap().table.name()
}

/// Each row as text, sorted.
fn lines(batch: &arrow_array::RecordBatch) -> Vec<String> {
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    use arrow_array::types::Int64Type;
    use arrow_schema::DataType;
    let mut out: Vec<String> = (0..batch.num_rows())
        .map(|r| {
            batch
                .columns()
                .iter()
                .map(|c| {
                    if c.is_null(r) {
                        return "∅".to_owned();
                    }
                    match c.data_type() {
                        DataType::Int64 => c.as_primitive::<Int64Type>().value(r).to_string(),
                        DataType::Boolean => c.as_boolean().value(r).to_string(),
                        _ => c.as_string::<i32>().value(r).to_owned(),
                    }
                })
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect();
    out.sort();
    out
}
