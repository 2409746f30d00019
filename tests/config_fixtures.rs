//! Config fixtures: every file under tests/configs/valid loads, every file under
//! tests/configs/invalid is rejected with a message naming the file, line:column and key.

mod common;
use common::*;
use pulsewatch::config::{self, Activity, Config, DiscoverSpec, ProcessSpec, TmuxServer};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn dir(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/configs").join(kind)
}

fn files(kind: &str) -> BTreeSet<String> {
    std::fs::read_dir(dir(kind))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".toml"))
        .collect()
}

/// Every fixture is in its table, so none is silently left untested.
fn assert_covered(kind: &str, listed: impl IntoIterator<Item = &'static str>) {
    let listed: BTreeSet<String> = listed.into_iter().map(String::from).collect();
    assert_eq!(files(kind), listed, "tests/configs/{kind} and the table in this file differ");
}

const fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[test]
fn valid_fixtures_load() {
    let table: &[(&str, fn(&Config))] = &[
        ("empty.toml", |c| {
            assert!(c.workers.is_empty() && c.discover.is_empty() && c.hooks.is_empty());
            assert_eq!(c.daemon.sweep_interval, secs(5));
        }),
        ("log_only_worker.toml", |c| {
            assert_eq!(c.workers[0].process, ProcessSpec::None);
            let home = config::paths::home_dir().unwrap_or_default();
            assert_eq!(c.workers[0].log, home.join("agents/notes.log"), "~/ expands");
        }),
        ("every_process_kind.toml", |c| {
            let p: Vec<&ProcessSpec> = c.workers.iter().map(|w| &w.process).collect();
            assert_eq!(p[0], &ProcessSpec::Pid(4242));
            assert!(matches!(p[1], ProcessSpec::Pidfile(f) if f.ends_with("run/agent.pid")));
            assert_eq!(
                p[2],
                &ProcessSpec::Tmux {
                    target: "%3".into(),
                    server: TmuxServer::Socket("/tmp/tmux-1000/default".into()),
                    pipe: None,
                    pane_pid: None
                }
            );
            assert_eq!(c.workers[2].labels.get("_tier").map(String::as_str), Some("2"));
        }),
        ("overrides.toml", |c| {
            let [fast, slow] = [&c.workers[0], &c.workers[1]].map(|w| w.settings.thresholds);
            assert_eq!((fast.quiet_after, fast.stalled_after, fast.start_grace), (secs(30), secs(120), secs(0)));
            assert_eq!(
                (slow.quiet_after, slow.stalled_after, slow.start_grace),
                (secs(600), secs(3 * 3600), secs(300))
            );
            assert_eq!((slow.flap_window, slow.flap_threshold), (secs(1800), 3), "defaults carry over");
            let DiscoverSpec::Glob(g) = &c.discover[0] else { panic!("a glob source") };
            assert_eq!(g.settings.thresholds.quiet_after, secs(90));
            assert_eq!(g.settings.activity, Activity::Content);
            assert_eq!((g.settings.min_new_chars, g.settings.repipe), (20, true));
            assert_eq!(g.settings.ignore, vec!["^Compiling ".to_string(), "^\\s*$".to_string()]);
            assert_eq!((g.settings.ignore_preset.as_str(), g.settings.rules.preset.name.as_str()), ("none", "none"));
            assert_eq!(g.settings.rules.ignore_src, g.settings.ignore, "compiled from the same list");
        }),
        ("discover_every_kind.toml", |c| {
            assert!(matches!(&c.discover[0], DiscoverSpec::Glob(g) if g.id == "cistern-{stem}" && g.pidfile.is_some()));
            assert!(
                matches!(&c.discover[1], DiscoverSpec::Tmux(t) if !t.only_piped && t.server == TmuxServer::Name("agents".into()))
            );
            let DiscoverSpec::Registry(r) = &c.discover[2] else { panic!("a registry source") };
            assert_eq!(r.dir, c.daemon.state_dir.join("workers"), "relative to the state dir");
        }),
        ("hooks.toml", |c| {
            assert_eq!(c.hooks[0].name, "alert", "named after the command");
            assert_eq!((c.hooks[0].timeout, c.hooks[0].retries, c.hooks[0].repeat), (secs(30), 2, None));
            let h = &c.hooks[1];
            assert_eq!((h.on.len(), h.timeout, h.retries, h.repeat), (7, secs(5), 0, Some(secs(1800))));
            assert!(h.matches_worker("review-7") && h.matches_worker("build-1") && !h.matches_worker("ops"));
        }),
        ("daemon_everything.toml", |c| {
            let d = &c.daemon;
            assert_eq!(d.sweep_interval, Duration::from_millis(500));
            assert_eq!(d.status_file, Path::new("/tmp/pulsewatch-fixture/state/status/status.json"));
            assert_eq!(d.liveness_every, None, "\"0s\" turns liveness off");
            assert_eq!(d.listen, Some("[::1]:9464".parse().unwrap()));
            assert_eq!(d.auth_token_file.as_deref(), Some(Path::new("/tmp/pulsewatch-fixture/state/token")));
        }),
    ];
    assert_covered("valid", table.iter().map(|(f, _)| *f));
    for (file, check) in table {
        let cfg = config::load_file(&dir("valid").join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        check(&cfg);
    }
}

/// (file, "line:column", key, a part of the message)
#[rustfmt::skip]
const INVALID: &[(&str, &str, &str, &str)] = &[
    ("unknown_top_level.toml", "2:2", "deamon", "unknown field `deamon`"),
    ("unknown_key_daemon.toml", "2:1", "daemon.sweep_intervall", "expected one of `sweep_interval`"),
    ("unknown_key_defaults.toml", "3:1", "defaults.staled_after", "unknown field `staled_after`"),
    ("unknown_key_worker.toml", "7:1", "worker.logfile", "unknown field `logfile`"),
    ("unknown_key_discover.toml", "3:1", "discover.pid_file", "unknown field `pid_file`"),
    ("unknown_key_hook.toml", "3:1", "hook.when", "unknown field `when`"),
    ("bad_duration.toml", "3:15", "defaults.quiet_after", "\"2 fortnights\", expected a duration"),
    ("duration_not_a_string.toml", "2:18", "daemon.sweep_interval", "expected a duration such as \"90s\""),
    ("quiet_not_below_stalled.toml", "3:17", "defaults.stalled_after", "quiet_after (15m) must be shorter than stalled_after (15m)"),
    ("quiet_not_below_stalled_worker.toml", "7:15", "worker.quiet_after", "quiet_after (20m) must be shorter than stalled_after (15m)"),
    ("quiet_not_below_stalled_discover.toml", "3:17", "discover.stalled_after", "quiet_after (2m) must be shorter than stalled_after (1m)"),
    ("zero_quiet_after.toml", "2:15", "defaults.quiet_after", "must be greater than 0s"),
    ("zero_sweep_interval.toml", "2:18", "daemon.sweep_interval", "must be greater than 0s"),
    ("duplicate_worker_id.toml", "6:6", "worker.id", "duplicate worker id \"agent\" (first defined on line 2)"),
    ("invalid_id_chars.toml", "2:6", "worker.id", "invalid worker id \"my agent/1\""),
    ("missing_id.toml", "1:1", "worker.id", "missing"),
    ("missing_log.toml", "1:1", "worker.log", "missing"),
    ("pid_and_pidfile.toml", "5:11", "worker.pidfile", "use only one of pid, pidfile, tmux (found pid, pidfile)"),
    ("zero_pid.toml", "4:7", "worker.pid", "0 is not a valid PID"),
    ("tmux_socket_without_tmux.toml", "4:15", "worker.tmux_socket", "only meaningful together with tmux"),
    ("bad_label_name.toml", "4:28", "labels.cost-center", "label names must match"),
    ("discover_two_kinds.toml", "3:12", "discover.registry", "exactly one of logs, tmux, registry (found logs, registry)"),
    ("discover_no_kind.toml", "1:1", "discover", "(found none)"),
    ("discover_stray_key.toml", "3:6", "discover.id", "not used by a registry source"),
    ("unknown_placeholder.toml", "3:6", "discover.id", "unknown placeholder in \"agent-{steam}\" (allowed: {stem} {name})"),
    ("unknown_placeholder_pidfile.toml", "3:11", "discover.pidfile", "unknown placeholder"),
    ("tmux_discover_without_log.toml", "2:8", "discover.log", "a tmux source needs a log template"),
    ("bad_glob.toml", "2:8", "discover.logs", "bad glob"),
    ("hook_empty_command.toml", "3:11", "hook.command", "must not be empty"),
    ("hook_missing_command.toml", "1:1", "hook.command", "missing"),
    ("hook_unknown_state.toml", "5:3", "hook.on", "\"dead\": unknown state"),
    ("hook_unknown_transition_state.toml", "3:7", "hook.on", "unknown state \"gone\""),
    ("hook_unknown_reason.toml", "3:7", "hook.on", "unknown reason \"sleepy\""),
    ("bad_listen.toml", "2:10", "daemon.listen", "is not an ADDRESS:PORT"),
    ("not_toml.toml", "1:6", "(document)", "expected `=`"),
    ("duplicate_key.toml", "3:1", "defaults.quiet_after", "duplicate key"),
    ("bad_ignore_regex.toml", "6:3", "defaults.ignore", "invalid regex \"([a-z]\""),
    ("unknown_ignore_preset.toml", "6:17", "worker.ignore_preset", "unknown preset \"claud\" (available: aider, claude, codex, gemini, none, spinners)"),
    ("zero_min_new_chars.toml", "4:17", "discover.min_new_chars", "must be at least 1"),
];

#[test]
fn invalid_fixtures_name_file_line_column_and_key() {
    assert_covered("invalid", INVALID.iter().map(|(f, ..)| *f));
    for (file, at, key, part) in INVALID {
        let path = dir("invalid").join(file);
        let err = match config::load_file(&path) {
            Ok(_) => panic!("{file}: loaded, but it is invalid"),
            Err(e) => e,
        };
        let msg = err.to_string();
        let head = format!("{}:{at}: `{key}`: ", path.display());
        assert!(msg.starts_with(&head), "{file}: got\n  {msg}\nwant it to start with\n  {head}");
        assert!(msg.contains(part), "{file}: {msg:?} does not say {part:?}");
        assert_eq!(err.key(), Some(*key), "{file}");
    }
}

/// The commands that take a config exit 2 on each invalid file (check: 3) and say why on
/// stderr (check: in its one Nagios line on stdout).
#[test]
fn commands_reject_invalid_fixtures() {
    let home = tempfile::tempdir().unwrap();
    for (file, at, key, _) in INVALID {
        let path = dir("invalid").join(file);
        let p = path.to_str().unwrap();
        let want = format!("{file}:{at}: `{key}`");
        for (args, code) in
            [(&["config", "check", "-c", p][..], 2), (&["once", "-c", p][..], 2), (&["check", "-c", p][..], 3)]
        {
            let out = run(home.path(), args);
            let text = String::from_utf8_lossy(if code == 3 { &out.stdout } else { &out.stderr }).into_owned();
            assert_eq!(out.status.code(), Some(code), "{args:?}: {text}");
            assert!(text.contains(&want), "{args:?}: {text:?} lacks {want:?}");
        }
    }
    // The daemon refuses to start on a bad config too, and the readers of its files say so
    // rather than show another config's files.
    let typo = dir("invalid").join("unknown_key_defaults.toml");
    let typo = typo.to_str().unwrap();
    for args in [&["run", "-c", typo][..], &["status", "-c", typo], &["events", "-c", typo]] {
        let out = run(home.path(), args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("unknown_key_defaults.toml:3:1: `defaults.staled_after`"), "{args:?}: {stderr}");
    }
}

/// Lookup: -c > $PULSEWATCH_CONFIG > $XDG_CONFIG_HOME/pulsewatch/pulsewatch.toml > (the
/// system file) > the embedded default; `~/` in paths is the user's home.
#[test]
fn config_lookup_order_and_home_expansion() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let source = |cmd: &mut std::process::Command| {
        let out = cmd.args(["config", "check"]).output().unwrap();
        assert!(out.status.success(), "{out:?}");
        let text = String::from_utf8(out.stdout).unwrap();
        text.lines().next().unwrap().to_string()
    };
    if !Path::new("/etc/pulsewatch/pulsewatch.toml").exists() {
        assert_eq!(source(&mut command(h)), "config: (embedded default) (valid)");
    }
    let xdg = h.join(".config/pulsewatch/pulsewatch.toml");
    std::fs::create_dir_all(xdg.parent().unwrap()).unwrap();
    std::fs::write(&xdg, "[[worker]]\nid = \"w\"\nlog = \"~/logs/w.log\"\n").unwrap();
    assert_eq!(source(&mut command(h)), format!("config: {} (valid)", xdg.display()));
    let env = h.join("env.toml");
    std::fs::write(&env, "").unwrap();
    assert_eq!(source(command(h).env("PULSEWATCH_CONFIG", &env)), format!("config: {} (valid)", env.display()));
    let explicit = h.join("explicit.toml");
    std::fs::write(&explicit, "").unwrap();
    let first = source(command(h).env("PULSEWATCH_CONFIG", &env).arg("-c").arg(&explicit));
    assert_eq!(first, format!("config: {} (valid)", explicit.display()));

    let out = run(h, &["once", "--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["daemon"]["config"], xdg.display().to_string());
    assert_eq!(worker(&doc, "w").unwrap()["log"], h.join("logs/w.log").display().to_string());
}
