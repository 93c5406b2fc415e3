//! `POST /api/v1/sessions`: the sessions list searched by filters, errors and duration,
//! compared with the same search computed here over the events that were sent.

mod common;

use common::*;
use serde_json::{Value, json};

/// One generated session: what was sent, and what the list should say about it.
struct Sent {
    id: String,
    user: Option<String>,
    release: &'static str,
    start: i64,
    end: i64,
    views: i64,
    errors: i64,
    /// (type, message) of each error
    kinds: Vec<(&'static str, String)>,
}

fn send(server: &Server, key: &str, base: i64, n: u64) -> Vec<Sent> {
    // xorshift: varied but repeatable sessions
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move |m: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % m
    };
    let mut sent = Vec::new();
    for i in 0..n {
        let id = format!("s{i:03}");
        let user = (next(3) > 0).then(|| format!("user-{}", next(20)));
        let release = if next(2) == 0 { "r1" } else { "r2" };
        let start = base + (next(3_600_000) as i64);
        let views = 1 + next(4) as i64;
        let errors = if next(3) == 0 { 1 + next(2) as i64 } else { 0 };
        let mut ts = start;
        let mut end = start;
        let mut kinds = Vec::new();
        for v in 0..views {
            let mut events = vec![json!({"type": "view", "ts": ts})];
            if v == 0 {
                for e in 0..errors {
                    let kind = (
                        if next(2) == 0 {
                            "TypeError"
                        } else {
                            "RangeError"
                        },
                        format!("boom {}", next(3)),
                    );
                    events.push(json!({"type": "error", "ts": ts + 10 + e,
                        "error_type": kind.0, "message": kind.1}));
                    kinds.push(kind);
                    end = end.max(ts + 10 + e);
                }
            }
            // a click after the view: the session lasts until its last event, whatever it is
            let click = ts + 1 + next(50_000) as i64;
            events.push(
                json!({"type": "action", "ts": click, "action": "click", "selector": "button#buy"}),
            );
            end = end.max(click).max(ts);
            let mut context = json!({
                "session_id": id, "view_id": format!("{id}-v{v}"),
                "agent": {"name": "vigil-test", "version": "1.0.0"},
                "page_url": format!("https://shop.example.com/p/{v}"), "release": release,
            });
            if let Some(u) = &user {
                context["user_id"] = json!(u);
            }
            let body = json!({"v": 1, "context": context, "events": events}).to_string();
            let (status, answer) = server.ingest(key, body.as_bytes());
            assert_eq!(status, 202, "{answer}");
            ts += 1 + next(120_000) as i64;
        }
        sent.push(Sent {
            id,
            user,
            release,
            start,
            end,
            views,
            errors,
            kinds,
        });
    }
    sent
}

fn row(s: &Sent) -> Value {
    json!([
        s.id,
        s.start,
        s.end,
        s.end - s.start,
        s.views,
        s.errors,
        s.user
    ])
}

