//! How a run ended, and what follows from it: done, retry after a backoff, or redeliver
//! after a restart. Pure.

use super::job::Job;
use std::time::Duration;

/// How a run ended; every run ends in exactly one of these and one `hook` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// A non-zero exit (`code`) or death by a signal the hook did not get from us.
    Failed {
        code: Option<i32>,
        signal: Option<i32>,
    },
    Timeout,
    SpawnError(String),
    Skipped(Skip),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    Flapping,
    Superseded,
    Shutdown,
}

impl Outcome {
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Failed { .. } => "failed",
            Outcome::Timeout => "timeout",
            Outcome::SpawnError(_) => "spawn_error",
            Outcome::Skipped(_) => "skipped",
        }
    }

    pub fn reason(&self) -> Option<String> {
        match self {
            Outcome::Failed { code: None, signal: Some(s) } => Some(format!("killed by signal {s}")),
            Outcome::SpawnError(msg) => Some(msg.clone()),
            Outcome::Skipped(Skip::Flapping) => Some("flapping".into()),
            Outcome::Skipped(Skip::Superseded) => Some("superseded".into()),
            Outcome::Skipped(Skip::Shutdown) => Some("shutdown".into()),
            _ => None,
        }
    }
}

/// What happens to a job after one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Finished: never run again, not even after a restart.
    Done,
    /// Run attempt + 1 after this delay.
    Retry(Duration),
    /// Interrupted by shutdown: kept in `state.json`, run again after the restart.
    Redeliver,
}

/// Exponential backoff from 1 s: attempt 1 failed → 1 s, 2 → 2 s, 3 → 4 s … (capped at ~1 h).
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_secs(1 << attempt.saturating_sub(1).min(12))
}

pub fn next(outcome: &Outcome, attempt: u32, retries: u32) -> Next {
    match outcome {
        Outcome::Ok | Outcome::Skipped(Skip::Flapping | Skip::Superseded) => Next::Done,
        Outcome::Skipped(Skip::Shutdown) => Next::Redeliver,
        Outcome::Failed { .. } | Outcome::Timeout | Outcome::SpawnError(_) if attempt <= retries => {
            Next::Retry(backoff(attempt))
        }
        _ => Next::Done,
    }
}

/// A run that happened (or was skipped), as reported back to the daemon.
#[derive(Debug, Clone)]
pub struct Report {
    /// The job as it ran; `attempt` is this run's attempt.
    pub job: Job,
    pub outcome: Outcome,
    pub duration: Duration,
    pub next: Next,
}
