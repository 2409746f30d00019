//! Agent-aware detection against fixture streams that mimic each preset's agent: a question
//! that stays on screen is `awaiting_input` within `input_after` + settle, an answer makes
//! the worker alive again, a busy marker beside a question in the scrollback is not a
//! question, and a preset fixed in `presets_dir` works without a rebuild.

mod common;
use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

const T: Duration = Duration::from_secs(30);
const AGENTS: [&str; 4] = ["claude", "codex", "gemini", "aider"];

fn wait_worker(sb: &Sandbox, id: &str, state: &str, reason: &str) -> Value {
    wait_until(&format!("{id} {state}/{reason}"), T, || {
        worker(&sb.status()?, id).filter(|w| w["state"] == state && w["reason"] == reason).cloned()
    })
}

/// One fixture agent writing `ID.log`, controlled through the directory `ID/`.
fn agent(sb: &Sandbox, id: &str, preset: &str, mode: &str) -> (Proc, PathBuf, PathBuf) {
    let dir = sb.mkdir(id);
    let log = sb.path(&format!("{id}.log"));
    let p = Proc::script("agent.sh", &[preset, dir.to_str().unwrap(), mode], &log);
    wait_until("fixture output", T, || (size(&log) > 0).then_some(()));
    (p, log, dir)
}

fn worker_entry(id: &str, log: &Path, preset: &str) -> String {
    format!("[[worker]]\nid = {id:?}\nlog = {log:?}\nactivity = \"content\"\nignore_preset = {preset:?}\n")
}

/// A fast sweep, `stalled_after` far away, and the given `quiet_after` and `input_after`.
fn config(sb: &Sandbox, daemon_extra: &str, quiet_after: &str, input_after: &str, workers: &str) -> PathBuf {
    sb.config(
        &format!("sweep_interval = \"100ms\"\n{daemon_extra}"),
        &format!(
            "[defaults]\nquiet_after = {quiet_after:?}\nstalled_after = \"120s\"\ninput_after = {input_after:?}\n\n{workers}"
        ),
    )
}

fn touch(dir: &Path, name: &str) {
    std::fs::write(dir.join(name), "").unwrap();
}

#[test]
fn each_agent_waiting_for_input_is_reported_and_an_answer_makes_it_alive() {
    let sb = Sandbox::new();
    let agents: Vec<_> = AGENTS.iter().map(|a| (*a, agent(&sb, a, a, ""))).collect();
    let workers: String = agents.iter().map(|(a, (_, log, _))| worker_entry(a, log, a)).collect();
    // input_after is more than the busy grace (6 s): the spinner was on screen just before.
    let cfg = config(&sb, "", "60s", "7s", &workers);
    let _d = Daemon::start_logged(&sb, &cfg);
    for a in AGENTS {
        wait_worker(&sb, a, "alive", "output");
    }
    for (_, (_, _, dir)) in &agents {
        touch(dir, "ask");
    }
    for a in AGENTS {
        let w = wait_worker(&sb, a, "quiet", "awaiting_input");
        assert!(w["pid"].is_null(), "{w}");
        let tr = wait_until("the transition event", T, || {
            sb.events().into_iter().find(|e| is(e, "transition", a) && e["to"] == "quiet")
        });
        assert_eq!((tr["from"].as_str(), tr["reason"].as_str()), (Some("alive"), Some("awaiting_input")), "{a}");
        // Not before input_after, and within input_after + settle (and a sweep or two).
        let idle = tr["idle_for_s"].as_f64().unwrap();
        assert!((7.0..7.0 + 1.5 + 1.5).contains(&idle), "{a}: reported after {idle} s of still output");
    }
    for (_, (_, _, dir)) in &agents {
        touch(dir, "answer");
    }
    for a in AGENTS {
        wait_worker(&sb, a, "alive", "output");
    }
    assert_gapless(&sb.events());
}

