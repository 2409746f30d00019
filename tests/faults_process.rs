//! Fault scenarios around the worker's process (docs/RELIABILITY.md): pidfiles holding
//! nothing, garbage, impossible or surprising PIDs, a reused PID, a zombie, a tmux server
//! killed under the daemon and no tmux binary at all.

mod common;
use common::invariants::*;
use common::*;
use serde_json::Value;

const SLOW: &str = "[defaults]\nquiet_after = \"1h\"\nstalled_after = \"2h\"\nstart_grace = \"1h\"\n\n";

/// A log-fresh worker `w` whose pidfile holds `content` from the start.
fn pidfile_worker(content: &str) -> (Sandbox, Daemon, Baseline) {
    let sb = Sandbox::new();
    let log = sb.write("logs/w.log", "x\n");
    let pidfile = sb.write("pids/w.pid", content);
    let (d, base) = start(&sb, "", &format!("{SLOW}{}", worker_toml("w", &log, &format!("pidfile = {pidfile:?}"), "")));
    (sb, d, base)
}

fn finish(sb: &Sandbox, d: Daemon, base: &Baseline, want_path: &[&str]) -> Vec<Value> {
    sweeps(sb, 3);
    let events = check_and_stop(sb, d, base);
    assert_eq!(path_of(&events, "w"), want_path);
    events
}

/// A pidfile without a usable PID: orphaned, pidfile_missing; bad content also names the
/// file and line on the worker.
fn unusable(content: &str, error: Option<&str>) {
    let (sb, d, base) = pidfile_worker(content);
    let w = wait_worker(&sb, "w", "orphaned", |w| w["state"] == "orphaned");
    assert_eq!(w["reason"], "pidfile_missing", "{content:?}");
    assert!(w["pid"].is_null());
    match error {
        Some(e) => {
            let got = w["error"].as_str().unwrap_or_default();
            assert!(got.contains("w.pid:1:") && got.contains(e), "{content:?}: {got}");
        }
        None => assert!(w["error"].is_null(), "{w}"),
    }
    finish(&sb, d, &base, &["orphaned"]);
}

#[test]
fn pidfile_empty() {
    unusable("", None);
}

#[test]
fn pidfile_garbage() {
    unusable("\u{1b}[31mnot a pid; rm -rf /\n", Some("not a PID"));
}

#[test]
fn pidfile_negative() {
    unusable("-1\n", Some("not a valid PID"));
}

#[test]
fn pidfile_huge() {
    unusable("99999999999999999999999999\n", Some("not"));
}

#[test]
fn pidfile_zero() {
    unusable("0\n", Some("not a valid PID"));
}

/// PID 1 exists: the worker is judged alive on it (nothing is ever sent to it).
#[test]
fn pidfile_pid_one() {
    let (sb, d, base) = pidfile_worker("1\n");
    let w = wait_worker(&sb, "w", "pid 1", |w| w["pid"] == 1);
    assert_eq!((w["state"].as_str(), w["pid_alive"].as_bool()), (Some("alive"), Some(true)));
    finish(&sb, d, &base, &["alive"]);
    assert!(std::path::Path::new("/proc/1").exists());
}

#[test]
fn pidfile_names_the_daemon_itself() {
    let (sb, d, base) = pidfile_worker("");
    wait_worker(&sb, "w", "orphaned", |w| w["state"] == "orphaned");
    std::fs::write(sb.path("pids/w.pid"), format!("{}\n", d.pid())).unwrap();
    let w = wait_worker(&sb, "w", "alive on the daemon's PID", |w| w["state"] == "alive");
    assert_eq!(w["pid"], d.pid());
    // Watching a process may hold a descriptor for it (a pidfd): count from here.
    let base = Baseline { fds: base.fds.max(Baseline::take(&sb, &d).fds) };
    finish(&sb, d, &base, &["orphaned", "alive"]);
}

