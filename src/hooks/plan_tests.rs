//! Tables for hook planning (time is a value, workers are `WorkerCtx` values) and for the
//! `[[hook]]` rules it relies on.

use super::*;
use crate::event::Event;
use crate::hooks::outcome::{backoff, next};
use crate::model::{Reason::*, Source, State::*, WorkerId};

fn at(s: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000 + s)
}

fn hook(name: &str, on: &[&str], repeat: Option<u64>) -> HookSpec {
    HookSpec {
        name: name.into(),
        command: vec!["/bin/true".into()],
        on: on.iter().map(|p| OnPattern::parse(p).unwrap()).collect(),
        workers: None,
        timeout: Duration::from_secs(30),
        retries: 0,
        repeat: repeat.map(Duration::from_secs),
    }
}

fn ctx(state: State, flapping: bool) -> impl Fn(&str) -> Option<WorkerCtx> {
    move |_| {
        Some(WorkerCtx {
            state,
            reason: if state == Alive { Output } else { NoOutput },
            flapping,
            idle_for: Duration::from_secs(5),
            pid: Some(42),
            log: "/l/w.log".into(),
            labels: BTreeMap::new(),
        })
    }
}

fn ev(seq: u64, kind: EventKind) -> Stamped {
    Stamped::new(seq, at(seq), Event::worker(&WorkerId::new("w").unwrap(), kind))
}

fn tr(seq: u64, from: State, to: State) -> Stamped {
    let reason = if to == Alive { Output } else { NoOutput };
    let kind = EventKind::Transition {
        from,
        to,
        reason,
        idle_for_s: 1.5,
        pid: None,
        pid_alive: None,
        log: "/l/w.log".into(),
        log_size: None,
    };
    ev(seq, kind)
}

fn flap(seq: u64, started: bool) -> Stamped {
    let w = 100.0;
    ev(
        seq,
        if started {
            EventKind::FlappingStarted { transitions: 3, window_s: w }
        } else {
            EventKind::FlappingStopped { transitions: 3, window_s: w }
        },
    )
}

fn env<'a>(j: &'a Job, k: &str) -> &'a str {
    j.env.iter().find(|(n, _)| n == &format!("PULSEWATCH_{k}")).map_or("", |(_, v)| v.as_str())
}

fn hooks() -> Vec<HookSpec> {
    vec![
        hook("page", &["stalled"], None),
        hook("all", &["*"], None),
        hook("fromnone", &["none->stalled"], None),
        hook("back", &["stalled->alive"], None),
        hook("q", &["alive->quiet"], None),
    ]
}

