//! Every route × every kind of credential, against the real binary: each answer must be the
//! allow or deny that docs/api.md's access table says. Routes are read from the router's
//! source, so a route added without a row here fails this test.

mod common;

use common::*;
use serde_json::{Value, json};
use std::cell::Cell;

/// The kinds of credential a request can carry, in the order of the expectation columns.
#[derive(Clone, Copy, Debug)]
enum Cred {
    None,
    PublicKey,
    ReadToken,
    IngestAdminToken,
    AdminToken,
    OtherProjectToken,
    Viewer,
    Member,
    Owner,
    OtherProjectUser,
    /// The owner's cookie without the session's CSRF token.
    CookieWithoutCsrf,
}

const CREDS: [Cred; 11] = [
    Cred::None,
    Cred::PublicKey,
    Cred::ReadToken,
    Cred::IngestAdminToken,
    Cred::AdminToken,
    Cred::OtherProjectToken,
    Cred::Viewer,
    Cred::Member,
    Cred::Owner,
    Cred::OtherProjectUser,
    Cred::CookieWithoutCsrf,
];

/// A signed-in user: email, password, and a session (cookie, CSRF token).
#[derive(Clone, Default)]
struct User {
    email: String,
    password: String,
    cookie: String,
    csrf: String,
}

struct Env {
    server: Server,
    a: ProjectKeys,
    b: ProjectKeys,
    ingest_admin_token: String,
    admin_token: String,
    owner: User,
    member: User,
    viewer: User,
    other: User,
    /// A member of `a` whose role the role-change row sets.
    target_id: i64,
    /// The fingerprint of an error group of `a`.
    error_group: String,
    /// The fingerprint of a crash group of `a`.
    crash_group: String,
    counter: Cell<u32>,
    /// The PostgreSQL metadata database, when the server uses one.
    meta_url: Option<String>,
}

struct Reply {
    status: u16,
    body: Value,
    set_cookie: Option<String>,
}

