//! The example hooks in config/hooks/ do what the README says: the webhook posts the event
//! line, the tmux nudge reaches the worker's pane.

mod common;
use common::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config/hooks").join(name)
}

#[test]
fn examples_are_valid_sh() {
    for name in ["notify.sh", "webhook.sh", "tmux-nudge.sh"] {
        let out = Command::new("sh").arg("-n").arg(example(name)).output().unwrap();
        assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

/// One HTTP request: (request line and headers, body). Answers 204.
fn serve_one(listener: TcpListener) -> std::thread::JoinHandle<(String, String)> {
    std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut r = BufReader::new(stream.try_clone().unwrap());
        let (mut head, mut len) = (String::new(), 0usize);
        loop {
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            if line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().unwrap();
            }
            head.push_str(&line);
        }
        let mut body = vec![0; len];
        r.read_exact(&mut body).unwrap();
        (&stream).write_all(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").unwrap();
        (head, String::from_utf8(body).unwrap())
    })
}

#[test]
fn webhook_posts_the_event_line() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/agents", listener.local_addr().unwrap());
    let server = serve_one(listener);
    let sb = Sandbox::new();
    let cfg = sb.config(
        r#"sweep_interval = "100ms""#,
        &format!(
            r#"[[worker]]
id = "w"
log = {log:?}

[[hook]]
name = "webhook"
command = [{hook:?}, "{url}"]
on = ["none->alive"]
timeout = "10s"
"#,
            log = sb.path("logs/w.log"),
            hook = example("webhook.sh"),
        ),
    );
    let mut d = Daemon::start(sb.dir.path(), &cfg);
    let ev = wait_until("the webhook reported", Duration::from_secs(30), || sb.hook_events("webhook").pop());
    assert!(d.stop().success());
    assert_eq!(ev["outcome"], "ok", "{ev}");
    let (head, body) = server.join().unwrap();
    let line = std::fs::read_to_string(sb.event_log())
        .unwrap()
        .lines()
        .find(|l| l.contains("worker_added"))
        .unwrap()
        .to_string();
    assert_eq!(body.trim_end(), line);
    assert!(head.starts_with("POST /agents "), "{head}");
    let seq = serde_json::from_str::<serde_json::Value>(&line).unwrap()["seq"].to_string();
    assert!(head.contains(&format!("X-Pulsewatch-Seq: {seq}")), "{head}");
    assert!(head.to_ascii_lowercase().contains("content-type: application/json"), "{head}");
}

#[test]
fn tmux_nudge_types_into_the_workers_pane() {
    let t = Tmux::new();
    t.session("agent-1", "cat");
    let mut nudge = Command::new(example("tmux-nudge.sh"));
    nudge
        .args(["-L", &t.name, "--keys", "please continue"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap())
        .envs([
            ("PULSEWATCH_WORKER", "agent-1"),
            ("PULSEWATCH_STATE", "stalled"),
            ("PULSEWATCH_REASON", "no_output"),
            ("PULSEWATCH_IDLE_FOR_S", "912.5"),
        ]);
    let out = t.env(&mut nudge).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    wait_until("the keys in the pane", Duration::from_secs(10), || {
        t.run(&["capture-pane", "-p", "-t", "agent-1"]).contains("please continue").then_some(())
    });
}
