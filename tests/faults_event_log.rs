//! Fault scenarios of the event log alone (docs/RELIABILITY.md): its filesystem turns
//! read-only under the descriptor the daemon appends through, a reopen after rotation meets
//! a read-only mount, and an append only partly fits on a nearly full disk. The daemon keeps
//! classifying, counts the fault, queues the lines, and once the log can be written again it
//! holds every line once, whole, with `seq` gapless.

mod common;
use common::disk::*;
use common::invariants::*;
use common::*;
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

const T: Duration = Duration::from_secs(20);
const N: usize = 40;

fn transitions(events: &[Value]) -> usize {
    events.iter().filter(|e| e["event"] == "transition").count()
}

/// Stalls every worker while the log cannot be written: the daemon goes on judging (the
/// status shows all stalled) and counts the fault, and the log gets none of it yet.
fn stall_while_broken(sb: &Sandbox, elog: &Path) {
    let before = std::fs::read(elog).unwrap_or_default();
    stall_all(sb, N);
    wait_until("event log faults", T, || (fault(sb, "event_log") > 0).then_some(()));
    wait_until("all stalled", T, || (sb.status()?["counts"]["stalled"] == N).then_some(()));
    assert_eq!(std::fs::read(elog).unwrap_or_default(), before, "nothing reached the broken log");
    let said = std::fs::read_to_string(sb.path("daemon.log")).unwrap();
    assert!(said.contains("cannot write the event log") && said.contains("Read-only file system"), "{said}");
}

#[test]
fn event_log_read_only_under_its_open_descriptor() {
    let sb = Sandbox::new();
    let Some(fs) = Ext4::new(&sb.path("elog"), &sb.path("elog.img")) else { return };
    let elog = sb.path("elog/events.ndjson");
    let (mut d, base) = start(&sb, &format!("event_log = {elog:?}"), &workers(&sb, N));
    let before = check_event_log(&elog).len();
    assert!(before > N, "daemon_started and every worker_added are in the log");
    fs.fail();
    stall_while_broken(&sb, &elog);
    assert!(d.child.try_wait().unwrap().is_none(), "the daemon runs on: {}", d.stderr());
    fs.mount_again();
    wait_until("the queue flushed", T, || (transitions(&read_events(&elog)) == N).then_some(()));
    let events = check_running_log(&sb, &elog);
    assert_eq!(events.len(), before + N, "each queued line once");
    base.assert_no_leaks(&d);
    assert!(d.stop().success(), "{}", d.stderr());
    let events = check_event_log(&elog);
    assert!(events.last().is_some_and(|e| e["event"] == "daemon_stopping"));
    stalled_once(&events, N);
}

#[test]
fn event_log_read_only_when_reopened_after_rotation() {
    let sb = Sandbox::new();
    let Some(m) = Mount::tmpfs(&sb.path("elog")) else { return };
    let elog = sb.path("elog/events.ndjson");
    let rotated = sb.path("elog/events.ndjson.1");
    let (mut d, base) = start(&sb, &format!("event_log = {elog:?}"), &workers(&sb, N));
    // Rotated away, then nothing new may be created there: the daemon's descriptor is on
    // the old file, so it notices the rotation and its reopen meets EROFS.
    std::fs::rename(&elog, &rotated).unwrap();
    m.read_only();
    stall_while_broken(&sb, &elog);
    assert!(!elog.exists());
    m.writable();
    wait_until("the queue flushed", T, || (transitions(&read_events(&elog)) == N).then_some(()));
    assert_parses_if_present(&sb.status_file());
    assert_parses_if_present(&sb.state_dir().join("state.json"));
    check_and_continue(&elog, &check_and_continue(&rotated, &[]));
    base.assert_no_leaks(&d);
    assert!(d.stop().success(), "{}", d.stderr());
    // The old file ends where the new one starts: together they are one gapless log.
    let mut events = check_and_continue(&rotated, &[]);
    events = check_and_continue(&elog, &events);
    assert!(events.last().is_some_and(|e| e["event"] == "daemon_stopping"));
    stalled_once(&events, N);
}

/// The lines of `path` (none torn) after `so_far`, checked as one log.
fn check_and_continue(path: &Path, so_far: &[Value]) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut all = so_far.to_vec();
    all.extend(text.lines().map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("torn {l:.200}: {e}"))));
    check_events(&all);
    all
}

/// The disk fills while the log's last page still has room for part of the next lines:
/// write(2) takes what fits and fails on the rest. The part of a line that made it is cut
/// off at once, so even a daemon stopped while the disk is still full leaves whole lines;
/// the rest (state.json keeps it) is written once, after the restart, when space is back.
#[test]
fn event_log_partial_write_on_a_nearly_full_disk() {
    let sb = Sandbox::new();
    let Some(m) = Mount::tmpfs(&sb.path("elog")) else { return };
    let elog = sb.path("elog/events.ndjson");
    let (mut d, base) = start(&sb, &format!("event_log = {elog:?}"), &workers(&sb, N));
    let len0 = size(&elog);
    m.fill();
    // tmpfs hands out whole pages: what is left is the rest of the log's last page.
    let room = (4096 - len0 % 4096) % 4096;
    stall_all(&sb, N);
    wait_until("event log faults", T, || (fault(&sb, "event_log") > 0).then_some(()));
    wait_until("all stalled", T, || (sb.status()?["counts"]["stalled"] == N).then_some(()));
    base.assert_no_leaks(&d);
    assert!(d.stop().success(), "{}", d.stderr());
    // Stopped with the disk still full: whole lines only, no more than fitted.
    let text = std::fs::read_to_string(&elog).unwrap();
    let events = check_and_continue(&elog, &[]);
    let grown = text.len() as u64 - len0;
    let longest = events.iter().map(|e| e.to_string().len() as u64 + 1).max().unwrap();
    assert!(grown <= room, "grew {grown} bytes, only {room} were free");
    assert!(room - grown < 2 * longest, "the lines that fitted were kept ({grown} of {room} bytes)");
    assert!(transitions(&events) < N, "not everything fitted: some append was cut short");
    m.free();
    let d = Daemon::start_logged(&sb, &sb.path("config.toml"));
    let base = Baseline::take(&sb, &d);
    wait_until("the queue flushed", T, || (transitions(&read_events(&elog)) == N).then_some(()));
    check_running_log(&sb, &elog);
    base.assert_no_leaks(&d);
    let mut d = d;
    assert!(d.stop().success(), "{}", d.stderr());
    let events = check_event_log(&elog);
    assert_eq!(events.iter().filter(|e| e["event"] == "daemon_stopping").count(), 2, "both stops told, once each");
    stalled_once(&events, N);
}
