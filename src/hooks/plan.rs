//! Which hooks run, pure: turns stamped events into jobs (or `flapping` skips), keeps the
//! reminder schedule, and decides at start time whether a queued run is still wanted.

use super::job::{Facts, Job, Trigger, WorkerCtx};
use super::outcome::{Next, Outcome, Report, Skip};
use crate::config::{HookSpec, OnPattern};
use crate::event::{EventKind, Stamped};
use crate::model::{Reason, State};
use crate::timefmt::secs;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime};

/// What the start-time check knows about a worker.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Mark {
    /// The seq of the worker's latest transition, `worker_added` or `flapping_stopped`.
    pub latest: u64,
    pub flapping: bool,
}

/// The superseded rule: a run (first attempt or retry) that is about to start is skipped when
/// its worker has had a transition, `worker_added` or `flapping_stopped` with a larger seq than
/// the event the run is about — that newer event has runs of its own. Otherwise a run of a
/// flapping worker is skipped as `flapping`.
pub fn start_check(job: &Job, mark: Mark) -> Option<Skip> {
    if mark.latest > job.seq {
        Some(Skip::Superseded)
    } else if mark.flapping {
        Some(Skip::Flapping)
    } else {
        None
    }
}

/// Does `p` match a worker that is in `state` for `reason` now (a `flap_end` run)? The
/// `FROM` side of a transition pattern is not asked: flapping hid which transition led here.
pub fn matches_now(p: &OnPattern, state: State, reason: Reason) -> bool {
    match *p {
        OnPattern::Transition { to, .. } => to.is_none_or(|t| t == state),
        _ => p.matches(Some(state), state, reason),
    }
}

/// A pending reminder: `hook` runs again at `next_at` while the worker stays in `state`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reminder {
    pub hook: String,
    pub worker: String,
    pub seq: u64,
    pub prev: Option<State>,
    pub state: State,
    #[serde(with = "crate::timefmt::serde_time")]
    pub next_at: SystemTime,
    pub stdin: String,
}

/// The part of `state.json` that belongs to hooks.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SavedHooks {
    #[serde(default)]
    pub pending: Vec<Job>,
    #[serde(default)]
    pub reminders: Vec<Reminder>,
}

#[derive(Debug, Default)]
pub struct Planner {
    /// Jobs not finished, by id (ids grow, so this is also the order they were planned in).
    pub pending: BTreeMap<u64, Job>,
    pub reminders: Vec<Reminder>,
    pub marks: HashMap<String, Mark>,
    next_id: u64,
    /// `pending` or `reminders` changed since the last `take_dirty`.
    dirty: bool,
}

/// What one batch of events asks for.
#[derive(Debug, Default)]
pub struct Planned {
    pub jobs: Vec<Job>,
    /// Runs skipped at once because the worker flaps (reported, never pending).
    pub skipped: Vec<Report>,
    /// Workers whose mark changed.
    pub touched: Vec<String>,
}

type Ctx<'a> = &'a dyn Fn(&str) -> Option<WorkerCtx>;

impl Planner {
    pub fn restore(saved: SavedHooks) -> Planner {
        let mut p = Planner::default();
        for j in saved.pending {
            p.bump(&j.worker, j.seq);
            p.next_id = p.next_id.max(j.id + 1);
            p.pending.insert(j.id, j);
        }
        for r in &saved.reminders {
            p.bump(&r.worker, r.seq);
        }
        p.reminders = saved.reminders;
        p
    }

    pub fn saved(&self) -> SavedHooks {
        SavedHooks { pending: self.pending.values().cloned().collect(), reminders: self.reminders.clone() }
    }

    pub fn take_dirty(&mut self) -> bool {
        std::mem::take(&mut self.dirty)
    }

    fn add(&mut self, job: &Job) {
        self.pending.insert(job.id, job.clone());
        self.dirty = true;
    }

    /// Ends a worker's reminders: it changed state, or is gone.
    fn cancel(&mut self, worker: &str) {
        let before = self.reminders.len();
        self.reminders.retain(|r| r.worker != worker);
        self.dirty |= self.reminders.len() != before;
    }

    fn bump(&mut self, worker: &str, seq: u64) {
        let m = self.marks.entry(worker.to_string()).or_default();
        m.latest = m.latest.max(seq);
    }

