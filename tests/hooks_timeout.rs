//! Hung hooks: killed with their whole process group, and never in the way of
//! classification or of another worker's hooks — with two workers, and with a hundred.

mod common;
use common::*;
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, SystemTime};

const LONG: Duration = Duration::from_secs(60);

/// Gone, or a zombie nobody reaps (the container's init may not): either way, not running.
fn dead(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(s) => s.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

fn pid_in(p: &Path) -> Option<i32> {
    std::fs::read_to_string(p).ok()?.trim().parse().ok()
}

#[test]
fn a_hang_is_killed_with_its_group_and_nothing_waits_for_it() {
    let sb = Sandbox::new();
    let out = sb.mkdir("out");
    // Both the hook and its grandchild ignore SIGTERM: only the SIGKILL 5 s later ends them.
    let hang = sb.script(
        "hooks/hang.sh",
        r#"trap '' TERM
sleep 1000 &
echo $! > "$1/grandchild.pid"
echo $$ > "$1/hook.pid"
while :; do sleep 1; done"#,
    );
    let fast = sb.script("hooks/fast.sh", r#"echo "$PULSEWATCH_WORKER" >> "$1/fast""#);
    let cfg = sb.config(
        r#"sweep_interval = "100ms""#,
        &format!(
            r#"[[worker]]
id = "hang"
log = {l1:?}

[[worker]]
id = "fast"
log = {l2:?}

[[worker]]
id = "late"
log = {l3:?}

[[hook]]
name = "hang"
command = [{hang:?}, {out:?}]
on = ["*"]
workers = ["hang"]
timeout = "1s"
retries = 0

[[hook]]
name = "fast"
command = [{fast:?}, {out:?}]
on = ["*"]
workers = ["fast"]
"#,
            l1 = sb.path("logs/hang.log"),
            l2 = sb.path("logs/fast.log"),
            l3 = sb.path("logs/late.log"),
        ),
    );
    let mut d = Daemon::start(sb.dir.path(), &cfg);
    let grandchild = wait_until("the hook to start", LONG, || pid_in(&out.join("grandchild.pid")));
    let hook = wait_until("the hook pid", LONG, || pid_in(&out.join("hook.pid")));
    // While it hangs: another worker's hook runs, and classification goes on.
    wait_until("the other worker's hook", LONG, || (sb.hook_events("fast").len() == 1).then_some(()));
    sb.write("logs/late.log", "output\n");
    wait_until("late classified on its output", LONG, || {
        sb.events().iter().any(|e| e["worker"] == "late" && e["event"] == "reason_changed").then_some(())
    });
    assert!(sb.hook_events("hang").is_empty(), "all of that happened while the hook hung");

    let ev = wait_until("the hang reported", LONG, || sb.hook_events("hang").pop());
    assert_eq!(ev["outcome"], "timeout", "{ev}");
    assert_eq!(ev["exit_code"], Value::Null);
    assert!(ev["duration_ms"].as_u64().unwrap() >= 6000, "1 s timeout + 5 s before SIGKILL: {ev}");
    wait_until("the hook and its grandchild dead", Duration::from_secs(5), || {
        (dead(hook) && dead(grandchild)).then_some(())
    });
    assert_eq!(sb.hook_events("fast")[0]["outcome"], "ok");
    assert!(d.stop().success());
}

/// The issue's "done when": a hundred workers stall in the same sweep, each one's hook sleeps
/// forever. Classification goes on meanwhile, and every hook is run, timed out and reported.
#[test]
fn a_hundred_workers_stall_at_once_with_hooks_that_hang() {
    let sb = Sandbox::new();
    let out = sb.mkdir("out");
    let hook = sb.script("hooks/forever.sh", r#"touch "$1/$PULSEWATCH_WORKER"; exec sleep 1000"#);
    let mtime = SystemTime::now();
    for i in 0..100 {
        let log = sb.write(&format!("logs/w{i:03}.log"), "x\n");
        std::fs::File::options().write(true).open(&log).unwrap().set_modified(mtime).unwrap();
    }
    let canary = sb.write("canary.log", "x\n");
    let cfg = sb.config(
        r#"sweep_interval = "100ms"
hook_concurrency = 25"#,
        &format!(
            r#"[[discover]]
logs = "{logs}/*.log"
id = "{{stem}}"
quiet_after = "1s"
stalled_after = "2s"

[[worker]]
id = "canary"
log = {canary:?}

[[hook]]
name = "forever"
command = [{hook:?}, {out:?}]
on = ["stalled"]
workers = ["w*"]
timeout = "1s"
retries = 0
"#,
            logs = sb.path("logs").display(),
        ),
    );
    let mut d = Daemon::start_logged(&sb, &cfg);
    wait_until("the first hooks hanging", LONG, || out.join("w000").exists().then_some(()));
    // The hooks hang; a worker they do not concern must still be classified at once.
    let old = SystemTime::now() - Duration::from_secs(3 * 3600);
    std::fs::File::options().write(true).open(&canary).unwrap().set_modified(old).unwrap();
    let stalled = |e: &Value, w: &str| e["event"] == "transition" && e["to"] == "stalled" && e["worker"] == w;
    wait_until("the canary stalled", LONG, || sb.events().iter().any(|e| stalled(e, "canary")).then_some(()));
    assert!(sb.hook_events("forever").len() < 100, "classified while hooks still hung");

    let evs = wait_until("every hook reported", LONG, || {
        let evs = sb.hook_events("forever");
        (evs.len() >= 100).then_some(evs)
    });
    assert!(d.stop().success());
    let events = sb.events();
    let stalls: Vec<&Value> = events.iter().filter(|e| e["to"] == "stalled" && e["worker"] != "canary").collect();
    assert_eq!(stalls.len(), 100);
    assert!(stalls.iter().all(|e| e["ts"] == stalls[0]["ts"]), "all classified in one sweep");
    assert_eq!(sb.hook_events("forever").len(), 100, "exactly one event per run");
    for i in 0..100 {
        let w = format!("w{i:03}");
        let e: Vec<&Value> = evs.iter().filter(|e| e["worker"] == w.as_str()).collect();
        assert_eq!(e.len(), 1, "{w}");
        assert_eq!(e[0]["outcome"], "timeout", "{w}: {}", e[0]);
        assert!(out.join(&w).exists(), "{w}'s hook ran");
    }
}
