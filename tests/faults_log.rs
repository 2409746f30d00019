//! Fault scenarios around the session log (docs/RELIABILITY.md): deleted, truncated, rotated,
//! replaced by a symlink, a FIFO, a directory or `/dev/zero`, or behind a directory the
//! daemon may not search. The daemon only ever `stat`s a log in mtime mode: nothing hangs.

mod common;
use common::invariants::*;
use common::*;
use std::path::Path;

/// Hours-long thresholds: only what a scenario does to the log moves a worker.
const SLOW: &str = "[defaults]\nquiet_after = \"1h\"\nstalled_after = \"2h\"\nstart_grace = \"1h\"\n\n";

fn one_worker(sb: &Sandbox) -> (Daemon, Baseline, std::path::PathBuf) {
    let log = sb.write("logs/w.log", "hello\n");
    let (d, base) = start(sb, "", &format!("{SLOW}{}", worker_toml("w", &log, "", "")));
    wait_worker(sb, "w", "alive", |w| w["state"] == "alive");
    (d, base, log)
}

fn replace_with(log: &Path, make: impl FnOnce(&Path)) {
    std::fs::remove_file(log).unwrap();
    make(log);
}

#[test]
fn log_deleted_is_missing_then_back() {
    let sb = Sandbox::new();
    let (d, base, log) = one_worker(&sb);
    std::fs::remove_file(&log).unwrap();
    wait_worker(&sb, "w", "starting (log missing, within start_grace)", |w| w["reason"] == "starting");
    std::fs::write(&log, "again\n").unwrap();
    wait_worker(&sb, "w", "output again", |w| w["reason"] == "output");
    let events = check_and_stop(&sb, d, &base);
    assert_eq!(path_of(&events, "w"), ["alive"], "a missing log within start_grace changes no state");
}

#[test]
fn log_deleted_past_start_grace_is_stalled_once() {
    let sb = Sandbox::new();
    let log = sb.write("logs/w.log", "hello\n");
    let rest = format!(
        "[defaults]\nquiet_after = \"1h\"\nstalled_after = \"2h\"\nstart_grace = \"1ms\"\n\n{}",
        worker_toml("w", &log, "", "")
    );
    let (d, base) = start(&sb, "", &rest);
    std::fs::remove_file(&log).unwrap();
    wait_worker(&sb, "w", "stalled, no_log", |w| w["state"] == "stalled" && w["reason"] == "no_log");
    sweeps(&sb, 3);
    std::fs::write(&log, "back\n").unwrap();
    wait_worker(&sb, "w", "alive", |w| w["state"] == "alive");
    let events = check_and_stop(&sb, d, &base);
    assert_eq!(path_of(&events, "w"), ["alive", "stalled", "alive"]);
}

#[test]
fn log_truncated_stays_alive() {
    let sb = Sandbox::new();
    let (d, base, log) = one_worker(&sb);
    std::fs::write(&log, "").unwrap();
    wait_worker(&sb, "w", "size 0", |w| w["log_size"] == 0);
    let events = check_and_stop(&sb, d, &base);
    assert_eq!(path_of(&events, "w"), ["alive"]);
}

#[test]
fn log_renamed_and_recreated_stays_alive() {
    let sb = Sandbox::new();
    let (d, base, log) = one_worker(&sb);
    std::fs::rename(&log, sb.path("logs/w.log.1")).unwrap();
    std::fs::write(&log, "new\n").unwrap();
    wait_worker(&sb, "w", "the new file", |w| w["log_size"] == 4);
    let events = check_and_stop(&sb, d, &base);
    assert_eq!(path_of(&events, "w"), ["alive"]);
}

#[test]
fn log_copytruncate_rotated_revives_a_stalled_worker() {
    let sb = Sandbox::new();
    let log = sb.write("logs/w.log", "old output\n");
    touch_mtime(&log, "3 hours ago");
    let (d, base) = start(&sb, "", &format!("{SLOW}{}", worker_toml("w", &log, "", "")));
    wait_worker(&sb, "w", "stalled", |w| w["state"] == "stalled");
    // copytruncate: copy away, truncate in place (same inode; truncation sets the mtime).
    std::fs::copy(&log, sb.path("logs/w.log.1")).unwrap();
    std::fs::OpenOptions::new().write(true).truncate(true).open(&log).unwrap();
    wait_worker(&sb, "w", "alive", |w| w["state"] == "alive");
    let events = check_and_stop(&sb, d, &base);
    assert_eq!(path_of(&events, "w"), ["stalled", "alive"]);
}

