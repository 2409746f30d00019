//! Running one hook process: its argv without a shell, a minimal environment, cwd `/`, its
//! own process group, the event line on stdin, bounded output capture, and the timeout
//! escalation (SIGTERM to the group, SIGKILL 5 s later).

use super::dispatch::Phase;
use super::job::Job;
use super::outcome::{Outcome, Skip};
use crate::config::HookSpec;
use rustix::process::{Pid, Signal};
use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Child;
use tokio::sync::watch;

/// Bytes of stdout and of stderr kept for the log; the rest is read and dropped.
pub const CAPTURE: usize = 8 * 1024;
const KILL_AFTER: Duration = Duration::from_secs(5);
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// PATH, HOME and LANG from the daemon's own environment; nothing else leaks through.
fn base_env() -> Vec<(&'static str, OsString)> {
    let mut env = vec![("PATH", std::env::var_os("PATH").unwrap_or_else(|| DEFAULT_PATH.into()))];
    env.extend(["HOME", "LANG"].into_iter().filter_map(|k| Some((k, std::env::var_os(k)?))));
    env
}

/// As root, a program that anyone but root can rewrite or replace (through its own mode or
/// owner, or a directory above it) is a privilege escalation waiting to happen: refuse it. A
/// program that cannot be found is left to `spawn` to report.
pub fn refuse_writable(program: &str, root: bool) -> Result<(), String> {
    if !root {
        return Ok(());
    }
    let Some(path) = resolve(program) else { return Ok(()) };
    crate::config::strict::check("to run", &path)
}

fn resolve(program: &str) -> Option<PathBuf> {
    if program.contains('/') {
        return Some(PathBuf::from(program));
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| DEFAULT_PATH.into());
    std::env::split_paths(&path).map(|d| d.join(program)).find(|p| p.is_file())
}

/// Runs `job` once (its `attempt`) and tells how it ended. Output is logged here.
pub async fn run(job: &Job, spec: &HookSpec, phase: watch::Receiver<Phase>) -> Outcome {
    let program = &spec.command[0];
    if let Err(msg) = refuse_writable(program, rustix::process::geteuid().is_root()) {
        return Outcome::SpawnError(msg);
    }
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(&spec.command[1..])
        .env_clear()
        .envs(base_env())
        .envs(job.env.iter().map(|(k, v)| (k, v)))
        .env("PULSEWATCH_ATTEMPT", job.attempt.to_string())
        .current_dir("/")
        .process_group(0)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return Outcome::SpawnError(format!("cannot run {program}: {e}")),
    };
    let Some(pgid) = child.id().and_then(|id| Pid::from_raw(id as i32)) else {
        return Outcome::SpawnError(format!("cannot run {program}: no process id"));
    };
    if let Some(mut stdin) = child.stdin.take() {
        let line = format!("{}\n", job.stdin);
        // A hook that does not read its stdin must not hold anything up.
        tokio::spawn(async move {
            let _ = stdin.write_all(line.as_bytes()).await;
        });
    }
    let out = Capture::start(child.stdout.take());
    let err = Capture::start(child.stderr.take());
    let outcome = supervise(&mut child, pgid, spec.timeout, phase).await;
    for (stream, c) in [("stdout", out), ("stderr", err)] {
        if let Some(text) = c.finish().await {
            tracing::info!(worker = %job.worker, hook = %job.hook, attempt = job.attempt, stream, output = %text, "hook output");
        }
    }
    outcome
}

async fn supervise(child: &mut Child, pgid: Pid, timeout: Duration, mut phase: watch::Receiver<Phase>) -> Outcome {
    let mut phase2 = phase.clone();
    tokio::select! {
        r = tokio::time::timeout(timeout, child.wait()) => match r {
            Ok(Ok(status)) => exited(status),
            Ok(Err(e)) => {
                tracing::error!(error = %e, "cannot wait for a hook process");
                signal_group(pgid, Signal::KILL);
                Outcome::Failed { code: None, signal: None }
            }
            Err(_) => {
                terminate(child, pgid, &mut phase2).await;
                Outcome::Timeout
            }
        },
        _ = killing(&mut phase) => {
            signal_group(pgid, Signal::KILL);
            let _ = child.wait().await;
            Outcome::Skipped(Skip::Shutdown)
        }
    }
}

