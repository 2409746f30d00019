//! Shared helpers for the integration tests: a sandbox directory with a config, the built
//! binary, a daemon handle that is killed on drop, and polling with a deadline.
#![allow(dead_code)]

pub mod disk;
pub mod expfmt;
pub mod http;
pub mod invariants;
pub mod notify;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_pulsewatch")
}

/// Polls `f` every 20 ms until it returns `Some`, or panics naming `what` after `timeout`.
pub fn wait_until<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() >= end {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A temp directory holding a config whose state, status and event files stay inside it.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        Sandbox { dir: tempfile::tempdir().expect("tempdir") }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn state_dir(&self) -> PathBuf {
        self.path("state")
    }
    pub fn status_file(&self) -> PathBuf {
        self.path("run/status.json")
    }
    /// What the daemon has saved: `state.json` with its journal applied (as a restart reads it).
    pub fn saved_state(&self) -> Value {
        let saved = pulsewatch::state::journal::load_readonly(&self.state_dir()).expect("a saved state");
        serde_json::to_value(saved).unwrap()
    }
    /// Replaces the saved state (daemon stopped): a new `state.json` and no journal.
    pub fn write_saved_state(&self, state: &Value) {
        std::fs::write(self.state_dir().join("state.json"), state.to_string()).unwrap();
        let _ = std::fs::remove_file(self.state_dir().join("state.journal"));
    }
    pub fn event_log(&self) -> PathBuf {
        self.path("state/events.ndjson")
    }

    /// Writes `config.toml`: `daemon_extra` goes into `[daemon]` (after the sandbox paths),
    /// `rest` after it (`[defaults]`, `[[worker]]`, …).
    pub fn config(&self, daemon_extra: &str, rest: &str) -> PathBuf {
        let p = self.path("config.toml");
        let body = format!(
            "[daemon]\nstate_dir = {:?}\nstatus_file = {:?}\nheartbeat_file = {:?}\n{daemon_extra}\n\n{rest}\n",
            self.state_dir(),
            self.status_file(),
            self.path("run/heartbeat.json"),
        );
        std::fs::write(&p, body).expect("write config");
        // As root pulsewatch refuses a config others can write, whatever the umask made it.
        std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
        p
    }

    pub fn write(&self, rel: &str, content: &str) -> PathBuf {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, content).unwrap();
        p
    }

    /// Creates the directory `rel` (and its parents) and returns its path.
    pub fn mkdir(&self, rel: &str) -> PathBuf {
        let p = self.path(rel);
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    /// Writes an executable `#!/bin/sh` script (mode 0755: as root, pulsewatch refuses hook
    /// programs others can write).
    pub fn script(&self, rel: &str, body: &str) -> PathBuf {
        let p = self.write(rel, &format!("#!/bin/sh\n{body}\n"));
        std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        p
    }

    /// The `hook` events of hook `name`, in log order.
    pub fn hook_events(&self, name: &str) -> Vec<Value> {
        self.events().into_iter().filter(|e| e["event"] == "hook" && e["hook"] == name).collect()
    }

    pub fn events(&self) -> Vec<Value> {
        read_events(&self.event_log())
    }

    /// The status file, once it exists and parses.
    pub fn status(&self) -> Option<Value> {
        let text = std::fs::read_to_string(self.status_file()).ok()?;
        serde_json::from_str(&text).ok()
    }
}

/// The lines of a file a hook script appends to; none while it does not exist.
pub fn lines(p: &Path) -> Vec<String> {
    std::fs::read_to_string(p).unwrap_or_default().lines().map(str::to_string).collect()
}

pub fn read_events(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path).unwrap_or_default().lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

/// Whether event line `e` is `event` of `worker` (any worker when `worker` is empty).
pub fn is(e: &Value, event: &str, worker: &str) -> bool {
    e["event"] == event && (worker.is_empty() || e["worker"] == worker)
}

