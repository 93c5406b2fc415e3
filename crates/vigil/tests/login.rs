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
        "DELETE" => with_headers(
            agent
                .delete(&url)
                .header("content-type", "application/json"),
        ),
        _ => {
            let mut req = if method == "PUT" {
                agent.put(&url)
            } else {
                agent.post(&url)
            };
            // What the dashboard sends; a test that wants another type says so.
            if !headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
            {
                req = req.header("content-type", "application/json");
            }
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
    add_user(dir, "ann@example.com", "a", "correct horse");
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
        403,
        "a known token, but tokens do not manage tokens"
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
        (json!({"name": "  "}), 400, "invalid_body"),
        (
            json!({"name": "d", "allowed_origins": ["d.example"]}),
            400,
            "invalid_body",
        ),
        (
            json!({"name": "d", "retention_days": 0}),
            400,
            "invalid_body",
        ),
        (json!({"name": "d", "owner": "x"}), 400, "invalid_body"),
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
        403
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
fn an_owner_invites_members_who_accept_and_removes_them() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two_projects_and_ann(dir.path());
    let server = Server::start(dir.path());
    let (cookie, csrf) = ann_logs_in(&server);
    let ann = [("cookie", cookie.as_str()), ("x-csrf-token", csrf.as_str())];
    let members_a = format!("/api/v1/projects/{}/members", a.id);
    let members = || -> Vec<(String, String)> {
        let r = call(&server, "GET", &members_a, &ann, None);
        assert_eq!(r.status, 200, "{}", r.body);
        r.body["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["email"].as_str().unwrap().to_owned(),
                    m["role"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    assert_eq!(members(), [("ann@example.com".into(), "owner".into())]);

    // Inviting gives a one-time link, not a password; access starts on acceptance only.
    let invited = call(
        &server,
        "POST",
        &members_a,
        &ann,
        Some(json!({"email": "bob@example.com", "role": "viewer"})),
    );
    assert_eq!(invited.status, 201, "{}", invited.body);
    assert!(invited.body.get("password").is_none(), "{}", invited.body);
    let link = invited.body["link"].as_str().unwrap().to_owned();
    let secret = link.split_once("/invite#").unwrap().1.to_owned();
    assert!(secret.starts_with("vi_"), "{link}");
    assert_eq!(members().len(), 1, "not a member before accepting");
    let pending = call(
        &server,
        "GET",
        &format!("/api/v1/projects/{}/invitations", a.id),
        &ann,
        None,
    );
    assert_eq!(
        pending.body["invitations"][0]["email"],
        json!("bob@example.com")
    );
    assert!(!pending.body.to_string().contains(&secret), "never listed");

    let lookup = call(
        &server,
        "POST",
        "/api/v1/invitations/lookup",
        &[],
        Some(json!({"secret": secret})),
    );
    assert_eq!(lookup.status, 200, "{}", lookup.body);
    assert_eq!(
        (&lookup.body["project"]["name"], &lookup.body["role"]),
        (&json!("a"), &json!("viewer"))
    );
    let accept = |body: Value| {
        call(
            &server,
            "POST",
            "/api/v1/invitations/accept",
            &[],
            Some(body),
        )
    };
    assert_eq!(
        accept(json!({"secret": secret, "password": "short"})).status,
        400
    );
    let bob = accept(json!({"secret": secret, "password": "bob's own password"}));
    assert_eq!(bob.status, 200, "{}", bob.body);
    assert_eq!(bob.body["projects"][0]["id"], json!(a.id));
    assert_eq!(bob.body["projects"][0]["role"], json!("viewer"));
    let bob_cookie = bob
        .set_cookie
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let bob_id = bob.body["user"]["id"].as_i64().unwrap();
    assert_eq!(
        members(),
        [
            ("ann@example.com".into(), "owner".into()),
            ("bob@example.com".into(), "viewer".into())
        ]
    );
    assert_eq!(
        accept(json!({"secret": secret, "password": "bob's own password"})).status,
        404,
        "a link works once"
    );
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
    let sign_in = call(
        &server,
        "POST",
        "/api/v1/login",
        &[],
        Some(json!({"email": "bob@example.com", "password": "bob's own password"})),
    );
    assert_eq!(sign_in.status, 200, "the chosen password signs in");

    // Roles: owners change them; the last owner stays.
    let role = |user: i64, r: &str| {
        call(
            &server,
            "PUT",
            &format!("{members_a}/{user}"),
            &ann,
            Some(json!({"role": r})),
        )
    };
    assert_eq!(role(bob_id, "member").status, 200);
    let me = call(&server, "GET", "/api/v1/me", &ann, None);
    let ann_id = me.body["user"]["id"].as_i64().unwrap();
    let demote = role(ann_id, "member");
    assert_eq!(
        (demote.status, demote.body["code"].as_str()),
        (409, Some("conflict"))
    );

    // Other projects, bad input, missing CSRF and API tokens are refused.
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
        json!({"email": "x@example.com", "role": "root"}),
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
        403
    );

    // Removal takes effect at once; the last owner cannot be removed.
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

/// Signs in; the cookie and CSRF token.
fn sign_in(server: &Server, email: &str, password: &str) -> (String, String) {
    let ok = call(
        server,
        "POST",
        "/api/v1/login",
        &[],
        Some(json!({"email": email, "password": password})),
    );
    assert_eq!(ok.status, 200, "{}", ok.body);
    let cookie = ok.set_cookie.unwrap().split(';').next().unwrap().to_owned();
    (cookie, ok.body["csrf_token"].as_str().unwrap().to_owned())
}

/// Issue #4: a read token set retention to 1 day and replaced the allowed origins.
#[test]
fn a_read_token_cannot_change_settings_and_scoped_tokens_do_only_their_part() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _) = two_projects_and_ann(dir.path());
    let server = Server::start(dir.path());
    let path = format!("/api/v1/projects/{}", a.id);
    let put = |token: &str, body: Value| {
        let r = call(
            &server,
            "PUT",
            &path,
            &[("authorization", &format!("Bearer {token}"))],
            Some(body),
        );
        (r.status, r.body["code"].as_str().map(str::to_owned))
    };
    let attack = json!({"retention_days": 1, "allowed_origins": ["https://evil.example"]});
    assert_eq!(
        put(&a.api_token, attack.clone()),
        (403, Some("forbidden".into()))
    );
    let (status, body) = server.get(&path, Some(&a.api_token));
    assert_eq!(status, 200, "a read token still reads the settings");
    let settings: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (&settings["retention_days"], &settings["allowed_origins"]),
        (&json!(90), &json!(["*"])),
        "nothing changed"
    );

    // Scoped tokens, issued by an owner: ingest-admin sets origins only, admin both.
    let (cookie, csrf) = ann_logs_in(&server);
    let owner = [("cookie", cookie.as_str()), ("x-csrf-token", csrf.as_str())];
    let issue = |scope: &str| {
        let r = call(
            &server,
            "POST",
            &format!("{path}/tokens"),
            &owner,
            Some(json!({"scope": scope})),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        r.body["token"].as_str().unwrap().to_owned()
    };
    let ingest_admin = issue("ingest-admin");
    let admin = issue("admin");
    assert_eq!(
        put(
            &ingest_admin,
            json!({"allowed_origins": ["https://shop.example"]})
        )
        .0,
        200
    );
    assert_eq!(put(&ingest_admin, json!({"retention_days": 1})).0, 403);
    assert_eq!(put(&admin, json!({"retention_days": 7})).0, 200);
    let (_, body) = server.get(&path, Some(&a.api_token));
    let settings: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (&settings["retention_days"], &settings["allowed_origins"]),
        (&json!(7), &json!(["https://shop.example"]))
    );
    let listed = call(&server, "GET", &format!("{path}/tokens"), &owner, None);
    let scopes: Vec<&str> = listed.body["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["scope"].as_str().unwrap())
        .collect();
    assert_eq!(scopes, ["read", "ingest-admin", "admin"]);
}

/// Issue #12: login and cookie writes only from our own page, as JSON; `Secure` from the
/// first X-Forwarded-Proto, in any case.
#[test]
fn sign_in_and_cookie_writes_refuse_other_sites_and_non_json_bodies() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _) = two_projects_and_ann(dir.path());
    let server = Server::start(dir.path());
    let creds = json!({"email": "ann@example.com", "password": "correct horse"});
    let login = |headers: &[(&str, &str)]| {
        let r = call(
            &server,
            "POST",
            "/api/v1/login",
            headers,
            Some(creds.clone()),
        );
        (
            r.status,
            r.body["code"].as_str().map(str::to_owned),
            r.set_cookie,
        )
    };
    let own_origin = format!("http://{}", server.addr);
    for (headers, status, code) in [
        (
            vec![("content-type", "text/plain")],
            415,
            "unsupported_media_type",
        ),
        (
            vec![("content-type", "application/x-www-form-urlencoded")],
            415,
            "unsupported_media_type",
        ),
        (
            vec![("origin", "https://evil.example")],
            403,
            "cross_origin",
        ),
        (vec![("origin", "null")], 403, "cross_origin"),
        (vec![("sec-fetch-site", "cross-site")], 403, "cross_origin"),
    ] {
        let (got, got_code, cookie) = login(&headers);
        assert_eq!(
            (got, got_code.as_deref()),
            (status, Some(code)),
            "{headers:?}"
        );
        assert!(cookie.is_none());
    }
    let (status, _, cookie) = login(&[
        ("origin", own_origin.as_str()),
        ("sec-fetch-site", "same-origin"),
        ("x-forwarded-proto", "HTTPS, http"),
    ]);
    assert_eq!(status, 200);
    let cookie = cookie.unwrap();
    assert!(cookie.ends_with("; Secure"), "{cookie}");
    let (_, _, cookie) = login(&[("x-forwarded-proto", "http, https")]);
    assert!(
        !cookie.unwrap().contains("Secure"),
        "the client's hop was http"
    );

    // A cookie write with the right CSRF token still needs our origin and JSON.
    let (cookie, csrf) = ann_logs_in(&server);
    let path = format!("/api/v1/projects/{}", a.id);
    let put = |extra: &[(&str, &str)]| {
        let mut headers = vec![("cookie", cookie.as_str()), ("x-csrf-token", csrf.as_str())];
        headers.extend_from_slice(extra);
        let r = call(
            &server,
            "PUT",
            &path,
            &headers,
            Some(json!({"retention_days": 2})),
        );
        (r.status, r.body["code"].as_str().map(str::to_owned))
    };
    assert_eq!(
        put(&[("content-type", "text/plain")]),
        (415, Some("unsupported_media_type".into()))
    );
    assert_eq!(
        put(&[("origin", "https://evil.example")]),
        (403, Some("cross_origin".into()))
    );
    assert_eq!(put(&[("origin", own_origin.as_str())]).0, 200);
    // Scripts with a token are not browsers: no origin or content-type rules for them.
    let q = server.post(
        &a.api_token,
        "/api/v1/query",
        &json!({"metric": "views", "from": 0, "to": 1}),
    );
    assert_eq!(q.0, 200);
}

