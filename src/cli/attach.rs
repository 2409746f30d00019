//! `pulsewatch attach`: pipe a tmux pane into a log and register it as a worker.

use crate::config::{Config, ProcessSpec, TmuxServer, parse_worker_entry, paths};
use crate::model::WorkerId;
use crate::probe::tmux::{self, Pane};
use crate::sink::atomic;
use crate::timefmt::rfc3339;
use serde::Serialize;
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;
use std::process::ExitCode;
use std::time::SystemTime;

/// A registry entry as `attach` writes it: the keys of a `[[worker]]`.
#[derive(Serialize)]
struct Entry<'a> {
    id: &'a str,
    log: &'a str,
    tmux: &'a str,
    tmux_socket: &'a str,
    tmux_pipe: &'a str,
    tmux_pane_pid: i32,
}

pub fn attach(cfg: &Config, server: TmuxServer, target: &str, id: Option<&str>, log: Option<&Path>) -> ExitCode {
    super::outcome("attach", try_attach(cfg, &server, target, id, log))
}

fn try_attach(
    cfg: &Config,
    server: &TmuxServer,
    target: &str,
    id: Option<&str>,
    log: Option<&Path>,
) -> Result<String, String> {
    let pane = tmux::describe(server, target).map_err(|e| format!("no tmux pane {target:?}: {e}"))?;
    if pane.dead {
        return Err(format!("pane {} ({target}) is dead: its program has exited", pane.pane_id));
    }
    let id = match id {
        Some(i) => WorkerId::new(i).map_err(|e| e.to_string())?,
        None => WorkerId::sanitize(&pane.session)
            .map_err(|e| format!("session name gives no usable id ({e}); give one with --id"))?,
    };
    let registry = cfg.registry();
    if pane.piped {
        return Err(match registered_for(cfg, &pane) {
            Some(other) => format!(
                "pane {} ({target}) is already attached as worker {other:?}; `pulsewatch detach {other}` first",
                pane.pane_id
            ),
            None => format!(
                "pane {} ({target}) already pipes its output elsewhere (tmux pipe-pane); pulsewatch will not \
replace another pipe. Stop that one first (`tmux pipe-pane -t {}`), then attach again",
                pane.pane_id, pane.pane_id
            ),
        });
    }
    let entry_path = registry.dir.join(format!("{id}.toml"));
    if entry_path.exists() {
        return Err(format!(
            "worker {:?} is already registered ({}); choose another id with --id, or `pulsewatch detach {id}` first",
            id.as_str(),
            entry_path.display()
        ));
    }
    let log = match log {
        Some(p) => std::path::absolute(paths::expand(&p.to_string_lossy(), Path::new(".")))
            .map_err(|e| format!("{}: {e}", p.display()))?,
        None => cfg.daemon.state_dir.join("logs").join(format!("{id}.log")),
    };
    let log_text = log.to_str().ok_or_else(|| format!("{}: the log path must be valid UTF-8", log.display()))?;
    if let Some(dir) = log.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o750)
            .create(dir)
            .map_err(|e| format!("{}: cannot create the log directory: {e}", dir.display()))?;
    }
    let socket = tmux::run(server, &["display-message", "-p", "-t", &pane.pane_id, "#{socket_path}"])
        .map_err(|e| e.to_string())?;
    let pipe = pipe_command(log_text);
    tmux::run(server, &["pipe-pane", "-o", "-t", &pane.pane_id, &pipe]).map_err(|e| e.to_string())?;

    let entry = Entry {
        id: id.as_str(),
        log: log_text,
        tmux: &pane.pane_id,
        tmux_socket: socket.trim(),
        tmux_pipe: &pipe,
        tmux_pane_pid: pane.pane_pid,
    };
    let header = format!(
        "# Registered by `pulsewatch attach {target:?}` at {}: session {:?}, window {}, pane {}.\n\
# Remove with `pulsewatch detach {id}` (it also stops the pipe).\n",
        rfc3339(SystemTime::now()),
        pane.session,
        pane.window,
        pane.pane
    );
    let body = header + &toml::to_string(&entry).map_err(|e| e.to_string())?;
    if let Err(e) = atomic::write(&entry_path, body.as_bytes(), 0o644, true) {
        // Leave nothing half done: the pipe goes when the registration cannot be written.
        let _ = tmux::run(server, &["pipe-pane", "-t", &pane.pane_id]);
        return Err(format!("{}: cannot write the registry entry: {e}", entry_path.display()));
    }
    Ok(format!(
        "attached pane {} (session {:?}) as worker {id}\n  log:   {}\n  entry: {}",
        pane.pane_id,
        pane.session,
        log.display(),
        entry_path.display()
    ))
}

/// The worker already registered for this pane, if any (to say so when refusing).
fn registered_for(cfg: &Config, pane: &Pane) -> Option<String> {
    let registry = cfg.registry();
    let entries = std::fs::read_dir(&registry.dir).ok()?;
    entries.filter_map(Result::ok).map(|e| e.path()).filter(|p| crate::discover::watch::is_entry(p)).find_map(|p| {
        let text = std::fs::read_to_string(&p).ok()?;
        let spec = parse_worker_entry(&p, &text, &registry, &cfg.daemon.state_dir).ok()?;
        matches!(&spec.process, ProcessSpec::Tmux { target, .. } if *target == pane.pane_id)
            .then(|| spec.id.to_string())
    })
}

/// The command `pipe-pane` runs (through `/bin/sh -c`, after expanding tmux formats and
/// strftime `%` sequences in it): append to `log`, whatever characters its path holds.
pub fn pipe_command(log: &str) -> String {
    let shell = format!("exec cat >> {}", sh_quote(log));
    // tmux expands `%…` (strftime) first, then `#…` (formats): escape both.
    shell.replace('%', "%%").replace('#', "##")
}

/// One shell word that means exactly `s`: single quotes, with `'` written as `'\''`.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        let cases = [
            ("/l/a.log", "exec cat >> '/l/a.log'"),
            ("/l/it's here.log", r"exec cat >> '/l/it'\''s here.log'"),
            ("/l/$(touch x)`id`;.log", "exec cat >> '/l/$(touch x)`id`;.log'"),
            ("/l/%H #{pane_id}.log", "exec cat >> '/l/%%H ##{pane_id}.log'"),
        ];
        for (log, want) in cases {
            assert_eq!(pipe_command(log), want, "{log}");
        }
    }

    #[test]
    fn quoted_words_survive_the_shell() {
        let nasty = "/tmp/a b/it's \"q\" $(echo no) `echo no` \\ ; & | > *.log";
        let out = std::process::Command::new("sh").arg("-c").arg(format!("printf %s {}", sh_quote(nasty))).output();
        assert_eq!(String::from_utf8(out.unwrap().stdout).unwrap(), nasty);
    }
}
