//! `vigil bench intake-floor`: a server that answers intake's route with what Vigil's own
//! server shares with every HTTP intake (the same connection loop, limits and routing) and
//! nothing of its processing: no parse, no rows, no memtable, no flush. With `--durable`
//! each body still goes through the write-ahead log's group commit (one write and one
//! fdatasync per group) before its `202`. `vigil bench ingest --addr` against it measures
//! the floor that Vigil's figures stand on, on the machine at hand (issue 9).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::mpsc;
use tokio::sync::oneshot;

/// Options of `vigil bench intake-floor`.
#[derive(clap::Args)]
pub struct FloorArgs {
    /// Address to listen on (port 0 picks a free one; the address is printed).
    #[arg(long, default_value = "127.0.0.1:7788")]
    listen: SocketAddr,
    /// Make each body durable in a write-ahead log in this folder before answering.
    #[arg(long)]
    durable: Option<PathBuf>,
}

/// A body on its way to the log, and who waits for its commit.
type Append = (axum::body::Bytes, oneshot::Sender<bool>);

/// Groups stop growing at this many bodies, as the store's writer stops at its own bound.
const MAX_GROUP: usize = 1024;

pub fn run(args: FloorArgs) -> anyhow::Result<()> {
    let log = match &args.durable {
        Some(dir) => {
            let wal = vigil_store::wal::WalWriter::create(dir, 1)?;
            let (tx, rx) = mpsc::sync_channel::<Append>(4096);
            std::thread::Builder::new()
                .name("floor-writer".into())
                .spawn(move || commit_groups(wal, &rx))?;
            Some(tx)
        }
        None => None,
    };
    let app = axum::Router::new()
        .route(
            "/api/v1/ingest",
            axum::routing::post(move |body: axum::body::Bytes| accept(log.clone(), body)),
        )
        .route("/", axum::routing::get(|| async { "ok" }));
    // As `vigil serve` runs its request threads.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .on_thread_start(vigil_threads::lower_this_thread)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen).await?;
        println!("listening on {}", listener.local_addr()?);
        let limits = vigil_api::ServeLimits {
            max_connections_per_ip: usize::MAX,
            ..vigil_api::ServeLimits::default()
        };
        vigil_api::serve(listener, app, limits, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await;
        Ok(())
    })
}

/// `202` once the body is durable (or at once without a log); `503` when the log failed
/// or its queue is full (a send that waited for room would hold an async worker).
async fn accept(
    log: Option<mpsc::SyncSender<Append>>,
    body: axum::body::Bytes,
) -> (axum::http::StatusCode, &'static str) {
    use axum::http::StatusCode;
    if let Some(log) = log {
        let (done, committed) = oneshot::channel();
        if log.try_send((body, done)).is_err() || committed.await != Ok(true) {
            return (StatusCode::SERVICE_UNAVAILABLE, "{\"error\":\"log\"}");
        }
    }
    (StatusCode::ACCEPTED, "{\"accepted\":true}")
}

/// The store writer's group commit without the store: everything queued while the last
/// fdatasync ran goes into the next write.
fn commit_groups(mut wal: vigil_store::wal::WalWriter, rx: &mpsc::Receiver<Append>) {
    let mut seq = 0u64;
    let mut waiting = Vec::with_capacity(MAX_GROUP);
    while let Ok(first) = rx.recv() {
        let mut next = Some(first);
        while let Some((body, done)) = next.take() {
            seq += 1;
            wal.push(seq, &body);
            waiting.push(done);
            if waiting.len() < MAX_GROUP {
                next = rx.try_recv().ok();
            }
        }
        let committed = wal.commit().is_ok();
        for done in waiting.drain(..) {
            let _ = done.send(committed);
        }
    }
}