#[test]
fn log_replaced_by_symlink_follows_its_target() {
    let sb = Sandbox::new();
    let (d, base, log) = one_worker(&sb);
    let old = sb.write("elsewhere/old.log", "x\n");
    touch_mtime(&old, "3 hours ago");
    replace_with(&log, |p| std::os::unix::fs::symlink(&old, p).unwrap());
    wait_worker(&sb, "w", "stalled through the symlink", |w| w["state"] == "stalled");
    // A dangling symlink is a missing log: within start_grace of first sight, starting.
    std::fs::remove_file(&old).unwrap();
    wait_worker(&sb, "w", "no log", |w| w["log_mtime"].is_null() && w["reason"] == "starting");
    let events = check_and_stop(&sb, d, &base);
    assert_eq!(path_of(&events, "w"), ["alive", "stalled", "alive"]);
}

/// A FIFO, a directory or a device where the log should be: stat only (never opened, so
/// nothing blocks), reported as an error on the worker, judged by its mtime.
fn odd_log(make: impl FnOnce(&Path), kind: &str) {
    let sb = Sandbox::new();
    let (d, base, log) = one_worker(&sb);
    replace_with(&log, make);
    let w = wait_worker(&sb, "w", kind, |w| w["error"].as_str().is_some_and(|e| e.contains(kind)));
    assert_eq!(w["id"], "w");
    sweeps(&sb, 3);
    check_and_stop(&sb, d, &base);
}

#[test]
fn log_replaced_by_fifo_does_not_hang() {
    odd_log(|p| assert!(std::process::Command::new("mkfifo").arg(p).status().unwrap().success()), "fifo");
}

#[test]
fn log_replaced_by_directory() {
    odd_log(|p| std::fs::create_dir(p).unwrap(), "directory");
}

#[test]
fn log_replaced_by_dev_zero() {
    odd_log(|p| std::os::unix::fs::symlink("/dev/zero", p).unwrap(), "device");
}

/// As root, permissions do not bind: the daemon runs as `nobody` (setpriv) against a log
/// whose directory it may not search. The worker carries the error; nothing stops.
#[test]
fn log_directory_without_permission() {
    let root = rustix::process::geteuid().is_root();
    let setpriv = std::process::Command::new("setpriv").arg("--version").output().is_ok_and(|o| o.status.success());
    if !root || !setpriv {
        eprintln!("SKIPPED: needs root and setpriv to run the daemon as another user");
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let sb = Sandbox::new();
    let log = sb.write("logs/w.log", "x\n");
    let cfg = sb.config(FAST, &format!("{SLOW}{}", worker_toml("w", &log, "", "")));
    for dir in ["state", "run", "tmux"] {
        sb.mkdir(dir);
    }
    std::fs::set_permissions(sb.dir.path(), PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::set_permissions(sb.path("logs"), PermissionsExt::from_mode(0o700)).unwrap();
    std::fs::set_permissions(&cfg, PermissionsExt::from_mode(0o644)).unwrap();
    for dir in ["state", "run", "tmux"] {
        assert!(
            std::process::Command::new("chown").args(["65534:65534"]).arg(sb.path(dir)).status().unwrap().success()
        );
    }
    let cmd = command(sb.dir.path());
    let mut setpriv = std::process::Command::new("setpriv");
    setpriv.args(["--reuid=65534", "--regid=65534", "--clear-groups", bin(), "run", "-c"]).arg(&cfg);
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => setpriv.env(k, v),
            None => setpriv.env_remove(k),
        };
    }
    let d = Daemon::start_logging(setpriv.stdin(std::process::Stdio::null()), &sb.path("daemon.log"));
    let base = Baseline::take(&sb, &d);
    let w = wait_worker(&sb, "w", "permission error", |w| w["error"].as_str().is_some_and(|e| e.contains("ermission")));
    assert!(w["log_mtime"].is_null());
    let status = sb.status().unwrap();
    assert!(status["daemon"]["faults"]["workers_with_errors"].as_u64() >= Some(1), "{status}");
    check_and_stop(&sb, d, &base);
}
