//! The threat model's tests (docs/SECURITY.md): as root, config files, registry
//! directories and hook programs that others may write or replace (through a directory
//! above them, or an owner other than root) are refused; nothing a log holds is executed or shown;
//! pulsewatch never signals a worker, whatever its pidfile says; HTTP is off by default.

mod common;
use common::invariants::*;
use common::*;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn as_root_a_config_others_can_write_is_refused() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("SKIPPED: the check is for root");
        return;
    }
    let sb = Sandbox::new();
    let cfg = sb.config("", "");
    for mode in [0o664, 0o646] {
        chmod(&cfg, mode);
        for args in [&["config", "check", "-c"][..], &["run", "-c"], &["once", "-c"]] {
            let mut a = args.to_vec();
            a.push(cfg.to_str().unwrap());
            let out = run(sb.dir.path(), &a);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{a:?}: {err}");
            assert!(err.contains("refusing config file") && err.contains(cfg.to_str().unwrap()), "{err}");
            assert!(err.contains("chmod go-w"), "{err}");
        }
    }
    chmod(&cfg, 0o644);
    assert!(run(sb.dir.path(), &["config", "check", "-c", cfg.to_str().unwrap()]).status.success());
}

#[test]
fn as_root_a_registry_others_can_write_is_ignored_with_a_warning() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("SKIPPED: the check is for root");
        return;
    }
    let sb = Sandbox::new();
    let reg = sb.mkdir("workers");
    std::fs::write(reg.join("a.toml"), format!("id = \"a\"\nlog = {:?}\n", sb.path("a.log"))).unwrap();
    chmod(&reg, 0o1777);
    let (d, base) = start(&sb, "", &format!("[[discover]]\nregistry = {reg:?}\n"));
    sweeps(&sb, 2);
    assert!(worker(&sb.status().unwrap(), "a").is_none());
    let log = std::fs::read_to_string(sb.path("daemon.log")).unwrap();
    assert!(log.contains("refusing registry directory") && log.contains("1777"), "{log}");
    chmod(&reg, 0o755);
    wait_worker(&sb, "a", "taken once the directory is safe", |_| true);
    check_and_stop(&sb, d, &base);
}

fn chown(p: &Path, uid: u32) {
    std::os::unix::fs::chown(p, Some(uid), None).unwrap();
}

/// `uid` of `nobody`, a user that is neither root nor the daemon's.
const NOBODY: u32 = 65534;