/// Resolves once the dispatcher orders running hooks killed (never if it went away).
async fn killing(phase: &mut watch::Receiver<Phase>) {
    if phase.wait_for(|p| *p == Phase::Kill).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// SIGTERM to the whole group; SIGKILL once `KILL_AFTER` passed with any member left.
async fn terminate(child: &mut Child, pgid: Pid, phase: &mut watch::Receiver<Phase>) {
    signal_group(pgid, Signal::TERM);
    let deadline = tokio::time::Instant::now() + KILL_AFTER;
    loop {
        // Reaping the leader lets an otherwise empty group disappear.
        let _ = child.try_wait();
        if rustix::process::test_kill_process_group(pgid).is_err() {
            break;
        }
        if tokio::time::Instant::now() >= deadline || *phase.borrow() == Phase::Kill {
            signal_group(pgid, Signal::KILL);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.wait().await;
}

fn signal_group(pgid: Pid, sig: Signal) {
    let _ = rustix::process::kill_process_group(pgid, sig);
}

fn exited(status: ExitStatus) -> Outcome {
    match (status.success(), status.code()) {
        (true, _) => Outcome::Ok,
        (false, Some(code)) => Outcome::Failed { code: Some(code), signal: None },
        (false, None) => Outcome::Failed { code: None, signal: status.signal() },
    }
}

/// Keeps the first `CAPTURE` bytes of a stream and drains the rest, so a chatty hook never
/// blocks on a full pipe.
struct Capture {
    kept: Arc<Mutex<(Vec<u8>, bool)>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Capture {
    fn start<R: AsyncRead + Unpin + Send + 'static>(stream: Option<R>) -> Capture {
        let kept = Arc::new(Mutex::new((Vec::new(), false)));
        let task = stream.map(|mut r| {
            let kept = kept.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = r.read(&mut buf).await {
                    let mut k = kept.lock().expect("capture lock");
                    let room = CAPTURE.saturating_sub(k.0.len());
                    k.0.extend_from_slice(&buf[..n.min(room)]);
                    k.1 |= n > room;
                }
            })
        });
        Capture { kept, task }
    }

    /// What was kept, once the stream ended or briefly after the hook exited (a background
    /// child may hold the pipe open; it keeps being drained, detached).
    async fn finish(self) -> Option<String> {
        if let Some(task) = self.task {
            let _ = tokio::time::timeout(Duration::from_millis(500), task).await;
        }
        let k = self.kept.lock().expect("capture lock");
        let text = String::from_utf8_lossy(&k.0).trim_end().to_string();
        match (text.is_empty(), k.1) {
            (true, false) => None,
            (_, true) => Some(format!("{text} … (truncated at {CAPTURE} bytes)")),
            (false, false) => Some(text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn writable_programs_are_refused_as_root_only() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("hook.sh");
        std::fs::write(&p, "#!/bin/sh\n").unwrap();
        let prog = p.to_str().unwrap();
        for (mode, root, ok) in [(0o755, true, true), (0o775, true, false), (0o757, true, false), (0o777, false, true)]
        {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
            let r = refuse_writable(prog, root);
            assert_eq!(r.is_ok(), ok, "{mode:o} root={root}: {r:?}");
            if let Err(msg) = r {
                assert!(
                    msg.contains("refusing to run") && msg.contains("group- or world-writable") && msg.contains(prog),
                    "{msg}"
                );
            }
        }
        assert!(refuse_writable("/no/such/program", true).is_ok(), "left to spawn to report");
    }
}