    fn job(&mut self, hook: &str, f: &Facts, stdin: &str) -> Job {
        let j = Job::new(self.next_id, hook, f, stdin);
        self.next_id += 1;
        j
    }

    /// Plans the runs for a batch of stamped events, in order. `ctx` describes each worker
    /// after the batch; a worker's flapping flag before the batch follows from it and from the
    /// first `flapping_*` event the batch holds for the worker.
    pub fn plan(&mut self, batch: &[Stamped], hooks: &[HookSpec], ctx: Ctx) -> Planned {
        let mut out = Planned::default();
        let mut flapping: HashMap<&str, bool> = HashMap::new();
        for s in batch {
            if let (Some(w), EventKind::FlappingStarted { .. } | EventKind::FlappingStopped { .. }) =
                (&s.event.worker, &s.event.kind)
            {
                flapping.entry(w.as_str()).or_insert(matches!(s.event.kind, EventKind::FlappingStopped { .. }));
            }
        }
        for s in batch {
            let Some(worker) = s.event.worker.as_ref().map(|w| w.as_str()) else { continue };
            let now = ctx(worker);
            let flaps = *flapping.entry(worker).or_insert_with(|| now.as_ref().is_some_and(|c| c.flapping));
            let empty = BTreeMap::new();
            let labels = now.as_ref().map_or(&empty, |c| &c.labels);
            let (prev, state, reason, facts) = match &s.event.kind {
                EventKind::Transition { from, to, reason, idle_for_s, pid, log, .. } => {
                    (Some(*from), *to, *reason, (*idle_for_s, *pid, log.as_str()))
                }
                EventKind::WorkerAdded { state, reason, .. } => {
                    let Some(c) = &now else { continue };
                    (None, *state, *reason, (secs(c.idle_for), c.pid, c.log.as_str()))
                }
                EventKind::ReasonChanged { state, to_reason, .. } => {
                    let Some(c) = &now else { continue };
                    self.reason_changed(s, (worker, labels, flaps), (*state, *to_reason), hooks, c, &mut out);
                    continue;
                }
                EventKind::FlappingStarted { .. } => {
                    flapping.insert(worker, true);
                    self.marks.entry(worker.to_string()).or_default().flapping = true;
                    out.touched.push(worker.to_string());
                    continue;
                }
                EventKind::FlappingStopped { .. } => {
                    flapping.insert(worker, false);
                    self.marks.entry(worker.to_string()).or_default().flapping = false;
                    self.flap_end(s, worker, hooks, now.as_ref(), &mut out);
                    continue;
                }
                EventKind::WorkerRemoved { .. } => {
                    self.cancel(worker);
                    continue;
                }
                _ => continue,
            };
            self.cancel(worker);
            self.bump(worker, s.seq);
            out.touched.push(worker.to_string());
            let f = Facts {
                trigger: Trigger::Transition,
                worker,
                prev,
                state,
                reason,
                idle_for_s: facts.0,
                pid: facts.1,
                log: facts.2,
                seq: s.seq,
                ts: s.ts,
                labels,
            };
            for h in hooks.iter().filter(|h| h.matches_worker(worker) && h.matches(prev, state, reason)) {
                let job = self.job(&h.name, &f, &s.line);
                if flaps {
                    let skip = Outcome::Skipped(Skip::Flapping);
                    out.skipped.push(Report { job, outcome: skip, duration: Duration::ZERO, next: Next::Done });
                    continue;
                }
                self.remind(h, &f, &s.line);
                self.add(&job);
                out.jobs.push(job);
            }
        }
        out
    }

    /// A new reason in the same state: runs for the hooks with a matching `STATE/REASON`
    /// pattern only (a plain state pattern was told when the state was entered). It neither
    /// supersedes the transition's runs nor ends its reminders: the state did not change.
    fn reason_changed(
        &mut self,
        s: &Stamped,
        (worker, labels, flaps): (&str, &BTreeMap<String, String>, bool),
        (state, reason): (State, Reason),
        hooks: &[HookSpec],
        c: &WorkerCtx,
        out: &mut Planned,
    ) {
        let f = Facts {
            trigger: Trigger::ReasonChanged,
            worker,
            prev: Some(state),
            state,
            reason,
            idle_for_s: secs(c.idle_for),
            pid: c.pid,
            log: &c.log,
            seq: s.seq,
            ts: s.ts,
            labels,
        };
        let matching = |h: &&HookSpec| {
            h.matches_worker(worker)
                && h.on
                    .iter()
                    .any(|p| matches!(p, OnPattern::StateReason { .. }) && p.matches(Some(state), state, reason))
        };
        for h in hooks.iter().filter(matching) {
            let job = self.job(&h.name, &f, &s.line);
            if flaps {
                let skip = Outcome::Skipped(Skip::Flapping);
                out.skipped.push(Report { job, outcome: skip, duration: Duration::ZERO, next: Next::Done });
                continue;
            }
            self.add(&job);
            out.jobs.push(job);
        }
    }

