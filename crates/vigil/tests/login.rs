//! Dashboard users: argon2 passwords, an HttpOnly SameSite=Strict session cookie, CSRF on
//! POSTs, and a user reads only the projects they belong to.

mod common;

use common::*;
use serde_json::{Value, json};
use std::process::Command;

struct Reply {
    status: u16,
    body: Value,
    set_cookie: Option<String>,
}

fn call(
    server: &Server,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> Reply {
    let agent = agent();
    let url = server.url(path);
    let with_headers = |mut req: ureq::RequestBuilder<ureq::typestate::WithoutBody>| {
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.call().unwrap()
    };
    let mut resp = match method {
        "GET" => with_headers(agent.get(&url)),
        "DELETE" => with_headers(agent.delete(&url)),
        _ => {
            let mut req = if method == "PUT" {
                agent.put(&url)
            } else {
                agent.post(&url)
            };
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            req.send(body.unwrap_or(json!({})).to_string().as_bytes())
                .unwrap()
        }
    };
    let set_cookie = resp
        .headers()
        .get("set-cookie")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    Reply {
        status: resp.status().as_u16(),
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
        set_cookie,
    }
}

/// Projects `a` and `b`, and ann@example.com ("correct horse") who belongs to `a` only.
fn two_projects_and_ann(dir: &std::path::Path) -> (ProjectKeys, ProjectKeys) {
    let a = create_project(dir, "a", &[]);
    let b = create_project(dir, "b", &[]);
    let out = Command::new(BIN)
        .args([
            "user",
            "add",
            "ann@example.com",
            "--project",
            "a",
            "--password",
            "correct horse",
            "--data",
        ])
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (a, b)
}

#[test]
fn a_user_logs_in_and_reads_only_their_projects() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two_projects_and_ann(dir.path());
    let server = Server::start(dir.path());
    assert_eq!(
        server
            .ingest(
                &a.public_key,
                &batch(
                    "sa",
                    json!([{"type": "custom", "ts": now_ms(), "name": "x"}])
                )
            )
            .0,
        202
    );
    assert_eq!(
        server
            .ingest(
                &b.public_key,
                &batch(
                    "sb",
                    json!([{"type": "custom", "ts": now_ms(), "name": "y"}])
                )
            )
            .0,
        202
    );

    let wrong = call(
        &server,
        "POST",
        "/api/v1/login",
        &[],
        Some(json!({"email": "ann@example.com", "password": "wrong horse"})),
    );
    assert_eq!(
        (wrong.status, wrong.body["code"].as_str()),
        (401, Some("invalid_credentials"))
    );
    assert!(wrong.set_cookie.is_none());

    let ok = call(
        &server,
        "POST",
        "/api/v1/login",
        &[],
        Some(json!({"email": "ann@example.com", "password": "correct horse"})),
    );
    assert_eq!(ok.status, 200, "{}", ok.body);
    let set_cookie = ok.set_cookie.unwrap();
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"),
        "{set_cookie}"
    );
    assert!(
        !set_cookie.contains("Secure"),
        "plain http is not marked Secure: {set_cookie}"
    );
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let csrf = ok.body["csrf_token"].as_str().unwrap().to_owned();
    assert_eq!(ok.body["projects"].as_array().unwrap().len(), 1);
    assert_eq!(ok.body["projects"][0]["name"], json!("a"));

    let me = call(&server, "GET", "/api/v1/me", &[("cookie", &cookie)], None);
    assert_eq!(me.status, 200);
    assert_eq!(me.body["user"]["email"], json!("ann@example.com"));

    let q = json!({"metric": "custom_events", "from": 0, "to": i64::MAX / 2});
    let path_a = format!("/api/v1/query?project={}", a.id);
    let path_b = format!("/api/v1/query?project={}", b.id);
    let read = call(
        &server,
        "POST",
        &path_a,
        &[("cookie", &cookie), ("x-csrf-token", &csrf)],
        Some(q.clone()),
    );
    assert_eq!(
        (read.status, read.body["rows"][0][0].as_i64()),
        (200, Some(1)),
        "{}",
        read.body
    );
    let no_csrf = call(
        &server,
        "POST",
        &path_a,
        &[("cookie", &cookie)],
        Some(q.clone()),
    );
    assert_eq!(
        (no_csrf.status, no_csrf.body["code"].as_str()),
        (403, Some("csrf"))
    );
    let other = call(
        &server,
        "POST",
        &path_b,
        &[("cookie", &cookie), ("x-csrf-token", &csrf)],
        Some(q.clone()),
    );
    assert_eq!(
        (other.status, other.body["code"].as_str()),
        (404, Some("not_found"))
    );
    let session_b = call(
        &server,
        "GET",
        &format!("/api/v1/sessions/sb?project={}", b.id),
        &[("cookie", &cookie)],
        None,
    );
    assert_eq!(session_b.status, 404);
    let session_a = call(
        &server,
        "GET",
        &format!("/api/v1/sessions/sa?project={}", a.id),
        &[("cookie", &cookie)],
        None,
    );
    assert_eq!(session_a.body["events"].as_array().unwrap().len(), 1);
    // A token of A cannot be pointed at B either.
    let token_b = call(
        &server,
        "POST",
        &path_b,
        &[("authorization", &format!("Bearer {}", a.api_token))],
        Some(q.clone()),
    );
    assert_eq!(token_b.status, 404);
    let anonymous = call(&server, "POST", &path_a, &[], Some(q));
    assert_eq!(anonymous.status, 401);

    let out = call(
        &server,
        "POST",
        "/api/v1/logout",
        &[("cookie", &cookie), ("x-csrf-token", &csrf)],
        None,
    );
    assert_eq!(out.status, 204);
    assert_eq!(
        call(&server, "GET", "/api/v1/me", &[("cookie", &cookie)], None).status,
        401
    );
}

