//! Broken pipes in a real tmux: a pane that lives on while its `pipe-pane` was closed is
//! `pipe_broken`; with `repipe = true` the recorded pipe command runs again (`repiped`) and
//! the log is fed once more.

mod common;
use common::*;
use serde_json::Value;
use std::time::Duration;

const T: Duration = Duration::from_secs(20);

fn wait_worker(sb: &Sandbox, id: &str, state: &str, reason: &str) -> Value {
    wait_until(&format!("{id} {state}/{reason}"), T, || {
        worker(&sb.status()?, id).filter(|w| w["state"] == state && w["reason"] == reason).cloned()
    })
}

#[test]
fn a_closed_pipe_is_pipe_broken_and_repipe_restores_it() {
    let (sb, tmux) = (Sandbox::new(), Tmux::new());
    let flag = sb.write("printing", "");
    let cfg = sb.config(
        "sweep_interval = \"100ms\"",
        &format!(
            "[defaults]\nquiet_after = \"60s\"\nstalled_after = \"120s\"\n\n[[discover]]\nregistry = {:?}\n",
            sb.path("workers")
        ),
    );
    let mut panes = Vec::new();
    for id in ["plain", "repiped"] {
        let pane = tmux.session(id, &printer(&flag));
        let out = tmux.pulsewatch(sb.dir.path(), &["attach", "-c", cfg.to_str().unwrap(), "-L", &tmux.name, id]);
        assert!(out.status.success(), "attach: {}", String::from_utf8_lossy(&out.stderr));
        panes.push(pane);
    }
    // Opt in per worker: the registry entry takes a worker's keys.
    let entry = sb.path("workers/repiped.toml");
    let text = std::fs::read_to_string(&entry).unwrap();
    assert!(text.contains("tmux_pipe = "), "{text}");
    std::fs::write(&entry, format!("{text}repipe = true\n")).unwrap();

    let _d = Daemon::start_with(tmux.env(&mut command(sb.dir.path())).arg("run").arg("-c").arg(&cfg));
    for id in ["plain", "repiped"] {
        wait_worker(&sb, id, "alive", "output");
    }
    // Someone closes both pipes; the panes go on printing.
    for p in &panes {
        tmux.run(&["pipe-pane", "-t", p]);
    }
    let w = wait_worker(&sb, "plain", "alive", "pipe_broken");
    assert_eq!(w["pid_alive"], true, "{w}");
    let repiped = wait_until("repiped", T, || sb.events().into_iter().find(|e| is(e, "repiped", "repiped")));
    assert!(repiped["seq"].as_u64().is_some());
    wait_until("the pipe open again", T, || (tmux.query(&panes[1], "#{pane_pipe}")? == "1").then_some(()));
    let log = sb.path("state/logs/repiped.log");
    let before = size(&log);
    wait_until("the log fed again", T, || (size(&log) > before).then_some(()));
    wait_worker(&sb, "repiped", "alive", "output");
    // Off by default: the other pane stays unpiped and reported.
    assert_eq!(tmux.query(&panes[0], "#{pane_pipe}").as_deref(), Some("0"));
    assert_eq!(worker(&sb.status().unwrap(), "plain").unwrap()["reason"], "pipe_broken");
    let changes: Vec<(String, String)> = sb
        .events()
        .into_iter()
        .filter(|e| is(e, "reason_changed", "repiped"))
        .map(|e| (e["from_reason"].as_str().unwrap().into(), e["to_reason"].as_str().unwrap().into()))
        .collect();
    assert_eq!(
        changes,
        [("output".into(), "pipe_broken".into()), ("pipe_broken".into(), "output".into())],
        "reason changes of the repiped worker"
    );
    assert!(!sb.events().iter().any(|e| is(e, "repiped", "plain")));
}
