//! Classification, pure: the contract's six rules as a function of an observation, the
//! thresholds and `now`.

use crate::identity::ProcessObs;
use crate::model::{Reason, State, Thresholds};
use std::time::{Duration, SystemTime};

/// Everything classification needs, gathered by the probe at one instant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observation {
    pub process: ProcessObs,
    /// The time of the last output: the log's mtime (or, in content mode, the last time
    /// meaningful text appeared); `None` when the log does not exist.
    pub last_output: Option<SystemTime>,
    /// Idle is measured from here when there is no log: the process start time when the
    /// worker has a live process, else when pulsewatch first saw the worker.
    pub reference: SystemTime,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict {
    pub state: State,
    pub reason: Reason,
    pub idle_for: Duration,
    /// The log's mtime lies in the future; idle counts as 0.
    pub clock_skew: bool,
}

pub fn idle_since(t: SystemTime, now: SystemTime) -> (Duration, bool) {
    match now.duration_since(t) {
        Ok(d) => (d, false),
        Err(_) => (Duration::ZERO, true),
    }
}

pub fn classify(obs: &Observation, th: &Thresholds, now: SystemTime) -> Verdict {
    let (idle_for, clock_skew) = idle_since(obs.last_output.unwrap_or(obs.reference), now);
    let v = |state, reason| Verdict { state, reason, idle_for, clock_skew };
    if let ProcessObs::Gone { reason, .. } = obs.process {
        return v(State::Orphaned, reason);
    }
    match obs.last_output {
        None if idle_for < th.start_grace => v(State::Alive, Reason::Starting),
        None => v(State::Stalled, Reason::NoLog),
        Some(_) if idle_for < th.quiet_after => v(State::Alive, Reason::Output),
        Some(_) if idle_for < th.stalled_after => v(State::Quiet, Reason::NoOutput),
        Some(_) => v(State::Stalled, Reason::NoOutput),
    }
}

/// The next instant at which the verdict would change if nothing were written and the
/// process stayed as it is: the deadline to re-check this worker at.
pub fn next_deadline(obs: &Observation, th: &Thresholds, now: SystemTime) -> Option<SystemTime> {
    if matches!(obs.process, ProcessObs::Gone { .. }) {
        return None;
    }
    let (base, steps): (SystemTime, &[Duration]) = match obs.last_output {
        None => (obs.reference, &[th.start_grace]),
        Some(t) => (t, &[th.quiet_after, th.stalled_after]),
    };
    steps.iter().map(|d| base + *d).find(|t| *t > now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Reason::*, State::*};

    const T0: u64 = 1_000_000;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(T0 + secs)
    }

    fn th() -> Thresholds {
        Thresholds {
            quiet_after: Duration::from_secs(120),
            stalled_after: Duration::from_secs(900),
            start_grace: Duration::from_secs(60),
            ..Thresholds::default()
        }
    }

    const LIVE: ProcessObs = ProcessObs::Alive { pid: 9, start_ticks: Some(1) };
    const NONE: ProcessObs = ProcessObs::NotConfigured;
    fn gone(r: Reason) -> ProcessObs {
        ProcessObs::Gone { pid: Some(9), reason: r }
    }

    #[test]
    fn rules_and_boundaries() {
        // (name, process, last_output (secs), reference (secs), now (secs), state, reason, idle, skew)
        #[rustfmt::skip]
        let cases: Vec<(&str, ProcessObs, Option<u64>, u64, u64, State, Reason, u64, bool)> = vec![
            ("1 exited beats fresh output", gone(PidExited), Some(1000), 0, 1000, Orphaned, PidExited, 0, false),
            ("1 zombie", gone(PidZombie), Some(0), 0, 5000, Orphaned, PidZombie, 5000, false),
            ("1 reused", gone(PidReused), None, 0, 10, Orphaned, PidReused, 10, false),
            ("1 pidfile missing", gone(PidfileMissing), Some(0), 0, 1, Orphaned, PidfileMissing, 1, false),
            ("1 pane gone", gone(PaneGone), Some(0), 0, 1, Orphaned, PaneGone, 1, false),
            ("2 no log in grace", LIVE, None, 100, 159, Alive, Starting, 59, false),
            ("3 no log at grace end", LIVE, None, 100, 160, Stalled, NoLog, 60, false),
            ("3 log-only worker, never a log", NONE, None, 0, 61, Stalled, NoLog, 61, false),
            ("4 fresh output", LIVE, Some(500), 0, 500, Alive, Output, 0, false),
            ("4 just before quiet_after", LIVE, Some(500), 0, 619, Alive, Output, 119, false),
            ("5 exactly at quiet_after", LIVE, Some(500), 0, 620, Quiet, NoOutput, 120, false),
            ("5 just before stalled_after", LIVE, Some(500), 0, 1399, Quiet, NoOutput, 899, false),
            ("6 exactly at stalled_after", LIVE, Some(500), 0, 1400, Stalled, NoOutput, 900, false),
            ("6 log-only worker never orphaned", NONE, Some(0), 0, 100_000, Stalled, NoOutput, 100_000, false),
            ("future mtime is idle 0", LIVE, Some(2000), 0, 1000, Alive, Output, 0, true),
            ("log appears late", LIVE, Some(300), 0, 301, Alive, Output, 1, false),
            // A truncated or replaced log is just a log with a new mtime.
            ("log replaced (new inode, new mtime)", LIVE, Some(5000), 0, 5001, Alive, Output, 1, false),
            // Deleted while the process lives: idle is measured from the process start again.
            ("log deleted, process lives", LIVE, None, 0, 5000, Stalled, NoLog, 5000, false),
        ];
        for (name, process, out, reference, now, state, reason, idle, skew) in cases {
            let obs = Observation { process, last_output: out.map(at), reference: at(reference) };
            let v = classify(&obs, &th(), at(now));
            assert_eq!((v.state, v.reason), (state, reason), "{name}");
            assert_eq!(v.idle_for, Duration::from_secs(idle), "{name}: idle");
            assert_eq!(v.clock_skew, skew, "{name}: skew");
        }
    }

    #[test]
    fn deadlines() {
        let obs = |out: Option<u64>| Observation { process: LIVE, last_output: out.map(at), reference: at(0) };
        assert_eq!(next_deadline(&obs(Some(10)), &th(), at(10)), Some(at(130)));
        assert_eq!(next_deadline(&obs(Some(10)), &th(), at(130)), Some(at(910)));
        assert_eq!(next_deadline(&obs(Some(10)), &th(), at(910)), None);
        assert_eq!(next_deadline(&obs(None), &th(), at(5)), Some(at(60)));
        assert_eq!(next_deadline(&obs(None), &th(), at(60)), None);
        let dead = Observation { process: gone(PidExited), last_output: None, reference: at(0) };
        assert_eq!(next_deadline(&dead, &th(), at(0)), None);
    }
}