/// Issue #6: oversized credentials are refused before the throttle or argon2 see them.
#[test]
fn oversized_credentials_are_refused_before_anything() {
    let dir = tempfile::tempdir().unwrap();
    two_projects_and_ann(dir.path());
    let server = Server::start(dir.path());
    let login = |email: String, password: String| {
        call(
            &server,
            "POST",
            "/api/v1/login",
            &[],
            Some(json!({"email": email, "password": password})),
        )
    };
    let long_email = format!("{}@example.com", "a".repeat(255 - 12));
    assert_eq!(long_email.len(), 255);
    assert_eq!(login(long_email, "whatever".into()).status, 400);
    assert_eq!(
        login("ann@example.com".into(), "p".repeat(1025)).status,
        400
    );
    let huge = login(format!("{}@example.com", "a".repeat(64 << 10)), "x".into());
    assert_eq!(huge.status, 413, "{}", huge.body);
    // None of these counted against ann.
    assert_eq!(
        login("ann@example.com".into(), "correct horse".into()).status,
        200
    );
}

/// The server's resident memory, kB: (now, peak).
fn rss_kb(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap()
            .trim()
            .trim_end_matches(" kB")
            .parse()
            .unwrap()
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Issue #6: 256 parallel sign-ins with fresh emails ran argon2 (19 MiB each) at once and
/// left gigabytes behind. Now a few hash at a time, the rest are told to come back, memory
/// stays bounded, and the real user signs in afterwards.
#[test]
fn a_flood_of_sign_ins_with_fresh_emails_keeps_memory_bounded() {
    let dir = tempfile::tempdir().unwrap();
    two_projects_and_ann(dir.path());
    let server = Server::start(dir.path());
    // One sign-in first, so the baseline includes what any sign-in sets up once.
    ann_logs_in(&server);
    let (before, _) = rss_kb(server.pid());
    let flood: Vec<_> = (0..256)
        .map(|i| {
            let url = server.url("/api/v1/login");
            std::thread::spawn(move || {
                let mut resp = agent()
                    .post(&url)
                    .header("content-type", "application/json")
                    .send(
                        json!({"email": format!("fresh-{i}@example.com"), "password": "guess-guess"})
                            .to_string()
                            .as_bytes(),
                    )
                    .unwrap();
                let retry = resp.headers().get("retry-after").is_some();
                let body: Value =
                    serde_json::from_str(&resp.body_mut().read_to_string().unwrap()).unwrap();
                (resp.status().as_u16(), body["code"].as_str().unwrap().to_owned(), retry)
            })
        })
        .collect();
    let answers: Vec<_> = flood.into_iter().map(|t| t.join().unwrap()).collect();
    let busy = answers.iter().filter(|a| a.0 == 503).count();
    for (status, code, retry) in &answers {
        match status {
            401 => assert_eq!(code, "invalid_credentials"),
            503 => assert!(code == "busy" && *retry, "{code}"),
            other => panic!("unexpected {other} {code}"),
        }
    }
    let (after, peak) = rss_kb(server.pid());
    eprintln!(
        "flood: {} checked, {busy} busy; RSS {before} kB before, {after} kB after, peak {peak} kB",
        answers.len() - busy
    );
    // 256 hashes at once were 4.8 GiB; a few slots are well under 200 MiB.
    assert!(
        peak < before + 200 * 1024,
        "peak RSS {peak} kB, {before} kB before the flood"
    );
    assert!(after < before + 200 * 1024, "RSS {after} kB kept");
    assert_eq!(
        call(
            &server,
            "POST",
            "/api/v1/login",
            &[],
            Some(json!({"email": "ann@example.com", "password": "correct horse"}))
        )
        .status,
        200
    );
}

/// Issue #7, the exact attack: a member of A pre-registered an email through A; when B later
/// added that (existing) user, A's member read B's data.
#[test]
fn an_account_pre_registered_through_one_project_cannot_read_another() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two_projects_and_ann(dir.path());
    add_user(dir.path(), "mallory@example.com", "a", "mallory password");
    add_user(dir.path(), "bob@example.com", "b", "bob's password");
    let server = Server::start(dir.path());
    assert_eq!(
        server
            .ingest(
                &b.public_key,
                &batch(
                    "sb",
                    json!([{"type": "custom", "ts": now_ms(), "name": "secret"}])
                )
            )
            .0,
        202
    );

    // Mallory invites the victim's email to A and, holding the link, picks its password.
    let (m_cookie, m_csrf) = sign_in(&server, "mallory@example.com", "mallory password");
    let mallory = [
        ("cookie", m_cookie.as_str()),
        ("x-csrf-token", m_csrf.as_str()),
    ];
    let invite_a = call(
        &server,
        "POST",
        &format!("/api/v1/projects/{}/members", a.id),
        &mallory,
        Some(json!({"email": "victim@example.com"})),
    );
    assert_eq!(invite_a.status, 201, "{}", invite_a.body);
    let secret_a = invite_a.body["link"]
        .as_str()
        .unwrap()
        .split_once('#')
        .unwrap()
        .1
        .to_owned();
    let accept = |headers: &[(&str, &str)], body: Value| {
        call(
            &server,
            "POST",
            "/api/v1/invitations/accept",
            headers,
            Some(body),
        )
    };
    let squatted = accept(
        &[],
        json!({"secret": secret_a, "password": "mallory knows this"}),
    );
    assert_eq!(squatted.status, 200, "{}", squatted.body);

    // Bob invites the (now existing) email to B: nothing is granted until the invitee uses
    // B's own link.
    let (b_cookie, b_csrf) = sign_in(&server, "bob@example.com", "bob's password");
    let bob = [
        ("cookie", b_cookie.as_str()),
        ("x-csrf-token", b_csrf.as_str()),
    ];
    let invite_b = call(
        &server,
        "POST",
        &format!("/api/v1/projects/{}/members", b.id),
        &bob,
        Some(json!({"email": "victim@example.com"})),
    );
    assert_eq!(invite_b.status, 201, "{}", invite_b.body);
    let secret_b = invite_b.body["link"]
        .as_str()
        .unwrap()
        .split_once('#')
        .unwrap()
        .1
        .to_owned();

    // Mallory signs in as the victim's account: B stays invisible, whatever she tries.
    let (v_cookie, v_csrf) = sign_in(&server, "victim@example.com", "mallory knows this");
    let as_victim = [
        ("cookie", v_cookie.as_str()),
        ("x-csrf-token", v_csrf.as_str()),
    ];
    let reads_b = || {
        let q = call(
            &server,
            "POST",
            &format!("/api/v1/query?project={}", b.id),
            &as_victim,
            Some(json!({"metric": "custom_events", "from": 0, "to": i64::MAX / 2})),
        );
        q.status
    };
    assert_eq!(reads_b(), 404);
    let me = call(&server, "GET", "/api/v1/me", &as_victim, None);
    assert_eq!(me.body["projects"].as_array().unwrap().len(), 1);
    assert_eq!(me.body["projects"][0]["id"], json!(a.id));
    // A's secret does not open B, signed in or not, and is used up anyway.
    assert_eq!(accept(&as_victim, json!({"secret": secret_a})).status, 404);
    assert_eq!(
        accept(
            &[],
            json!({"secret": secret_a, "password": "mallory knows this"})
        )
        .status,
        404
    );
    assert_eq!(reads_b(), 404);
    // B's link does not reset the existing account's password for whoever opens it: the
    // real victim, not knowing Mallory's password, is refused rather than handed an account
    // Mallory can sign in to.
    let real = accept(
        &[],
        json!({"secret": secret_b, "password": "victim's own password"}),
    );
    assert_eq!(real.status, 401, "{}", real.body);
    assert!(real.set_cookie.is_none());
    assert_eq!(reads_b(), 404);
    let members_b = call(
        &server,
        "GET",
        &format!("/api/v1/projects/{}/members", b.id),
        &bob,
        None,
    );
    assert_eq!(
        members_b.body["members"].as_array().unwrap().len(),
        1,
        "only bob"
    );
}