fn send(
    server: &Server,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: Option<&[u8]>,
) -> Reply {
    let agent = agent();
    let url = server.url(path);
    let mut resp = match (method, body) {
        ("GET", _) | ("DELETE", None) => {
            let mut req = if method == "GET" {
                agent.get(&url)
            } else {
                agent.delete(&url)
            };
            for (k, v) in headers {
                req = req.header(k, v);
            }
            req.call().unwrap()
        }
        _ => {
            let mut req = match method {
                "PUT" => agent.put(&url),
                "DELETE" => panic!("DELETE carries no body here"),
                _ => agent.post(&url),
            };
            for (k, v) in headers {
                req = req.header(k, v);
            }
            req.send(body.unwrap_or(b"")).unwrap()
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

fn json_headers(extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut h = vec![("content-type".to_owned(), "application/json".to_owned())];
    h.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    h
}

fn sign_in(server: &Server, email: &str, password: &str) -> User {
    let r = send(
        server,
        "POST",
        "/api/v1/login",
        &json_headers(&[]),
        Some(
            json!({"email": email, "password": password})
                .to_string()
                .as_bytes(),
        ),
    );
    assert_eq!(r.status, 200, "{email}: {}", r.body);
    User {
        email: email.to_owned(),
        password: password.to_owned(),
        cookie: r.set_cookie.unwrap().split(';').next().unwrap().to_owned(),
        csrf: r.body["csrf_token"].as_str().unwrap().to_owned(),
    }
}

impl Env {
    fn fresh(&self, what: &str) -> String {
        self.counter.set(self.counter.get() + 1);
        format!("{what}-{}", self.counter.get())
    }

    fn as_owner(&self, method: &str, path: &str, body: Value) -> Reply {
        let r = send(
            &self.server,
            method,
            path,
            &json_headers(&[
                ("cookie", &self.owner.cookie),
                ("x-csrf-token", &self.owner.csrf),
            ]),
            Some(body.to_string().as_bytes()),
        );
        assert!(r.status < 300, "{method} {path}: {} {}", r.status, r.body);
        r
    }

    /// Invites a fresh email to `a` with `role`: (invitation id, secret).
    fn invite(&self, role: &str) -> (i64, String) {
        let email = format!("{}@example.com", self.fresh("invitee"));
        let r = self.as_owner(
            "POST",
            &format!("/api/v1/projects/{}/members", self.a.id),
            json!({"email": email, "role": role}),
        );
        let secret = r.body["link"]
            .as_str()
            .unwrap()
            .split_once('#')
            .unwrap()
            .1
            .to_owned();
        (r.body["invitation"]["id"].as_i64().unwrap(), secret)
    }

    /// A new user of `a` with `role`, through an invitation: their id and session.
    fn new_member(&self, role: &str) -> (i64, User) {
        let (_, secret) = self.invite(role);
        let r = send(
            &self.server,
            "POST",
            "/api/v1/invitations/accept",
            &json_headers(&[]),
            Some(
                json!({"secret": secret, "password": "invitee password"})
                    .to_string()
                    .as_bytes(),
            ),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let user = User {
            email: r.body["user"]["email"].as_str().unwrap().to_owned(),
            password: "invitee password".into(),
            cookie: r.set_cookie.unwrap().split(';').next().unwrap().to_owned(),
            csrf: r.body["csrf_token"].as_str().unwrap().to_owned(),
        };
        (r.body["user"]["id"].as_i64().unwrap(), user)
    }

    /// Uploads a map to `a` as its owner; the upload's id.
    fn upload_map(&self) -> i64 {
        let r = send(
            &self.server,
            "POST",
            &format!(
                "/api/v1/sourcemaps?project={}&release=1.0&url=~/{}.js",
                self.a.id,
                self.fresh("bundle")
            ),
            &json_headers(&[
                ("cookie", &self.owner.cookie),
                ("x-csrf-token", &self.owner.csrf),
            ]),
            Some(TINY_MAP.as_bytes()),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        r.body["id"].as_i64().unwrap()
    }

    /// A trace with one span in `a`, sent over OTLP with the public key; its id.
    fn send_trace(&self) -> String {
        let trace = format!("{:032x}", 0xabc0_0000_u64 + u64::from(self.counter.get()));
        self.counter.set(self.counter.get() + 1);
        let r = send(
            &self.server,
            "POST",
            "/v1/traces",
            &json_headers(&[("x-vigil-key", &self.a.public_key)]),
            Some(otlp_span(&trace).as_slice()),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        trace
    }

    /// A token of `a` with `scope`: (id, token).
    /// A new alert rule of `a` (with a webhook, so it can be tested), written straight
    /// into meta.db: rows that delete or change one get their own.
    fn new_rule(&self) -> i64 {
        let meta = open_meta(&self.server.data, self.meta_url.as_deref());
        let rule = json!({
            "name": "matrix", "metric": "lcp", "aggregation": "p75", "condition": "above",
            "threshold": 4000, "channels": [{"type": "webhook", "url": "https://hooks.example.invalid/matrix"}]
        });
        meta.create_alert_rule(self.a.id as u32, &rule.to_string(), now_ms())
            .unwrap()
            .id
    }

    fn token(&self, scope: &str) -> (i64, String) {
        let r = self.as_owner(
            "POST",
            &format!("/api/v1/projects/{}/tokens", self.a.id),
            json!({"scope": scope}),
        );
        (
            r.body["id"].as_i64().unwrap(),
            r.body["token"].as_str().unwrap().to_owned(),
        )
    }

    /// The headers `cred` adds; `fresh_session` signs the user in again first (for routes
    /// that end the session they are called with).
    fn headers(&self, cred: Cred, fresh_session: bool) -> Vec<(String, String)> {
        let bearer = |t: &str| vec![("authorization".to_owned(), format!("Bearer {t}"))];
        let user = |u: &User, csrf: bool| {
            let u = if fresh_session {
                sign_in(&self.server, &u.email, &u.password)
            } else {
                u.clone()
            };
            let mut h = vec![("cookie".to_owned(), u.cookie)];
            if csrf {
                h.push(("x-csrf-token".to_owned(), u.csrf));
            }
            h
        };
        match cred {
            Cred::None => vec![],
            Cred::PublicKey => bearer(&self.a.public_key),
            Cred::ReadToken => bearer(&self.a.api_token),
            Cred::IngestAdminToken => bearer(&self.ingest_admin_token),
            Cred::AdminToken => bearer(&self.admin_token),
            Cred::OtherProjectToken => bearer(&self.b.api_token),
            Cred::Viewer => user(&self.viewer, true),
            Cred::Member => user(&self.member, true),
            Cred::Owner => user(&self.owner, true),
            Cred::OtherProjectUser => user(&self.other, true),
            Cred::CookieWithoutCsrf => user(&self.owner, false),
        }
    }
}

/// The smallest useful source map: one position of `app.js` mapped to `src/app.ts`.
const TINY_MAP: &str =
    r#"{"version":3,"file":"app.js","sources":["src/app.ts"],"names":[],"mappings":"AAAA"}"#;

/// One request to make: path, body and its content type.
struct Req {
    path: String,
    body: Option<Vec<u8>>,
    content_type: &'static str,
}

/// An OTLP/JSON export of one span of `trace`.
fn otlp_span(trace: &str) -> Vec<u8> {
    let start = (now_ms() as u64 - 1000) * 1_000_000;
    json!({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "matrix"}}]},
        "scopeSpans": [{"spans": [{
            "traceId": trace, "spanId": "0123456789abcdef", "name": "GET /matrix",
            "startTimeUnixNano": start.to_string(), "endTimeUnixNano": (start + 1_000_000).to_string()
        }]}]
    }]})
    .to_string()
    .into_bytes()
}

/// A replay segment of `session`, numbered anew at each call so none is a duplicate.
fn replay_segment(session: &str) -> Vec<u8> {
    static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let t = now_ms();
    json!({
        "v": 1, "session_id": session, "seq": seq, "start": t, "end": t, "mode": "session",
        "events": [{ "type": 4, "timestamp": t, "data": {} }]
    })
    .to_string()
    .into_bytes()
}

fn req(path: String, body: Option<Value>) -> Req {
    Req {
        path,
        body: body.map(|b| b.to_string().into_bytes()),
        content_type: "application/json",
    }
}

