//! Running under systemd: sd_notify messages on a socket the test binds (READY, STATUS,
//! WATCHDOG cadence, RELOADING/READY, STOPPING), the heartbeat file, and a wedged loop that
//! stops the pings.

mod common;
use common::notify::{NotifySocket, has_line};
use common::*;
use serde_json::Value;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(15);

fn heartbeat(sb: &Sandbox) -> Option<Value> {
    serde_json::from_str(&std::fs::read_to_string(sb.path("run/heartbeat.json")).ok()?).ok()
}

/// Two log-only workers: `fresh` alive, `old` stalled.
fn two_workers(sb: &Sandbox, daemon_extra: &str) -> std::path::PathBuf {
    let fresh = sb.write("logs/fresh.log", "hi\n");
    let old = sb.write("logs/old.log", "hi\n");
    age(&old, Duration::from_secs(3600));
    sb.config(
        daemon_extra,
        &format!("[[worker]]\nid = \"fresh\"\nlog = {fresh:?}\n\n[[worker]]\nid = \"old\"\nlog = {old:?}\n"),
    )
}

/// The daemon on `two_workers`, with a notify socket and the extra environment `env`.
fn start(sb: &Sandbox, daemon_extra: &str, env: &[(&str, &str)]) -> (Daemon, NotifySocket) {
    let cfg = two_workers(sb, daemon_extra);
    let sock = NotifySocket::bind();
    let mut cmd = command(sb.dir.path());
    cmd.args(["run", "-c"]).arg(&cfg).env("NOTIFY_SOCKET", &sock.path).envs(env.iter().copied());
    (Daemon::start_with(&mut cmd), sock)
}

#[test]
fn ready_status_watchdog_heartbeat_stopping() {
    let sb = Sandbox::new();
    let (mut d, mut sock) =
        start(&sb, "sweep_interval = \"1s\"\nheartbeat_interval = \"200ms\"", &[("WATCHDOG_USEC", "500000")]);

    // READY=1 comes after the first sweep: its status file and events exist by then.
    let ready = sock.wait_for("READY=1", T, |m| has_line(m, "READY=1"));
    assert!(has_line(&ready, "STATUS=2 workers: 1 alive, 0 quiet, 1 stalled, 0 orphaned"), "{ready}");
    let status = sb.status().expect("status file written before READY=1");
    assert_eq!(status["counts"]["alive"], 1);
    assert!(sb.events().iter().any(|e| e["event"] == "daemon_started"));
    assert_eq!(sock.times_of("READY=1").len(), 1);

    // The heartbeat: the contract's shape, refreshed by the loop.
    let hb = wait_until("the heartbeat file", T, || heartbeat(&sb));
    assert_eq!(hb["pid"], d.pid());
    assert_eq!(hb["status"], "running");
    assert_eq!(hb["workers"], 2);
    assert!(hb["last_sweep_ms"].as_u64().unwrap() >= hb["started_at_ms"].as_u64().unwrap());
    for key in ["started_at_ms", "updated_at_ms", "last_sweep_ms"] {
        assert!(hb[key].as_u64().is_some_and(|v| v > 0), "{key}: {hb}");
    }
    assert!(hb["updated_at"].as_str().is_some_and(|s| s.ends_with('Z')), "{hb}");
    assert_eq!(hb["version"], env!("CARGO_PKG_VERSION"));
    let first = hb["updated_at_ms"].as_u64().unwrap();
    wait_until("a refreshed heartbeat", T, || heartbeat(&sb).filter(|h| h["updated_at_ms"].as_u64() > Some(first)));

    // A sweep that changes the counts sends STATUS= once.
    age(&sb.path("logs/fresh.log"), Duration::from_secs(3600));
    sock.wait_for("the new STATUS", T, |m| has_line(m, "STATUS=2 workers: 0 alive, 0 quiet, 2 stalled, 0 orphaned"));

    // Watchdog: WATCHDOG_USEC=500ms, so a ping every 250 ms, while sweeps run only every
    // second: the loop wakes for the pings by itself.
    // Arrival times only mean something while the test keeps reading: drop what queued up.
    while sock.recv(Duration::from_millis(1)).is_some() {}
    sock.msgs.clear();
    let start = Instant::now();
    while sock.times_of("WATCHDOG=1").len() < 10 {
        assert!(start.elapsed() < T, "pings: {:?}", sock.texts());
        sock.recv(T);
    }
    let pings = sock.times_of("WATCHDOG=1");
    let mut gaps: Vec<Duration> = pings.windows(2).map(|w| w[1] - w[0]).collect();
    gaps.sort();
    let median = gaps[gaps.len() / 2];
    // Never more often than asked (arrival jitter aside), and about every 250 ms.
    assert!(gaps[0] >= Duration::from_millis(150), "gaps {gaps:?}");
    assert!(median >= Duration::from_millis(200) && median < Duration::from_millis(500), "gaps {gaps:?}");

    // SIGTERM: STOPPING=1, a last heartbeat saying so, exit 0.
    let code = d.stop();
    assert!(code.success(), "exit {code:?}: {}", d.stderr());
    sock.wait_for("STOPPING=1", T, |m| has_line(m, "STOPPING=1"));
    let hb = heartbeat(&sb).expect("heartbeat after stop");
    assert_eq!(hb["status"], "stopping");
    let events = sb.events();
    assert_eq!(events.last().unwrap()["event"], "daemon_stopping");
}

