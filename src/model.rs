//! The vocabulary every module shares: states, reasons, sources, worker ids and thresholds.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// The four states of the contract, in order of increasing trouble.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Alive,
    Quiet,
    Stalled,
    Orphaned,
}

impl State {
    pub const ALL: [State; 4] = [State::Alive, State::Quiet, State::Stalled, State::Orphaned];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Alive => "alive",
            State::Quiet => "quiet",
            State::Stalled => "stalled",
            State::Orphaned => "orphaned",
        }
    }

    pub fn parse(s: &str) -> Option<State> {
        State::ALL.into_iter().find(|st| st.as_str() == s)
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a worker is in its state. The content-mode reasons (`awaiting_input`, `idle_prompt`,
/// `pipe_broken`) only refine the reason; the state rules still decide the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    Starting,
    NoLog,
    Output,
    NoOutput,
    PidExited,
    PidZombie,
    PidReused,
    PidfileMissing,
    PaneGone,
    AwaitingInput,
    IdlePrompt,
    PipeBroken,
}

impl Reason {
    pub const ALL: [Reason; 12] = [
        Reason::Starting,
        Reason::NoLog,
        Reason::Output,
        Reason::NoOutput,
        Reason::PidExited,
        Reason::PidZombie,
        Reason::PidReused,
        Reason::PidfileMissing,
        Reason::PaneGone,
        Reason::AwaitingInput,
        Reason::IdlePrompt,
        Reason::PipeBroken,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Starting => "starting",
            Reason::NoLog => "no_log",
            Reason::Output => "output",
            Reason::NoOutput => "no_output",
            Reason::PidExited => "pid_exited",
            Reason::PidZombie => "pid_zombie",
            Reason::PidReused => "pid_reused",
            Reason::PidfileMissing => "pidfile_missing",
            Reason::PaneGone => "pane_gone",
            Reason::AwaitingInput => "awaiting_input",
            Reason::IdlePrompt => "idle_prompt",
            Reason::PipeBroken => "pipe_broken",
        }
    }

    pub fn parse(s: &str) -> Option<Reason> {
        Reason::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a worker definition came from; also the precedence order when two sources name the
/// same id (earlier wins).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Config,
    Registry,
    Tmux,
    Glob,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Config => "config",
            Source::Registry => "registry",
            Source::Tmux => "tmux",
            Source::Glob => "glob",
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A worker id: 1–128 characters of `[A-Za-z0-9._:@+-]`. The restriction is what lets ids
/// appear in paths, metrics labels and hook environments without any quoting.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WorkerId(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid worker id {0:?}: use 1-128 characters of A-Z a-z 0-9 . _ : @ + -")]
pub struct InvalidId(pub String);

impl WorkerId {
    pub fn new(s: impl Into<String>) -> Result<WorkerId, InvalidId> {
        let s = s.into();
        let ok =
            !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._:@+-".contains(&b));
        if ok { Ok(WorkerId(s)) } else { Err(InvalidId(s)) }
    }

    /// Maps arbitrary text (a tmux session name, say) onto the id alphabet.
    pub fn sanitize(s: &str) -> Result<WorkerId, InvalidId> {
        let cleaned: String = s
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || "._:@+-".contains(c) { c } else { '_' })
            .take(128)
            .collect();
        WorkerId::new(cleaned)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for WorkerId {
    type Error = InvalidId;
    fn try_from(s: String) -> Result<Self, InvalidId> {
        WorkerId::new(s)
    }
}

impl From<WorkerId> for String {
    fn from(id: WorkerId) -> String {
        id.0
    }
}

impl fmt::Display for WorkerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::borrow::Borrow<str> for WorkerId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

/// The per-worker time limits of the classification rules and of flap detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    pub quiet_after: Duration,
    pub stalled_after: Duration,
    pub start_grace: Duration,
    pub flap_window: Duration,
    pub flap_threshold: u32,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            quiet_after: Duration::from_secs(120),
            stalled_after: Duration::from_secs(900),
            start_grace: Duration::from_secs(120),
            flap_window: Duration::from_secs(600),
            flap_threshold: 6,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        for ok in ["a", "agent-1", "x.y_z:w@h+1", &"a".repeat(128)] {
            assert!(WorkerId::new(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a b", "$(touch /tmp/x)", "a/b", "ü", &"a".repeat(129)] {
            assert!(WorkerId::new(bad).is_err(), "{bad}");
        }
        assert_eq!(WorkerId::sanitize("my session/1").unwrap().as_str(), "my_session_1");
    }

    #[test]
    fn names_round_trip() {
        for s in State::ALL {
            assert_eq!(State::parse(s.as_str()), Some(s));
        }
        for r in Reason::ALL {
            assert_eq!(Reason::parse(r.as_str()), Some(r));
            let json = serde_json::to_string(&r).unwrap();
            assert_eq!(json, format!("\"{}\"", r.as_str()));
        }
    }
}
