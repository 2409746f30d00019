//! One hook delivery as a value: which hook, for which worker and event, with the exact
//! environment and standard input it gets. Jobs are what `state.json` keeps until they finish.

use crate::model::{Reason, State};
use crate::monitor::Worker;
use crate::timefmt::rfc3339;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

/// `PULSEWATCH_EVENT`: why the hook runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    Transition,
    Repeat,
    FlapEnd,
    /// A `reason_changed` event matched a `STATE/REASON` pattern.
    ReasonChanged,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Transition => "transition",
            Trigger::Repeat => "repeat",
            Trigger::FlapEnd => "flap_end",
            Trigger::ReasonChanged => "reason_changed",
        }
    }
}

/// What a worker looks like now, for the values an event does not carry itself
/// (`worker_added` has no pid or log; reminders and `flap_end` describe the present).
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerCtx {
    pub state: State,
    pub reason: Reason,
    pub flapping: bool,
    pub idle_for: Duration,
    pub pid: Option<i32>,
    pub log: String,
    pub labels: BTreeMap<String, String>,
}

impl WorkerCtx {
    pub fn of(w: &Worker) -> WorkerCtx {
        WorkerCtx {
            state: w.tracker.state,
            reason: w.tracker.reason,
            flapping: w.tracker.flap.flapping,
            idle_for: w.view.verdict.idle_for,
            pid: w.view.process.pid(),
            log: w.spec.log.display().to_string(),
            labels: w.spec.labels.clone(),
        }
    }
}

/// The state a delivery is about, as the hook sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Facts<'a> {
    pub trigger: Trigger,
    pub worker: &'a str,
    pub prev: Option<State>,
    pub state: State,
    pub reason: Reason,
    pub idle_for_s: f64,
    pub pid: Option<i32>,
    pub log: &'a str,
    pub seq: u64,
    pub ts: SystemTime,
    pub labels: &'a BTreeMap<String, String>,
}

/// One delivery of one hook. `attempt` is the attempt the next run will be.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub id: u64,
    pub hook: String,
    pub worker: String,
    /// The seq of the event the hook is about (`PULSEWATCH_SEQ`, the `hook` event's `transition_seq`).
    pub seq: u64,
    pub trigger: Trigger,
    /// Every `PULSEWATCH_*` variable except `PULSEWATCH_ATTEMPT`, fixed when the job is planned.
    pub env: Vec<(String, String)>,
    /// The event's JSON line.
    pub stdin: String,
    pub attempt: u32,
}

impl Job {
    pub fn new(id: u64, hook: &str, f: &Facts, stdin: &str) -> Job {
        Job {
            id,
            hook: hook.to_string(),
            worker: f.worker.to_string(),
            seq: f.seq,
            trigger: f.trigger,
            env: environment(hook, f),
            stdin: stdin.to_string(),
            attempt: 1,
        }
    }
}

/// The contract's `PULSEWATCH_*` values. Unknown values (no pid) are empty strings, so a
/// script running under `set -u` still finds every variable.
fn environment(hook: &str, f: &Facts) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = [
        ("EVENT", f.trigger.as_str().to_string()),
        ("WORKER", f.worker.to_string()),
        ("STATE", f.state.to_string()),
        ("PREV_STATE", f.prev.map_or("none".to_string(), |s| s.to_string())),
        ("REASON", f.reason.to_string()),
        ("IDLE_FOR_S", format!("{}", f.idle_for_s)),
        ("PID", f.pid.map_or(String::new(), |p| p.to_string())),
        ("LOG", f.log.to_string()),
        ("SEQ", f.seq.to_string()),
        ("TS", rfc3339(f.ts)),
        ("HOOK", hook.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (format!("PULSEWATCH_{k}"), v))
    .collect();
    env.extend(f.labels.iter().map(|(k, v)| (format!("PULSEWATCH_LABEL_{}", label_key(k)), v.clone())));
    env
}

/// `on-call` → `ON_CALL`: label keys upper-cased, anything outside `[A-Z0-9_]` becomes `_`.
pub fn label_key(k: &str) -> String {
    k.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_values() {
        let labels = BTreeMap::from([("team".to_string(), "infra".to_string()), ("on-call".into(), "$(x)".into())]);
        let f = Facts {
            trigger: Trigger::Transition,
            worker: "w1",
            prev: None,
            state: State::Stalled,
            reason: Reason::NoLog,
            idle_for_s: 130.25,
            pid: None,
            log: "/l/a;b.log",
            seq: 42,
            ts: SystemTime::UNIX_EPOCH,
            labels: &labels,
        };
        let j = Job::new(7, "page", &f, "{}");
        let env: BTreeMap<_, _> = j.env.iter().cloned().collect();
        let get = |k: &str| env.get(&format!("PULSEWATCH_{k}")).map(String::as_str);
        assert_eq!(get("EVENT"), Some("transition"));
        assert_eq!(get("PREV_STATE"), Some("none"));
        assert_eq!(get("STATE"), Some("stalled"));
        assert_eq!(get("REASON"), Some("no_log"));
        assert_eq!(get("IDLE_FOR_S"), Some("130.25"));
        assert_eq!(get("PID"), Some(""));
        assert_eq!(get("LOG"), Some("/l/a;b.log"));
        assert_eq!(get("SEQ"), Some("42"));
        assert_eq!(get("TS"), Some("1970-01-01T00:00:00.000Z"));
        assert_eq!(get("HOOK"), Some("page"));
        assert_eq!(get("LABEL_TEAM"), Some("infra"));
        assert_eq!(get("LABEL_ON_CALL"), Some("$(x)"));
        assert!(get("ATTEMPT").is_none(), "added per run");
        assert_eq!((j.attempt, j.seq, j.trigger), (1, 42, Trigger::Transition));
    }
}
