//! Resolved configuration: what the rest of pulsewatch reads, after lookup and validation.

mod load;
pub mod paths;
mod presets;
mod raw;
mod resolve;
pub mod strict;

pub use load::{ConfigError, DEFAULT_CONFIG, load, load_embedded, load_file, load_str, parse_worker_entry};
pub use presets::PresetLibrary;

use crate::content::Rules;
use crate::model::{Reason, Source, State, Thresholds, WorkerId};
use globset::GlobSet;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Config {
    /// The file it came from; `None` for the embedded default.
    pub path: Option<PathBuf>,
    pub daemon: DaemonSettings,
    pub defaults: WorkerSettings,
    pub workers: Vec<WorkerSpec>,
    pub discover: Vec<DiscoverSpec>,
    pub hooks: Vec<HookSpec>,
    /// The embedded presets and those of `[daemon] presets_dir`, validated.
    pub presets: Arc<PresetLibrary>,
}

impl Config {
    pub fn describe_source(&self) -> String {
        match &self.path {
            Some(p) => p.display().to_string(),
            None => "(embedded default)".to_string(),
        }
    }

    /// The directory `attach` registers into: the first registry source, else the default.
    pub fn registry_dir(&self) -> PathBuf {
        self.registry().dir
    }

    /// The first registry source, else the default one (`<state dir>/workers`).
    pub fn registry(&self) -> RegistrySource {
        self.discover
            .iter()
            .find_map(|d| match d {
                DiscoverSpec::Registry(r) => Some(r.clone()),
                _ => None,
            })
            .unwrap_or_else(|| RegistrySource {
                dir: self.daemon.state_dir.join("workers"),
                settings: Arc::new(self.defaults.clone()),
                labels: BTreeMap::new(),
                presets: self.presets.clone(),
            })
    }
}

#[derive(Debug, Clone)]
pub struct DaemonSettings {
    pub sweep_interval: Duration,
    pub state_dir: PathBuf,
    pub status_file: PathBuf,
    pub event_log: PathBuf,
    pub heartbeat_file: PathBuf,
    pub heartbeat_interval: Duration,
    /// `None` when liveness events are off (`"0s"`).
    pub liveness_every: Option<Duration>,
    pub forget_after: Duration,
    pub hook_concurrency: usize,
    pub listen: Option<SocketAddr>,
    pub auth_token_file: Option<PathBuf>,
    pub textfile: Option<PathBuf>,
    pub presets_dir: Option<PathBuf>,
}

/// Which clock a worker is judged by: the log's mtime, or meaningful content in it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activity {
    #[default]
    Mtime,
    Content,
}

impl Activity {
    pub fn as_str(self) -> &'static str {
        match self {
            Activity::Mtime => "mtime",
            Activity::Content => "content",
        }
    }
}

/// Everything a worker may override; `[defaults]` gives the base.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerSettings {
    pub thresholds: Thresholds,
    pub activity: Activity,
    pub ignore_preset: String,
    pub ignore: Vec<String>,
    pub min_new_chars: u32,
    /// `ignore_preset`, `ignore` and `min_new_chars`, compiled (content mode judges with it).
    pub rules: Arc<Rules>,
    pub input_after: Duration,
    pub repipe: bool,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        WorkerSettings {
            thresholds: Thresholds::default(),
            activity: Activity::Mtime,
            ignore_preset: "spinners".into(),
            ignore: Vec::new(),
            min_new_chars: 1,
            rules: default_rules(),
            input_after: Duration::from_secs(10),
            repipe: false,
        }
    }
}

