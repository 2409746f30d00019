//! The daemon: wires config, engine and sinks together; `run` drives it on a tokio runtime.

use crate::config::{self, Config};
use crate::event::{Event, EventKind, Stamped};
use crate::hooks::{self, Hooks};
use crate::metrics::{ExportError, Exporter};
use crate::monitor::Monitor;
use crate::probe;
use crate::service::Service;
use crate::sink::events::EventLog;
use crate::sink::status::DaemonInfo;
use crate::state::journal::{self, Store};
use crate::timefmt::rfc3339;
use crate::watch::{Wake, Watcher};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

mod run;
mod save;
mod sweep;

pub use run::run;

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
    State(#[from] journal::StoreError),
    #[error(transparent)]
    Export(#[from] ExportError),
}

/// Runtime faults the daemon survives; counted and shown in the status document.
#[derive(Debug, Default)]
struct Faults {
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
    /// `state.json` and its journal.
    store: Store,
    /// When the last snapshot failed, if the one since has not succeeded (see `save`).
    snapshot_failed: Option<std::time::Instant>,
    status_writer: crate::sink::status_writer::StatusWriter,
    last_save: std::time::Instant,
    /// A sweep being checked in slices between other wake-ups (`sweep_step`).
    sweeping: Option<sweep::Sliced>,
    /// sd_notify, watchdog and heartbeat: told by the working loop what it did.
    service: Service,
    /// Metrics: the HTTP endpoint's snapshot and the textfile.
    export: Exporter,
    hooks: Hooks,
    /// Deaths, log changes and deadlines between sweeps.
    pub watch: Watcher,
}

impl Daemon {
    pub fn start(cfg: Config, explicit: Option<PathBuf>) -> Result<Daemon, DaemonError> {
        let dir = &cfg.daemon.state_dir;
        std::fs::create_dir_all(dir).map_err(|source| DaemonError::StateDir { path: dir.clone(), source })?;
        crate::state::persist::remove_stale_temp_files(dir);
        let (store, mut saved) = Store::open(dir)?;
        let last_seq = saved.as_ref().map_or(0, |s| s.last_seq);
        let unlogged = saved.as_mut().map(|s| std::mem::take(&mut s.unlogged)).unwrap_or_default();
        let events = EventLog::recover(&cfg.daemon.event_log, last_seq, unlogged);
        let hooks = Hooks::new(
            saved.as_mut().map(|s| std::mem::take(&mut s.hooks)).unwrap_or_default(),
            cfg.daemon.hook_concurrency,
        );
        let monitor = Monitor::new(probe::boot_id(), saved);
        let started_at = SystemTime::now();
        let service = Service::new(&cfg.daemon, started_at);
        let export = Exporter::new(&cfg.daemon)?;
        let watch = Watcher::new(cfg.daemon.sweep_interval);
        Ok(Daemon {
            cfg,
            explicit,
            monitor,
            events,
            started_at,
            faults: Faults::default(),
            store,
            snapshot_failed: None,
            status_writer: Default::default(),
            last_save: std::time::Instant::now(),
            sweeping: None,
            service,
            export,
            hooks,
            watch,
        })
    }

    /// What the watchers reported between sweeps: only the workers concerned are looked at,
    /// and the status file follows at most every `watch::STATUS_EVERY` (a burst of changes
    /// costs one write; the event log and state.json get every change at once).
    pub fn on_wake(&mut self, wake: Wake) -> Vec<Stamped> {
        let now = SystemTime::now();
        let events = match wake {
            Wake::All => return self.sweep(),
            Wake::Status => {
                if let Some(doc) = self.write_status(now) {
                    self.export.status_written(doc);
                }
                return Vec::new();
            }
            Wake::Workers(ids) => self.watch.check(&mut self.monitor, &self.cfg, &ids, now),
        };
        let stamped = self.record(events, now);
        if !stamped.is_empty() && self.watch.status_now() {
            if let Some(doc) = self.write_status(now) {
                self.export.status_written(doc);
            }
        }
        stamped
    }

    /// Hook outcomes become `hook` events; due reminders become runs.
    pub fn on_hooks(&mut self, wake: hooks::Wake) {
        let now = SystemTime::now();
        let monitor = &self.monitor;
        let events =
            self.hooks.settle(wake, &self.cfg.hooks, now, &|id| monitor.workers.get(id).map(hooks::WorkerCtx::of));
        if events.is_empty() {
            self.save(&[]);
            self.hooks.dispatch(&self.cfg.hooks);
        } else {
            self.record(events, now);
        }
    }

    fn daemon_info(&self, now: SystemTime) -> DaemonInfo {
        let mut faults = BTreeMap::new();
        faults.insert("event_log".to_string(), self.events.faults);
        faults.insert("status_file".to_string(), self.status_writer.faults());
        faults.insert("state_file".to_string(), self.faults.state_file);
        for (name, n) in self.service.faults() {
            faults.insert(name.to_string(), n);
        }
        faults.insert("hooks".to_string(), self.hooks.faults);
        let unreadable = self.monitor.workers.values().filter(|w| w.view.error.is_some()).count();
        faults.insert("workers_with_errors".to_string(), unreadable as u64);
        faults.insert("metrics".to_string(), self.export.faults);
        DaemonInfo {
            pid: std::process::id(),
            version: VERSION.to_string(),
            started_at: rfc3339(self.started_at),
            updated_at: rfc3339(now),
            config: self.cfg.describe_source(),
            faults,
            listen: self.export.bound().map(|a| a.to_string()),
        }
    }

    /// Hands the status document to its writer thread, and to `GET /status` when served;
    /// returns the document as one buffer in that case.
    fn write_status(&mut self, now: SystemTime) -> Option<bytes::Bytes> {
        // Changes that came without an event (a new identity) are saved here at the latest.
        self.save(&[]);
        self.watch.status_written();
        let doc = self.monitor.status_parts(&self.daemon_info(now));
        let joined = self.export.serves_status().then(|| bytes::Bytes::from(doc.to_bytes()));
        self.status_writer.write(self.cfg.daemon.status_file.clone(), doc);
        joined
    }

    /// What follows every sweep: the status file, then the metrics (same document).
    fn finish_sweep(&mut self, now: SystemTime, took: Duration) {
        let status = self.write_status(now);
        self.export.after_sweep(&self.cfg, self.monitor.workers.values(), status, took, now);
    }

    /// SIGHUP: a valid new config replaces the old one (workers keep their state); an
    /// invalid one is rejected and the old one keeps running.
    pub fn reload(&mut self) -> Vec<Stamped> {
        self.service.reloading();
        let now = SystemTime::now();
        let event = match config::load(self.explicit.as_deref()) {
            Ok(cfg) => {
                tracing::info!(config = %cfg.describe_source(), "configuration reloaded");
                if cfg.daemon.event_log != self.cfg.daemon.event_log {
                    self.events.move_to(&cfg.daemon.event_log);
                }
                self.service.configure(&cfg.daemon);
                self.export.reload(&cfg.daemon);
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
        self.service.reloaded(self.monitor.counts());
        stamped
    }

    /// When the loop must wake for a watchdog ping or a heartbeat (`service_tick`).
    pub fn service_due(&self) -> std::time::Instant {
        self.service.next_due()
    }

    pub fn service_tick(&mut self) {
        self.service.tick();
    }

    /// SIGTERM/SIGINT: systemd and heartbeat readers hear it first; running hooks get their
    /// grace (the runs that ended are recorded, the rest stay pending); then the event log.
    pub async fn stop(&mut self, reason: &str) {
        self.service.stopping();
        let ended = self.hooks.shutdown().await;
        let now = SystemTime::now();
        self.record(ended, now);
        self.record(vec![Event::daemon(EventKind::DaemonStopping { reason: reason.to_string() })], now);
        self.save_snapshot();
        self.write_status(now);
        self.status_writer.finish();
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Events queued while the event log could not be written reach it at the next sweep,
    /// even when that sweep itself has nothing to say.
    #[test]
    fn queued_events_are_written_by_a_quiet_sweep() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("blocker");
        std::fs::write(&blocker, "").unwrap();
        let log = dir.path().join("w.log");
        std::fs::write(&log, "x").unwrap();
        let text = format!(
            "[daemon]\nstate_dir = {:?}\nstatus_file = {:?}\nevent_log = {:?}\n[[worker]]\nid = \"w\"\nlog = {:?}\n",
            dir.path().join("state"),
            dir.path().join("status.json"),
            blocker.join("events.ndjson"),
            log,
        );
        let cfg = config::load_str(&text, None).unwrap();
        let mut d = Daemon::start(cfg, None).unwrap();
        assert_eq!(d.first_sweep().len(), 2, "daemon_started and worker_added, stamped but queued");
        assert!(d.events.faults > 0);
        std::fs::remove_file(&blocker).unwrap();
        assert!(d.sweep().is_empty(), "nothing changed");
        let written = std::fs::read_to_string(blocker.join("events.ndjson")).unwrap_or_default();
        assert_eq!(written.lines().count(), 2, "{written:?}");
    }
}
