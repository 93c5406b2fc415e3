//! The command line, configuration sources, and the operational endpoints.

mod common;

use common::*;
use serde_json::json;
use std::process::Command;

fn run(args: &[&str]) -> (bool, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn help_explains_every_command_and_option() {
    let (ok, top) = run(&["--help"]);
    assert!(ok);
    for cmd in ["serve", "project", "demo", "bench"] {
        assert!(top.contains(cmd), "{top}");
    }
    let (_, serve) = run(&["serve", "--help"]);
    for opt in [
        "--config",
        "--data",
        "--listen",
        "--geo-country-db",
        "--geo-city-db",
        "--trust-forwarded-for",
        "VIGIL_DATA",
        "VIGIL_LISTEN",
    ] {
        assert!(serve.contains(opt), "serve --help lacks {opt}: {serve}");
    }
    let (_, create) = run(&["project", "create", "--help"]);
    for opt in ["--origin", "--retention-days", "--json", "--data"] {
        assert!(create.contains(opt), "{create}");
    }
    let (_, bench) = run(&["bench", "--help"]);
    assert!(
        bench.contains("ingest") && bench.contains("query") && bench.contains("intake-floor"),
        "{bench}"
    );
}

#[test]
fn project_create_prints_keys_and_rejects_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let p = create_project(dir.path(), "site", &["https://a.example"]);
    assert!(p.public_key.starts_with("pk_") && p.api_token.starts_with("vt_"));
    let (ok, text) = run(&[
        "project",
        "create",
        "site",
        "--data",
        dir.path().to_str().unwrap(),
    ]);
    assert!(!ok && text.contains("already exists"), "{text}");
    let (ok, list) = run(&["project", "list", "--data", dir.path().to_str().unwrap()]);
    assert!(
        ok && list.contains(&p.public_key) && list.contains("https://a.example"),
        "{list}"
    );
}

#[test]
fn config_file_and_environment() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("vigil.toml");
    std::fs::write(&config, "max_events_per_batch = 2\n").unwrap();
    let p = create_project(dir.path(), "site", &[]);
    let server = Server::start_with(dir.path(), &["--config", config.to_str().unwrap()]);
    let three = json!([{"type": "custom", "ts": now_ms(), "name": "a"}, {"type": "custom", "ts": now_ms(), "name": "b"}, {"type": "custom", "ts": now_ms(), "name": "c"}]);
    let (status, r) = server.ingest(&p.public_key, &batch("s", three));
    assert_eq!((status, r["code"].as_str()), (413, Some("too_many_events")));
    drop(server);
    // A bad config is refused with a clear message.
    std::fs::write(&config, "max_events_per_batch = \"many\"\n").unwrap();
    let (ok, text) = run(&[
        "serve",
        "--config",
        config.to_str().unwrap(),
        "--data",
        dir.path().to_str().unwrap(),
    ]);
    assert!(!ok && text.contains("vigil.toml"), "{text}");
    std::fs::write(&config, "no_such_setting = 1\n").unwrap();
    let (ok, text) = run(&["serve", "--config", config.to_str().unwrap()]);
    assert!(!ok && text.contains("no_such_setting"), "{text}");
    // VIGIL_* variables work like flags.
    let out = Command::new(BIN)
        .args(["project", "list"])
        .env("VIGIL_DATA", dir.path())
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains(&p.public_key));
}

#[test]
fn health_readiness_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let p = create_project(dir.path(), "site", &[]);
    let server = Server::start(dir.path());
    assert_eq!(server.get("/healthz", None), (200, "ok".to_owned()));
    assert_eq!(server.get("/readyz", None).0, 200);
    assert_eq!(
        server
            .ingest(
                &p.public_key,
                &batch(
                    "s",
                    json!([{"type": "custom", "ts": now_ms(), "name": "a"}])
                )
            )
            .0,
        202
    );
    assert_eq!(server.ingest(&p.public_key, b"{").0, 400);
    let (status, text) = server.get("/metrics", None);
    assert_eq!(status, 200);
    for line in [
        "vigil_intake_accepted_batches_total 1",
        "vigil_intake_accepted_events_total 1",
        "vigil_intake_rejected_batches_total{code=\"invalid_json\"} 1",
        "vigil_store_queue_depth 0",
        "vigil_store_write_latency_seconds_count 1",
        // The one event, in memory until a flush.
        "vigil_store_memtable_rows 1",
        "vigil_store_frozen_memtables 0",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "metrics lack {line:?}:\n{text}"
        );
    }
}

