//! Hooks with real scripts: what a hook sees (environment, stdin, cwd), that nothing from a
//! worker is ever run by a shell, per-worker order, spawn errors, and bounded output capture.

mod common;
use common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

const LONG: Duration = Duration::from_secs(30);

fn env_file(p: &Path) -> BTreeMap<String, String> {
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The raw line of the first `event` for `worker`, exactly as the log holds it.
fn raw_line(sb: &Sandbox, event: &str, worker: &str) -> String {
    let text = std::fs::read_to_string(sb.event_log()).unwrap();
    text.lines()
        .find(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            v["event"] == event && v["worker"] == worker
        })
        .unwrap()
        .to_string()
}

#[test]
fn environment_stdin_and_no_shell() {
    let sb = Sandbox::new();
    let out = sb.mkdir("out");
    let hook = sb.script(
        "hooks/env.sh",
        r#"env > "$1/env.$PULSEWATCH_WORKER"; cat > "$1/stdin.$PULSEWATCH_WORKER"; pwd > "$1/pwd.$PULSEWATCH_WORKER""#,
    );
    // A log path a shell would split, and a file whose stem is a command substitution.
    let log = sb.path("logs/a;touch PWNED.log");
    sb.mkdir("glob");
    sb.write("glob/$(touch INJECTED).log", "");
    sb.write("glob/ok-1.log", "");
    let marker = sb.path("LABEL_RAN");
    let cfg = sb.config(
        r#"sweep_interval = "100ms""#,
        &format!(
            r#"[[worker]]
id = "w1"
log = {log:?}
labels = {{ team = "infra", on_call = '$(touch {marker})' }}

[[discover]]
logs = "{glob}/*.log"
id = "{{stem}}"

[[hook]]
name = "env"
command = [{hook:?}, {out:?}]
on = ["none->alive", "none->stalled"]
"#,
            glob = sb.path("glob").display(),
            marker = marker.display(),
        ),
    );
    let mut d = Daemon::start_logging(
        command(sb.dir.path()).env("LEAK_ME", "secret").arg("run").arg("-c").arg(&cfg),
        &sb.path("daemon.log"),
    );
    wait_until("both hooks reported", LONG, || (sb.hook_events("env").len() >= 2).then_some(()));
    assert!(d.stop().success());

    let added = raw_line(&sb, "worker_added", "w1");
    let seq = serde_json::from_str::<Value>(&added).unwrap()["seq"].as_u64().unwrap();
    let env = env_file(&out.join("env.w1"));
    let get = |k: &str| env.get(&format!("PULSEWATCH_{k}")).map(String::as_str);
    assert_eq!(get("EVENT"), Some("transition"));
    assert_eq!(get("WORKER"), Some("w1"));
    assert_eq!(get("STATE"), Some("alive"));
    assert_eq!(get("PREV_STATE"), Some("none"));
    assert_eq!(get("REASON"), Some("starting"));
    assert_eq!(get("LOG"), Some(log.to_str().unwrap()));
    assert_eq!(get("PID"), Some(""));
    assert_eq!(get("SEQ"), Some(seq.to_string().as_str()));
    assert_eq!(get("ATTEMPT"), Some("1"));
    assert_eq!(get("HOOK"), Some("env"));
    assert_eq!(get("LABEL_TEAM"), Some("infra"));
    assert_eq!(get("LABEL_ON_CALL").map(|v| v.starts_with("$(touch ")), Some(true));
    assert!(get("IDLE_FOR_S").is_some_and(|v| v.parse::<f64>().is_ok()));
    assert!(get("TS").is_some_and(|v| v.ends_with('Z')));
    assert!(env.contains_key("PATH"));
    let allowed = ["PATH", "HOME", "LANG", "PWD", "OLDPWD", "SHLVL", "_"];
    for k in env.keys() {
        assert!(k.starts_with("PULSEWATCH_") || allowed.contains(&k.as_str()), "leaked into the hook: {k}");
    }
    assert_eq!(std::fs::read_to_string(out.join("pwd.w1")).unwrap().trim(), "/");
    assert_eq!(std::fs::read_to_string(out.join("stdin.w1")).unwrap(), format!("{added}\n"), "stdin is the event line");
    let ev = &sb.hook_events("env").into_iter().find(|e| e["worker"] == "w1").unwrap();
    assert_eq!(
        (ev["outcome"].as_str(), ev["transition_seq"].as_u64(), ev["attempt"].as_u64()),
        (Some("ok"), Some(seq), Some(1))
    );

    // Nothing a worker brought along was executed.
    assert!(out.join("env.ok-1").exists());
    assert!(!marker.exists() && !Path::new("/PWNED.log").exists() && !Path::new("/INJECTED").exists());
    assert!(!sb.path("glob/INJECTED").exists());
    assert!(sb.events().iter().all(|e| e["worker"] != "$(touch INJECTED)"));
    let log = std::fs::read_to_string(sb.path("daemon.log")).unwrap();
    assert!(log.contains("invalid worker id"), "the bad id is reported: {log}");
}

