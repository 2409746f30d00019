//! Running as a service: what the working loop tells systemd (sd_notify, watchdog) and other
//! tools (the heartbeat file), and when. Only the loop that does the work calls in here, so a
//! wedged loop goes silent, and systemd's watchdog and heartbeat readers notice.

pub mod heartbeat;
pub mod notify;

use crate::config::DaemonSettings;
use crate::sink::status::Counts;
use heartbeat::{Heartbeat, Phase};
use notify::Notifier;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

/// Test-only: `PULSEWATCH_TEST_WEDGE_AFTER_SWEEPS=N` makes the working loop block for good
/// after N complete sweeps, so tests can show that watchdog pings and heartbeats stop with
/// it. Read only by the daemon loop; never set it in production.
pub const TEST_WEDGE_ENV: &str = "PULSEWATCH_TEST_WEDGE_AFTER_SWEEPS";

pub fn test_wedge_after() -> Option<u64> {
    std::env::var(TEST_WEDGE_ENV).ok()?.parse().ok()
}

/// Blocks the calling thread (the working loop) forever. Test-only, see `TEST_WEDGE_ENV`.
pub fn wedge() -> ! {
    tracing::warn!("{TEST_WEDGE_ENV} is set: wedging the working loop (test only)");
    loop {
        std::thread::park();
    }
}

/// When watchdog pings and heartbeats are due. Pure: every time is passed in.
#[derive(Debug, Clone)]
struct Schedule {
    watchdog_every: Option<Duration>,
    heartbeat_every: Duration,
    sweep_interval: Duration,
    last_ping: Option<Instant>,
    last_heartbeat: Option<Instant>,
    last_sweep: Option<Instant>,
}

impl Schedule {
    /// The latest moment a ping may be sent after the last sweep: a loop that still turns but
    /// no longer completes sweeps must not keep systemd content.
    fn ping_deadline(&self) -> Option<Instant> {
        Some(self.last_sweep? + self.sweep_interval + self.watchdog_every?)
    }

    fn ping_at(&self, now: Instant) -> Option<Instant> {
        let every = self.watchdog_every?;
        let at = self.last_ping.map_or(now, |p| p + every);
        (at <= self.ping_deadline()?).then_some(at)
    }

    fn ping_due(&self, now: Instant) -> bool {
        self.ping_at(now).is_some_and(|at| at <= now) && self.ping_deadline().is_some_and(|d| now <= d)
    }

    fn heartbeat_at(&self, now: Instant) -> Option<Instant> {
        self.last_sweep?;
        Some(self.last_heartbeat.map_or(now, |h| h + self.heartbeat_every))
    }

    fn heartbeat_due(&self, now: Instant) -> bool {
        self.heartbeat_at(now).is_some_and(|at| at <= now)
    }

    /// When the loop should wake next for a ping or a heartbeat.
    fn next(&self, now: Instant) -> Instant {
        let fallback = now + self.heartbeat_every;
        match (self.ping_at(now), self.heartbeat_at(now)) {
            (Some(p), Some(h)) => p.min(h),
            (p, h) => p.or(h).unwrap_or(fallback),
        }
    }
}

pub struct Service {
    notifier: Notifier,
    schedule: Schedule,
    started_at: SystemTime,
    heartbeat_file: PathBuf,
    last_sweep_at: Option<SystemTime>,
    workers: usize,
    sweeps: u64,
    ready: bool,
    heartbeat_error: Option<String>,
    heartbeat_faults: u64,
}

impl Service {
    pub fn new(cfg: &DaemonSettings, started_at: SystemTime) -> Service {
        let notifier = Notifier::from_env();
        if let Some(every) = notifier.watchdog_every() {
            tracing::info!(every = ?every, "systemd watchdog enabled");
        }
        let schedule = Schedule {
            watchdog_every: notifier.watchdog_every(),
            heartbeat_every: cfg.heartbeat_interval,
            sweep_interval: cfg.sweep_interval,
            last_ping: None,
            last_heartbeat: None,
            last_sweep: None,
        };
        Service {
            notifier,
            schedule,
            started_at,
            heartbeat_file: cfg.heartbeat_file.clone(),
            last_sweep_at: None,
            workers: 0,
            sweeps: 0,
            ready: false,
            heartbeat_error: None,
            heartbeat_faults: 0,
        }
    }

    /// A reloaded config may move the heartbeat file or change the intervals.
    pub fn configure(&mut self, cfg: &DaemonSettings) {
        if cfg.heartbeat_file != self.heartbeat_file {
            self.heartbeat_file = cfg.heartbeat_file.clone();
            self.schedule.last_heartbeat = None;
        }
        self.schedule.heartbeat_every = cfg.heartbeat_interval;
        self.schedule.sweep_interval = cfg.sweep_interval;
    }

