//! One watched worker: probing it, judging it, and turning changes into events.

use super::activity::{Activity, Clocks};
use crate::classify::{Observation, Refinement, Verdict, classify, idle_since, next_deadline, pipe_broken, refine};
use crate::config::{ProcessSpec, WorkerSpec};
use crate::event::{Event, EventKind};
use crate::identity::{Identity, ProcessObs, judge};
use crate::model::{Reason, Source};
use crate::probe::{self, LogFacts, Panes};
use crate::state::persist::SavedWorker;
use crate::state::{Change, Tracker};
use crate::timefmt::secs;
use std::time::{Duration, SystemTime};

/// What the last look found, kept for status and metrics.
#[derive(Debug, Clone)]
pub struct View {
    pub verdict: Verdict,
    pub log: LogFacts,
    pub process: ProcessObs,
    /// The log's mtime.
    pub last_write: Option<SystemTime>,
    /// What classification measures idleness from: the mtime, or in content mode the last
    /// time meaningful content appeared.
    pub last_output: Option<SystemTime>,
    pub error: Option<String>,
    /// When this look happened: the `since_*` values are measured to it.
    pub looked_at: SystemTime,
    /// When the verdict would next change if nothing happened (`classify::next_deadline`).
    pub deadline: Option<SystemTime>,
}

/// A watched worker: one pointer to its `WorkerData`. The worker table is a B-tree, whose
/// nodes are about half empty after in-order inserts (discovery lists workers sorted); with
/// the ~0.5 KB of a worker inline that slack was ~40 % of the table at 10,000 workers.
#[derive(Debug)]
pub struct Worker(Box<WorkerData>);

impl std::ops::Deref for Worker {
    type Target = WorkerData;
    fn deref(&self) -> &WorkerData {
        &self.0
    }
}

impl std::ops::DerefMut for Worker {
    fn deref_mut(&mut self) -> &mut WorkerData {
        &mut self.0
    }
}

#[derive(Debug)]
pub struct WorkerData {
    pub spec: WorkerSpec,
    pub tracker: Tracker,
    pub identity: Option<Identity>,
    pub first_seen: SystemTime,
    pub view: View,
    /// The log reader: offset, inode, parser state (a split UTF-8 sequence included) and
    /// the content clock.
    pub activity: Activity,
    liveness_at: SystemTime,
    liveness_size: u64,
    repiped_at: Option<SystemTime>,
    /// This worker's entry in the status document: a status write joins these instead of
    /// encoding 10,000 workers again for one that changed. A sweep encodes each entry in its
    /// slice; a look between sweeps marks it `status_stale`, for the next status write.
    pub(super) status_json: bytes::Bytes,
    pub(super) status_stale: bool,
}

/// Probes a worker's log (reading what was appended, in content mode) and process, and
/// classifies them. Callable from a sweep or from a single check.
pub fn look(
    spec: &WorkerSpec,
    activity: &mut Activity,
    identity: Option<&Identity>,
    first_seen: SystemTime,
    boot_id: &str,
    now: SystemTime,
    panes: &mut Panes,
) -> (View, Option<Identity>) {
    let (input, warning) = probe::process_input(&spec.process, panes);
    let (process, identity) = judge(&input, identity, boot_id);
    let log = probe::stat_log(&spec.log);
    let Clocks { last_write, last_output, error } = activity.look(&spec.log, &log, &spec.settings);
    let error = error.or(warning);
    let reference = identity
        .as_ref()
        .filter(|i| Some(i.pid) == process.pid())
        .map_or(first_seen, |i| probe::start_time(i.start_ticks));
    let obs = Observation { process, last_output, reference };
    let refinement = Refinement {
        prompt: activity.prompt(&spec.settings, now),
        pipe_broken: pipe_is_broken(spec, last_write, panes),
    };
    let verdict = refine(classify(&obs, &spec.settings.thresholds, now), refinement, spec.settings.input_after);
    let prompt_due = activity.prompt_deadline(refinement.prompt, last_output, spec.settings.input_after, now);
    let deadline = [next_deadline(&obs, &spec.settings.thresholds, now), prompt_due].into_iter().flatten().min();
    (View { verdict, log, process, last_write, last_output, error, looked_at: now, deadline }, identity)
}

/// For a tmux worker whose log `pipe-pane` feeds (attach recorded the pipe, or discovery
/// found the pane piped): is that pipe broken now? (`classify::pipe_broken`).
fn pipe_is_broken(spec: &WorkerSpec, last_write: Option<SystemTime>, panes: &mut Panes) -> bool {
    let ProcessSpec::Tmux { target, server, pipe, .. } = &spec.process else {
        return false;
    };
    if pipe.is_none() && spec.source != Source::Tmux {
        return false;
    }
    let Ok(Some(p)) = panes.find(server, target) else {
        return false;
    };
    let activity = p
        .window_activity
        .filter(|_| p.window_panes == 1)
        .and_then(|s| u64::try_from(s).ok())
        .map(|s| SystemTime::UNIX_EPOCH + Duration::from_secs(s));
    // A pane discovery listed unpiped (`only_piped = false`) was never fed: only its
    // activity can tell.
    p.alive() && pipe_broken(p.piped || pipe.is_none(), activity, last_write)
}

