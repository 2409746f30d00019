//! Where the metrics go after each sweep: the HTTP endpoint's snapshot and the
//! node_exporter textfile. Owned by the daemon; the working loop is the only writer.

use super::{Metrics, WorkerSample};
use crate::config::{Config, DaemonSettings};
use crate::event::Stamped;
use crate::http::{self, Snapshot};
use crate::monitor::Worker;
use bytes::Bytes;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::watch;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{path}: cannot read the auth token: {source}")]
    TokenRead { path: PathBuf, source: std::io::Error },
    #[error("{path}: the auth token file is empty")]
    TokenEmpty { path: PathBuf },
    #[error("listen = \"{addr}\": cannot bind: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
}

pub struct Exporter {
    pub metrics: Metrics,
    token: Option<Arc<str>>,
    /// The `listen` the server was started with, and the address it got (port 0 resolved).
    listen: Option<(SocketAddr, SocketAddr)>,
    latest: Option<watch::Sender<Option<Arc<Snapshot>>>>,
    /// Textfile writes that failed, and token files that could not be re-read on reload.
    pub faults: u64,
}

impl Exporter {
    pub fn new(d: &DaemonSettings) -> Result<Exporter, ExportError> {
        let token = d.auth_token_file.as_deref().map(read_token).transpose()?;
        Ok(Exporter { metrics: Metrics::new(), token, listen: None, latest: None, faults: 0 })
    }

    /// Binds `listen` (when set) and serves it on the current tokio runtime.
    pub fn serve(&mut self, d: &DaemonSettings) -> Result<(), ExportError> {
        let Some(addr) = d.listen else {
            return Ok(());
        };
        let bind = |addr| -> std::io::Result<(tokio::net::TcpListener, SocketAddr)> {
            let std = std::net::TcpListener::bind(addr)?;
            std.set_nonblocking(true)?;
            let l = tokio::net::TcpListener::from_std(std)?;
            let local = l.local_addr()?;
            Ok((l, local))
        };
        let (listener, local) = bind(addr).map_err(|source| ExportError::Bind { addr, source })?;
        if !local.ip().is_loopback() && self.token.is_none() {
            tracing::warn!(%local, "listening beyond loopback without auth_token_file: /metrics and /status are open to anyone who can reach this address");
        }
        tracing::info!(%local, "http: serving /metrics /status /healthz");
        let (tx, rx) = watch::channel(None);
        tokio::spawn(http::serve(listener, rx));
        self.listen = Some((addr, local));
        self.latest = Some(tx);
        Ok(())
    }

    /// The address the HTTP endpoint is bound to (the real port when `listen` used port 0).
    pub fn bound(&self) -> Option<SocketAddr> {
        self.listen.map(|(_, local)| local)
    }

    pub fn count(&self, stamped: &[Stamped]) {
        self.metrics.count(stamped);
    }

    /// After each sweep: refreshes the metrics, writes the textfile and publishes the
    /// snapshot. `status` is the status document exactly as written to the status file.
    pub fn after_sweep<'a>(
        &mut self,
        cfg: &Config,
        workers: impl IntoIterator<Item = &'a Worker>,
        status: Option<Bytes>,
        took: Duration,
        now: SystemTime,
    ) {
        let d = &cfg.daemon;
        self.metrics.sweep_done(took, now, d.sweep_interval);
        // Nobody reads the per-worker series: skip rebuilding them (10,000 workers cost).
        if d.textfile.is_none() && self.latest.is_none() {
            return;
        }
        self.metrics.refresh(workers.into_iter().map(WorkerSample::of), &cfg.hooks);
        let text = self.metrics.text();
        if let Some(path) = &d.textfile {
            // Readable by node_exporter, which usually runs as another user.
            if let Err(e) = crate::sink::atomic::write(path, text.as_bytes(), 0o644, false) {
                self.faults += 1;
                tracing::error!(path = %path.display(), error = %e, "cannot write the metrics textfile");
            }
        }
        if let Some(tx) = &self.latest {
            tx.send_replace(Some(Arc::new(Snapshot {
                text: Bytes::from(text),
                status: status.unwrap_or_default(),
                swept: Instant::now(),
                interval: d.sweep_interval,
                token: self.token.clone(),
            })));
        }
    }

    /// A status document written between sweeps: `GET /status` serves it too, so it stays
    /// byte for byte the status file (the metrics follow at the next sweep).
    pub fn status_written(&self, status: Bytes) {
        if let Some(tx) = &self.latest {
            tx.send_modify(|snap| {
                if let Some(s) = snap {
                    *snap = Some(Arc::new(Snapshot { status, ..Snapshot::clone(s) }));
                }
            });
        }
    }

    /// Whether `GET /status` is served (the document is then also needed as one buffer).
    pub fn serves_status(&self) -> bool {
        self.latest.is_some()
    }

    /// A reloaded config: the token file is read again (a bad one keeps the old token);
    /// `listen` itself only changes with a restart.
    pub fn reload(&mut self, d: &DaemonSettings) {
        match d.auth_token_file.as_deref().map(read_token).transpose() {
            Ok(token) => self.token = token,
            Err(e) => {
                self.faults += 1;
                tracing::error!(error = %e, "keeping the previous auth token");
            }
        }
        let started = self.listen.map(|(addr, _)| addr);
        if started != d.listen {
            tracing::warn!(
                running = ?started,
                configured = ?d.listen,
                "daemon.listen changed: the HTTP endpoint changes at the next restart"
            );
        }
    }
}

fn read_token(path: &Path) -> Result<Arc<str>, ExportError> {
    let text = std::fs::read_to_string(path).map_err(|source| ExportError::TokenRead { path: path.into(), source })?;
    let token = text.trim();
    if token.is_empty() {
        return Err(ExportError::TokenEmpty { path: path.into() });
    }
    Ok(Arc::from(token))
}
