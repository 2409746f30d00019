//! The daemon (`pulsewatch run`) against real logs and processes: transitions, the event
//! log, the status file, signals and restarts.

mod common;
use common::*;
use serde_json::Value;
use std::io::{BufRead, Write};
use std::path::Path;
use std::time::{Duration, SystemTime};

const WAIT: Duration = Duration::from_secs(15);

fn append(path: &Path, text: &str) {
    std::fs::OpenOptions::new().append(true).open(path).unwrap().write_all(text.as_bytes()).unwrap();
}

/// The first event matching `pred`, once it is in the log.
fn wait_event(sb: &Sandbox, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    wait_until(what, WAIT, || sb.events().into_iter().find(|e| pred(e)))
}

/// Waits until the daemon has finished `n` more sweeps (its status file was rewritten).
fn wait_sweeps(sb: &Sandbox, n: usize) {
    let mut last = sb.status().map(|s| s["daemon"]["updated_at"].clone());
    for i in 0..n {
        last = Some(wait_until(&format!("sweep {}", i + 1), WAIT, || {
            let now = sb.status()?["daemon"]["updated_at"].clone();
            (Some(&now) != last.as_ref()).then_some(now)
        }));
    }
}

/// Spawns `cmd` and hands its stdout over line by line, so a test can wait with a deadline.
fn spawn_lines(cmd: &mut std::process::Command) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
    let mut child = cmd.stdout(std::process::Stdio::piped()).spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(l) = line else { break };
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

fn ts(e: &Value) -> SystemTime {
    humantime::parse_rfc3339(e["ts"].as_str().unwrap()).unwrap()
}

/// Writing to a quiet worker's log gives exactly one `transition` to alive within one sweep
/// interval, and the event log holds nothing else twice.
#[test]
fn writing_to_a_quiet_log_is_one_transition_to_alive() {
    let sb = Sandbox::new();
    let log = sb.write("logs/w.log", "started\n");
    touch_mtime(&log, "5 minutes ago");
    let cfg = sb.config("sweep_interval = \"1s\"", &worker_toml("w", &log, "", ""));
    let mut d = Daemon::start(&sb.path("home"), &cfg);
    wait_until("w to be quiet", WAIT, || (worker(&sb.status()?, "w")?["state"] == "quiet").then_some(()));

    let written = SystemTime::now();
    append(&log, "more output\n");
    let t = wait_event(&sb, "the transition to alive", |e| is(e, "transition", "w"));
    assert_eq!(
        (t["from"].as_str(), t["to"].as_str(), t["reason"].as_str()),
        (Some("quiet"), Some("alive"), Some("output"))
    );
    assert_eq!(t["log_size"], 20);
    assert_eq!(t["log"], log.display().to_string());
    assert_eq!((t["pid"].clone(), t["pid_alive"].clone()), (Value::Null, Value::Null), "a log-only worker");
    assert!(t["idle_for_s"].as_f64().unwrap() < 2.0, "{t}");
    // One sweep interval (1 s), plus a second for the scheduler of a busy test machine.
    let late = ts(&t).duration_since(written).unwrap_or_default();
    assert!(late <= Duration::from_secs(2), "transition {late:?} after the write");

    wait_sweeps(&sb, 3);
    assert!(d.stop().success(), "{}", d.stderr());
    let events = sb.events();
    assert_gapless(&events);
    let names: Vec<(&str, &str)> =
        events.iter().map(|e| (e["event"].as_str().unwrap(), e["worker"].as_str().unwrap_or("-"))).collect();
    assert_eq!(
        names,
        vec![("daemon_started", "-"), ("worker_added", "w"), ("transition", "w"), ("daemon_stopping", "-")],
        "{events:#?}"
    );
    assert_eq!((events[1]["state"].as_str(), events[1]["reason"].as_str()), (Some("quiet"), Some("no_output")));
    assert_eq!(events[0]["workers"], 1);
}

