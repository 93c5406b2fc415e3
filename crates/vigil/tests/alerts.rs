//! Alerts against the real binary: rules evaluated every second over real data, webhooks
//! and Slack bodies to an HTTP receiver the test runs, email to a real SMTP server
//! (Python's aiosmtpd), retries, mutes, minimum samples, hysteresis, the evaluation delay,
//! the preview, roles and the address policy.

mod common;

use common::*;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const MOBILE: &str = "Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36";
const DESKTOP: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
/// Addresses DB-IP places in these countries.
const US: &str = "8.8.8.8";
const IN: &str = "49.44.0.1";
const DE: &str = "85.214.0.1";
const FR: &str = "90.0.0.1";

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    notification: Option<String>,
    body: Value,
}

/// An HTTP receiver on a free loopback port: records every request and answers 200, except
/// `/flaky`, which answers 500 to its first two requests.
struct Receiver {
    addr: String,
    got: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let got = Arc::new(Mutex::new(Vec::new()));
        let seen = got.clone();
        std::thread::spawn(move || {
            let mut flaky = 0;
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
                let (mut length, mut notification) = (0, None);
                loop {
                    let mut h = String::new();
                    reader.read_line(&mut h).unwrap();
                    let h = h.trim_end();
                    if h.is_empty() {
                        break;
                    }
                    let (k, v) = h.split_once(':').unwrap();
                    match k.to_ascii_lowercase().as_str() {
                        "content-length" => length = v.trim().parse().unwrap(),
                        "x-vigil-notification" => notification = Some(v.trim().to_owned()),
                        _ => {}
                    }
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                let status = if path == "/flaky" {
                    flaky += 1;
                    if flaky <= 2 { 500 } else { 200 }
                } else {
                    200
                };
                seen.lock().unwrap().push(Received {
                    path,
                    notification,
                    body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                });
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
                );
            }
        });
        Receiver { addr, got }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn at(&self, path: &str) -> Vec<Received> {
        let got = self.got.lock().unwrap();
        got.iter().filter(|r| r.path == path).cloned().collect()
    }
}

/// Python's aiosmtpd on a free loopback port, writing each message it accepts as a JSON
/// line to `mail.jsonl`.
struct SmtpServer {
    /// Killed when the server is dropped.
    _child: common::Reaped,
    port: u16,
    log: std::path::PathBuf,
}

