//! One watched worker: probing it, judging it, and turning changes into events.

use crate::classify::{Observation, Verdict, classify, idle_since};
use crate::config::WorkerSpec;
use crate::event::{Event, EventKind};
use crate::identity::{Identity, ProcessObs, judge};
use crate::probe::{self, LogFacts, Panes};
use crate::state::{Change, Tracker};
use crate::timefmt::secs;
use std::time::{Duration, SystemTime};

/// What the last look found, kept for status and metrics.
#[derive(Debug, Clone)]
pub struct View {
    pub verdict: Verdict,
    pub log: LogFacts,
    pub process: ProcessObs,
    pub last_output: Option<SystemTime>,
    pub error: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Worker {
    pub spec: WorkerSpec,
    pub tracker: Tracker,
    pub identity: Option<Identity>,
    pub first_seen: SystemTime,
    pub view: View,
    liveness_at: SystemTime,
    liveness_size: u64,
}

/// Probes a worker's log and process and classifies them.
pub fn look(
    spec: &WorkerSpec,
    identity: Option<&Identity>,
    first_seen: SystemTime,
    boot_id: &str,
    now: SystemTime,
    panes: &mut Panes,
) -> (View, Option<Identity>) {
    let (input, warning) = probe::process_input(&spec.process, panes);
    let (process, identity) = judge(&input, identity, boot_id);
    let log = probe::stat_log(&spec.log);
    let mut error = warning;
    let last_output = match &log {
        LogFacts::Present { mtime, odd_kind: None, .. } => Some(*mtime),
        LogFacts::Present { mtime, odd_kind: Some(kind), .. } => {
            error = Some(format!("{}: is a {kind}, not a regular file", spec.log.display()));
            Some(*mtime)
        }
        LogFacts::Unreadable(e) => {
            error = Some(format!("{}: {e}", spec.log.display()));
            None
        }
        LogFacts::Missing => None,
    };
    let reference = identity
        .as_ref()
        .filter(|i| Some(i.pid) == process.pid())
        .map_or(first_seen, |i| probe::start_time(i.start_ticks));
    let obs = Observation { process, last_output, reference };
    let verdict = classify(&obs, &spec.settings.thresholds, now);
    (View { verdict, log, process, last_output, error }, identity)
}

impl Worker {
    /// A worker seen for the first time (or restored from saved state when `saved` is set).
    pub fn start(
        spec: WorkerSpec,
        saved: Option<(Tracker, Option<Identity>, SystemTime)>,
        boot_id: &str,
        now: SystemTime,
        panes: &mut Panes,
    ) -> (Worker, Vec<Event>) {
        let (tracker, identity, first_seen) = match saved {
            Some((t, i, f)) => (Some(t), i, f),
            None => (None, None, now),
        };
        let (view, identity) = look(&spec, identity.as_ref(), first_seen, boot_id, now, panes);
        let restored = tracker.is_some();
        let tracker = tracker.unwrap_or_else(|| Tracker::new(&view.verdict, now));
        let size = view.log.size().unwrap_or(0);
        let mut w = Worker { spec, tracker, identity, first_seen, view, liveness_at: now, liveness_size: size };
        let events = if restored {
            let v = w.view.verdict;
            w.apply(v, now)
        } else {
            vec![Event::worker(
                &w.spec.id,
                EventKind::WorkerAdded {
                    state: w.view.verdict.state,
                    reason: w.view.verdict.reason,
                    source: w.spec.source,
                },
            )]
        };
        (w, events)
    }

    /// Looks again and reports what changed. `dirty` tells whether persistent state moved.
    pub fn check(
        &mut self,
        boot_id: &str,
        now: SystemTime,
        liveness_every: Option<Duration>,
        panes: &mut Panes,
    ) -> (Vec<Event>, bool) {
        let (view, identity) = look(&self.spec, self.identity.as_ref(), self.first_seen, boot_id, now, panes);
        let mut dirty = identity != self.identity;
        self.identity = identity;
        let verdict = view.verdict;
        self.view = view;
        let mut events = self.apply(verdict, now);
        // Liveness below is a report, not a change of state: it does not make state dirty.
        dirty |= !events.is_empty();
        if let Some(every) = liveness_every {
            if now.duration_since(self.liveness_at).unwrap_or_default() >= every {
                events.push(self.liveness(now));
            }
        }
        (events, dirty)
    }

    fn apply(&mut self, v: Verdict, now: SystemTime) -> Vec<Event> {
        let changes = self.tracker.observe(&v, &self.spec.settings.thresholds, now);
        changes.into_iter().map(|c| Event::worker(&self.spec.id, self.describe(c))).collect()
    }

    fn describe(&self, c: Change) -> EventKind {
        match c {
            Change::Transition { from, to, reason } => EventKind::Transition {
                from,
                to,
                reason,
                idle_for_s: secs(self.view.verdict.idle_for),
                pid: self.view.process.pid(),
                pid_alive: self.view.process.alive(),
                log: self.spec.log.display().to_string(),
                log_size: self.view.log.size(),
            },
            Change::ReasonChanged { state, from_reason, to_reason } => {
                EventKind::ReasonChanged { state, from_reason, to_reason }
            }
            Change::FlappingStarted { transitions, window } => {
                EventKind::FlappingStarted { transitions, window_s: secs(window) }
            }
            Change::FlappingStopped { transitions, window } => {
                EventKind::FlappingStopped { transitions, window_s: secs(window) }
            }
        }
    }

    /// The periodic `liveness` event: growth is reported as a diagnostic, never a gate.
    fn liveness(&mut self, now: SystemTime) -> Event {
        let size = self.view.log.size();
        let delta = size.unwrap_or(0) as i64 - self.liveness_size as i64;
        self.liveness_at = now;
        self.liveness_size = size.unwrap_or(0);
        Event::worker(
            &self.spec.id,
            EventKind::Liveness {
                state: self.tracker.state,
                pid_alive: self.view.process.alive(),
                idle_for_s: secs(self.view.verdict.idle_for),
                since_last_output_s: self.view.last_output.map(|t| secs(idle_since(t, now).0)),
                log_size: size,
                bytes_delta: delta,
            },
        )
    }

    pub fn removed(&self, why: &str) -> Event {
        Event::worker(&self.spec.id, EventKind::WorkerRemoved { last_state: self.tracker.state, why: why.to_string() })
    }
}