#[test]
fn reload_sends_reloading_then_ready() {
    let sb = Sandbox::new();
    let (mut d, mut sock) = start(&sb, "sweep_interval = \"100ms\"", &[]);
    sock.wait_for("READY=1", T, |m| has_line(m, "READY=1"));
    d.signal(rustix::process::Signal::HUP);
    let reloading = sock.wait_for("RELOADING=1", T, |m| has_line(m, "RELOADING=1"));
    // systemd >= 253 (Type=notify-reload) wants the monotonic time of the reload with it.
    assert!(reloading.lines().any(|l| l.strip_prefix("MONOTONIC_USEC=").is_some_and(|v| v.parse::<u64>().is_ok())));
    let ready = sock.wait_for("READY=1 after the reload", T, |m| has_line(m, "READY=1"));
    assert!(ready.contains("STATUS=2 workers"), "{ready}");
    assert!(sb.events().iter().any(|e| e["event"] == "config_reloaded"));
    // No watchdog without WATCHDOG_USEC.
    assert!(sock.times_of("WATCHDOG=1").is_empty(), "{:?}", sock.texts());
    assert!(d.stop().success());
}

#[test]
fn wedged_loop_stops_pings_and_heartbeats() {
    let sb = Sandbox::new();
    let env = [("WATCHDOG_USEC", "200000"), ("PULSEWATCH_TEST_WEDGE_AFTER_SWEEPS", "8")];
    let (mut d, mut sock) = start(&sb, "sweep_interval = \"50ms\"\nheartbeat_interval = \"50ms\"", &env);
    sock.wait_for("READY=1", T, |m| has_line(m, "READY=1"));
    sock.wait_for("a first ping", T, |m| has_line(m, "WATCHDOG=1"));
    // Pings every 100 ms until the loop wedges after its 8th sweep; then silence, for good.
    sock.wait_for_silence(Duration::from_secs(1), T);
    let pings = sock.times_of("WATCHDOG=1").len();
    let hb = heartbeat(&sb).expect("heartbeat");
    assert_eq!(sock.wait_for_silence(Duration::from_secs(1), Duration::from_secs(1)), 0);
    assert_eq!(sock.times_of("WATCHDOG=1").len(), pings);
    assert_eq!(heartbeat(&sb).unwrap()["updated_at_ms"], hb["updated_at_ms"], "the heartbeat stopped too");
    assert!(d.child.try_wait().unwrap().is_none(), "the daemon is wedged, not gone");
    let _ = d.child.kill();
    let _ = d.child.wait();
    assert!(d.stderr().contains("wedging the working loop"));
}
