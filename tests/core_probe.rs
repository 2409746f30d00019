//! The one-shot commands (`once`, `check`, `status`) against real logs and real processes:
//! every state and reason of the contract, from the built binary.

mod common;
use common::*;
use serde_json::Value;
use std::time::Duration;

fn json(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("not JSON ({e}): {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    })
}

fn text(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// One worker of each kind; `once --json` tells exactly the contract's state and reason for
/// each, and `check` exits 2.
#[test]
fn once_reports_the_contract_state_and_reason_of_each_kind() {
    let sb = Sandbox::new();
    let fresh = |name: &str| sb.write(&format!("logs/{name}.log"), "working\n");
    let missing = |name: &str| sb.path(&format!("logs/{name}.log"));

    let alive = Proc::sleep();
    let starting = Proc::sleep();
    let no_log = Proc::sleep();
    let stalled_proc = Proc::sleep();
    let (zombie_parent, zombie) = Proc::zombie();
    let exited = dead_pid();
    let original = Proc::sleep();
    let pidfile = sb.write("pids/reused.pid", &format!("{}\n", original.pid()));

    let quiet_log = fresh("quiet");
    touch_mtime(&quiet_log, "5 minutes ago");
    let stalled_log = fresh("stalled");
    touch_mtime(&stalled_log, "20 minutes ago");
    let skewed_log = fresh("skewed");
    touch_mtime(&skewed_log, "10 minutes"); // in the future
    let reuse = can_reuse_pids();

    let mut workers = String::new();
    workers += &worker_toml("alive", &fresh("alive"), &format!("pid = {}", alive.pid()), "");
    workers += &worker_toml("quiet", &quiet_log, "", "");
    workers += &worker_toml("stalled", &stalled_log, &format!("pid = {}", stalled_proc.pid()), "");
    workers += &worker_toml("starting", &missing("starting"), &format!("pid = {}", starting.pid()), "");
    // Grace is measured from the process start, not from when pulsewatch first looked.
    workers += &worker_toml("no-log", &missing("no-log"), &format!("pid = {}", no_log.pid()), "start_grace = \"1s\"");
    workers += &worker_toml("log-only-no-log", &missing("never"), "", "start_grace = \"10m\"");
    workers += &worker_toml("exited", &fresh("exited"), &format!("pid = {exited}"), "");
    workers += &worker_toml("zombie", &fresh("zombie"), &format!("pid = {zombie}"), "");
    workers += &worker_toml("pidfile-gone", &fresh("gone"), &format!("pidfile = {:?}", sb.path("pids/none.pid")), "");
    workers += &worker_toml("skewed", &skewed_log, "", "");
    if reuse {
        workers += &worker_toml("reused", &fresh("reused"), &format!("pidfile = {:?}", pidfile), "");
    }
    let cfg = sb.config("", &workers);
    let cfg = cfg.to_str().unwrap();
    let home = sb.path("home");

    let mut reused = None;
    if reuse {
        // The identity (PID + start time) must have been recorded while the original lived:
        // the daemon records it in state.json, which `once` reads (without writing it).
        let mut d = Daemon::start(&home, std::path::Path::new(cfg));
        wait_until("the daemon to record the original", Duration::from_secs(10), || {
            let s = sb.status()?;
            (worker(&s, "reused")?["pid_alive"] == true).then_some(())
        });
        assert!(d.stop().success(), "{}", d.stderr());
        let n = original.kill();
        reused = Some(reuse_pid(n).expect("root can steer PIDs"));
    } else {
        eprintln!("note: not root, pid_reused is not checked here (it needs /proc/sys/kernel/ns_last_pid)");
    }

    // The no-log worker's process must be past its 1 s grace; poll rather than sleep.
    let doc = wait_until("no-log to pass its start grace", Duration::from_secs(10), || {
        let out = run(&home, &["once", "-c", cfg, "--json"]);
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        let doc = json(&out);
        (worker(&doc, "no-log")?["reason"] == "no_log").then_some(doc)
    });

    #[rustfmt::skip]
    let mut want: Vec<(&str, &str, &str, Value, Option<i32>)> = vec![
        ("alive", "alive", "output", Value::Bool(true), Some(alive.pid())),
        ("quiet", "quiet", "no_output", Value::Null, None),
        ("stalled", "stalled", "no_output", Value::Bool(true), Some(stalled_proc.pid())),
        ("starting", "alive", "starting", Value::Bool(true), Some(starting.pid())),
        ("no-log", "stalled", "no_log", Value::Bool(true), Some(no_log.pid())),
        ("log-only-no-log", "alive", "starting", Value::Null, None),
        ("exited", "orphaned", "pid_exited", Value::Bool(false), Some(exited)),
        ("zombie", "orphaned", "pid_zombie", Value::Bool(false), Some(zombie)),
        ("pidfile-gone", "orphaned", "pidfile_missing", Value::Bool(false), None),
        ("skewed", "alive", "output", Value::Null, None),
    ];
    if let Some(r) = &reused {
        want.push(("reused", "orphaned", "pid_reused", Value::Bool(false), Some(r.pid())));
    }
    for (id, state, reason, pid_alive, pid) in &want {
        let w = worker(&doc, id).unwrap_or_else(|| panic!("{id} missing from {doc:#}"));
        assert_eq!((w["state"].as_str(), w["reason"].as_str()), (Some(*state), Some(*reason)), "{id}: {w}");
        assert_eq!(&w["pid_alive"], pid_alive, "{id}: {w}");
        assert_eq!(w["pid"].as_i64(), pid.map(i64::from), "{id}: {w}");
        assert_eq!(w["source"], "config");
        assert_eq!(w["clock_skew"], *id == "skewed", "{id}: {w}");
    }
    assert_eq!(doc["workers"].as_array().unwrap().len(), want.len());
    let idle = |id: &str| worker(&doc, id).unwrap()["idle_for_s"].as_f64().unwrap();
    assert!((299.0..330.0).contains(&idle("quiet")), "quiet idle {}", idle("quiet"));
    assert!((1199.0..1230.0).contains(&idle("stalled")), "stalled idle {}", idle("stalled"));
    assert_eq!(idle("skewed"), 0.0, "a future mtime counts as now");
    let q = worker(&doc, "quiet").unwrap();
    assert_eq!((q["quiet_after_s"].as_f64(), q["stalled_after_s"].as_f64()), (Some(120.0), Some(900.0)));
    assert_eq!(q["log_size"], 8);
    assert!(q["log_mtime"].as_str().is_some_and(|t| t.ends_with('Z') && t.len() == 24), "{q}");

    let count = |s: &str| want.iter().filter(|w| w.1 == s).count();
    let counts = &doc["counts"];
    for s in ["alive", "quiet", "stalled", "orphaned"] {
        assert_eq!(counts[s].as_u64(), Some(count(s) as u64), "count of {s}: {counts}");
    }

    // check: CRITICAL with the same counts as perfdata.
    let out = run(&home, &["check", "-c", cfg]);
    let line = text(&out);
    assert_eq!(out.status.code(), Some(2), "{line}");
    let perf = format!(
        "| alive={} quiet={} stalled={} orphaned={}\n",
        count("alive"),
        count("quiet"),
        count("stalled"),
        count("orphaned")
    );
    assert!(line.starts_with("PULSEWATCH CRITICAL - ") && line.ends_with(&perf), "{line:?}");
    assert_eq!(line.lines().count(), 1, "one line: {line:?}");
    assert!(line.contains("zombie orphaned (pid_zombie"), "{line}");

    // The table, for people: human idle times.
    let table = text(&run(&home, &["once", "-c", cfg]));
    let row = table.lines().find(|l| l.starts_with("stalled ")).unwrap_or_else(|| panic!("{table}"));
    assert!(row.contains("stalled") && row.contains("no_output") && row.contains(" 20m"), "{row}");
    assert!(table.lines().next().unwrap().starts_with("ID"), "{table}");

    drop(zombie_parent);
}

#[test]
fn check_exit_codes_follow_the_worst_selected_worker() {
    let sb = Sandbox::new();
    let live = Proc::sleep();
    let quiet = sb.write("logs/quiet.log", "x");
    touch_mtime(&quiet, "5 minutes ago");
    let mut workers = worker_toml("ok", &sb.write("logs/ok.log", "x"), &format!("pid = {}", live.pid()), "");
    workers += &worker_toml("quiet", &quiet, "", "");
    workers += &worker_toml("dead", &sb.write("logs/dead.log", "x"), &format!("pid = {}", dead_pid()), "");
    let cfg = sb.config("", &workers);
    let cfg = cfg.to_str().unwrap();
    let home = sb.path("home");
    let code = |args: &[&str]| {
        let mut all = vec!["check", "-c", cfg];
        all.extend_from_slice(args);
        let out = run(&home, &all);
        (out.status.code(), text(&out))
    };
    let (c, line) = code(&["ok"]);
    assert_eq!(c, Some(0), "{line}");
    assert!(
        line.starts_with("PULSEWATCH OK - 1 workers") && line.ends_with("| alive=1 quiet=0 stalled=0 orphaned=0\n")
    );
    assert_eq!(code(&["ok", "quiet"]).0, Some(0), "quiet is OK by default");
    let (c, line) = code(&["--warn-quiet", "ok", "quiet"]);
    assert_eq!(c, Some(1), "{line}");
    assert!(line.starts_with("PULSEWATCH WARNING - "), "{line}");
    let (c, line) = code(&["ok", "dead"]);
    assert_eq!(c, Some(2), "{line}");
    assert!(line.contains("dead orphaned (pid_exited"), "{line}");
    let (c, line) = code(&["ok", "nosuch"]);
    assert_eq!(c, Some(3), "{line}");
    assert!(line.starts_with("PULSEWATCH UNKNOWN - ") && line.contains("nosuch"), "{line}");
}

#[test]
fn status_exits_1_without_a_daemon() {
    let sb = Sandbox::new();
    let cfg = sb.config("", "");
    let out = run(&sb.path("home"), &["status", "-c", cfg.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no daemon status"), "{out:?}");
    let out = run(&sb.path("home"), &["status", "--json", "-c", cfg.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "nothing on stdout for scripts to misread");
}

/// A pidfile is read again on every probe: a worker that restarts and writes a new PID is
/// watched under the new one; a pidfile holding garbage is pidfile_missing with an error.
#[test]
fn pidfile_is_reread_on_every_probe() {
    let sb = Sandbox::new();
    let first = Proc::sleep();
    let pidfile = sb.write("pids/a.pid", &format!("{}\n", first.pid()));
    let cfg = sb.config("", &worker_toml("a", &sb.write("logs/a.log", "x"), &format!("pidfile = {pidfile:?}"), ""));
    let cfg = cfg.to_str().unwrap();
    let home = sb.path("home");
    let once = || json(&run(&home, &["once", "--json", "-c", cfg]));
    assert_eq!(worker(&once(), "a").unwrap()["pid"], first.pid());
    let second = Proc::sleep();
    std::fs::write(&pidfile, format!("{}\n", second.pid())).unwrap();
    let w = once();
    let w = worker(&w, "a").unwrap();
    assert_eq!((w["state"].as_str(), w["pid"].as_i64()), (Some("alive"), Some(i64::from(second.pid()))), "{w}");
    std::fs::write(&pidfile, "not a pid\n").unwrap();
    let doc = once();
    let w = worker(&doc, "a").unwrap();
    assert_eq!((w["state"].as_str(), w["reason"].as_str()), (Some("orphaned"), Some("pidfile_missing")), "{w}");
    assert!(w["error"].as_str().is_some_and(|e| e.contains("a.pid:1:") && e.contains("not a PID")), "{w}");
    std::fs::write(&pidfile, "").unwrap();
    assert_eq!(worker(&once(), "a").unwrap()["reason"], "pidfile_missing", "an empty pidfile holds no PID");
}

/// `start_grace` runs from the process start: the idle time of a worker without a log is the
/// age of its process, and it turns stalled/no_log once that age reaches the grace.
#[test]
fn start_grace_runs_from_the_process_start() {
    let sb = Sandbox::new();
    let spawned = std::time::Instant::now();
    let p = Proc::sleep();
    let cfg = sb.config(
        "",
        &worker_toml("w", &sb.path("logs/none.log"), &format!("pid = {}", p.pid()), "start_grace = \"2s\""),
    );
    let cfg = cfg.to_str().unwrap();
    let home = sb.path("home");
    let mut seen_starting = false;
    wait_until("the grace to run out", Duration::from_secs(15), || {
        let doc = json(&run(&home, &["once", "--json", "-c", cfg]));
        let age = spawned.elapsed().as_secs_f64();
        let w = worker(&doc, "w").unwrap();
        let idle = w["idle_for_s"].as_f64().unwrap();
        assert!(idle <= age + 0.05, "idle {idle}s, but the process is only {age}s old");
        let want = if idle < 2.0 { ("alive", "starting") } else { ("stalled", "no_log") };
        assert_eq!((w["state"].as_str().unwrap(), w["reason"].as_str().unwrap()), want, "{w}");
        seen_starting |= want.1 == "starting";
        (want.1 == "no_log").then_some(())
    });
    assert!(seen_starting, "never saw the worker within its grace");
}

/// After a reboot the PID number of a config or an unchanged pidfile names whatever process
/// got it this time: the same PID under another boot id is `pid_reused`, not alive.
#[test]
fn same_pid_under_another_boot_id_is_reused() {
    let sb = Sandbox::new();
    let p = Proc::sleep();
    let cfg = sb.config("", &worker_toml("w", &sb.write("logs/w.log", "x"), &format!("pid = {}", p.pid()), ""));
    let home = sb.path("home");
    let mut d = Daemon::start(&home, &cfg);
    wait_until("the identity to be recorded", Duration::from_secs(10), || {
        sb.status().and_then(|s| worker(&s, "w").cloned())
    });
    assert!(d.stop().success(), "{}", d.stderr());
    let cfg = cfg.to_str().unwrap();
    let once = || json(&run(&home, &["once", "--json", "-c", cfg]));
    assert_eq!(worker(&once(), "w").unwrap()["state"], "alive", "same boot, same process");

    // The same record, as if written before a reboot.
    let mut state = sb.saved_state();
    let identity = &mut state["workers"]["w"]["identity"];
    assert_eq!(identity["pid"], p.pid());
    identity["boot_id"] = "00000000-0000-0000-0000-000000000000".into();
    sb.write_saved_state(&state);
    let doc = once();
    let w = worker(&doc, "w").unwrap();
    assert_eq!((w["state"].as_str(), w["reason"].as_str()), (Some("orphaned"), Some("pid_reused")), "{w}");
}

/// Registry entries are workers; a bad entry is skipped with a warning naming its file, line
/// and key, and never stops the others.
#[test]
fn registry_entries_and_a_bad_one() {
    let sb = Sandbox::new();
    let reg = sb.path("workers");
    sb.write(
        "workers/good.toml",
        &format!("id = \"good\"\nlog = {:?}\nquiet_after = \"5m\"\n", sb.path("logs/good.log")),
    );
    sb.write("workers/bad.toml", "id = \"bad\"\nlog = \"/tmp/x.log\"\nquiet_afterr = \"5m\"\n");
    sb.write("workers/.partial.toml", "id = ");
    let cfg = sb.config("", &format!("[[discover]]\nregistry = {:?}\n", reg));
    let cfg = cfg.to_str().unwrap();
    let home = sb.path("home");
    let out = run(&home, &["config", "check", "-c", cfg]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("bad.toml:3:1: `quiet_afterr`: unknown field"), "{text}");
    assert!(!text.contains(".partial.toml"), "temp files of writers are ignored: {text}");
    let doc = json(&run(&home, &["once", "--json", "-c", cfg]));
    let ids: Vec<&str> = doc["workers"].as_array().unwrap().iter().map(|w| w["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["good"]);
    let good = worker(&doc, "good").unwrap();
    assert_eq!((good["source"].as_str(), good["quiet_after_s"].as_f64()), (Some("registry"), Some(300.0)));
}

/// `pulsewatch events | head -1` ends quietly, as Unix tools do, instead of panicking on the
/// closed pipe.
#[test]
fn a_closed_pipe_ends_a_reader_quietly() {
    use std::io::BufRead;
    use std::os::unix::process::ExitStatusExt;
    let sb = Sandbox::new();
    let cfg = sb.config("", "");
    let lines: String =
        (1..=5000).map(|i| format!("{{\"v\":1,\"seq\":{i},\"ts\":\"t\",\"event\":\"config_reloaded\"}}\n")).collect();
    sb.write("state/events.ndjson", &lines);
    let mut child = command(&sb.path("home"))
        .args(["events", "-c", cfg.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    assert!(first.contains("#1 "), "{first}");
    // The reader is gone (dropped above): the next writes hit a closed pipe.
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.signal(), Some(rustix::process::Signal::PIPE.as_raw()), "{out:?}");
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
}
