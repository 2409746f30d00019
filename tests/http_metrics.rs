//! /metrics and the textfile of a real daemon watching a known set of workers: every
//! contract metric with the right value, valid exposition text, removed workers' series gone.

mod common;
use common::expfmt::{self, Exposition};
use common::http::{get, request};
use common::*;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const T: Duration = Duration::from_secs(15);
const NOTE: &str = r#"say "hi" \ back"#;

/// Ages `path` and returns its mtime as the metric shows it: unix seconds, milliseconds kept.
fn aged(path: &std::path::Path, ago: Duration) -> f64 {
    age(path, ago);
    let mtime = std::fs::metadata(path).unwrap().modified().unwrap();
    mtime.duration_since(UNIX_EPOCH).unwrap().as_millis() as f64 / 1000.0
}

/// The parsed /metrics; `None` only before the first snapshot is published.
fn metrics(addr: &str) -> Option<Exposition> {
    let r = get(addr, "/metrics");
    if r.status == 503 && r.body.starts_with("starting") {
        return None;
    }
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("content-type"), Some("text/plain; version=0.0.4; charset=utf-8"));
    Some(expfmt::parse(&r.body).unwrap_or_else(|e| panic!("{e}\n{}", r.body)))
}

/// `promtool check metrics` lints the text as Prometheus itself parses it.
fn promtool_lint(text: &str) {
    let Some(mut cmd) = promtool("promtool check metrics") else {
        return;
    };
    let mut child = cmd
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "promtool: {said}\n{text}");
}

fn one_hot(e: &Exposition, worker: &str, state: &str) {
    for s in ["alive", "quiet", "stalled", "orphaned"] {
        let v = e.get("pulsewatch_worker_state", &[("worker", worker), ("state", s)]);
        assert_eq!(v, Some(f64::from(s == state)), "{worker} {s}");
    }
}

