//! Event-driven detection: with `sweep_interval = "1h"` only a pidfd, an inotify watch or a
//! deadline can notice a change, so each test proves its path works. Fallbacks (no pidfds,
//! no watches, an inotify queue overflow) must still classify correctly.

mod common;
use common::*;
use serde_json::Value;
use std::time::{Duration, SystemTime};

const T: Duration = Duration::from_secs(15);

/// Daemon settings that leave the event paths alone in the ring: no sweep, no liveness.
const EVENTS_ONLY: &str = "sweep_interval = \"1h\"\nliveness_every = \"0s\"";

fn worker_toml(id: &str, log: &std::path::Path, extra: &str) -> String {
    format!("[[worker]]\nid = {id:?}\nlog = {:?}\n{extra}\n", log.display().to_string())
}

/// The `to` of `id`'s transitions so far.
fn transitions(sb: &Sandbox, id: &str) -> Vec<(String, String)> {
    sb.events()
        .iter()
        .filter(|e| e["event"] == "transition" && e["worker"] == id)
        .map(|e| (e["to"].as_str().unwrap().to_string(), e["reason"].as_str().unwrap().to_string()))
        .collect()
}

fn wait_transition(sb: &Sandbox, id: &str, to: &str) -> String {
    wait_until(&format!("{id} -> {to}"), T, || {
        transitions(sb, id).into_iter().rev().find(|(t, _)| t == to).map(|(_, r)| r)
    })
}

fn wait_state(sb: &Sandbox, id: &str, state: &str) -> Value {
    wait_until(&format!("{id} {state} in status"), T, || {
        let s = sb.status()?;
        worker(&s, id).filter(|w| w["state"] == state).cloned()
    })
}

fn backdate(path: &std::path::Path, secs: u64) {
    let f = std::fs::File::options().write(true).open(path).unwrap();
    f.set_modified(SystemTime::now() - Duration::from_secs(secs)).unwrap();
}

fn append(path: &std::path::Path, text: &str) {
    use std::io::Write;
    std::fs::OpenOptions::new().append(true).create(true).open(path).unwrap().write_all(text.as_bytes()).unwrap();
}

#[test]
fn a_kill_is_orphaned_without_a_sweep() {
    let sb = Sandbox::new();
    let log = sb.write("logs/a.log", "hi\n");
    let proc = Proc::sleep();
    let cfg = sb.config(
        EVENTS_ONLY,
        &worker_toml("a", &log, &format!("pid = {}\nquiet_after = \"1h\"\nstalled_after = \"2h\"", proc.pid())),
    );
    let _d = Daemon::start(sb.dir.path(), &cfg);
    wait_state(&sb, "a", "alive");
    drop(proc); // SIGKILL and reap
    let reason = wait_transition(&sb, "a", "orphaned");
    assert!(reason == "pid_exited" || reason == "pid_zombie", "{reason}");
}

#[test]
fn log_changes_recover_and_deadlines_fire() {
    let sb = Sandbox::new();
    let th = "quiet_after = \"2s\"\nstalled_after = \"1h\"\nstart_grace = \"1s\"";
    let written = sb.write("logs/written.log", "x\n");
    let truncated = sb.write("logs/truncated.log", "a long line\n");
    let replaced = sb.write("logs/replaced.log", "x\n");
    let deleted = sb.write("logs/deleted.log", "x\n");
    let fresh = sb.write("logs/fresh.log", "x\n");
    let created = sb.path("logs/created.log");
    for p in [&written, &truncated, &replaced, &deleted] {
        backdate(p, 60);
    }
    let mut workers = String::new();
    for (id, p) in [
        ("written", &written),
        ("truncated", &truncated),
        ("replaced", &replaced),
        ("deleted", &deleted),
        ("fresh", &fresh),
        ("created", &created),
    ] {
        workers += &worker_toml(id, p, th);
    }
    let cfg = sb.config(EVENTS_ONLY, &workers);
    let _d = Daemon::start(sb.dir.path(), &cfg);
    for id in ["written", "truncated", "replaced", "deleted"] {
        wait_state(&sb, id, "quiet");
    }

    // Deadlines: `fresh` crosses quiet_after, `created` runs out of start grace.
    assert_eq!(wait_transition(&sb, "fresh", "quiet"), "no_output");
    assert_eq!(wait_transition(&sb, "created", "stalled"), "no_log");

    // Watches: a write, a truncation, a rename over the log, a creation recover at once.
    append(&written, "more\n");
    assert_eq!(wait_transition(&sb, "written", "alive"), "output");
    std::fs::File::options().write(true).open(&truncated).unwrap().set_len(0).unwrap();
    assert_eq!(wait_transition(&sb, "truncated", "alive"), "output");
    let tmp = sb.write("logs/replaced.log.new", "new inode\n");
    std::fs::rename(&tmp, &replaced).unwrap();
    assert_eq!(wait_transition(&sb, "replaced", "alive"), "output");
    append(&created, "born\n");
    assert_eq!(wait_transition(&sb, "created", "alive"), "output");
    std::fs::remove_file(&deleted).unwrap();
    assert_eq!(wait_transition(&sb, "deleted", "stalled"), "no_log");

    // The replaced log's new inode is watched in turn once it goes quiet again.
    assert_eq!(wait_transition(&sb, "replaced", "quiet"), "no_output");
    let n = transitions(&sb, "replaced").len();
    append(&replaced, "again\n");
    wait_until("replaced alive again", T, || (transitions(&sb, "replaced").len() > n).then_some(()));
    assert_eq!(transitions(&sb, "replaced").last().unwrap().0, "alive");
}

