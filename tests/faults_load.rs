//! Fault scenarios under load and churn (docs/RELIABILITY.md): 10,000 workers transitioning
//! in the same second, 10,000 registry files at once (which overflows the inotify queue),
//! 100 SIGHUPs in a second alternating good and broken configs, the same id from two
//! sources, and a FIFO or a huge file dropped into the registry.

mod common;
use common::invariants::*;
use common::*;
use rustix::process::Signal;
use std::time::Duration;

const BIG: usize = 10_000;
const T: Duration = Duration::from_secs(60);

fn count(sb: &Sandbox, state: &str) -> u64 {
    sb.status().and_then(|s| s["counts"][state].as_u64()).unwrap_or(0)
}

/// 10,000 glob-discovered logs all age past `stalled_after` in the same second: one
/// transition each, in one sweep or a few, none lost or told twice.
#[test]
fn ten_thousand_workers_transition_in_the_same_second() {
    let sb = Sandbox::new();
    let dir = sb.mkdir("logs");
    for i in 0..BIG {
        std::fs::write(dir.join(format!("w{i}.log")), "x\n").unwrap();
    }
    let rest = format!(
        "[defaults]\nquiet_after = \"1h\"\nstalled_after = \"2h\"\n\n[[discover]]\nlogs = {:?}\nid = \"{{stem}}\"\n",
        dir.join("*.log")
    );
    let (d, base) = start(&sb, "sweep_interval = \"500ms\"", &rest);
    wait_until("10,000 alive", T, || (count(&sb, "alive") == BIG as u64).then_some(()));
    let then = std::time::SystemTime::now() - Duration::from_secs(3 * 3600);
    for i in 0..BIG {
        let f = std::fs::File::options().write(true).open(dir.join(format!("w{i}.log"))).unwrap();
        f.set_modified(then).unwrap();
    }
    wait_until("10,000 stalled", T, || (count(&sb, "stalled") == BIG as u64).then_some(()));
    let events = check_and_stop(&sb, d, &base);
    let transitions: Vec<_> = events.iter().filter(|e| e["event"] == "transition").collect();
    assert_eq!(transitions.len(), BIG);
    assert!(transitions.iter().all(|e| e["from"] == "alive" && e["to"] == "stalled"));
}

fn entry(sb: &Sandbox, id: &str) -> String {
    format!("id = {id:?}\nlog = {:?}\n", sb.path(&format!("logs/{id}.log")))
}

/// 10,000 entries renamed into a watched registry at once: far more inotify events than
/// the kernel queues (16,384 by default), so the queue overflows. With a sweep interval of
/// an hour only the watch can find them: an overflow must count as a change.
#[test]
fn ten_thousand_registry_files_at_once_overflowing_inotify() {
    let sb = Sandbox::new();
    let reg = sb.mkdir("workers");
    let rest = format!("[defaults]\nstart_grace = \"1h\"\n\n[[discover]]\nregistry = {reg:?}\n");
    let (d, base) = start(&sb, "sweep_interval = \"1h\"", &rest);
    for i in 0..BIG {
        let tmp = reg.join(format!(".w{i}.tmp"));
        std::fs::write(&tmp, entry(&sb, &format!("w{i}"))).unwrap();
        std::fs::rename(&tmp, reg.join(format!("w{i}.toml"))).unwrap();
    }
    wait_until("10,000 registry workers", T, || (count(&sb, "alive") == BIG as u64).then_some(()));
    // And removing them all at once is seen too: the workers without a source go (a
    // log-only worker that leaves its source is removed at once).
    for i in 0..BIG {
        std::fs::remove_file(reg.join(format!("w{i}.toml"))).unwrap();
    }
    wait_until("the registry emptied", T, || (sb.status()?["workers"].as_array()?.is_empty()).then_some(()));
    let events = check_and_stop(&sb, d, &base);
    assert_eq!(events.iter().filter(|e| e["event"] == "worker_added").count(), BIG);
}