/// The event log's promise: `v` is 1 and `seq` starts at 1 and grows by exactly 1 per line.
pub fn assert_gapless(events: &[Value]) {
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    let want: Vec<u64> = (1..=seqs.len() as u64).collect();
    assert_eq!(seqs, want, "seq is gapless and never repeats");
    assert!(events.iter().all(|e| e["v"] == 1), "every line has v: 1");
}

/// The worker entry of a status document.
pub fn worker<'a>(status: &'a Value, id: &str) -> Option<&'a Value> {
    status["workers"].as_array()?.iter().find(|w| w["id"] == id)
}

/// `pulsewatch ARGS` to completion, with HOME, XDG and the systemd directory variables
/// pointed into `home`, so neither the user's config nor system paths are touched (tests
/// run as root in CI, where the defaults would be /var/lib and /run). `TMUX_TMPDIR` too: the
/// embedded default watches the default tmux server, which must not be the user's.
pub fn run(home: &Path, args: &[&str]) -> Output {
    command(home).args(args).output().expect("run pulsewatch")
}

pub fn command(home: &Path) -> Command {
    // tmux falls back to /tmp when TMUX_TMPDIR does not exist.
    std::fs::create_dir_all(home.join("tmux")).expect("create the test's TMUX_TMPDIR");
    let mut c = Command::new(bin());
    c.env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_STATE_HOME", home.join(".local/state"))
        .env("XDG_RUNTIME_DIR", home.join("run"))
        .env("STATE_DIRECTORY", home.join("state"))
        .env("RUNTIME_DIRECTORY", home.join("run"))
        .env("TMUX_TMPDIR", home.join("tmux"))
        .env_remove("TMUX")
        .env_remove("PULSEWATCH_CONFIG")
        .env_remove("NOTIFY_SOCKET")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    c
}

/// A running `pulsewatch run`, SIGKILLed on drop if still running.
pub struct Daemon {
    pub child: Child,
}

impl Daemon {
    pub fn start(home: &Path, config: &Path) -> Daemon {
        Daemon::start_with(command(home).arg("run").arg("-c").arg(config))
    }

    pub fn start_with(cmd: &mut Command) -> Daemon {
        let child = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("spawn daemon");
        Daemon { child }
    }

    /// Like `start_with`, but stderr goes to `log` (a daemon that logs a lot must never block
    /// on a pipe nobody reads while the test runs).
    pub fn start_logging(cmd: &mut Command, log: &Path) -> Daemon {
        let file = std::fs::File::create(log).expect("create the daemon log");
        let child = cmd.stdout(Stdio::null()).stderr(file).spawn().expect("spawn daemon");
        Daemon { child }
    }

    /// `pulsewatch run -c CONFIG` in the sandbox, its stderr in `<sandbox>/daemon.log`.
    pub fn start_logged(sb: &Sandbox, config: &Path) -> Daemon {
        Daemon::start_logging(command(sb.dir.path()).arg("run").arg("-c").arg(config), &sb.path("daemon.log"))
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn signal(&self, sig: rustix::process::Signal) {
        rustix::process::kill_process(rustix::process::Pid::from_raw(self.pid()).unwrap(), sig).expect("signal daemon");
    }

    /// SIGTERM, then wait (at most 10 s) for the exit status.
    pub fn stop(&mut self) -> ExitStatus {
        self.signal(rustix::process::Signal::TERM);
        let child = &mut self.child;
        wait_until("the daemon to exit", Duration::from_secs(10), || child.try_wait().ok().flatten())
    }

    /// Everything the daemon wrote to stderr (call after it exited).
    pub fn stderr(&mut self) -> String {
        let mut s = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut s);
        }
        s
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Sets a file's mtime `ago` in the past (like `touch -m -d`), to age a log.
pub fn age(path: &Path, ago: Duration) {
    let f = std::fs::File::options().write(true).open(path).expect("open to age");
    f.set_modified(std::time::SystemTime::now() - ago).expect("set mtime");
}

/// A child process that is killed and reaped on drop.
pub struct Proc(pub Child);

impl Proc {
    pub fn sleep() -> Proc {
        Proc(Command::new("sleep").arg("600").spawn().expect("spawn sleep"))
    }

