//! Properties of the pure core, checked on generated inputs: the classifier (a pure,
//! monotonic function of the observation) and the flap state machine of `state::Tracker`.

use proptest::prelude::*;
use pulsewatch::classify::{Observation, Verdict, classify};
use pulsewatch::identity::ProcessObs;
use pulsewatch::model::{Reason, State, Thresholds};
use pulsewatch::state::{Change, Tracker};
use std::time::{Duration, SystemTime};

fn at(ms: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000) + Duration::from_millis(ms)
}

fn secs(range: std::ops::Range<u64>) -> impl Strategy<Value = Duration> {
    range.prop_map(Duration::from_secs)
}

/// Any thresholds the config accepts (quiet_after < stalled_after, flap_threshold ≥ 2).
fn thresholds() -> impl Strategy<Value = Thresholds> {
    (secs(1..600), secs(1..3000), secs(0..600), secs(1..600), 2u32..8).prop_map(|(q, extra, g, w, n)| Thresholds {
        quiet_after: q,
        stalled_after: q + extra,
        start_grace: g,
        flap_window: w,
        flap_threshold: n,
    })
}

fn process() -> impl Strategy<Value = ProcessObs> {
    let gone = prop::sample::select(
        &[Reason::PidExited, Reason::PidZombie, Reason::PidReused, Reason::PidfileMissing, Reason::PaneGone][..],
    );
    prop_oneof![
        Just(ProcessObs::NotConfigured),
        (1i32..100_000, prop::option::of(any::<u64>())).prop_map(|(pid, t)| ProcessObs::Alive { pid, start_ticks: t }),
        (prop::option::of(1i32..100_000), gone).prop_map(|(pid, reason)| ProcessObs::Gone { pid, reason }),
    ]
}

/// Times within a few hours of each other, in milliseconds, so every threshold is crossed.
fn observation() -> impl Strategy<Value = Observation> {
    (process(), prop::option::of(0u64..20_000_000), 0u64..20_000_000).prop_map(|(process, out, reference)| {
        Observation { process, last_output: out.map(at), reference: at(reference) }
    })
}

/// Order of trouble for a worker whose process lives: alive < quiet < stalled.
fn rank(v: &Verdict) -> u8 {
    match v.state {
        State::Alive => 0,
        State::Quiet => 1,
        State::Stalled => 2,
        State::Orphaned => 3,
    }
}

proptest! {
    #[test]
    fn classification_is_a_function_of_the_observation(
        obs in observation(), other in observation(), th in thresholds(), now in 0u64..20_000_000
    ) {
        let first = classify(&obs, &th, at(now));
        // Classifying something else in between changes nothing: no hidden state.
        let _ = classify(&other, &th, at(now));
        let copy = obs;
        prop_assert_eq!(classify(&copy, &th, at(now)), first);
    }

    #[test]
    fn time_only_makes_a_live_worker_worse(
        obs in observation(), th in thresholds(), now in 0u64..20_000_000, later in 0u64..20_000_000
    ) {
        prop_assume!(!matches!(obs.process, ProcessObs::Gone { .. }));
        let before = classify(&obs, &th, at(now));
        let after = classify(&obs, &th, at(now + later));
        prop_assert!(
            rank(&before) <= rank(&after),
            "{:?} at {} became {:?} at {}", before, now, after, now + later
        );
        prop_assert!(after.idle_for >= before.idle_for);
    }

    #[test]
    fn orphaned_iff_the_process_is_gone(obs in observation(), th in thresholds(), now in 0u64..20_000_000) {
        let v = classify(&obs, &th, at(now));
        let gone = matches!(obs.process, ProcessObs::Gone { .. });
        prop_assert_eq!(v.state == State::Orphaned, gone, "{:?} -> {:?}", obs.process, v);
        if let ProcessObs::Gone { reason, .. } = obs.process {
            prop_assert_eq!(v.reason, reason);
        }
    }
}

fn verdict(state: State) -> Verdict {
    let reason = match state {
        State::Alive => Reason::Output,
        State::Orphaned => Reason::PidExited,
        _ => Reason::NoOutput,
    };
    Verdict { state, reason, idle_for: Duration::ZERO, clock_skew: false }
}

