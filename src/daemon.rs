//! The daemon: wires config, engine and sinks together on a tokio runtime, and handles
//! signals. The loop that does the work is the only one that reports progress.

use crate::config::{self, Config};
use crate::event::{Event, EventKind, Stamped};
use crate::monitor::Monitor;
use crate::probe;
use crate::sink::events::EventLog;
use crate::sink::status::{DaemonInfo, StatusDoc};
use crate::state::persist;
use crate::timefmt::rfc3339;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::SystemTime;
use tokio::signal::unix::{SignalKind, signal};

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
    #[error("{path}: cannot create the state directory: {source}")]
    StateDir { path: PathBuf, source: std::io::Error },
    #[error("cannot read saved state: {0}")]
    State(#[from] persist::LoadError),
}

/// Runtime faults the daemon survives; counted and shown in the status document.
#[derive(Debug, Default)]
struct Faults {
    status_file: u64,
    state_file: u64,
}

pub struct Daemon {
    cfg: Config,
    /// The `-c` path given on the command line, for reloads (the lookup runs again).
    explicit: Option<PathBuf>,
    monitor: Monitor,
    events: EventLog,
    started_at: SystemTime,
    faults: Faults,
    last_save: std::time::Instant,
}

const SEQ_SAVE_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

impl Daemon {
    pub fn start(cfg: Config, explicit: Option<PathBuf>) -> Result<Daemon, DaemonError> {
        let dir = &cfg.daemon.state_dir;
        std::fs::create_dir_all(dir).map_err(|source| DaemonError::StateDir { path: dir.clone(), source })?;
        let saved = persist::load(&state_path(&cfg))?;
        let last_seq = saved.as_ref().map_or(0, |s| s.last_seq);
        let events = EventLog::open(&cfg.daemon.event_log, last_seq);
        let monitor = Monitor::new(probe::boot_id(), saved);
        Ok(Daemon {
            cfg,
            explicit,
            monitor,
            events,
            started_at: SystemTime::now(),
            faults: Faults::default(),
            last_save: std::time::Instant::now(),
        })
    }

    /// One full pass: discover, probe, classify, record. Returns what was recorded.
    pub fn sweep(&mut self) -> Vec<Stamped> {
        let now = SystemTime::now();
        let events = self.monitor.sweep(&self.cfg, now);
        let stamped = self.record(events, now);
        self.write_status(now);
        stamped
    }

    /// The first sweep, announced by `daemon_started` with the number of workers found.
    pub fn first_sweep(&mut self) -> Vec<Stamped> {
        let now = SystemTime::now();
        let mut events = self.monitor.sweep(&self.cfg, now);
        let workers = self.monitor.workers.len();
        events.insert(
            0,
            Event::daemon(EventKind::DaemonStarted { pid: std::process::id(), version: VERSION.into(), workers }),
        );
        let stamped = self.record(events, now);
        self.write_status(now);
        stamped
    }

    pub fn record(&mut self, events: Vec<Event>, now: SystemTime) -> Vec<Stamped> {
        if events.is_empty() {
            return Vec::new();
        }
        let stamped = self.events.record(events, now);
        // State is saved when it changed. The seq it also carries is recovered from the event
        // log's tail on start, so seq-only progress (liveness events) is saved at most every
        // SEQ_SAVE_EVERY, which bounds the cost at 10,000 workers; only a log rotated away and
        // a crash within that window could then reuse a seq.
        if self.monitor.take_dirty() || self.last_save.elapsed() >= SEQ_SAVE_EVERY {
            self.save_state();
        }
        stamped
    }

    fn save_state(&mut self) {
        self.last_save = std::time::Instant::now();
        let saved = self.monitor.saved(self.events.last_seq());
        if let Err(e) = persist::save(&state_path(&self.cfg), &saved) {
            self.faults.state_file += 1;
            tracing::error!(error = %e, "cannot save state.json");
        }
    }

