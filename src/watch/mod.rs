//! What the daemon waits on between sweeps: process deaths (pidfds), changes to the logs
//! whose recovery matters (inotify) and each worker's next possible transition (a deadline
//! queue). Each source names the workers to look at again; the sweep stays as a safety net.
//!
//! Cost is bounded by deadlines, not by writes: an alive worker's log is not watched (its
//! next deadline, `last_output + quiet_after`, confirms it with one stat), only quiet,
//! stalled and log-less workers have inotify watches, and every batch of wake-ups is
//! coalesced into one look per worker.

mod deadlines;
mod inotify;
mod pidfd;
mod sync;

pub use deadlines::Deadlines;

use crate::config::Config;
use crate::event::Event;
use crate::model::WorkerId;
use crate::monitor::Monitor;
use inotify::{Changed, Files};
use pidfd::Pidfds;
use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};
use sync::SyncKey;

/// The status file is rewritten after event-driven changes at most this often (and after
/// every sweep): at 10,000 workers a write is a few hundred kilobytes of JSON.
pub const STATUS_EVERY: Duration = Duration::from_secs(1);

/// A content-mode worker that is quiet while its log keeps growing (a spinner, a progress
/// bar) is not watched: every write would wake the loop for nothing. It is looked at this
/// long after its last write instead, and watched again once the writes stop.
pub const CONTENT_SETTLE: Duration = Duration::from_secs(1);

/// A process is a zombie from its exit until its parent reaps it, usually within a
/// millisecond. Seen right after a pidfd fired, a zombie gets this long to be reaped (looked
/// at after 2, 4, 8 … ms) before it is reported: a normal death reads `pid_exited`, only a
/// zombie that nobody reaps reads `pid_zombie`.
pub const REAP_GRACE: Duration = Duration::from_millis(100);

/// Why the loop woke up.
#[derive(Debug)]
pub enum Wake {
    /// Look at these workers again.
    Workers(Vec<WorkerId>),
    /// Events may have been lost: look at everything.
    All,
    /// A status write held back by `STATUS_EVERY` is due.
    Status,
}

pub struct Watcher {
    pidfds: Option<Pidfds>,
    files: Option<Files>,
    deadlines: Deadlines,
    /// Workers to look at once more right away (a watch was just taken, a pidfd raced).
    again: Vec<WorkerId>,
    /// Workers whose pidfd just fired: pid, when, and looks so far (see `REAP_GRACE`).
    exited: HashMap<WorkerId, (i32, Instant, u32)>,
    synced: HashMap<WorkerId, SyncKey>,
    /// Workers whose pidfd could not be opened for lack of descriptors (retried at sweeps).
    pid_retry: std::collections::HashSet<WorkerId>,
    fd_warned: bool,
    status_written: Option<Instant>,
    status_pending: Option<tokio::time::Instant>,
}

impl Watcher {
    /// Sets up what this system offers; anything unavailable is said once and left to the
    /// sweep. Outside a tokio runtime nothing is registered (sweep only).
    pub fn new(sweep_interval: Duration) -> Watcher {
        let every = humantime::format_duration(sweep_interval);
        let in_runtime = tokio::runtime::Handle::try_current().is_ok();
        let pidfds = in_runtime
            .then(|| {
                Pidfds::new()
                    .inspect_err(|e| {
                        tracing::warn!(
                            "pidfds unavailable ({e}): process exits are noticed at the sweep, every {every}"
                        )
                    })
                    .ok()
            })
            .flatten();
        let files = in_runtime
            .then(|| {
                Files::new()
                    .inspect_err(|e| {
                        tracing::warn!("inotify unavailable ({e}): log changes are noticed at the sweep, every {every}")
                    })
                    .ok()
            })
            .flatten();
        Watcher {
            pidfds,
            files,
            deadlines: Deadlines::default(),
            again: Vec::new(),
            exited: HashMap::new(),
            synced: HashMap::new(),
            pid_retry: Default::default(),
            fd_warned: false,
            status_written: None,
            status_pending: None,
        }
    }

