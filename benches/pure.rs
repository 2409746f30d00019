//! `cargo bench`: the pure hot paths (parsing /proc/PID/stat, classification, deadlines),
//! timed with std only. Each line is the median of several runs, in nanoseconds per call.

use pulsewatch::classify::{Observation, classify, next_deadline};
use pulsewatch::identity::ProcessObs;
use pulsewatch::model::Thresholds;
use pulsewatch::probe::procstat::parse_stat;
use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime};

/// Runs `f` in batches until about 200 ms have passed, 5 times; prints the median ns/call.
fn bench(name: &str, mut f: impl FnMut()) {
    let mut per_call = Vec::new();
    for _ in 0..5 {
        let mut n = 0u64;
        let start = Instant::now();
        while start.elapsed() < Duration::from_millis(200) {
            for _ in 0..1000 {
                f();
            }
            n += 1000;
        }
        per_call.push(start.elapsed().as_nanos() as f64 / n as f64);
    }
    per_call.sort_by(f64::total_cmp);
    println!("{name:<40} {:>8.1} ns/call", per_call[2]);
}

fn main() {
    let line = b"4242 (claude (agent) 1) S 1 4242 4242 0 -1 4194560 104 0 0 0 12 3 0 0 20 0 1 0 123456789 \
        2580480 198 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
    bench("parse_stat", || {
        black_box(parse_stat(black_box(line)));
    });
    bench("read + parse /proc/self/stat (probe_pid)", || {
        black_box(pulsewatch::probe::probe_pid(black_box(std::process::id() as i32)));
    });

    let th = Thresholds::default();
    let now = SystemTime::now();
    let obs = Observation {
        process: ProcessObs::Alive { pid: 4242, start_ticks: Some(1) },
        last_output: Some(now - Duration::from_secs(200)),
        reference: now - Duration::from_secs(3600),
    };
    bench("classify", || {
        black_box(classify(black_box(&obs), &th, now));
    });
    bench("next_deadline", || {
        black_box(next_deadline(black_box(&obs), &th, now));
    });
    let dir = std::env::temp_dir();
    bench("stat_log (one statx of a directory)", || {
        black_box(pulsewatch::probe::stat_log(black_box(&dir)));
    });
}