#[test]
fn demo_fills_a_realistic_store() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let (ok, out) = run(&["demo", "--data", data, "--page-views", "30000"]);
    assert!(ok, "{out}");
    let token = out
        .lines()
        .find_map(|l| l.strip_prefix("api token"))
        .unwrap()
        .trim()
        .to_owned();
    let server = Server::start(dir.path());
    let now = now_ms();
    let q = |metric: &str, aggs: &[&str], group: &[&str]| {
        let (status, r) = server.query(
            &token,
            &json!({
                "metric": metric, "aggregations": aggs, "group_by": group,
                "from": now - 8 * 86_400_000, "to": now + 60_000, "limit": 1000
            }),
        );
        assert_eq!(status, 200, "{r}");
        r["rows"].as_array().unwrap().clone()
    };
    assert_eq!(q("page_views", &["count"], &[])[0][0], json!(30000));
    assert!(q("views", &["count"], &["country"]).len() >= 30);
    let devices: Vec<_> = q("views", &["count"], &["device_type"])
        .iter()
        .map(|r| r[0].clone())
        .collect();
    for d in ["desktop", "mobile", "tablet"] {
        assert!(devices.contains(&json!(d)), "{devices:?}");
    }
    assert!(q("views", &["count"], &["browser"]).len() >= 5);
    let by_net = q("lcp", &["p75"], &["effective_type"]);
    let p75 = |name: &str| {
        by_net.iter().find(|r| r[0] == json!(name)).unwrap()[1]
            .as_f64()
            .unwrap()
    };
    assert!(
        p75("3g") > p75("4g") * 1.3,
        "3g should be slower: {by_net:?}"
    );
    let by_country = q("lcp", &["p75"], &["country"]);
    let c = |name: &str| {
        by_country.iter().find(|r| r[0] == json!(name)).unwrap()[1]
            .as_f64()
            .unwrap()
    };
    assert!(
        c("IN") > c("DE"),
        "far from the origin should be slower: {by_country:?}"
    );
    let by_memory = q("lcp", &["p75"], &["device_type"]);
    let d = |name: &str| {
        by_memory.iter().find(|r| r[0] == json!(name)).unwrap()[1]
            .as_f64()
            .unwrap()
    };
    assert!(d("mobile") > d("desktop"));
    for table in ["errors", "requests", "routes", "actions", "resources"] {
        assert!(
            q(table, &["count"], &[])[0][0].as_i64().unwrap() > 100,
            "{table}"
        );
    }
    let custom: Vec<_> = q("custom_events.value", &["count", "sum"], &["name"])
        .iter()
        .map(|r| r[0].clone())
        .collect();
    for name in ["signup", "add_to_cart", "checkout"] {
        assert!(custom.contains(&json!(name)), "{custom:?}");
    }
    let statuses = q("requests", &["count"], &["status"]);
    assert!(
        statuses.iter().any(|r| r[0] == json!(500)) && statuses.iter().any(|r| r[0] == json!(200))
    );
}

#[test]
fn serves_the_embedded_browser_agent() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let bundle = repo_root().join("agent/dist/vigil.js");
    let (status, body) = server.get("/agent/vigil.js", None);
    match std::fs::read_to_string(&bundle) {
        Ok(expected) if !expected.is_empty() => {
            assert_eq!(status, 200);
            assert_eq!(
                body, expected,
                "the binary serves the bundle it was built with"
            );
        }
        _ => assert_eq!(status, 404, "no bundle was built, so none is served"),
    }
}