#[test]
fn a_busy_marker_beside_a_question_in_the_scrollback_is_not_waiting() {
    let sb = Sandbox::new();
    let (_p, log, dir) = agent(&sb, "w", "claude", "busy-proceed");
    let cfg = config(&sb, "", "4s", "1s", &worker_entry("w", &log, "claude"));
    let _d = Daemon::start_logged(&sb, &cfg);
    wait_worker(&sb, "w", "alive", "output");
    touch(&dir, "ask");
    // The spinner alone is no output: quiet after quiet_after, well past input_after + settle.
    let w = wait_worker(&sb, "w", "quiet", "no_output");
    assert_eq!(w["reason"], "no_output");
    let odd: Vec<_> = sb
        .events()
        .into_iter()
        .filter(|e| e.to_string().contains("awaiting_input") || e["event"] == "reason_changed")
        .collect();
    assert!(odd.is_empty(), "a working agent was taken for one waiting: {odd:?}");
}

#[test]
fn a_preset_fixed_in_presets_dir_takes_effect_on_reload_without_a_rebuild() {
    let sb = Sandbox::new();
    let presets = sb.mkdir("presets");
    let (_p, log, dir) = agent(&sb, "w", "claude", "changed");
    let cfg = config(&sb, &format!("presets_dir = {presets:?}"), "3s", "1s", &worker_entry("w", &log, "claude"));
    let d = Daemon::start_logged(&sb, &cfg);
    wait_worker(&sb, "w", "alive", "output");
    touch(&dir, "ask");
    // The agent's new wording is unknown to the embedded preset.
    wait_worker(&sb, "w", "quiet", "no_output");

    // The user's fix: a copy of the embedded preset with one more pattern. A broken one is
    // refused by `config check` with the file, line and key.
    let embedded =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/presets/claude.toml")).unwrap();
    let fixed = embedded
        .replace("[awaiting_input]\nlines = [\n", "[awaiting_input]\nlines = [\n  '^\\(a\\)llow\\s+\\(d\\)eny$',\n");
    assert_ne!(fixed, embedded);
    std::fs::write(presets.join("claude.toml"), fixed.replace("'^\\(a\\)llow", "'^(a\\)llow")).unwrap();
    let out = run(sb.dir.path(), &["config", "check", "-c", cfg.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("claude.toml:") && err.contains("awaiting_input.lines"), "{err}");
    std::fs::write(presets.join("claude.toml"), &fixed).unwrap();
    let out = run(sb.dir.path(), &["config", "check", "-c", cfg.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    d.signal(rustix::process::Signal::HUP);
    wait_worker(&sb, "w", "quiet", "awaiting_input");
    let rc = sb.events().into_iter().find(|e| is(e, "reason_changed", "w")).expect("a reason_changed event");
    assert_eq!((rc["state"].as_str(), rc["from_reason"].as_str()), (Some("quiet"), Some("no_output")));
    assert_eq!(rc["to_reason"], "awaiting_input");
}

/// With the sweep an hour away, a question on screen is still reported on time: the look
/// that saw it scheduled the next one for when `input_after` (and the settle) are over.
#[test]
fn a_question_is_reported_by_its_deadline_without_a_sweep() {
    let sb = Sandbox::new();
    let (_p, log, dir) = agent(&sb, "claude", "claude", "");
    let cfg = sb.config(
        "sweep_interval = \"1h\"\n",
        &format!(
            "[defaults]\nquiet_after = \"2s\"\nstalled_after = \"120s\"\ninput_after = \"7s\"\n\n{}",
            worker_entry("claude", &log, "claude")
        ),
    );
    let _d = Daemon::start_logged(&sb, &cfg);
    wait_worker(&sb, "claude", "alive", "output");
    touch(&dir, "ask");
    let w = wait_worker(&sb, "claude", "quiet", "awaiting_input");
    let idle = w["idle_for_s"].as_f64().unwrap();
    assert!((7.0..7.0 + 1.5 + 1.5).contains(&idle), "reported after {idle} s of still output");
    assert_eq!(sb.events().iter().filter(|e| e["event"] == "daemon_started").count(), 1);
    assert_gapless(&sb.events());
}