#[test]
fn behind_tls_the_cookie_is_secure_and_demo_prints_a_working_login() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["demo", "--page-views", "200", "--data"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let login = text
        .lines()
        .find_map(|l| l.strip_prefix("login"))
        .unwrap()
        .trim()
        .to_owned();
    let (email, password) = login.split_once(" / ").unwrap();
    let server = Server::start(dir.path());
    let ok = call(
        &server,
        "POST",
        "/api/v1/login",
        &[("x-forwarded-proto", "https")],
        Some(json!({"email": email, "password": password})),
    );
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert!(ok.set_cookie.unwrap().contains("; Secure"));
    assert_eq!(ok.body["projects"][0]["name"], json!("demo"));
}

#[test]
fn a_user_sees_the_snippet_and_changes_origins_and_retention() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two_projects_and_ann(dir.path());
    let server = Server::start(dir.path());
    let ok = call(
        &server,
        "POST",
        "/api/v1/login",
        &[],
        Some(json!({"email": "ann@example.com", "password": "correct horse"})),
    );
    let cookie = ok.set_cookie.unwrap().split(';').next().unwrap().to_owned();
    let csrf = ok.body["csrf_token"].as_str().unwrap().to_owned();

    let settings = call(
        &server,
        "GET",
        &format!("/api/v1/projects/{}", a.id),
        &[("cookie", &cookie)],
        None,
    );
    assert_eq!(settings.status, 200, "{}", settings.body);
    let snippet = settings.body["snippet"].as_str().unwrap();
    assert!(
        snippet.contains(&a.public_key)
            && snippet.contains("/agent/vigil.js")
            && snippet.starts_with("<script async"),
        "{snippet}"
    );
    assert_eq!(
        call(
            &server,
            "GET",
            &format!("/api/v1/projects/{}", b.id),
            &[("cookie", &cookie)],
            None
        )
        .status,
        404
    );

    let change = json!({"allowed_origins": ["https://shop.example.com"], "retention_days": 30});
    let path = format!("/api/v1/projects/{}", a.id);
    let put = |headers: &[(&str, &str)], body: &Value| {
        let r = call(&server, "PUT", &path, headers, Some(body.clone()));
        (r.status, r.body)
    };
    assert_eq!(put(&[("cookie", &cookie)], &change).0, 403, "no CSRF token");
    let bad = put(
        &[("cookie", &cookie), ("x-csrf-token", &csrf)],
        &json!({"allowed_origins": ["shop.example.com"]}),
    );
    assert_eq!(bad.0, 400);
    let (status, updated) = put(&[("cookie", &cookie), ("x-csrf-token", &csrf)], &change);
    assert_eq!(status, 200, "{updated}");
    assert_eq!(
        updated["allowed_origins"],
        json!(["https://shop.example.com"])
    );
    assert_eq!(updated["retention_days"], json!(30));
    // Intake follows within its 5 s key cache.
    let body = batch(
        "o",
        json!([{"type": "custom", "ts": now_ms(), "name": "x"}]),
    );
    let from = |origin: &str| {
        server
            .ingest_raw(
                &format!("?key={}", a.public_key),
                &[("content-type", "text/plain"), ("origin", origin)],
                &body,
            )
            .0
    };
    assert!(eventually(std::time::Duration::from_secs(8), || from(
        "https://evil.example"
    ) == 403));
    assert_eq!(from("https://shop.example.com"), 202);
}