#[test]
fn without_pidfds_or_watches_the_sweep_still_classifies() {
    let sb = Sandbox::new();
    let quiet = sb.write("logs/q.log", "x\n");
    backdate(&quiet, 60);
    let plog = sb.write("logs/p.log", "x\n");
    let proc = Proc::sleep();
    let th = "quiet_after = \"30s\"\nstalled_after = \"1h\"";
    let workers = worker_toml("q", &quiet, th) + &worker_toml("p", &plog, &format!("pid = {}\n{th}", proc.pid()));
    let cfg = sb.config("sweep_interval = \"1s\"\nliveness_every = \"0s\"", &workers);
    let mut d = Daemon::start_with(
        command(sb.dir.path())
            .args(["run", "-c"])
            .arg(&cfg)
            .env("PULSEWATCH_TEST_MAX_WATCHES", "0")
            .env("PULSEWATCH_TEST_NO_PIDFD", "1"),
    );
    wait_state(&sb, "q", "quiet");
    append(&quiet, "back\n");
    assert_eq!(wait_transition(&sb, "q", "alive"), "output");
    drop(proc);
    wait_transition(&sb, "p", "orphaned");
    // Let a few more sweeps retry the watch: the warning must still be said once.
    let sweeps = |sb: &Sandbox| sb.status().and_then(|s| s["daemon"]["updated_at"].as_str().map(String::from));
    let first = sweeps(&sb);
    wait_until("two more sweeps", T, || (sweeps(&sb) != first).then_some(()));
    backdate(&quiet, 60);
    wait_state(&sb, "q", "quiet");
    d.stop();
    let err = d.stderr();
    assert_eq!(err.matches("inotify watch limit reached").count(), 1, "{err}");
    assert_eq!(err.matches("pidfds unavailable").count(), 1, "{err}");
}

#[test]
fn an_inotify_overflow_looks_at_everything() {
    let sb = Sandbox::new();
    let log = sb.write("logs/q.log", "x\n");
    backdate(&log, 60);
    let cfg = sb.config(EVENTS_ONLY, &worker_toml("q", &log, "quiet_after = \"30s\"\nstalled_after = \"1h\""));
    let mut d = Daemon::start(sb.dir.path(), &cfg);
    wait_state(&sb, "q", "quiet");
    // Stopped, the daemon reads nothing: fill its queue past the kernel's limit with
    // creations in the watched directory, then write the log, whose event is lost.
    let limit: usize = std::fs::read_to_string("/proc/sys/fs/inotify/max_queued_events")
        .map_or(16384, |s| s.trim().parse().unwrap_or(16384));
    d.signal(rustix::process::Signal::STOP);
    for i in 0..=limit {
        std::fs::File::create(sb.path(&format!("logs/f{i}"))).unwrap();
    }
    append(&log, "written while the queue was full\n");
    d.signal(rustix::process::Signal::CONT);
    assert_eq!(wait_transition(&sb, "q", "alive"), "output");
    d.stop();
    let err = d.stderr();
    assert!(err.contains("inotify queue overflowed"), "{err}");
}
