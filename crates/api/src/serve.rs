//! The accept loop of `vigil serve`. axum's own `serve` sets no header-read timeout and no
//! connection limit, so a client that opens sockets and sends nothing (or one byte a
//! second) could hold them for ever and run the process out of file descriptors. Here every
//! connection holds a slot of a bounded pool (and of a smaller per-address pool), and must
//! send each request's headers within a deadline; the same deadline closes idle keep-alive
//! connections.

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::pin::pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// Connection limits of the server.
#[derive(Debug, Clone)]
pub struct ServeLimits {
    /// Open connections at most; more are closed as soon as they are accepted.
    pub max_connections: usize,
    /// Open connections from one client address at most.
    pub max_connections_per_ip: usize,
    /// Time a client has to send a request's headers, counted from when the connection
    /// is ready for one (so it is also the idle keep-alive timeout).
    pub header_read_timeout: Duration,
}

impl Default for ServeLimits {
    fn default() -> Self {
        Self {
            max_connections: default_max_connections(),
            max_connections_per_ip: 512,
            header_read_timeout: Duration::from_secs(10),
        }
    }
}

/// Below the process's open-file limit, leaving room for the data folder's files, the log
/// and the metadata database.
fn default_max_connections() -> usize {
    let soft_limit = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3))
                .and_then(|v| v.parse::<usize>().ok())
        })
        .unwrap_or(1024);
    soft_limit.saturating_sub(128).clamp(16, 16_384)
}

/// Connections open per client address.
struct PerAddress {
    open: Mutex<HashMap<IpAddr, usize>>,
    limit: usize,
}

/// One connection's place in [`PerAddress`], given back when the connection ends.
struct AddressSlot(Arc<PerAddress>, IpAddr);

impl PerAddress {
    fn take(self: &Arc<Self>, ip: IpAddr) -> Option<AddressSlot> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let n = open.entry(ip).or_insert(0);
        if *n >= self.limit {
            return None;
        }
        *n += 1;
        Some(AddressSlot(self.clone(), ip))
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut open = self.0.open.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = open.get_mut(&self.1) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.1);
            }
        }
    }
}

/// Serves `app` on `listener` until `shutdown` completes, then lets open requests finish
/// (for up to 10 s).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ServeLimits,
    shutdown: impl Future<Output = ()>,
) {
    let total = Arc::new(Semaphore::new(limits.max_connections));
    let per_address = Arc::new(PerAddress {
        open: Mutex::new(HashMap::new()),
        limit: limits.max_connections_per_ip,
    });
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut shutdown = pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors, most likely: let connections end first.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Over a limit the socket is closed at once: holding it would spend the very
        // resource the limit protects.
        let Ok(slot) = total.clone().try_acquire_owned() else {
            continue;
        };
        let Some(address_slot) = per_address.take(peer.ip()) else {
            continue;
        };
        let app = app.clone();
        let mut stop = stop_rx.clone();
        let header_timeout = limits.header_read_timeout;
        tokio::spawn(async move {
            let _slots = (slot, address_slot);
            let _ = stream.set_nodelay(true);
            let service = app.map_request(move |mut req: axum::http::Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                req
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout);
            let conn =
                builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
            let mut conn = pin!(conn);
            let stopping = tokio::select! {
                _ = conn.as_mut() => false,
                // The guard `wait_for` returns is not Send: keep only whether it fired.
                _ = stop.wait_for(|stopping| *stopping) => true,
            };
            if stopping {
                conn.as_mut().graceful_shutdown();
                let _ = conn.as_mut().await;
            }
        });
    }
    let _ = stop_tx.send(true);
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(Duration::from_secs(10), total.acquire_many(all)).await;
}
