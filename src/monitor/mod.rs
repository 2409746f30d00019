//! The engine: keeps the set of workers in step with discovery, checks them, and reports
//! events, the status document and the state to persist. It never sleeps or writes files.

mod activity;
mod report;
mod worker;

pub use activity::{Activity, Clocks, SavedContent};
pub use worker::{View, Worker};

use crate::config::{Config, ProcessSpec};
use crate::discover::discover;
use crate::event::Event;
use crate::model::{Source, State, WorkerId};
use crate::probe::Panes;
use crate::state::journal::Delta;
use crate::state::persist::{Saved, SavedWorker};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::SystemTime;

pub struct Monitor {
    boot_id: String,
    pub workers: BTreeMap<WorkerId, Worker>,
    /// Saved state not yet matched to a discovered worker (after a restart).
    restored: HashMap<String, SavedWorker>,
    forgotten: BTreeMap<String, SystemTime>,
    warnings: HashSet<String>,
    /// Persistent state changed since the last `take_changes`.
    changes: Changes,
}

/// What persistent state changed: the journal's next record is made of it.
#[derive(Debug, Default)]
struct Changes {
    workers: BTreeSet<WorkerId>,
    removed: Vec<String>,
    forgotten: bool,
}

/// A sweep in progress (`Monitor::sweep_begin`): the workers left to check, and the tmux
/// snapshot they share.
pub struct Sweep {
    ids: Vec<WorkerId>,
    next: usize,
    panes: Panes,
}

impl Sweep {
    pub fn done(&self) -> bool {
        self.next >= self.ids.len()
    }
}

impl Monitor {
    pub fn new(boot_id: String, saved: Option<Saved>) -> Monitor {
        let saved = saved.unwrap_or_default();
        Monitor {
            boot_id,
            workers: BTreeMap::new(),
            restored: saved.workers.into_iter().collect(),
            forgotten: saved.forgotten,
            warnings: HashSet::new(),
            changes: Changes::default(),
        }
    }

    /// Re-discovers, reconciles and checks every worker, in one go.
    pub fn sweep(&mut self, cfg: &Config, now: SystemTime) -> Vec<Event> {
        let (mut sweep, mut events) = self.sweep_begin(cfg, now);
        events.extend(self.sweep_step(&mut sweep, cfg, now, None));
        events.extend(self.sweep_end(cfg, now));
        events
    }

    /// A sweep's first part: discovery, and the workers that came or went. Workers that are
    /// still there are checked by `sweep_step`, which the daemon runs in slices between
    /// other wake-ups so that no single turn of its loop holds up an event for long.
    pub fn sweep_begin(&mut self, cfg: &Config, now: SystemTime) -> (Sweep, Vec<Event>) {
        // One look at each tmux server per sweep, shared by discovery and the probes.
        let mut panes = Panes::default();
        let found = discover(cfg, &mut panes);
        self.note_warnings(found.warnings);
        let mut events = Vec::new();
        let listed: HashSet<String> = found.specs.iter().map(|s| s.id.to_string()).collect();
        let before = self.forgotten.len();
        self.forgotten.retain(|id, _| listed.contains(id.as_str()));
        self.changes.forgotten |= self.forgotten.len() != before;

        // Workers no longer listed by their source. A tmux pane that vanished or died stays,
        // to be reported orphaned (pane_gone) until forget_after; everything else goes now,
        // including a pane that lives on but is no longer listed (its pipe was stopped).
        let gone: Vec<WorkerId> = self
            .workers
            .iter()
            .filter(|(id, w)| !listed.contains(id.as_str()) && !pane_vanished(w, &mut panes))
            .map(|(id, _)| id.clone())
            .collect();
        for id in gone {
            let w = self.workers.remove(&id).expect("listed above");
            events.push(w.removed("source_gone"));
            self.changes.removed.push(id.to_string());
        }

        let mut started = HashSet::new();
        for spec in found.specs {
            if self.forgotten.contains_key(spec.id.as_str()) {
                continue;
            }
            match self.workers.get_mut(&spec.id) {
                Some(w) => {
                    if w.spec.process != spec.process {
                        // A different process source: the old identity says nothing about it.
                        w.identity = None;
                    }
                    w.spec = spec;
                }
                None => {
                    let saved = self.restored.remove(spec.id.as_str());
                    let id = spec.id.clone();
                    let (w, evs) = Worker::start(spec, saved, &self.boot_id, now, &mut panes);
                    self.workers.insert(id.clone(), w);
                    events.extend(evs);
                    self.changes.workers.insert(id.clone());
                    started.insert(id);
                }
            }
        }
        // Tmux workers kept past their pane are checked too (their probe says pane_gone).
        let ids = self.workers.keys().filter(|id| !started.contains(*id)).cloned().collect();
        (Sweep { ids, next: 0, panes }, events)
    }