/// The rules of the default settings: the embedded `spinners` preset, nothing else.
fn default_rules() -> Arc<Rules> {
    static RULES: OnceLock<Arc<Rules>> = OnceLock::new();
    RULES
        .get_or_init(|| {
            let preset = PresetLibrary::embedded().get("spinners").expect("embedded spinners preset").clone();
            Arc::new(Rules::new(preset, Vec::new(), 1).expect("no patterns to fail"))
        })
        .clone()
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TmuxServer {
    Default,
    /// `tmux -L NAME`
    Name(String),
    /// `tmux -S PATH`
    Socket(PathBuf),
}

impl TmuxServer {
    /// `"default"`, an absolute socket path, or a `-L` name.
    pub fn parse(s: &str) -> TmuxServer {
        if s.is_empty() || s == "default" {
            TmuxServer::Default
        } else if s.contains('/') {
            TmuxServer::Socket(PathBuf::from(s))
        } else {
            TmuxServer::Name(s.to_string())
        }
    }
}

impl std::fmt::Display for TmuxServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TmuxServer::Default => f.write_str("default"),
            TmuxServer::Name(n) => f.write_str(n),
            TmuxServer::Socket(p) => write!(f, "{}", p.display()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProcessSpec {
    None,
    Pid(i32),
    Pidfile(PathBuf),
    Tmux {
        target: String,
        server: TmuxServer,
        /// The `pipe-pane` command feeding the log (`tmux_pipe`, written by `attach`), so
        /// the pipe can be told apart and re-run.
        pipe: Option<String>,
        /// The pane's process when it was attached (`tmux_pane_pid`): tells a pane id that
        /// a restarted server handed out again from the pane that was attached.
        pane_pid: Option<i32>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct WorkerSpec {
    pub id: WorkerId,
    pub log: PathBuf,
    pub process: ProcessSpec,
    pub source: Source,
    /// Shared with the source that listed the worker and its other workers: a glob's 10,000
    /// workers hold one copy, not 10,000.
    pub settings: Arc<WorkerSettings>,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
pub enum DiscoverSpec {
    Glob(GlobSource),
    Tmux(TmuxSource),
    Registry(RegistrySource),
}

#[derive(Debug, Clone)]
pub struct GlobSource {
    /// The expanded pattern, e.g. `/home/me/.cistern/session-logs/*.log`.
    pub pattern: String,
    /// Template with `{stem}` and `{name}`.
    pub id: String,
    pub pidfile: Option<String>,
    pub settings: Arc<WorkerSettings>,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
pub struct TmuxSource {
    pub server: TmuxServer,
    /// Templates with `{session}`, `{window}`, `{pane}`, `{pane_id}`.
    pub log: String,
    pub id: String,
    pub only_piped: bool,
    pub settings: Arc<WorkerSettings>,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
pub struct RegistrySource {
    pub dir: PathBuf,
    /// The base that each entry's own overrides apply to.
    pub settings: Arc<WorkerSettings>,
    pub labels: BTreeMap<String, String>,
    /// The presets an entry's `ignore_preset` may name.
    pub presets: Arc<PresetLibrary>,
}

#[derive(Debug, Clone)]
pub struct HookSpec {
    pub name: String,
    pub command: Vec<String>,
    pub on: Vec<OnPattern>,
    /// Id globs as written, and compiled; `None` matches every worker.
    pub workers: Option<(Vec<String>, GlobSet)>,
    pub timeout: Duration,
    pub retries: u32,
    pub repeat: Option<Duration>,
}

impl HookSpec {
    pub fn matches_worker(&self, id: &str) -> bool {
        self.workers.as_ref().is_none_or(|(_, set)| set.is_match(id))
    }

    /// `from` is `None` for a worker's first state (`worker_added`, i.e. `none->STATE`).
    pub fn matches(&self, from: Option<State>, to: State, reason: Reason) -> bool {
        self.on.iter().any(|p| p.matches(from, to, reason))
    }
}

/// One entry of a hook's `on` list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnPattern {
    /// `"*"`
    Any,
    /// `"stalled"`
    To(State),
    /// `"FROM->TO"`; `from`: `Some(None)` is `none`, `None` is `*`; `to`: `None` is `*`.
    Transition { from: Option<Option<State>>, to: Option<State> },
    /// `"STATE/REASON"`; `state: None` is `*`.
    StateReason { state: Option<State>, reason: Reason },
}

impl OnPattern {
    pub fn parse(s: &str) -> Result<OnPattern, String> {
        let state = |w: &str| -> Result<Option<State>, String> {
            if w == "*" {
                return Ok(None);
            }
            State::parse(w)
                .map(Some)
                .ok_or_else(|| format!("unknown state {w:?} (expected alive, quiet, stalled, orphaned or *)"))
        };
        let s = s.trim();
        if s == "*" {
            return Ok(OnPattern::Any);
        }
        if let Some((from, to)) = s.split_once("->") {
            let from = match from.trim() {
                "none" => Some(None),
                f => state(f)?.map(Some),
            };
            return Ok(OnPattern::Transition { from, to: state(to.trim())? });
        }
        if let Some((st, reason)) = s.split_once('/') {
            let reason = Reason::parse(reason.trim()).ok_or_else(|| format!("unknown reason {:?}", reason.trim()))?;
            return Ok(OnPattern::StateReason { state: state(st.trim())?, reason });
        }
        state(s)?.map(OnPattern::To).ok_or_else(|| "use \"*\" alone".to_string())
    }

    pub fn matches(&self, from: Option<State>, to: State, reason: Reason) -> bool {
        match *self {
            OnPattern::Any => true,
            OnPattern::To(s) => s == to,
            OnPattern::Transition { from: f, to: t } => f.is_none_or(|f| f == from) && t.is_none_or(|t| t == to),
            OnPattern::StateReason { state, reason: r } => state.is_none_or(|s| s == to) && r == reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use State::*;

    #[test]
    fn on_patterns() {
        let cases: &[(&str, Option<State>, State, Reason, bool)] = &[
            ("*", Some(Alive), Quiet, Reason::NoOutput, true),
            ("stalled", Some(Quiet), Stalled, Reason::NoOutput, true),
            ("stalled", Some(Quiet), Alive, Reason::Output, false),
            ("quiet->alive", Some(Quiet), Alive, Reason::Output, true),
            ("quiet->alive", Some(Stalled), Alive, Reason::Output, false),
            ("none->stalled", None, Stalled, Reason::NoLog, true),
            ("none->stalled", Some(Quiet), Stalled, Reason::NoOutput, false),
            ("*->orphaned", Some(Alive), Orphaned, Reason::PidExited, true),
            ("*->orphaned", None, Orphaned, Reason::PidExited, true),
            ("*/awaiting_input", Some(Alive), Quiet, Reason::AwaitingInput, true),
            ("quiet/awaiting_input", Some(Alive), Stalled, Reason::AwaitingInput, false),
        ];
        for (pat, from, to, reason, want) in cases {
            let p = OnPattern::parse(pat).unwrap();
            assert_eq!(p.matches(*from, *to, *reason), *want, "{pat} {from:?}->{to}/{reason}");
        }
        for bad in ["dead", "alive->gone", "*/sleepy", ""] {
            assert!(OnPattern::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tmux_servers() {
        assert_eq!(TmuxServer::parse("default"), TmuxServer::Default);
        assert_eq!(TmuxServer::parse("work"), TmuxServer::Name("work".into()));
        assert_eq!(TmuxServer::parse("/tmp/s"), TmuxServer::Socket("/tmp/s".into()));
    }
}
