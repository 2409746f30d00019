//! The events of the contract's event log, as values the engine produces and sinks consume.

use crate::model::{Reason, Source, State, WorkerId};
use serde::Serialize;
use std::time::SystemTime;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EventKind {
    DaemonStarted {
        pid: u32,
        version: String,
        workers: usize,
    },
    DaemonStopping {
        reason: String,
    },
    ConfigReloaded {},
    ConfigRejected {
        error: String,
    },
    WorkerAdded {
        state: State,
        reason: Reason,
        source: Source,
    },
    WorkerRemoved {
        last_state: State,
        why: String,
    },
    Transition {
        from: State,
        to: State,
        reason: Reason,
        idle_for_s: f64,
        pid: Option<i32>,
        pid_alive: Option<bool>,
        log: String,
        log_size: Option<u64>,
    },
    ReasonChanged {
        state: State,
        from_reason: Reason,
        to_reason: Reason,
    },
    Repiped {},
    Liveness {
        state: State,
        pid_alive: Option<bool>,
        idle_for_s: f64,
        since_last_output_s: Option<f64>,
        /// Since the log's mtime; differs from `since_last_output_s` in content mode.
        since_last_write_s: Option<f64>,
        log_size: Option<u64>,
        bytes_delta: i64,
    },
    FlappingStarted {
        transitions: u32,
        window_s: f64,
    },
    FlappingStopped {
        transitions: u32,
        window_s: f64,
    },
    Hook {
        hook: String,
        transition_seq: u64,
        outcome: String,
        reason: Option<String>,
        exit_code: Option<i32>,
        duration_ms: u64,
        attempt: u32,
    },
}

impl EventKind {
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::DaemonStarted { .. } => "daemon_started",
            EventKind::DaemonStopping { .. } => "daemon_stopping",
            EventKind::ConfigReloaded {} => "config_reloaded",
            EventKind::ConfigRejected { .. } => "config_rejected",
            EventKind::WorkerAdded { .. } => "worker_added",
            EventKind::WorkerRemoved { .. } => "worker_removed",
            EventKind::Transition { .. } => "transition",
            EventKind::ReasonChanged { .. } => "reason_changed",
            EventKind::Repiped {} => "repiped",
            EventKind::Liveness { .. } => "liveness",
            EventKind::FlappingStarted { .. } => "flapping_started",
            EventKind::FlappingStopped { .. } => "flapping_stopped",
            EventKind::Hook { .. } => "hook",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub worker: Option<WorkerId>,
    pub kind: EventKind,
}

impl Event {
    pub fn daemon(kind: EventKind) -> Event {
        Event { worker: None, kind }
    }

    pub fn worker(id: &WorkerId, kind: EventKind) -> Event {
        Event { worker: Some(id.clone()), kind }
    }
}

/// One line of the event log, as written.
#[derive(Serialize)]
struct Line<'a> {
    v: u8,
    seq: u64,
    ts: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    worker: Option<&'a str>,
    #[serde(flatten)]
    kind: &'a EventKind,
}

/// An event with its place in the log: what hooks and metrics receive.
#[derive(Debug, Clone)]
pub struct Stamped {
    pub seq: u64,
    pub ts: SystemTime,
    pub event: Event,
    /// The exact JSON line (without newline), as a hook's standard input.
    pub line: String,
}

impl Stamped {
    pub fn new(seq: u64, ts: SystemTime, event: Event) -> Stamped {
        let line = serde_json::to_string(&Line {
            v: 1,
            seq,
            ts: crate::timefmt::rfc3339(ts),
            worker: event.worker.as_ref().map(WorkerId::as_str),
            kind: &event.kind,
        })
        .expect("events serialize");
        Stamped { seq, ts, event, line }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_shape() {
        let id = WorkerId::new("w1").unwrap();
        let e = Event::worker(
            &id,
            EventKind::WorkerAdded { state: State::Quiet, reason: Reason::NoOutput, source: Source::Glob },
        );
        let s = Stamped::new(7, SystemTime::UNIX_EPOCH, e);
        let v: serde_json::Value = serde_json::from_str(&s.line).unwrap();
        assert_eq!(v["v"], 1);
        assert_eq!(v["seq"], 7);
        assert_eq!(v["ts"], "1970-01-01T00:00:00.000Z");
        assert_eq!(v["event"], "worker_added");
        assert_eq!(v["worker"], "w1");
        assert_eq!(v["state"], "quiet");
        assert_eq!(v["source"], "glob");
        let d = Stamped::new(8, SystemTime::UNIX_EPOCH, Event::daemon(EventKind::ConfigReloaded {}));
        assert_eq!(d.line, r#"{"v":1,"seq":8,"ts":"1970-01-01T00:00:00.000Z","event":"config_reloaded"}"#);
    }
}
