//! What slowness costs, against the real binary: funnels, and conversion and revenue by
//! vitals rating (overall and by page, with the cost of poor against good), compared with
//! the same figures computed here from the events the test sent.

mod common;

use common::*;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};

/// A small deterministic generator (the test must not depend on chance).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One event as sent, kept to compute the expected figures.
#[derive(Debug, Clone)]
struct Sent {
    session: String,
    release: String,
    page: String,
    ts: i64,
    kind: &'static str,
    name: String,
    value: f64,
}

fn page_batch(s: &Sent, view: usize, events: Vec<Value>) -> Vec<u8> {
    json!({
        "v": 1,
        "context": {
            "session_id": s.session,
            "view_id": format!("{}-v{view}", s.session),
            "agent": {"name": "vigil-test", "version": "1.0.0"},
            "page_url": format!("https://shop.example.com{}", s.page),
            "release": s.release,
        },
        "events": events
    })
    .to_string()
    .into_bytes()
}

/// Sessions browsing products, the cart and the checkout, some slow; every event sent and
/// returned.
fn send_sessions(server: &Server, key: &str, base: i64) -> Vec<Sent> {
    let mut rng = Lcg(7);
    let mut all = Vec::new();
    for i in 0..240 {
        let session = format!("s{i:03}");
        let release = if i % 3 == 0 { "2.0" } else { "1.0" };
        // How slow this session's pages are: good, needs improvement or poor LCP.
        let slowness = [1200.0, 3000.0, 5200.0][(i % 7 % 3) as usize];
        let mut ts = base + i * 20_000;
        let mut pages: Vec<&str> = vec!["/"];
        for _ in 0..1 + rng.below(3) {
            pages.push(["/products/1", "/products/2", "/products/3"][rng.below(3) as usize]);
        }
        let carted = rng.below(10) < 7;
        if carted {
            pages.push("/cart");
            if rng.below(10) < 6 - (slowness / 2000.0) as u64 {
                pages.push("/checkout");
            }
        }
        for (view, page) in pages.iter().enumerate() {
            let lcp = slowness * (0.6 + rng.below(80) as f64 / 100.0);
            let mut events = vec![
                Sent {
                    session: session.clone(),
                    release: release.into(),
                    page: page.to_string(),
                    ts,
                    kind: "view",
                    name: String::new(),
                    value: 0.0,
                },
                Sent {
                    session: session.clone(),
                    release: release.into(),
                    page: page.to_string(),
                    ts: ts + 900,
                    kind: "vital",
                    name: "LCP".into(),
                    value: lcp.round(),
                },
            ];
            if rng.below(2) == 0 {
                events.push(Sent {
                    session: session.clone(),
                    release: release.into(),
                    page: page.to_string(),
                    ts: ts + 5_000,
                    kind: "vital",
                    name: "INP".into(),
                    value: [80.0, 350.0, 700.0][rng.below(3) as usize],
                });
            }
            if page.starts_with("/products/") {
                events.push(Sent {
                    session: session.clone(),
                    release: release.into(),
                    page: page.to_string(),
                    ts: ts + 2_000,
                    kind: "custom",
                    name: "view_product".into(),
                    value: 0.0,
                });
            }
            if *page == "/cart" {
                events.push(Sent {
                    session: session.clone(),
                    release: release.into(),
                    page: page.to_string(),
                    ts: ts - 1_000,
                    kind: "custom",
                    name: "add_to_cart".into(),
                    value: 0.0,
                });
            }
            if *page == "/checkout" {
                let value = (20 + rng.below(180)) as f64 + 0.5;
                events.push(Sent {
                    session: session.clone(),
                    release: release.into(),
                    page: page.to_string(),
                    ts: ts + 3_000,
                    kind: "custom",
                    name: "checkout".into(),
                    value,
                });
            }
            let wire: Vec<Value> = events
                .iter()
                .map(|e| match e.kind {
                    "view" => json!({"type": "view", "ts": e.ts, "navigation_type": "navigate"}),
                    "vital" => {
                        json!({"type": "vital", "ts": e.ts, "name": e.name, "value": e.value})
                    }
                    _ if e.name == "checkout" => {
                        json!({"type": "custom", "ts": e.ts, "name": e.name, "value": e.value})
                    }
                    _ => json!({"type": "custom", "ts": e.ts, "name": e.name}),
                })
                .collect();
            let (status, v) = server.ingest(key, &page_batch(&events[0], view, wire));
            assert_eq!(status, 202, "{v}");
            all.extend(events);
            // Most pages follow within minutes; some after a long pause, past the funnel's
            // 30-minute limit.
            ts += if rng.below(12) == 0 {
                40 * 60_000
            } else {
                (10 + rng.below(300)) as i64 * 1000
            };
        }
    }
    all
}