#[test]
fn plan_table() {
    let added = ev(1, EventKind::WorkerAdded { state: Stalled, reason: NoLog, source: Source::Glob });
    // (batch, the worker after it, runs planned as hook@seq/trigger, runs skipped as hook@seq)
    #[rustfmt::skip]
    let cases: Vec<(Vec<Stamped>, (State, bool), Vec<&str>, Vec<&str>)> = vec![
        (vec![added], (Stalled, false), vec!["page@1/transition", "all@1/transition", "fromnone@1/transition"], vec![]),
        (vec![tr(2, Stalled, Alive)], (Alive, false), vec!["all@2/transition", "back@2/transition"], vec![]),
        // The transition that starts flapping is delivered; the ones after it are not.
        (vec![tr(3, Alive, Quiet), flap(4, true), tr(5, Quiet, Alive)], (Alive, true),
            vec!["all@3/transition", "q@3/transition"], vec!["all@5"]),
        (vec![tr(6, Alive, Quiet)], (Quiet, true), vec![], vec!["all@6", "q@6"]),
        // One flap_end run per hook that matches the present state (quiet), FROM not asked.
        (vec![flap(7, false)], (Quiet, false), vec!["all@7/flap_end", "q@7/flap_end"], vec![]),
        // Stopped and restarted within one batch: the flag before the batch was "flapping".
        (vec![tr(8, Quiet, Alive), flap(9, false), tr(10, Alive, Quiet), flap(11, true)], (Quiet, true),
            vec!["all@9/flap_end", "q@9/flap_end", "all@10/transition", "q@10/transition"], vec!["all@8"]),
    ];
    let mut p = Planner::default();
    for (i, (batch, (state, flapping), want, want_skipped)) in cases.into_iter().enumerate() {
        let out = p.plan(&batch, &hooks(), &ctx(state, flapping));
        let got: Vec<String> =
            out.jobs.iter().map(|j| format!("{}@{}/{}", j.hook, j.seq, j.trigger.as_str())).collect();
        assert_eq!(got, want, "case {i}");
        let skipped: Vec<String> = out.skipped.iter().map(|r| format!("{}@{}", r.job.hook, r.job.seq)).collect();
        assert_eq!(skipped, want_skipped, "case {i}");
        assert!(out.skipped.iter().all(|r| r.outcome == Outcome::Skipped(Skip::Flapping)));
        for j in &out.jobs {
            assert_eq!(j.stdin, batch.iter().find(|s| s.seq == j.seq).unwrap().line, "stdin is the event line");
            assert!(p.pending.contains_key(&j.id), "planned runs are pending until they finish");
        }
    }
    assert_eq!(p.marks["w"], Mark { latest: 10, flapping: true });
}

#[test]
fn first_state_and_flap_end_environment() {
    let mut p = Planner::default();
    let added = ev(1, EventKind::WorkerAdded { state: Stalled, reason: NoLog, source: Source::Glob });
    let out = p.plan(&[added], &hooks(), &ctx(Stalled, false));
    let j = &out.jobs[0];
    assert_eq!((env(j, "PREV_STATE"), env(j, "STATE"), env(j, "REASON")), ("none", "stalled", "no_log"));
    assert_eq!((env(j, "PID"), env(j, "LOG"), env(j, "IDLE_FOR_S")), ("42", "/l/w.log", "5"));
    let out = p.plan(&[flap(2, false)], &hooks(), &ctx(Quiet, false));
    let j = &out.jobs[0];
    assert_eq!(
        (env(j, "EVENT"), env(j, "STATE"), env(j, "PREV_STATE"), env(j, "SEQ")),
        ("flap_end", "quiet", "quiet", "2")
    );
}

#[test]
fn reason_changes_run_state_reason_hooks_only() {
    let hooks = vec![
        hook("page", &["stalled"], None),
        hook("all", &["*"], None),
        hook("needs-you", &["*/awaiting_input"], None),
        hook("quiet-input", &["quiet/awaiting_input"], None),
        hook("idle", &["*/idle_prompt"], None),
    ];
    let rc = |seq, state, from_reason, to_reason| ev(seq, EventKind::ReasonChanged { state, from_reason, to_reason });
    // (batch, worker after it (state, flapping), runs planned, runs skipped)
    #[rustfmt::skip]
    let cases: Vec<(Vec<Stamped>, (State, bool), Vec<&str>, Vec<&str>)> = vec![
        (vec![rc(1, Quiet, NoOutput, AwaitingInput)], (Quiet, false),
            vec!["needs-you@1/reason_changed", "quiet-input@1/reason_changed"], vec![]),
        (vec![rc(2, Stalled, NoOutput, AwaitingInput)], (Stalled, false), vec!["needs-you@2/reason_changed"], vec![]),
        (vec![rc(3, Stalled, AwaitingInput, NoOutput)], (Stalled, false), vec![], vec![]),
        (vec![rc(4, Quiet, NoOutput, IdlePrompt)], (Quiet, true), vec![], vec!["idle@4"]),
    ];
    let mut p = Planner::default();
    let pending = p.plan(&[tr(0, Quiet, Stalled)], &hooks, &ctx(Stalled, false)).jobs;
    for (i, (batch, (state, flapping), want, want_skipped)) in cases.into_iter().enumerate() {
        let out = p.plan(&batch, &hooks, &ctx(state, flapping));
        let got: Vec<String> =
            out.jobs.iter().map(|j| format!("{}@{}/{}", j.hook, j.seq, j.trigger.as_str())).collect();
        assert_eq!(got, want, "case {i}");
        let skipped: Vec<String> = out.skipped.iter().map(|r| format!("{}@{}", r.job.hook, r.job.seq)).collect();
        assert_eq!(skipped, want_skipped, "case {i}");
        for j in &out.jobs {
            assert_eq!(
                (env(j, "EVENT"), env(j, "STATE"), env(j, "PREV_STATE")),
                ("reason_changed", state.as_str(), state.as_str())
            );
            assert_eq!(env(j, "REASON"), "awaiting_input");
        }
    }
    // The transition's own runs are not superseded by a reason change.
    assert!(pending.iter().all(|j| start_check(j, p.marks["w"]).is_none()));
}

