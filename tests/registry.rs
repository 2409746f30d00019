//! The registry directory, live: entries written while the daemon runs take effect without
//! waiting for a sweep; a malformed entry is a warning and nothing else.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::time::Duration;

const T: Duration = Duration::from_secs(10);

fn config(sb: &Sandbox, sweep: &str) -> PathBuf {
    sb.config(&format!("sweep_interval = {sweep:?}"), &format!("[[discover]]\nregistry = {:?}\n", sb.path("workers")))
}

/// As an orchestrator should: a hidden temp file, renamed into place.
fn register(sb: &Sandbox, id: &str, body: &str) -> PathBuf {
    let tmp = sb.write(&format!("workers/.{id}.tmp"), body);
    let path = sb.path(&format!("workers/{id}.toml"));
    std::fs::rename(tmp, &path).unwrap();
    path
}

fn entry(id: &str, log: &Path, pid: i32, quiet_after: &str) -> String {
    format!("id = {id:?}\nlog = {:?}\npid = {pid}\nquiet_after = {quiet_after:?}\n", log.display().to_string())
}

#[test]
fn entries_take_effect_when_written_not_at_the_next_sweep() {
    let sb = Sandbox::new();
    let proc = Proc::sleep();
    let log = sb.write("logs/w1.log", "hello\n");
    // An hour between sweeps: only the directory watch can make these changes show.
    let cfg = config(&sb, "1h");
    let mut d = Daemon::start(sb.dir.path(), &cfg);
    wait_until("the first status", T, || sb.status());

    let path = register(&sb, "w1", &entry("w1", &log, proc.pid(), "5m"));
    let w = wait_until("w1 in status", T, || worker(&sb.status()?, "w1").cloned());
    assert_eq!(w["source"], "registry");
    assert_eq!(w["pid"], proc.pid());
    assert_eq!(w["state"], "alive");

    register(&sb, "w1", &entry("w1", &log, proc.pid(), "7m"));
    wait_until("w1's new quiet_after", T, || (worker(&sb.status()?, "w1")?["quiet_after_s"] == 420.0).then_some(()));

    std::fs::remove_file(&path).unwrap();
    let removed = wait_until("worker_removed for w1", T, || {
        sb.events().into_iter().find(|e| e["event"] == "worker_removed" && e["worker"] == "w1")
    });
    assert_eq!(removed["why"], "source_gone");
    // The event is recorded before the status file is rewritten.
    wait_until("w1 gone from status", T, || worker(&sb.status()?, "w1").is_none().then_some(()));
    assert!(d.stop().success());
}

#[test]
fn malformed_entry_is_one_warning_and_nothing_else() {
    let sb = Sandbox::new();
    let proc = Proc::sleep();
    let log = sb.write("logs/good.log", "hello\n");
    register(&sb, "good", &entry("good", &log, proc.pid(), "5m"));
    let cfg = config(&sb, "100ms");
    let mut d = Daemon::start(sb.dir.path(), &cfg);
    wait_until("good in status", T, || worker(&sb.status()?, "good").cloned());

    let bad = register(&sb, "bad", "id = \"bad\"\nlog = \"/tmp/x.log\"\npid = \"not a number\"\n");
    // Several sweeps see the bad file.
    let mut seen = Vec::new();
    wait_until("five more sweeps", T, || {
        let at = sb.status()?["daemon"]["updated_at"].as_str()?.to_string();
        if seen.last() != Some(&at) {
            seen.push(at);
        }
        (seen.len() > 5).then_some(())
    });
    let status = sb.status().unwrap();
    assert_eq!(status["workers"].as_array().unwrap().len(), 1, "{status}");
    assert_eq!(worker(&status, "good").unwrap()["state"], "alive");

    assert!(d.stop().success());
    let err = d.stderr();
    let warnings: Vec<&str> = err.lines().filter(|l| l.contains("WARN")).collect();
    assert_eq!(warnings.len(), 1, "one warning while the file stays bad: {err}");
    let at_line = format!("{}:3:", bad.display());
    assert!(warnings[0].contains(&at_line) && warnings[0].contains("pid"), "names file, line and key: {err}");
    let events = sb.events();
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["event"].as_str()).collect();
    assert_eq!(kinds, vec!["daemon_started", "worker_added", "daemon_stopping"], "{events:?}");
}
