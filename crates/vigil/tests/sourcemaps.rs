//! Source maps end to end against the real binary: uploads over HTTP with an API token,
//! errors symbolicated at intake (original file, line, column, function, context), frames
//! that stay minified saying why, maps never crossing projects, grouping that holds across
//! pages, line numbers and the three engines' stack formats, and uploads an attacker (or a
//! careless script) gets wrong refused with a 4xx that changes nothing.

mod common;

use common::*;
use serde_json::{Value, json};
use sourcemap::SourceMapBuilder;

/// The original source the bundle is built from.
const ORIGINAL: &str = "\
export function addLine(cart, item) {
  const price = item.variant.price;
  return cart.total + price;
}
export const removeLine = (cart, id) => {
  throw new Error(\"no line \" + id);
};
";

/// The minified bundle: one line.
const MINIFIED: &str = "function n(t,e){const r=e.variant.price;return t.total+r}const o=(t,e)=>{throw new Error(\"no line \"+e)};";

fn col(haystack: &str, needle: &str) -> u32 {
    haystack
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?}")) as u32
}

/// The map of [`MINIFIED`] to `src/cart.ts`, as a bundler writes it (0-based positions).
fn cart_map(debug_id: Option<&str>) -> Vec<u8> {
    let mut b = SourceMapBuilder::new(Some("app.js"));
    let src = "src/cart.ts";
    let id = b.add_source(src);
    b.set_source_contents(id, Some(ORIGINAL));
    let line = |n: usize| ORIGINAL.lines().nth(n).unwrap();
    b.add(0, 0, 0, col(line(0), "function"), Some(src), None, false);
    b.add(
        0,
        col(MINIFIED, "n("),
        0,
        col(line(0), "addLine"),
        Some(src),
        Some("addLine"),
        false,
    );
    b.add(
        0,
        col(MINIFIED, "price"),
        1,
        col(line(1), "price;"),
        Some(src),
        None,
        false,
    );
    b.add(0, col(MINIFIED, "const o"), 4, 7, Some(src), None, false);
    b.add(
        0,
        col(MINIFIED, "o="),
        4,
        col(line(4), "removeLine"),
        Some(src),
        Some("removeLine"),
        false,
    );
    b.add(0, col(MINIFIED, "throw"), 5, 2, Some(src), None, false);
    let mut map = b.into_sourcemap();
    if let Some(id) = debug_id {
        map.set_debug_id(Some(id.parse().unwrap()));
    }
    let mut out = Vec::new();
    map.to_writer(&mut out).unwrap();
    out
}

