//! The HTTP endpoint of a real daemon on an ephemeral loopback port: routes, the status
//! document, the bearer token, /healthz going stale, and clients that hold connections.

mod common;
use common::http::{Reply, get, request};
use common::*;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

const T: Duration = Duration::from_secs(15);

/// Starts the daemon with `listen` on port 0 and returns it with the address it bound,
/// which the status document's `daemon.listen` tells, once the first snapshot is served.
fn start(sb: &Sandbox, daemon_extra: &str, rest: &str) -> (Daemon, String) {
    let cfg = sb.config(&format!("sweep_interval = \"1s\"\nlisten = \"127.0.0.1:0\"\n{daemon_extra}"), rest);
    let d = Daemon::start(sb.dir.path(), &cfg);
    let addr = wait_until("the status file with daemon.listen", T, || {
        sb.status()?["daemon"]["listen"].as_str().map(str::to_string)
    });
    wait_until("the first snapshot", T, || (get(&addr, "/healthz").status == 200).then_some(()));
    (d, addr)
}

fn log_worker(sb: &Sandbox, id: &str) -> String {
    let log = sb.write(&format!("logs/{id}.log"), "hello\n");
    format!("[[worker]]\nid = \"{id}\"\nlog = {log:?}\n")
}

#[test]
fn status_equals_the_status_file_and_unknown_routes_are_refused() {
    let sb = Sandbox::new();
    let (mut d, addr) = start(&sb, "", &log_worker(&sb, "w1"));
    assert!(addr.starts_with("127.0.0.1:") && !addr.ends_with(":0"), "{addr}");

    // The file and the endpoint are written from the same bytes after each sweep; retry
    // only while a sweep lands between the two reads.
    let (body, file) = wait_until("/status and the status file to show the same sweep", T, || {
        let r = get(&addr, "/status");
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(r.header("content-type"), Some("application/json"));
        let file = std::fs::read_to_string(sb.status_file()).ok()?;
        (r.body == file).then_some((r.body, file))
    });
    assert_eq!(body, file);
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(doc["daemon"]["listen"], addr.as_str());
    assert_eq!(worker(&doc, "w1").unwrap()["state"], "alive");

    let health = get(&addr, "/healthz");
    assert_eq!(health.status, 200, "{health:?}");
    assert!(health.body.starts_with("ok: ") && health.body.lines().count() == 1, "{:?}", health.body);

    for (method, path, code) in [
        ("GET", "/", 404),
        ("GET", "/metrics/extra", 404),
        ("DELETE", "/nowhere", 404),
        ("POST", "/metrics", 405),
        ("PUT", "/status", 405),
        ("HEAD", "/healthz", 405),
    ] {
        let r = request(&addr, method, path, &[]).unwrap();
        assert_eq!(r.status, code, "{method} {path}: {r:?}");
        if code == 405 {
            assert_eq!(r.header("allow"), Some("GET"));
        }
    }
    assert!(d.stop().success(), "{}", d.stderr());
}

#[test]
fn bearer_token_guards_metrics_and_status_but_not_healthz() {
    let sb = Sandbox::new();
    let token = sb.write("secret/token", "  s3cret-Tok3n\n");
    let (mut d, addr) = start(&sb, &format!("auth_token_file = {token:?}"), &log_worker(&sb, "w1"));
    for path in ["/metrics", "/status"] {
        let cases: [(&[(&str, &str)], u16); 5] = [
            (&[], 401),
            (&[("Authorization", "Bearer wrong")], 401),
            (&[("Authorization", "Bearer s3cret-Tok3n-and-more")], 401),
            (&[("Authorization", "Basic s3cret-Tok3n")], 401),
            (&[("Authorization", "Bearer s3cret-Tok3n")], 200),
        ];
        for (headers, code) in cases {
            let r: Reply = request(&addr, "GET", path, headers).unwrap();
            assert_eq!(r.status, code, "{path} {headers:?}: {r:?}");
            if code == 401 {
                assert_eq!(r.header("www-authenticate"), Some("Bearer realm=\"pulsewatch\""));
                assert!(!r.body.contains("w1"), "nothing leaks: {:?}", r.body);
            }
        }
    }
    assert_eq!(get(&addr, "/healthz").status, 200, "probes need no token");

    // SIGHUP reads the token file again: the new token works, the old one no longer does.
    std::fs::write(&token, "n3w-token\n").unwrap();
    d.signal(rustix::process::Signal::HUP);
    let bearer = |t: &str| request(&addr, "GET", "/metrics", &[("Authorization", &format!("Bearer {t}"))]).unwrap();
    wait_until("the new token to be accepted", T, || (bearer("n3w-token").status == 200).then_some(()));
    assert_eq!(bearer("s3cret-Tok3n").status, 401);
    assert!(d.stop().success(), "{}", d.stderr());
}