/// The rows, without the columns this test cannot know (country, device, browser, os).
fn known(answer: &Value) -> Vec<Value> {
    answer["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| Value::Array(r.as_array().unwrap()[..7].to_vec()))
        .collect()
}

#[test]
fn sessions_list_matches_the_sessions_sent() {
    let dir = tempfile::tempdir().unwrap();
    let p = create_project(dir.path(), "shop", &[]);
    let server = Server::start(dir.path());
    let base = now_ms() - 2 * 3_600_000;
    let sent = send(&server, &p.public_key, base, 60);
    let range = (base - 1000, base + 3 * 3_600_000);
    let search = |extra: Value| {
        let mut body = json!({"from": range.0, "to": range.1, "limit": 1000});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (status, answer) = server.post(&p.api_token, "/api/v1/sessions", &body);
        assert_eq!(status, 200, "{body} → {answer}");
        answer
    };
    let expect = |keep: &dyn Fn(&Sent) -> bool, key: &dyn Fn(&Sent) -> i64, ascending: bool| {
        let mut v: Vec<&Sent> = sent.iter().filter(|s| keep(s)).collect();
        v.sort_by(|a, b| {
            let o = key(a).cmp(&key(b));
            (if ascending { o } else { o.reverse() }).then(a.id.cmp(&b.id))
        });
        v.into_iter().map(row).collect::<Vec<_>>()
    };

    let all = search(json!({}));
    assert_eq!(
        all["columns"],
        json!([
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
            "has_replay"
        ])
    );
    assert_eq!(known(&all), expect(&|_| true, &|s| s.start, false));

    let with_errors = search(json!({"has_error": true}));
    let want = expect(&|s| s.errors > 0, &|s| s.start, false);
    assert!(!want.is_empty() && want.len() < sent.len());
    assert_eq!(known(&with_errors), want);
    assert_eq!(
        known(&search(json!({"has_error": false}))),
        expect(&|s| s.errors == 0, &|s| s.start, false)
    );

    let r2_user7 = search(json!({"filters": [
        {"field": "release", "op": "eq", "value": "r2"},
        {"field": "user_id", "op": "contains", "value": "user-1"}]}));
    let want = expect(
        &|s| s.release == "r2" && s.user.as_deref().is_some_and(|u| u.contains("user-1")),
        &|s| s.start,
        false,
    );
    assert!(!want.is_empty());
    assert_eq!(known(&r2_user7), want);

    let long = search(json!({"min_duration": 120_000, "max_duration": 300_000,
                             "order_by": "duration", "ascending": true}));
    let want = expect(
        &|s| (120_000..=300_000).contains(&(s.end - s.start)),
        &|s| s.end - s.start,
        true,
    );
    assert!(!want.is_empty());
    assert_eq!(known(&long), want);

    let top = search(json!({"order_by": "views", "limit": 5}));
    assert_eq!(
        known(&top),
        expect(&|_| true, &|s| s.views, false)[..5].to_vec()
    );
    assert_eq!(
        known(&search(json!({"order_by": "errors"}))),
        expect(&|_| true, &|s| s.errors, false)
    );

    // A page filter finds the session; its figures still cover all of its views.
    let third_page =
        search(json!({"filters": [{"field": "page_path", "op": "eq", "value": "/p/2"}]}));
    assert_eq!(
        known(&third_page),
        expect(&|s| s.views >= 3, &|s| s.start, false)
    );

    // From an error to the sessions it hit.
    let range_errors = search(
        json!({"error_filters": [{"field": "error_type", "op": "eq", "value": "RangeError"}]}),
    );
    let want = expect(
        &|s| s.kinds.iter().any(|k| k.0 == "RangeError"),
        &|s| s.start,
        false,
    );
    assert!(!want.is_empty() && want.len() < expect(&|s| s.errors > 0, &|s| s.start, false).len());
    assert_eq!(known(&range_errors), want);
    let one_error = search(json!({"error_filters": [
        {"field": "error_type", "op": "eq", "value": "TypeError"},
        {"field": "message", "op": "eq", "value": "boom 1"}]}));
    let want = expect(
        &|s| {
            s.kinds
                .iter()
                .any(|k| k.0 == "TypeError" && k.1 == "boom 1")
        },
        &|s| s.start,
        false,
    );
    assert!(!want.is_empty());
    assert_eq!(known(&one_error), want);

    for bad in [
        json!({"from": range.0, "to": range.1, "order_by": "user_id"}),
        json!({"from": range.0, "to": range.1, "limit": 0}),
        json!({"from": range.0, "to": range.1, "filters": [{"field": "no_such", "op": "eq", "value": 1}]}),
        json!({"from": range.0, "to": range.1, "surprise": 1}),
        json!({"from": range.0, "to": range.1, "error_filters": [{"field": "page_title", "op": "eq", "value": 1}]}),
        json!({"from": range.1, "to": range.0}),
    ] {
        let (status, answer) = server.post(&p.api_token, "/api/v1/sessions", &bad);
        assert_eq!(
            (status, answer["code"].as_str()),
            (400, Some("invalid_query")),
            "{bad}"
        );
    }
    // Another project's token sees none of these sessions.
    drop(server);
    let other = create_project(dir.path(), "other", &[]);
    let server = Server::start(dir.path());
    let (status, answer) = server.post(
        &other.api_token,
        "/api/v1/sessions",
        &json!({"from": range.0, "to": range.1}),
    );
    assert_eq!(status, 200);
    assert_eq!(answer["rows"], json!([]));
}