fn upload(server: &Server, token: &str, query: &str, body: &[u8]) -> (u16, Value) {
    let mut resp = agent()
        .post(server.url(&format!("/api/v1/sourcemaps?{query}")))
        .header("authorization", &format!("Bearer {token}"))
        .send(body)
        .unwrap();
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn listed(server: &Server, token: &str) -> Value {
    let (status, body) = server.get("/api/v1/sourcemaps", Some(token));
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// A batch of one error with the given stack, frames and context.
fn error_batch(session: &str, release: &str, page: &str, error: Value) -> Vec<u8> {
    let mut event = json!({"type": "error", "ts": now_ms()});
    event
        .as_object_mut()
        .unwrap()
        .extend(error.as_object().unwrap().clone());
    json!({
        "v": 1,
        "context": {
            "session_id": session,
            "view_id": format!("{session}-v"),
            "agent": {"name": "vigil-test", "version": "1.0.0"},
            "page_url": page,
            "release": release,
        },
        "events": [event]
    })
    .to_string()
    .into_bytes()
}

/// The stored error of a session, waiting for it.
fn stored_error(server: &Server, token: &str, session: &str) -> Value {
    let mut found = None;
    assert!(
        eventually(std::time::Duration::from_secs(10), || {
            found = server
                .session(token, session)
                .into_iter()
                .find(|e| e["type"] == "errors");
            found.is_some()
        }),
        "no error stored for {session}"
    );
    found.unwrap()
}

fn frames(error: &Value) -> Vec<Value> {
    serde_json::from_str(error["frames"].as_str().unwrap()).unwrap()
}

/// Chrome's stack for the two throws of the bundle, served at `url`.
fn chrome_frames(url: &str) -> Value {
    let price = col(MINIFIED, "price") + 1;
    json!([
        {"function": "n", "file": url, "line": 1, "column": price},
        {"function": "HTMLButtonElement.onclick", "file": "https://shop.example.com/index.html", "line": 12, "column": 5}
    ])
}

#[test]
fn uploaded_maps_give_original_frames_and_frames_without_one_say_why() {
    let dir = tempfile::tempdir().unwrap();
    let shop = create_project(dir.path(), "shop", &["https://shop.example.com"]);
    let other = create_project(dir.path(), "other", &[]);
    let server = Server::start(dir.path());
    let token = ingest_admin_token(dir.path(), shop.id);
    let other_token = ingest_admin_token(dir.path(), other.id);

    let (status, entry) = upload(
        &server,
        &token,
        "release=2.0&url=~/static/app.js",
        &cart_map(None),
    );
    assert_eq!(status, 201, "{entry}");
    let (status, entry) = upload(
        &server,
        &token,
        "release=2.0&url=~/static/app.js&kind=script",
        MINIFIED.as_bytes(),
    );
    assert_eq!(status, 201, "{entry}");
    assert!(
        entry["map_file"].is_string() && entry["source_file"].is_string(),
        "{entry}"
    );
    // The other project's map of the same release and URL must never be used for shop.
    let (status, _) = upload(
        &server,
        &other_token,
        "release=3.0&url=~/static/app.js",
        &cart_map(None),
    );
    assert_eq!(status, 201);

    let bundle = "https://shop.example.com/static/app.js?v=77";
    let page = "https://shop.example.com/cart";
    let error = json!({
        "error_type": "TypeError",
        "message": "Cannot read properties of undefined (reading 'price')",
        "frames": chrome_frames(bundle),
    });
    assert_eq!(
        server
            .ingest(
                &shop.public_key,
                &error_batch("s-mapped", "2.0", page, error.clone())
            )
            .0,
        202
    );
    let stored = stored_error(&server, &shop.api_token, "s-mapped");
    let f = frames(&stored);
    let mapped = &f[0]["mapped"];
    assert_eq!(mapped["file"], "src/cart.ts", "{stored}");
    assert_eq!(mapped["line"], 2);
    assert_eq!(
        mapped["column"],
        col(ORIGINAL.lines().nth(1).unwrap(), "price;") + 1
    );
    assert_eq!(mapped["function"], "addLine");
    assert_eq!(mapped["context"]["start_line"], 1);
    assert_eq!(
        mapped["context"]["lines"][1], "  const price = item.variant.price;",
        "the context holds the original lines"
    );
    assert_eq!(f[0]["line"], 1, "the minified frame is kept beside it");
    assert_eq!(f[0]["in_app"], true);
    assert_eq!(f[1]["unmapped"]["code"], "no_map_for_file", "{stored}");
    assert_eq!(stored["symbolication"], "partial");
    assert_eq!(stored["culprit"], "addLine (cart.ts:2)");
    let grouping: Value = serde_json::from_str(stored["grouping"].as_str().unwrap()).unwrap();
    assert_eq!(grouping["method"], "in_app_frames");
    assert_eq!(
        grouping["frames"][0],
        json!({"file": "cart.ts", "function": "addLine"})
    );

    // The arrow function's name comes back through its binding.
    let throw = col(MINIFIED, "throw") + 1;
    let arrow = json!({
        "error_type": "Error", "message": "no line 7",
        "frames": [{"function": "o", "file": bundle, "line": 1, "column": throw}],
    });
    assert_eq!(
        server
            .ingest(
                &shop.public_key,
                &error_batch("s-arrow", "2.0", page, arrow)
            )
            .0,
        202
    );
    let stored = stored_error(&server, &shop.api_token, "s-arrow");
    let mapped = &frames(&stored)[0]["mapped"];
    assert_eq!(
        (mapped["line"].as_u64(), mapped["column"].as_u64()),
        (Some(6), Some(3)),
        "{stored}"
    );
    assert_eq!(mapped["function"], "removeLine");
    assert_eq!(stored["symbolication"], "mapped");

    // Another release: no maps at all; no release: said so.
    for (session, release, code) in [
        ("s-1.9", "1.9", "no_maps_for_release"),
        ("s-3.0", "3.0", "no_maps_for_release"),
        ("s-none", "", "no_release"),
    ] {
        assert_eq!(
            server
                .ingest(
                    &shop.public_key,
                    &error_batch(session, release, page, error.clone())
                )
                .0,
            202
        );
        let stored = stored_error(&server, &shop.api_token, session);
        assert_eq!(frames(&stored)[0]["unmapped"]["code"], code, "{stored}");
        assert!(
            frames(&stored)[0]["unmapped"]["reason"]
                .as_str()
                .unwrap()
                .len()
                > 10
        );
        assert_eq!(stored["symbolication"], "unmapped");
    }
    // A file of a release that has maps, but not for that file.
    let elsewhere = json!({
        "error_type": "TypeError", "message": "x",
        "frames": [{"function": "n", "file": "https://shop.example.com/static/other.js", "line": 1, "column": 30}],
    });
    assert_eq!(
        server
            .ingest(
                &shop.public_key,
                &error_batch("s-file", "2.0", page, elsewhere)
            )
            .0,
        202
    );
    let stored = stored_error(&server, &shop.api_token, "s-file");
    let unmapped = &frames(&stored)[0]["unmapped"];
    assert_eq!(unmapped["code"], "no_map_for_file");
    assert_eq!(
        unmapped["reason"],
        "release 2.0 has no source map for ~/static/other.js"
    );

    // Deleting the upload removes its files; new errors are no longer mapped.
    let list = listed(&server, &token);
    assert_eq!(list["totals"]["bundles"], 1, "{list}");
    let id = list["sourcemaps"][0]["id"].as_i64().unwrap();
    let files = |project: u64| -> usize {
        std::fs::read_dir(dir.path().join(format!("sourcemaps/p{project}")))
            .map(|d| d.count())
            .unwrap_or(0)
    };
    assert_eq!(files(shop.id), 2);
    let resp = agent()
        .delete(server.url(&format!("/api/v1/sourcemaps/{id}")))
        .header("authorization", &format!("Bearer {token}"))
        .call()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 204);
    assert_eq!(files(shop.id), 0);
    assert_eq!(files(other.id), 1, "the other project's upload stays");
}

#[test]
fn a_debug_id_finds_its_map_whatever_the_release_or_url() {
    let dir = tempfile::tempdir().unwrap();
    let shop = create_project(dir.path(), "shop", &[]);
    let server = Server::start(dir.path());
    let token = ingest_admin_token(dir.path(), shop.id);
    let id = "c6f1e0a4-5b7d-4e2a-9f13-8d2b6a0c4e51";
    let (status, entry) = upload(
        &server,
        &token,
        "release=build-1&url=~/uploaded/name.js",
        &cart_map(Some(id)),
    );
    assert_eq!(status, 201, "{entry}");
    assert_eq!(entry["debug_id"], id);
    // A script naming another debug id for the same bundle is refused.
    let (status, body) = upload(
        &server,
        &token,
        "release=build-1&url=~/uploaded/name.js&kind=script",
        format!("{MINIFIED}\n//# debugId=00000000-0000-0000-0000-000000000001\n").as_bytes(),
    );
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("debug_id_mismatch")),
        "{body}"
    );

    let bundle = "https://www.example.org/served/elsewhere.js";
    let error = json!({
        "error_type": "TypeError", "message": "m",
        "frames": chrome_frames(bundle),
        "debug_ids": {bundle: id.to_uppercase().replace('-', "")},
    });
    let page = "https://www.example.org/";
    assert_eq!(
        server
            .ingest(
                &shop.public_key,
                &error_batch("s-debug", "another-release", page, error)
            )
            .0,
        202
    );
    let stored = stored_error(&server, &shop.api_token, "s-debug");
    let mapped = &frames(&stored)[0]["mapped"];
    assert_eq!(
        (mapped["file"].as_str(), mapped["line"].as_u64()),
        (Some("src/cart.ts"), Some(2)),
        "{stored}"
    );
}