/// A route and what each credential gets, in [`CREDS`] order: a status, a status and error
/// code (`"401:invalid_credentials"`), or `"same"` (whatever no credential gets: public).
struct Row {
    method: &'static str,
    route: &'static str,
    /// What the row checks, when a route has several rows.
    note: &'static str,
    expect: [&'static str; 11],
    fresh_session: bool,
    prepare: fn(&Env) -> Req,
}

/// Two projects, three users and a server over `dir`, with its metadata in `meta_url`'s
/// PostgreSQL database when given.
fn setup(dir: &std::path::Path, meta_url: Option<String>) -> Env {
    let url = meta_url.as_deref();
    let a = create_project_with(dir, url, "a", &[]);
    let b = create_project_with(dir, url, "b", &[]);
    add_user_with(dir, url, "owner@example.com", "a", "owner password");
    add_user_with(dir, url, "other@example.com", "b", "other password");
    add_user_with(dir, url, "login@example.com", "b", "login password");
    let server = match url {
        Some(url) => Server::start_with(dir, &["--meta-url", url]),
        None => Server::start(dir),
    };
    assert_eq!(
        dir.join("meta.db").exists(),
        url.is_none(),
        "with [meta] url, nothing is kept in the data folder's meta.db"
    );
    let sid = "matrix-session";
    assert_eq!(
        server
            .ingest(
                &a.public_key,
                &batch(
                    sid,
                    json!([
                        {"type": "custom", "ts": now_ms(), "name": "x"},
                        {"type": "error", "ts": now_ms(), "error_type": "Error", "message": "matrix"},
                        {"type": "crash", "ts": now_ms(), "error_type": "java.lang.IllegalStateException", "message": "matrix",
                         "stack": "java.lang.IllegalStateException: matrix\n\tat com.shop.Cart.pay(Cart.kt:3)\n"}
                    ])
                )
            )
            .0,
        202
    );
    // and a replay segment of it, which the replay row reads
    let stored = send(
        &server,
        "POST",
        &format!("/api/v1/replay?key={}&enc=none", a.public_key),
        &[],
        Some(&replay_segment(sid)),
    );
    assert_eq!(stored.status, 202, "{}", stored.body);
    let owner = sign_in(&server, "owner@example.com", "owner password");
    let other = sign_in(&server, "other@example.com", "other password");
    let mut env = Env {
        server,
        a,
        b,
        ingest_admin_token: String::new(),
        admin_token: String::new(),
        owner,
        member: User::default(),
        viewer: User::default(),
        other,
        target_id: 0,
        error_group: String::new(),
        crash_group: String::new(),
        counter: Cell::new(0),
        meta_url,
    };
    env.ingest_admin_token = env.token("ingest-admin").1;
    env.admin_token = env.token("admin").1;
    env.member = env.new_member("member").1;
    env.viewer = env.new_member("viewer").1;
    env.target_id = env.new_member("member").0;
    let (status, groups) = env.server.query(
        &env.a.api_token,
        &json!({"metric": "errors", "group_by": ["fingerprint"], "from": 0, "to": now_ms() + 60_000}),
    );
    assert_eq!(status, 200, "{groups}");
    env.error_group = groups["rows"][0][0]
        .as_str()
        .expect("the error's group")
        .to_owned();
    let (status, groups) = env.server.query(
        &env.a.api_token,
        &json!({"metric": "crashes", "group_by": ["fingerprint"], "from": 0, "to": now_ms() + 60_000}),
    );
    assert_eq!(status, 200, "{groups}");
    env.crash_group = groups["rows"][0][0]
        .as_str()
        .expect("the crash's group")
        .to_owned();
    env
}

fn rows() -> Vec<Row> {
    const PUBLIC: [&str; 11] = ["same"; 11];
    // Reading a's data and settings (POST reads need the CSRF token with a cookie).
    const READ_POST: [&str; 11] = [
        "401", "401", "200", "200", "200", "404", "200", "200", "200", "404", "403:csrf",
    ];
    const READ_GET: [&str; 11] = [
        "401", "401", "200", "200", "200", "404", "200", "200", "200", "404", "200",
    ];
    // Alert rules: members, and admin tokens (rules send requests to URLs they name).
    const MANAGE_ALERTS: [&str; 11] = [
        "401", "401", "403", "403", "200", "404", "403", "200", "200", "404", "403:csrf",
    ];
    const MANAGE_ALERTS_CREATE: [&str; 11] = [
        "401", "401", "403", "403", "201", "404", "403", "201", "201", "404", "403:csrf",
    ];
    const MANAGE_ALERTS_DELETE: [&str; 11] = [
        "401", "401", "403", "403", "204", "404", "403", "204", "204", "404", "403:csrf",
    ];
    // Owner-only writes in a.
    const OWNER_WRITE: [&str; 11] = [
        "401", "401", "403", "403", "403", "404", "403", "403", "200", "404", "403:csrf",
    ];
    vec![
        Row {
            method: "GET",
            route: "/healthz",
            note: "",
            expect: ["200"; 11],
            fresh_session: false,
            prepare: |_| req("/healthz".into(), None),
        },
        Row {
            method: "GET",
            route: "/readyz",
            note: "",
            expect: ["200"; 11],
            fresh_session: false,
            prepare: |_| req("/readyz".into(), None),
        },
        Row {
            method: "GET",
            route: "/metrics",
            note: "operations, no data",
            expect: ["200"; 11],
            fresh_session: false,
            prepare: |_| req("/metrics".into(), None),
        },
        Row {
            method: "GET",
            route: "/agent/vigil.js",
            note: "",
            expect: PUBLIC,
            fresh_session: false,
            prepare: |_| req("/agent/vigil.js".into(), None),
        },
        Row {
            method: "GET",
            route: "/agent/vigil-replay.js",
            note: "the replay chunk",
            expect: PUBLIC,
            fresh_session: false,
            prepare: |_| req("/agent/vigil-replay.js".into(), None),
        },
        Row {
            method: "POST",
            route: "/api/v1/replay",
            note: "the public key in the query",
            expect: ["202"; 11],
            fresh_session: false,
            prepare: |e| Req {
                path: format!("/api/v1/replay?key={}&enc=none", e.a.public_key),
                body: Some(replay_segment("replayed")),
                content_type: "text/plain",
            },
        },
        Row {
            method: "GET",
            route: "/api/v1/sessions/{session_id}/replay",
            note: "",
            expect: READ_GET,
            fresh_session: false,
            prepare: |e| {
                req(
                    format!("/api/v1/sessions/matrix-session/replay?project={}", e.a.id),
                    None,
                )
            },
        },
        Row {
            method: "GET",
            route: "/agent/{file}",
            note: "the agent's versioned name (another build's here: 404 for everyone)",
            expect: PUBLIC,
            fresh_session: false,
            prepare: |_| req("/agent/vigil.0123456789abcdef.js".into(), None),
        },
        Row {
            method: "GET",
            route: "/",
            note: "dashboard",
            expect: PUBLIC,
            fresh_session: false,
            prepare: |_| req("/".into(), None),
        },
        Row {
            method: "GET",
            route: "/{*path}",
            note: "dashboard route",
            expect: PUBLIC,
            fresh_session: false,
            prepare: |_| req("/settings".into(), None),
        },
        Row {
            method: "GET",
            route: "/{*path}",
            note: "unknown api path",
            expect: ["404"; 11],
            fresh_session: false,
            prepare: |_| req("/api/v1/nope".into(), None),
        },
        Row {
            method: "POST",
            route: "/api/v1/ingest",
            note: "the public key in the query",
            expect: ["202"; 11],
            fresh_session: false,
            prepare: |e| Req {
                path: format!("/api/v1/ingest?key={}", e.a.public_key),
                body: Some(batch(
                    "ingested",
                    json!([{"type": "custom", "ts": now_ms(), "name": "y"}]),
                )),
                content_type: "text/plain",
            },
        },
        Row {
            method: "POST",
            route: "/api/v1/login",
            note: "",
            expect: ["200"; 11],
            fresh_session: false,
            prepare: |_| {
                req(
                    "/api/v1/login".into(),
                    Some(json!({"email": "login@example.com", "password": "login password"})),
                )
            },
        },
        Row {
            method: "GET",
            route: "/api/v1/me",
            note: "",
            expect: [
                "401", "401", "403", "403", "403", "403", "200", "200", "200", "200", "200",
            ],
            fresh_session: false,
            prepare: |_| req("/api/v1/me".into(), None),
        },
        Row {
            method: "POST",
            route: "/api/v1/logout",
            note: "",
            expect: [
                "401", "401", "403", "403", "403", "403", "204", "204", "204", "204", "403:csrf",
            ],
            fresh_session: true,
            prepare: |_| req("/api/v1/logout".into(), None),
        },
        Row {
            method: "POST",
            route: "/api/v1/me/password",
            note: "a wrong current password: allowed callers reach the check",
            expect: [
                "401:unauthorized",
                "401:unauthorized",
                "403",
                "403",
                "403",
                "403",
                "401:invalid_credentials",
                "401:invalid_credentials",
                "401:invalid_credentials",
                "401:invalid_credentials",
                "403:csrf",
            ],
            fresh_session: false,
            prepare: |_| {
                req(
                    "/api/v1/me/password".into(),
                    Some(json!({"current": "not it at all", "new": "whatever-new-1"})),
                )
            },
        },
        Row {
            method: "POST",
            route: "/api/v1/projects",
            note: "any signed-in user creates projects",
            expect: [
                "401", "401", "403", "403", "403", "403", "201", "201", "201", "201", "403:csrf",
            ],
            fresh_session: false,
            prepare: |e| {
                req(
                    "/api/v1/projects".into(),
                    Some(json!({"name": e.fresh("project")})),
                )
            },
        },
        Row {
            method: "GET",
            route: "/api/v1/projects/{id}",
            note: "",
            expect: READ_GET,
            fresh_session: false,
            prepare: |e| req(format!("/api/v1/projects/{}", e.a.id), None),
        },
        Row {
            method: "PUT",
            route: "/api/v1/projects/{id}",
            note: "origins",
            expect: [
                "401", "401", "403", "200", "200", "404", "403", "403", "200", "404", "403:csrf",
            ],
            fresh_session: false,
            prepare: |e| {
                req(
                    format!("/api/v1/projects/{}", e.a.id),
                    Some(json!({"allowed_origins": ["*"]})),
                )
            },
        },
        Row {
            method: "PUT",
            route: "/api/v1/projects/{id}",
            note: "retention",
            expect: [
                "401", "401", "403", "403", "200", "404", "403", "403", "200", "404", "403:csrf",
            ],
            fresh_session: false,
            prepare: |e| {
                req(
                    format!("/api/v1/projects/{}", e.a.id),
                    Some(json!({"retention_days": 90})),
                )
            },
        },
        Row {
            method: "POST",
            route: "/api/v1/projects/{id}/erasure",
            note: "a user id with no data",
            expect: [
                "401", "401", "403", "403", "200", "404", "403", "403", "200", "404", "403:csrf",
            ],
            fresh_session: false,
            prepare: |e| {
                req(
                    format!("/api/v1/projects/{}/erasure", e.a.id),
                    Some(json!({"user_id": "nobody"})),
                )
            },
        },
        Row {
            method: "GET",
            route: "/api/v1/projects/{id}/tokens",
            note: "",
            expect: [
                "401", "401", "403", "403", "403", "404", "403", "200", "200", "404", "200",
            ],
            fresh_session: false,
            prepare: |e| req(format!("/api/v1/projects/{}/tokens", e.a.id), None),
        },
        Row {
            method: "POST",
            route: "/api/v1/projects/{id}/tokens",
            note: "read scope",
            expect: [
                "401", "401", "403", "403", "403", "404", "403", "201", "201", "404", "403:csrf",
            ],
            fresh_session: false,
            prepare: |e| {
                req(
                    format!("/api/v1/projects/{}/tokens", e.a.id),
                    Some(json!({"scope": "read"})),
                )
            },
        },
        Row {
            method: "POST",
            route: "/api/v1/projects/{id}/tokens",
            note: "admin scope",
            expect: [
                "401", "401", "403", "403", "403", "404", "403", "403", "201", "404", "403:csrf",
            ],
            fresh_session: false,
            prepare: |e| {
                req(
                    format!("/api/v1/projects/{}/tokens", e.a.id),
                    Some(json!({"scope": "admin"})),
                )
            },
        },
        Row {
            method: "DELETE",
            route: "/api/v1/projects/{id}/tokens/{token_id}",
            note: "a read token",
            expect: [
                "401", "401", "403", "403", "403", "404", "403", "204", "204", "404", "403:csrf",
            ],
            fresh_session: false,
            prepare: |e| {
                req(
                    format!("/api/v1/projects/{}/tokens/{}", e.a.id, e.token("read").0),
                    None,
                )
            },
        },
        Row {
            method: "DELETE",
            route: "/api/v1/projects/{id}/tokens/{token_id}",
            note: "an admin token",
            expect: [
                "401", "401", "403", "403", "403", "404", "403", "403", "204", "404", "403:csrf",
            ],
            fresh_session: false,
            prepare: |e| {
                req(
                    format!("/api/v1/projects/{}/tokens/{}", e.a.id, e.token("admin").0),
                    None,
                )
            },
        },
        Row {
            method: "GET",
            route: "/api/v1/projects/{id}/members",
            note: "",
            expect: [
                "401", "401", "403", "403", "403", "404", "200", "200", "200", "404", "200",
            ],
            fresh_session: false,
            prepare: |e| req(format!("/api/v1/projects/{}/members", e.a.id), None),
        },
        Row {
            method: "POST",
            route: "/api/v1/projects/{id}/members",
            note: "invite",
            expect: [
                "401", "401", "403", "403", "403", "404", "403", "403", "201", "404", "403:csrf",
            ],
            fresh_session: false,
            prepare: |e| {
                req(
                    format!("/api/v1/projects/{}/members", e.a.id),
                    Some(json!({"email": format!("{}@example.com", e.fresh("x"))})),
                )
            },
        },
        Row {
            method: "PUT",
            route: "/api/v1/projects/{id}/members/{user_id}",
            note: "role",
            expect: OWNER_WRITE,
            fresh_session: false,
            prepare: |e| {
                req(
                    format!("/api/v1/projects/{}/members/{}", e.a.id, e.target_id),
                    Some(json!({"role": "member"})),
                )
            },
        },
        Row {
            method: "DELETE",
            route: "/api/v1/projects/{id}/members/{user_id}",
            note: "",
            expect: [
                "401", "401", "403", "403", "403", "404", "403", "403", "204", "404", "403:csrf",
            ],
            fresh_session: false,
            prepare: |e| {
                req(
                    format!(
                        "/api/v1/projects/{}/members/{}",
                        e.a.id,
                        e.new_member("viewer").0
                    ),
                    None,
                )
            },
        },
        Row {
            method: "GET",
            route: "/api/v1/projects/{id}/invitations",
            note: "",
            expect: [
                "401", "401", "403", "403", "403", "404", "403", "403", "200", "404", "200",
            ],
            fresh_session: false,
            prepare: |e| req(format!("/api/v1/projects/{}/invitations", e.a.id), None),
        },
        Row {
            method: "DELETE",
            route: "/api/v1/projects/{id}/invitations/{invitation_id}",
            note: "",
            expect: [
                "401", "401", "403", "403", "403", "404", "403", "403", "204", "404", "403:csrf",
            ],
            fresh_session: false,
            prepare: |e| {
                req(
                    format!(
                        "/api/v1/projects/{}/invitations/{}",
                        e.a.id,
                        e.invite("member").0
                    ),
                    None,
                )
            },
        },
        Row {
            method: "POST",
            route: "/api/v1/invitations/lookup",
            note: "the secret is the credential",
            expect: ["200"; 11],
            fresh_session: false,
            prepare: |e| {
                req(
                    "/api/v1/invitations/lookup".into(),
                    Some(json!({"secret": e.invite("viewer").1})),
                )
            },
        },
        Row {
            method: "POST",
            route: "/api/v1/invitations/accept",
            note: "signed out with a password; signed in as another email",
            expect: [
                "200",
                "200",
                "200",
                "200",
                "200",
                "200",
                "403:forbidden",
                "403:forbidden",
                "403:forbidden",
                "403:forbidden",
                "403:csrf",
            ],
            fresh_session: false,
            prepare: |e| {
                req(
                    "/api/v1/invitations/accept".into(),
                    Some(json!({"secret": e.invite("viewer").1, "password": "a new password"})),
                )
            },
        },
        Row {
            method: "POST",
            route: "/api/v1/query",
            note: "",
            expect: READ_POST,
            fresh_session: false,
            prepare: |e| {
                req(
                    format!("/api/v1/query?project={}", e.a.id),
                    Some(json!({"metric": "views", "from": 0, "to": 1})),
                )
            },
        },
        Row {
            method: "POST",
            route: "/api/v1/conversion",
            note: "",
            expect: READ_POST,
            fresh_session: false,
            prepare: |e| {
                req(
                    format!("/api/v1/conversion?project={}", e.a.id),
                    Some(json!({"event": "x", "from": 0, "to": 1})),
                )
            },
        },
        Row {
            method: "POST",
            route: "/api/v1/funnel",
            note: "",
            expect: READ_POST,
            fresh_session: false,
            prepare: |e| {
                req(
                    format!("/api/v1/funnel?project={}", e.a.id),
                    Some(json!({"steps": [{"event": "x"}, {"event": "y"}], "from": 0, "to": 1})),
                )
            },
        },
        Row {
            method: "GET",
            route: "/api/v1/alerts/rules",
            note: "",
            expect: READ_GET,
            fresh_session: false,
            prepare: |e| req(format!("/api/v1/alerts/rules?project={}", e.a.id), None),
        },
        Row {
            method: "POST",
            route: "/api/v1/alerts/rules",
            note: "",
            expect: MANAGE_ALERTS_CREATE,
            fresh_session: false,
            prepare: |e| {
                req(
                    format!("/api/v1/alerts/rules?project={}", e.a.id),
                    Some(
                        json!({"name": "r", "metric": "lcp", "aggregation": "p75", "condition": "above", "threshold": 4000}),
                    ),
                )
            },
        },
        Row {
            method: "GET",
            route: "/api/v1/alerts/rules/{rule}",
            note: "",
            expect: READ_GET,
            fresh_session: false,
            prepare: |e| {
                req(
                    format!("/api/v1/alerts/rules/{}?project={}", e.new_rule(), e.a.id),
                    None,
                )
            },
        },
        Row {
            method: "PUT",
            route: "/api/v1/alerts/rules/{rule}",
            note: "",
            expect: MANAGE_ALERTS,
            fresh_session: false,
            prepare: |e| {
                req(
                    format!("/api/v1/alerts/rules/{}?project={}", e.new_rule(), e.a.id),
                    Some(
                        json!({"name": "r2", "metric": "inp", "aggregation": "p75", "condition": "above", "threshold": 200}),
                    ),
                )
            },
        },
        Row {
            method: "DELETE",
            route: "/api/v1/alerts/rules/{rule}",
            note: "",
            expect: MANAGE_ALERTS_DELETE,
            fresh_session: false,
            prepare: |e| {
                req(
                    format!("/api/v1/alerts/rules/{}?project={}", e.new_rule(), e.a.id),
                    None,
                )
            },
        },
        Row {
            method: "POST",
            route: "/api/v1/alerts/rules/{rule}/mute",
            note: "",
            expect: MANAGE_ALERTS,
            fresh_session: false,
            prepare: |e| {
                req(
                    format!(
                        "/api/v1/alerts/rules/{}/mute?project={}",
                        e.new_rule(),
                        e.a.id
                    ),
                    Some(json!({"until": now_ms() + 3_600_000})),
                )
            },
        },
        Row {
            method: "POST",
            route: "/api/v1/alerts/rules/{rule}/test",
            note: "",
            expect: MANAGE_ALERTS,
            fresh_session: false,
            prepare: |e| {
                req(
                    format!(
                        "/api/v1/alerts/rules/{}/test?project={}",
                        e.new_rule(),
                        e.a.id
                    ),
                    None,
                )
            },
        },
        Row {
            method: "POST",
            route: "/api/v1/alerts/preview",
            note: "",
            expect: READ_POST,
            fresh_session: false,
            prepare: |e| {
                req(
                    format!("/api/v1/alerts/preview?project={}", e.a.id),
                    Some(
                        json!({"rule": {"name": "r", "metric": "lcp", "aggregation": "p75", "condition": "above", "threshold": 4000}, "days": 1}),
                    ),
                )
            },
        },
        Row {
            method: "GET",
            route: "/api/v1/alerts/history",
            note: "",
            expect: READ_GET,
            fresh_session: false,
            prepare: |e| req(format!("/api/v1/alerts/history?project={}", e.a.id), None),
        },
        Row {
            method: "GET",
            route: "/api/v1/alerts/notifications",
            note: "",
            expect: READ_GET,
            fresh_session: false,
            prepare: |e| {
                req(
                    format!("/api/v1/alerts/notifications?project={}", e.a.id),
                    None,
                )
            },
        },
        Row {
            method: "GET",
            route: "/api/v1/alerts/firing",
            note: "",
            expect: READ_GET,
            fresh_session: false,
            prepare: |e| req(format!("/api/v1/alerts/firing?project={}", e.a.id), None),
        },
        Row {
            method: "POST",
            route: "/api/v1/sessions",
            note: "",
            expect: READ_POST,
            fresh_session: false,
            prepare: |e| {
                req(
                    format!("/api/v1/sessions?project={}", e.a.id),
                    Some(json!({"from": 0, "to": 1})),
                )
            },
        },
        Row {
            method: "GET",
            route: "/api/v1/attributes",
            note: "",
            expect: READ_GET,
            fresh_session: false,
            prepare: |e| {
                req(
                    format!("/api/v1/attributes?project={}&from=0&to=1", e.a.id),
                    None,
                )
            },
        },
        Row {
            method: "POST",
            route: "/api/v1/errors/groups",
            note: "",
            expect: READ_POST,
            fresh_session: false,
            prepare: |e| {
                req(
                    format!("/api/v1/errors/groups?project={}", e.a.id),
                    Some(json!({"from": 0, "to": now_ms() + 60_000})),
                )
            },
        },
        Row {
            method: "GET",
            route: "/api/v1/errors/groups/{fingerprint}",
            note: "a group of a",
            expect: READ_GET,
            fresh_session: false,
            prepare: |e| {
                req(
                    format!(
                        "/api/v1/errors/groups/{}?project={}&from=0&to={}",
                        e.error_group,
                        e.a.id,
                        now_ms() + 60_000
                    ),
                    None,
                )
            },
        },
        Row {
            method: "PUT",
            route: "/api/v1/errors/groups/{fingerprint}/state",
            note: "ignore a group",
            expect: [
                "401", "401", "403", "200", "200", "404", "403", "200", "200", "404", "403:csrf",
            ],
            fresh_session: false,
            prepare: |e| {
                req(
                    format!(
                        "/api/v1/errors/groups/{}/state?project={}",
                        e.error_group, e.a.id
                    ),
                    Some(json!({"state": "ignored"})),
                )
            },
        },
        Row {
            method: "POST",
            route: "/api/v1/crashes/groups",
            note: "",
            expect: READ_POST,
            fresh_session: false,
            prepare: |e| {
                req(
                    format!("/api/v1/crashes/groups?project={}", e.a.id),
                    Some(json!({"from": 0, "to": now_ms() + 60_000})),
                )
            },
        },
        Row {
            method: "GET",
            route: "/api/v1/crashes/groups/{fingerprint}",
            note: "a crash group of a",
            expect: READ_GET,
            fresh_session: false,
            prepare: |e| {
                req(
                    format!(
                        "/api/v1/crashes/groups/{}?project={}&from=0&to={}",
                        e.crash_group,
                        e.a.id,
                        now_ms() + 60_000
                    ),
                    None,
                )
            },
        },
        Row {
            method: "PUT",
            route: "/api/v1/crashes/groups/{fingerprint}/state",
            note: "ignore a crash group",
            expect: [
                "401", "401", "403", "200", "200", "404", "403", "200", "200", "404", "403:csrf",
            ],
            fresh_session: false,
            prepare: |e| {
                req(
                    format!(
                        "/api/v1/crashes/groups/{}/state?project={}",
                        e.crash_group, e.a.id
                    ),
                    Some(json!({"state": "ignored"})),
                )
            },
        },
        Row {
            method: "GET",
            route: "/api/v1/errors/settings",
            note: "",
            expect: READ_GET,
            fresh_session: false,
            prepare: |e| req(format!("/api/v1/errors/settings?project={}", e.a.id), None),
        },
        Row {
            method: "PUT",
            route: "/api/v1/errors/settings",
            note: "",
            expect: [
                "401", "401", "403", "200", "200", "404", "403", "403", "200", "404", "403:csrf",
            ],
            fresh_session: false,
            prepare: |e| {
                req(
                    format!("/api/v1/errors/settings?project={}", e.a.id),
                    Some(json!({"critical_pages": ["/checkout/*"]})),
                )
            },
        },
        Row {
            method: "GET",
            route: "/api/v1/errors/filtered",
            note: "",
            expect: READ_GET,
            fresh_session: false,
            prepare: |e| {
                req(
                    format!(
                        "/api/v1/errors/filtered?project={}&from=0&to={}",
                        e.a.id,
                        now_ms()
                    ),
                    None,
                )
            },
        },
        Row {
            method: "GET",
            route: "/api/v1/sourcemaps",
            note: "",
            expect: READ_GET,
            fresh_session: false,
            prepare: |e| req(format!("/api/v1/sourcemaps?project={}", e.a.id), None),
        },
        Row {
            method: "POST",
            route: "/api/v1/sourcemaps",
            note: "a map upload",
            expect: [
                "401", "401", "403", "201", "201", "404", "403", "201", "201", "404", "403:csrf",
            ],
            fresh_session: false,
            prepare: |e| Req {
                path: format!(
                    "/api/v1/sourcemaps?project={}&release=1.0&url=~/{}.js",
                    e.a.id,
                    e.fresh("bundle")
                ),
                body: Some(TINY_MAP.as_bytes().to_vec()),
                content_type: "application/json",
            },
        },
        Row {
            method: "DELETE",
            route: "/api/v1/sourcemaps/{map_id}",
            note: "an upload of a",
            expect: [
                "401", "401", "403", "204", "204", "404", "403", "204", "204", "404", "403:csrf",
            ],
            fresh_session: false,
            prepare: |e| {
                let id = e.upload_map();
                req(format!("/api/v1/sourcemaps/{id}?project={}", e.a.id), None)
            },
        },
        Row {
            method: "GET",
            route: "/api/v1/traces/{trace_id}",
            note: "a trace of a",
            expect: READ_GET,
            fresh_session: false,
            prepare: |e| {
                let trace = e.send_trace();
                req(format!("/api/v1/traces/{trace}?project={}", e.a.id), None)
            },
        },
        Row {
            method: "POST",
            route: "/v1/traces",
            note: "OTLP: the public key or a token that may send (Bearer); cookies are not credentials here",
            expect: [
                "401", "200", "403", "200", "200", "403", "401", "401", "401", "401", "401",
            ],
            fresh_session: false,
            prepare: |_| Req {
                path: "/v1/traces".into(),
                body: Some(otlp_span("0af7651916cd43dd8448eb211c80319c")),
                content_type: "application/json",
            },
        },
        Row {
            method: "POST",
            route: "/v1/logs",
            note: "OTLP: the public key or a token that may send (Bearer); cookies are not credentials here",
            expect: [
                "401", "200", "403", "200", "200", "403", "401", "401", "401", "401", "401",
            ],
            fresh_session: false,
            prepare: |_| Req {
                path: "/v1/logs".into(),
                body: Some(br#"{"resourceLogs": []}"#.to_vec()),
                content_type: "application/json",
            },
        },
        Row {
            method: "POST",
            route: "/api/v1/otlp/v1/traces",
            note: "OTLP: the public key or a token that may send (Bearer); cookies are not credentials here",
            expect: [
                "401", "200", "403", "200", "200", "403", "401", "401", "401", "401", "401",
            ],
            fresh_session: false,
            prepare: |_| Req {
                path: "/api/v1/otlp/v1/traces".into(),
                body: Some(otlp_span("0af7651916cd43dd8448eb211c80319c")),
                content_type: "application/json",
            },
        },
        Row {
            method: "POST",
            route: "/api/v1/otlp/v1/logs",
            note: "OTLP: the public key or a token that may send (Bearer); cookies are not credentials here",
            expect: [
                "401", "200", "403", "200", "200", "403", "401", "401", "401", "401", "401",
            ],
            fresh_session: false,
            prepare: |_| Req {
                path: "/api/v1/otlp/v1/logs".into(),
                body: Some(br#"{"resourceLogs": []}"#.to_vec()),
                content_type: "application/json",
            },
        },
        Row {
            method: "GET",
            route: "/api/v1/sessions/{session_id}",
            note: "",
            expect: READ_GET,
            fresh_session: false,
            prepare: |e| {
                req(
                    format!("/api/v1/sessions/matrix-session?project={}", e.a.id),
                    None,
                )
            },
        },
    ]
}

/// Every Rust source under `dir`, depth first.
fn sources(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
    found
}

/// Every path the servers' routers declare: `.route("…"` in the API's sources (a router per
/// resource, in files of their own) and intake's.
fn declared_routes() -> Vec<String> {
    let mut routes = Vec::new();
    let mut files = sources(&repo_root().join("crates/api/src"));
    files.push(repo_root().join("crates/intake/src/lib.rs"));
    files.push(repo_root().join("crates/intake/src/otlp.rs"));
    files.push(repo_root().join("crates/intake/src/replay.rs"));
    assert!(files.len() > 2, "the api's sources are where they were");
    for file in files {
        let src = std::fs::read_to_string(file).unwrap();
        let mut parts = src.split(".route(");
        parts.next(); // the text before the first `.route(` is not a route
        for part in parts {
            let rest = part.trim_start();
            if let Some(rest) = rest.strip_prefix('"') {
                routes.push(rest.split('"').next().unwrap().to_owned());
            }
        }
    }
    routes
}

#[test]
fn every_route_answers_every_credential_as_documented() {
    every_route_answers_as_documented(None);
}

/// The same with projects, users, sessions, tokens and rules in PostgreSQL (`[meta] url`).
#[test]
fn every_route_answers_every_credential_as_documented_with_postgres_meta() {
    let postgres = vigil_meta::testing::Postgres::start();
    every_route_answers_as_documented(Some(postgres.create_database("vigil")));
}

fn every_route_answers_as_documented(meta_url: Option<String>) {
    let rows = rows();
    let covered: std::collections::HashSet<&str> = rows.iter().map(|r| r.route).collect();
    let declared = declared_routes();
    let missing: Vec<&String> = declared
        .iter()
        .filter(|r| !covered.contains(r.as_str()))
        .collect();
    let gone: Vec<&&str> = covered
        .iter()
        .filter(|r| !declared.iter().any(|d| d == *r))
        .collect();
    assert!(
        gone.is_empty(),
        "rows for routes no router declares (or the scan of the sources missed them): {gone:?}"
    );
    assert!(
        missing.is_empty(),
        "routes without a row in crates/vigil/tests/access_matrix.rs (and docs/api.md's access table): {missing:?}"
    );

    let dir = tempfile::tempdir().unwrap();
    let env = setup(dir.path(), meta_url);
    let mut wrong = Vec::new();
    let mut checked = 0;
    for row in &rows {
        let mut public_status = None;
        for (cred, expect) in CREDS.iter().zip(row.expect) {
            let r = (row.prepare)(&env);
            let mut headers = env.headers(*cred, row.fresh_session);
            if r.body.is_some() || row.method != "GET" {
                headers.push(("content-type".into(), r.content_type.into()));
            }
            let body = r
                .body
                .as_deref()
                .or(if row.method == "DELETE" || row.method == "GET" {
                    None
                } else {
                    Some(b"")
                });
            let reply = send(&env.server, row.method, &r.path, &headers, body);
            let code = reply.body["code"].as_str().unwrap_or("");
            let ok = if expect == "same" {
                let first = *public_status.get_or_insert(reply.status);
                reply.status == first && reply.status != 401 && reply.status != 403
            } else {
                let (status, want_code) = expect.split_once(':').unwrap_or((expect, ""));
                reply.status.to_string() == status && (want_code.is_empty() || want_code == code)
            };
            checked += 1;
            if !ok {
                wrong.push(format!(
                    "{} {} ({}) as {cred:?}: expected {expect}, got {} {code}",
                    row.method, r.path, row.note, reply.status
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {checked} answers differ:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    eprintln!(
        "{checked} answers as expected ({} rows × {} credentials)",
        rows.len(),
        CREDS.len()
    );
}