/// 100 SIGHUPs within about a second, the config flipping between a good and a broken
/// one: every reload is either taken or rejected, the daemon keeps running on a good
/// config, and the last good config wins.
#[test]
fn a_hundred_sighups_alternating_good_and_broken_configs() {
    let sb = Sandbox::new();
    let log = sb.write("logs/a.log", "x\n");
    let good = |extra: &str| {
        format!("[defaults]\nquiet_after = \"1h\"\nstalled_after = \"2h\"\n\n{}{extra}", worker_toml("a", &log, "", ""))
    };
    let (d, base) = start(&sb, "", &good(""));
    let cfg = sb.path("config.toml");
    let good_text = std::fs::read_to_string(&cfg).unwrap();
    let write = |text: &str| {
        let tmp = sb.path(".config.tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, &cfg).unwrap();
    };
    for i in 0..100 {
        write(if i % 2 == 0 { &good_text } else { "[daemon]\nsweep_interval = \"soon\"\n" });
        d.signal(Signal::HUP);
        std::thread::sleep(Duration::from_millis(10));
    }
    let late = sb.write("logs/late.log", "x\n");
    write(&format!("{good_text}\n{}", worker_toml("late", &late, "", "")));
    d.signal(Signal::HUP);
    wait_worker(&sb, "late", "the last config in effect", |w| w["state"] == "alive");
    let events = check_and_stop(&sb, d, &base);
    let reloaded = events.iter().filter(|e| e["event"] == "config_reloaded").count();
    let rejected = events.iter().filter(|e| e["event"] == "config_rejected").count();
    eprintln!("{reloaded} reloads taken, {rejected} rejected");
    assert!(reloaded >= 1 && rejected >= 1, "{reloaded} taken, {rejected} rejected");
    assert_eq!(path_of(&events, "a"), ["alive"], "a reload tells no state change");
}

/// One id from the config and from the registry with another log: the config wins, every
/// time, with a warning naming both.
#[test]
fn the_same_id_from_two_sources() {
    let sb = Sandbox::new();
    let reg = sb.mkdir("workers");
    let mine = sb.write("logs/mine.log", "x\n");
    std::fs::write(reg.join("dup.toml"), format!("id = \"dup\"\nlog = {:?}\n", sb.path("logs/theirs.log"))).unwrap();
    let rest = format!("{}[[discover]]\nregistry = {reg:?}\n", worker_toml("dup", &mine, "", ""));
    let (d, base) = start(&sb, "", &rest);
    let w = wait_worker(&sb, "dup", "present", |_| true);
    assert_eq!((w["source"].as_str(), w["log"].as_str()), (Some("config"), mine.to_str()));
    sweeps(&sb, 3);
    let log = std::fs::read_to_string(sb.path("daemon.log")).unwrap();
    assert!(
        log.contains("worker id \\\"dup\\\" comes from config") || log.contains("worker id \"dup\" comes from config"),
        "{log}"
    );
    let events = check_and_stop(&sb, d, &base);
    assert_eq!(events.iter().filter(|e| e["event"] == "worker_added").count(), 1);
}

/// A FIFO named like an entry, and a huge one, dropped into the registry: skipped with a
/// warning (never read until a writer comes), the good entry next to them still counts.
#[test]
fn registry_fifo_and_huge_entries_are_skipped() {
    let sb = Sandbox::new();
    let reg = sb.mkdir("workers");
    let rest = format!("[[discover]]\nregistry = {reg:?}\n");
    let (d, base) = start(&sb, "", &rest);
    assert!(std::process::Command::new("mkfifo").arg(reg.join("fifo.toml")).status().unwrap().success());
    std::fs::write(reg.join("huge.toml"), format!("id = \"huge\"\n#{}\n", "x".repeat(1 << 20))).unwrap();
    std::fs::write(reg.join("good.toml"), entry(&sb, "good")).unwrap();
    wait_worker(&sb, "good", "the good entry", |_| true);
    sweeps(&sb, 3);
    let status = sb.status().unwrap();
    assert_eq!(status["workers"].as_array().unwrap().len(), 1, "{status}");
    let log = std::fs::read_to_string(sb.path("daemon.log")).unwrap();
    assert!(log.contains("fifo.toml") && log.contains("huge.toml"), "{log}");
    check_and_stop(&sb, d, &base);
}