    /// The end of a flapping episode: one run per hook whose `on` matches the present state.
    fn flap_end(&mut self, s: &Stamped, worker: &str, hooks: &[HookSpec], now: Option<&WorkerCtx>, out: &mut Planned) {
        self.cancel(worker);
        self.bump(worker, s.seq);
        out.touched.push(worker.to_string());
        let Some(c) = now else { return };
        let f = Facts {
            trigger: Trigger::FlapEnd,
            worker,
            prev: Some(c.state),
            state: c.state,
            reason: c.reason,
            idle_for_s: secs(c.idle_for),
            pid: c.pid,
            log: &c.log,
            seq: s.seq,
            ts: s.ts,
            labels: &c.labels,
        };
        for h in
            hooks.iter().filter(|h| h.matches_worker(worker) && h.on.iter().any(|p| matches_now(p, c.state, c.reason)))
        {
            let job = self.job(&h.name, &f, &s.line);
            self.remind(h, &f, &s.line);
            self.add(&job);
            out.jobs.push(job);
        }
    }

    fn remind(&mut self, h: &HookSpec, f: &Facts, stdin: &str) {
        if let Some(every) = h.repeat {
            self.dirty = true;
            self.reminders.push(Reminder {
                hook: h.name.clone(),
                worker: f.worker.to_string(),
                seq: f.seq,
                prev: f.prev,
                state: f.state,
                next_at: f.ts + every,
                stdin: stdin.to_string(),
            });
        }
    }

    pub fn next_due(&self) -> Option<SystemTime> {
        self.reminders.iter().map(|r| r.next_at).min()
    }

    /// Reminders due at `now` become `repeat` jobs. A reminder ends when its worker is gone,
    /// left the state, or its hook lost `repeat`; one that fell far behind (the daemon was
    /// down) fires once and continues from `now`.
    pub fn due(&mut self, now: SystemTime, hooks: &[HookSpec], ctx: Ctx) -> Vec<Job> {
        let mut jobs = Vec::new();
        let mut keep = Vec::with_capacity(self.reminders.len());
        for mut r in std::mem::take(&mut self.reminders) {
            if r.next_at > now {
                keep.push(r);
                continue;
            }
            self.dirty = true;
            let Some(c) = ctx(&r.worker).filter(|c| c.state == r.state) else { continue };
            let Some((h, every)) = hooks.iter().find(|h| h.name == r.hook).and_then(|h| Some((h, h.repeat?))) else {
                continue;
            };
            let f = Facts {
                trigger: Trigger::Repeat,
                worker: &r.worker,
                prev: r.prev,
                state: r.state,
                reason: c.reason,
                idle_for_s: secs(c.idle_for),
                pid: c.pid,
                log: &c.log,
                seq: r.seq,
                ts: now,
                labels: &c.labels,
            };
            let job = self.job(&h.name, &f, &r.stdin);
            self.add(&job);
            jobs.push(job);
            r.next_at += every;
            if r.next_at <= now {
                r.next_at = now + every;
            }
            keep.push(r);
        }
        self.reminders = keep;
        jobs
    }

    pub fn drop_job(&mut self, id: u64) {
        self.dirty |= self.pending.remove(&id).is_some();
    }

    /// Applies a run's report: finished jobs leave `pending`, retried ones count the attempt.
    pub fn settle(&mut self, r: &Report) {
        self.dirty |= r.next != Next::Redeliver && self.pending.contains_key(&r.job.id);
        match r.next {
            Next::Done => {
                self.pending.remove(&r.job.id);
            }
            Next::Retry(_) => {
                if let Some(j) = self.pending.get_mut(&r.job.id) {
                    j.attempt = r.job.attempt + 1;
                }
            }
            Next::Redeliver => {}
        }
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
