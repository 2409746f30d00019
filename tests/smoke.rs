//! The binary starts on the embedded default and answers the basic commands.

mod common;
use common::*;
use std::time::Duration;

#[test]
fn embedded_default_runs_with_zero_workers() {
    let home = tempfile::tempdir().unwrap();
    let out = run(home.path(), &["config", "default"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("[[discover]]"), "{text}");
    assert!(run(home.path(), &["config", "check"]).status.success());

    let mut d = Daemon::start_with(command(home.path()).arg("run"));
    let status = home.path().join("run/status.json");
    let doc: serde_json::Value = wait_until("the first status file", Duration::from_secs(10), || {
        serde_json::from_str(&std::fs::read_to_string(&status).ok()?).ok()
    });
    assert_eq!(doc["counts"]["alive"], 0);
    assert!(run(home.path(), &["status"]).status.success());
    let code = d.stop();
    assert!(code.success(), "exit {code:?}: {}", d.stderr());
}
