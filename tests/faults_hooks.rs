//! Fault scenarios around hooks (docs/RELIABILITY.md): a program that is missing, not
//! executable, hangs, floods its stdout, or leaves a grandchild holding its stdout. Each run
//! gets exactly one outcome; the daemon keeps classifying and leaks nothing.

mod common;
use common::invariants::*;
use common::*;
use serde_json::Value;
use std::path::Path;

/// A worker `w` that is stalled when first seen (`none->stalled` runs the hook) and hook
/// `h` running `program`.
fn scenario(sb: &Sandbox, program: &Path) -> (Daemon, Baseline) {
    let log = sb.write("logs/w.log", "x\n");
    touch_mtime(&log, "3 hours ago");
    let rest = format!(
        "[defaults]\nquiet_after = \"1h\"\nstalled_after = \"2h\"\n\n{}\
[[hook]]\nname = \"h\"\ncommand = [{program:?}]\non = [\"stalled\"]\ntimeout = \"1s\"\nretries = 0\n",
        worker_toml("w", &log, "", "")
    );
    start(sb, "", &rest)
}

fn outcome(sb: &Sandbox) -> Value {
    wait_until("the hook's outcome", std::time::Duration::from_secs(15), || sb.hook_events("h").into_iter().next())
}

fn finish(sb: &Sandbox, d: Daemon, base: &Baseline) {
    sweeps(sb, 2);
    let events = check_and_stop(sb, d, base);
    assert_eq!(events.iter().filter(|e| e["event"] == "hook").count(), 1, "one outcome for one run");
}

#[test]
fn hook_program_missing() {
    let sb = Sandbox::new();
    let (d, base) = scenario(&sb, &sb.path("no/such/hook"));
    assert_eq!(outcome(&sb)["outcome"], "spawn_error");
    wait_until("the fault counted", std::time::Duration::from_secs(5), || {
        (sb.status()?["daemon"]["faults"]["hooks"].as_u64()? >= 1).then_some(())
    });
    finish(&sb, d, &base);
}

#[test]
fn hook_program_not_executable() {
    let sb = Sandbox::new();
    let p = sb.write("hooks/h", "#!/bin/sh\nexit 0\n");
    let (d, base) = scenario(&sb, &p);
    assert_eq!(outcome(&sb)["outcome"], "spawn_error");
    finish(&sb, d, &base);
}

#[test]
fn hook_hangs_and_its_group_is_killed() {
    let sb = Sandbox::new();
    let p = sb.script("hooks/h", "sleep 600 & sleep 600");
    let (d, base) = scenario(&sb, &p);
    let e = outcome(&sb);
    assert_eq!(e["outcome"], "timeout");
    // assert_no_leaks (in check_and_stop) waits for both sleeps to be gone.
    finish(&sb, d, &base);
}

fn rss_kib(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// 100 MB on stdout: drained and dropped beyond a small capture, never buffered whole.
#[test]
fn hook_writes_100_mb_to_stdout() {
    let sb = Sandbox::new();
    let p = sb.script("hooks/h", "head -c 100000000 /dev/zero; echo done >&2");
    let (d, base) = scenario(&sb, &p);
    let e = outcome(&sb);
    assert_eq!(e["outcome"], "ok", "{e}");
    let rss = rss_kib(d.pid());
    assert!(rss < 64 * 1024, "the daemon holds {rss} KiB after a 100 MB hook output");
    finish(&sb, d, &base);
}

/// The hook exits at once but its background child keeps stdout open for 3 s: the outcome
/// does not wait for the grandchild, and the pipe is released when it ends.
#[test]
fn hook_grandchild_keeps_stdout_open() {
    let sb = Sandbox::new();
    let flag = sb.path("grandchild.pid");
    let p = sb.script("hooks/h", &format!("sleep 3 &\necho $! > {flag:?}\necho started"));
    let (d, base) = scenario(&sb, &p);
    let e = outcome(&sb);
    assert_eq!(e["outcome"], "ok", "{e}");
    let gc: i32 = std::fs::read_to_string(&flag).unwrap().trim().parse().unwrap();
    assert!(Path::new(&format!("/proc/{gc}")).exists(), "the outcome came while the grandchild still ran");
    finish(&sb, d, &base);
}
