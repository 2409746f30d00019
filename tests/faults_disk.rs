//! Fault scenarios around the daemon's own files (docs/RELIABILITY.md): the event log, the
//! status file or the state directory on a full or read-only filesystem (a tiny tmpfs,
//! mounted as root), and a corrupt or future `state.json`. Writes fail, are counted in
//! `daemon.faults` and retried; nothing stops, nothing is lost, no line is torn.

mod common;
use common::disk::*;
use common::invariants::*;
use common::*;
use std::time::Duration;

const T: Duration = Duration::from_secs(15);

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
