//! tmux: running the client against a chosen server and parsing what it says about panes.

use crate::config::TmuxServer;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

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

/// The socket a server listens on, found as tmux finds it: `-S PATH`; `-L NAME` under
/// `$TMUX_TMPDIR` (when it resolves, else /tmp) in `tmux-UID/`; else the socket in `$TMUX`;
/// else `default`. Two spellings of one server (`default` and its socket path) meet here.
pub fn socket_path(server: &TmuxServer) -> PathBuf {
    let under_tmpdir = |name: &str| {
        let base = std::env::var_os("TMUX_TMPDIR")
            .filter(|d| !d.is_empty())
            .and_then(|d| std::fs::canonicalize(d).ok())
            .or_else(|| std::fs::canonicalize("/tmp").ok())
            .unwrap_or_else(|| PathBuf::from("/tmp"));
        base.join(format!("tmux-{}", rustix::process::getuid().as_raw())).join(name)
    };
    match server {
        TmuxServer::Socket(p) => p.clone(),
        TmuxServer::Name(n) => under_tmpdir(n),
        TmuxServer::Default => match std::env::var("TMUX").ok().filter(|t| !t.is_empty()) {
            Some(t) => PathBuf::from(t.split(',').next().unwrap_or(&t)),
            None => under_tmpdir("default"),
        },
    }
}

/// One pane as `list-panes -a` / `display-message` describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pane {
    pub session: String,
    /// Window index, as text (it fills `{window}`).
    pub window: String,
    pub window_name: String,
    /// Pane index within its window (it fills `{pane}`).
    pub pane: String,
    /// `%N`: unique for the server's lifetime, the stable way to name a pane.
    pub pane_id: String,
    pub pane_pid: i32,
    pub dead: bool,
    pub piped: bool,
    pub active: bool,
    pub window_active: bool,
    /// `window_activity`: when the window last showed output (Unix seconds).
    pub window_activity: Option<i64>,
    /// `window_panes`: with more than one, `window_activity` may be another pane's.
    pub window_panes: u32,
}

impl Pane {
    pub fn alive(&self) -> bool {
        !self.dead
    }
}

/// Tab-separated; tmux escapes tabs in session and window names, and the two free-text
/// fields come last so nothing else can be shifted by them.
pub const PANE_FORMAT: &str = "#{pane_id}\t#{pane_pid}\t#{pane_dead}\t#{pane_pipe}\t#{window_index}\t#{pane_index}\t\
#{pane_active}\t#{window_active}\t#{window_activity}\t#{window_panes}\t#{window_name}\t#{session_name}";

/// Parses one line printed with `PANE_FORMAT`.
pub fn parse_pane(line: &str) -> Option<Pane> {
    let f: Vec<&str> = line.splitn(12, '\t').collect();
    let [pane_id, pid, dead, piped, window, pane, active, window_active, activity, panes, window_name, session] = f[..]
    else {
        return None;
    };
    if !pane_id.starts_with('%') {
        return None;
    }
    Some(Pane {
        session: session.to_string(),
        window: window.to_string(),
        window_name: window_name.to_string(),
        pane: pane.to_string(),
        pane_id: pane_id.to_string(),
        pane_pid: pid.parse().ok()?,
        dead: dead == "1",
        piped: piped == "1",
        active: active == "1",
        window_active: window_active == "1",
        window_activity: activity.parse().ok(),
        window_panes: panes.parse().unwrap_or(1),
    })
}

/// Parses the output of `list-panes -a -F PANE_FORMAT`; lines that are not a pane are skipped.
pub fn parse_panes(text: &str) -> Vec<Pane> {
    text.lines().filter_map(parse_pane).collect()
}

#[derive(Debug, thiserror::Error)]
pub enum TmuxError {
    #[error("cannot run tmux: {0}")]
    Spawn(std::io::Error),
    /// tmux answered with an error (its own message, e.g. "can't find pane: %9").
    #[error("tmux: {0}")]
    Failed(String),
}

impl TmuxError {
    /// No server on that socket, or no tmux at all: a normal condition, not a fault.
    pub fn no_server(&self) -> bool {
        match self {
            TmuxError::Spawn(e) => e.kind() == std::io::ErrorKind::NotFound,
            TmuxError::Failed(m) => {
                m.contains("no server running")
                    || (m.contains("error connecting to")
                        && (m.contains("No such file or directory") || m.contains("Connection refused")))
            }
        }
    }
}