/// Whether an event is the funnel's step `i`.
fn is_step(e: &Sent, i: usize) -> bool {
    match i {
        0 => e.kind == "view" && e.page.starts_with("/products/"),
        1 => e.kind == "custom" && e.name == "add_to_cart",
        2 => e.kind == "view" && e.page == "/checkout",
        _ => e.kind == "custom" && e.name == "checkout",
    }
}

/// Per session: the furthest step reached by any try (each occurrence of the first step,
/// then the earliest match of each next step at or after the previous, all within the
/// limit of the first), and the quickest time to each step.
fn expected_funnel(sent: &[Sent], limit: i64) -> HashMap<String, (usize, Vec<i64>, String)> {
    let mut by_session: BTreeMap<&str, Vec<&Sent>> = BTreeMap::new();
    for e in sent {
        by_session.entry(&e.session).or_default().push(e);
    }
    let mut out = HashMap::new();
    for (session, events) in by_session {
        let mut best = 0;
        let mut quickest = vec![i64::MAX; 4];
        let mut release = String::new();
        for start in events.iter().filter(|e| is_step(e, 0)) {
            release = start.release.clone();
            let mut at = start.ts;
            let mut reached = 1;
            quickest[0] = 0;
            // Step 0 is the try's own start (`quickest[0]` above); the loop finds the rest.
            for (step, fastest) in quickest.iter_mut().enumerate().skip(1) {
                let next = events
                    .iter()
                    .filter(|e| is_step(e, step) && e.ts >= at && e.ts <= start.ts + limit)
                    .map(|e| e.ts)
                    .min();
                match next {
                    Some(t) => {
                        at = t;
                        reached = step + 1;
                        *fastest = (*fastest).min(t - start.ts);
                    }
                    None => break,
                }
            }
            best = best.max(reached);
        }
        if best > 0 {
            out.insert(session.to_owned(), (best, quickest, release));
        }
    }
    out
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let rank = 0.5 * (v.len() - 1) as f64;
    let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
    v[lo] + (v[hi] - v[lo]) * (rank - lo as f64)
}

