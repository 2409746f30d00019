//! tmux against a real, private server: attach, pane discovery, pane_gone, detach, quoting.

mod common;
use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

const T: Duration = Duration::from_secs(15);

/// A sandbox config like the embedded default (registry + piped panes of `tmux`), with
/// short thresholds and a fast sweep.
fn config(sb: &Sandbox, tmux: &Tmux) -> PathBuf {
    sb.config(
        "sweep_interval = \"200ms\"",
        &format!(
            "[defaults]\nquiet_after = \"1s\"\nstalled_after = \"60s\"\n\n\
[[discover]]\nregistry = {:?}\n\n\
[[discover]]\ntmux = {:?}\nlog = {:?}\nid = \"{{session}}\"\n",
            sb.path("workers"),
            tmux.name,
            sb.path("state/logs/{session}.log"),
        ),
    )
}

fn attach(sb: &Sandbox, tmux: &Tmux, cfg: &Path, extra: &[&str]) -> String {
    let mut args = vec!["attach", "-c", cfg.to_str().unwrap(), "-L", &tmux.name];
    args.extend_from_slice(extra);
    let out = tmux.pulsewatch(sb.dir.path(), &args);
    assert!(out.status.success(), "attach {extra:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn daemon(sb: &Sandbox, tmux: &Tmux, cfg: &Path) -> Daemon {
    Daemon::start_with(tmux.env(&mut command(sb.dir.path())).arg("run").arg("-c").arg(cfg))
}

/// Waits until worker `id` is in `state` (and `reason`, when given); returns its entry.
fn wait_state(sb: &Sandbox, id: &str, state: &str, reason: Option<&str>) -> Value {
    wait_until(&format!("{id} {state} {reason:?}"), T, || {
        let w = worker(&sb.status()?, id)?.clone();
        (w["state"] == state && reason.is_none_or(|r| w["reason"] == r)).then_some(w)
    })
}

fn grows(log: &Path) {
    let first = wait_until("the log to get output", T, || Some(size(log)).filter(|s| *s > 0));
    wait_until("the log to grow", T, || (size(log) > first).then_some(()));
}

/// Session `agent` printing while `flag` exists, attached with the defaults, its log growing.
struct Attached {
    sb: Sandbox,
    tmux: Tmux,
    flag: PathBuf,
    pane: String,
    cfg: PathBuf,
    log: PathBuf,
}

fn attached_agent() -> Attached {
    let (sb, tmux) = (Sandbox::new(), Tmux::new());
    let flag = sb.write("printing", "");
    let pane = tmux.session("agent", &printer(&flag));
    let cfg = config(&sb, &tmux);
    let out = attach(&sb, &tmux, &cfg, &["agent"]);
    assert!(out.contains("as worker agent"), "{out}");
    let log = sb.path("state/logs/agent.log");
    grows(&log);
    Attached { sb, tmux, flag, pane, cfg, log }
}

#[test]
fn attached_pane_is_alive_then_quiet_when_it_stops_printing() {
    let Attached { sb, tmux, flag, pane, cfg, .. } = attached_agent();
    let entry = std::fs::read_to_string(sb.path("workers/agent.toml")).unwrap();
    assert!(entry.contains(&format!("tmux = \"{pane}\"")), "{entry}");

    let _d = daemon(&sb, &tmux, &cfg);
    let w = wait_state(&sb, "agent", "alive", Some("output"));
    let pane_pid: i64 = tmux.query(&pane, "#{pane_pid}").unwrap().parse().unwrap();
    assert_eq!(w["pid"], pane_pid);
    // Registered and piped: the registry entry and the pane discovery are one worker.
    assert_eq!(w["source"], "registry");
    assert_eq!(sb.status().unwrap()["workers"].as_array().unwrap().len(), 1);

    std::fs::remove_file(&flag).unwrap();
    wait_state(&sb, "agent", "quiet", Some("no_output"));
}

#[test]
fn killed_pane_makes_its_worker_orphaned_pane_gone() {
    let (sb, tmux) = (Sandbox::new(), Tmux::new());
    let flag = sb.write("printing", "");
    tmux.session("keeper", "exec sleep 600");
    let attached = tmux.session("agent", &printer(&flag));
    // Piped by hand, not registered: found by pane discovery alone.
    let piped = tmux.session("manual", &printer(&flag));
    let manual_log = sb.path("state/logs/manual.log");
    std::fs::create_dir_all(manual_log.parent().unwrap()).unwrap();
    tmux.run(&["pipe-pane", "-o", "-t", &piped, &format!("exec cat >> '{}'", manual_log.display())]);
    let cfg = config(&sb, &tmux);
    attach(&sb, &tmux, &cfg, &[&attached]);

    let _d = daemon(&sb, &tmux, &cfg);
    wait_state(&sb, "agent", "alive", None);
    let m = wait_state(&sb, "manual", "alive", None);
    assert_eq!(m["source"], "tmux");

    tmux.run(&["kill-pane", "-t", &attached]);
    tmux.run(&["kill-pane", "-t", &piped]);
    let a = wait_state(&sb, "agent", "orphaned", Some("pane_gone"));
    assert_eq!(a["pid_alive"], false);
    // The vanished pane's worker is kept (with its log) until forget_after.
    let m = wait_state(&sb, "manual", "orphaned", Some("pane_gone"));
    assert_eq!(m["log"], manual_log.display().to_string());
}

#[test]
fn detach_stops_the_pipe_and_unregisters() {
    let Attached { sb, tmux, pane, cfg, log, .. } = attached_agent();
    let mut d = daemon(&sb, &tmux, &cfg);
    wait_state(&sb, "agent", "alive", None);

    let out = tmux.pulsewatch(sb.dir.path(), &["detach", "-c", cfg.to_str().unwrap(), "-L", &tmux.name, "agent"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("stopped the pipe"), "{out:?}");
    assert_eq!(tmux.query(&pane, "#{pane_pipe}").as_deref(), Some("0"));
    assert!(!sb.path("workers/agent.toml").exists());

    // The pane prints on; nothing it prints after the detach reaches the log (bytes already
    // in the pipe when it closed may still land: they are lines printed before).
    let last = |text: &str| text.lines().filter_map(|l| l.strip_prefix("line ")?.trim().parse::<u64>().ok()).max();
    let on_screen = || {
        let screen = tmux.cmd().args(["capture-pane", "-p", "-t", &pane]).output().ok()?;
        last(&String::from_utf8_lossy(&screen.stdout))
    };
    let at_detach = on_screen().expect("numbered lines on the screen");
    wait_until("the pane to print on", T, || (on_screen()? > at_detach + 5).then_some(()));
    let in_log = last(&std::fs::read_to_string(&log).unwrap()).expect("numbered lines in the log");
    assert!(in_log <= at_detach, "the log got line {in_log}, printed after the detach (at {at_detach})");

    // Unregistered and unpiped: the worker goes (its pane lives, so it is not orphaned).
    wait_until("worker_removed", T, || {
        sb.events().into_iter().find(|e| e["event"] == "worker_removed" && e["worker"] == "agent")
    });
    d.stop();
    let out = tmux.pulsewatch(sb.dir.path(), &["detach", "-c", cfg.to_str().unwrap(), "-L", &tmux.name, "agent"]);
    assert_eq!(out.status.code(), Some(1), "a second detach has nothing to detach");
}

#[test]
fn attach_to_a_path_with_quotes_and_shell_syntax_runs_nothing_else() {
    let (sb, tmux) = (Sandbox::new(), Tmux::new());
    let flag = sb.write("printing", "");
    let pane = tmux.session("agent", &printer(&flag));
    let cfg = config(&sb, &tmux);
    let marker = sb.path("pwned");
    let dir = format!("it's a \"dir\" $(touch {m}) `touch {m}` ; touch {m} %H #{{pane_id}}", m = marker.display());
    let log = sb.path(&format!("logs/{dir}/the log.txt"));
    attach(&sb, &tmux, &cfg, &[&pane, "--id", "odd", "--log", log.to_str().unwrap()]);
    grows(&log);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("line "), "{text:?}");
    assert!(!marker.exists(), "the log path was executed");
    // Only the path's own directories: no part of it was expanded or split into others.
    let logs: Vec<_> = std::fs::read_dir(sb.path("logs")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(logs, vec![std::ffi::OsString::from(dir.split('/').next().unwrap())]);
    let entry = std::fs::read_to_string(sb.path("workers/odd.toml")).unwrap();
    let parsed: toml::Table = toml::from_str(&entry).unwrap();
    assert_eq!(parsed["log"].as_str(), log.to_str());
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(log.parent().unwrap()).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o750);
}

#[test]
fn attach_refuses_a_pane_that_already_pipes() {
    let (sb, tmux) = (Sandbox::new(), Tmux::new());
    let pane = tmux.session("agent", "exec sleep 600");
    tmux.run(&["pipe-pane", "-o", "-t", &pane, "exec cat > /dev/null"]);
    let cfg = config(&sb, &tmux);
    let out = tmux.pulsewatch(sb.dir.path(), &["attach", "-c", cfg.to_str().unwrap(), "-L", &tmux.name, "agent"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already pipes"), "{out:?}");
    // The other pipe is untouched (pipe-pane -o would have toggled it off).
    assert_eq!(tmux.query(&pane, "#{pane_pipe}").as_deref(), Some("1"));
    assert!(!sb.path("workers/agent.toml").exists());
}

/// The README's walk-through: no config file at all, the default tmux server.
#[test]
fn attach_and_run_with_no_config() {
    let (home, tmux) = (Sandbox::new(), Tmux::named("default"));
    let flag = home.write("printing", "");
    tmux.session("keeper", "exec sleep 600");
    let pane = tmux.session("agent", &printer(&flag));
    let out = tmux.pulsewatch(home.dir.path(), &["attach", "agent"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let mut d = Daemon::start_with(tmux.env(&mut command(home.dir.path())).arg("run"));
    let status = |args: &[&str]| tmux.pulsewatch(home.dir.path(), args);
    wait_until("status to show agent alive", T, || {
        let out = status(&["status"]);
        let text = String::from_utf8_lossy(&out.stdout);
        (out.status.success() && text.lines().any(|l| l.starts_with("agent") && l.contains("alive"))).then_some(())
    });
    tmux.run(&["kill-pane", "-t", &pane]);
    wait_until("status to show agent orphaned (pane_gone)", T, || {
        let doc: Value = serde_json::from_slice(&status(&["status", "--json"]).stdout).ok()?;
        let w = worker(&doc, "agent")?;
        (w["state"] == "orphaned" && w["reason"] == "pane_gone").then_some(())
    });
    let doc: Value = serde_json::from_slice(&status(&["status", "--json"]).stdout).unwrap();
    assert_eq!(doc["workers"].as_array().unwrap().len(), 1, "{doc}");
    assert!(d.stop().success());
    let err = d.stderr();
    assert!(!err.contains("WARN"), "registry, pane and log glob name one worker, silently: {err}");
}
