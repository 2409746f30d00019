//! `config/pulsewatch.example.toml` documents every key of the contract, loads, and states
//! the defaults the code really has.

mod common;
use common::*;
use pulsewatch::config::{self, ProcessSpec, WorkerSettings};
use std::path::{Path, PathBuf};
use std::time::Duration;

fn example_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config/pulsewatch.example.toml")
}

fn example() -> String {
    std::fs::read_to_string(example_path()).unwrap()
}

/// Every key of the contract's config section, by the table it belongs to.
const CONTRACT_KEYS: &[(&str, &[&str])] = &[
    (
        "daemon",
        &[
            "sweep_interval",
            "state_dir",
            "status_file",
            "event_log",
            "heartbeat_file",
            "heartbeat_interval",
            "liveness_every",
            "forget_after",
            "hook_concurrency",
            "listen",
            "auth_token_file",
            "textfile",
            "presets_dir",
        ],
    ),
    (
        "defaults",
        &[
            "quiet_after",
            "stalled_after",
            "start_grace",
            "flap_window",
            "flap_threshold",
            "activity",
            "ignore_preset",
            "ignore",
            "min_new_chars",
            "input_after",
            "repipe",
        ],
    ),
    // tmux_pipe and tmux_pane_pid are not in the contract; `attach` writes them.
    ("worker", &["id", "log", "pid", "pidfile", "tmux", "tmux_socket", "tmux_pipe", "tmux_pane_pid", "labels"]),
    ("discover", &["logs", "id", "pidfile", "tmux", "log", "only_piped", "registry"]),
    ("hook", &["name", "command", "on", "workers", "timeout", "retries", "repeat"]),
];

/// The optional settings shown as `# key = value` turned on, so their examples are checked too.
fn uncommented(text: &str) -> String {
    let on = |l: &str| setting(l).map_or(l.to_string(), |_| l.strip_prefix("# ").unwrap_or(l).to_string());
    text.lines().map(on).collect::<Vec<_>>().join("\n")
}

/// A `key = value` line, active or shown commented out as `# key = value`.
fn setting(line: &str) -> Option<&str> {
    let body = line.strip_prefix("# ").unwrap_or(line);
    let (k, _) = body.split_once(" = ")?;
    (!k.is_empty() && k.chars().all(|c| c == '_' || c.is_ascii_lowercase())).then_some(k)
}

/// Every setting of the file: (table, key, line index).
fn settings(lines: &[&str]) -> Vec<(String, String, usize)> {
    let mut table = String::new();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if let Some(h) = line.strip_prefix('[') {
            table = h.trim_matches(|c| c == '[' || c == ']').to_string();
        } else if let Some(k) = setting(line) {
            out.push((table.clone(), k.to_string(), i));
        }
    }
    out
}

#[test]
fn documents_every_contract_key_with_a_comment() {
    let text = example();
    let lines: Vec<&str> = text.lines().collect();
    let found = settings(&lines);
    // A key is documented when the run of settings it belongs to follows a comment.
    let commented =
        |i: usize| lines[..i].iter().rev().find(|l| setting(l).is_none()).is_some_and(|l| l.starts_with('#'));
    for (table, keys) in CONTRACT_KEYS {
        for key in *keys {
            let at: Vec<usize> = found.iter().filter(|(t, k, _)| t == table && k == key).map(|(_, _, i)| *i).collect();
            assert!(!at.is_empty(), "[{table}] {key} is not in the example config");
            assert!(at.iter().any(|&i| commented(i)), "[{table}] {key} has no comment saying what it does");
        }
    }
}

#[test]
fn loads_and_states_the_real_defaults() {
    let cfg = config::load_file(&example_path()).unwrap_or_else(|e| panic!("{e}"));
    let bare = config::load_str("", None).unwrap();
    assert_eq!(cfg.defaults, WorkerSettings::default(), "[defaults] shows the built-in values");
    assert_eq!(bare.defaults, WorkerSettings::default());
    let (d, b) = (&cfg.daemon, &bare.daemon);
    assert_eq!(
        (d.sweep_interval, d.heartbeat_interval, d.liveness_every, d.forget_after, d.hook_concurrency, d.listen),
        (b.sweep_interval, b.heartbeat_interval, b.liveness_every, b.forget_after, b.hook_concurrency, b.listen),
        "[daemon] shows the built-in values"
    );
    assert_eq!(cfg.workers.len(), 3);
    assert_eq!(cfg.discover.len(), 3);
    let hook = &cfg.hooks[0];
    assert_eq!((hook.timeout, hook.retries), (Duration::from_secs(30), 2));
}

#[test]
fn optional_keys_shown_commented_out_are_valid_too() {
    let text = uncommented(&example());
    for key in ["state_dir", "listen", "auth_token_file", "textfile", "presets_dir", "tmux_pipe", "tmux_pane_pid"] {
        assert!(text.lines().any(|l| l.starts_with(&format!("{key} = "))), "{key} not uncommented");
    }
    let cfg = config::load_str(&text, Some("uncommented.toml".into())).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cfg.daemon.listen, Some("127.0.0.1:9464".parse().unwrap()));
    let home = config::paths::home_dir().unwrap_or_default();
    assert_eq!(cfg.daemon.state_dir, home.join(".local/state/pulsewatch"));
    assert_eq!(cfg.daemon.event_log, cfg.daemon.state_dir.join("events.ndjson"), "relative to state_dir");
    let planner = cfg.workers.iter().find(|w| w.id.as_str() == "planner").unwrap();
    assert!(matches!(planner.process, ProcessSpec::Tmux { pane_pid: Some(41711), pipe: Some(_), .. }));
}

#[test]
fn config_check_accepts_it() {
    let home = tempfile::tempdir().unwrap();
    let path = example_path();
    let out = run(home.path(), &["config", "check", "-c", path.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("(valid)"), "{stdout}");
    assert!(stdout.contains("reviewer"), "{stdout}");
}