/// sshd's StrictModes look at every directory up to `/`, and at owners: a config below a
/// directory others may write, or one another user owns (who could swap the file), is
/// refused with the directory named; a sticky directory like `/tmp` is fine.
#[test]
fn as_root_a_config_below_an_unsafe_directory_is_refused() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("SKIPPED: the check is for root");
        return;
    }
    let sb = Sandbox::new();
    let etc = sb.mkdir("etc/pulsewatch");
    let cfg = etc.join("pulsewatch.toml");
    std::fs::copy(sb.config("", ""), &cfg).unwrap();
    let check = |want: Option<&str>| {
        let out = run(sb.dir.path(), &["config", "check", "-c", cfg.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        match want {
            None => assert!(out.status.success(), "{err}"),
            Some(why) => {
                assert_eq!(out.status.code(), Some(2), "{err}");
                assert!(err.contains(&format!("refusing config file {}", cfg.display())), "{err}");
                assert!(err.contains(why), "wanted {why:?}: {err}");
            }
        }
    };
    check(None);
    let parent = sb.path("etc");
    chmod(&parent, 0o775);
    check(Some(&format!("the directory {} above it is group- or world-writable (mode 0775)", parent.display())));
    chmod(&parent, 0o1777);
    check(None);
    chmod(&parent, 0o755);
    chown(&etc, NOBODY);
    check(Some(&format!("the directory {} above it is owned by uid {NOBODY} (not root)", etc.display())));
    chown(&etc, 0);
    chown(&cfg, NOBODY);
    check(Some(&format!("it is owned by uid {NOBODY} (not root), and pulsewatch runs as root; `chown root` it")));
    chown(&cfg, 0);
    check(None);
}

/// The same for a registry directory (ignored with a warning) and a hook program (not run:
/// `spawn_error`): below a group-writable directory, or one another user owns.
#[test]
fn as_root_a_registry_or_hook_below_an_unsafe_directory_is_refused() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("SKIPPED: the check is for root");
        return;
    }
    let sb = Sandbox::new();
    let shared = sb.mkdir("shared");
    let reg = sb.mkdir("shared/workers");
    std::fs::write(reg.join("a.toml"), format!("id = \"a\"\nlog = {:?}\n", sb.write("a.log", "x\n"))).unwrap();
    let bin = sb.mkdir("bin");
    let hook = sb.script("bin/hook.sh", "exit 0");
    chmod(&shared, 0o775);
    chown(&bin, NOBODY);
    let rest = format!(
        "[[discover]]\nregistry = {reg:?}\n\n{}[[hook]]\nname = \"h\"\ncommand = [{hook:?}]\non = [\"*\"]\nretries = 0\n",
        worker_toml("w", &sb.write("w.log", "x\n"), "", "")
    );
    let (d, base) = start(&sb, "", &rest);
    let first =
        wait_until("the hook refused", std::time::Duration::from_secs(15), || sb.hook_events("h").into_iter().next());
    assert_eq!(first["outcome"], "spawn_error", "{first}");
    let reason = first["reason"].as_str().unwrap();
    assert!(reason.contains(&format!("the directory {} above it is owned by uid {NOBODY}", bin.display())), "{reason}");
    assert!(worker(&sb.status().unwrap(), "a").is_none());
    let log = std::fs::read_to_string(sb.path("daemon.log")).unwrap();
    let want = format!("the directory {} above it is group- or world-writable (mode 0775)", shared.display());
    assert!(log.contains("refusing registry directory") && log.contains(&want), "{log}");
    chmod(&shared, 0o755);
    chown(&bin, 0);
    wait_worker(&sb, "a", "taken once the directory above is safe", |_| true);
    wait_until("the hook runs", std::time::Duration::from_secs(15), || {
        sb.hook_events("h").into_iter().find(|e| e["outcome"] == "ok")
    });
    check_and_stop(&sb, d, &base);
}

/// A worker process that notes every catchable signal it gets. Its pidfile is followed
/// through alive, stalled, a hook, a reload and a stop: it never hears from pulsewatch.
#[test]
fn pulsewatch_never_signals_a_worker() {
    let sb = Sandbox::new();
    let got = sb.path("signals");
    let trap = format!(
        "for s in HUP INT QUIT USR1 USR2 TERM ALRM CONT TSTP TTIN TTOU WINCH PIPE; do trap \"echo $s >> '{}'\" $s; done; \
         while :; do sleep 0.05; done",
        got.display()
    );
    let worker_proc = Proc(std::process::Command::new("sh").args(["-c", &trap]).spawn().unwrap());
    let log = sb.write("logs/w.log", "x\n");
    let pidfile = sb.write("w.pid", &format!("{}\n", worker_proc.pid()));
    let hook = sb.script("hook.sh", "exit 0");
    let rest = format!(
        "[defaults]\nquiet_after = \"1h\"\nstalled_after = \"2h\"\n\n{}[[hook]]\nname = \"h\"\ncommand = [{hook:?}]\non = [\"*\"]\n",
        worker_toml("w", &log, &format!("pidfile = {pidfile:?}"), "")
    );
    let (d, base) = start(&sb, "", &rest);
    wait_worker(&sb, "w", "alive on its process", |w| w["pid_alive"] == true);
    touch_mtime(&log, "3 hours ago");
    wait_worker(&sb, "w", "stalled", |w| w["state"] == "stalled");
    wait_until("the hook ran", std::time::Duration::from_secs(15), || (sb.hook_events("h").len() >= 2).then_some(()));
    d.signal(rustix::process::Signal::HUP);
    sweeps(&sb, 2);
    check_and_stop(&sb, d, &base);
    assert_eq!(lines(&got), Vec::<String>::new(), "signals the worker got");
    assert_eq!(rustix::process::test_kill_process(rustix::process::Pid::from_raw(worker_proc.pid()).unwrap()), Ok(()));
}

