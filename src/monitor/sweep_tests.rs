//! A sweep checked in slices finds what a sweep in one go finds.

use super::*;
use std::time::Duration;

fn config(dir: &std::path::Path, n: usize) -> Config {
    let mut text = String::new();
    for i in 0..n {
        let log = dir.join(format!("w{i}.log"));
        // Every third log is missing, every other one is old: a mix of states and reasons.
        if i % 3 != 0 {
            std::fs::write(&log, "x").unwrap();
            if i % 2 == 0 {
                let old = SystemTime::now() - Duration::from_secs(3600);
                std::fs::File::options().write(true).open(&log).unwrap().set_modified(old).unwrap();
            }
        }
        text.push_str(&format!("[[worker]]\nid = \"w{i}\"\nlog = {log:?}\nquiet_after = \"1m\"\n"));
    }
    crate::config::load_str(&text, None).unwrap()
}

fn summary(events: &[Event]) -> Vec<String> {
    let mut v: Vec<String> = events.iter().map(|e| format!("{:?} {:?}", e.worker, e.kind)).collect();
    v.sort();
    v
}

#[test]
fn slices_add_up_to_the_whole_sweep() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), 50);
    let now = SystemTime::now();
    let (mut whole, mut sliced) = (Monitor::new("b".into(), None), Monitor::new("b".into(), None));
    assert_eq!(summary(&whole.sweep(&cfg, now)), summary(&sliced.sweep(&cfg, now)), "first sweeps");

    // The logs that were old get a write: the next sweep turns them alive.
    for i in (0..50).filter(|i| i % 3 != 0 && i % 2 == 0) {
        std::fs::write(dir.path().join(format!("w{i}.log")), "y").unwrap();
    }
    let later = now + Duration::from_secs(1);
    let expected = whole.sweep(&cfg, later);
    let (mut sweep, mut events) = sliced.sweep_begin(&cfg, later);
    let mut slices = 0;
    while !sweep.done() {
        events.extend(sliced.sweep_step(&mut sweep, &cfg, later, Some(Duration::ZERO)));
        slices += 1;
    }
    events.extend(sliced.sweep_end(&cfg, later));
    assert_eq!(slices, 50usize.div_ceil(16), "a zero budget still checks 16 workers a slice");
    assert!(!expected.is_empty());
    assert_eq!(summary(&events), summary(&expected));
    assert_eq!(whole.take_changes(9), sliced.take_changes(9));
    assert_eq!(whole.counts(), sliced.counts());
}

#[test]
fn a_worker_removed_mid_sweep_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), 20);
    let now = SystemTime::now();
    let mut m = Monitor::new("b".into(), None);
    m.sweep(&cfg, now);
    let (mut sweep, _) = m.sweep_begin(&cfg, now);
    m.workers.remove("w5");
    while !sweep.done() {
        m.sweep_step(&mut sweep, &cfg, now, Some(Duration::ZERO));
    }
    assert_eq!(m.workers.len(), 19);
}
