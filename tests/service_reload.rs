//! SIGHUP: a valid change applies in place (workers keep state, since and identity; new
//! ones are added, vanished ones removed), a broken file is rejected and the old config keeps
//! running, and `config check` rejects it with the same message.

mod common;
use common::*;
use rustix::process::Signal;
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

const T: Duration = Duration::from_secs(15);

struct Setup {
    sb: Sandbox,
    sleeper: Proc,
}

impl Setup {
    fn new() -> Setup {
        let sb = Sandbox::new();
        let a = sb.write("logs/a.log", "x\n");
        age(&a, Duration::from_secs(30));
        sb.write("logs/b.log", "x\n");
        sb.write("logs/c.log", "x\n");
        Setup { sb, sleeper: Proc::sleep() }
    }

    /// `a`: log-only, 30 s idle; `b`: with a process; `c` only when asked.
    fn config(&self, a_quiet_after: &str, with_c: bool) -> PathBuf {
        let sb = &self.sb;
        let mut workers = format!(
            "[[worker]]\nid = \"a\"\nlog = {:?}\nquiet_after = {a_quiet_after:?}\n\n\
             [[worker]]\nid = \"b\"\nlog = {:?}\npid = {}\n",
            sb.path("logs/a.log"),
            sb.path("logs/b.log"),
            self.sleeper.pid()
        );
        if with_c {
            workers.push_str(&format!("\n[[worker]]\nid = \"c\"\nlog = {:?}\n", sb.path("logs/c.log")));
        }
        sb.config("sweep_interval = \"100ms\"", &workers)
    }

    fn count(&self, pred: impl Fn(&Value) -> bool) -> usize {
        self.sb.events().iter().filter(|e| pred(e)).count()
    }

    fn wait_event(&self, what: &str, n: usize, pred: impl Fn(&Value) -> bool) {
        wait_until(what, T, || (self.count(&pred) >= n).then_some(()));
    }
}

fn saved(sb: &Sandbox, id: &str) -> Value {
    sb.saved_state()["workers"][id].clone()
}

fn saved_identity(sb: &Sandbox, id: &str) -> Value {
    saved(sb, id)["identity"].clone()
}

#[test]
fn valid_change_broken_file_and_removed_worker() {
    let s = Setup::new();
    let cfg = s.config("2m", false);
    let mut d = Daemon::start(s.sb.dir.path(), &cfg);
    s.wait_event("two worker_added", 2, |e| is(e, "worker_added", ""));
    let before = wait_until("status with a and b", T, || s.sb.status().filter(|st| worker(st, "b").is_some()));
    assert_eq!(worker(&before, "a").unwrap()["state"], "alive");
    let b_since = worker(&before, "b").unwrap()["since"].clone();
    let b_identity = saved_identity(&s.sb, "b");
    assert_eq!(b_identity["pid"], s.sleeper.pid());

    // A valid change: `a`'s threshold drops below its idle time, `c` appears.
    s.config("10s", true);
    d.signal(Signal::HUP);
    s.wait_event("config_reloaded", 1, |e| is(e, "config_reloaded", ""));
    s.wait_event("a turns quiet in place", 1, |e| is(e, "transition", "a") && e["to"] == "quiet");
    s.wait_event("c added", 1, |e| is(e, "worker_added", "c"));
    let after = wait_until("status with c", T, || s.sb.status().filter(|st| worker(st, "c").is_some()));
    assert_eq!(worker(&after, "a").unwrap()["quiet_after_s"], 10.0);
    assert_eq!(worker(&after, "b").unwrap()["since"], b_since, "b keeps its since");
    assert_eq!(saved_identity(&s.sb, "b"), b_identity, "b keeps its identity");
    assert_eq!(s.count(|e| is(e, "worker_added", "a") || is(e, "worker_added", "b")), 2, "a and b were not re-added");
    assert_eq!(s.count(|e| is(e, "worker_removed", "")), 0);

    // A broken file: rejected, logged, the old config keeps running.
    let good = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, good.replace("quiet_after = \"10s\"", "quiet_after = \"20m\"")).unwrap();
    d.signal(Signal::HUP);
    s.wait_event("config_rejected", 1, |e| is(e, "config_rejected", ""));
    let rejected = s.sb.events().into_iter().find(|e| is(e, "config_rejected", "")).unwrap();
    let error = rejected["error"].as_str().unwrap().to_string();
    assert!(error.contains("config.toml:") && error.contains("quiet_after"), "{error}");
    let updated = after["daemon"]["updated_at"].clone();
    let still = wait_until("a sweep after the rejection", T, || {
        s.sb.status().filter(|st| st["daemon"]["updated_at"] != updated)
    });
    assert_eq!(worker(&still, "a").unwrap()["quiet_after_s"], 10.0, "old config still in effect");
    assert!(worker(&still, "c").is_some());
    // `config check` judges the same file with the same validation and the same words.
    let out = run(s.sb.dir.path(), &["config", "check", "-c", cfg.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&error), "{}", String::from_utf8_lossy(&out.stderr));

    // Fixed again, without `c`: it is removed, the others stay.
    s.config("10s", false);
    d.signal(Signal::HUP);
    s.wait_event("c removed", 1, |e| is(e, "worker_removed", "c") && e["why"] == "source_gone");
    assert_eq!(s.count(|e| is(e, "config_reloaded", "")), 2);
    let last = wait_until("status without c", T, || s.sb.status().filter(|st| worker(st, "c").is_none()));
    assert_eq!(worker(&last, "b").unwrap()["since"], b_since);
    assert_eq!(s.count(|e| is(e, "worker_removed", "")), 1);
    let flap = &saved(&s.sb, "a")["tracker"]["flap"]["recent"];
    assert_eq!(flap.as_array().map(Vec::len), Some(1), "a keeps its flap history: {flap}");

    let code = d.stop();
    let err = d.stderr();
    assert!(code.success(), "{err}");
    assert!(err.contains("rejected") && err.contains(&error), "the rejection is logged: {err}");
    assert_eq!(s.count(|e| is(e, "transition", "b")), 0, "b never changed");
}
