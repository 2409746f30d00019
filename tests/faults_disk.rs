//! Fault scenarios around the daemon's own files (docs/RELIABILITY.md): the event log, the
//! status file or the state directory on a full or read-only filesystem (a tiny tmpfs,
//! mounted as root), and a corrupt or future `state.json`. Writes fail, are counted in
//! `daemon.faults` and retried; nothing stops, nothing is lost, no line is torn.

mod common;
use common::invariants::*;
use common::*;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A tiny tmpfs mounted over `dir`, unmounted on drop.
struct Mount(PathBuf);

impl Mount {
    /// `None` (with a skip message) where mounting is not allowed.
    fn tmpfs(dir: &Path) -> Option<Mount> {
        std::fs::create_dir_all(dir).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=256k,mode=0755", "tmpfs"])
            .arg(dir)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("SKIPPED: cannot mount a tmpfs here (needs root)");
            return None;
        }
        Some(Mount(dir.to_path_buf()))
    }

    /// Fills the filesystem up to the last byte.
    fn fill(&self) {
        use std::io::Write;
        let mut f = std::fs::File::create(self.0.join("filler")).unwrap();
        let block = [b'#'; 4096];
        while f.write(&block).is_ok_and(|n| n > 0) {}
        let one = [b'#'; 1];
        while f.write(&one).is_ok_and(|n| n > 0) {}
    }

    fn free(&self) {
        std::fs::remove_file(self.0.join("filler")).unwrap();
    }

    /// A read-only bind mount over the tmpfs (a plain `remount,ro` is refused while the
    /// daemon holds files open for writing): new files and renames fail with EROFS.
    fn read_only(&self) {
        for args in [&["--bind"][..], &["-o", "remount,bind,ro"]] {
            let ok = std::process::Command::new("mount").args(args).arg(&self.0).arg(&self.0).status();
            assert!(ok.unwrap().success(), "mount {args:?}");
        }
    }

    fn writable(&self) {
        assert!(std::process::Command::new("umount").arg(&self.0).status().unwrap().success());
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

const T: Duration = Duration::from_secs(15);

fn workers(sb: &Sandbox, n: usize) -> String {
    let mut rest = "[defaults]\nquiet_after = \"1h\"\nstalled_after = \"2h\"\n\n".to_string();
    for i in 0..n {
        let log = sb.write(&format!("logs/w{i}.log"), "x\n");
        rest.push_str(&worker_toml(&format!("w{i}"), &log, "", ""));
    }
    rest
}

/// Ages every log so each worker goes alive → stalled once.
fn stall_all(sb: &Sandbox, n: usize) {
    for i in 0..n {
        touch_mtime(&sb.path(&format!("logs/w{i}.log")), "3 hours ago");
    }
}

fn fault(sb: &Sandbox, key: &str) -> u64 {
    sb.status().and_then(|s| s["daemon"]["faults"][key].as_u64()).unwrap_or(0)
}

/// Each worker went alive → stalled exactly once, in a log without torn lines.
fn stalled_once(events: &[serde_json::Value], n: usize) {
    for i in 0..n {
        assert_eq!(path_of(events, &format!("w{i}")), ["alive", "stalled"], "w{i}");
    }
}

const N: usize = 40;

#[test]
fn event_log_on_a_full_disk() {
    let sb = Sandbox::new();
    let Some(m) = Mount::tmpfs(&sb.path("elog")) else { return };
    let (d, base) = start(&sb, &format!("event_log = {:?}", sb.path("elog/events.ndjson")), &workers(&sb, N));
    m.fill();
    stall_all(&sb, N);
    wait_until("event log faults", T, || (fault(&sb, "event_log") > 0).then_some(()));
    wait_until("all stalled", T, || (sb.status()?["counts"]["stalled"] == N).then_some(()));
    m.free();
    let elog = sb.path("elog/events.ndjson");
    wait_until("the queue flushed", T, || {
        let events = read_events(&elog);
        (events.iter().filter(|e| e["event"] == "transition").count() == N).then_some(())
    });
    check_running_log(&sb, &elog);
    base.assert_no_leaks(&d);
    let mut d = d;
    assert!(d.stop().success());
    let events = check_event_log(&elog);
    stalled_once(&events, N);
}

/// `check_running` for a sandbox whose event log lives elsewhere.
fn check_running_log(sb: &Sandbox, elog: &Path) {
    assert_parses_if_present(&sb.status_file());
    assert_parses_if_present(&sb.state_dir().join("state.json"));
    check_event_log(elog);
}

#[test]
fn status_file_on_a_full_disk() {
    status_dir_fault(Mount::fill, Mount::free);
}

#[test]
fn status_file_read_only() {
    status_dir_fault(Mount::read_only, Mount::writable);
}

fn status_dir_fault(break_it: impl FnOnce(&Mount), repair: impl FnOnce(&Mount)) {
    let sb = Sandbox::new();
    let Some(m) = Mount::tmpfs(&sb.path("run")) else { return };
    let (mut d, base) = start(&sb, "", &workers(&sb, N));
    break_it(&m);
    stall_all(&sb, N);
    wait_until("the transitions logged", T, || {
        (sb.events().iter().filter(|e| e["event"] == "transition").count() == N).then_some(())
    });
    // The old status file stays whole while no new one fits.
    assert_parses_if_present(&sb.status_file());
    repair(&m);
    wait_until("the status file written again with its faults", T, || (fault(&sb, "status_file") > 0).then_some(()));
    check_running(&sb, &mut d, &base);
    let events = check_and_stop(&sb, d, &base);
    stalled_once(&events, N);
}

fn state_dir_fault(break_it: impl FnOnce(&Mount), repair: impl FnOnce(&Mount), faults: &[&str]) {
    let sb = Sandbox::new();
    let Some(m) = Mount::tmpfs(&sb.state_dir()) else { return };
    let (mut d, base) = start(&sb, "", &workers(&sb, N));
    break_it(&m);
    stall_all(&sb, N);
    wait_until("state faults", T, || faults.iter().all(|f| fault(&sb, f) > 0).then_some(()));
    wait_until("all stalled", T, || (sb.status()?["counts"]["stalled"] == N).then_some(()));
    repair(&m);
    wait_until("the queue flushed", T, || {
        (sb.events().iter().filter(|e| e["event"] == "transition").count() == N).then_some(())
    });
    check_running(&sb, &mut d, &base);
    let events = check_and_stop(&sb, d, &base);
    stalled_once(&events, N);
    // A restart goes on from the saved state: no transition told again, seq gapless.
    let cfg = sb.path("config.toml");
    let d = Daemon::start_logged(&sb, &cfg);
    let base = Baseline::take(&sb, &d);
    sweeps(&sb, 2);
    let events = check_and_stop(&sb, d, &base);
    stalled_once(&events, N);
}

#[test]
fn state_dir_on_a_full_disk() {
    state_dir_fault(Mount::fill, Mount::free, &["state_file", "event_log"]);
}

#[test]
fn state_dir_read_only() {
    state_dir_fault(Mount::read_only, Mount::writable, &["state_file"]);
}

/// A state.json that is corrupt, or written by a future pulsewatch, is moved aside (never
/// deleted); the daemon starts fresh and seq goes on from the event log.
fn bad_state(content: &str) {
    let sb = Sandbox::new();
    let (d, base) = start(&sb, "", &workers(&sb, 2));
    let before = check_and_stop(&sb, d, &base).len();
    std::fs::write(sb.state_dir().join("state.json"), content).unwrap();
    let (d, base) = start(&sb, "", &workers(&sb, 2));
    let _ = check_running_restarted(&sb, d, &base, before);
    let aside = std::fs::read_dir(sb.state_dir())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().contains(".bad-"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect::<Vec<_>>();
    assert_eq!(aside, [content], "the bad file is kept aside");
    let log = std::fs::read_to_string(sb.path("daemon.log")).unwrap();
    assert!(log.contains("starting fresh"), "{log}");
}

/// A fresh start forgets the workers, which are added again: seq stays gapless over the
/// whole log, the rest of the invariants hold from the restart on.
fn check_running_restarted(sb: &Sandbox, d: Daemon, base: &Baseline, from: usize) -> Vec<serde_json::Value> {
    base.assert_no_leaks(&d);
    let mut d = d;
    assert!(d.stop().success(), "{}", d.stderr());
    let text = std::fs::read_to_string(sb.event_log()).unwrap();
    let events: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_gapless(&events);
    assert!(events.len() > from);
    check_chains(&events[from..]);
    assert_eq!(path_of(&events[from..], "w0"), ["alive"], "added again after the fresh start");
    events
}

#[test]
fn state_json_corrupt() {
    bad_state("{\"schema\":1,\"last_seq\":");
}

#[test]
fn state_json_from_a_future_schema() {
    bad_state("{\"schema\":2,\"last_seq\":999,\"workers\":{},\"new_thing\":true}");
}