/// SIGTERM and SIGINT end the daemon with exit 0 after `daemon_stopping` and a final status;
/// a restart continues `seq` and repeats neither `worker_added` nor `transition`.
#[test]
fn signals_stop_cleanly_and_a_restart_repeats_nothing() {
    let sb = Sandbox::new();
    let live = Proc::sleep();
    let quiet = sb.write("logs/quiet.log", "x");
    touch_mtime(&quiet, "5 minutes ago");
    let workers = worker_toml("alive", &sb.write("logs/alive.log", "x"), &format!("pid = {}", live.pid()), "")
        + &worker_toml("quiet", &quiet, "", "")
        + &worker_toml("dead", &sb.write("logs/dead.log", "x"), &format!("pid = {}", dead_pid()), "");
    let cfg = sb.config("sweep_interval = \"1s\"", &workers);
    let home = sb.path("home");

    for (round, sig) in [rustix::process::Signal::TERM, rustix::process::Signal::INT].into_iter().enumerate() {
        let mut d = Daemon::start(&home, &cfg);
        wait_until("daemon_started", WAIT, || {
            (sb.events().iter().filter(|e| e["event"] == "daemon_started").count() == round + 1).then_some(())
        });
        wait_sweeps(&sb, 1);
        d.signal(sig);
        let code = wait_until("the daemon to exit", WAIT, || d.child.try_wait().ok().flatten());
        assert_eq!(code.code(), Some(0), "{}", d.stderr());
        let events = sb.events();
        let last = events.last().unwrap();
        assert_eq!(last["event"], "daemon_stopping");
        assert_eq!(last["reason"], if round == 0 { "SIGTERM" } else { "SIGINT" });
        let status = sb.status().unwrap();
        assert_eq!(status["daemon"]["pid"], d.pid());
        assert_eq!(status["counts"], serde_json::json!({"alive": 1, "quiet": 1, "stalled": 0, "orphaned": 1}));
    }
    let events = sb.events();
    assert_gapless(&events);
    let count = |name: &str| events.iter().filter(|e| e["event"] == name).count();
    assert_eq!((count("daemon_started"), count("daemon_stopping")), (2, 2));
    assert_eq!(count("worker_added"), 3, "a restart adds no worker the saved state knows: {events:#?}");
    assert_eq!(count("transition"), 0, "no state changed: {events:#?}");
    let state = sb.saved_state();
    assert_eq!(state["last_seq"], events.len());
}

/// A watched process that dies, turns zombie, or whose PID is taken by another process
/// moves the worker to orphaned with the matching reason; a pidfile naming a new PID is a
/// restart that brings it back.
#[test]
fn process_fates_while_watched() {
    let sb = Sandbox::new();
    let killed = Proc::sleep();
    // The background sleep's parent becomes `sleep 600`, which never reaps it.
    let parent = Proc(std::process::Command::new("sh").args(["-c", "sleep 600 & exec sleep 600"]).spawn().unwrap());
    let child = wait_until("the background child", WAIT, || children(parent.pid()).first().copied());
    let original = Proc::sleep();
    let pidfile = sb.write("pids/r.pid", &format!("{}\n", original.pid()));
    let workers = worker_toml("killed", &sb.write("logs/k.log", "x"), &format!("pid = {}", killed.pid()), "")
        + &worker_toml("zombie", &sb.write("logs/z.log", "x"), &format!("pid = {child}"), "")
        + &worker_toml("reused", &sb.write("logs/r.log", "x"), &format!("pidfile = {pidfile:?}"), "");
    let cfg = sb.config("sweep_interval = \"1s\"", &workers);
    let mut d = Daemon::start(&sb.path("home"), &cfg);
    wait_until("three alive workers", WAIT, || (sb.status()?["counts"]["alive"] == 3).then_some(()));

    let killed_pid = killed.kill();
    let t = wait_event(&sb, "killed to be orphaned", |e| is(e, "transition", "killed"));
    assert_eq!((t["to"].as_str(), t["reason"].as_str()), (Some("orphaned"), Some("pid_exited")), "{t}");
    assert_eq!((t["pid"].as_i64(), t["pid_alive"].as_bool()), (Some(i64::from(killed_pid)), Some(false)));

    rustix::process::kill_process(rustix::process::Pid::from_raw(child).unwrap(), rustix::process::Signal::KILL)
        .unwrap();
    wait_until("the child to be a zombie", WAIT, || (proc_state(child) == Some('Z')).then_some(()));
    let t = wait_event(&sb, "zombie to be orphaned", |e| is(e, "transition", "zombie"));
    assert_eq!((t["to"].as_str(), t["reason"].as_str()), (Some("orphaned"), Some("pid_zombie")), "{t}");

    if can_reuse_pids() {
        let n = original.kill();
        let t = wait_event(&sb, "reused to be orphaned", |e| is(e, "transition", "reused"));
        assert_eq!(t["reason"], "pid_exited", "{t}");
        let _intruder = reuse_pid(n).expect("root can steer PIDs");
        let r = wait_event(&sb, "the reason to become pid_reused", |e| is(e, "reason_changed", "reused"));
        assert_eq!(
            (r["state"].as_str(), r["from_reason"].as_str(), r["to_reason"].as_str()),
            (Some("orphaned"), Some("pid_exited"), Some("pid_reused")),
            "{r}"
        );
        wait_sweeps(&sb, 1);
        let w = worker(&sb.status().unwrap(), "reused").unwrap().clone();
        assert_eq!((w["reason"].as_str(), w["pid"].as_i64()), (Some("pid_reused"), Some(i64::from(n))), "{w}");
    } else {
        eprintln!("note: not root, pid_reused is not checked here (it needs /proc/sys/kernel/ns_last_pid)");
        drop(original);
    }

    // The agent restarts and writes its new PID: a restart, judged on the new process.
    let restarted = Proc::sleep();
    std::fs::write(&pidfile, format!("{}\n", restarted.pid())).unwrap();
    let back = wait_event(&sb, "reused to come back", |e| is(e, "transition", "reused") && e["to"] == "alive");
    assert_eq!((back["from"].as_str(), back["pid"].as_i64()), (Some("orphaned"), Some(i64::from(restarted.pid()))));
    assert!(d.stop().success(), "{}", d.stderr());
    assert_gapless(&sb.events());
    drop(parent);
}

