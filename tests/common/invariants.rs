//! The invariants every fault scenario ends with (docs/RELIABILITY.md): the daemon runs (or
//! exited as documented), its files parse, `seq` is gapless across restarts, each worker's
//! transitions chain (none told twice, none lost), no hook run completes twice, and no file
//! descriptor or child process is left behind.

use super::{Daemon, Sandbox, assert_gapless, wait_until};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::Duration;

const SETTLE: Duration = Duration::from_secs(15);

/// The open file descriptors of process `pid`.
pub fn fd_count(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// Every process below `pid` (children, grandchildren, …).
pub fn descendants(pid: i32) -> Vec<i32> {
    let mut all = Vec::new();
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        for c in super::children(p) {
            all.push(c);
            todo.push(c);
        }
    }
    all
}

/// The daemon's resources once it settled after its first sweep, to compare with at the end.
pub struct Baseline {
    pub fds: usize,
}

impl Baseline {
    /// Waits for the first sweep of `d` (its status file), then counts its fds.
    pub fn take(sb: &Sandbox, d: &Daemon) -> Baseline {
        let pid = d.pid();
        let swept = wait_until_or(SETTLE, || sb.status().is_some_and(|s| s["daemon"]["pid"] == pid));
        let log = std::fs::read_to_string(sb.path("daemon.log")).unwrap_or_default();
        assert!(swept, "no first sweep within {SETTLE:?}; the daemon said: {log}");
        Baseline { fds: fd_count(pid) }
    }

    /// No fd and no child process outlives the scenario: both settle back (hooks still
    /// running are waited for).
    pub fn assert_no_leaks(&self, d: &Daemon) {
        let pid = d.pid();
        wait_until("the daemon's children to end", SETTLE, || descendants(pid).is_empty().then_some(()));
        let mut last = 0;
        let settled = wait_until_or(SETTLE, || {
            last = fd_count(pid);
            last <= self.fds
        });
        assert!(settled, "fd leak: {} open at the start, {last} at the end", self.fds);
    }
}

fn wait_until_or(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if std::time::Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A JSON file that exists must parse (atomic replacement: never torn).
pub fn assert_parses_if_present(path: &Path) {
    if let Ok(text) = std::fs::read_to_string(path) {
        assert!(serde_json::from_str::<Value>(&text).is_ok(), "{} does not parse: {text:.200}", path.display());
    }
}

/// Every whole line of the state journal parses (only a kill mid-append may leave a torn
/// last line, and a reader may see an append in progress).
pub fn assert_journal_parses(path: &Path) {
    let Ok(bytes) = std::fs::read(path) else { return };
    for line in bytes.split_inclusive(|&b| b == b'\n').filter(|l| l.ends_with(b"\n")) {
        assert!(
            serde_json::from_slice::<Value>(line).is_ok(),
            "{}: a journal record does not parse: {}",
            path.display(),
            String::from_utf8_lossy(line)
        );
    }
}

/// Every line of the event log parses (none torn) and the log keeps its promises.
pub fn check_event_log(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let events: Vec<Value> =
        text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("torn line {l:.200}: {e}"))).collect();
    check_events(&events);
    events
}

/// `seq` gapless from 1 (across restarts), each worker added once (again only after it was
/// removed), each transition starting where the last one ended, and no hook run (transition
/// seq, hook, attempt) told twice nor a hook that succeeded run again.
pub fn check_events(events: &[Value]) {
    assert_gapless(events);
    check_chains(events);
}

/// `check_events` without the seq check, for a stretch of the log (after a fresh start).
pub fn check_chains(events: &[Value]) {
    let mut state: HashMap<&str, String> = HashMap::new();
    for e in events {
        let seq = &e["seq"];
        let Some(id) = e["worker"].as_str() else { continue };
        match e["event"].as_str().unwrap_or("") {
            "worker_added" => {
                let old = state.insert(id, e["state"].as_str().unwrap().to_string());
                assert!(old.is_none(), "{id} added twice without worker_removed (seq {seq})");
            }
            "worker_removed" => {
                assert!(state.remove(id).is_some(), "{id} removed but never added (seq {seq})");
            }
            "transition" => {
                let cur =
                    state.get_mut(id).unwrap_or_else(|| panic!("{id}: transition before worker_added (seq {seq})"));
                assert_eq!(e["from"].as_str().unwrap(), cur, "{id}: transition seq {seq} told twice or one lost");
                assert_ne!(e["from"], e["to"], "{id}: transition seq {seq} to the same state");
                *cur = e["to"].as_str().unwrap().to_string();
            }
            _ => {}
        }
    }
    let mut runs = HashSet::new();
    let mut ok = HashSet::new();
    for e in events.iter().filter(|e| e["event"] == "hook") {
        let key = (e["transition_seq"].as_u64(), e["hook"].as_str().map(str::to_string));
        assert!(!ok.contains(&key), "hook run {key:?} ran again after it succeeded (seq {})", e["seq"]);
        assert!(runs.insert((key.clone(), e["attempt"].as_u64())), "hook run {key:?} attempt told twice");
        if e["outcome"] == "ok" {
            ok.insert(key);
        }
    }
}

