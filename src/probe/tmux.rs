//! tmux: asking a server for a pane's process.

use crate::config::TmuxServer;
use std::process::{Command, Stdio};

/// The argv prefix that selects a server, as tmux itself does.
pub fn command(server: &TmuxServer) -> Command {
    let mut c = Command::new("tmux");
    match server {
        TmuxServer::Default => {}
        TmuxServer::Name(n) => {
            c.arg("-L").arg(n);
        }
        TmuxServer::Socket(p) => {
            c.arg("-S").arg(p);
        }
    }
    c.stdin(Stdio::null());
    c
}

/// The `pane_pid` of a live pane; `Ok(None)` when the pane (or its server) is gone or dead.
pub fn pane_pid(server: &TmuxServer, target: &str) -> Result<Option<i32>, String> {
    let out = command(server)
        .args(["display-message", "-p", "-t", target, "#{pane_pid} #{pane_dead}"])
        .stderr(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run tmux: {e}"))?;
    if !out.status.success() {
        return Ok(None);
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut it = text.split_whitespace();
    let pid = it.next().and_then(|p| p.parse::<i32>().ok());
    let dead = it.next() == Some("1");
    Ok(pid.filter(|_| !dead))
}
