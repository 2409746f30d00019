//! Content mode against real fixture streams: spinners and full-screen redraws are not
//! progress, real lines are; truncation, replacement, FIFOs and split UTF-8 are handled.

mod common;
use common::*;
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

fn worker_doc(sb: &Sandbox, id: &str) -> Option<Value> {
    worker(&sb.status()?, id).cloned()
}

fn state_of(sb: &Sandbox, id: &str) -> Option<String> {
    worker_doc(sb, id).and_then(|w| w["state"].as_str().map(str::to_string))
}

fn wait_state(sb: &Sandbox, id: &str, state: &str) -> Value {
    wait_until(&format!("{id} {state}"), T, || worker_doc(sb, id).filter(|w| w["state"] == state))
}

fn transitions(sb: &Sandbox, id: &str) -> Vec<Value> {
    sb.events().into_iter().filter(|e| e["event"] == "transition" && e["worker"] == id).collect()
}

fn append(path: &Path, bytes: &[u8]) {
    std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap().write_all(bytes).unwrap();
}

fn workers(list: &[(&str, &Path, &str)]) -> String {
    list.iter()
        .map(|(id, log, activity)| format!("[[worker]]\nid = {id:?}\nlog = {log:?}\nactivity = {activity:?}\n"))
        .collect()
}

fn wait_written(log: &Path) {
    wait_until("fixture output", T, || (std::fs::metadata(log).ok()?.len() > 0).then_some(()));
}

/// A spinner writing to `w.log`, watched in content mode with short thresholds.
fn spinning_worker(sb: &Sandbox) -> (Proc, PathBuf, PathBuf) {
    let log = sb.path("w.log");
    let spin = Proc::script("spinner.sh", &[], &log);
    wait_written(&log);
    let cfg = sb.config(
        "sweep_interval = \"100ms\"",
        &format!("[defaults]\nquiet_after = \"1s\"\nstalled_after = \"2s\"\n\n{}", workers(&[("w", &log, "content")])),
    );
    (spin, log, cfg)
}

#[test]
fn spinners_and_redraws_stall_while_real_lines_stay_alive() {
    let sb = Sandbox::new();
    let (spin_c, spin_m, text_c, redraw_c, redraw_m) = (
        sb.path("spin-c.log"),
        sb.path("spin-m.log"),
        sb.path("text-c.log"),
        sb.path("redraw-c.log"),
        sb.path("redraw-m.log"),
    );
    let _procs = [
        Proc::script("spinner.sh", &[], &spin_c),
        Proc::script("spinner.sh", &[], &spin_m),
        Proc::script("spinner.sh", &["10"], &text_c),
        Proc::script("redraw.sh", &[], &redraw_c),
        Proc::script("redraw.sh", &[], &redraw_m),
    ];
    for log in [&spin_c, &spin_m, &text_c, &redraw_c, &redraw_m] {
        wait_written(log);
    }
    let cfg = sb.config(
        "sweep_interval = \"200ms\"\nliveness_every = \"1s\"",
        &format!(
            "[defaults]\nquiet_after = \"3s\"\nstalled_after = \"6s\"\n\n{}",
            workers(&[
                ("spin-content", &spin_c, "content"),
                ("spin-mtime", &spin_m, "mtime"),
                ("text-content", &text_c, "content"),
                ("redraw-content", &redraw_c, "content"),
                ("redraw-mtime", &redraw_m, "mtime"),
            ])
        ),
    );
    let mut d = Daemon::start(sb.dir.path(), &cfg);

    let spin = wait_state(&sb, "spin-content", "stalled");
    let redraw = wait_state(&sb, "redraw-content", "stalled");
    // Meanwhile the same streams judged by mtime, and the stream with real lines, stayed alive.
    for id in ["spin-mtime", "redraw-mtime", "text-content"] {
        assert_eq!(state_of(&sb, id).as_deref(), Some("alive"), "{id}");
        assert_eq!(transitions(&sb, id), Vec::<Value>::new(), "{id} never left alive");
    }
    let path: Vec<String> = transitions(&sb, "spin-content").iter().map(|e| format!("{}", e["to"])).collect();
    assert_eq!(path, ["\"quiet\"", "\"stalled\""]);

    // Both clocks are shown: written a moment ago, no output for stalled_after.
    for w in [&spin, &redraw] {
        assert_eq!(w["activity"], "content");
        assert_eq!(w["reason"], "no_output");
        assert!(w["since_last_write_s"].as_f64().unwrap() < 2.0, "{w}");
        assert!(w["since_last_output_s"].as_f64().unwrap() >= 6.0, "{w}");
        assert!(w["content"]["lines_repeated"].as_u64().unwrap() > 0, "{w}");
    }
    let text = worker_doc(&sb, "text-content").unwrap();
    assert!(text["content"]["lines_new"].as_u64().unwrap() >= 3, "{text}");
    let mtime = worker_doc(&sb, "spin-mtime").unwrap();
    assert_eq!(mtime["last_output"], mtime["last_write"]);
    assert!(mtime.get("content").is_none());
    let live = wait_until("a liveness event of spin-content", T, || {
        sb.events().into_iter().rev().find(|e| e["event"] == "liveness" && e["worker"] == "spin-content")
    });
    assert!(live["since_last_write_s"].as_f64().unwrap() < live["since_last_output_s"].as_f64().unwrap(), "{live}");

    assert!(d.stop().success());
    // Content never leaves the process: only counts.
    let stderr = d.stderr();
    for file in [std::fs::read_to_string(sb.event_log()).unwrap(), std::fs::read_to_string(sb.status_file()).unwrap()] {
        for secret in ["Thinking", "compiled module", "same text", "working"] {
            assert!(!file.contains(secret) && !stderr.contains(secret), "{secret:?} leaked");
        }
    }
}

