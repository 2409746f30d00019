use super::*;
use crate::event::Event;
use crate::model::{Reason, WorkerId};

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn sample<'a>(id: &'a str, state: State, labels: &'a BTreeMap<String, String>) -> WorkerSample<'a> {
    WorkerSample {
        id,
        state,
        idle: Duration::from_millis(130_200),
        last_output: Some(SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_500)),
        log_bytes: Some(123),
        flapping: false,
        labels,
    }
}

fn lines_with(text: &str, prefix: &str) -> Vec<String> {
    text.lines().filter(|l| l.starts_with(prefix)).map(str::to_string).collect()
}

#[test]
fn per_worker_series_follow_the_snapshot() {
    let m = Metrics::new();
    let none = BTreeMap::new();
    let team = labels(&[("team", "infra"), ("note", "say \"hi\"\\ok")]);
    let mut a = sample("a", State::Quiet, &team);
    a.flapping = true;
    let mut b = sample("b@host", State::Orphaned, &none);
    b.last_output = None;
    b.log_bytes = None;
    m.refresh([a, b], &[]);
    let t = m.text();
    let mut a_states = lines_with(&t, "pulsewatch_worker_state{worker=\"a\"");
    a_states.sort();
    assert_eq!(
        a_states,
        [
            "pulsewatch_worker_state{worker=\"a\",state=\"alive\"} 0",
            "pulsewatch_worker_state{worker=\"a\",state=\"orphaned\"} 0",
            "pulsewatch_worker_state{worker=\"a\",state=\"quiet\"} 1",
            "pulsewatch_worker_state{worker=\"a\",state=\"stalled\"} 0",
        ]
    );
    assert!(t.contains("pulsewatch_worker_state{worker=\"b@host\",state=\"orphaned\"} 1\n"), "{t}");
    assert!(t.contains("pulsewatch_worker_idle_seconds{worker=\"a\"} 130.2\n"), "{t}");
    assert!(t.contains("pulsewatch_worker_last_output_timestamp_seconds{worker=\"a\"} 1700000000.5\n"), "{t}");
    assert!(!t.contains("pulsewatch_worker_last_output_timestamp_seconds{worker=\"b@host\"}"), "no log, no series");
    assert!(t.contains("pulsewatch_worker_log_bytes{worker=\"a\"} 123\n"), "{t}");
    assert!(!t.contains("pulsewatch_worker_log_bytes{worker=\"b@host\"}"), "{t}");
    assert!(t.contains("pulsewatch_worker_flapping{worker=\"a\"} 1\n"), "{t}");
    assert!(t.contains("pulsewatch_worker_flapping{worker=\"b@host\"} 0\n"), "{t}");
    // Config label values are escaped per the exposition format.
    assert!(t.contains("pulsewatch_worker_info{worker=\"a\",note=\"say \\\"hi\\\"\\\\ok\",team=\"infra\"} 1\n"), "{t}");
    assert!(t.contains("pulsewatch_worker_info{worker=\"b@host\"} 1\n"), "{t}");
    assert!(t.contains("pulsewatch_workers{state=\"quiet\"} 1\n"), "{t}");
    assert!(t.contains("pulsewatch_workers{state=\"alive\"} 0\n"), "{t}");
    assert!(t.contains("pulsewatch_workers{state=\"orphaned\"} 1\n"), "{t}");
    assert!(t.contains(&format!("pulsewatch_build_info{{version=\"{}\"}} 1\n", crate::daemon::VERSION)), "{t}");

    // "a" is removed: every one of its series goes with it.
    let b = sample("b@host", State::Orphaned, &none);
    m.refresh([b], &[]);
    let t = m.text();
    assert!(!t.contains("worker=\"a\""), "{t}");
    assert!(t.contains("pulsewatch_workers{state=\"quiet\"} 0\n"), "{t}");
}

#[test]
fn counters_from_stamped_events() {
    let m = Metrics::new();
    let id = WorkerId::new("w").unwrap();
    let transition = |to| {
        Event::worker(
            &id,
            EventKind::Transition {
                from: State::Alive,
                to,
                reason: Reason::NoOutput,
                idle_for_s: 1.0,
                pid: None,
                pid_alive: None,
                log: "/l".into(),
                log_size: None,
            },
        )
    };
    let hook = |outcome: &str| {
        Event::worker(
            &id,
            EventKind::Hook {
                hook: "page".into(),
                transition_seq: 1,
                outcome: outcome.into(),
                reason: None,
                exit_code: Some(0),
                duration_ms: 3,
                attempt: 1,
            },
        )
    };
    let events = [
        transition(State::Quiet),
        transition(State::Stalled),
        transition(State::Quiet),
        hook("ok"),
        hook("failed"),
        hook("ok"),
        Event::worker(
            &id,
            EventKind::WorkerAdded {
                state: State::Stalled,
                reason: Reason::NoLog,
                source: crate::model::Source::Config,
            },
        ),
    ];
    let stamped: Vec<Stamped> =
        events.into_iter().enumerate().map(|(i, e)| Stamped::new(i as u64 + 1, SystemTime::now(), e)).collect();
    m.count(&stamped);
    let t = m.text();
    for want in [
        "pulsewatch_transitions_total{to=\"alive\"} 0",
        "pulsewatch_transitions_total{to=\"quiet\"} 2",
        "pulsewatch_transitions_total{to=\"stalled\"} 1",
        "pulsewatch_transitions_total{to=\"orphaned\"} 0",
        "pulsewatch_hook_runs_total{hook=\"page\",outcome=\"ok\"} 2",
        "pulsewatch_hook_runs_total{hook=\"page\",outcome=\"failed\"} 1",
    ] {
        assert!(t.contains(&format!("{want}\n")), "{want} in {t}");
    }
}

#[test]
fn sweep_histogram_and_timestamps() {
    let m = Metrics::new();
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    m.sweep_done(Duration::from_millis(3), at, Duration::from_secs(5));
    m.sweep_done(Duration::from_millis(700), at, Duration::from_secs(5));
    let t = m.text();
    assert!(t.contains("# TYPE pulsewatch_sweep_duration_seconds histogram\n"), "{t}");
    assert!(t.contains("pulsewatch_sweep_duration_seconds_bucket{le=\"0.005\"} 1\n"), "{t}");
    assert!(t.contains("pulsewatch_sweep_duration_seconds_bucket{le=\"1\"} 2\n"), "{t}");
    assert!(t.contains("pulsewatch_sweep_duration_seconds_bucket{le=\"+Inf\"} 2\n"), "{t}");
    assert!(t.contains("pulsewatch_sweep_duration_seconds_count 2\n"), "{t}");
    assert!(t.contains("pulsewatch_last_sweep_timestamp_seconds 1700000000.0\n"), "{t}");
    assert!(t.contains("pulsewatch_sweep_interval_seconds 5.0\n"), "{t}");
    for name in
        ["process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds", "process_start_time_seconds"]
    {
        assert!(t.contains(&format!("\n{name} ")), "{name} in {t}");
    }
    assert!(!t.contains("# EOF"), "the 0.0.4 text format has no EOF marker");
}