/// A log full of shell, escapes and paths is never read in mtime mode, so none of it runs
/// or shows up anywhere; a registry id that is a path is refused.
#[test]
fn nothing_from_a_log_reaches_a_shell_a_path_or_an_output() {
    let sb = Sandbox::new();
    let pwned = sb.path("pwned");
    let payload =
        format!("$(touch {0}) `touch {0}`; touch {0}\n\u{1b}]0;title\u{7}\u{1b}[2J../../etc/passwd\n", pwned.display());
    let log = sb.write("logs/w.log", &payload);
    let reg = sb.mkdir("workers");
    std::fs::write(reg.join("evil.toml"), format!("id = \"../../evil\"\nlog = {log:?}\n")).unwrap();
    let hook = sb.script("hook.sh", "env > \"$(dirname \"$0\")/hook.env\"");
    let rest = format!(
        "{}[[discover]]\nregistry = {reg:?}\n\n[[hook]]\nname = \"h\"\ncommand = [{hook:?}]\non = [\"*\"]\n",
        worker_toml("w", &log, "", "")
    );
    let (d, base) = start(&sb, "", &rest);
    touch_mtime(&log, "3 hours ago");
    wait_until("the hook ran", std::time::Duration::from_secs(15), || sb.path("hook.env").exists().then_some(()));
    sweeps(&sb, 2);
    check_and_stop(&sb, d, &base);
    assert!(!pwned.exists(), "something from the log ran");
    let shown = [
        std::fs::read_to_string(sb.event_log()).unwrap(),
        std::fs::read_to_string(sb.status_file()).unwrap(),
        std::fs::read_to_string(sb.path("hook.env")).unwrap(),
    ];
    for text in &shown {
        assert!(!text.contains("touch") && !text.contains('\u{1b}') && !text.contains("evil"), "{text}");
    }
    let daemon_log = std::fs::read_to_string(sb.path("daemon.log")).unwrap();
    assert!(daemon_log.contains("evil"), "the bad registry id is reported: {daemon_log}");
}

/// The inodes of TCP sockets in LISTEN state on this host.
fn listening_inodes() -> Vec<String> {
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f).unwrap_or_default().lines().skip(1).map(str::to_string).collect::<Vec<_>>()
        })
        .filter_map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            (cols.get(3) == Some(&"0A")).then(|| cols.get(9).map(|s| s.to_string())).flatten()
        })
        .collect()
}

/// Without `listen` the daemon opens no listening socket; neither the embedded default nor
/// the example config turns it on, and the example's address is loopback.
#[test]
fn http_is_off_by_default() {
    let sb = Sandbox::new();
    let (d, base) = start(&sb, "", "");
    let listening = listening_inodes();
    let fds: Vec<String> = std::fs::read_dir(format!("/proc/{}/fd", d.pid()))
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .map(|l| l.display().to_string())
        .collect();
    for fd in &fds {
        if let Some(ino) = fd.strip_prefix("socket:[").and_then(|s| s.strip_suffix(']')) {
            assert!(!listening.iter().any(|l| l == ino), "the daemon listens: {fd}");
        }
    }
    check_and_stop(&sb, d, &base);
    let out = run(sb.dir.path(), &["config", "default"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.lines().any(|l| l.trim_start().starts_with("listen")), "listen is commented out by default");
    let example =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/pulsewatch.example.toml")).unwrap();
    let shown: Vec<&str> =
        example.lines().filter(|l| l.trim_start_matches(['#', ' ']).starts_with("listen =")).collect();
    assert!(!shown.is_empty() && shown.iter().all(|l| l.starts_with('#') && l.contains("\"127.0.0.1:")), "{shown:?}");
}
