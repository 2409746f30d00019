//! SIGKILL at random moments while workers keep transitioning: state.json, the status file and
//! the heartbeat always parse, the event log's seq never repeats or skips, and each worker's
//! transitions chain (none told twice, none lost), and no hook run is told twice.

mod common;
use common::*;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

const T: Duration = Duration::from_secs(15);
const KILLS: usize = 100;
const WORKERS: usize = 4;

/// xorshift: enough randomness for kill moments, reproducible from the printed seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Each file that exists must parse as JSON (atomic replacement: never torn).
fn assert_parses(path: &std::path::Path, round: usize) {
    if let Ok(text) = std::fs::read_to_string(path) {
        let v: Result<Value, _> = serde_json::from_str(&text);
        assert!(v.is_ok(), "round {round}: {} does not parse: {text:?}", path.display());
    }
}

#[test]
fn sigkill_at_random_moments_keeps_files_whole_and_seq_gapless() {
    let seed = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1;
    eprintln!("seed {seed}");
    let mut rng = Rng(seed);
    let sb = Sandbox::new();
    let mut workers = String::new();
    for i in 0..WORKERS {
        let log = sb.write(&format!("logs/w{i}.log"), "x\n");
        workers.push_str(&format!("[[worker]]\nid = \"w{i}\"\nlog = {log:?}\n\n"));
    }
    let cfg = sb.config(
        "sweep_interval = \"10ms\"\nheartbeat_interval = \"10ms\"\nliveness_every = \"30ms\"",
        &format!(
            "[defaults]\nquiet_after = \"40ms\"\nstalled_after = \"80ms\"\nflap_window = \"500ms\"\nflap_threshold = 3\n\n{workers}\
[[hook]]\nname = \"t\"\ncommand = [\"/bin/true\"]\non = [\"*\"]\nretries = 0\n"
        ),
    );

    // Workers write to their logs at random, so they go alive, quiet and stalled all the time.
    let stop = Arc::new(AtomicBool::new(false));
    let churn = {
        let stop = stop.clone();
        let logs: Vec<_> = (0..WORKERS).map(|i| sb.path(&format!("logs/w{i}.log"))).collect();
        let mut rng = Rng(seed.rotate_left(17) | 1);
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let log = &logs[rng.below(WORKERS as u64) as usize];
                std::fs::OpenOptions::new().append(true).open(log).unwrap();
                age(log, Duration::ZERO);
                std::thread::sleep(Duration::from_millis(5 + rng.below(60)));
            }
        })
    };

    let files = [sb.state_dir().join("state.json"), sb.status_file(), sb.path("run/heartbeat.json")];
    for round in 0..KILLS {
        let mut d = Daemon::start(sb.dir.path(), &cfg);
        // The random moment: one round in four anywhere from the start on (often before the
        // first sweep), the others some sweeps into a working daemon.
        let early = round % 4 == 0;
        if !early {
            let pid = d.pid();
            wait_until("the first sweep", T, || sb.status().filter(|s| s["daemon"]["pid"] == pid).map(|_| ()));
        }
        std::thread::sleep(Duration::from_millis(rng.below(60)));
        d.child.kill().unwrap();
        d.child.wait().unwrap();
        for f in &files {
            assert_parses(f, round);
        }
        invariants::assert_journal_parses(&sb.state_dir().join("state.journal"));
    }

    // A last, clean run finishes whatever the last kill left, then stops.
    let from = sb.events().len();
    let mut d = Daemon::start(sb.dir.path(), &cfg);
    wait_until("the last run's first sweep", T, || {
        sb.events()[from..].iter().any(|e| e["event"] == "daemon_started").then_some(())
    });
    stop.store(true, Ordering::Relaxed);
    churn.join().unwrap();
    let code = d.stop();
    assert!(code.success(), "{}", d.stderr());

    let text = std::fs::read_to_string(sb.event_log()).unwrap();
    let events: Vec<Value> =
        text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("torn line {l:?}: {e}"))).collect();
    // The shared invariants: seq, transition chains, each hook run told once.
    invariants::check_events(&events);
    let hooks = events.iter().filter(|e| e["event"] == "hook").count();
    eprintln!("{hooks} hook outcomes");
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    let want: Vec<u64> = (1..=seqs.len() as u64).collect();
    assert_eq!(seqs, want, "seq repeats or skips (seed {seed})");
    let runs = events.iter().filter(|e| e["event"] == "daemon_started").count();
    eprintln!("{runs} runs logged, {} events", events.len());
    assert!(runs > KILLS * 3 / 4, "only {runs} runs got to work");

    // Each worker: added once, then every transition starts where the last one ended.
    let mut state: HashMap<String, String> = HashMap::new();
    let mut transitions = 0;
    for e in &events {
        let Some(id) = e["worker"].as_str() else { continue };
        match e["event"].as_str().unwrap() {
            "worker_added" => {
                let old = state.insert(id.to_string(), e["state"].as_str().unwrap().to_string());
                assert!(old.is_none(), "{id} added twice (seq {})", e["seq"]);
            }
            "transition" => {
                transitions += 1;
                let cur = state.get_mut(id).unwrap_or_else(|| panic!("{id}: transition before worker_added"));
                assert_eq!(
                    e["from"].as_str().unwrap(),
                    cur,
                    "{id}: seq {} told twice or one lost (seed {seed})",
                    e["seq"]
                );
                *cur = e["to"].as_str().unwrap().to_string();
            }
            _ => {}
        }
    }
    assert_eq!(state.len(), WORKERS);
    assert!(transitions > KILLS / 2, "workers kept transitioning: {transitions}");
    // The saved state agrees with the log.
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&files[0]).unwrap()).unwrap();
    for (id, st) in &state {
        assert_eq!(saved["workers"][id]["tracker"]["state"].as_str(), Some(st.as_str()), "{id}");
    }
    assert_eq!(saved["last_seq"].as_u64(), seqs.last().copied());
    let temp_files = std::fs::read_dir(sb.state_dir())
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".tmp"))
        .count();
    assert_eq!(temp_files, 0, "temp files left by kills are cleaned up");
}