/// Logs ann in; her cookie and CSRF token.
fn ann_logs_in(server: &Server) -> (String, String) {
    let ok = call(
        server,
        "POST",
        "/api/v1/login",
        &[],
        Some(json!({"email": "ann@example.com", "password": "correct horse"})),
    );
    assert_eq!(ok.status, 200, "{}", ok.body);
    let cookie = ok.set_cookie.unwrap().split(';').next().unwrap().to_owned();
    (cookie, ok.body["csrf_token"].as_str().unwrap().to_owned())
}

#[test]
fn a_user_creates_projects_and_issues_and_revokes_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two_projects_and_ann(dir.path());
    let server = Server::start(dir.path());
    let (cookie, csrf) = ann_logs_in(&server);
    let user = [("cookie", cookie.as_str()), ("x-csrf-token", csrf.as_str())];
    let tokens_a = format!("/api/v1/projects/{}/tokens", a.id);
    let count = |token: &str| server.query(token, &json!({"metric": "views", "from": 0, "to": 1}));

    let listed = call(&server, "GET", &tokens_a, &user, None);
    assert_eq!(listed.status, 200, "{}", listed.body);
    let first = &listed.body["tokens"].as_array().unwrap()[..];
    assert_eq!(first.len(), 1);
    assert_eq!(
        first[0]["hint"],
        json!(&a.api_token[a.api_token.len() - 4..])
    );
    assert!(
        !listed.body.to_string().contains(&a.api_token),
        "the secret is never listed"
    );

    let made = call(&server, "POST", &tokens_a, &user, None);
    assert_eq!(made.status, 201, "{}", made.body);
    let new_token = made.body["token"].as_str().unwrap().to_owned();
    assert_eq!(count(&new_token).0, 200);
    assert_eq!(
        call(&server, "GET", &tokens_a, &user, None).body["tokens"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    let revoke = format!("{tokens_a}/{}", first[0]["id"]);
    assert_eq!(
        call(&server, "DELETE", &revoke, &[("cookie", &cookie)], None).status,
        403,
        "CSRF"
    );
    assert_eq!(call(&server, "DELETE", &revoke, &user, None).status, 204);
    assert_eq!(count(&a.api_token).0, 401, "a revoked token reads nothing");
    assert_eq!(count(&new_token).0, 200);
    assert_eq!(call(&server, "DELETE", &revoke, &user, None).status, 404);

    // Not ann's project; and an API token cannot manage tokens.
    let tokens_b = format!("/api/v1/projects/{}/tokens", b.id);
    assert_eq!(call(&server, "GET", &tokens_b, &user, None).status, 404);
    assert_eq!(call(&server, "POST", &tokens_b, &user, None).status, 404);
    let bearer = format!("Bearer {new_token}");
    assert_eq!(
        call(
            &server,
            "GET",
            &tokens_a,
            &[("authorization", &bearer)],
            None
        )
        .status,
        401
    );
    assert_eq!(count(&b.api_token).0, 200, "b's token untouched");

    let created = call(
        &server,
        "POST",
        "/api/v1/projects",
        &user,
        Some(json!({"name": "c", "allowed_origins": ["https://c.example"]})),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let c_token = created.body["api_token"].as_str().unwrap();
    assert_eq!(count(c_token).0, 200);
    assert!(
        created.body["snippet"]
            .as_str()
            .unwrap()
            .contains(created.body["public_key"].as_str().unwrap())
    );
    let me = call(&server, "GET", "/api/v1/me", &user, None);
    let names: Vec<&str> = me.body["projects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a", "c"]);
    for (body, status, code) in [
        (json!({"name": "b"}), 409, "conflict"),
        (json!({"name": "  "}), 400, "invalid_query"),
        (
            json!({"name": "d", "allowed_origins": ["d.example"]}),
            400,
            "invalid_query",
        ),
        (
            json!({"name": "d", "retention_days": 0}),
            400,
            "invalid_query",
        ),
        (json!({"name": "d", "owner": "x"}), 400, "invalid_query"),
    ] {
        let r = call(
            &server,
            "POST",
            "/api/v1/projects",
            &user,
            Some(body.clone()),
        );
        assert_eq!(
            (r.status, r.body["code"].as_str()),
            (status, Some(code)),
            "{body}"
        );
    }
    assert_eq!(
        call(
            &server,
            "POST",
            "/api/v1/projects",
            &[("cookie", &cookie)],
            Some(json!({"name": "e"}))
        )
        .status,
        403
    );
    assert_eq!(
        call(
            &server,
            "POST",
            "/api/v1/projects",
            &[("authorization", &bearer)],
            Some(json!({"name": "e"}))
        )
        .status,
        401
    );
}

#[test]
fn repeated_wrong_passwords_lock_that_email_only() {
    let dir = tempfile::tempdir().unwrap();
    two_projects_and_ann(dir.path());
    let server = Server::start(dir.path());
    let sign_in = |email: &str, password: &str| {
        call(
            &server,
            "POST",
            "/api/v1/login",
            &[],
            Some(json!({"email": email, "password": password})),
        )
    };
    // A success clears the count.
    for _ in 0..9 {
        assert_eq!(sign_in("ann@example.com", "wrong horse").status, 401);
    }
    assert_eq!(sign_in("ann@example.com", "correct horse").status, 200);
    for _ in 0..10 {
        assert_eq!(sign_in("ann@example.com", "wrong horse").status, 401);
    }
    let locked = sign_in("ANN@example.com", "correct horse");
    assert_eq!(
        (locked.status, locked.body["code"].as_str()),
        (429, Some("too_many_attempts"))
    );
    assert!(
        locked.set_cookie.is_none(),
        "no session while locked, even with the right password"
    );
    // Another email is unaffected, and the server keeps serving.
    assert_eq!(sign_in("nobody@example.com", "whatever1").status, 401);
    assert_eq!(server.get("/healthz", None).0, 200);
}

#[test]
fn a_member_adds_and_removes_members() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two_projects_and_ann(dir.path());
    let server = Server::start(dir.path());
    let (cookie, csrf) = ann_logs_in(&server);
    let ann = [("cookie", cookie.as_str()), ("x-csrf-token", csrf.as_str())];
    let members_a = format!("/api/v1/projects/{}/members", a.id);
    let emails = |r: &Reply| -> Vec<String> {
        r.body["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["email"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        emails(&call(&server, "GET", &members_a, &ann, None)),
        ["ann@example.com"]
    );

    let added = call(
        &server,
        "POST",
        &members_a,
        &ann,
        Some(json!({"email": "bob@example.com"})),
    );
    assert_eq!(added.status, 201, "{}", added.body);
    let password = added.body["password"].as_str().unwrap().to_owned();
    let bob_id = added.body["member"]["id"].as_i64().unwrap();
    assert_eq!(
        emails(&call(&server, "GET", &members_a, &ann, None)),
        ["ann@example.com", "bob@example.com"]
    );
    let bob = call(
        &server,
        "POST",
        "/api/v1/login",
        &[],
        Some(json!({"email": "bob@example.com", "password": password})),
    );
    assert_eq!(bob.status, 200, "the generated password works");
    assert_eq!(bob.body["projects"][0]["id"], json!(a.id));
    let bob_cookie = bob
        .set_cookie
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let bob_reads = || {
        call(
            &server,
            "GET",
            &format!("/api/v1/projects/{}", a.id),
            &[("cookie", &bob_cookie)],
            None,
        )
        .status
    };
    assert_eq!(bob_reads(), 200);

    // An existing user is added without a password; other projects and bad input are refused.
    let again = call(
        &server,
        "POST",
        &members_a,
        &ann,
        Some(json!({"email": "BOB@example.com"})),
    );
    assert_eq!(
        (again.status, again.body["password"].clone()),
        (200, Value::Null)
    );
    let members_b = format!("/api/v1/projects/{}/members", b.id);
    assert_eq!(
        call(
            &server,
            "POST",
            &members_b,
            &ann,
            Some(json!({"email": "eve@example.com"}))
        )
        .status,
        404
    );
    assert_eq!(call(&server, "GET", &members_b, &ann, None).status, 404);
    for bad in [
        json!({"email": "not-an-email"}),
        json!({"email": "a b@example.com"}),
        json!({"mail": "x@example.com"}),
    ] {
        assert_eq!(
            call(&server, "POST", &members_a, &ann, Some(bad.clone())).status,
            400,
            "{bad}"
        );
    }
    assert_eq!(
        call(
            &server,
            "POST",
            &members_a,
            &[("cookie", &cookie)],
            Some(json!({"email": "x@example.com"}))
        )
        .status,
        403
    );
    let bearer = format!("Bearer {}", a.api_token);
    assert_eq!(
        call(
            &server,
            "GET",
            &members_a,
            &[("authorization", &bearer)],
            None
        )
        .status,
        401
    );

    // Removal takes effect at once; nobody removes themselves.
    assert_eq!(
        call(
            &server,
            "DELETE",
            &format!("{members_a}/{bob_id}"),
            &ann,
            None
        )
        .status,
        204
    );
    assert_eq!(bob_reads(), 404);
    assert_eq!(
        call(
            &server,
            "DELETE",
            &format!("{members_a}/{bob_id}"),
            &ann,
            None
        )
        .status,
        404
    );
    let me = call(&server, "GET", "/api/v1/me", &ann, None);
    let ann_id = me.body["user"]["id"].as_i64().unwrap();
    let own = call(
        &server,
        "DELETE",
        &format!("{members_a}/{ann_id}"),
        &ann,
        None,
    );
    assert_eq!(
        (own.status, own.body["code"].as_str()),
        (409, Some("conflict"))
    );
}

#[test]
fn a_user_changes_their_password_and_other_sessions_end() {
    let dir = tempfile::tempdir().unwrap();
    two_projects_and_ann(dir.path());
    let server = Server::start(dir.path());
    let (cookie, csrf) = ann_logs_in(&server);
    let (other_cookie, _) = ann_logs_in(&server);
    let ann = [("cookie", cookie.as_str()), ("x-csrf-token", csrf.as_str())];
    let change =
        |body: Value| call(&server, "POST", "/api/v1/me/password", &ann, Some(body)).status;
    assert_eq!(
        change(json!({"current": "wrong horse", "new": "battery staple"})),
        401
    );
    assert_eq!(
        change(json!({"current": "correct horse", "new": "short"})),
        400
    );
    assert_eq!(
        call(
            &server,
            "POST",
            "/api/v1/me/password",
            &[("cookie", &cookie)],
            Some(json!({"current": "correct horse", "new": "battery staple"}))
        )
        .status,
        403,
        "CSRF"
    );
    assert_eq!(
        change(json!({"current": "correct horse", "new": "battery staple"})),
        204
    );
    // This session goes on; the other one ended; only the new password signs in.
    assert_eq!(call(&server, "GET", "/api/v1/me", &ann, None).status, 200);
    assert_eq!(
        call(
            &server,
            "GET",
            "/api/v1/me",
            &[("cookie", &other_cookie)],
            None
        )
        .status,
        401
    );
    let sign_in = |password: &str| {
        call(
            &server,
            "POST",
            "/api/v1/login",
            &[],
            Some(json!({"email": "ann@example.com", "password": password})),
        )
        .status
    };
    assert_eq!(sign_in("correct horse"), 401);
    assert_eq!(sign_in("battery staple"), 200);
}