    pub fn pid(&self) -> i32 {
        self.0.id() as i32
    }

    /// Kills and reaps the process: its PID no longer names anything.
    pub fn kill(mut self) -> i32 {
        let pid = self.pid();
        let _ = self.0.kill();
        let _ = self.0.wait();
        pid
    }

    /// A parent that never reaps, and its zombie child: `sh` starts `sleep 0` in the
    /// background and then becomes `sleep 600`, which never calls wait. Returns the parent
    /// (kill it to let init reap the zombie) and the zombie's PID, once it is a zombie.
    pub fn zombie() -> (Proc, i32) {
        let parent = Proc(Command::new("sh").args(["-c", "sleep 0 & exec sleep 600"]).spawn().expect("spawn sh"));
        let ppid = parent.pid();
        let zombie = wait_until("a zombie child", Duration::from_secs(10), || {
            children(ppid).into_iter().find(|&c| proc_state(c) == Some('Z'))
        });
        (parent, zombie)
    }
}

/// The state letter of `/proc/PID/stat` (R, S, Z, …), `None` when there is no such process.
pub fn proc_state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.split_whitespace().next()?.chars().next()
}

/// The PIDs whose parent is `ppid`.
pub fn children(ppid: i32) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).ok().is_some_and(|s| {
                s.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<i32>().ok())
                    == Some(ppid)
            })
        })
        .collect()
}

/// A PID that names no process and never will: one above `pid_max`. A PID freed by a kill
/// is not enough here: `reuse_pid` in a parallel test rewinds the kernel's PID counter, and
/// the next processes of the machine may then take recently freed numbers.
pub fn dead_pid() -> i32 {
    let max = std::fs::read_to_string("/proc/sys/kernel/pid_max").ok().and_then(|s| s.trim().parse::<i32>().ok());
    max.unwrap_or(4_194_304) + 1
}

/// Whether `reuse_pid` can work here: writing `ns_last_pid` needs root.
pub fn can_reuse_pids() -> bool {
    rustix::process::geteuid().is_root()
        && std::fs::OpenOptions::new().write(true).open("/proc/sys/kernel/ns_last_pid").is_ok()
}

/// Starts an unrelated `sleep 600` under exactly `pid`, a PID whose process is gone: writes
/// `pid - 1` to `/proc/sys/kernel/ns_last_pid` and spawns at once, again while another
/// process of the machine holds the number or takes it first. `None` without the right to
/// steer PIDs (see `can_reuse_pids`).
pub fn reuse_pid(pid: i32) -> Option<Proc> {
    if !can_reuse_pids() {
        return None;
    }
    Some(wait_until(&format!("a process of ours with PID {pid}"), Duration::from_secs(20), || {
        if Path::new(&format!("/proc/{pid}")).exists() {
            return None;
        }
        // Put the counter back afterwards, so the rest of the machine does not go on to
        // recycle the numbers just below it (other tests may hold a recently freed PID).
        let last = std::fs::read_to_string("/proc/sys/kernel/ns_last_pid").ok();
        std::fs::write("/proc/sys/kernel/ns_last_pid", (pid - 1).to_string()).ok()?;
        let p = Proc::sleep();
        if let Some(last) = last.filter(|l| l.trim().parse::<i32>().is_ok_and(|l| l > pid)) {
            let _ = std::fs::write("/proc/sys/kernel/ns_last_pid", last.trim());
        }
        (p.pid() == pid).then_some(p)
    }))
}

/// A `[[worker]]` table: `process` is a `pid = …` / `pidfile = …` line or empty, `extra`
/// more keys (overrides).
pub fn worker_toml(id: &str, log: &Path, process: &str, extra: &str) -> String {
    format!("[[worker]]\nid = {id:?}\nlog = {:?}\n{process}\n{extra}\n\n", log.display().to_string())
}

