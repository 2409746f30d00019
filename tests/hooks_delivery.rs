//! Hook delivery over time: retries with counted attempts, reminders, flapping, and a
//! restart in the middle of a hook.

mod common;
use common::*;
use serde_json::Value;
use std::time::{Duration, SystemTime};

const LONG: Duration = Duration::from_secs(30);

fn brief(evs: &[Value]) -> Vec<(String, u64, Option<i64>)> {
    evs.iter()
        .map(|e| (e["outcome"].as_str().unwrap().to_string(), e["attempt"].as_u64().unwrap(), e["exit_code"].as_i64()))
        .collect()
}

#[test]
fn retries_count_attempts() {
    let sb = Sandbox::new();
    let out = sb.mkdir("out");
    let flaky =
        sb.script("hooks/flaky.sh", r#"echo "$PULSEWATCH_ATTEMPT" >> "$1/attempts"; [ "$PULSEWATCH_ATTEMPT" -ge 3 ]"#);
    let cfg = sb.config(
        r#"sweep_interval = "100ms""#,
        &format!(
            r#"[[worker]]
id = "w"
log = {log:?}

[[hook]]
name = "flaky"
command = [{flaky:?}, {out:?}]
on = ["*"]
retries = 2

[[hook]]
name = "never"
command = ["/bin/sh", "-c", "exit 7"]
on = ["*"]
retries = 1
"#,
            log = sb.path("logs/w.log"),
        ),
    );
    let mut d = Daemon::start(sb.dir.path(), &cfg);
    wait_until("all attempts", LONG, || {
        (sb.hook_events("flaky").len() == 3 && sb.hook_events("never").len() == 2).then_some(())
    });
    assert!(d.stop().success());
    let f = |o: &str, a: u64, c: Option<i64>| (o.to_string(), a, c);
    assert_eq!(
        brief(&sb.hook_events("flaky")),
        vec![f("failed", 1, Some(1)), f("failed", 2, Some(1)), f("ok", 3, None)]
    );
    assert_eq!(brief(&sb.hook_events("never")), vec![f("failed", 1, Some(7)), f("failed", 2, Some(7))]);
    assert_eq!(lines(&out.join("attempts")), ["1", "2", "3"]);
    let status = sb.status().unwrap();
    assert_eq!(status["daemon"]["faults"]["hooks"], 4, "failed runs are counted as faults");
}

#[test]
fn reminders_repeat_until_the_state_changes() {
    let sb = Sandbox::new();
    let out = sb.mkdir("out");
    let nag = sb.script("hooks/nag.sh", r#"echo "$PULSEWATCH_EVENT $PULSEWATCH_SEQ $PULSEWATCH_TS" >> "$1/runs""#);
    let log = sb.write("logs/w.log", "x\n");
    let cfg = sb.config(
        r#"sweep_interval = "50ms""#,
        &format!(
            r#"[[worker]]
id = "w"
log = {log:?}
quiet_after = "1s"
stalled_after = "1h"

[[hook]]
name = "nag"
command = [{nag:?}, {out:?}]
on = ["quiet"]
repeat = "300ms"
"#
        ),
    );
    let mut d = Daemon::start(sb.dir.path(), &cfg);
    let runs = out.join("runs");
    wait_until("a transition and two reminders", LONG, || (lines(&runs).len() >= 3).then_some(()));
    let quiet = sb.events().into_iter().find(|e| e["event"] == "transition" && e["to"] == "quiet").unwrap();
    std::fs::write(&log, "more\n").unwrap();
    let alive = wait_until("back to alive", LONG, || {
        sb.events().into_iter().find(|e| e["event"] == "transition" && e["to"] == "alive")
    });
    // Quiet again one second later: by then several reminder periods have passed.
    wait_until("quiet again", LONG, || {
        (sb.events().iter().filter(|e| e["event"] == "transition" && e["to"] == "quiet").count() == 2).then_some(())
    });
    assert!(d.stop().success());

    let runs = lines(&runs);
    let first: Vec<&String> = runs.iter().filter(|l| l.split(' ').nth(1) == Some(&quiet["seq"].to_string())).collect();
    assert_eq!(first[0].split(' ').next(), Some("transition"), "{runs:?}");
    let repeats: Vec<&&String> = first.iter().filter(|l| l.starts_with("repeat ")).collect();
    assert!(repeats.len() >= 2, "{runs:?}");
    let alive_at = alive["ts"].as_str().unwrap().to_string();
    for r in repeats {
        let ts = r.split(' ').nth(2).unwrap();
        assert!(ts < alive_at.as_str(), "a reminder after the state changed: {r} (alive at {alive_at})");
    }
}

#[test]
fn flapping_skips_hooks_then_tells_the_end_once() {
    let sb = Sandbox::new();
    let out = sb.mkdir("out");
    let h = sb.script("hooks/h.sh", r#"echo "$PULSEWATCH_EVENT $PULSEWATCH_STATE $PULSEWATCH_SEQ" >> "$1/runs""#);
    let log = sb.write("logs/w.log", "x\n");
    let cfg = sb.config(
        r#"sweep_interval = "50ms""#,
        &format!(
            r#"[[worker]]
id = "w"
log = {log:?}
quiet_after = "300ms"
stalled_after = "1h"
flap_threshold = 3
flap_window = "2s"

[[hook]]
name = "h"
command = [{h:?}, {out:?}]
on = ["quiet", "alive->quiet", "quiet->alive"]
"#
        ),
    );
    let mut d = Daemon::start(sb.dir.path(), &cfg);
    let state = || sb.status().and_then(|s| worker(&s, "w").map(|w| w["state"].as_str().unwrap().to_string()));
    let started = |evs: &[Value]| evs.iter().any(|e| e["event"] == "flapping_started");
    // Output, silence, output …: each round is two transitions.
    let mut seen_flapping = false;
    for _ in 0..10 {
        wait_until("quiet", LONG, || (state()? == "quiet").then_some(()));
        std::fs::write(&log, "more\n").unwrap();
        wait_until("alive", LONG, || (state()? == "alive").then_some(()));
        if started(&sb.events()) {
            seen_flapping |= sb.status().and_then(|s| worker(&s, "w")?["flapping"].as_bool()).unwrap_or(false);
            if sb.hook_events("h").iter().any(|e| e["reason"] == "flapping") {
                break;
            }
        }
    }
    assert!(seen_flapping, "status shows flapping: true");
    // Silence: quiet for good; after a whole window without a transition, flapping ends.
    let stopped =
        wait_until("flapping_stopped", LONG, || sb.events().into_iter().find(|e| e["event"] == "flapping_stopped"));
    let end = wait_until("the flap_end run", LONG, || {
        lines(&out.join("runs")).into_iter().find(|l| l.starts_with("flap_end "))
    });
    assert!(d.stop().success());
    assert_eq!(end, format!("flap_end quiet {}", stopped["seq"]));
    let events = sb.events();
    assert_eq!(events.iter().filter(|e| e["event"] == "flapping_started").count(), 1);
    assert_eq!(events.iter().filter(|e| e["event"] == "flapping_stopped").count(), 1);
    let started_seq = events.iter().find(|e| e["event"] == "flapping_started").unwrap()["seq"].as_u64().unwrap();
    let stopped_seq = stopped["seq"].as_u64().unwrap();
    for e in sb.hook_events("h") {
        let about = e["transition_seq"].as_u64().unwrap();
        if about > started_seq && about < stopped_seq {
            assert_eq!((e["outcome"].as_str(), e["reason"].as_str()), (Some("skipped"), Some("flapping")), "{e}");
        }
    }
    assert_eq!(lines(&out.join("runs")).iter().filter(|l| l.starts_with("flap_end")).count(), 1);
    assert!(!worker(&sb.status().unwrap(), "w").unwrap()["flapping"].as_bool().unwrap());
}

#[test]
fn a_restart_mid_hook_redelivers_exactly_the_unfinished_one() {
    let sb = Sandbox::new();
    let out = sb.mkdir("out");
    let fast = sb.script("hooks/fast.sh", r#"echo "fast $PULSEWATCH_SEQ" >> "$1/runs""#);
    let slow = sb.script(
        "hooks/slow.sh",
        r#"echo "start $PULSEWATCH_SEQ $PULSEWATCH_ATTEMPT" >> "$1/runs"
while [ ! -e "$1/release" ]; do sleep 0.05; done
echo "end $PULSEWATCH_SEQ" >> "$1/runs""#,
    );
    let cfg = sb.config(
        r#"sweep_interval = "100ms""#,
        &format!(
            r#"[[worker]]
id = "w"
log = {log:?}

[[hook]]
name = "fast"
command = [{fast:?}, {out:?}]
on = ["none->alive"]

[[hook]]
name = "slow"
command = [{slow:?}, {out:?}]
on = ["none->alive"]
"#,
            log = sb.path("logs/w.log"),
        ),
    );
    let runs = out.join("runs");
    let mut d = Daemon::start(sb.dir.path(), &cfg);
    wait_until("the slow hook running", LONG, || lines(&runs).iter().any(|l| l.starts_with("start")).then_some(()));
    let before = SystemTime::now();
    assert!(d.stop().success());
    assert!(before.elapsed().unwrap() >= Duration::from_secs(2), "running hooks get their grace");
    let added = sb.events().into_iter().find(|e| e["event"] == "worker_added").unwrap();
    let seq = added["seq"].as_u64().unwrap();
    let slow_events = sb.hook_events("slow");
    assert_eq!(slow_events.len(), 1);
    assert_eq!(
        (slow_events[0]["outcome"].as_str(), slow_events[0]["reason"].as_str()),
        (Some("skipped"), Some("shutdown"))
    );
    let state = sb.saved_state();
    let pending = state["hooks"]["pending"].as_array().unwrap();
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert_eq!((pending[0]["hook"].as_str(), pending[0]["seq"].as_u64()), (Some("slow"), Some(seq)));

    std::fs::write(out.join("release"), "").unwrap();
    let mut d = Daemon::start(sb.dir.path(), &cfg);
    wait_until("the slow hook redelivered", LONG, || (sb.hook_events("slow").len() == 2).then_some(()));
    assert!(d.stop().success());
    let s = format!("{seq}");
    assert_eq!(lines(&runs), [format!("fast {s}"), format!("start {s} 1"), format!("start {s} 1"), format!("end {s}")]);
    assert_eq!(sb.hook_events("slow")[1]["outcome"], "ok");
    assert_eq!(sb.hook_events("slow")[1]["transition_seq"], seq);
    assert_eq!(sb.hook_events("fast").len(), 1, "a finished hook is never re-run");
    assert_eq!(sb.events().iter().filter(|e| e["event"] == "worker_added").count(), 1);

    // A third start has nothing left to deliver.
    let mut d = Daemon::start(sb.dir.path(), &cfg);
    wait_until("the third start", LONG, || {
        (sb.events().iter().filter(|e| e["event"] == "daemon_started").count() == 3).then_some(())
    });
    assert!(d.stop().success());
    assert_eq!(lines(&runs).len(), 4);
    assert_eq!(sb.events().iter().filter(|e| e["event"] == "hook").count(), 3);
}