    /// Checks the sweep's next workers: all that are left, or as many as fit in `budget`.
    pub fn sweep_step(
        &mut self,
        sweep: &mut Sweep,
        cfg: &Config,
        now: SystemTime,
        budget: Option<std::time::Duration>,
    ) -> Vec<Event> {
        let t0 = std::time::Instant::now();
        let mut events = Vec::new();
        while let Some(id) = sweep.ids.get(sweep.next) {
            sweep.next += 1;
            // Gone since the sweep began (an event removed it, or a reload did).
            let Some(w) = self.workers.get_mut(id) else { continue };
            let (evs, dirty) = w.check(&self.boot_id, now, cfg.daemon.liveness_every, &mut sweep.panes);
            // Encoded here, in the slice, so the status write at the sweep's end is a copy.
            w.encode_status();
            if dirty {
                self.changes.workers.insert(id.clone());
            }
            events.extend(evs);
            if budget.is_some_and(|b| sweep.next % 16 == 0 && t0.elapsed() >= b) {
                break;
            }
        }
        events
    }

    /// A sweep's last part, once every worker was checked: saved state no worker claimed,
    /// and orphans past `forget_after`.
    pub fn sweep_end(&mut self, cfg: &Config, now: SystemTime) -> Vec<Event> {
        let mut events = Vec::new();
        // Known before a restart, not there now: their removal is news.
        for (id, s) in self.restored.drain() {
            if let Ok(id) = WorkerId::new(id) {
                events.push(Event::worker(
                    &id,
                    crate::event::EventKind::WorkerRemoved { last_state: s.tracker.state, why: "source_gone".into() },
                ));
                self.changes.removed.push(id.to_string());
            }
        }
        self.forget(cfg, now, &mut events);
        events
    }

    /// Re-checks one worker outside a sweep (an event or a deadline concerns it).
    pub fn check_one(&mut self, id: &str, cfg: &Config, now: SystemTime) -> Vec<Event> {
        let Some(w) = self.workers.get_mut(id) else {
            return Vec::new();
        };
        let (events, dirty) = w.check(&self.boot_id, now, cfg.daemon.liveness_every, &mut Panes::default());
        if dirty {
            self.changes.workers.insert(w.spec.id.clone());
        }
        events
    }

    fn forget(&mut self, cfg: &Config, now: SystemTime, events: &mut Vec<Event>) {
        let after = cfg.daemon.forget_after;
        let old: Vec<WorkerId> = self
            .workers
            .iter()
            .filter(|(_, w)| {
                w.tracker.state == State::Orphaned && now.duration_since(w.tracker.since).unwrap_or_default() >= after
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in old {
            let w = self.workers.remove(&id).expect("listed above");
            events.push(w.removed("forget_after"));
            self.forgotten.insert(id.to_string(), now);
            self.changes.removed.push(id.to_string());
            self.changes.forgotten = true;
        }
    }

    /// Logs each warning once while it persists, so a bad file is not reported every sweep.
    fn note_warnings(&mut self, now: Vec<String>) {
        let now: HashSet<String> = now.into_iter().collect();
        for w in now.difference(&self.warnings) {
            tracing::warn!("{w}");
        }
        self.warnings = now;
    }

    /// What persistent state changed since the last call, as a journal record (`None`
    /// when nothing did).
    pub fn take_changes(&mut self, last_seq: u64) -> Option<Delta<'static>> {
        let c = std::mem::take(&mut self.changes);
        if c.workers.is_empty() && c.removed.is_empty() && !c.forgotten {
            return None;
        }
        // A worker removed and found again in one batch is saved, not removed.
        let removed = c.removed.into_iter().filter(|id| !self.workers.contains_key(id.as_str())).collect();
        let workers =
            c.workers.iter().filter_map(|id| self.workers.get(id).map(|w| (id.to_string(), w.saved()))).collect();
        let forgotten = c.forgotten.then(|| self.forgotten.clone());
        Some(Delta { last_seq, workers, removed, forgotten, ..Delta::default() })
    }

    /// Forgets what changed: a snapshot of everything is being saved instead.
    pub fn discard_changes(&mut self) {
        self.changes = Changes::default();
    }

    pub fn saved(&self, last_seq: u64) -> Saved {
        let mut workers: BTreeMap<String, SavedWorker> =
            self.workers.iter().map(|(id, w)| (id.to_string(), w.saved())).collect();
        // Saved state not yet matched (before the first sweep) must not be lost on save.
        for (id, s) in &self.restored {
            workers.entry(id.clone()).or_insert_with(|| s.clone());
        }
        Saved { last_seq, workers, forgotten: self.forgotten.clone(), ..Saved::empty() }
    }
}

/// A worker discovered from a tmux pane whose pane is no longer there (or is dead).
fn pane_vanished(w: &Worker, panes: &mut Panes) -> bool {
    match &w.spec.process {
        ProcessSpec::Tmux { target, server, .. } if w.spec.source == Source::Tmux => !panes.alive(server, target),
        _ => false,
    }
}

#[cfg(test)]
#[path = "sweep_tests.rs"]
mod sweep_tests;