#[test]
fn truncation_and_replacement_mid_stream() {
    let sb = Sandbox::new();
    let (_spin, log, cfg) = spinning_worker(&sb);
    let _d = Daemon::start(sb.dir.path(), &cfg);
    let restarts = |w: &Value| w["content"]["restarts"].as_u64().unwrap();

    wait_state(&sb, "w", "stalled");
    // Truncated under the running writer, then a real line: read from the start, progress.
    std::fs::OpenOptions::new().write(true).open(&log).unwrap().set_len(0).unwrap();
    append(&log, b"after truncation: the tests passed\r\n");
    let w = wait_state(&sb, "w", "alive");
    assert!(restarts(&w) >= 1, "{w}");

    // Truncated again with only spinner frames after it: still no progress.
    let w = wait_state(&sb, "w", "stalled");
    let before = restarts(&w);
    std::fs::OpenOptions::new().write(true).open(&log).unwrap().set_len(0).unwrap();
    let w = wait_until("the next truncation read", T, || worker_doc(&sb, "w").filter(|w| restarts(w) > before));
    assert_eq!(w["state"], "stalled");

    // Replaced by another file (new inode) with new text: progress.
    let tmp = sb.path("w.log.new");
    std::fs::write(&tmp, "replacement: a new session log\n").unwrap();
    std::fs::rename(&tmp, &log).unwrap();
    let w = wait_state(&sb, "w", "alive");
    assert!(restarts(&w) > before, "{w}");
}