/// Glob discovery: a new file is a new worker, a deleted file a removed one.
#[test]
fn glob_workers_come_and_go_with_their_files() {
    let sb = Sandbox::new();
    sb.write("logs/a.log", "a");
    let b = sb.write("logs/b.log", "b");
    let rest = format!("[[discover]]\nlogs = {:?}\n", sb.path("logs/*.log").display().to_string());
    let cfg = sb.config("sweep_interval = \"1s\"", &rest);
    let mut d = Daemon::start(&sb.path("home"), &cfg);
    let added = wait_event(&sb, "b added", |e| is(e, "worker_added", "b"));
    assert_eq!((added["state"].as_str(), added["source"].as_str()), (Some("alive"), Some("glob")));
    std::fs::remove_file(&b).unwrap();
    let gone = wait_event(&sb, "b removed", |e| is(e, "worker_removed", "b"));
    assert_eq!((gone["last_state"].as_str(), gone["why"].as_str()), (Some("alive"), Some("source_gone")));
    sb.write("logs/c.log", "c");
    wait_event(&sb, "c added", |e| is(e, "worker_added", "c"));
    wait_until("status without b", WAIT, || {
        let s = sb.status()?;
        (worker(&s, "b").is_none() && worker(&s, "c").is_some()).then_some(())
    });
    assert!(d.stop().success(), "{}", d.stderr());
    let events = sb.events();
    assert_gapless(&events);
    assert_eq!(events.iter().filter(|e| e["event"] == "worker_added").count(), 3, "{events:#?}");
}

/// `liveness` comes every `liveness_every` per worker, whether or not the log grew, and
/// tells the growth as a diagnostic.
#[test]
fn liveness_events_report_growth() {
    let sb = Sandbox::new();
    let log = sb.write("logs/w.log", "12345");
    let cfg = sb.config("sweep_interval = \"1s\"\nliveness_every = \"1s\"", &worker_toml("w", &log, "", ""));
    let mut d = Daemon::start(&sb.path("home"), &cfg);
    let first = wait_event(&sb, "a liveness event", |e| is(e, "liveness", "w"));
    assert_eq!((first["state"].as_str(), first["log_size"].as_u64()), (Some("alive"), Some(5)), "{first}");
    assert_eq!(first["bytes_delta"], 0, "no growth is still a liveness event");
    append(&log, "67890");
    let grew = wait_event(&sb, "liveness with growth", |e| is(e, "liveness", "w") && e["bytes_delta"] == 5);
    assert_eq!(grew["log_size"], 10);
    assert!(grew["since_last_output_s"].as_f64().is_some_and(|s| s < 3.0), "{grew}");
    assert!(grew["idle_for_s"].is_number() && grew["pid_alive"].is_null(), "{grew}");
    assert!(d.stop().success(), "{}", d.stderr());
    assert_gapless(&sb.events());
}

