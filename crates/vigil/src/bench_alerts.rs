//! `vigil bench alerts`: what the alert evaluator costs. The demo's traffic (100,000 page
//! views over 7 days by default) in a store, `--rules` rules that each watch up to
//! `--segments` segments (vitals, shares, request durations and error rates, error and
//! event counts, a ratio; by pairs of page, country, device type, browser and endpoint), and rounds of
//! evaluation timed as `vigil serve` runs them: one rule after another through the query
//! engine, states and transitions written to meta.db.

use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Instant;

/// Options of `vigil bench alerts`.
#[derive(clap::Args)]
pub struct AlertsArgs {
    /// Page views of demo traffic.
    #[arg(long, default_value_t = 100_000)]
    page_views: usize,
    /// Rules evaluated per round.
    #[arg(long, default_value_t = 100)]
    rules: usize,
    /// Segments each rule watches at most.
    #[arg(long, default_value_t = 50)]
    segments: u32,
    /// Window of every rule, minutes (a day by default, so each rule finds its segments in
    /// the demo's traffic).
    #[arg(long, default_value_t = 1440)]
    window_minutes: u32,
    /// Rounds timed.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
}

/// The rule shapes the benchmark cycles through.
fn shapes() -> Vec<Value> {
    let by = |g: &[&str]| json!(g);
    vec![
        json!({"metric": "lcp", "aggregation": "p75", "group_by": by(&["page_path", "country"]), "threshold": 2500}),
        json!({"metric": "inp", "aggregation": "p75", "group_by": by(&["country", "device_type"]), "threshold": 200}),
        json!({"metric": "cls", "aggregation": "poor", "group_by": by(&["country", "browser"]), "threshold": 0.1}),
        json!({"metric": "fcp", "aggregation": "p90", "group_by": by(&["country", "device_type"]), "threshold": 1800}),
        json!({"metric": "ttfb", "aggregation": "p75", "group_by": by(&["page_path", "device_type"]), "threshold": 800}),
        json!({"metric": "requests.duration", "aggregation": "p75", "group_by": by(&["url_template", "country"]), "threshold": 500}),
        json!({"metric": "requests.duration", "aggregation": "error_rate", "group_by": by(&["url_template", "country"]), "threshold": 0.05}),
        json!({"metric": "errors", "aggregation": "count", "group_by": by(&["page_path", "browser"]), "threshold": 10}),
        json!({"metric": "custom_events", "aggregation": "count", "filters": [{"field": "name", "op": "eq", "value": "add_to_cart"}], "group_by": by(&["country", "device_type"]), "threshold": 5, "condition": "below"}),
        json!({"metric": "errors", "aggregation": "sessions", "ratio_of": {"metric": "views", "aggregation": "sessions"}, "group_by": by(&["country", "browser"]), "threshold": 0.05}),
    ]
}

/// Runs the benchmark and prints its figures.
pub fn run(args: AlertsArgs) -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let meta = Arc::new(vigil_meta::Meta::open(&tmp.path().join("meta.db"))?);
    let (project, _) = meta.create_project("bench", &[], 90)?;
    let store = Arc::new(vigil_store::Store::open(
        &super::store_dir(tmp.path()),
        vigil_store::StoreConfig::default(),
    )?);
    let loading = Instant::now();
    super::fill_demo_traffic(&store, project.id, args.page_views, 7, 42)?;
    println!(
        "loaded {} page views of demo traffic in {:.1} s",
        args.page_views,
        loading.elapsed().as_secs_f64()
    );
    let shapes = shapes();
    for i in 0..args.rules {
        let mut rule = shapes[i % shapes.len()].clone();
        rule["name"] = json!(format!("rule {i}"));
        rule["window_minutes"] = json!(args.window_minutes);
        rule["delay_minutes"] = json!(0);
        rule["min_samples"] = json!(5);
        rule["max_segments"] = json!(args.segments);
        if rule.get("condition").is_none() {
            rule["condition"] = json!("above");
        }
        let def: vigil_alerts::RuleDefinition = serde_json::from_value(rule)?;
        def.check().map_err(|e| anyhow::anyhow!("rule {i}: {e}"))?;
        meta.create_alert_rule(project.id, &serde_json::to_string(&def)?, 0)?;
    }
    let queries = Arc::new(vigil_query::QueryEngine::new(store.clone()));
    let evaluator = vigil_alerts::Evaluator::new(
        meta.clone(),
        queries,
        vigil_alerts::Links {
            base_url: "http://127.0.0.1:8080".into(),
        },
        None,
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut times = Vec::new();
    for round in 0..args.rounds {
        let r = runtime.block_on(evaluator.round(super::now_ms()))?;
        let ms = r.elapsed.as_secs_f64() * 1000.0;
        println!(
            "round {}: {} rules, {} segments judged ({:.1} per rule), {} transitions, {} failed, {:.0} ms ({:.1} ms per rule)",
            round + 1,
            r.rules,
            r.segments,
            r.segments as f64 / r.rules.max(1) as f64,
            r.transitions,
            r.failed,
            ms,
            ms / r.rules.max(1) as f64,
        );
        times.push(ms);
    }
    println!(
        "round of {} rules: {}",
        args.rules,
        super::bench::runs_summary(&mut times)
    );
    store.close();
    Ok(())
}
