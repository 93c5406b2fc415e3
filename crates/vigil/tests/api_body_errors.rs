//! Each kind of request names its own errors (issue 9 item 7): a bad sign-in, password,
//! invitation, settings, token, member or erasure body is `400 invalid_body`, never
//! `invalid_query`, which stays the answer to a malformed read query; a signed-in read that
//! names no project is `400 invalid_request` (a query-string parameter).

mod common;

use common::*;
use serde_json::Value;

/// Sends `body` as JSON with `headers`; the status and the error code.
fn send(
    server: &Server,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let url = server.url(path);
    let agent = agent();
    let mut req = if method == "PUT" {
        agent.put(&url)
    } else {
        agent.post(&url)
    };
    req = req.header("content-type", "application/json");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut resp = req.send(body.as_bytes()).unwrap();
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    let parsed: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    (
        resp.status().as_u16(),
        parsed["code"].as_str().unwrap_or("").to_owned(),
    )
}

#[test]
fn bodies_answer_invalid_body_and_queries_invalid_query() {
    let dir = tempfile::tempdir().unwrap();
    let a = create_project(dir.path(), "a", &[]);
    add_user(dir.path(), "ann@example.com", "a", "correct horse");
    let server = Server::start(dir.path());

    let (cookie, csrf) = sign_in(&server, "ann@example.com", "correct horse");
    let user = [("cookie", cookie.as_str()), ("x-csrf-token", csrf.as_str())];
    let p = format!("/api/v1/projects/{}", a.id);

    let cases: Vec<(&str, String, &str)> = vec![
        ("POST", "/api/v1/login".into(), "{"),
        (
            "POST",
            "/api/v1/login".into(),
            r#"{"email": "ann@example.com"}"#,
        ),
        (
            "POST",
            "/api/v1/me/password".into(),
            r#"{"current": "correct horse"}"#,
        ),
        (
            "POST",
            "/api/v1/me/password".into(),
            r#"{"current": "correct horse", "new": "short"}"#,
        ),
        (
            "POST",
            "/api/v1/invitations/lookup".into(),
            r#"{"code": "x"}"#,
        ),
        ("POST", "/api/v1/invitations/accept".into(), "[]"),
        ("POST", "/api/v1/projects".into(), r#"{"name": 7}"#),
        ("PUT", p.clone(), r#"{"retention_days": -1}"#),
        (
            "PUT",
            p.clone(),
            r#"{"allowed_origins": ["ftp://a.example"]}"#,
        ),
        ("POST", format!("{p}/tokens"), r#"{"scope": "root"}"#),
        (
            "POST",
            format!("{p}/members"),
            r#"{"email": "not an email"}"#,
        ),
        (
            "POST",
            format!("{p}/members"),
            r#"{"email": "b@example.com", "role": "king"}"#,
        ),
        ("PUT", format!("{p}/members/1"), r#"{"role": "king"}"#),
        (
            "POST",
            format!("{p}/erasure"),
            r#"{"user_id": "u", "session_id": "s"}"#,
        ),
    ];
    for (method, path, body) in &cases {
        assert_eq!(
            send(&server, method, path, &user, body),
            (400, "invalid_body".to_owned()),
            "{method} {path} {body}"
        );
    }

    // A read's body is a query, and its errors stay the query's.
    let token = [("authorization", format!("Bearer {}", a.api_token))];
    let token = [(token[0].0, token[0].1.as_str())];
    for (path, body) in [
        ("/api/v1/query", r#"{"metric": "nope", "from": 0, "to": 1}"#),
        ("/api/v1/query", "{"),
        ("/api/v1/conversion", r#"{"event": "x"}"#),
        ("/api/v1/sessions", r#"{"colour": 1}"#),
    ] {
        assert_eq!(
            send(&server, "POST", path, &token, body),
            (400, "invalid_query".to_owned()),
            "{path} {body}"
        );
    }
    // A signed-in user names the project they read.
    assert_eq!(
        send(
            &server,
            "POST",
            "/api/v1/query",
            &user,
            r#"{"metric": "views", "from": 0, "to": 1}"#
        ),
        (400, "invalid_request".to_owned())
    );
}