/// The states worker `id` went through: its first state, then each transition's target.
pub fn path_of(events: &[Value], id: &str) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["worker"] == id)
        .filter_map(|e| match e["event"].as_str()? {
            "worker_added" => e["state"].as_str(),
            "transition" => e["to"].as_str(),
            _ => None,
        })
        .map(str::to_string)
        .collect()
}

/// All of the invariants for a sandbox whose daemon `d` is still running: it is, its files
/// parse, the event log keeps its promises and nothing leaked since `base`.
pub fn check_running(sb: &Sandbox, d: &mut Daemon, base: &Baseline) -> Vec<Value> {
    assert!(d.child.try_wait().unwrap().is_none(), "the daemon died: {}", d.stderr());
    for f in [sb.status_file(), sb.state_dir().join("state.json"), sb.path("run/heartbeat.json")] {
        assert_parses_if_present(&f);
    }
    assert_journal_parses(&sb.state_dir().join("state.journal"));
    assert!(sb.status().is_some(), "the status file parses");
    base.assert_no_leaks(d);
    check_event_log(&sb.event_log())
}

/// Stops the daemon (SIGTERM: exit 0) after `check_running`, and checks the log once more.
pub fn check_and_stop(sb: &Sandbox, mut d: Daemon, base: &Baseline) -> Vec<Value> {
    check_running(sb, &mut d, base);
    let code = d.stop();
    assert!(code.success(), "exit {code:?}: {}", d.stderr());
    let events = check_event_log(&sb.event_log());
    assert!(events.last().is_some_and(|e| e["event"] == "daemon_stopping"), "daemon_stopping is the last line");
    events
}

/// `[daemon]` keys for scenarios: fast sweeps, no liveness chatter.
pub const FAST: &str = "sweep_interval = \"50ms\"\nheartbeat_interval = \"50ms\"\nliveness_every = \"0s\"";

/// Writes the config (`FAST` plus `daemon_extra`, then `rest`), starts the daemon with its
/// stderr in `<sandbox>/daemon.log`, and takes the baseline after its first sweep.
pub fn start(sb: &Sandbox, daemon_extra: &str, rest: &str) -> (Daemon, Baseline) {
    start_adjusted(sb, daemon_extra, rest, |_| {})
}

/// `start`, with the daemon's command adjusted first (its environment, say).
pub fn start_adjusted(
    sb: &Sandbox,
    daemon_extra: &str,
    rest: &str,
    adjust: impl FnOnce(&mut std::process::Command),
) -> (Daemon, Baseline) {
    // Keys of `daemon_extra` override those of FAST.
    let fast: Vec<&str> = FAST.lines().filter(|l| !daemon_extra.contains(l.split(" =").next().unwrap_or(l))).collect();
    let cfg = sb.config(&format!("{}\n{daemon_extra}", fast.join("\n")), rest);
    let mut cmd = super::command(sb.dir.path());
    cmd.arg("run").arg("-c").arg(&cfg);
    adjust(&mut cmd);
    let d = Daemon::start_logging(&mut cmd, &sb.path("daemon.log"));
    let base = Baseline::take(sb, &d);
    (d, base)
}

/// Waits until worker `id`'s status entry satisfies `f`; returns it.
pub fn wait_worker(sb: &Sandbox, id: &str, what: &str, f: impl Fn(&Value) -> bool) -> Value {
    wait_until(&format!("{id}: {what}"), SETTLE, || super::worker(&sb.status()?, id).filter(|w| f(w)).cloned())
}

/// Waits for the daemon to sweep `n` more times (its status `updated_at` changes `n` times).
pub fn sweeps(sb: &Sandbox, n: usize) {
    for _ in 0..n {
        let before = sb.status().map(|s| s["daemon"]["updated_at"].clone());
        wait_until("a sweep", SETTLE, || {
            (sb.status().map(|s| s["daemon"]["updated_at"].clone()) != before).then_some(())
        });
    }
}
