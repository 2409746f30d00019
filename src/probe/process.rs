//! Processes: `/proc/PID/stat` without allocating, pidfiles, boot id and start times.

use super::procstat::parse_stat;
use crate::identity::PidFacts;
use rustix::io::Errno;
use std::io::Write;
use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

pub fn probe_pid(pid: i32) -> PidFacts {
    let mut path = [0u8; 40];
    let len = {
        let mut w = &mut path[..];
        // Cannot fail: "/proc/" + 10 digits + "/stat" fits in 40 bytes.
        let _ = write!(w, "/proc/{pid}/stat");
        40 - w.len()
    };
    let Ok(cpath) = std::ffi::CStr::from_bytes_until_nul(&path[..=len]) else {
        return PidFacts::NoProcess;
    };
    let fd = match rustix::fs::open(
        cpath,
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(Errno::NOENT | Errno::SRCH) => return alive_by_signal(pid),
        Err(_) => return alive_by_signal(pid),
    };
    let mut buf = [0u8; 1024];
    let mut n = 0;
    while n < buf.len() {
        match rustix::io::read(&fd, &mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(Errno::INTR) => continue,
            // The process exited between open and read.
            Err(Errno::SRCH) => return PidFacts::NoProcess,
            Err(_) => return alive_by_signal(pid),
        }
    }
    match parse_stat(&buf[..n]) {
        Some(st) => PidFacts::Running { state: st.state, start_ticks: st.start_ticks },
        None => alive_by_signal(pid),
    }
}

/// When /proc does not tell (hidepid, a race), signal 0 does: ESRCH is gone, EPERM is a
/// process that exists but is not ours. pulsewatch never sends a real signal to a worker.
fn alive_by_signal(pid: i32) -> PidFacts {
    let Some(p) = rustix::process::Pid::from_raw(pid) else {
        return PidFacts::NoProcess;
    };
    match rustix::process::test_kill_process(p) {
        Ok(()) | Err(Errno::PERM) => PidFacts::Hidden,
        Err(_) => PidFacts::NoProcess,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PidfileRead {
    Pid(i32),
    /// The file does not exist or is empty: the normal "no PID" state.
    Missing,
    /// The file holds something that is not a PID; the text says what.
    Invalid(String),
}

pub fn read_pidfile(path: &Path) -> PidfileRead {
    // A PID and a newline need 12 bytes; the limit leaves room for what other tools add.
    match super::file::read_small(path, 4096) {
        Ok(bytes) => parse_pidfile(&bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => PidfileRead::Missing,
        Err(e) => PidfileRead::Invalid(format!("cannot read pidfile: {e}")),
    }
}

/// What the first bytes of a pidfile say: the first line, trimmed, as a PID in 1..=i32::MAX.
pub fn parse_pidfile(bytes: &[u8]) -> PidfileRead {
    let text = String::from_utf8_lossy(bytes);
    let first = text.lines().next().unwrap_or("").trim();
    if first.is_empty() {
        return PidfileRead::Missing;
    }
    match first.parse::<i64>() {
        Ok(n) if (1..=i64::from(i32::MAX)).contains(&n) => PidfileRead::Pid(n as i32),
        Ok(n) => PidfileRead::Invalid(format!("pidfile holds {n}, which is not a valid PID")),
        Err(_) => {
            let shown: String = first.chars().take(40).collect();
            PidfileRead::Invalid(format!("pidfile holds {shown:?}, not a PID"))
        }
    }
}

/// This boot's id; identities recorded under another boot are void.
pub fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id").map(|s| s.trim().to_string()).unwrap_or_default()
}

/// Wall-clock start time of a process from its start ticks.
pub fn start_time(start_ticks: u64) -> SystemTime {
    static BASE: OnceLock<(SystemTime, u64)> = OnceLock::new();
    let (boot, hz) = *BASE.get_or_init(|| (boot_time(), rustix::param::clock_ticks_per_second().max(1)));
    boot + Duration::from_millis(start_ticks.saturating_mul(1000) / hz)
}

/// When the machine booted, on the wall clock: now minus `CLOCK_BOOTTIME`, the clock the
/// start ticks count on. `btime` in /proc/stat is whole seconds and put every process start
/// up to a second too early, which cut `start_grace` short; /proc/uptime is the container's
/// own under lxcfs.
fn boot_time() -> SystemTime {
    let now = SystemTime::now();
    let up = rustix::time::clock_gettime(rustix::time::ClockId::Boottime);
    let up = Duration::new(up.tv_sec.max(0) as u64, up.tv_nsec.clamp(0, 999_999_999) as u32);
    now.checked_sub(up).unwrap_or(SystemTime::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pidfiles() {
        let cases: &[(&[u8], PidfileRead)] = &[
            (b"4242\n", PidfileRead::Pid(4242)),
            (b"  17  \nextra", PidfileRead::Pid(17)),
            (b"", PidfileRead::Missing),
            (b"\n\n", PidfileRead::Missing),
            (b"0", PidfileRead::Invalid("pidfile holds 0, which is not a valid PID".into())),
            (b"-5", PidfileRead::Invalid("pidfile holds -5, which is not a valid PID".into())),
            (b"99999999999", PidfileRead::Invalid("pidfile holds 99999999999, which is not a valid PID".into())),
            (b"abc", PidfileRead::Invalid("pidfile holds \"abc\", not a PID".into())),
        ];
        for (input, want) in cases {
            assert_eq!(&parse_pidfile(input), want, "{:?}", String::from_utf8_lossy(input));
        }
        // Found by fuzzing: control characters escape to 6–10 bytes each; the message quotes
        // 40 characters at most, so it stays bounded (it was longer than the harness expected).
        let PidfileRead::Invalid(why) = parse_pidfile(b",,\x17\x17\x17\x17\x17\x17\x17\x17\x17\x17\x17\x17\x17\x17\x17\x1e\x1e\x1e\x1e\x1e\x1e\x1e\x1e\x1e\x1e\x1e\x1e\x1e\x1e\x17\x17\x17\x17\x17\x17\x17\x17\x17")
        else {
            panic!("garbage is invalid")
        };
        assert!(why.contains(r"\u{17}") && why.len() <= 40 * 10 + 64, "{why}");
        let PidfileRead::Invalid(why) = parse_pidfile("\u{10ffff}".repeat(60).as_bytes()) else { panic!() };
        assert!(why.len() <= 40 * 10 + 64, "{} bytes", why.len());
    }

    #[test]
    fn start_time_is_within_a_tick_or_two() {
        let before = SystemTime::now();
        let mut child = std::process::Command::new("sleep").arg("5").spawn().unwrap();
        let after = SystemTime::now();
        let stat = std::fs::read(format!("/proc/{}/stat", child.id())).unwrap();
        let _ = child.kill();
        let _ = child.wait();
        let t = start_time(parse_stat(&stat).unwrap().start_ticks);
        let slack = Duration::from_millis(50);
        assert!(t + slack >= before && t <= after + slack, "{before:?} <= {t:?} <= {after:?}");
    }

    #[test]
    fn own_pid_is_running() {
        assert!(matches!(probe_pid(std::process::id() as i32), PidFacts::Running { .. }));
        assert_eq!(probe_pid(i32::MAX), PidFacts::NoProcess);
        assert!(!boot_id().is_empty());
    }
}
