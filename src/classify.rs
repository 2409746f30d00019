//! Classification, pure: the contract's six rules as a function of an observation, the
//! thresholds and `now`.

use crate::content::Prompt;
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

/// What content mode and tmux add to a verdict: which prompt is showing (after hysteresis)
/// and whether the pane's pipe is broken.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Refinement {
    pub prompt: Prompt,
    pub pipe_broken: bool,
}

/// Refines a verdict of the six rules. The state rules decide the state, with one exception
/// the contract grants: an input prompt that has shown while output was still for
/// `input_after` makes an `alive` worker `quiet` (independent of `quiet_after`). Then:
/// - `awaiting_input`: an input prompt shows and output has been still for `input_after`;
/// - `idle_prompt`: the idle prompt shows and the worker is quiet or stalled;
/// - `pipe_broken` (wins over both): the log is no longer fed, so it says nothing.
///
/// Orphaned workers and those without a log (`starting`, `no_log`) keep their verdict.
pub fn refine(v: Verdict, r: Refinement, input_after: Duration) -> Verdict {
    if v.state == State::Orphaned || matches!(v.reason, Reason::Starting | Reason::NoLog) {
        return v;
    }
    if r.pipe_broken {
        return Verdict { reason: Reason::PipeBroken, ..v };
    }
    match r.prompt {
        Prompt::Input if v.idle_for >= input_after => {
            Verdict { state: v.state.max(State::Quiet), reason: Reason::AwaitingInput, ..v }
        }
        Prompt::Idle if v.state != State::Alive => Verdict { reason: Reason::IdlePrompt, ..v },
        _ => v,
    }
}

/// How far a tmux window's last activity may run ahead of its log's mtime before the pipe
/// counts as broken: tmux reports activity in whole seconds, and a pipe writes a little late.
pub const PIPE_SLACK: Duration = Duration::from_secs(5);

/// Is the `pipe-pane` feeding a log broken? `piped`: tmux's `pane_pipe`; `activity`: the
/// window's `window_activity` (only when the pane is alone in its window, so it is this
/// pane's); `last_write`: the log's mtime. Broken: no pipe, or the pane showed output well
/// after the log last grew.
pub fn pipe_broken(piped: bool, activity: Option<SystemTime>, last_write: Option<SystemTime>) -> bool {
    !piped || matches!((activity, last_write), (Some(a), Some(w)) if a > w + PIPE_SLACK)
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
    fn refinements() {
        let v = |state, reason, idle| Verdict { state, reason, idle_for: Duration::from_secs(idle), clock_skew: false };
        let (none, input, idle) = (Prompt::None, Prompt::Input, Prompt::Idle);
        let after = Duration::from_secs(10);
        // (name, verdict, prompt, pipe_broken, state, reason)
        #[rustfmt::skip]
        let cases: Vec<(&str, Verdict, Prompt, bool, State, Reason)> = vec![
            ("nothing showing", v(Alive, Output, 30), none, false, Alive, Output),
            ("prompt, output still under input_after", v(Alive, Output, 9), input, false, Alive, Output),
            ("prompt at input_after: quiet before quiet_after", v(Alive, Output, 10), input, false, Quiet, AwaitingInput),
            ("prompt while quiet", v(Quiet, NoOutput, 200), input, false, Quiet, AwaitingInput),
            ("prompt past stalled_after", v(Stalled, NoOutput, 1000), input, false, Stalled, AwaitingInput),
            ("idle prompt while alive: just output", v(Alive, Output, 30), idle, false, Alive, Output),
            ("idle prompt while quiet", v(Quiet, NoOutput, 200), idle, false, Quiet, IdlePrompt),
            ("idle prompt while stalled", v(Stalled, NoOutput, 1000), idle, false, Stalled, IdlePrompt),
            ("pipe broken wins", v(Quiet, NoOutput, 200), input, true, Quiet, PipeBroken),
            ("pipe broken while alive", v(Alive, Output, 1), none, true, Alive, PipeBroken),
            ("orphaned stays", v(Orphaned, PaneGone, 200), input, true, Orphaned, PaneGone),
            ("no log stays", v(Stalled, NoLog, 200), input, true, Stalled, NoLog),
            ("starting stays", v(Alive, Starting, 20), input, false, Alive, Starting),
        ];
        for (name, verdict, prompt, pipe_broken, state, reason) in cases {
            let got = refine(verdict, Refinement { prompt, pipe_broken }, after);
            assert_eq!((got.state, got.reason), (state, reason), "{name}");
            assert_eq!(got.idle_for, verdict.idle_for, "{name}: idle");
        }
    }

    #[test]
    fn broken_pipes() {
        // (piped, window_activity, log mtime, broken)
        let cases = [
            (false, None, Some(0), true),
            (true, None, Some(0), false),
            (true, Some(100), Some(96), false),
            (true, Some(100), Some(95), false),
            (true, Some(101), Some(95), true),
            (true, Some(100), None, false),
            (true, Some(50), Some(100), false),
        ];
        for (piped, act, write, want) in cases {
            assert_eq!(pipe_broken(piped, act.map(at), write.map(at)), want, "{piped} {act:?} {write:?}");
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