    /// After every complete sweep: `READY=1` after the first, `STATUS=` when the counts
    /// moved, then whatever is due.
    pub fn swept(&mut self, counts: Counts) {
        self.schedule.last_sweep = Some(Instant::now());
        self.last_sweep_at = Some(SystemTime::now());
        self.sweeps += 1;
        self.workers = counts.total();
        if self.ready {
            self.notifier.status(counts);
        } else {
            self.ready = true;
            self.notifier.ready(counts);
        }
        self.tick();
    }

    /// Sends the watchdog ping and writes the heartbeat when they are due.
    pub fn tick(&mut self) {
        let now = Instant::now();
        if self.schedule.ping_due(now) {
            self.notifier.watchdog();
            self.schedule.last_ping = Some(now);
        }
        if self.schedule.heartbeat_due(now) {
            self.write_heartbeat(Phase::Running);
            self.schedule.last_heartbeat = Some(now);
        }
    }

    /// When the loop should call `tick` next.
    pub fn next_due(&self) -> Instant {
        self.schedule.next(Instant::now())
    }

    pub fn reloading(&mut self) {
        self.notifier.reloading();
    }

    pub fn reloaded(&mut self, counts: Counts) {
        self.notifier.ready(counts);
    }

    /// SIGTERM/SIGINT: `STOPPING=1` and a last heartbeat that says so.
    pub fn stopping(&mut self) {
        self.notifier.stopping();
        self.write_heartbeat(Phase::Stopping);
    }

    pub fn sweeps(&self) -> u64 {
        self.sweeps
    }

    /// Runtime faults for the status document's `daemon.faults`.
    pub fn faults(&self) -> [(&'static str, u64); 2] {
        [("heartbeat_file", self.heartbeat_faults), ("notify", self.notifier.faults)]
    }

    fn write_heartbeat(&mut self, phase: Phase) {
        let hb = Heartbeat::new(phase, self.started_at, SystemTime::now(), self.workers, self.last_sweep_at);
        match hb.write(&self.heartbeat_file) {
            Ok(()) => self.heartbeat_error = None,
            Err(e) => {
                self.heartbeat_faults += 1;
                let text = format!("{}: {e}", self.heartbeat_file.display());
                if self.heartbeat_error.as_deref() != Some(&text) {
                    tracing::error!(error = %text, "cannot write the heartbeat file");
                }
                self.heartbeat_error = Some(text);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn cadence_table() {
        let t0 = Instant::now();
        let at = |n: u64| t0 + ms(n);
        let base = Schedule {
            watchdog_every: Some(ms(100)),
            heartbeat_every: ms(1000),
            sweep_interval: ms(500),
            last_ping: None,
            last_heartbeat: None,
            last_sweep: None,
        };
        // (name, last ping, last heartbeat, last sweep, now, ping due, heartbeat due, next wake)
        #[rustfmt::skip]
        let cases: Vec<(&str, Option<u64>, Option<u64>, Option<u64>, u64, bool, bool, u64)> = vec![
            ("before the first sweep: nothing", None, None, None, 0, false, false, 1000),
            ("first sweep: both at once", None, None, Some(0), 0, true, true, 0),
            ("ping every 100 ms", Some(0), Some(0), Some(0), 99, false, false, 100),
            ("ping due", Some(0), Some(0), Some(0), 100, true, false, 100),
            ("heartbeat due", Some(950), Some(0), Some(900), 1000, false, true, 1000),
            ("sweeps stopped: no more pings", Some(600), Some(0), Some(0), 700, false, false, 1000),
            ("sweeps stopped: heartbeat still due", Some(600), Some(0), Some(0), 1000, false, true, 1000),
            ("late sweep within slack", Some(500), Some(0), Some(0), 600, true, false, 600),
        ];
        for (name, ping, hb, sweep, now, want_ping, want_hb, want_next) in cases {
            let s = Schedule {
                last_ping: ping.map(at),
                last_heartbeat: hb.map(at),
                last_sweep: sweep.map(at),
                ..base.clone()
            };
            assert_eq!(s.ping_due(at(now)), want_ping, "{name}: ping");
            assert_eq!(s.heartbeat_due(at(now)), want_hb, "{name}: heartbeat");
            assert_eq!(s.next(at(now)), at(want_next), "{name}: next");
        }
        let off = Schedule { watchdog_every: None, last_sweep: Some(at(0)), last_heartbeat: Some(at(0)), ..base };
        assert!(!off.ping_due(at(5000)), "no watchdog without WATCHDOG_USEC");
        assert_eq!(off.next(at(10)), at(1000));
    }
}
