//! Keeping each worker's registrations (pidfd, inotify watches, deadline) in line with what
//! the last look found, cheaply enough to run over every worker after each sweep.

use super::inotify::Want;
use super::pidfd::ArmError;
use super::{CONTENT_SETTLE, REAP_GRACE, Watcher};
use crate::config::Activity;
use crate::identity::ProcessObs;
use crate::model::{State, WorkerId};
use crate::monitor::{Monitor, Worker};
use crate::probe::{self, LogFacts};
use std::time::{Duration, SystemTime};

/// What the registrations of a worker depend on. A sweep re-syncs only workers whose key
/// changed, so a sweep over 10,000 unchanged workers costs one map lookup each.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct SyncKey {
    state: State,
    next: Option<SystemTime>,
    process: ProcessObs,
    ino: Option<u64>,
}

impl SyncKey {
    fn of(w: &Worker) -> SyncKey {
        let ino = match w.view.log {
            LogFacts::Present { ino, .. } => Some(ino),
            _ => None,
        };
        SyncKey { state: w.tracker.state, next: w.next_check(), process: w.view.process, ino }
    }
}

impl Watcher {
    /// Whether `id`'s process exited moments ago and is still an unreaped zombie within
    /// `REAP_GRACE`; if so it is looked at again shortly instead of now.
    pub(super) fn awaiting_reap(&mut self, id: &WorkerId) -> bool {
        let Some((pid, since, tries)) = self.exited.get_mut(id) else { return false };
        let zombie = matches!(probe::probe_pid(*pid), crate::identity::PidFacts::Running { state: b'Z', .. });
        if !zombie || since.elapsed() >= REAP_GRACE {
            self.exited.remove(id);
            return false;
        }
        *tries += 1;
        let delay = Duration::from_millis(1 << (*tries).min(6));
        self.deadlines.set(id, Some(SystemTime::now() + delay));
        self.synced.remove(id); // the next look restores its real deadline
        true
    }

    /// After a sweep: every worker's watches and deadline follow its new state; workers that
    /// are gone lose theirs; degraded ones try again.
    pub fn sync_all(&mut self, monitor: &Monitor, sweep_interval: Duration) {
        for (id, w) in &monitor.workers {
            self.sync_worker(id, w, sweep_interval, true);
        }
        let (pidfds, watches, deadlines) = self.sizes();
        tracing::debug!(pidfds, watches, deadlines, "registrations after the sweep");
        // Every worker is in `synced` now: anything more is a worker that is gone.
        if self.synced.len() > monitor.workers.len() {
            let stale: Vec<WorkerId> =
                self.synced.keys().filter(|id| !monitor.workers.contains_key(*id)).cloned().collect();
            for id in stale {
                self.forget(&id);
            }
        }
    }

    fn forget(&mut self, id: &WorkerId) {
        self.synced.remove(id);
        self.exited.remove(id);
        self.pid_retry.remove(id);
        if let Some(p) = &mut self.pidfds {
            p.forget(id);
        }
        if let Some(f) = &mut self.files {
            f.forget(id);
        }
        self.deadlines.set(id, None);
    }

    pub(super) fn sync(&mut self, monitor: &Monitor, id: &WorkerId, sweep_interval: Duration, full: bool) {
        match monitor.workers.get(id) {
            Some(w) => self.sync_worker(id, w, sweep_interval, full),
            None => self.forget(id),
        }
    }

    fn sync_worker(&mut self, id: &WorkerId, w: &Worker, sweep_interval: Duration, full: bool) {
        let mut key = SyncKey::of(w);
        let noisy = noisy_content(w);
        if let Some(t) = noisy {
            key.next = Some(key.next.map_or(t, |n| n.min(t)));
        }
        if let (Some(p), ProcessObs::Alive { pid, .. }) = (&mut self.pidfds, w.view.process) {
            if let Some(delay) = p.recheck_after(id, pid) {
                let t = SystemTime::now() + delay;
                key.next = Some(key.next.map_or(t, |n| n.min(t)));
            }
        }
        let retry = full && (!self.pid_retry.is_empty() || self.files.as_ref().is_some_and(|f| !f.degraded.is_empty()));
        match self.synced.get_mut(id) {
            Some(k) if *k == key && !retry => return,
            Some(k) => *k = key,
            None => {
                self.synced.insert(id.clone(), key);
            }
        }
        self.deadlines.set(id, key.next);
        self.sync_pidfd(id, w);
        self.sync_files(id, w, sweep_interval, full, noisy.is_some());
    }

    fn sync_pidfd(&mut self, id: &WorkerId, w: &Worker) {
        let Some(p) = &mut self.pidfds else { return };
        let ProcessObs::Alive { pid, start_ticks } = w.view.process else {
            p.disarm(id);
            return;
        };
        if p.pid(id) == Some(pid) || p.is_spent(id, pid) {
            return;
        }
        let armed = p.arm(id, pid, start_ticks);
        if !matches!(armed, Err(ArmError::Resource(_))) {
            self.pid_retry.remove(id);
        }
        match armed {
            Ok(()) => {}
            Err(ArmError::Gone) => {
                // Looked at again now; its key may not change, so it must be synced again.
                self.synced.remove(id);
                self.again.push(id.clone());
            }
            Err(ArmError::Unsupported(e)) => {
                tracing::warn!("pidfds unavailable ({e}): process exits are noticed at the sweep");
                self.pidfds = None;
            }
            Err(ArmError::Resource(e)) => {
                self.pid_retry.insert(id.clone());
                if !self.fd_warned {
                    self.fd_warned = true;
                    tracing::warn!("cannot open a pidfd ({e}): some process exits are noticed only at the sweep");
                }
            }
        }
    }

    fn sync_files(&mut self, id: &WorkerId, w: &Worker, sweep_interval: Duration, full: bool, noisy: bool) {
        let Some(f) = &mut self.files else { return };
        // Only a change to the log can end these states; alive workers are confirmed at
        // their deadline and orphaned ones do not recover through their log.
        let want = matches!(w.tracker.state, State::Quiet | State::Stalled) && !noisy;
        let want = want.then(|| Want {
            log: &w.spec.log,
            ino: match w.view.log {
                LogFacts::Present { ino, .. } => Some(ino),
                _ => None,
            },
        });
        if !full && f.degraded.contains(id) {
            return; // retried at the sweep, not on every event
        }
        // A watch taken after the look may have missed a change made in between.
        if f.sync(id, want, sweep_interval) && probe::stat_log(&w.spec.log) != w.view.log {
            self.again.push(id.clone());
        }
    }
}

/// For a quiet or stalled content-mode worker whose log was written within
/// `CONTENT_SETTLE`: when to look at it again instead of watching it.
fn noisy_content(w: &Worker) -> Option<SystemTime> {
    let quiet_content =
        matches!(w.tracker.state, State::Quiet | State::Stalled) && w.spec.settings.activity == Activity::Content;
    let last = w.view.last_write.filter(|_| quiet_content)?;
    let next = last + CONTENT_SETTLE;
    (next > w.view.looked_at).then_some(next.max(w.view.looked_at))
}
