//! `pulsewatch detach`: stop an attached pane's pipe (when it is still ours) and unregister.

use crate::config::{Config, ProcessSpec, TmuxServer, parse_worker_entry};
use crate::model::WorkerId;
use crate::probe::procstat::parse_stat;
use crate::probe::tmux;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::ExitCode;

/// `server`: `-L`/`-S` when given; else the socket the entry recorded; else tmux's choice.
pub fn detach(cfg: &Config, server: Option<TmuxServer>, id: &str) -> ExitCode {
    super::outcome("detach", try_detach(cfg, server, id))
}

fn try_detach(cfg: &Config, server: Option<TmuxServer>, id: &str) -> Result<String, String> {
    let id = WorkerId::new(id).map_err(|e| e.to_string())?;
    let registry = cfg.registry();
    let path = registry.dir.join(format!("{id}.toml"));
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!("no worker {:?} is registered in {}", id.as_str(), registry.dir.display()));
        }
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let note = match parse_worker_entry(&path, &text, &registry, &cfg.daemon.state_dir) {
        Ok(spec) => match &spec.process {
            ProcessSpec::Tmux { target, server: recorded, pane_pid, .. } => {
                stop_pipe(server.as_ref().unwrap_or(recorded), target, *pane_pid, &spec.log)
            }
            _ => "not a tmux worker: no pipe to stop".to_string(),
        },
        Err(e) => format!("the entry is malformed ({e}): no pipe touched"),
    };
    std::fs::remove_file(&path).map_err(|e| format!("{}: cannot remove: {e}", path.display()))?;
    Ok(format!("detached {id}: {note}; removed {}", path.display()))
}

/// Closes the pane's pipe if it is the one `attach` opened: same pane process, and the
/// pipe's process (a child of the tmux server) writes to this worker's log.
fn stop_pipe(server: &TmuxServer, target: &str, pane_pid: Option<i32>, log: &Path) -> String {
    let pane = match tmux::describe(server, target) {
        Ok(p) => p,
        Err(e) => return format!("pane {target} is gone ({e}): no pipe to stop"),
    };
    if !pane.piped {
        return format!("pane {target} has no pipe");
    }
    if let Some(recorded) = pane_pid.filter(|p| *p != pane.pane_pid) {
        return format!(
            "pane {target} now runs another process ({} instead of {recorded}): its pipe is not ours, left alone",
            pane.pane_pid
        );
    }
    let server_pid = tmux::run(server, &["display-message", "-p", "-t", target, "#{pid}"])
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok());
    if !server_pid.is_some_and(|pid| writes_to(pid, log)) {
        return format!("pane {target} pipes into something else than {}: not ours, left alone", log.display());
    }
    match tmux::run(server, &["pipe-pane", "-t", target]) {
        Ok(_) => format!("stopped the pipe of pane {target} into {}", log.display()),
        Err(e) => format!("could not stop the pipe of pane {target}: {e}"),
    }
}

/// Whether a child of `parent` has `log` open as its standard output.
fn writes_to(parent: i32, log: &Path) -> bool {
    let Ok(want) = std::fs::metadata(log).map(|m| (m.dev(), m.ino())) else {
        return false;
    };
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return false;
    };
    procs.filter_map(Result::ok).filter(|e| e.file_name().to_string_lossy().bytes().all(|b| b.is_ascii_digit())).any(
        |e| {
            let child = std::fs::read(e.path().join("stat")).ok().and_then(|b| parse_stat(&b));
            child.is_some_and(|st| st.ppid == parent)
                && std::fs::metadata(e.path().join("fd/1")).is_ok_and(|m| (m.dev(), m.ino()) == want)
        },
    )
}
