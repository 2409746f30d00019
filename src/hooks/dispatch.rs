//! Running jobs off the classification loop: one ordered lane per worker, a global limit of
//! `hook_concurrency` runs, retries with backoff, and the shutdown grace. Every run is
//! reported on a channel the daemon loop reads.

use super::job::Job;
use super::outcome::{self, Next, Outcome, Report};
use super::plan::{self, Mark};
use super::run;
use crate::config::HookSpec;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Running,
    /// Shutting down: start nothing new, let running hooks finish.
    Stopping,
    /// The grace is over: kill what still runs.
    Kill,
}

struct Shared {
    permits: Semaphore,
    marks: Mutex<HashMap<String, Mark>>,
    phase: watch::Sender<Phase>,
    reports: mpsc::UnboundedSender<Report>,
    /// Spawn errors already logged at error level (each is told once).
    told: Mutex<HashSet<String>>,
}

#[derive(Default)]
struct Lane {
    queue: VecDeque<(Job, Arc<HookSpec>)>,
    active: bool,
}

pub struct Dispatcher {
    shared: Arc<Shared>,
    lanes: HashMap<String, Arc<Mutex<Lane>>>,
    tasks: JoinSet<()>,
}

impl Dispatcher {
    pub fn new(concurrency: usize, reports: mpsc::UnboundedSender<Report>) -> Dispatcher {
        let shared = Shared {
            permits: Semaphore::new(concurrency),
            marks: Mutex::new(HashMap::new()),
            phase: watch::Sender::new(Phase::Running),
            reports,
            told: Mutex::new(HashSet::new()),
        };
        Dispatcher { shared: Arc::new(shared), lanes: HashMap::new(), tasks: JoinSet::new() }
    }

    pub fn set_mark(&self, worker: &str, mark: Mark) {
        self.shared.marks.lock().expect("marks lock").insert(worker.to_string(), mark);
    }

    /// Queues a job behind the worker's earlier ones; never waits.
    pub fn push(&mut self, job: Job, spec: Arc<HookSpec>) {
        while self.tasks.try_join_next().is_some() {}
        let lane = self.lanes.entry(job.worker.clone()).or_default().clone();
        let mut l = lane.lock().expect("lane lock");
        l.queue.push_back((job, spec));
        if !l.active {
            l.active = true;
            self.tasks.spawn(drive(lane.clone(), self.shared.clone()));
        }
        drop(l);
        self.lanes.retain(|_, l| l.lock().expect("lane lock").active);
    }

    /// Stops starting runs, gives running ones `grace` to end, then kills the rest (they
    /// report `skipped`/`shutdown`). Returns when no lane is left.
    pub async fn shutdown(&mut self, grace: Duration) {
        self.shared.phase.send_replace(Phase::Stopping);
        let _ = tokio::time::timeout(grace, async { while self.tasks.join_next().await.is_some() {} }).await;
        self.shared.phase.send_replace(Phase::Kill);
        while self.tasks.join_next().await.is_some() {}
    }
}

/// Runs a worker's lane until it is empty (or the daemon stops). Jobs left behind stay
/// pending in the planner, so they are delivered after a restart.
async fn drive(lane: Arc<Mutex<Lane>>, shared: Arc<Shared>) {
    let mut phase = shared.phase.subscribe();
    loop {
        let next = {
            let mut l = lane.lock().expect("lane lock");
            let next = l.queue.pop_front();
            l.active = next.is_some();
            next
        };
        let Some((mut job, spec)) = next else { return };
        loop {
            let permit = tokio::select! {
                p = shared.permits.acquire() => p.expect("the semaphore is never closed"),
                _ = phase.wait_for(|p| *p != Phase::Running) => return,
            };
            if *phase.borrow() != Phase::Running {
                return;
            }
            let mark = shared.marks.lock().expect("marks lock").get(&job.worker).copied().unwrap_or_default();
            let started = tokio::time::Instant::now();
            let outcome = match plan::start_check(&job, mark) {
                Some(skip) => Outcome::Skipped(skip),
                None => run::run(&job, &spec, phase.clone()).await,
            };
            drop(permit);
            let next = outcome::next(&outcome, job.attempt, spec.retries);
            tell(&shared, &job, &outcome, next);
            let report = Report { job: job.clone(), outcome, duration: started.elapsed(), next };
            if shared.reports.send(report).is_err() {
                return;
            }
            let Next::Retry(after) = next else { break };
            tokio::select! {
                _ = tokio::time::sleep(after) => {}
                _ = phase.wait_for(|p| *p != Phase::Running) => return,
            }
            job.attempt += 1;
        }
    }
}

/// Logs an outcome with the worker and hook names; a spawn error at error level only once.
fn tell(shared: &Shared, job: &Job, outcome: &Outcome, next: Next) {
    let (worker, hook, attempt) = (&job.worker, &job.hook, job.attempt);
    let retry = match next {
        Next::Retry(d) => format!("; retrying in {}", humantime::format_duration(d)),
        _ => String::new(),
    };
    match outcome {
        Outcome::Ok => tracing::info!(%worker, %hook, attempt, "hook ok"),
        Outcome::Failed { code, signal } => {
            tracing::warn!(%worker, %hook, attempt, ?code, ?signal, "hook failed{retry}")
        }
        Outcome::Timeout => tracing::warn!(%worker, %hook, attempt, "hook timed out and was killed{retry}"),
        Outcome::SpawnError(msg) => {
            if shared.told.lock().expect("told lock").insert(format!("{hook}\0{msg}")) {
                tracing::error!(%worker, %hook, attempt, "hook cannot run: {msg}{retry}");
            } else {
                tracing::debug!(%worker, %hook, attempt, "hook cannot run: {msg}{retry}");
            }
        }
        Outcome::Skipped(_) => {
            tracing::info!(%worker, %hook, attempt, reason = outcome.reason().unwrap_or_default(), "hook skipped")
        }
    }
}
