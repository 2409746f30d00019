//! Recording: events stamped, their state changes journaled ahead of the event log, the
//! log appended, hooks planned; and the snapshot that folds the journal.

use super::Daemon;
use crate::event::{Event, Stamped};
use crate::hooks;
use crate::state::journal::Delta;
use std::time::{Duration, Instant, SystemTime};

/// Seq-only progress (liveness events) is journaled at most this often: see `record`.
const SEQ_SAVE_EVERY: Duration = Duration::from_secs(10);

/// After a failed snapshot, the next one is tried no sooner than this.
const SNAPSHOT_RETRY: Duration = Duration::from_secs(1);

impl Daemon {
    /// Stamps `events`, appends them to the event log and saves the state.
    pub fn record(&mut self, events: Vec<Event>, now: SystemTime) -> Vec<Stamped> {
        if events.is_empty() {
            // Lines queued while the log was unwritable must not wait for the next event,
            // which may be a long time coming on a quiet host.
            self.events.flush();
            return Vec::new();
        }
        // A batch that changes persistent state is written ahead: the journal (fsynced) takes
        // the changed workers, the last seq, the stamped lines and the hook runs they ask for
        // before the log gets them, so a kill at any point leaves a state that matches the log
        // or can finish it on restart (no seq repeats or skips, no transition is told twice or
        // lost, no hook run is lost). Seq-only progress (liveness events) is not saved ahead:
        // the seq is recovered from the log's tail, and lines a kill kept from the log were
        // never seen. It is saved at most every SEQ_SAVE_EVERY; only a log rotated away and a
        // crash within that window could then reuse a seq.
        let stamped = self.events.stamp(events, now);
        self.export.count(&stamped);
        let monitor = &self.monitor;
        self.hooks.plan(&stamped, &self.cfg.hooks, &|id| monitor.workers.get(id).map(hooks::WorkerCtx::of));
        if !self.save(&stamped) && self.last_save.elapsed() >= SEQ_SAVE_EVERY {
            self.append(Delta { last_seq: self.events.last_seq(), ..Delta::default() });
        }
        self.events.flush();
        self.hooks.dispatch(&self.cfg.hooks);
        stamped
    }

    /// Journals what changed in the engine and the hooks, with `stamped`'s lines; returns
    /// whether anything did (nothing is written then).
    pub(super) fn save(&mut self, stamped: &[Stamped]) -> bool {
        // A failed snapshot is retried even when nothing new changed: what changed since it
        // failed is in no file yet.
        if self.snapshot_failed.is_some_and(|t| t.elapsed() >= SNAPSHOT_RETRY) {
            self.save_snapshot();
            return true;
        }
        let seq = self.events.last_seq();
        let delta = self.monitor.take_changes(seq);
        let hooks = self.hooks.take_dirty().then(|| self.hooks.saved());
        if delta.is_none() && hooks.is_none() {
            return false;
        }
        if self.store.wants_compaction() {
            // While the disk refuses a snapshot (full, read-only), trying one for every batch
            // would rewrite 10,000 workers each time for nothing: at most one try a second.
            // What changed meanwhile is in the snapshot that finally succeeds.
            if self.snapshot_failed.is_none_or(|t| t.elapsed() >= SNAPSHOT_RETRY) {
                self.save_snapshot();
            }
            return true;
        }
        let mut delta = delta.unwrap_or(Delta { last_seq: seq, ..Delta::default() });
        delta.hooks = hooks;
        delta.unlogged = stamped.iter().map(|s| std::borrow::Cow::Borrowed(s.line.as_str())).collect();
        self.append(delta);
        true
    }

    fn append(&mut self, delta: Delta<'_>) {
        self.last_save = Instant::now();
        if let Err(e) = self.store.append(&delta) {
            self.faults.state_file += 1;
            tracing::error!(error = %e, "cannot append to the state journal; the next save rewrites state.json");
        }
    }

    /// Writes the whole state as a new `state.json` and empties the journal: at start, at
    /// stop, when the journal grew past `journal::COMPACT_AFTER`, and after a failed append.
    pub(super) fn save_snapshot(&mut self) {
        self.last_save = Instant::now();
        // Whatever was pending is in the snapshot now.
        self.monitor.discard_changes();
        let _ = self.hooks.take_dirty();
        let mut saved = self.monitor.saved(self.events.last_seq());
        saved.unlogged = self.events.unlogged();
        saved.hooks = self.hooks.saved();
        match self.store.compact(&mut saved) {
            Ok(()) => self.snapshot_failed = None,
            Err(e) => {
                self.faults.state_file += 1;
                if self.snapshot_failed.is_none() {
                    tracing::error!(error = %e, "cannot save state.json; retrying at most once a second");
                }
                self.snapshot_failed = Some(Instant::now());
            }
        }
    }
}