    /// Waits for the next reason to look at workers. Cancel-safe, so it can be one branch
    /// of the daemon's `select!`.
    pub async fn wait(&mut self) -> Wake {
        if !self.again.is_empty() {
            return Wake::Workers(std::mem::take(&mut self.again));
        }
        let deadline = self.deadlines.next().map(to_instant);
        let status = self.status_pending;
        let (has_pidfds, has_files) = (self.pidfds.is_some(), self.files.is_some());
        let Watcher { pidfds, files, deadlines, status_pending, exited, .. } = self;
        tokio::select! {
            ids = async { pidfds.as_mut().expect("guarded").deaths().await }, if has_pidfds => {
                let p = pidfds.as_ref().expect("guarded");
                for id in &ids {
                    if let Some(pid) = p.spent_pid(id) {
                        exited.insert(id.clone(), (pid, Instant::now(), 0));
                    }
                }
                Wake::Workers(ids)
            }
            c = async { files.as_mut().expect("guarded").changes().await }, if has_files => match c {
                Changed::Workers(ids) => Wake::Workers(ids),
                Changed::Overflow => {
                    tracing::warn!("inotify queue overflowed: looking at every worker");
                    Wake::All
                }
            },
            _ = sleep_until(deadline), if deadline.is_some() => {
                let mut due = Vec::new();
                deadlines.pop_due(SystemTime::now(), &mut due);
                Wake::Workers(due)
            }
            _ = sleep_until(status), if status.is_some() => {
                *status_pending = None;
                Wake::Status
            }
        }
    }

    /// Looks at `ids` again (each once) and re-arms what watches them.
    pub fn check(&mut self, monitor: &mut Monitor, cfg: &Config, ids: &[WorkerId], now: SystemTime) -> Vec<Event> {
        let mut events = Vec::new();
        for id in ids {
            if self.awaiting_reap(id) {
                continue;
            }
            events.extend(monitor.check_one(id.as_str(), cfg, now));
            // What woke us may have consumed a registration (a popped deadline, a spent
            // pidfd, a watch the kernel dropped): sync in full, whatever the key says.
            self.synced.remove(id);
            self.sync(monitor, id, cfg.daemon.sweep_interval, false);
        }
        events
    }

    /// Whether a status write is allowed now; if not, one is scheduled (`Wake::Status`).
    pub fn status_now(&mut self) -> bool {
        let now = Instant::now();
        match self.status_written {
            Some(t) if now < t + STATUS_EVERY => {
                self.status_pending.get_or_insert((t + STATUS_EVERY).into());
                false
            }
            _ => true,
        }
    }

    pub fn status_written(&mut self) {
        self.status_written = Some(Instant::now());
        self.status_pending = None;
    }

    /// Counts for diagnostics and tests: (pidfds armed, inotify watches, deadlines queued).
    pub fn sizes(&self) -> (usize, usize, usize) {
        (
            self.pidfds.as_ref().map_or(0, |p| p.len()),
            self.files.as_ref().map_or(0, |f| f.watch_count()),
            self.deadlines.len(),
        )
    }
}

/// A wall-clock deadline on the monotonic timer. A clock step is absorbed at the next
/// sweep, which recomputes every deadline.
fn to_instant(t: SystemTime) -> tokio::time::Instant {
    let now = tokio::time::Instant::now();
    match t.duration_since(SystemTime::now()) {
        Ok(d) => now + d,
        Err(_) => now,
    }
}

/// Registers an fd we own with tokio's reactor, for readability only.
fn register(fd: rustix::fd::OwnedFd) -> Result<tokio::io::unix::AsyncFd<rustix::fd::OwnedFd>, rustix::io::Errno> {
    use tokio::io::Interest;
    // SAFETY: the `AsyncFd` takes ownership of an open `OwnedFd`, whose raw fd cannot change
    // or be closed by anyone else for as long as it lives.
    unsafe { tokio::io::unix::AsyncFd::register_with_interest(fd, Interest::READABLE) }
        .map_err(|e| rustix::io::Errno::from_io_error(&e.into()).unwrap_or(rustix::io::Errno::IO))
}

async fn sleep_until(t: Option<tokio::time::Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}