/// The shape of a JSON value: its keys and value types, not its values.
fn shape(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), shape(v))).collect()),
        Value::Array(a) => Value::Array(a.iter().map(shape).collect()),
        Value::String(_) => json!("string"),
        Value::Number(_) => json!("number"),
        Value::Bool(_) => json!("bool"),
        Value::Null => json!("null"),
    }
}

/// Issue #7: adding a member answered 200 for an existing email and 201 for a new one.
#[test]
fn inviting_does_not_tell_whether_an_email_has_an_account() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _) = two_projects_and_ann(dir.path());
    add_user(dir.path(), "elsewhere@example.com", "b", "their password");
    let server = Server::start(dir.path());
    let (cookie, csrf) = ann_logs_in(&server);
    let ann = [("cookie", cookie.as_str()), ("x-csrf-token", csrf.as_str())];
    let invite = |email: &str| {
        call(
            &server,
            "POST",
            &format!("/api/v1/projects/{}/members", a.id),
            &ann,
            Some(json!({"email": email})),
        )
    };
    let existing = invite("elsewhere@example.com");
    let fresh = invite("nobody-yet@example.com");
    assert_eq!((existing.status, fresh.status), (201, 201));
    assert_eq!(shape(&existing.body), shape(&fresh.body));
    assert_eq!(
        existing.body["invitation"]["role"],
        fresh.body["invitation"]["role"]
    );
    // Nor does the lookup behind the link.
    let lookup = |r: &Reply| {
        let secret = r.body["link"].as_str().unwrap().split_once('#').unwrap().1;
        call(
            &server,
            "POST",
            "/api/v1/invitations/lookup",
            &[],
            Some(json!({"secret": secret})),
        )
    };
    let (l1, l2) = (lookup(&existing), lookup(&fresh));
    assert_eq!((l1.status, shape(&l1.body)), (l2.status, shape(&l2.body)));
}