    pub fn status(&self, now: SystemTime) -> StatusDoc {
        let mut faults = BTreeMap::new();
        faults.insert("event_log".to_string(), self.events.faults);
        faults.insert("status_file".to_string(), self.faults.status_file);
        faults.insert("state_file".to_string(), self.faults.state_file);
        let unreadable = self.monitor.workers.values().filter(|w| w.view.error.is_some()).count();
        faults.insert("workers_with_errors".to_string(), unreadable as u64);
        self.monitor.status(DaemonInfo {
            pid: std::process::id(),
            version: VERSION.to_string(),
            started_at: rfc3339(self.started_at),
            updated_at: rfc3339(now),
            config: self.cfg.describe_source(),
            faults,
        })
    }

    fn write_status(&mut self, now: SystemTime) {
        if self.monitor.take_dirty() {
            self.save_state();
        }
        let path = self.cfg.daemon.status_file.clone();
        if let Err(e) = self.status(now).write(&path) {
            self.faults.status_file += 1;
            tracing::error!(path = %path.display(), error = %e, "cannot write the status file");
        }
    }

    /// SIGHUP: a valid new config replaces the old one (workers keep their state); an
    /// invalid one is rejected and the old one keeps running.
    pub fn reload(&mut self) -> Vec<Stamped> {
        let now = SystemTime::now();
        let event = match config::load(self.explicit.as_deref()) {
            Ok(cfg) => {
                tracing::info!(config = %cfg.describe_source(), "configuration reloaded");
                if cfg.daemon.event_log != self.cfg.daemon.event_log {
                    self.events = EventLog::open(&cfg.daemon.event_log, self.events.last_seq());
                }
                self.cfg = cfg;
                EventKind::ConfigReloaded {}
            }
            Err(e) => {
                tracing::error!(error = %e, "new configuration rejected; keeping the old one");
                EventKind::ConfigRejected { error: e.to_string() }
            }
        };
        let mut stamped = self.record(vec![Event::daemon(event)], now);
        stamped.extend(self.sweep());
        stamped
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }
}

fn state_path(cfg: &Config) -> PathBuf {
    cfg.daemon.state_dir.join("state.json")
}

/// `pulsewatch run`: runs until SIGTERM or SIGINT.
pub fn run(cfg: Config, explicit: Option<PathBuf>) -> Result<(), DaemonError> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(DaemonError::Runtime)?;
    rt.block_on(run_loop(cfg, explicit))
}

async fn run_loop(cfg: Config, explicit: Option<PathBuf>) -> Result<(), DaemonError> {
    let mut term = signal(SignalKind::terminate()).map_err(DaemonError::Signals)?;
    let mut int = signal(SignalKind::interrupt()).map_err(DaemonError::Signals)?;
    let mut hup = signal(SignalKind::hangup()).map_err(DaemonError::Signals)?;
    let mut d = Daemon::start(cfg, explicit)?;
    tracing::info!(config = %d.cfg.describe_source(), state_dir = %d.cfg.daemon.state_dir.display(), "pulsewatch {VERSION} starting");
    // Registry entries take effect when written, not at the next sweep.
    let mut registry = crate::discover::watch::RegistryWatch::new(&d.cfg);
    d.first_sweep();
    tracing::info!(workers = d.monitor.workers.len(), "first sweep complete");
    let reason = loop {
        let next = tokio::time::Instant::now() + d.cfg.daemon.sweep_interval;
        tokio::select! {
            _ = tokio::time::sleep_until(next) => { d.sweep(); }
            _ = term.recv() => break "SIGTERM",
            _ = int.recv() => break "SIGINT",
            _ = hup.recv() => {
                d.reload();
                registry = crate::discover::watch::RegistryWatch::new(&d.cfg);
            }
            _ = registry.changed() => { d.sweep(); }
        }
    };
    tracing::info!(signal = reason, "stopping");
    let now = SystemTime::now();
    d.record(vec![Event::daemon(EventKind::DaemonStopping { reason: reason.to_string() })], now);
    d.save_state();
    d.write_status(now);
    Ok(())
}