#[test]
fn bad_uploads_get_a_clear_4xx_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let shop = create_project(dir.path(), "shop", &[]);
    let server = Server::start(dir.path());
    let token = ingest_admin_token(dir.path(), shop.id);
    let good = cart_map(None);
    let oversize = vec![b' '; (64 << 20) + 1];
    let cases: Vec<(&str, &[u8], u16, &str)> = vec![
        (
            "release=1&url=~/a.js",
            b"{not json",
            400,
            "invalid_sourcemap",
        ),
        (
            "release=1&url=~/a.js",
            b"{\"hello\": \"world\"}",
            400,
            "invalid_sourcemap",
        ),
        (
            "release=1&url=~/a.js",
            b"[1, 2, 3]",
            400,
            "invalid_sourcemap",
        ),
        (
            "release=1&url=~/a.js",
            br#"{"version":3,"sources":["a.ts"],"names":[],"mappings":""}"#,
            400,
            "invalid_sourcemap",
        ),
        (
            "release=1&url=~/a.js",
            br#"{"version":3,"sources":["a.ts"],"names":[],"mappings":"!!!!"}"#,
            400,
            "invalid_sourcemap",
        ),
        (
            "release=1&url=~/a.js&kind=script",
            &[0xff, 0xfe, 0x00, 0x41],
            400,
            "invalid_script",
        ),
        (
            "release=1&url=~/a.js&kind=binary",
            &good,
            400,
            "invalid_request",
        ),
        ("release=&url=~/a.js", &good, 400, "invalid_upload"),
        (
            "release=1&url=../../etc/passwd",
            &good,
            400,
            "invalid_upload",
        ),
        ("release=1&url=~/a.js?v=1", &good, 400, "invalid_upload"),
        (
            "release=1&url=javascript:alert(1)",
            &good,
            400,
            "invalid_upload",
        ),
        ("url=~/a.js", &good, 400, "invalid_request"),
        ("release=1&url=~/a.js", &oversize, 413, "too_large"),
    ];
    for (query, body, status, code) in cases {
        let (got, answer) = upload(&server, &token, query, body);
        assert_eq!(
            (got, answer["code"].as_str()),
            (status, Some(code)),
            "{query} ({} bytes): {answer}",
            body.len()
        );
        assert!(answer["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    assert_eq!(listed(&server, &token)["totals"]["bundles"], 0);
    assert!(
        std::fs::read_dir(dir.path().join("sourcemaps/p1"))
            .map(|d| d.count())
            .unwrap_or(0)
            == 0,
        "nothing written"
    );
    // A read token cannot upload; the server still serves.
    assert_eq!(
        upload(&server, &shop.api_token, "release=1&url=~/a.js", &good).0,
        403
    );
    assert_eq!(
        upload(&server, &token, "release=1&url=~/a.js", &good).0,
        201
    );
    // Another project's token never reaches this project's uploads.
    let other = create_project(dir.path(), "other", &[]);
    let other_token = ingest_admin_token(dir.path(), other.id);
    let id = listed(&server, &token)["sourcemaps"][0]["id"]
        .as_i64()
        .unwrap();
    let resp = agent()
        .delete(server.url(&format!("/api/v1/sourcemaps/{id}")))
        .header("authorization", &format!("Bearer {other_token}"))
        .call()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 404);
    assert_eq!(listed(&server, &other_token)["totals"]["bundles"], 0);
    // A crash right after: the upload is there after the restart.
    let mut server = server;
    server.kill9();
    let server = Server::start(dir.path());
    assert_eq!(listed(&server, &token)["totals"]["bundles"], 1);
}

/// The same TypeError in Chrome, Firefox and Safari, from three pages and two call sites
/// whose line numbers differ, is one group; another error is another; a custom fingerprint
/// regroups.
#[test]
fn grouping_holds_across_pages_lines_and_engines() {
    let dir = tempfile::tempdir().unwrap();
    let shop = create_project(dir.path(), "shop", &[]);
    let server = Server::start(dir.path());
    let app = "https://shop.example.com/assets/cart.3f9a1c.js";
    let chrome = format!(
        "TypeError: Cannot read properties of undefined (reading 'sku')\n    at addLine ({app}:14:22)\n    at HTMLButtonElement.onClick ({app}:40:7)"
    );
    let chrome_other_lines = format!(
        "TypeError: Cannot read properties of undefined (reading 'sku')\n    at addLine ({app}:15:9)\n    at HTMLButtonElement.onClick ({app}:52:7)"
    );
    let firefox = format!("addLine@{app}:14:22\nonClick/<@{app}:40:7\n");
    let safari = format!("addLine@{app}:14:23\n[native code]\nonClick@{app}:40:8");
    let cases = [
        (
            "g-chrome",
            "https://shop.example.com/cart",
            chrome.as_str(),
            "Cannot read properties of undefined (reading 'sku')",
        ),
        (
            "g-lines",
            "https://shop.example.com/checkout",
            chrome_other_lines.as_str(),
            "Cannot read properties of undefined (reading 'sku')",
        ),
        (
            "g-firefox",
            "https://shop.example.com/products/7",
            firefox.as_str(),
            "line.variant is undefined",
        ),
        (
            "g-safari",
            "https://shop.example.com/cart",
            safari.as_str(),
            "undefined is not an object (evaluating 'line.variant.sku')",
        ),
    ];
    for (session, page, stack, message) in cases {
        let error = json!({"error_type": "TypeError", "message": message, "stack": stack});
        assert_eq!(
            server
                .ingest(&shop.public_key, &error_batch(session, "1.0", page, error))
                .0,
            202
        );
    }
    let fingerprints: Vec<String> = cases
        .iter()
        .map(|(session, ..)| {
            stored_error(&server, &shop.api_token, session)["fingerprint"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert!(
        fingerprints.iter().all(|f| f == &fingerprints[0]),
        "{fingerprints:?}"
    );

    let different = json!({"error_type": "TypeError", "message": "x", "stack": format!("removeLine@{app}:30:1")});
    assert_eq!(
        server
            .ingest(
                &shop.public_key,
                &error_batch("g-other", "1.0", "https://shop.example.com/", different)
            )
            .0,
        202
    );
    let other = stored_error(&server, &shop.api_token, "g-other");
    assert_ne!(other["fingerprint"], fingerprints[0]);

    let custom = json!({"error_type": "TypeError", "message": "x", "stack": chrome, "fingerprint": ["cart-sku"]});
    assert_eq!(
        server
            .ingest(
                &shop.public_key,
                &error_batch("g-custom", "1.0", "https://shop.example.com/", custom)
            )
            .0,
        202
    );
    let custom = stored_error(&server, &shop.api_token, "g-custom");
    assert_ne!(custom["fingerprint"], fingerprints[0]);
    let grouping: Value = serde_json::from_str(custom["grouping"].as_str().unwrap()).unwrap();
    assert_eq!(grouping["method"], "custom");
    assert_eq!(grouping["custom"], json!(["cart-sku"]));

    // Grouped, the four are one row of the query API.
    let (status, answer) = server.query(
        &shop.api_token,
        &json!({"metric": "errors", "group_by": ["fingerprint"], "from": 0, "to": now_ms() + 60_000}),
    );
    assert_eq!(status, 200, "{answer}");
    let biggest = &answer["rows"][0];
    assert_eq!(biggest, &json!([fingerprints[0], 4]), "{answer}");
}

/// A site for the fetcher to fetch from: the bundle with its `sourceMappingURL`, a script
/// that names no map, one whose map is too large, and one that redirects to another
/// origin. Counts the requests it gets.
struct Site {
    origin: String,
    requests: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

fn site() -> Site {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let requests = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = requests.clone();
    let map = cart_map(None);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut line = String::new();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            reader.read_line(&mut line).unwrap_or_default();
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).unwrap_or(0) <= 2 {
                    break;
                }
            }
            let path = line.split(' ').nth(1).unwrap_or("/").to_owned();
            let (status, extra, body): (&str, String, Vec<u8>) = match path.as_str() {
                "/static/app.js" => (
                    "200 OK",
                    String::new(),
                    format!("{MINIFIED}\n//# sourceMappingURL=app.js.map\n").into_bytes(),
                ),
                "/static/app.js.map" => ("200 OK", String::new(), map.clone()),
                "/static/nomap.js" => ("200 OK", String::new(), MINIFIED.as_bytes().to_vec()),
                "/static/big.js" => (
                    "200 OK",
                    String::new(),
                    format!("{MINIFIED}\n//# sourceMappingURL=/static/big.js.map\n").into_bytes(),
                ),
                "/static/big.js.map" => ("200 OK", String::new(), vec![b' '; 300_000]),
                "/static/redirect.js" => (
                    "302 Found",
                    format!("Location: http://localhost:{port}/static/app.js\r\n"),
                    Vec::new(),
                ),
                _ => ("404 Not Found", String::new(), Vec::new()),
            };
            let head = format!(
                "HTTP/1.1 {status}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        }
    });
    Site {
        origin: format!("http://127.0.0.1:{port}"),
        requests,
    }
}

fn put_settings(server: &Server, token: &str, settings: Value) {
    let mut resp = agent()
        .put(server.url("/api/v1/errors/settings"))
        .header("authorization", &format!("Bearer {token}"))
        .header("content-type", "application/json")
        .send(settings.to_string().as_bytes())
        .unwrap();
    assert_eq!(
        resp.status().as_u16(),
        200,
        "{}",
        resp.body_mut().read_to_string().unwrap()
    );
}

/// Sends the error with its innermost frame in `script` until that frame's outcome is no
/// longer "being fetched"; the first frame as stored then.
fn frame_once_fetched(server: &Server, key: &str, token: &str, page: &str, script: &str) -> Value {
    let mut last = Value::Null;
    static SESSIONS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    for _ in 0..100 {
        let session = format!(
            "fetch-{}",
            SESSIONS.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        );
        let error =
            json!({"error_type": "TypeError", "message": "m", "frames": chrome_frames(script)});
        assert_eq!(
            server
                .ingest(key, &error_batch(&session, "9.9", page, error))
                .0,
            202
        );
        last = frames(&stored_error(server, token, &session))[0].clone();
        if last["unmapped"]["code"] != "fetch_pending" {
            return last;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("still being fetched: {last}");
}

#[test]
fn fetching_pages_own_maps_is_off_by_default_and_refuses_private_addresses() {
    let site = site();
    let dir = tempfile::tempdir().unwrap();
    let shop = create_project(dir.path(), "shop", &[&site.origin]);
    let server = Server::start(dir.path());
    let token = ingest_admin_token(dir.path(), shop.id);
    let page = format!("{}/cart", site.origin);
    let script = format!("{}/static/app.js", site.origin);

    let error =
        json!({"error_type": "TypeError", "message": "m", "frames": chrome_frames(&script)});
    assert_eq!(
        server
            .ingest(&shop.public_key, &error_batch("off", "9.9", &page, error))
            .0,
        202
    );
    let stored = stored_error(&server, &shop.api_token, "off");
    assert_eq!(
        frames(&stored)[0]["unmapped"]["code"],
        "no_maps_for_release"
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(
        site.requests.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "nothing fetched when off"
    );

    put_settings(&server, &token, json!({"fetch_sourcemaps": true}));
    std::thread::sleep(std::time::Duration::from_millis(5_100)); // intake reads settings every 5 s
    let frame = frame_once_fetched(&server, &shop.public_key, &shop.api_token, &page, &script);
    assert_eq!(frame["unmapped"]["code"], "fetch_failed", "{frame}");
    let reason = frame["unmapped"]["reason"].as_str().unwrap();
    assert!(reason.contains("127.0.0.1, a private address"), "{reason}");
    assert_eq!(
        site.requests.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the private address was never connected to"
    );
}

#[test]
fn a_pages_own_map_is_fetched_within_its_bounds() {
    let site = site();
    let dir = tempfile::tempdir().unwrap();
    let shop = create_project(dir.path(), "shop", &[&site.origin]);
    let server = Server::start_with_config(
        dir.path(),
        "sourcemap_fetch_private_addresses = true\nsourcemap_fetch_max_bytes = 100000\n",
    );
    let token = ingest_admin_token(dir.path(), shop.id);
    put_settings(&server, &token, json!({"fetch_sourcemaps": true}));
    let page = format!("{}/cart", site.origin);
    let key = &shop.public_key;
    let read = &shop.api_token;

    let frame = frame_once_fetched(
        &server,
        key,
        read,
        &page,
        &format!("{}/static/app.js?v=3", site.origin),
    );
    assert_eq!(frame["mapped"]["file"], "src/cart.ts", "{frame}");
    assert_eq!(frame["mapped"]["line"], 2);
    assert_eq!(frame["mapped"]["function"], "addLine");

    for (script, why) in [
        ("/static/nomap.js", "names no source map"),
        ("/static/big.js", "is over 100000 bytes"),
        (
            "/static/redirect.js",
            "is not on one of the project's allowed origins",
        ),
        ("/static/missing.js", "answered 404"),
    ] {
        let frame = frame_once_fetched(
            &server,
            key,
            read,
            &page,
            &format!("{}{script}", site.origin),
        );
        assert_eq!(
            frame["unmapped"]["code"], "fetch_failed",
            "{script}: {frame}"
        );
        let reason = frame["unmapped"]["reason"].as_str().unwrap();
        assert!(reason.contains(why), "{script}: {reason}");
    }
    let elsewhere = frame_once_fetched(
        &server,
        key,
        read,
        &page,
        "https://cdn.other.test/static/app.js",
    );
    assert!(
        elsewhere["unmapped"]["reason"]
            .as_str()
            .unwrap()
            .contains("not served from one of the project's allowed origins"),
        "{elsewhere}"
    );
}