/// `status` reads the daemon's file (exit 0), and exits 1 once it is older than three sweeps;
/// `events` reads the log, `--worker` filters, `--json` prints the raw lines, `--follow`
/// keeps printing.
#[test]
fn status_and_events_commands() {
    let sb = Sandbox::new();
    let a = sb.write("logs/a.log", "a");
    let workers = worker_toml("a", &a, "", "") + &worker_toml("b", &sb.write("logs/b.log", "b"), "", "");
    let cfg = sb.config("sweep_interval = \"1s\"", &workers);
    let c = cfg.to_str().unwrap();
    let home = sb.path("home");
    let mut d = Daemon::start(&home, &cfg);
    wait_until("the status file", WAIT, || sb.status());

    let out = run(&home, &["status", "-c", c]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.starts_with("ID") && table.contains("\na ") && table.contains("2 workers: 2 alive"), "{table}");
    let out = run(&home, &["status", "--json", "-c", c]);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((doc["schema"].as_u64(), doc["daemon"]["pid"].as_i64()), (Some(1), Some(i64::from(d.pid()))));

    // --watch redraws in place: home the cursor, clear, table; again every second.
    let (mut watch, lines) = spawn_lines(command(&home).args(["status", "--watch", "-c", c]));
    for _ in 0..2 {
        let l =
            wait_until("a redraw", WAIT, || lines.recv_timeout(WAIT).ok().filter(|l| l.starts_with("\x1b[H\x1b[2JID")));
        assert!(l.contains("STATE") && l.contains("REASON"), "{l:?}");
    }
    let _ = watch.kill();
    let _ = watch.wait();

    let (mut follow, rx) = spawn_lines(command(&home).args(["events", "--follow", "--json", "--worker", "a", "-c", c]));
    let first: Value = serde_json::from_str(&rx.recv_timeout(WAIT).unwrap()).unwrap();
    assert_eq!((first["event"].as_str(), first["worker"].as_str()), (Some("worker_added"), Some("a")));
    touch_mtime(&a, "5 minutes ago");
    let next: Value = serde_json::from_str(&rx.recv_timeout(WAIT).unwrap()).unwrap();
    assert_eq!((next["event"].as_str(), next["to"].as_str()), (Some("transition"), Some("quiet")), "{next}");
    let _ = follow.kill();
    let _ = follow.wait();

    assert!(d.stop().success(), "{}", d.stderr());
    let out = run(&home, &["events", "--worker", "a", "--json", "-c", c]);
    assert_eq!(out.status.code(), Some(0));
    let lines: Vec<Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), sb.events().iter().filter(|e| e["worker"] == "a").count());
    assert!(lines.len() >= 2 && lines.iter().all(|e| e["worker"] == "a"), "{lines:#?}");
    let human = String::from_utf8_lossy(&run(&home, &["events", "-c", c]).stdout).into_owned();
    assert_eq!(human.lines().count(), sb.events().len(), "{human}");
    assert!(human.lines().any(|l| l.contains("#1 ") && l.contains("daemon_started")), "{human}");
    assert!(human.contains("alive -> quiet (no_output)"), "{human}");

    wait_until("the status to go stale", WAIT, || {
        let out = run(&home, &["status", "-c", c]);
        (out.status.code() == Some(1)).then(|| String::from_utf8_lossy(&out.stderr).into_owned())
    })
    .contains("stale");
}