#[test]
fn a_fifo_at_the_log_path_does_not_hang_the_daemon() {
    let sb = Sandbox::new();
    let fifo = sb.path("fifo.log");
    let plain = sb.path("plain.log");
    let mode = rustix::fs::Mode::from_raw_mode(0o600);
    rustix::fs::mknodat(rustix::fs::CWD, &fifo, rustix::fs::FileType::Fifo, mode, 0).unwrap();
    std::fs::write(&plain, "hello\n").unwrap();
    let cfg = sb.config(
        "sweep_interval = \"100ms\"",
        &format!(
            "[defaults]\nquiet_after = \"1s\"\nstalled_after = \"2s\"\n\n{}",
            workers(&[("fifo", &fifo, "content"), ("plain", &plain, "content")])
        ),
    );
    let mut d = Daemon::start(sb.dir.path(), &cfg);
    let w = wait_until("the fifo error", T, || worker_doc(&sb, "fifo").filter(|w| w["error"].is_string()));
    assert!(w["error"].as_str().unwrap().ends_with("fifo.log: is a fifo, not a regular file"), "{w}");
    // The loop goes on: the other worker moves through its states, the fifo one too.
    wait_state(&sb, "plain", "stalled");
    wait_state(&sb, "fifo", "stalled");
    let status = sb.status().unwrap();
    assert_eq!(status["daemon"]["faults"]["workers_with_errors"], 1);
    assert!(d.stop().success());
    let stderr = d.stderr();
    assert_eq!(stderr.matches("is a fifo").count(), 1, "reported once:\n{stderr}");
}

#[test]
fn a_character_split_across_two_reads_is_one_character() {
    let sb = Sandbox::new();
    let log = sb.path("w.log");
    let frame = |i: usize| format!("\r\x1b[2K{} Überlegen…", ['⠋', '⠙', '⠹', '⠸'][i % 4]).into_bytes();
    append(&log, &frame(0));
    let cfg = sb.config(
        "sweep_interval = \"50ms\"",
        &format!("[defaults]\nquiet_after = \"1m\"\nstalled_after = \"2m\"\n\n{}", workers(&[("w", &log, "content")])),
    );
    let _d = Daemon::start(sb.dir.path(), &cfg);
    let size = |sb: &Sandbox| std::fs::metadata(sb.path("w.log")).unwrap().len();
    let read_all = |sb: &Sandbox| {
        let want = size(sb);
        wait_until("the daemon to read everything", T, || {
            worker_doc(sb, "w").filter(|w| w["content"]["bytes_read"].as_u64() == Some(want))
        })
    };
    append(&log, &frame(1));
    let first = read_all(&sb);
    assert_eq!(first["content"]["lines_new"], 1, "{first}");
    for i in 2..8 {
        // Cut inside "Ü" (two bytes): one read ends with its first byte, the next starts with the second.
        let f = frame(i);
        let cut = f.iter().position(|b| *b == 0xC3).unwrap() + 1;
        append(&log, &f[..cut]);
        read_all(&sb);
        append(&log, &f[cut..]);
        read_all(&sb);
    }
    let last = read_all(&sb);
    assert_eq!(last["content"]["lines_new"], 1, "no frame was new text: {last}");
    assert!(last["content"]["lines_repeated"].as_u64().unwrap() >= 6, "{last}");
    assert_eq!(last["last_output"], first["last_output"]);
}

#[test]
fn a_restart_keeps_the_content_clock() {
    let sb = Sandbox::new();
    let (_spin, _, cfg) = spinning_worker(&sb);
    let mut d = Daemon::start(sb.dir.path(), &cfg);
    let before = wait_state(&sb, "w", "stalled");
    assert!(d.stop().success());
    let seen = sb.events().len();

    // The spinner went on while no daemon watched; the new one reads on from the saved
    // offset, knowing the lines that were on screen, and the worker is still stalled.
    let mut d = Daemon::start(sb.dir.path(), &cfg);
    let pid = d.pid();
    let after = wait_until("the new daemon to read the spinner", T, || {
        let s = sb.status()?;
        let w = worker(&s, "w")?.clone();
        (s["daemon"]["pid"] == pid && w["content"]["lines_repeated"].as_u64()? > 0).then_some(w)
    });
    assert_eq!(after["state"], "stalled", "{after}");
    assert_eq!(after["last_output"], before["last_output"]);
    assert_eq!(after["content"]["lines_new"], 0, "{after}");
    let news: Vec<_> = sb.events().into_iter().skip(seen).filter(|e| e["worker"] == "w").collect();
    assert!(news.iter().all(|e| e["event"] != "transition" && e["event"] != "worker_added"), "{news:?}");
    assert!(d.stop().success());
}