/// The service's test hook wedges the working loop after a few sweeps, as a hung mount or
/// a blocking call would: /healthz turns 503 while the endpoint keeps answering.
#[test]
fn healthz_turns_503_when_the_loop_is_stuck() {
    let sb = Sandbox::new();
    let cfg = sb.config("sweep_interval = \"1s\"\nlisten = \"127.0.0.1:0\"", &log_worker(&sb, "w1"));
    let mut cmd = command(sb.dir.path());
    cmd.env(pulsewatch::service::TEST_WEDGE_ENV, "3").arg("run").arg("-c").arg(&cfg);
    let _d = Daemon::start_with(&mut cmd);
    let addr = wait_until("daemon.listen", T, || sb.status()?["daemon"]["listen"].as_str().map(str::to_string));
    let ok = wait_until("/healthz 200", T, || Some(get(&addr, "/healthz")).filter(|r| r.status == 200));
    assert!(ok.body.starts_with("ok: last sweep ") && ok.body.lines().count() == 1, "{:?}", ok.body);
    let stale = wait_until("/healthz 503", T, || Some(get(&addr, "/healthz")).filter(|r| r.status == 503));
    assert!(stale.body.starts_with("stale: last sweep ") && stale.body.lines().count() == 1, "{:?}", stale.body);
    assert!(stale.body.ends_with("(limit 3.0s)\n"), "{:?}", stale.body);
    // Metrics and status still answer, from the last completed sweep.
    assert_eq!(get(&addr, "/metrics").status, 200);
    assert_eq!(get(&addr, "/status").status, 200);
}

/// Clients that connect and never send a request neither stall classification nor keep
/// the endpoint: the surplus is closed at once, the rest after the header timeout.
#[test]
fn two_hundred_idle_connections_do_not_stop_classification() {
    let sb = Sandbox::new();
    let p = Proc::sleep();
    let log = sb.write("logs/w1.log", "x\n");
    let rest = format!("[[worker]]\nid = \"w1\"\nlog = {log:?}\npid = {}\n", p.pid());
    let (mut d, addr) = start(&sb, "", &rest);
    wait_until("w1 alive", T, || (worker(&sb.status()?, "w1")?["state"] == "alive").then_some(()));

    let mut idle: Vec<TcpStream> = (0..200)
        .map(|i| {
            let mut s = TcpStream::connect(&addr).unwrap_or_else(|e| panic!("connection {i}: {e}"));
            // Half of them start a request and never finish its head.
            if i % 2 == 0 {
                s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n").unwrap();
            }
            s
        })
        .collect();
    drop(p);
    wait_until("w1 orphaned while 200 connections idle", T, || {
        (worker(&sb.status()?, "w1")?["state"] == "orphaned").then_some(())
    });
    // Every idle connection gets closed by the server (EOF or reset), none is kept forever.
    for (i, s) in idle.iter_mut().enumerate() {
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut buf = [0u8; 64];
        match s.read(&mut buf) {
            Ok(0) => {}
            Ok(n) => panic!("connection {i}: unexpected {:?}", String::from_utf8_lossy(&buf[..n])),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!("connection {i} still open after 20 s")
            }
            Err(_) => {} // reset: closed as well
        }
    }
    let r = wait_until("/healthz to answer after the idle clients", T, || request(&addr, "GET", "/healthz", &[]).ok());
    assert_eq!(r.status, 200, "{r:?}");
    assert!(d.stop().success(), "{}", d.stderr());
}

#[test]
fn start_fails_clearly_on_a_taken_port_or_a_missing_token() {
    let sb = Sandbox::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let cfg = sb.config(&format!("listen = \"{addr}\""), "");
    let out = run(sb.dir.path(), &["run", "-c", cfg.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(&format!("listen = \"{addr}\": cannot bind")), "{err}");

    let missing = sb.path("no/such/token");
    let cfg = sb.config(&format!("listen = \"127.0.0.1:0\"\nauth_token_file = {missing:?}"), "");
    let out = run(sb.dir.path(), &["run", "-c", cfg.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(&format!("{}: cannot read the auth token", missing.display())), "{err}");
}

/// Between sweeps too: a change noticed by an event reaches `GET /status` with the status
/// file, so the two never disagree for a whole `sweep_interval`.
#[test]
fn status_follows_event_driven_changes_between_sweeps() {
    let sb = Sandbox::new();
    let log = sb.write("logs/w.log", "hello\n");
    age(&log, Duration::from_secs(300));
    let cfg = sb.config(
        "sweep_interval = \"1h\"\nlisten = \"127.0.0.1:0\"\n",
        &format!("[[worker]]\nid = \"w\"\nlog = {log:?}\nquiet_after = \"1m\"\n"),
    );
    let _d = Daemon::start(sb.dir.path(), &cfg);
    let addr = wait_until("daemon.listen", T, || sb.status()?["daemon"]["listen"].as_str().map(str::to_string));
    let state = |body: &str| {
        let doc: serde_json::Value = serde_json::from_str(body).ok()?;
        worker(&doc, "w").map(|w| w["state"].as_str().unwrap_or_default().to_string())
    };
    wait_until("quiet on /status", T, || (state(&get(&addr, "/status").body)? == "quiet").then_some(()));
    std::fs::OpenOptions::new().append(true).open(&log).unwrap().write_all(b"back\n").unwrap();
    wait_until("alive on /status without a sweep", T, || {
        (state(&get(&addr, "/status").body)? == "alive").then_some(())
    });
    assert_eq!(sb.events().iter().filter(|e| e["event"] == "daemon_started").count(), 1);
}