/// A run of observations: (milliseconds since the previous one, state observed).
fn steps() -> impl Strategy<Value = Vec<(u64, State)>> {
    let state = prop::sample::select(&State::ALL[..]);
    // Mostly quick steps, so episodes happen; sometimes long pauses, so they end.
    let gap = prop_oneof![4 => 0u64..20_000, 1 => 0u64..700_000];
    prop::collection::vec((gap, state), 0..80)
}

proptest! {
    #[test]
    fn flapping_episodes_are_told_exactly_and_always_end(th in thresholds(), steps in steps()) {
        let window = th.flap_window;
        let mut t = Tracker::new(&verdict(State::Alive), at(0));
        let mut now = 0u64;
        // (time, change) in the order the tracker told them.
        let mut told: Vec<(u64, Change)> = Vec::new();
        for (gap, state) in steps {
            now += gap;
            told.extend(t.observe(&verdict(state), &th, at(now)).into_iter().map(|c| (now, c)));
            prop_assert_eq!(t.state, state);
        }
        // The worker stops transitioning: ticks over one whole window, ending exactly at it.
        let last_transition = told.iter().rev().find(|(_, c)| matches!(c, Change::Transition { .. })).map(|(s, _)| *s);
        let end = (last_transition.unwrap_or(0) + window.as_millis() as u64).max(now);
        let was_flapping = t.flap.flapping;
        let stop_at = told.len();
        for tick in [now, now + (end - now) / 2, end, end + 1] {
            told.extend(t.observe(&verdict(t.state), &th, at(tick)).into_iter().map(|c| (tick, c)));
        }
        let tail = &told[stop_at..];
        let moved = tail.iter().any(|(_, c)| matches!(c, Change::Transition { .. }));
        prop_assert!(!moved, "no transition while ticking: {:?}", tail);
        let stops = tail.iter().filter(|(_, c)| matches!(c, Change::FlappingStopped { .. })).count();
        prop_assert_eq!(stops, usize::from(was_flapping), "exactly one stop for an episode: {:?}", tail);
        prop_assert!(!t.flap.flapping);

        // Started and stopped alternate strictly, starting with started, and every episode ends.
        let flips: Vec<&(u64, Change)> = told
            .iter()
            .filter(|(_, c)| matches!(c, Change::FlappingStarted { .. } | Change::FlappingStopped { .. }))
            .collect();
        for (i, (_, c)) in flips.iter().enumerate() {
            let started = matches!(c, Change::FlappingStarted { .. });
            prop_assert_eq!(started, i % 2 == 0, "flip {} is {:?} in {:?}", i, c, flips);
        }
        prop_assert_eq!(flips.len() % 2, 0, "the final stop is never suppressed: {:?}", flips);

        // The counts reported are what happened: transitions within the window when an
        // episode starts, and all of the episode's transitions when it stops.
        let w = window.as_millis() as u64;
        let mut transitions: Vec<u64> = Vec::new();
        // (when, transitions counted then, transitions seen so far) of the open episode.
        let mut episode: Option<(u64, u32, usize)> = None;
        for (s, c) in &told {
            match *c {
                Change::Transition { .. } => transitions.push(*s),
                Change::FlappingStarted { transitions: n, window: cw } => {
                    prop_assert_eq!(cw, window);
                    let within = transitions.iter().filter(|&&x| x + w > *s).count() as u32;
                    prop_assert!(n >= th.flap_threshold && n == within, "started with {} at {}: {} within", n, s, within);
                    episode = Some((*s, n, transitions.len()));
                }
                Change::FlappingStopped { transitions: n, window: cw } => {
                    prop_assert_eq!(cw, window);
                    let (began, first, seen) = episode.take().expect("a stop follows a start");
                    let during = (transitions.len() - seen) as u32;
                    prop_assert_eq!(n, first + during, "episode from {} stopped at {}", began, s);
                }
                Change::ReasonChanged { .. } => {}
            }
        }
    }
}
