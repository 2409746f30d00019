//! The optional HTTP endpoint (`[daemon] listen`): /metrics, /status and /healthz, served
//! on the daemon's runtime from the snapshot the working loop publishes after each sweep.
//! Requests only read that snapshot, so no client, however slow, can hold up a sweep.

mod routes;

pub use routes::{Snapshot, respond};

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

/// Connections served at once; more are closed as soon as they are accepted. Prometheus
/// needs one per scraper, so this only bounds misbehaving clients.
pub const MAX_CONNECTIONS: usize = 64;
/// A client must send its request head within this time.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// No connection lives longer, however busy: keep-alive scrapers simply reconnect.
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(60);

pub type Latest = watch::Receiver<Option<Arc<Snapshot>>>;

/// Accepts connections until the runtime shuts down.
pub async fn serve(listener: TcpListener, latest: Latest) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning; the daemon goes on.
                tracing::warn!(error = %e, "http: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::debug!(%peer, "http: connection limit reached; closing");
            continue;
        };
        let latest = latest.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let snapshot = latest.borrow().clone();
                async move { Ok::<_, Infallible>(respond(&req, snapshot.as_deref(), Instant::now())) }
            });
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            if let Ok(Err(e)) = tokio::time::timeout(CONNECTION_LIFETIME, conn).await {
                tracing::debug!(%peer, error = %e, "http: connection ended");
            }
            drop(slot);
        });
    }
}
