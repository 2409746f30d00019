//! Sweeps: the full pass (first sweep, reloads, registry changes, lost events) and the
//! periodic safety net, which is checked in slices so events are not held up behind it.

use super::Daemon;
use crate::event::{Event, EventKind, Stamped};
use crate::monitor::Sweep;
use std::time::{Duration, Instant, SystemTime};

/// How long one slice of a periodic sweep may run before the loop looks at its other
/// wake-ups: what a death or a recovery may wait, at most, behind the safety net.
pub const SLICE: Duration = Duration::from_millis(3);

/// A periodic sweep in progress.
pub struct Sliced {
    sweep: Sweep,
    /// Time spent in the engine so far (the `sweep duration` metric).
    took: Duration,
}

impl Daemon {
    /// One full pass: discover, probe, classify, record. Returns what was recorded.
    pub fn sweep(&mut self) -> Vec<Stamped> {
        self.sweep_with(Vec::new())
    }

    /// The first sweep, announced by `daemon_started` with the number of workers found.
    pub fn first_sweep(&mut self) -> Vec<Stamped> {
        // The journal starts empty on top of a snapshot of what was loaded.
        self.save_snapshot();
        let pid = std::process::id();
        let started = Event::daemon(EventKind::DaemonStarted { pid, version: super::VERSION.into(), workers: 0 });
        self.sweep_with(vec![started])
    }

    fn sweep_with(&mut self, mut first: Vec<Event>) -> Vec<Stamped> {
        // A full pass makes a sliced one in progress pointless.
        self.sweeping = None;
        let now = SystemTime::now();
        let t0 = Instant::now();
        let events = self.monitor.sweep(&self.cfg, now);
        let took = t0.elapsed();
        if let Some(Event { kind: EventKind::DaemonStarted { workers, .. }, .. }) = first.first_mut() {
            *workers = self.monitor.workers.len();
        }
        first.extend(events);
        self.end_sweep(first, now, took)
    }

    fn end_sweep(&mut self, events: Vec<Event>, now: SystemTime, took: Duration) -> Vec<Stamped> {
        self.watch.sync_all(&self.monitor, self.cfg.daemon.sweep_interval);
        let stamped = self.record(events, now);
        self.finish_sweep(now, took);
        if self.service.sweeps() == 0 {
            // READY=1 follows the first sweep and promises its status file.
            self.status_writer.flush();
        }
        self.service.swept(self.monitor.counts());
        stamped
    }

    /// Starts a sliced sweep (the periodic one, or after a registry change): discovery and
    /// the workers that came or went now, `sweep_step` checks the rest. One in progress is
    /// replaced: the new one covers its workers too.
    pub fn sweep_begin(&mut self) -> Vec<Stamped> {
        let now = SystemTime::now();
        let t0 = Instant::now();
        let (sweep, events) = self.monitor.sweep_begin(&self.cfg, now);
        self.sweeping = Some(Sliced { sweep, took: t0.elapsed() });
        self.record(events, now)
    }

    /// Whether a periodic sweep is waiting for its next slice.
    pub fn sweeping(&self) -> bool {
        self.sweeping.is_some()
    }

    /// Checks the next slice of a periodic sweep; returns true when the sweep is complete.
    pub fn sweep_step(&mut self) -> bool {
        let Some(mut s) = self.sweeping.take() else { return true };
        let now = SystemTime::now();
        let t0 = Instant::now();
        let mut events = self.monitor.sweep_step(&mut s.sweep, &self.cfg, now, Some(SLICE));
        if !s.sweep.done() {
            s.took += t0.elapsed();
            self.sweeping = Some(s);
            self.record(events, now);
            return false;
        }
        events.extend(self.monitor.sweep_end(&self.cfg, now));
        self.end_sweep(events, now, s.took + t0.elapsed());
        true
    }
}