#[test]
fn metrics_carry_every_contract_metric_and_follow_the_workers() {
    let sb = Sandbox::new();
    let sleeper = Proc::sleep();
    let mut exited = Command::new("true").spawn().unwrap();
    let gone_pid = exited.id();
    exited.wait().unwrap();

    let fresh = sb.write("logs/fresh.log", "0123456789\n");
    let quiet = sb.write("logs/quiet.log", "q\n");
    let quiet_at = aged(&quiet, Duration::from_secs(300));
    let old = sb.write("logs/old.log", "o\n");
    let old_at = aged(&old, Duration::from_secs(1200));
    let gone = sb.write("logs/gone.log", "g\n");
    let globbed = sb.write("glob/globbed.log", "x\n");
    let textfile = sb.path("textfile/pulsewatch.prom");
    let rest = format!(
        r#"
[[worker]]
id = "fresh"
log = {fresh:?}
pid = {sleeper}
labels = {{ team = "infra", note = '{NOTE}' }}

[[worker]]
id = "quiet.one"
log = {quiet:?}

[[worker]]
id = "old@host"
log = {old:?}

[[worker]]
id = "gone"
log = {gone:?}
pid = {gone_pid}

[[discover]]
logs = "{glob}/*.log"
id = "{{stem}}"

# Matches nothing, so its counters stay at 0 whatever the hook runner does.
[[hook]]
name = "page"
command = ["/bin/true"]
on = ["orphaned->alive"]
workers = ["nobody"]
"#,
        sleeper = sleeper.pid(),
        glob = sb.path("glob").display(),
    );
    let cfg = sb.config(
        &format!("sweep_interval = \"1s\"\nlisten = \"127.0.0.1:0\"\ntextfile = {textfile:?}\nliveness_every = \"0s\""),
        &rest,
    );
    let mut d = Daemon::start(sb.dir.path(), &cfg);
    let addr = wait_until("daemon.listen", T, || sb.status()?["daemon"]["listen"].as_str().map(str::to_string));
    let e = wait_until("all five workers in /metrics", T, || {
        let e = metrics(&addr)?;
        (e.series("pulsewatch_worker_idle_seconds").len() == 5).then_some(e)
    });

    one_hot(&e, "fresh", "alive");
    one_hot(&e, "quiet.one", "quiet");
    one_hot(&e, "old@host", "stalled");
    one_hot(&e, "gone", "orphaned");
    one_hot(&e, "globbed", "alive");
    for (state, n) in [("alive", 2.0), ("quiet", 1.0), ("stalled", 1.0), ("orphaned", 1.0)] {
        assert_eq!(e.get("pulsewatch_workers", &[("state", state)]), Some(n), "{state}");
    }
    let w = |name: &str, worker: &str| e.get(name, &[("worker", worker)]);
    assert_eq!(w("pulsewatch_worker_last_output_timestamp_seconds", "old@host"), Some(old_at));
    assert_eq!(w("pulsewatch_worker_last_output_timestamp_seconds", "quiet.one"), Some(quiet_at));
    let idle = w("pulsewatch_worker_idle_seconds", "old@host").unwrap();
    assert!((1200.0..1260.0).contains(&idle), "{idle}");
    let idle = w("pulsewatch_worker_idle_seconds", "fresh").unwrap();
    assert!((0.0..60.0).contains(&idle), "{idle}");
    assert_eq!(w("pulsewatch_worker_log_bytes", "fresh"), Some(11.0));
    assert_eq!(w("pulsewatch_worker_log_bytes", "old@host"), Some(2.0));
    assert_eq!(w("pulsewatch_worker_flapping", "fresh"), Some(0.0));
    // Config labels only on the info series, values escaped on the wire and intact here.
    assert_eq!(e.get("pulsewatch_worker_info", &[("worker", "fresh"), ("team", "infra"), ("note", NOTE)]), Some(1.0));
    assert_eq!(e.get("pulsewatch_worker_info", &[("worker", "gone")]), Some(1.0));
    assert!(e.samples.iter().filter(|s| s.name != "pulsewatch_worker_info").all(|s| !s.labels.contains_key("team")));
    for to in ["alive", "quiet", "stalled", "orphaned"] {
        assert_eq!(e.get("pulsewatch_transitions_total", &[("to", to)]), Some(0.0), "{to}");
    }
    for outcome in ["ok", "failed", "timeout", "spawn_error", "skipped"] {
        assert_eq!(e.get("pulsewatch_hook_runs_total", &[("hook", "page"), ("outcome", outcome)]), Some(0.0));
    }
    assert_eq!(e.types["pulsewatch_transitions_total"], "counter");
    assert_eq!(e.types["pulsewatch_hook_runs_total"], "counter");
    assert_eq!(e.types["pulsewatch_sweep_duration_seconds"], "histogram");
    assert!(e.get("pulsewatch_sweep_duration_seconds_count", &[]).unwrap() >= 1.0);
    assert_eq!(e.get("pulsewatch_build_info", &[("version", env!("CARGO_PKG_VERSION"))]), Some(1.0));
    assert_eq!(e.get("pulsewatch_sweep_interval_seconds", &[]), Some(1.0));
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64();
    let last = e.get("pulsewatch_last_sweep_timestamp_seconds", &[]).unwrap();
    assert!((now - 30.0..=now + 1.0).contains(&last), "{last} vs {now}");
    let started = e.get("process_start_time_seconds", &[]).unwrap();
    assert!((now - 60.0..=now + 1.0).contains(&started), "{started} vs {now}");
    assert!(e.get("process_resident_memory_bytes", &[]).unwrap() > 0.0);
    assert!(e.get("process_open_fds", &[]).unwrap() > 0.0);
    assert!(e.get("process_cpu_seconds_total", &[]).is_some());
    promtool_lint(&get(&addr, "/metrics").body);

    // Prometheus asks for OpenMetrics first and accepts the text format it gets.
    let accept = [("Accept", "application/openmetrics-text;version=1.0.0;q=0.9,text/plain;version=0.0.4;q=0.5")];
    let r = request(&addr, "GET", "/metrics", &accept).unwrap();
    assert_eq!(r.header("content-type"), Some("text/plain; version=0.0.4; charset=utf-8"));

    // The textfile: the same metrics in the 0.0.4 format node_exporter parses.
    let text = wait_until("the textfile", T, || std::fs::read_to_string(&textfile).ok());
    let te = expfmt::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(te.get("pulsewatch_worker_state", &[("worker", "old@host"), ("state", "stalled")]), Some(1.0));
    assert!(!text.contains("# EOF"));
    promtool_lint(&text);

    // A transition is counted; a removed worker's series disappear from both outputs.
    std::fs::write(&old, "more output\n").unwrap();
    std::fs::remove_file(&globbed).unwrap();
    let e = wait_until("the transition counted and `globbed` gone", T, || {
        let e = metrics(&addr)?;
        let counted = e.get("pulsewatch_transitions_total", &[("to", "alive")]) == Some(1.0);
        let gone = e.samples.iter().all(|s| s.labels.get("worker").map(String::as_str) != Some("globbed"));
        (counted && gone).then_some(e)
    });
    one_hot(&e, "old@host", "alive");
    assert_eq!(e.get("pulsewatch_workers", &[("state", "alive")]), Some(2.0));
    assert_eq!(e.get("pulsewatch_workers", &[("state", "stalled")]), Some(0.0));
    wait_until("`globbed` gone from the textfile", T, || {
        (!std::fs::read_to_string(&textfile).ok()?.contains("\"globbed\"")).then_some(())
    });
    assert!(d.stop().success(), "{}", d.stderr());
}

#[test]
fn checker_rejects_what_it_should() {
    let ok = "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"q\\\"\\\\\\n\"} 1\n";
    let e = expfmt::parse(ok).unwrap();
    assert_eq!(e.get("a_total", &[("x", "q\"\\\n")]), Some(1.0));
    for bad in [
        "a 1\n",                                                                          // undeclared
        "# TYPE a gauge\na 1 1700000000\n",                                               // timestamp
        "# TYPE a gauge\na{x=\"\\q\"} 1\n",                                               // bad escape
        "# TYPE a gauge\na{x=\"1\"} 1\na{x=\"1\"} 2\n",                                   // duplicate
        "# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\na 2\n",                                // interleaved
        "# TYPE a gauge\na x\n",                                                          // value
        "# TYPE a gauge\n\na 1\n",                                                        // empty line
        "# TYPE a bogus\na 1\n",                                                          // type
        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n", // not cumulative
    ] {
        assert!(expfmt::parse(bad).is_err(), "{bad:?}");
    }
}
