//! Alert hooks: what the daemon calls. `plan` decides which runs a batch of stamped events
//! asks for (pure), `dispatch` runs them off the loop, `run` is one process; outcomes come
//! back as reports that the daemon records as `hook` events.
//!
//! Delivery: the daemon plans a batch right after stamping it, saves `state.json` (which
//! holds every unfinished job), and only then hands the jobs over; a job leaves `state.json`
//! when its final outcome is recorded. Jobs left over from a previous run are handed over
//! with the first batch after a restart.

mod dispatch;
mod job;
mod outcome;
mod plan;
mod run;

pub use job::{Job, Trigger, WorkerCtx, label_key};
pub use outcome::{Outcome, Report, Skip};
pub use plan::{Reminder, SavedHooks};

use crate::config::HookSpec;
use crate::event::{Event, EventKind, Stamped};
use crate::model::WorkerId;
use dispatch::Dispatcher;
use plan::Planner;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::mpsc;

/// How long running hooks may go on after SIGTERM before they are killed and redelivered.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

pub struct Hooks {
    planner: Planner,
    /// Planned (and saved) but not yet handed to the dispatcher.
    outbox: Vec<Job>,
    /// Jobs restored from `state.json`, handed over with the first batch.
    restored: Option<Vec<Job>>,
    dispatcher: Dispatcher,
    reports_tx: mpsc::UnboundedSender<Report>,
    reports: mpsc::UnboundedReceiver<Report>,
    /// Runs that failed, timed out or could not start, for the status document's faults.
    pub faults: u64,
}

/// Why `next` woke the daemon.
pub enum Wake {
    Reports(Vec<Report>),
    RemindersDue,
}

impl Hooks {
    pub fn new(saved: SavedHooks, concurrency: usize) -> Hooks {
        let (reports_tx, reports) = mpsc::unbounded_channel();
        let planner = Planner::restore(saved);
        let restored = Some(planner.pending.values().cloned().collect());
        Hooks {
            planner,
            outbox: Vec::new(),
            restored,
            dispatcher: Dispatcher::new(concurrency, reports_tx.clone()),
            reports_tx,
            reports,
            faults: 0,
        }
    }

    pub fn saved(&self) -> SavedHooks {
        self.planner.saved()
    }

    /// Whether pending runs or reminders changed since the last call (the state must be saved).
    pub fn take_dirty(&mut self) -> bool {
        self.planner.take_dirty()
    }

    /// Plans the runs a recorded batch asks for; they are handed over by `dispatch`, after
    /// the caller saved the state. Runs skipped because the worker flaps are reported at once.
    pub fn plan(&mut self, batch: &[Stamped], hooks: &[HookSpec], ctx: &dyn Fn(&str) -> Option<WorkerCtx>) {
        if let Some(restored) = self.restored.take() {
            for j in &restored {
                let mut mark = self.planner.marks.get(&j.worker).copied().unwrap_or_default();
                mark.flapping = ctx(&j.worker).is_some_and(|c| c.flapping);
                self.planner.marks.insert(j.worker.clone(), mark);
                self.dispatcher.set_mark(&j.worker, mark);
            }
            self.outbox.extend(restored);
        }
        let planned = self.planner.plan(batch, hooks, ctx);
        for w in &planned.touched {
            self.dispatcher.set_mark(w, self.planner.marks[w]);
        }
        for r in planned.skipped {
            let _ = self.reports_tx.send(r);
        }
        self.outbox.extend(planned.jobs);
    }

    /// Hands planned jobs to their workers' lanes. A job whose hook left the config (after a
    /// restart or reload) is dropped with a warning.
    pub fn dispatch(&mut self, hooks: &[HookSpec]) {
        for job in std::mem::take(&mut self.outbox) {
            match hooks.iter().find(|h| h.name == job.hook) {
                Some(h) => self.dispatcher.push(job, Arc::new(h.clone())),
                None => {
                    tracing::warn!(worker = %job.worker, hook = %job.hook, seq = job.seq, "hook no longer configured; delivery dropped");
                    self.planner.drop_job(job.id);
                }
            }
        }
    }

    /// Waits for run reports or the next reminder; cancel-safe, for the daemon's `select!`.
    pub async fn next(&mut self) -> Wake {
        let due = self.planner.next_due().map(|t| {
            let wait = t.duration_since(SystemTime::now()).unwrap_or_default();
            tokio::time::Instant::now() + wait
        });
        tokio::select! {
            Some(r) = self.reports.recv() => {
                let mut all = vec![r];
                while let Ok(r) = self.reports.try_recv() {
                    all.push(r);
                }
                Wake::Reports(all)
            }
            _ = sleep_until(due) => Wake::RemindersDue,
        }
    }

    /// Turns what `next` returned into `hook` events to record (reports), or into planned
    /// `repeat` jobs (reminders; call `dispatch` after saving the state).
    pub fn settle(
        &mut self,
        wake: Wake,
        hooks: &[HookSpec],
        now: SystemTime,
        ctx: &dyn Fn(&str) -> Option<WorkerCtx>,
    ) -> Vec<Event> {
        match wake {
            Wake::Reports(reports) => reports.iter().filter_map(|r| self.report(r)).collect(),
            Wake::RemindersDue => {
                let jobs = self.planner.due(now, hooks, ctx);
                self.outbox.extend(jobs);
                Vec::new()
            }
        }
    }

    fn report(&mut self, r: &Report) -> Option<Event> {
        self.planner.settle(r);
        if matches!(r.outcome, Outcome::Failed { .. } | Outcome::Timeout | Outcome::SpawnError(_)) {
            self.faults += 1;
        }
        let worker = WorkerId::new(r.job.worker.clone()).ok()?;
        let exit_code = match r.outcome {
            Outcome::Failed { code, .. } => code,
            _ => None,
        };
        Some(Event::worker(
            &worker,
            EventKind::Hook {
                hook: r.job.hook.clone(),
                transition_seq: r.job.seq,
                outcome: r.outcome.name().to_string(),
                reason: r.outcome.reason(),
                exit_code,
                duration_ms: r.duration.as_millis() as u64,
                attempt: r.job.attempt,
            },
        ))
    }

    /// SIGTERM: running hooks get `SHUTDOWN_GRACE`, then are killed; returns the `hook`
    /// events of every run that ended meanwhile. Interrupted and queued jobs stay pending.
    pub async fn shutdown(&mut self) -> Vec<Event> {
        self.dispatcher.shutdown(SHUTDOWN_GRACE).await;
        let mut reports = Vec::new();
        while let Ok(r) = self.reports.try_recv() {
            reports.push(r);
        }
        reports.iter().filter_map(|r| self.report(r)).collect()
    }
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