#[test]
fn start_checks() {
    let mut p = Planner::default();
    let job = p.plan(&[tr(5, Quiet, Stalled)], &hooks(), &ctx(Stalled, false)).jobs.remove(0);
    #[rustfmt::skip]
    let cases = [
        (Mark { latest: 5, flapping: false }, None),
        (Mark { latest: 6, flapping: false }, Some(Skip::Superseded)),
        (Mark { latest: 5, flapping: true }, Some(Skip::Flapping)),
        (Mark { latest: 9, flapping: true }, Some(Skip::Superseded)),
    ];
    for (mark, want) in cases {
        assert_eq!(start_check(&job, mark), want, "{mark:?}");
    }
}

#[test]
fn outcomes_and_backoff() {
    let failed = Outcome::Failed { code: Some(3), signal: None };
    #[rustfmt::skip]
    let cases = [
        (Outcome::Ok, 1, 2, Next::Done),
        (failed.clone(), 1, 2, Next::Retry(Duration::from_secs(1))),
        (Outcome::Timeout, 2, 2, Next::Retry(Duration::from_secs(2))),
        (Outcome::SpawnError("x".into()), 3, 2, Next::Done),
        (failed, 1, 0, Next::Done),
        (Outcome::Skipped(Skip::Superseded), 1, 2, Next::Done),
        (Outcome::Skipped(Skip::Flapping), 1, 2, Next::Done),
        (Outcome::Skipped(Skip::Shutdown), 1, 2, Next::Redeliver),
    ];
    for (o, attempt, retries, want) in cases {
        assert_eq!(next(&o, attempt, retries), want, "{o:?} attempt {attempt}/{retries}");
    }
    assert_eq!(backoff(3), Duration::from_secs(4));
    assert_eq!(backoff(100), Duration::from_secs(4096));
    let sig = Outcome::Failed { code: None, signal: Some(9) };
    assert_eq!((sig.name(), sig.reason().as_deref()), ("failed", Some("killed by signal 9")));
}

#[test]
fn reminders_follow_the_state() {
    let hooks = vec![hook("nag", &["stalled"], Some(10))];
    let mut p = Planner::default();
    p.plan(&[tr(1, Quiet, Stalled)], &hooks, &ctx(Stalled, false));
    assert_eq!(p.next_due(), Some(at(11)));
    // (now, state of the worker, repeat runs expected)
    let steps =
        [(5, Stalled, 0), (11, Stalled, 1), (12, Stalled, 0), (21, Stalled, 1), (500, Stalled, 1), (505, Stalled, 0)];
    for (now, state, want) in steps {
        let jobs = p.due(at(now), &hooks, &ctx(state, false));
        assert_eq!(jobs.len(), want, "at {now}s");
        for j in &jobs {
            assert_eq!((env(j, "EVENT"), env(j, "SEQ"), j.seq, j.trigger), ("repeat", "1", 1, Trigger::Repeat));
            assert_eq!(j.stdin, tr(1, Quiet, Stalled).line, "stdin is the transition's line");
        }
    }
    assert_eq!(p.next_due(), Some(at(510)), "fell behind: continues from now");
    // Any transition ends it.
    p.plan(&[tr(2, Stalled, Alive)], &hooks, &ctx(Alive, false));
    assert_eq!(p.next_due(), None);
    // A state that changed unseen ends it too.
    p.plan(&[tr(3, Alive, Stalled)], &hooks, &ctx(Stalled, false));
    assert!(p.due(at(100), &hooks, &ctx(Alive, false)).is_empty());
    assert_eq!(p.next_due(), None);
}