/// Runs `tmux ARGS` on `server` and returns its standard output.
pub fn run(server: &TmuxServer, args: &[&str]) -> Result<String, TmuxError> {
    let out = output_within(command(server).args(args), TIMEOUT)?;
    if !out.status.success() {
        let msg = String::from_utf8_lossy(&out.stderr).trim().to_string();
        return Err(TmuxError::Failed(if msg.is_empty() { format!("exited with {}", out.status) } else { msg }));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A hung tmux server must not hang the sweep: its client is killed after this long.
const TIMEOUT: Duration = Duration::from_secs(5);

/// `Command::output`, but the child is killed once `limit` has passed.
fn output_within(cmd: &mut Command, limit: Duration) -> Result<Output, TmuxError> {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().map_err(TmuxError::Spawn)?;
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            buf
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as _));
    let end = Instant::now() + limit;
    let status = loop {
        match child.try_wait().map_err(TmuxError::Spawn)? {
            Some(status) => break status,
            None if Instant::now() >= end => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(TmuxError::Failed(format!("no answer within {}s", limit.as_secs())));
            }
            None => std::thread::sleep(Duration::from_millis(2)),
        }
    };
    let join = |h: std::thread::JoinHandle<Vec<u8>>| h.join().unwrap_or_default();
    Ok(Output { status, stdout: join(stdout), stderr: join(stderr) })
}

/// Every pane of the server: one `list-panes -a` call. No server running is zero panes.
pub fn list_panes(server: &TmuxServer) -> Result<Vec<Pane>, TmuxError> {
    match run(server, &["list-panes", "-a", "-F", PANE_FORMAT]) {
        Ok(text) => Ok(parse_panes(&text)),
        Err(e) if e.no_server() => {
            tracing::debug!(server = ?server, "no tmux server: {e}");
            Ok(Vec::new())
        }
        Err(e) => Err(e),
    }
}

/// Re-runs a recorded `pipe-pane` command for `target` (`repipe`). Without `-o`: a pipe
/// that is still open but no longer feeds the log is replaced, not toggled off.
pub fn repipe(server: &TmuxServer, target: &str, command: &str) -> Result<(), TmuxError> {
    run(server, &["pipe-pane", "-t", target, command]).map(drop)
}

/// The pane `target` names, in any form tmux accepts (`attach` and `detach` use this).
pub fn describe(server: &TmuxServer, target: &str) -> Result<Pane, TmuxError> {
    let text = run(server, &["display-message", "-p", "-t", target, PANE_FORMAT])?;
    text.lines()
        .next()
        .and_then(parse_pane)
        .ok_or_else(|| TmuxError::Failed(format!("unexpected answer to display-message: {:?}", text.trim())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_panes() {
        let p = parse_pane("%3\t4242\t0\t1\t2\t1\t1\t0\t1700000000\t2\tvim\tmy\tsession").unwrap();
        assert_eq!(
            p,
            Pane {
                session: "my\tsession".into(),
                window: "2".into(),
                window_name: "vim".into(),
                pane: "1".into(),
                pane_id: "%3".into(),
                pane_pid: 4242,
                dead: false,
                piped: true,
                active: true,
                window_active: false,
                window_activity: Some(1_700_000_000),
                window_panes: 2,
            }
        );
        for bad in ["", "%3\tx\t0\t1\t2\t1\t1\t0\t1\t1\tw\ts", "3\t1\t0\t1\t2\t1\t1\t0\t1\t1\tw\ts", "%3\t1\t0"] {
            assert_eq!(parse_pane(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn no_server_is_normal() {
        let cases = [
            ("no server running on /tmp/tmux-0/x", true),
            ("error connecting to /tmp/tmux-0/x (No such file or directory)", true),
            ("error connecting to /tmp/tmux-0/x (Connection refused)", true),
            ("error connecting to /tmp/tmux-0/x (Permission denied)", false),
            ("can't find pane: %9", false),
        ];
        for (msg, want) in cases {
            assert_eq!(TmuxError::Failed(msg.into()).no_server(), want, "{msg}");
        }
        let missing = std::io::Error::from(std::io::ErrorKind::NotFound);
        assert!(TmuxError::Spawn(missing).no_server());
    }

    #[test]
    fn a_hung_client_is_cut_off() {
        let mut sleep = Command::new("sleep");
        sleep.arg("30");
        let e = output_within(&mut sleep, Duration::from_millis(50)).unwrap_err();
        assert!(e.to_string().contains("no answer"), "{e}");
        let out = output_within(Command::new("echo").arg("hi"), Duration::from_secs(10)).unwrap();
        assert_eq!(out.stdout, b"hi\n");
    }
}