/// At most one `repipe` per worker this often, so a pipe that dies again at once is not
/// restarted in a loop.
const REPIPE_EVERY: Duration = Duration::from_secs(30);

impl Worker {
    /// A worker seen for the first time (or restored from saved state when `saved` is set).
    pub fn start(
        spec: WorkerSpec,
        saved: Option<SavedWorker>,
        boot_id: &str,
        now: SystemTime,
        panes: &mut Panes,
    ) -> (Worker, Vec<Event>) {
        let (tracker, identity, first_seen, content) = match saved {
            Some(s) => (Some(s.tracker), s.identity, s.first_seen, s.content),
            None => (None, None, now, None),
        };
        let mut activity = Activity::restore(content);
        let (view, identity) = look(&spec, &mut activity, identity.as_ref(), first_seen, boot_id, now, panes);
        report_error(&spec, None, &view.error);
        let restored = tracker.is_some();
        let tracker = tracker.unwrap_or_else(|| Tracker::new(&view.verdict, now));
        let size = view.log.size().unwrap_or(0);
        let mut w = Worker(Box::new(WorkerData {
            spec,
            tracker,
            identity,
            first_seen,
            view,
            activity,
            liveness_at: now,
            liveness_size: size,
            repiped_at: None,
            status_json: bytes::Bytes::new(),
            status_stale: true,
        }));
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
}

impl WorkerData {
    /// Looks again and reports what changed. `dirty` tells whether persistent state moved.
    pub fn check(
        &mut self,
        boot_id: &str,
        now: SystemTime,
        liveness_every: Option<Duration>,
        panes: &mut Panes,
    ) -> (Vec<Event>, bool) {
        let (view, identity) =
            look(&self.spec, &mut self.activity, self.identity.as_ref(), self.first_seen, boot_id, now, panes);
        report_error(&self.spec, self.view.error.as_deref(), &view.error);
        let mut dirty = identity != self.identity;
        self.identity = identity;
        let verdict = view.verdict;
        self.view = view;
        let mut events = self.apply(verdict, now);
        events.extend(self.repipe(now));
        // Liveness below is a report, not a change of state: it does not make state dirty.
        dirty |= !events.is_empty();
        if let Some(every) = liveness_every {
            if now.duration_since(self.liveness_at).unwrap_or_default() >= every {
                events.push(self.liveness(now));
            }
        }
        self.status_stale = true;
        (events, dirty)
    }

    /// `repipe = true`: re-runs the `pipe-pane` command `attach` recorded for a broken pipe.
    /// The command is the registry entry's `tmux_pipe`, never anything read from the log.
    fn repipe(&mut self, now: SystemTime) -> Option<Event> {
        let ProcessSpec::Tmux { target, server, pipe: Some(cmd), .. } = &self.spec.process else {
            return None;
        };
        let due = self.repiped_at.is_none_or(|t| now.duration_since(t).unwrap_or_default() >= REPIPE_EVERY);
        if !self.spec.settings.repipe || self.view.verdict.reason != Reason::PipeBroken || !due {
            return None;
        }
        self.repiped_at = Some(now);
        match crate::probe::tmux::repipe(server, target, cmd) {
            Ok(()) => {
                tracing::info!(worker = %self.spec.id, "re-ran the pipe-pane command of pane {target}");
                Some(Event::worker(&self.spec.id, EventKind::Repiped {}))
            }
            Err(e) => {
                tracing::warn!(worker = %self.spec.id, "repipe of pane {target} failed: {e}");
                None
            }
        }
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
                since_last_write_s: self.view.last_write.map(|t| secs(idle_since(t, now).0)),
                log_size: size,
                bytes_delta: delta,
            },
        )
    }

    /// What to save for a restart.
    pub fn saved(&self) -> SavedWorker {
        SavedWorker {
            tracker: self.tracker.clone(),
            identity: self.identity.clone(),
            first_seen: self.first_seen,
            content: self.activity.saved(),
        }
    }

    /// The next instant this worker must be looked at: its verdict's deadline, or the end
    /// of a flapping episode (a whole window without a transition).
    pub fn next_check(&self) -> Option<SystemTime> {
        let flap = &self.tracker.flap;
        let window = self.spec.settings.thresholds.flap_window;
        let flap_end = flap.recent.back().filter(|_| flap.flapping).map(|t| *t + window);
        match (self.view.deadline, flap_end) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub fn removed(&self, why: &str) -> Event {
        Event::worker(&self.spec.id, EventKind::WorkerRemoved { last_state: self.tracker.state, why: why.to_string() })
    }
}

/// Logs a worker's log or process problem when it appears or changes, not on every look;
/// status shows it for as long as it lasts.
fn report_error(spec: &WorkerSpec, before: Option<&str>, now: &Option<String>) {
    if let Some(e) = now.as_deref().filter(|e| Some(*e) != before) {
        tracing::warn!(worker = %spec.id, "{e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// BENCHMARKS.md's memory figures at 10,000 workers assume this layout: a table entry is
    /// one pointer, and a worker in mtime mode carries no content-mode reader.
    #[test]
    fn a_worker_stays_small() {
        use std::mem::size_of;
        assert_eq!(size_of::<Worker>(), size_of::<usize>());
        assert_eq!(size_of::<Activity>(), size_of::<usize>());
        assert!(size_of::<WorkerData>() <= 600, "{}", size_of::<WorkerData>());
    }
}