#[test]
fn pidfile_names_a_reused_pid() {
    if !can_reuse_pids() {
        eprintln!("SKIPPED: steering PIDs needs root");
        return;
    }
    let worker = Proc::sleep();
    let (sb, d, base) = pidfile_worker(&format!("{}\n", worker.pid()));
    wait_worker(&sb, "w", "alive", |w| w["state"] == "alive" && w["pid_alive"] == true);
    let pid = worker.kill();
    let _impostor = reuse_pid(pid).unwrap();
    let w = wait_worker(&sb, "w", "pid_reused", |w| w["reason"] == "pid_reused");
    assert_eq!((w["state"].as_str(), w["pid"].as_i64()), (Some("orphaned"), Some(pid as i64)));
    finish(&sb, d, &base, &["alive", "orphaned"]);
}

#[test]
fn pid_of_a_zombie() {
    let (parent, zombie) = Proc::zombie();
    let (sb, d, base) = pidfile_worker(&format!("{zombie}\n"));
    let w = wait_worker(&sb, "w", "orphaned", |w| w["state"] == "orphaned");
    assert_eq!(w["reason"], "pid_zombie");
    finish(&sb, d, &base, &["orphaned"]);
    drop(parent);
}

/// A pidfile replaced by a FIFO must not block the sweep (open would wait for a writer).
#[test]
fn pidfile_replaced_by_fifo_does_not_hang() {
    let (sb, d, base) = pidfile_worker("1\n");
    wait_worker(&sb, "w", "alive", |w| w["state"] == "alive");
    let p = sb.path("pids/w.pid");
    std::fs::remove_file(&p).unwrap();
    assert!(std::process::Command::new("mkfifo").arg(&p).status().unwrap().success());
    let w = wait_worker(&sb, "w", "orphaned", |w| w["state"] == "orphaned");
    assert!(w["error"].as_str().is_some_and(|e| e.contains("w.pid")), "{w}");
    finish(&sb, d, &base, &["alive", "orphaned"]);
}

fn tmux_worker(sb: &Sandbox, tmux: &Tmux, pane: &str) -> String {
    let socket = tmux.tmpdir.path().join(format!("tmux-{}", rustix::process::geteuid().as_raw())).join(&tmux.name);
    let log = sb.write("logs/w.log", "x\n");
    format!("{SLOW}{}", worker_toml("w", &log, &format!("tmux = {pane:?}\ntmux_socket = {socket:?}"), ""))
}

#[test]
fn tmux_server_killed_mid_sweep() {
    let sb = Sandbox::new();
    let tmux = Tmux::new();
    let pane = tmux.session("s", "sleep 600");
    let rest = tmux_worker(&sb, &tmux, &pane);
    let (d, base) = start_adjusted(&sb, "sweep_interval = \"10ms\"", &rest, |c| {
        tmux.env(c);
    });
    wait_worker(&sb, "w", "alive on its pane", |w| w["state"] == "alive" && w["pid_alive"] == true);
    tmux.run(&["kill-server"]);
    let w = wait_worker(&sb, "w", "pane_gone", |w| w["state"] == "orphaned");
    assert_eq!(w["reason"], "pane_gone");
    finish(&sb, d, &base, &["alive", "orphaned"]);
}

/// Without a tmux binary no pane can be found: the worker is orphaned; nothing stops.
#[test]
fn tmux_binary_missing() {
    let sb = Sandbox::new();
    let tmux = Tmux::new();
    let rest = tmux_worker(&sb, &tmux, "%0");
    let empty = sb.mkdir("empty-path");
    let (d, base) = start_adjusted(&sb, "", &rest, |c| {
        c.env("PATH", &empty);
    });
    // No tmux is treated like no server (a normal condition): the pane is gone.
    let w = wait_worker(&sb, "w", "orphaned", |w| w["state"] == "orphaned");
    assert_eq!(w["reason"], "pane_gone", "{w}");
    finish(&sb, d, &base, &["orphaned"]);
}
