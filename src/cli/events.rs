//! `pulsewatch events`: reads (and follows) the event log.

use crate::config::Config;
use crate::timefmt::human;
use serde_json::Value;
use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::process::ExitCode;
use std::time::Duration;

pub fn events(cfg: &Config, follow: bool, worker: Option<&str>, json: bool) -> ExitCode {
    let path = &cfg.daemon.event_log;
    let mut pos = 0u64;
    let mut ino = None;
    let mut partial = String::new();
    loop {
        if let Ok(f) = File::open(path) {
            let meta = f.metadata().ok();
            let this = meta.as_ref().map(|m| m.ino());
            // Rotated or truncated: start over on the new file.
            if this != ino || meta.as_ref().is_some_and(|m| m.len() < pos) {
                pos = 0;
                partial.clear();
                ino = this;
            }
            let mut r = BufReader::new(f);
            if r.seek(SeekFrom::Start(pos)).is_ok() {
                let mut line = String::new();
                while let Ok(n) = r.read_line(&mut line) {
                    if n == 0 {
                        break;
                    }
                    pos += n as u64;
                    if !line.ends_with('\n') {
                        // A record still being written: keep it until its newline arrives.
                        partial.push_str(&line);
                        line.clear();
                        continue;
                    }
                    let full = std::mem::take(&mut partial) + line.trim_end();
                    print_line(&full, worker, json);
                    line.clear();
                }
            }
        } else if !follow {
            eprintln!("pulsewatch: {}: no event log yet", path.display());
            return ExitCode::SUCCESS;
        }
        if !follow {
            return ExitCode::SUCCESS;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn print_line(line: &str, worker: Option<&str>, json: bool) {
    let Ok(v) = serde_json::from_str::<Value>(line) else {
        return;
    };
    if let Some(w) = worker {
        if v.get("worker").and_then(Value::as_str) != Some(w) {
            return;
        }
    }
    if json {
        println!("{line}");
    } else {
        println!("{}", human_line(&v));
    }
}

/// `TS  #SEQ  EVENT  WORKER  details` with the details that matter per event.
fn human_line(v: &Value) -> String {
    let s = |k: &str| v.get(k).map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_string)).unwrap_or_default();
    // People read durations as `3m12s`; the JSON keeps the seconds.
    let idle = |k: &str| v.get(k).and_then(Value::as_f64).map_or_else(|| "-".into(), |x| human(secs_f64(x)));
    let event = s("event");
    let detail = match event.as_str() {
        "transition" => format!("{} -> {} ({}), idle {}", s("from"), s("to"), s("reason"), idle("idle_for_s")),
        "reason_changed" => format!("{}: {} -> {}", s("state"), s("from_reason"), s("to_reason")),
        "worker_added" => format!("{} ({}) from {}", s("state"), s("reason"), s("source")),
        "worker_removed" => format!("was {}, {}", s("last_state"), s("why")),
        "liveness" => {
            format!("{}, idle {}, {:+} bytes", s("state"), idle("idle_for_s"), v["bytes_delta"].as_i64().unwrap_or(0))
        }
        "hook" => format!("{} {} (attempt {}, seq {})", s("hook"), s("outcome"), s("attempt"), s("transition_seq")),
        _ => {
            let skip = ["v", "seq", "ts", "event", "worker"];
            let obj = v.as_object().map(|o| {
                o.iter()
                    .filter(|(k, _)| !skip.contains(&k.as_str()))
                    .map(|(k, x)| format!("{k}={x}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            });
            obj.unwrap_or_default()
        }
    };
    let worker = v.get("worker").and_then(Value::as_str).unwrap_or("-");
    format!("{}  #{}  {:<16} {:<20} {}", s("ts"), s("seq"), event, worker, detail).trim_end().to_string()
}

fn secs_f64(x: f64) -> Duration {
    Duration::try_from_secs_f64(x.max(0.0)).unwrap_or(Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_lines_show_human_durations() {
        let cases = [
            (
                r#"{"v":1,"seq":3,"ts":"T","event":"transition","worker":"w","from":"alive","to":"quiet","reason":"no_output","idle_for_s":192.4}"#,
                "T  #3  transition       w                    alive -> quiet (no_output), idle 3m12s",
            ),
            (
                r#"{"v":1,"seq":4,"ts":"T","event":"liveness","worker":"w","state":"alive","idle_for_s":0.5,"bytes_delta":-7}"#,
                "T  #4  liveness         w                    alive, idle 0s, -7 bytes",
            ),
            (
                r#"{"v":1,"seq":5,"ts":"T","event":"liveness","worker":"w","state":"quiet","idle_for_s":3725,"bytes_delta":12}"#,
                "T  #5  liveness         w                    quiet, idle 1h2m, +12 bytes",
            ),
        ];
        for (line, want) in cases {
            assert_eq!(human_line(&serde_json::from_str(line).unwrap()), want);
        }
    }
}