#[test]
fn funnels_and_conversion_equal_what_the_events_say() {
    let dir = tempfile::tempdir().unwrap();
    let p = create_project(dir.path(), "shop", &[]);
    let server = Server::start(dir.path());
    let base = now_ms() - 6 * 3_600_000;
    let sent = send_sessions(&server, &p.public_key, base);
    let (from, to) = (base - 1000, now_ms() + 1000);
    let limit = 30 * 60_000;

    // The funnel.
    let steps = json!([{"page": "/products/*"}, {"event": "add_to_cart"}, {"page": "/checkout"}, {"event": "checkout"}]);
    let (status, funnel) = server.post(
        &p.api_token,
        "/api/v1/funnel",
        &json!({"steps": steps, "within_minutes": 30, "group_by": "release", "from": from, "to": to}),
    );
    assert_eq!(status, 200, "{funnel}");
    let expected = expected_funnel(&sent, limit);
    let reached = |k: usize, release: Option<&str>| {
        expected
            .values()
            .filter(|(r, _, rel)| *r > k && release.is_none_or(|x| x == rel))
            .count() as u64
    };
    let got = funnel["steps"].as_array().unwrap();
    assert_eq!(got.len(), 4);
    for (k, step) in got.iter().enumerate() {
        assert_eq!(step["sessions"], reached(k, None), "step {k}: {step}");
        let previous = if k == 0 {
            reached(0, None)
        } else {
            reached(k - 1, None)
        };
        assert_eq!(step["drop_off"], previous - reached(k, None));
        let took: Vec<f64> = expected
            .values()
            .filter(|(r, _, _)| *r > k)
            .map(|(_, q, _)| q[k] as f64)
            .collect();
        let want = median(took);
        assert!(
            (step["median_ms_from_first"].as_f64().unwrap() - want).abs() < 1e-6,
            "step {k}: {step} against {want}"
        );
    }
    assert!(
        reached(3, None) > 10 && reached(3, None) < reached(0, None),
        "a funnel that loses sessions"
    );
    let conversion = funnel["conversion"].as_f64().unwrap();
    assert!((conversion - reached(3, None) as f64 / reached(0, None) as f64).abs() < 1e-12);
    for g in funnel["groups"].as_array().unwrap() {
        let release = g["group"].as_str().unwrap();
        for (k, step) in g["steps"].as_array().unwrap().iter().enumerate() {
            assert_eq!(
                step["sessions"],
                reached(k, Some(release)),
                "{release} step {k}"
            );
        }
    }
    assert_eq!(funnel["groups"].as_array().unwrap().len(), 2);

    // Conversion by the worst LCP of each session, and revenue.
    let rating = |v: f64, good: f64, poor: f64| {
        if v <= good {
            "good"
        } else if v <= poor {
            "needs-improvement"
        } else {
            "poor"
        }
    };
    let revenue: HashMap<&str, f64> =
        sent.iter()
            .filter(|e| e.name == "checkout")
            .fold(HashMap::new(), |mut m, e| {
                *m.entry(e.session.as_str()).or_default() += e.value;
                m
            });
    let expect_rows = |vital: &str, good: f64, poor: f64| {
        let mut worst: BTreeMap<&str, f64> = BTreeMap::new();
        for e in sent.iter().filter(|e| e.kind == "vital" && e.name == vital) {
            let w = worst.entry(&e.session).or_insert(f64::MIN);
            *w = w.max(e.value);
        }
        let mut rows: BTreeMap<&str, (u64, u64, f64)> = BTreeMap::new();
        for (s, v) in worst {
            let r = rows.entry(rating(v, good, poor)).or_default();
            r.0 += 1;
            if let Some(x) = revenue.get(s) {
                r.1 += 1;
                r.2 += x;
            }
        }
        rows
    };
    for (vital, good, poor) in [("lcp", 2500.0, 4000.0), ("inp", 200.0, 500.0)] {
        let (status, c) = server.post(
            &p.api_token,
            "/api/v1/conversion",
            &json!({"event": "checkout", "vital": vital, "from": from, "to": to}),
        );
        assert_eq!(status, 200, "{c}");
        assert_eq!(c["columns"], json!(CONVERSION_COLUMNS));
        let want = expect_rows(&vital.to_uppercase(), good, poor);
        let rows = c["rows"].as_array().unwrap();
        assert_eq!(rows.len(), want.len(), "{c}");
        for row in rows {
            let (n, x, money) = want[row[0].as_str().unwrap()];
            assert_eq!(
                (row[1].as_u64(), row[2].as_u64()),
                (Some(n), Some(x)),
                "{vital} {row:?}"
            );
            assert!(
                (row[4].as_f64().unwrap() - money).abs() < 1e-6,
                "{row:?} against {money}"
            );
            assert!((row[5].as_f64().unwrap() - money / n as f64).abs() < 1e-9);
            let rate = x as f64 / n as f64;
            assert!(row[6].as_f64().unwrap() <= rate && rate <= row[7].as_f64().unwrap());
        }
        // Poor against good.
        let (ng, xg, rg) = want["good"];
        let (np, xp, rp) = want["poor"];
        let impact = &c["impact"];
        let change = (xp as f64 / np as f64) / (xg as f64 / ng as f64) - 1.0;
        assert!(
            (impact["relative_change"].as_f64().unwrap() - change).abs() < 1e-12,
            "{impact}"
        );
        let lost = np as f64 * (rg / ng as f64 - rp / np as f64);
        assert!(
            (impact["lost_revenue"].as_f64().unwrap() - lost).abs() < 1e-6,
            "{impact}"
        );
        assert!(impact["relative_change_low"].as_f64().unwrap() <= change);
        assert!(impact["relative_change_high"].as_f64().unwrap() >= change);
        let sentence = impact["sentence"].as_str().unwrap();
        assert!(
            sentence.starts_with(&format!(
                "Sessions with poor {} convert",
                vital.to_uppercase()
            )) && sentence.contains(&format!("{np} poor and {ng} good sessions")),
            "{sentence}"
        );
    }
    if let Some(lcp) = Some(expect_rows("LCP", 2500.0, 4000.0)) {
        assert!(
            lcp["poor"].1 as f64 / (lcp["poor"].0 as f64)
                < lcp["good"].1 as f64 / (lcp["good"].0 as f64),
            "slow sessions convert less here"
        );
    }

    // Page by page: each session rated by its worst LCP on that page.
    let (status, c) = server.post(
        &p.api_token,
        "/api/v1/conversion",
        &json!({"event": "checkout", "by_page": true, "from": from, "to": to}),
    );
    assert_eq!(status, 200, "{c}");
    assert!(c.get("impact").is_none());
    let mut worst: BTreeMap<(&str, &str), f64> = BTreeMap::new();
    for e in sent.iter().filter(|e| e.kind == "vital" && e.name == "LCP") {
        let w = worst.entry((&e.page, &e.session)).or_insert(f64::MIN);
        *w = w.max(e.value);
    }
    let mut want: BTreeMap<(String, &str), (u64, u64)> = BTreeMap::new();
    for ((page, session), v) in worst {
        let r = want
            .entry((page.to_owned(), rating(v, 2500.0, 4000.0)))
            .or_default();
        r.0 += 1;
        r.1 += u64::from(revenue.contains_key(session));
    }
    let rows = c["rows"].as_array().unwrap();
    assert_eq!(rows.len(), want.len());
    for row in rows {
        let key = (
            row[0].as_str().unwrap().to_owned(),
            row[1].as_str().unwrap(),
        );
        assert_eq!(
            (row[2].as_u64().unwrap(), row[3].as_u64().unwrap()),
            want[&key],
            "{row:?}"
        );
    }
    // Pages with most sessions come first.
    assert_eq!(rows[0][0], "/");

    // Bad requests get the query's error.
    for bad in [
        json!({"steps": [{"event": "a"}], "from": from, "to": to}),
        json!({"steps": [{"event": "a"}, {"page": "/x", "event": "b"}], "from": from, "to": to}),
        json!({"steps": [{"event": "a"}, {"event": "b"}], "within_minutes": 0, "from": from, "to": to}),
        json!({"steps": [{"event": "a"}, {"event": "b"}], "group_by": "name", "from": from, "to": to}),
        json!({"steps": [{"event": "a"}, {"event": "b"}], "from": to, "to": from}),
    ] {
        let (status, v) = server.post(&p.api_token, "/api/v1/funnel", &bad);
        assert_eq!(
            (status, v["code"].as_str()),
            (400, Some("invalid_query")),
            "{bad}: {v}"
        );
    }
    let (status, v) = server.post(
        &p.api_token,
        "/api/v1/conversion",
        &json!({"event": "checkout", "vital": "fid", "from": from, "to": to}),
    );
    assert_eq!(
        (status, v["code"].as_str()),
        (400, Some("invalid_query")),
        "{v}"
    );
}