/// One GET over a plain socket, so that nothing decompresses the body for us: the status,
/// the headers (lower-case names) and the raw body.
fn raw_get(
    addr: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let end = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8(response[..end].to_vec()).unwrap();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect::<Vec<_>>();
    let mut body = response[end + 4..].to_vec();
    if headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v == "chunked")
    {
        body = unchunk(&body);
    }
    (status, headers, body)
}

fn unchunk(mut bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = bytes.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&bytes[..line_end]).unwrap().trim(), 16)
                .unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&bytes[line_end + 2..line_end + 2 + size]);
        bytes = &bytes[line_end + 2 + size + 2..];
    }
}

fn gunzip(body: &[u8]) -> Vec<u8> {
    let mut plain = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(body), &mut plain).unwrap();
    plain
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

#[test]
fn serves_the_agent_compressed_and_under_a_versioned_name() {
    let dir = tempfile::tempdir().unwrap();
    let keys = create_project(dir.path(), "pinned", &[]);
    let server = Server::start(dir.path());
    let Ok(expected) = std::fs::read(repo_root().join("agent/dist/vigil.js")) else {
        return; // no bundle built: `serves_the_embedded_browser_agent` checks the 404
    };
    if expected.is_empty() {
        return;
    }
    // Brotli when the browser takes it, gzip when it takes only that, else as it is.
    let (status, h, body) = raw_get(
        &server.addr,
        "/agent/vigil.js",
        &[("Accept-Encoding", "gzip, deflate, br, zstd")],
    );
    assert_eq!(status, 200);
    assert_eq!(header(&h, "content-encoding"), Some("br"));
    assert_eq!(header(&h, "vary"), Some("Accept-Encoding"));
    let mut plain = Vec::new();
    brotli::BrotliDecompress(&mut &body[..], &mut plain).unwrap();
    assert_eq!(plain, expected, "the brotli variant is the bundle");
    assert!(
        body.len() * 2 < expected.len(),
        "brotli {} of {} bytes",
        body.len(),
        expected.len()
    );
    let br_tag = header(&h, "etag").unwrap().to_owned();

    let (status, h, body) = raw_get(
        &server.addr,
        "/agent/vigil.js",
        &[("Accept-Encoding", "gzip")],
    );
    assert_eq!(status, 200);
    assert_eq!(header(&h, "content-encoding"), Some("gzip"));
    let plain = gunzip(&body);
    assert_eq!(plain, expected, "the gzip variant is the bundle");
    assert_ne!(
        header(&h, "etag").unwrap(),
        br_tag,
        "each variant has its own tag"
    );
    assert_eq!(header(&h, "cache-control"), Some("public, max-age=300"));

    let (status, h, body) = raw_get(&server.addr, "/agent/vigil.js", &[]);
    assert_eq!(status, 200);
    assert_eq!(header(&h, "content-encoding"), None);
    assert_eq!(body, expected);
    let (status, _, _) = raw_get(
        &server.addr,
        "/agent/vigil.js",
        &[("Accept-Encoding", "br"), ("If-None-Match", &br_tag)],
    );
    assert_eq!(status, 304, "a cached variant is revalidated");

    // The versioned name, as the pinned snippet has it, is cached for a year.
    let (status, settings) = server.get(
        &format!("/api/v1/projects/{}", keys.id),
        Some(&keys.api_token),
    );
    assert_eq!(status, 200, "{settings}");
    let settings: serde_json::Value = serde_json::from_str(&settings).unwrap();
    let pinned = settings["pinned_snippet"].as_str().unwrap();
    let path = pinned
        .split("src=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let path = &path[path.find("/agent/").unwrap()..];
    assert_ne!(path, "/agent/vigil.js");
    let (status, h, body) = raw_get(&server.addr, path, &[("Accept-Encoding", "gzip")]);
    assert_eq!(status, 200, "{path}");
    assert_eq!(
        header(&h, "cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    let plain = gunzip(&body);
    assert_eq!(plain, expected);
    // Another build's name is not this bundle, and names an attacker makes up are not
    // files: every one is a 404, and the server goes on serving.
    let long = format!("/agent/{}.js", "a".repeat(8000));
    for path in [
        "/agent/vigil.0123456789abcdef.js",
        "/agent/..%2f..%2fmanifest.json",
        "/agent/%2e%2e%2fLOCK",
        "/agent/vigil.js.gz",
        "/agent/vigil.%00.js",
        long.as_str(),
    ] {
        let (status, _, _) = raw_get(&server.addr, path, &[("Accept-Encoding", "br;q=x, ,;;")]);
        assert!(
            status == 404 || status == 414 || status == 431,
            "{status} for {path}"
        );
    }
    let (status, _, body) = raw_get(&server.addr, path, &[]);
    assert_eq!((status, body), (200, expected.clone()), "still serving");
}

#[test]
fn serves_the_embedded_dashboard_and_nothing_outside_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let (status, body) = server.get("/", None);
    assert_eq!(status, 200);
    match std::fs::read_to_string(repo_root().join("web/dist/index.html")) {
        Ok(expected) => {
            assert_eq!(body, expected);
            // Client-side routes load the same page.
            assert_eq!(server.get("/overview", None).1, expected);
        }
        Err(_) => assert!(body.contains("npm run build"), "{body}"),
    }
    for path in ["/%2e%2e/Cargo.toml", "/..%2fCargo.toml", "/nope.js"] {
        let (status, body) = server.get(path, None);
        assert!(
            status == 404 || !body.contains("[workspace]"),
            "{path} leaked a file"
        );
    }
}

/// `vigil bench intake-floor --durable` answers the ingest benchmark's batches only once
/// each is a whole frame of its log, and `vigil bench ingest --addr` runs against it;
/// garbage is logged as it came, an oversize body is refused, and it goes on serving.
#[test]
fn the_intake_floor_server_logs_every_batch_it_accepts() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("wal");
    let mut floor = common::Reaped(
        Command::new(BIN)
            .args([
                "bench",
                "intake-floor",
                "--listen",
                "127.0.0.1:0",
                "--durable",
            ])
            .arg(&log)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    BufReader::new(floor.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_owned();
    let (ok, out) = run(&[
        "bench",
        "ingest",
        "--addr",
        &addr,
        "--key",
        "unused",
        "--events",
        "400",
        "--connections",
        "4",
    ]);
    // It reads nothing, so any bytes are a batch to it; past axum's 2 MiB body limit a
    // body is refused, and the server goes on serving.
    let ingest = format!("http://{addr}/api/v1/ingest");
    let garbage: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
    let garbage_status = common::otlp::post_to(&ingest, &[], &garbage).status;
    // Past the limit the server may answer 413 and close the connection before the client
    // has written the whole body; the client's write then fails (a broken pipe or a reset)
    // instead of it reading the answer. Either way the body was refused.
    let oversize = match common::agent().post(&ingest).send(&vec![b'x'; 3 << 20][..]) {
        Ok(answer) if answer.status().as_u16() == 413 => "refused".to_owned(),
        Ok(answer) => format!("answered {}", answer.status().as_u16()),
        Err(ureq::Error::Io(e))
            if matches!(
                e.kind(),
                std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
            ) =>
        {
            "refused".to_owned()
        }
        Err(e) => format!("failed: {e}"),
    };
    let still_serves = common::otlp::post_to(&ingest, &[], b"{}").status;
    drop(floor);
    assert!(ok, "{out}");
    assert!(out.contains("400 events in"), "{out}");
    assert_eq!(
        (garbage_status, oversize.as_str(), still_serves),
        (202, "refused", 202)
    );
    let frames: Vec<_> = vigil_store::wal::replay(&log)
        .unwrap()
        .into_iter()
        .flat_map(|(_, frames)| frames)
        .collect();
    assert_eq!(
        frames.len(),
        22,
        "one frame per batch of 20, the garbage, the {{}}"
    );
    assert_eq!(frames[20].payload, garbage);
    for frame in &frames[..20] {
        let batch: serde_json::Value = serde_json::from_slice(&frame.payload).unwrap();
        assert_eq!(batch["events"].as_array().map(Vec::len), Some(20));
    }
}