#[test]
fn settle_and_restore() {
    let mut p = Planner::default();
    let jobs = p.plan(&[tr(4, Quiet, Stalled)], &hooks(), &ctx(Stalled, false)).jobs;
    let (a, b) = (jobs[0].clone(), jobs[1].clone());
    assert!(p.take_dirty() && !p.take_dirty(), "new pending runs must be saved, once");
    let report = |job: &Job, next| Report { job: job.clone(), outcome: Outcome::Ok, duration: Duration::ZERO, next };
    p.settle(&report(&a, Next::Retry(Duration::from_secs(1))));
    assert_eq!(p.pending[&a.id].attempt, 2);
    assert!(p.take_dirty());
    p.settle(&report(&b, Next::Redeliver));
    assert!(p.pending.contains_key(&b.id) && !p.take_dirty());
    p.settle(&report(&b, Next::Done));
    assert!(!p.pending.contains_key(&b.id));
    let saved = p.saved();
    let json = serde_json::to_string(&saved).unwrap();
    let back: SavedHooks = serde_json::from_str(&json).unwrap();
    assert_eq!(back, saved);
    let mut r = Planner::restore(back);
    assert_eq!(r.marks["w"].latest, 4);
    let next = r.plan(&[tr(5, Stalled, Alive)], &hooks(), &ctx(Alive, false)).jobs;
    assert!(next.iter().all(|j| j.id > a.id), "ids keep growing after a restore");
}

#[test]
fn hook_tables_are_validated() {
    let load = |hook: &str| crate::config::load_str(&format!("[[hook]]\n{hook}\n"), Some("/etc/pw.toml".into()));
    // (the table's body, the key the message must name, or None when valid)
    #[rustfmt::skip]
    let cases: &[(&str, Option<&str>)] = &[
        (r#"command = ["/bin/alert"]"#, None),
        (r#"command = ["/bin/alert"]
on = ["none->stalled", "*->alive", "*/awaiting_input", "quiet->stalled", "*"]
workers = ["review-*"]"#, None),
        (r#"command = ["/bin/alert"]
on = ["dead"]"#, Some("hook.on")),
        (r#"command = ["/bin/alert"]
on = ["alive->gone"]"#, Some("hook.on")),
        (r#"command = ["/bin/alert"]
on = []"#, Some("hook.on")),
        (r#"command = []"#, Some("hook.command")),
        (r#"command = [""]"#, Some("hook.command")),
        (r#"on = ["stalled"]"#, Some("hook.command")),
        (r#"command = ["/bin/alert"]
timeout = "0s""#, Some("hook.timeout")),
        (r#"command = ["/bin/alert"]
workers = ["[bad"]"#, Some("hook.workers")),
    ];
    for (body, key) in cases {
        match (load(body), key) {
            (Ok(cfg), None) => assert_eq!(cfg.hooks[0].name, "alert", "the name defaults to the file name"),
            (Err(e), Some(key)) => {
                let msg = e.to_string();
                assert!(msg.contains("/etc/pw.toml:") && msg.contains(key), "{body}: {msg}");
            }
            (got, _) => panic!("{body}: {:?}", got.map(|c| c.hooks.len())),
        }
    }
}
