//! The per-worker state machine, pure: turns successive verdicts into transitions, reason
//! changes and flapping episodes.

pub mod journal;
pub mod persist;

use crate::classify::Verdict;
use crate::model::{Reason, State, Thresholds};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

/// What changed at one observation, in the order it happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Transition { from: State, to: State, reason: Reason },
    ReasonChanged { state: State, from_reason: Reason, to_reason: Reason },
    FlappingStarted { transitions: u32, window: Duration },
    FlappingStopped { transitions: u32, window: Duration },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tracker {
    pub state: State,
    pub reason: Reason,
    #[serde(with = "crate::timefmt::serde_time")]
    pub since: SystemTime,
    #[serde(default)]
    pub flap: Flap,
}

/// Recent transition times and whether the worker currently flaps.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Flap {
    #[serde(with = "crate::timefmt::serde_times")]
    pub recent: VecDeque<SystemTime>,
    pub flapping: bool,
    /// Transitions since the episode began (reported with `flapping_stopped`).
    #[serde(default)]
    pub episode: u32,
}

impl Tracker {
    pub fn new(v: &Verdict, now: SystemTime) -> Tracker {
        Tracker { state: v.state, reason: v.reason, since: now, flap: Flap::default() }
    }

    pub fn observe(&mut self, v: &Verdict, th: &Thresholds, now: SystemTime) -> Vec<Change> {
        let mut out = Vec::new();
        if v.state != self.state {
            out.push(Change::Transition { from: self.state, to: v.state, reason: v.reason });
            self.state = v.state;
            self.reason = v.reason;
            self.since = now;
            if let Some(c) = self.flap.on_transition(th, now) {
                out.push(c);
            }
        } else if v.reason != self.reason {
            out.push(Change::ReasonChanged { state: self.state, from_reason: self.reason, to_reason: v.reason });
            self.reason = v.reason;
        }
        if let Some(c) = self.flap.on_tick(th, now) {
            out.push(c);
        }
        out
    }
}

impl Flap {
    fn prune(&mut self, th: &Thresholds, now: SystemTime) {
        while self.recent.front().is_some_and(|t| now.duration_since(*t).unwrap_or_default() >= th.flap_window) {
            self.recent.pop_front();
        }
    }

    fn on_transition(&mut self, th: &Thresholds, now: SystemTime) -> Option<Change> {
        self.recent.push_back(now);
        self.prune(th, now);
        if self.flapping {
            self.episode += 1;
            return None;
        }
        let n = self.recent.len() as u32;
        (n >= th.flap_threshold).then(|| {
            self.flapping = true;
            self.episode = n;
            Change::FlappingStarted { transitions: n, window: th.flap_window }
        })
    }

    /// A flapping worker stops flapping once a whole window passed without a transition.
    fn on_tick(&mut self, th: &Thresholds, now: SystemTime) -> Option<Change> {
        self.prune(th, now);
        (self.flapping && self.recent.is_empty()).then(|| {
            self.flapping = false;
            let transitions = std::mem::take(&mut self.episode);
            Change::FlappingStopped { transitions, window: th.flap_window }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Reason::*, State::*};

    fn at(s: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000 + s)
    }
    fn v(state: State, reason: Reason) -> Verdict {
        Verdict { state, reason, idle_for: Duration::ZERO, clock_skew: false }
    }
    fn th() -> Thresholds {
        Thresholds { flap_window: Duration::from_secs(100), flap_threshold: 3, ..Thresholds::default() }
    }

    #[test]
    fn transitions_and_reasons() {
        let mut t = Tracker::new(&v(Alive, Output), at(0));
        assert!(t.observe(&v(Alive, Output), &th(), at(1)).is_empty());
        assert_eq!(
            t.observe(&v(Quiet, NoOutput), &th(), at(2)),
            vec![Change::Transition { from: Alive, to: Quiet, reason: NoOutput }]
        );
        assert_eq!(t.since, at(2));
        assert_eq!(
            t.observe(&v(Quiet, AwaitingInput), &th(), at(3)),
            vec![Change::ReasonChanged { state: Quiet, from_reason: NoOutput, to_reason: AwaitingInput }]
        );
        assert_eq!(t.since, at(2), "a reason change keeps since");
    }

    #[test]
    fn flapping_table() {
        // (time, state observed, changes expected beyond the transition itself)
        let w = Duration::from_secs(100);
        #[rustfmt::skip]
        let steps: Vec<(u64, State, Vec<Change>)> = vec![
            (10, Quiet, vec![]),
            (20, Alive, vec![]),
            (30, Quiet, vec![Change::FlappingStarted { transitions: 3, window: w }]),
            (40, Alive, vec![]),
            (139, Alive, vec![]),                       // last transition 99 s ago: still flapping
            (140, Alive, vec![Change::FlappingStopped { transitions: 4, window: w }]),
            (141, Alive, vec![]),                       // told once
            (150, Quiet, vec![]),
            (160, Alive, vec![]),
            (300, Quiet, vec![]),                       // old ones aged out: no new episode
        ];
        let mut t = Tracker::new(&v(Alive, Output), at(0));
        for (s, state, want) in steps {
            let reason = if state == Alive { Output } else { NoOutput };
            let prev = t.state;
            let got = t.observe(&v(state, reason), &th(), at(s));
            let rest: Vec<Change> = got.into_iter().filter(|c| !matches!(c, Change::Transition { .. })).collect();
            assert_eq!(rest, want, "at {s}s ({prev} -> {state})");
        }
        assert!(!t.flap.flapping);
    }
}