#[test]
fn hooks_of_one_worker_run_in_order() {
    let sb = Sandbox::new();
    let out = sb.mkdir("out");
    let hook = sb.script(
        "hooks/run.sh",
        r#"echo "start $PULSEWATCH_SEQ $2" >> "$1/runs"; sleep "$3"; echo "end $PULSEWATCH_SEQ $2" >> "$1/runs""#,
    );
    let log = sb.write("logs/w.log", "hello\n");
    // alive (worker_added) → quiet at 0.3 s → stalled at 0.7 s; hook a takes 0.4 s per run.
    let cfg = sb.config(
        r#"sweep_interval = "50ms""#,
        &format!(
            r#"[[worker]]
id = "w"
log = {log:?}
quiet_after = "300ms"
stalled_after = "700ms"

[[hook]]
name = "a"
command = [{hook:?}, {out:?}, "a", "0.4"]
on = ["*"]

[[hook]]
name = "b"
command = [{hook:?}, {out:?}, "b", "0"]
on = ["*"]
"#
        ),
    );
    let mut d = Daemon::start(sb.dir.path(), &cfg);
    let seqs: Vec<u64> = wait_until("three states", LONG, || {
        let s: Vec<u64> = sb
            .events()
            .iter()
            .filter(|e| e["worker"] == "w" && (e["event"] == "worker_added" || e["event"] == "transition"))
            .map(|e| e["seq"].as_u64().unwrap())
            .collect();
        (s.len() == 3).then_some(s)
    });
    wait_until("a and b reported for every state", LONG, || {
        (sb.hook_events("a").len() == 3 && sb.hook_events("b").len() == 3).then_some(())
    });
    assert!(d.stop().success());

    for name in ["a", "b"] {
        let evs = sb.hook_events(name);
        let got: Vec<u64> = evs.iter().map(|e| e["transition_seq"].as_u64().unwrap()).collect();
        assert_eq!(got, seqs, "{name}: one event per state, in order");
        for e in &evs {
            let skipped = e["outcome"] == "skipped" && e["reason"] == "superseded";
            assert!(e["outcome"] == "ok" || skipped, "{e}");
        }
        assert_eq!(evs[2]["outcome"], "ok", "the latest state is never superseded");
    }
    // Runs never overlap and follow (seq, hook order).
    let runs = std::fs::read_to_string(out.join("runs")).unwrap();
    let lines: Vec<Vec<&str>> = runs.lines().map(|l| l.split(' ').collect()).collect();
    let mut last = (0u64, "");
    for pair in lines.chunks(2) {
        assert_eq!((pair[0][0], pair[1][0]), ("start", "end"), "{runs}");
        assert_eq!(pair[0][1..], pair[1][1..], "{runs}");
        let key = (pair[0][1].parse::<u64>().unwrap(), pair[0][2]);
        assert!(key > last, "out of order: {runs}");
        last = key;
    }
}