/// Sets a file's mtime with `touch -m -d WHEN` (mtime only; ctime stays fresh).
pub fn touch_mtime(path: &Path, when: &str) {
    let ok = Command::new("touch").args(["-m", "-d", when]).arg(path).status().expect("run touch").success();
    assert!(ok, "touch -m -d {when:?} {}", path.display());
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A private tmux server (its own `TMUX_TMPDIR` and a unique `-L` name), killed on drop,
/// even when the test fails.
pub struct Tmux {
    pub name: String,
    pub tmpdir: tempfile::TempDir,
}

impl Tmux {
    pub fn new() -> Tmux {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Tmux::named(&format!("pw-test-{}-{n}", std::process::id()))
    }

    /// `named("default")` is the default server of this private `TMUX_TMPDIR`.
    pub fn named(name: &str) -> Tmux {
        Tmux { name: name.to_string(), tmpdir: tempfile::tempdir().expect("tempdir") }
    }

    /// Points `c` (tmux or pulsewatch) at this private server's directory.
    pub fn env<'a>(&self, c: &'a mut Command) -> &'a mut Command {
        c.env("TMUX_TMPDIR", self.tmpdir.path()).env("TERM", "xterm").env_remove("TMUX")
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new("tmux");
        self.env(&mut c).arg("-L").arg(&self.name).stdin(Stdio::null());
        c
    }

    /// `tmux ARGS`, which must succeed; its stdout, trimmed.
    pub fn run(&self, args: &[&str]) -> String {
        let out = self.cmd().args(args).output().expect("run tmux");
        assert!(out.status.success(), "tmux {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// A detached 80x24 session running `shell`; returns its pane id.
    pub fn session(&self, name: &str, shell: &str) -> String {
        self.run(&["new-session", "-d", "-x", "80", "-y", "24", "-s", name, "-P", "-F", "#{pane_id}", shell])
    }

    /// A format (`#{pane_pipe}`, …) for a pane; `None` when tmux cannot find it.
    pub fn query(&self, target: &str, format: &str) -> Option<String> {
        let out = self.cmd().args(["display-message", "-p", "-t", target, format]).output().ok()?;
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// `pulsewatch ARGS` against this server, in the test home `home`.
    pub fn pulsewatch(&self, home: &Path, args: &[&str]) -> Output {
        self.env(&mut command(home)).args(args).output().expect("run pulsewatch")
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").stderr(Stdio::null()).status();
    }
}

/// A shell loop that prints a numbered line every 0.1 s while `flag` exists, then idles.
pub fn printer(flag: &Path) -> String {
    format!("i=0; while [ -e '{}' ]; do i=$((i+1)); echo \"line $i\"; sleep 0.1; done; exec sleep 600", flag.display())
}

/// The size of a file (0 when missing).
pub fn size(p: &Path) -> u64 {
    std::fs::metadata(p).map_or(0, |m| m.len())
}

/// A `promtool` command, or `None` with a skip message when it is not installed. In CI
/// (`CI` set) it must be there: `.ci/run` installs it.
pub fn promtool(what: &str) -> Option<Command> {
    if Command::new("promtool").arg("--version").output().is_ok_and(|o| o.status.success()) {
        return Some(Command::new("promtool"));
    }
    assert!(std::env::var_os("CI").is_none(), "{what}: promtool is missing in CI (.ci/run installs `prometheus`)");
    // Straight to the stderr handle: libtest would capture `eprintln!` of a passing test.
    let msg = format!("SKIPPED {what}: promtool is not installed (Debian package `prometheus`)\n");
    let _ = std::io::Write::write_all(&mut std::io::stderr(), msg.as_bytes());
    None
}

/// A script under `tests/fixtures`.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

impl Proc {
    /// `bash tests/fixtures/SCRIPT ARGS…` with its standard output appended to `log`.
    pub fn script(script: &str, args: &[&str], log: &Path) -> Proc {
        let out = std::fs::OpenOptions::new().create(true).append(true).open(log).expect("open fixture log");
        Proc(Command::new("bash").arg(fixture(script)).args(args).stdout(out).spawn().expect("spawn fixture"))
    }
}
