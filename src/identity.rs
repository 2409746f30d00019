//! Process identity, pure: decides from raw /proc facts and the identity recorded at first
//! sight whether a worker's process is still the one we started watching.

use crate::model::Reason;
use serde::{Deserialize, Serialize};

/// What makes a process *this* process: a PID alone is recycled, a PID with its start time
/// (in clock ticks since boot) within one boot is not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub pid: i32,
    pub start_ticks: u64,
    pub boot_id: String,
}

/// What the kernel said about one PID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PidFacts {
    Running {
        state: u8,
        start_ticks: u64,
    },
    NoProcess,
    /// The process exists but is not ours to inspect (EPERM, hidepid): alive, identity unknown.
    Hidden,
}

/// Where the process of a worker was looked up, as the probe found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProcessInput {
    NotConfigured,
    /// The pidfile is gone, empty or holds no PID.
    PidfileUnusable,
    /// The tmux pane no longer exists or is dead.
    PaneGone,
    Pid {
        pid: i32,
        facts: PidFacts,
    },
}

/// The verdict on the process, ready for classification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessObs {
    NotConfigured,
    Alive { pid: i32, start_ticks: Option<u64> },
    Gone { pid: Option<i32>, reason: Reason },
}

impl ProcessObs {
    pub fn pid(&self) -> Option<i32> {
        match *self {
            ProcessObs::NotConfigured => None,
            ProcessObs::Alive { pid, .. } => Some(pid),
            ProcessObs::Gone { pid, .. } => pid,
        }
    }

    /// `None` when the worker has no process (status shows `pid_alive: null`).
    pub fn alive(&self) -> Option<bool> {
        match self {
            ProcessObs::NotConfigured => None,
            ProcessObs::Alive { .. } => Some(true),
            ProcessObs::Gone { .. } => Some(false),
        }
    }
}

/// Judges `input` against the identity recorded for the worker. Returns the verdict and the
/// identity to record from now on. The same PID with another start time or boot id is a
/// reuse (after a reboot, the number in a config or an unchanged pidfile names whatever
/// process got it this time); a PID that differs from the recorded one is a restart (the
/// pidfile was rewritten), not a reuse.
pub fn judge(input: &ProcessInput, recorded: Option<&Identity>, boot_id: &str) -> (ProcessObs, Option<Identity>) {
    let keep = recorded.cloned();
    let recorded_pid = recorded.map(|r| r.pid);
    match *input {
        ProcessInput::NotConfigured => (ProcessObs::NotConfigured, keep),
        ProcessInput::PidfileUnusable => (ProcessObs::Gone { pid: recorded_pid, reason: Reason::PidfileMissing }, keep),
        ProcessInput::PaneGone => (ProcessObs::Gone { pid: recorded_pid, reason: Reason::PaneGone }, keep),
        ProcessInput::Pid { pid, facts: PidFacts::NoProcess } => {
            (ProcessObs::Gone { pid: Some(pid), reason: Reason::PidExited }, keep)
        }
        ProcessInput::Pid { pid, facts: PidFacts::Hidden } => (ProcessObs::Alive { pid, start_ticks: None }, keep),
        ProcessInput::Pid { pid, facts: PidFacts::Running { state, start_ticks } } => {
            if let Some(r) = recorded.filter(|r| r.pid == pid) {
                if r.start_ticks != start_ticks || r.boot_id != boot_id {
                    return (ProcessObs::Gone { pid: Some(pid), reason: Reason::PidReused }, keep);
                }
            }
            let record = Identity { pid, start_ticks, boot_id: boot_id.to_string() };
            // 'X' (dead) shows for a moment while the parent reaps the zombie: already gone.
            let obs = if state == b'Z' {
                ProcessObs::Gone { pid: Some(pid), reason: Reason::PidZombie }
            } else if state == b'X' || state == b'x' {
                ProcessObs::Gone { pid: Some(pid), reason: Reason::PidExited }
            } else {
                ProcessObs::Alive { pid, start_ticks: Some(start_ticks) }
            };
            (obs, Some(record))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(pid: i32, start: u64, boot: &str) -> Identity {
        Identity { pid, start_ticks: start, boot_id: boot.into() }
    }
    fn run(pid: i32, start: u64) -> ProcessInput {
        ProcessInput::Pid { pid, facts: PidFacts::Running { state: b'S', start_ticks: start } }
    }
    fn gone(pid: Option<i32>, reason: Reason) -> ProcessObs {
        ProcessObs::Gone { pid, reason }
    }

    #[test]
    fn table() {
        let alive = |pid, s| ProcessObs::Alive { pid, start_ticks: Some(s) };
        let zombie = ProcessInput::Pid { pid: 7, facts: PidFacts::Running { state: b'Z', start_ticks: 10 } };
        let reaping = ProcessInput::Pid { pid: 7, facts: PidFacts::Running { state: b'X', start_ticks: 10 } };
        #[rustfmt::skip]
        let cases: Vec<(&str, ProcessInput, Option<Identity>, ProcessObs, Option<Identity>)> = vec![
            ("first sight records", run(7, 10), None, alive(7, 10), Some(id(7, 10, "b"))),
            ("same identity", run(7, 10), Some(id(7, 10, "b")), alive(7, 10), Some(id(7, 10, "b"))),
            ("reused pid", run(7, 99), Some(id(7, 10, "b")), gone(Some(7), Reason::PidReused), Some(id(7, 10, "b"))),
            ("new pid is a restart", run(8, 99), Some(id(7, 10, "b")), alive(8, 99), Some(id(8, 99, "b"))),
            ("same pid after a reboot", run(7, 99), Some(id(7, 10, "old")), gone(Some(7), Reason::PidReused), Some(id(7, 10, "old"))),
            ("same pid and ticks after a reboot", run(7, 10), Some(id(7, 10, "old")), gone(Some(7), Reason::PidReused), Some(id(7, 10, "old"))),
            ("new pid after a reboot is a restart", run(8, 99), Some(id(7, 10, "old")), alive(8, 99), Some(id(8, 99, "b"))),
            ("exited", ProcessInput::Pid { pid: 7, facts: PidFacts::NoProcess }, Some(id(7, 10, "b")), gone(Some(7), Reason::PidExited), Some(id(7, 10, "b"))),
            ("zombie", zombie, None, gone(Some(7), Reason::PidZombie), Some(id(7, 10, "b"))),
            ("dead, being reaped", reaping, None, gone(Some(7), Reason::PidExited), Some(id(7, 10, "b"))),
            ("eperm is alive", ProcessInput::Pid { pid: 7, facts: PidFacts::Hidden }, None, ProcessObs::Alive { pid: 7, start_ticks: None }, None),
            ("pidfile missing", ProcessInput::PidfileUnusable, Some(id(7, 10, "b")), gone(Some(7), Reason::PidfileMissing), Some(id(7, 10, "b"))),
            ("pane gone", ProcessInput::PaneGone, None, gone(None, Reason::PaneGone), None),
            ("no process configured", ProcessInput::NotConfigured, None, ProcessObs::NotConfigured, None),
        ];
        for (name, input, recorded, want, want_record) in cases {
            let (got, rec) = judge(&input, recorded.as_ref(), "b");
            assert_eq!(got, want, "{name}");
            assert_eq!(rec, want_record, "{name}: record");
        }
    }
}