#[test]
fn spawn_errors_are_reported_once_and_never_stop_the_daemon() {
    let sb = Sandbox::new();
    let writable = sb.script("hooks/writable.sh", "exit 0");
    std::fs::set_permissions(&writable, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let cfg = sb.config(
        r#"sweep_interval = "100ms""#,
        &format!(
            r#"[[worker]]
id = "w1"
log = {l1:?}

[[worker]]
id = "w2"
log = {l2:?}

[[hook]]
name = "missing"
command = ["/nonexistent/pulsewatch-hook"]
on = ["*"]
retries = 1

[[hook]]
name = "writable"
command = [{writable:?}]
on = ["*"]
retries = 0
"#,
            l1 = sb.path("logs/w1.log"),
            l2 = sb.path("logs/w2.log"),
        ),
    );
    let log = sb.path("daemon.log");
    let mut d = Daemon::start_logged(&sb, &cfg);
    wait_until("both attempts of both workers", LONG, || (sb.hook_events("missing").len() == 4).then_some(()));
    wait_until("the writable hook reported", LONG, || (sb.hook_events("writable").len() == 2).then_some(()));
    assert!(d.stop().success(), "a hook that cannot run never stops the daemon");

    let missing = sb.hook_events("missing");
    let attempts: Vec<u64> = missing.iter().map(|e| e["attempt"].as_u64().unwrap()).collect();
    assert_eq!(attempts.iter().filter(|a| **a == 2).count(), 2, "retried: {attempts:?}");
    for e in &missing {
        assert_eq!(e["outcome"], "spawn_error");
        assert!(e["reason"].as_str().unwrap().contains("/nonexistent/pulsewatch-hook"), "{e}");
    }
    let text = std::fs::read_to_string(&log).unwrap();
    let told = text.lines().filter(|l| l.contains("hook cannot run") && l.contains("/nonexistent/pulsewatch-hook"));
    assert_eq!(told.count(), 1, "told once clearly: {text}");

    let root = rustix::process::geteuid().is_root();
    for e in sb.hook_events("writable") {
        if root {
            assert_eq!(e["outcome"], "spawn_error", "{e}");
            assert!(e["reason"].as_str().unwrap().contains("group- or world-writable"), "{e}");
        } else {
            assert_eq!(e["outcome"], "ok", "only root refuses writable programs: {e}");
        }
    }
}

#[test]
fn output_is_logged_bounded_and_never_blocks_the_hook() {
    let sb = Sandbox::new();
    // 1 MiB on stdout: far beyond a pipe's buffer, so an undrained pipe would hang the hook.
    let chatty = sb.script(
        "hooks/chatty.sh",
        r#"head -c 1048576 /dev/zero | tr '\0' 'x'; echo "to stderr: $PULSEWATCH_WORKER" >&2"#,
    );
    let cfg = sb.config(
        r#"sweep_interval = "100ms""#,
        &format!(
            r#"[[worker]]
id = "w1"
log = {log:?}

[[hook]]
name = "chatty"
command = [{chatty:?}]
on = ["*"]
timeout = "20s"
"#,
            log = sb.path("logs/w1.log"),
        ),
    );
    let mut d = Daemon::start_logged(&sb, &cfg);
    let ev = wait_until("the hook reported", LONG, || sb.hook_events("chatty").pop());
    assert!(d.stop().success());
    assert_eq!(ev["outcome"], "ok", "{ev}");
    let log = std::fs::read_to_string(sb.path("daemon.log")).unwrap();
    let out = log.lines().find(|l| l.contains("hook output") && l.contains("stdout")).expect("stdout logged");
    assert!(out.contains("w1") && out.contains("chatty"), "{out}");
    assert!(out.contains("truncated at 8192 bytes"), "{out}");
    assert!(out.len() < 8192 + 512, "at most 8 KiB kept: {} bytes", out.len());
    let err = log.lines().find(|l| l.contains("hook output") && l.contains("stderr")).expect("stderr logged");
    assert!(err.contains("to stderr: w1"), "{err}");
}