/// The event log survives external rotation: after a rename the daemon writes a new file and
/// `seq` goes on.
#[test]
fn event_log_rotation_keeps_seq() {
    let sb = Sandbox::new();
    let log = sb.write("logs/w.log", "x");
    let cfg = sb.config("sweep_interval = \"1s\"", &worker_toml("w", &log, "", ""));
    let mut d = Daemon::start(&sb.path("home"), &cfg);
    wait_event(&sb, "w added", |e| is(e, "worker_added", "w"));
    let rotated = sb.path("state/events.ndjson.1");
    std::fs::rename(sb.event_log(), &rotated).unwrap();
    touch_mtime(&log, "5 minutes ago");
    let t = wait_event(&sb, "a transition in the new file", |e| is(e, "transition", "w"));
    assert!(d.stop().success(), "{}", d.stderr());
    let old = read_events(&rotated);
    let last_old = old.last().unwrap()["seq"].as_u64().unwrap();
    assert_eq!(t["seq"].as_u64(), Some(last_old + 1), "{old:#?}");
    let all: Vec<Value> = old.into_iter().chain(sb.events()).collect();
    assert_gapless(&all);
}

/// SIGHUP reloads the config: a valid one takes effect (`config_reloaded`), an invalid one is
/// rejected (`config_rejected` naming file, line and key) and the old one keeps running.
#[test]
fn sighup_reloads_or_rejects_the_config() {
    let sb = Sandbox::new();
    let a = worker_toml("a", &sb.write("logs/a.log", "a"), "", "");
    let cfg = sb.config("sweep_interval = \"1s\"", &a);
    let mut d = Daemon::start(&sb.path("home"), &cfg);
    wait_event(&sb, "a added", |e| is(e, "worker_added", "a"));

    sb.config("sweep_interval = \"1s\"", &(a.clone() + &worker_toml("b", &sb.write("logs/b.log", "b"), "", "")));
    d.signal(rustix::process::Signal::HUP);
    wait_event(&sb, "config_reloaded", |e| e["event"] == "config_reloaded");
    wait_event(&sb, "b added", |e| is(e, "worker_added", "b"));

    sb.config("sweep_interval = \"1s\"\nsweep_intervall = \"2s\"", &a);
    d.signal(rustix::process::Signal::HUP);
    let r = wait_event(&sb, "config_rejected", |e| e["event"] == "config_rejected");
    let error = r["error"].as_str().unwrap();
    assert!(error.contains("config.toml:6:1: `daemon.sweep_intervall`"), "{error}");
    wait_sweeps(&sb, 2);
    let s = sb.status().unwrap();
    assert!(worker(&s, "b").is_some(), "the previous config keeps running: {s}");
    assert!(d.stop().success(), "{}", d.stderr());
    assert_gapless(&sb.events());
}

/// The daemon's own log: human by default, one JSON object per line with `--log-format json`.
#[test]
fn log_format_json() {
    let sb = Sandbox::new();
    let cfg = sb.config("sweep_interval = \"1s\"", "");
    let mut d = Daemon::start_with(command(&sb.path("home")).args(["--log-format", "json", "run", "-c"]).arg(&cfg));
    wait_until("the status file", WAIT, || sb.status());
    assert!(d.stop().success());
    let stderr = d.stderr();
    let lines: Vec<Value> =
        stderr.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))).collect();
    assert!(lines.iter().any(|l| l["message"].as_str().is_some_and(|m| m.contains("starting"))), "{stderr}");
    assert!(lines.iter().all(|l| l["level"].is_string()), "{stderr}");

    let mut d = Daemon::start(&sb.path("home"), &cfg);
    wait_until("the status file", WAIT, || {
        let s = sb.status()?;
        (s["daemon"]["pid"] == d.pid()).then_some(())
    });
    assert!(d.stop().success());
    let human = d.stderr();
    assert!(human.contains("INFO") && human.contains("starting") && !human.starts_with('{'), "{human}");
}

/// A fatal runtime error (the state directory cannot be created) exits 1 with the reason.
#[test]
fn unusable_state_dir_exits_1() {
    let sb = Sandbox::new();
    let blocker = sb.write("blocker", "");
    let cfg = sb.write("bad-state.toml", &format!("[daemon]\nstate_dir = {:?}\n", blocker.join("state")));
    let out = run(&sb.path("home"), &["run", "-c", cfg.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("blocker/state") && stderr.contains("cannot create the state directory"), "{stderr}");
}
