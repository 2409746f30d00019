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
use crate::state::persist::{SCHEMA, Saved, SavedWorker};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::SystemTime;

pub struct Monitor {
    boot_id: String,
    pub workers: BTreeMap<WorkerId, Worker>,
    /// Saved state not yet matched to a discovered worker (after a restart).
    restored: HashMap<String, SavedWorker>,
    forgotten: BTreeMap<String, SystemTime>,
    warnings: HashSet<String>,
    /// Persistent state changed since the last `take_dirty`.
    dirty: bool,
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
            dirty: false,
        }
    }

    /// Re-discovers, reconciles and checks every worker.
    pub fn sweep(&mut self, cfg: &Config, now: SystemTime) -> Vec<Event> {
        // One look at each tmux server per sweep, shared by discovery and the probes.
        let mut panes = Panes::default();
        let found = discover(cfg, &mut panes);
        self.note_warnings(found.warnings);
        let mut events = Vec::new();
        let listed: HashSet<String> = found.specs.iter().map(|s| s.id.to_string()).collect();
        self.forgotten.retain(|id, _| listed.contains(id.as_str()));

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
            self.dirty = true;
        }

        let liveness = cfg.daemon.liveness_every;
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
                    let (evs, dirty) = w.check(&self.boot_id, now, liveness, &mut panes);
                    self.dirty |= dirty;
                    events.extend(evs);
                }
                None => {
                    let saved = self.restored.remove(spec.id.as_str());
                    let id = spec.id.clone();
                    let (w, evs) = Worker::start(spec, saved, &self.boot_id, now, &mut panes);
                    self.workers.insert(id, w);
                    events.extend(evs);
                    self.dirty = true;
                }
            }
        }
        // Tmux workers kept past their pane are checked too (their probe says pane_gone).
        for (id, w) in self.workers.iter_mut() {
            if !listed.contains(id.as_str()) {
                let (evs, dirty) = w.check(&self.boot_id, now, liveness, &mut panes);
                self.dirty |= dirty;
                events.extend(evs);
            }
        }
        // Known before a restart, not there now: their removal is news.
        for (id, s) in self.restored.drain() {
            if let Ok(id) = WorkerId::new(id) {
                events.push(Event::worker(
                    &id,
                    crate::event::EventKind::WorkerRemoved { last_state: s.tracker.state, why: "source_gone".into() },
                ));
                self.dirty = true;
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
        self.dirty |= dirty;
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
            self.dirty = true;
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

    pub fn take_dirty(&mut self) -> bool {
        std::mem::take(&mut self.dirty)
    }

    pub fn saved(&self, last_seq: u64) -> Saved {
        let mut workers: BTreeMap<String, SavedWorker> =
            self.workers.iter().map(|(id, w)| (id.to_string(), w.saved())).collect();
        // Saved state not yet matched (before the first sweep) must not be lost on save.
        for (id, s) in &self.restored {
            workers.entry(id.clone()).or_insert_with(|| s.clone());
        }
        Saved { schema: SCHEMA, last_seq, workers, forgotten: self.forgotten.clone(), ..Saved::default() }
    }
}

/// A worker discovered from a tmux pane whose pane is no longer there (or is dead).
fn pane_vanished(w: &Worker, panes: &mut Panes) -> bool {
    match &w.spec.process {
        ProcessSpec::Tmux { target, server, .. } if w.spec.source == Source::Tmux => !panes.alive(server, target),
        _ => false,
    }
}
