//! Done-when of content mode, in a real tmux: a pane animating a spinner forever is stalled
//! after `stalled_after`, while a pane printing real output stays alive.

mod common;
use common::*;
use std::time::Duration;

const T: Duration = Duration::from_secs(30);

#[test]
fn a_spinner_pane_stalls_while_a_pane_with_output_stays_alive() {
    let sb = Sandbox::new();
    let tmux = Tmux::named(&format!("pw-content-{}", std::process::id()));
    let script = fixture("spinner.sh");
    for (session, args) in [("spin", ""), ("out", " 10")] {
        let cmd = format!("bash '{}'{args}", script.display());
        tmux.session(session, &cmd);
        let log = sb.path(&format!("{session}.log"));
        // As an operator would: the pane's output stream, appended to its session log.
        tmux.run(&["pipe-pane", "-o", "-t", session, &format!("cat >> '{}'", log.display())]);
        wait_until("the pane's log", T, || (std::fs::metadata(&log).ok()?.len() > 0).then_some(()));
    }
    let workers: String = ["spin", "out"]
        .iter()
        .map(|s| {
            format!(
                "[[worker]]\nid = {s:?}\nlog = {:?}\ntmux = {s:?}\ntmux_socket = {:?}\nactivity = \"content\"\n",
                sb.path(&format!("{s}.log")),
                tmux.name
            )
        })
        .collect();
    let cfg = sb.config(
        "sweep_interval = \"200ms\"",
        &format!("[defaults]\nquiet_after = \"3s\"\nstalled_after = \"6s\"\n\n{workers}"),
    );
    let _d = Daemon::start_with(tmux.env(command(sb.dir.path()).arg("run").arg("-c").arg(&cfg)));

    let spin = wait_until("the spinner pane stalled", T, || {
        worker(&sb.status()?, "spin").filter(|w| w["state"] == "stalled").cloned()
    });
    assert_eq!(spin["reason"], "no_output");
    assert_eq!(spin["pid_alive"], true, "the pane's process runs: stalled, not orphaned");
    assert!(spin["since_last_write_s"].as_f64().unwrap() < 2.0, "the pipe keeps writing: {spin}");
    let status = sb.status().unwrap();
    let out = worker(&status, "out").unwrap();
    assert_eq!(out["state"], "alive", "{out}");
    assert_eq!(out["pid_alive"], true);
    let left: Vec<_> = sb.events().into_iter().filter(|e| e["event"] == "transition" && e["worker"] == "out").collect();
    assert!(left.is_empty(), "the pane with output never left alive: {left:?}");
}