impl SmtpServer {
    fn start(dir: &Path) -> SmtpServer {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = dir.join("mail.jsonl");
        let script = dir.join("smtp.py");
        std::fs::write(
            &script,
            r#"import json, sys
from email import message_from_bytes, policy
from aiosmtpd.controller import Controller

class Keep:
    async def handle_DATA(self, server, session, envelope):
        with open(sys.argv[2], "a") as f:
            message = message_from_bytes(envelope.content, policy=policy.default)
            f.write(json.dumps({"from": envelope.mail_from, "to": envelope.rcpt_tos,
                                "subject": message["subject"],
                                "text": message.get_content()}) + "\n")
        return "250 OK"

controller = Controller(Keep(), hostname="127.0.0.1", port=int(sys.argv[1]))
controller.start()
print("ready", flush=True)
sys.stdin.read()
controller.stop()
"#,
        )
        .unwrap();
        // Debian's python3-aiosmtpd (make test installs it); /usr/bin/python3 is the
        // interpreter that package serves.
        let mut child = Command::new("/usr/bin/python3")
            .arg(&script)
            .arg(port.to_string())
            .arg(&log)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start aiosmtpd (apt-get install python3-aiosmtpd)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "aiosmtpd did not start");
        SmtpServer {
            _child: common::Reaped(child),
            port,
            log,
        }
    }

    fn messages(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

/// Sends `values` as LCP vitals of one session from a client at `ip` with `ua`, at
/// `ts` (ms).
fn send_lcp(
    server: &Server,
    key: &str,
    session: &str,
    ip: &str,
    ua: &str,
    values: &[f64],
    ts: i64,
) {
    for chunk in values.chunks(200) {
        let events: Vec<Value> = chunk
            .iter()
            .enumerate()
            .map(|(i, v)| json!({"type": "vital", "ts": ts + i as i64, "name": "LCP", "value": v}))
            .collect();
        let (status, _, _) = server.ingest_raw(
            &format!("?key={key}"),
            &[
                ("content-type", "text/plain"),
                ("x-forwarded-for", ip),
                ("user-agent", ua),
            ],
            &batch(session, json!(events)),
        );
        assert_eq!(status, 202);
    }
}

/// A server that evaluates every second and may send to the test's receiver, with a
/// project and an admin token of it.
struct Quick {
    _dir: tempfile::TempDir,
    p: ProjectKeys,
    receiver: Receiver,
    server: Server,
    token: String,
}

impl Quick {
    fn start(project: &str) -> Quick {
        let dir = tempfile::tempdir().unwrap();
        let p = create_project(dir.path(), project, &[]);
        let receiver = Receiver::start();
        let server = Server::start_with_config(
            dir.path(),
            "alert_interval_secs = 1\nalert_webhook_private_addresses = true\n",
        );
        let token = admin_token(dir.path(), p.id);
        Quick {
            _dir: dir,
            p,
            receiver,
            server,
            token,
        }
    }
}

/// Adds a rule; its id.
fn add_rule(server: &Server, token: &str, rule: Value) -> i64 {
    let (status, v) = request(server, "POST", token, "/api/v1/alerts/rules", Some(&rule));
    assert_eq!(status, 201, "{v}");
    v["id"].as_i64().unwrap()
}

/// The transitions of the first notification the receiver gets at `path`.
fn first_transitions(receiver: &Receiver, path: &str) -> Vec<Value> {
    assert!(
        eventually(Duration::from_secs(15), || !receiver.at(path).is_empty()),
        "nothing sent to {path}"
    );
    receiver.at(path)[0].body["transitions"]
        .as_array()
        .unwrap()
        .clone()
}

fn admin_token(data: &Path, project: u64) -> String {
    let meta = vigil_meta::Meta::open(&data.join("meta.db")).unwrap();
    meta.create_scoped_token(project as u32, vigil_meta::Scope::Admin)
        .unwrap()
        .1
}

fn request(
    server: &Server,
    method: &str,
    token: &str,
    path: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let agent = agent();
    let url = server.url(path);
    let auth = format!("Bearer {token}");
    let mut resp = match (method, body) {
        ("GET", _) => agent.get(&url).header("authorization", &auth).call(),
        ("DELETE", _) => agent.delete(&url).header("authorization", &auth).call(),
        ("PUT", Some(b)) => agent
            .put(&url)
            .header("authorization", &auth)
            .header("content-type", "application/json")
            .send(b.to_string().as_bytes()),
        (_, b) => agent
            .post(&url)
            .header("authorization", &auth)
            .header("content-type", "application/json")
            .send(b.map(|b| b.to_string()).unwrap_or_default().as_bytes()),
    }
    .unwrap();
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn rule(name: &str, extra: Value) -> Value {
    let mut r = json!({
        "name": name, "metric": "lcp", "aggregation": "p75",
        "filters": [{"field": "device_type", "op": "eq", "value": "mobile"}],
        "group_by": ["country"], "condition": "above", "threshold": 4000,
        "window_minutes": 15, "delay_minutes": 0, "min_samples": 20
    });
    for (k, v) in extra.as_object().unwrap() {
        r[k] = v.clone();
    }
    r
}

fn segments(server: &Server, token: &str, id: i64) -> Vec<Value> {
    let (status, v) = request(
        server,
        "GET",
        token,
        &format!("/api/v1/alerts/rules/{id}"),
        None,
    );
    assert_eq!(status, 200, "{v}");
    v["segments"].as_array().unwrap().clone()
}

fn state_of(segments: &[Value], label: &str) -> Option<String> {
    segments
        .iter()
        .find(|s| s["label"] == label)
        .map(|s| s["state"].as_str().unwrap().to_owned())
}

#[test]
fn a_degraded_segment_fires_notifies_once_and_resolves() {
    let dir = tempfile::tempdir().unwrap();
    let p = create_project(dir.path(), "shop", &[]);
    let smtp = SmtpServer::start(dir.path());
    let receiver = Receiver::start();
    let server = Server::start_with_config(
        dir.path(),
        &format!(
            "trust_forwarded_for = true\nalert_interval_secs = 1\nalert_webhook_private_addresses = true\n\
             alert_retry_base_ms = 200\npublic_url = \"https://vigil.example.com\"\n\
             smtp_host = \"127.0.0.1\"\nsmtp_port = {}\nsmtp_security = \"none\"\nsmtp_from = \"Vigil <alerts@vigil.test>\"\n",
            smtp.port
        ),
    );
    let token = admin_token(dir.path(), p.id);
    let now = now_ms();

    // Rules made before the data: one that tells everyone, one with India muted, one whose
    // window ends an hour ago (its evaluation delay).
    let (status, main) = request(
        &server,
        "POST",
        &token,
        "/api/v1/alerts/rules",
        Some(&rule(
            "Mobile LCP by country",
            json!({"channels": [
                {"type": "webhook", "url": receiver.url("/hook")},
                {"type": "slack", "url": receiver.url("/slack")},
                {"type": "webhook", "url": receiver.url("/flaky")},
                {"type": "email", "to": ["ops@example.com"]}
            ]}),
        )),
    );
    assert_eq!(status, 201, "{main}");
    let main_id = main["id"].as_i64().unwrap();
    let (_, muted) = request(
        &server,
        "POST",
        &token,
        "/api/v1/alerts/rules",
        Some(&rule(
            "Mobile LCP, India muted",
            json!({"channels": [{"type": "webhook", "url": receiver.url("/muted")}]}),
        )),
    );
    let muted_id = muted["id"].as_i64().unwrap();
    let (status, v) = request(
        &server,
        "POST",
        &token,
        &format!("/api/v1/alerts/rules/{muted_id}/mute"),
        Some(&json!({"until": now + 3_600_000, "segment": {"country": "IN"}})),
    );
    assert_eq!(status, 200, "{v}");
    let (_, delayed) = request(
        &server,
        "POST",
        &token,
        "/api/v1/alerts/rules",
        Some(&rule(
            "Mobile LCP, an hour late",
            json!({"delay_minutes": 60, "channels": [{"type": "webhook", "url": receiver.url("/delayed")}]}),
        )),
    );
    let delayed_id = delayed["id"].as_i64().unwrap();

    // The data: India's mobile users are slow; its desktop users, the US and Germany are
    // not; France is slow but has 5 samples, under the rule's minimum of 20. An hour and
    // a half ago India was slow too (for the preview).
    let ts = now - 60_000;
    send_lcp(
        &server,
        &p.public_key,
        "in-mobile",
        IN,
        MOBILE,
        &[6000.0; 40],
        ts,
    );
    send_lcp(
        &server,
        &p.public_key,
        "in-desktop",
        IN,
        DESKTOP,
        &[2000.0; 40],
        ts,
    );
    send_lcp(
        &server,
        &p.public_key,
        "us-mobile",
        US,
        MOBILE,
        &[2000.0; 40],
        ts,
    );
    send_lcp(
        &server,
        &p.public_key,
        "de-desktop",
        DE,
        DESKTOP,
        &[5000.0; 40],
        ts,
    );
    send_lcp(
        &server,
        &p.public_key,
        "de-mobile",
        DE,
        MOBILE,
        &[1800.0; 40],
        ts,
    );
    send_lcp(
        &server,
        &p.public_key,
        "fr-mobile",
        FR,
        MOBILE,
        &[9000.0; 5],
        ts,
    );
    send_lcp(
        &server,
        &p.public_key,
        "in-earlier",
        IN,
        MOBILE,
        &[7000.0; 40],
        now - 5_400_000,
    );

    // Made after the data is visible: its first evaluation sees two segments breach at
    // once, and one notification carries both.
    let (status, grouped) = request(
        &server,
        "POST",
        &token,
        "/api/v1/alerts/rules",
        Some(&rule(
            "LCP by country and device",
            json!({"filters": [], "group_by": ["country", "device_type"],
                   "channels": [{"type": "webhook", "url": receiver.url("/grouped")}]}),
        )),
    );
    assert_eq!(status, 201, "{grouped}");

    assert!(
        eventually(Duration::from_secs(20), || !receiver.at("/hook").is_empty()),
        "no webhook; segments {:?}",
        segments(&server, &token, main_id)
    );
    let hook = receiver.at("/hook")[0].clone();
    let body = &hook.body;
    assert_eq!(body["kind"], "alert");
    assert_eq!(body["rule"]["id"], main_id);
    assert_eq!(body["project"]["name"], "shop");
    let transitions = body["transitions"].as_array().unwrap();
    assert_eq!(transitions.len(), 1, "{body}");
    let t = &transitions[0];
    assert_eq!(t["segment"], json!({"country": "IN"}));
    assert_eq!(
        (t["state"].as_str(), t["previous"].as_str()),
        (Some("firing"), Some("ok"))
    );
    assert_eq!(t["value"], 6000.0);
    assert_eq!(t["threshold"], 4000.0);
    assert_eq!(t["samples"], 40);
    assert_eq!(
        t["window"]["to"].as_i64().unwrap() - t["window"]["from"].as_i64().unwrap(),
        15 * 60_000
    );
    let link = t["link"].as_str().unwrap();
    assert!(
        link.starts_with("https://vigil.example.com/explorer?project=")
            && link.contains("metric=lcp")
            && link.contains("percentile=p75")
            && link.contains("f=country%3Aeq%3AIN")
            && link.contains("f=device_type%3Aeq%3Amobile"),
        "{link}"
    );
    assert!(
        t["text"]
            .as_str()
            .unwrap()
            .contains("6000 ms, above 4000 ms (40 samples, 15 min window)"),
        "{t}"
    );
    assert_eq!(hook.notification, Some(body["notification_id"].to_string()));

    // Slack's body, the email and the flaky receiver's retries.
    assert!(eventually(Duration::from_secs(10), || !receiver
        .at("/slack")
        .is_empty()));
    let slack = &receiver.at("/slack")[0].body;
    assert!(
        slack["text"]
            .as_str()
            .unwrap()
            .contains("Mobile LCP by country: 1 segment firing")
    );
    assert!(
        slack["blocks"][1]["text"]["text"]
            .as_str()
            .unwrap()
            .contains("country=IN"),
        "{slack}"
    );
    assert!(eventually(Duration::from_secs(10), || !smtp
        .messages()
        .is_empty()));
    let mail = &smtp.messages()[0];
    assert_eq!(mail["to"], json!(["ops@example.com"]));
    assert_eq!(mail["from"], "alerts@vigil.test");
    assert_eq!(
        mail["subject"],
        "[Vigil] Mobile LCP by country: 1 segment firing"
    );
    let text = mail["text"].as_str().unwrap();
    assert!(
        text.contains("FIRING · Mobile LCP by country · country=IN: p75 of lcp is 6000 ms, above 4000 ms (40 samples, 15 min window)"),
        "{text}"
    );
    assert!(
        text.contains("https://vigil.example.com/explorer?project="),
        "{text}"
    );
    assert!(eventually(Duration::from_secs(10), || receiver
        .at("/flaky")
        .len()
        == 3));
    let flaky = receiver.at("/flaky");
    assert!(
        flaky
            .iter()
            .all(|r| r.notification == flaky[0].notification),
        "one notification, three attempts"
    );

    // Two segments at once: one notification.
    assert!(eventually(Duration::from_secs(10), || !receiver
        .at("/grouped")
        .is_empty()));
    let grouped_body = &receiver.at("/grouped")[0].body;
    let mut fired: Vec<String> = grouped_body["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| format!("{}", t["segment"]))
        .collect();
    fired.sort();
    assert_eq!(
        fired,
        [
            r#"{"country":"DE","device_type":"desktop"}"#,
            r#"{"country":"IN","device_type":"mobile"}"#
        ],
        "{grouped_body}"
    );

    // The muted rule's India fires, and sends nothing; France never fires anywhere.
    assert!(eventually(Duration::from_secs(10), || {
        state_of(&segments(&server, &token, muted_id), "country=IN").as_deref() == Some("firing")
    }));
    let main_segments = segments(&server, &token, main_id);
    assert_eq!(
        state_of(&main_segments, "country=FR").as_deref(),
        Some("ok"),
        "{main_segments:?}"
    );
    assert_eq!(
        state_of(&main_segments, "country=US").as_deref(),
        Some("ok")
    );
    assert!(
        segments(&server, &token, delayed_id).is_empty(),
        "nothing in its window"
    );
    let (_, history) = request(
        &server,
        "GET",
        &token,
        &format!("/api/v1/alerts/history?rule={muted_id}"),
        None,
    );
    let muted_firing = &history["transitions"][0];
    assert_eq!(
        (
            muted_firing["to"].as_str(),
            muted_firing["notified"].as_bool()
        ),
        (Some("firing"), Some(false))
    );

    // What fires now, as the overview lists it: the muted rule's India says it is muted.
    let (_, firing) = request(&server, "GET", &token, "/api/v1/alerts/firing", None);
    let of_rule = |id: i64| {
        firing["firing"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["rule_id"] == id && f["label"] == "country=IN")
            .cloned()
            .unwrap_or_else(|| panic!("{firing}"))
    };
    let (loud, quiet) = (of_rule(main_id), of_rule(muted_id));
    assert_eq!(
        (loud["muted"].as_bool(), quiet["muted"].as_bool()),
        (Some(false), Some(true))
    );
    assert_eq!(loud["threshold_text"], "4000 ms");
    assert_eq!(loud["value_text"], "6000 ms");
    // A rule that names no recovery threshold answers null, and the one in use.
    let (_, read) = request(
        &server,
        "GET",
        &token,
        &format!("/api/v1/alerts/rules/{main_id}"),
        None,
    );
    assert_eq!(
        (
            read["recovery_threshold"].clone(),
            read["effective_recovery_threshold"].clone()
        ),
        (Value::Null, json!(3600.0))
    );

    // A value that drops below the threshold but not past the recovery threshold (3,600):
    // still firing, nothing new is sent over several evaluations.
    send_lcp(
        &server,
        &p.public_key,
        "in-mobile-2",
        IN,
        MOBILE,
        &[3900.0; 160],
        now - 30_000,
    );
    std::thread::sleep(Duration::from_secs(4));
    let main_segments = segments(&server, &token, main_id);
    let india = main_segments
        .iter()
        .find(|s| s["label"] == "country=IN")
        .unwrap();
    assert_eq!(
        (india["state"].as_str(), india["value"].as_f64()),
        (Some("firing"), Some(3900.0))
    );
    assert_eq!(receiver.at("/hook").len(), 1, "fired once");

    // Recovery: the receiver hears that it resolved.
    send_lcp(
        &server,
        &p.public_key,
        "in-mobile-3",
        IN,
        MOBILE,
        &[1500.0; 800],
        now - 20_000,
    );
    assert!(
        eventually(Duration::from_secs(15), || receiver.at("/hook").len() == 2),
        "{:?}",
        segments(&server, &token, main_id)
    );
    let resolved = &receiver.at("/hook")[1].body["transitions"][0];
    assert_eq!(
        (resolved["state"].as_str(), resolved["previous"].as_str()),
        (Some("resolved"), Some("firing"))
    );
    assert_eq!(resolved["value"], 1500.0);
    assert_eq!(resolved["threshold"], 3600.0);
    assert!(eventually(Duration::from_secs(10), || smtp
        .messages()
        .len()
        == 2));
    assert!(
        smtp.messages()[1]["subject"]
            .as_str()
            .unwrap()
            .contains("1 segment resolved")
    );
    assert!(eventually(Duration::from_secs(10), || receiver
        .at("/flaky")
        .len()
        == 4));
    assert!(receiver.at("/muted").is_empty() && receiver.at("/delayed").is_empty());

    // Every attempt is on record: the flaky receiver's first notification took three.
    let (_, list) = request(
        &server,
        "GET",
        &token,
        &format!("/api/v1/alerts/notifications?rule={main_id}"),
        None,
    );
    let flaky_first = list["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["channel"]["url"] == receiver.url("/flaky") && n["attempts"] == 3)
        .unwrap_or_else(|| panic!("{list}"));
    assert_eq!(flaky_first["state"], "delivered");
    let statuses: Vec<u64> = flaky_first["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [500, 500, 200]);

    // The preview sees India's slow window an hour and a half ago fire, and the current
    // one too (the ranges are whole windows up to now).
    let (status, preview) = request(
        &server,
        "POST",
        &token,
        "/api/v1/alerts/preview",
        Some(&json!({"rule": rule("preview", json!({})), "days": 1})),
    );
    assert_eq!(status, 200, "{preview}");
    let events = preview["events"].as_array().unwrap();
    let first = &events[0];
    assert_eq!(
        (first["segment"].clone(), first["to"].as_str()),
        (json!({"country": "IN"}), Some("firing"))
    );
    assert_eq!(first["value"], 7000.0);
    let at = first["at"].as_i64().unwrap();
    assert!(
        at > now - 5_400_000 && at <= now - 5_400_000 + 15 * 60_000,
        "{first}"
    );

    // The metrics count evaluations and deliveries.
    let (_, metrics) = server.get("/metrics", None);
    let value = |name: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap()
            .parse()
            .unwrap()
    };
    assert!(value("vigil_alert_evaluations_total") >= 8);
    assert!(value("vigil_alert_delivery_failures_total") >= 2);
    assert!(value("vigil_alert_notifications_delivered_total") >= 8);
}

#[test]
fn rules_are_checked_and_guarded_by_role() {
    let dir = tempfile::tempdir().unwrap();
    let p = create_project(dir.path(), "shop", &[]);
    let other = create_project(dir.path(), "other", &[]);
    let receiver = Receiver::start();
    // The default address policy: webhooks may not reach loopback.
    let server = Server::start_with_config(dir.path(), "alert_interval_secs = 1\n");
    let admin = admin_token(dir.path(), p.id);
    let read = &p.api_token;

    let good = rule(
        "r",
        json!({"channels": [{"type": "slack", "url": "https://hooks.slack.example/services/T0/B0/secret"}]}),
    );
    let (status, v) = request(&server, "POST", read, "/api/v1/alerts/rules", Some(&good));
    assert_eq!(status, 403, "a read token cannot add rules: {v}");
    let (status, created) = request(&server, "POST", &admin, "/api/v1/alerts/rules", Some(&good));
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_i64().unwrap();
    for (method, path, body) in [
        (
            "PUT",
            format!("/api/v1/alerts/rules/{id}"),
            Some(good.clone()),
        ),
        ("DELETE", format!("/api/v1/alerts/rules/{id}"), None),
        (
            "POST",
            format!("/api/v1/alerts/rules/{id}/mute"),
            Some(json!({"until": null})),
        ),
        ("POST", format!("/api/v1/alerts/rules/{id}/test"), None),
    ] {
        let (status, v) = request(&server, method, read, &path, body.as_ref());
        assert_eq!(status, 403, "{method} {path}: {v}");
    }
    // Readers see the rule without the webhook's secret path.
    let (status, listed) = request(&server, "GET", read, "/api/v1/alerts/rules", None);
    assert_eq!(status, 200);
    assert_eq!(
        listed["rules"][0]["channels"][0]["url"],
        "https://hooks.slack.example/…"
    );
    // Another project's token sees nothing of it.
    let (status, _) = request(
        &server,
        "GET",
        &other.api_token,
        &format!("/api/v1/alerts/rules/{id}"),
        None,
    );
    assert_eq!(status, 404);
    let other_admin = admin_token(dir.path(), other.id);
    let (status, _) = request(
        &server,
        "DELETE",
        &other_admin,
        &format!("/api/v1/alerts/rules/{id}"),
        None,
    );
    assert_eq!(status, 404);

    // Bad rules get a clear reason.
    for (change, words) in [
        (json!({"metric": "nope"}), "unknown metric"),
        (
            json!({"group_by": ["country", "browser", "os", "release"]}),
            "at most 3",
        ),
        (json!({"threshold": "high"}), "invalid type"),
        (json!({"recovery_threshold": 5000}), "must not be above"),
        (
            json!({"channels": [{"type": "email", "to": ["a@b.example\r\nRCPT TO:<x@y.example>"]}]}),
            "not an email",
        ),
        (
            json!({"channels": vec![json!({"type": "webhook", "url": "https://a.example/"}); 11]}),
            "at most 10 channels",
        ),
        (json!({"name": "x".repeat(201)}), "1 to 200 bytes"),
        (json!({"max_segments": 100000}), "max_segments"),
    ] {
        let mut body = good.clone();
        for (k, v) in change.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (status, v) = request(&server, "POST", &admin, "/api/v1/alerts/rules", Some(&body));
        assert_eq!(status, 400, "{change}: {v}");
        assert_eq!(v["code"], "invalid_body");
        assert!(
            v["message"].as_str().unwrap().contains(words),
            "{change}: {v}"
        );
    }
    let (status, v) = request(
        &server,
        "POST",
        &admin,
        "/api/v1/alerts/preview",
        Some(&json!({"rule": good, "days": 15})),
    );
    assert_eq!((status, v["code"].as_str()), (400, Some("invalid_body")));

    // A webhook to a loopback address is refused by the address policy: the attempt says
    // why and the receiver hears nothing.
    let hook = rule(
        "loopback",
        json!({"channels": [{"type": "webhook", "url": receiver.url("/hook")}]}),
    );
    let (_, created) = request(&server, "POST", &admin, "/api/v1/alerts/rules", Some(&hook));
    let hook_id = created["id"].as_i64().unwrap();
    let (status, v) = request(
        &server,
        "POST",
        &admin,
        &format!("/api/v1/alerts/rules/{hook_id}/test"),
        None,
    );
    assert_eq!(status, 200, "{v}");
    let mut error = String::new();
    assert!(eventually(Duration::from_secs(10), || {
        let (_, list) = request(
            &server,
            "GET",
            &admin,
            &format!("/api/v1/alerts/notifications?rule={hook_id}"),
            None,
        );
        error = list["notifications"][0]["deliveries"][0]["error"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        !error.is_empty()
    }));
    assert!(error.contains("private address"), "{error}");
    assert!(receiver.at("/hook").is_empty());

    // Deleting a rule deletes it.
    let (status, _) = request(
        &server,
        "DELETE",
        &admin,
        &format!("/api/v1/alerts/rules/{id}"),
        None,
    );
    assert_eq!(status, 204);
    let (status, _) = request(
        &server,
        "GET",
        read,
        &format!("/api/v1/alerts/rules/{id}"),
        None,
    );
    assert_eq!(status, 404);
}

/// The fingerprint of the error group whose message is `message`.
fn fingerprint(server: &Server, token: &str, message: &str) -> String {
    let (status, v) = server.query(
        token,
        &json!({"metric": "errors", "group_by": ["fingerprint"], "from": 0, "to": now_ms() + 60_000,
                "filters": [{"field": "message", "op": "eq", "value": message}]}),
    );
    assert_eq!(status, 200, "{v}");
    v["rows"][0][0].as_str().unwrap().to_owned()
}

fn send_error(server: &Server, key: &str, session: &str, message: &str, ts: i64) {
    let (status, v) = server.ingest(
        key,
        &batch(
            session,
            json!([{"type": "error", "ts": ts, "error_type": "TypeError", "message": message}]),
        ),
    );
    assert_eq!(status, 202, "{v}");
}

#[test]
fn error_group_rules_fire_on_new_and_reopened_groups() {
    let Quick {
        _dir,
        p,
        receiver,
        server,
        token,
    } = Quick::start("shop");
    let now = now_ms();
    // An old group, seen two hours ago and again now; a group first seen now.
    send_error(
        &server,
        &p.public_key,
        "e1",
        "cart is undefined",
        now - 7_200_000,
    );
    send_error(
        &server,
        &p.public_key,
        "e2",
        "cart is undefined",
        now - 60_000,
    );
    send_error(&server, &p.public_key, "e3", "price is NaN", now - 60_000);
    let old = fingerprint(&server, &token, "cart is undefined");
    let new = fingerprint(&server, &token, "price is NaN");
    assert_ne!(old, new);
    // The old group is resolved now: its events so far came before.
    let (status, v) = request(
        &server,
        "PUT",
        &token,
        &format!("/api/v1/errors/groups/{old}/state"),
        Some(&json!({"state": "resolved"})),
    );
    assert_eq!(status, 200, "{v}");
    let errors_rule = |name: &str, kind: &str, path: &str| {
        json!({"name": name, "metric": "errors", "aggregation": "count", "group_by": ["fingerprint"],
               "error_groups": kind, "condition": "above", "threshold": 0,
               "window_minutes": 15, "delay_minutes": 0,
               "channels": [{"type": "webhook", "url": receiver.url(path)}]})
    };
    for (name, kind, path) in [
        ("new groups", "new", "/new"),
        ("regressions", "regression", "/regressed"),
    ] {
        add_rule(&server, &token, errors_rule(name, kind, path));
    }
    let fired = first_transitions(&receiver, "/new");
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(fired[0]["segment"], json!({"fingerprint": new}));
    // Nothing has reopened yet; then the resolved group comes back.
    std::thread::sleep(Duration::from_secs(2));
    assert!(receiver.at("/regressed").is_empty());
    send_error(&server, &p.public_key, "e4", "cart is undefined", now_ms());
    let reopened = first_transitions(&receiver, "/regressed");
    assert_eq!(reopened.len(), 1, "{reopened:?}");
    assert_eq!(reopened[0]["segment"], json!({"fingerprint": old}));
    // The value is the group's events in the window: the one before the resolution too.
    assert_eq!(reopened[0]["value"], 2.0);
    // The new group notified once: it fires, it is not sent again.
    assert_eq!(receiver.at("/new").len(), 1);
}

#[test]
fn a_spike_fires_against_the_usual_count() {
    let Quick {
        _dir,
        p,
        receiver,
        server,
        token,
    } = Quick::start("shop");
    let now = now_ms();
    // An hour before the last 15 minutes: two of one error and five of another per
    // quarter; in the last 15 minutes, twenty of the first and still five of the second.
    for quarter in [70, 55, 40, 25] {
        let at = now - quarter * 60_000;
        for i in 0..2 {
            send_error(&server, &p.public_key, "usual-a", "api timeout", at + i);
        }
        for i in 0..5 {
            send_error(&server, &p.public_key, "usual-b", "steady warning", at + i);
        }
    }
    for i in 0..20 {
        send_error(
            &server,
            &p.public_key,
            "now-a",
            "api timeout",
            now - 60_000 + i,
        );
    }
    for i in 0..5 {
        send_error(
            &server,
            &p.public_key,
            "now-b",
            "steady warning",
            now - 60_000 + i,
        );
    }
    let spiking = fingerprint(&server, &token, "api timeout");
    add_rule(
        &server,
        &token,
        json!({"name": "error spikes", "metric": "errors", "aggregation": "count",
                     "group_by": ["fingerprint"], "baseline_windows": 4, "condition": "above",
                     "threshold": 3, "window_minutes": 15, "delay_minutes": 0, "min_samples": 5,
                     "channels": [{"type": "webhook", "url": receiver.url("/spike")}]}),
    );
    let fired = first_transitions(&receiver, "/spike");
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(fired[0]["segment"], json!({"fingerprint": spiking}));
    // Twenty against two a quarter: ten times the usual.
    assert_eq!(fired[0]["value"], 10.0);
    assert_eq!(fired[0]["value_text"], "10.0×");
    assert_eq!(fired[0]["samples"], 20);
}

/// A mobile app's batch (the native protocol) from a device on `os_version`.
fn app_batch(session: &str, os_version: &str, events: Value) -> Vec<u8> {
    json!({
        "v": 1,
        "context": {
            "session_id": session,
            "view_id": format!("{session}-screen"),
            "agent": {"name": "vigil-android", "version": "0.1.0"},
            "release": "3.12.0",
            "app": {"name": "com.example.shop", "version": "3.12.0", "build": "31200"},
            "os": {"name": "Android", "version": os_version},
            "device": {"model": "Pixel 8", "manufacturer": "Google", "type": "mobile"}
        },
        "events": events
    })
    .to_string()
    .into_bytes()
}

#[test]
fn a_crash_rate_fires_for_the_os_version_that_crashes() {
    let Quick {
        _dir,
        p,
        receiver,
        server,
        token,
    } = Quick::start("app");
    let now = now_ms();
    // 40 starts on Android 14 and on 15; 6 crashes on 15 (15%), 1 on 14 (2.5%).
    for (version, crashes) in [("14", 1), ("15", 6)] {
        for i in 0..40 {
            let mut events = vec![
                json!({"type": "app_start", "ts": now - 120_000 + i, "start_type": "cold", "duration": 900.0}),
            ];
            if i < crashes {
                events.push(json!({"type": "crash", "ts": now - 60_000 + i, "error_type": "java.lang.IllegalStateException", "message": "boom"}));
            }
            let (status, v) = server.ingest(
                &p.public_key,
                &app_batch(&format!("s{version}-{i}"), version, json!(events)),
            );
            assert_eq!(status, 202, "{v}");
        }
    }
    add_rule(
        &server,
        &token,
        json!({"name": "crash rate", "metric": "crashes", "aggregation": "count",
                     "ratio_of": {"metric": "app_starts"}, "group_by": ["os_version"],
                     "condition": "above", "threshold": 0.05, "min_samples": 20,
                     "window_minutes": 15, "delay_minutes": 0,
                     "channels": [{"type": "webhook", "url": receiver.url("/crashes")}]}),
    );
    let fired = first_transitions(&receiver, "/crashes");
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(fired[0]["segment"], json!({"os_version": "15"}));
    assert_eq!(fired[0]["value"], 0.15);
    assert_eq!(fired[0]["samples"], 40);
    assert_eq!(fired[0]["value_text"], "15.00%");
}

/// Sends raw bytes; the status and the JSON answer.
fn send_raw(server: &Server, method: &str, token: &str, path: &str, body: &[u8]) -> (u16, Value) {
    let agent = agent();
    let url = server.url(path);
    let auth = format!("Bearer {token}");
    let request = match method {
        "PUT" => agent.put(&url),
        _ => agent.post(&url),
    };
    let mut resp = request
        .header("authorization", &auth)
        .header("content-type", "application/json")
        .send(body)
        .unwrap();
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[test]
fn alert_routes_refuse_garbage_and_keep_serving_across_a_restart() {
    let Quick {
        _dir,
        p: _,
        receiver: _,
        mut server,
        token,
    } = Quick::start("shop");
    let other = create_project(_dir.path(), "other", &[]);
    let other_admin = admin_token(_dir.path(), other.id);
    let id = add_rule(&server, &token, rule("kept", json!({})));
    let valid = rule("x", json!({})).to_string();
    let huge = format!(r#"{{"name": "{}"}}"#, "x".repeat(260 << 10));
    for (method, path, body, status, code) in [
        (
            "POST",
            "/api/v1/alerts/rules".to_owned(),
            &b"not json"[..],
            400,
            "invalid_body",
        ),
        (
            "POST",
            "/api/v1/alerts/rules".to_owned(),
            &br#"{"name": 1}"#[..],
            400,
            "invalid_body",
        ),
        (
            "POST",
            "/api/v1/alerts/rules".to_owned(),
            huge.as_bytes(),
            413,
            "too_large",
        ),
        (
            "PUT",
            "/api/v1/alerts/rules/abc".to_owned(),
            &b"{}"[..],
            400,
            "invalid_request",
        ),
        (
            "PUT",
            "/api/v1/alerts/rules/999999".to_owned(),
            valid.as_bytes(),
            404,
            "not_found",
        ),
        (
            "POST",
            format!("/api/v1/alerts/rules/{id}/mute"),
            &br#"{"until": 5}"#[..],
            400,
            "invalid_body",
        ),
        (
            "POST",
            format!("/api/v1/alerts/rules/{id}/mute"),
            &br#"{"until": null, "segment": {"browser": "x"}}"#[..],
            400,
            "invalid_body",
        ),
        (
            "POST",
            format!("/api/v1/alerts/rules/{id}/mute"),
            &b"\xff\xfe"[..],
            400,
            "invalid_body",
        ),
        (
            "POST",
            format!("/api/v1/alerts/rules/{id}/test"),
            &b""[..],
            400,
            "invalid_request",
        ),
        (
            "POST",
            "/api/v1/alerts/preview".to_owned(),
            &br#"{"rule": 5}"#[..],
            400,
            "invalid_body",
        ),
        (
            "POST",
            "/api/v1/alerts/preview".to_owned(),
            huge.as_bytes(),
            413,
            "too_large",
        ),
        (
            "POST",
            "/api/v1/funnel".to_owned(),
            &br#"{"steps": "x"}"#[..],
            400,
            "invalid_query",
        ),
    ] {
        let (got, v) = send_raw(&server, method, &token, &path, body);
        assert_eq!(
            (got, v["code"].as_str()),
            (status, Some(code)),
            "{method} {path}: {v}"
        );
    }
    for path in [
        "/api/v1/alerts/history?rule=x",
        "/api/v1/alerts/notifications?limit=-1",
    ] {
        let (got, v) = request(&server, "GET", &token, path, None);
        assert_eq!(
            (got, v["code"].as_str()),
            (400, Some("invalid_request")),
            "{path}: {v}"
        );
    }
    // Another project's credentials reach nothing of this one.
    for (method, path) in [
        ("GET", format!("/api/v1/alerts/rules/{id}")),
        ("DELETE", format!("/api/v1/alerts/rules/{id}")),
    ] {
        let (got, _) = request(&server, method, &other_admin, &path, None);
        assert_eq!(got, 404, "{method} {path}");
    }
    let (got, _) = send_raw(
        &server,
        "POST",
        &other_admin,
        &format!("/api/v1/alerts/rules/{id}/mute"),
        br#"{"until": null}"#,
    );
    assert_eq!(got, 404);

    // The server still serves, and after a crash the rule is there and evaluated again.
    assert_eq!(server.get("/healthz", None).0, 200);
    server.kill9();
    let server = Server::start_with_config(
        _dir.path(),
        "alert_interval_secs = 1\nalert_webhook_private_addresses = true\n",
    );
    let (got, listed) = request(&server, "GET", &token, "/api/v1/alerts/rules", None);
    assert_eq!(got, 200);
    assert_eq!(listed["rules"][0]["id"], id);
    assert!(eventually(Duration::from_secs(10), || {
        server
            .get("/metrics", None)
            .1
            .lines()
            .any(|l| l.starts_with("vigil_alert_evaluations_total ") && !l.ends_with(" 0"))
    }));
}
