//! sd_notify: tells systemd when pulsewatch is ready, reloading or stopping, what it sees
//! (`STATUS=`), and that the working loop still turns (`WATCHDOG=1`). Without `NOTIFY_SOCKET`
//! every call is a no-op.

use crate::sink::status::Counts;
use sd_notify::NotifyState;
use std::time::Duration;

pub struct Notifier {
    enabled: bool,
    /// Half of `WATCHDOG_USEC`: how often the working loop pings, when systemd asks.
    watchdog_every: Option<Duration>,
    last_status: Option<String>,
    last_error: Option<String>,
    /// Messages that could not be sent (the socket went away, say).
    pub faults: u64,
}

impl Notifier {
    /// Reads `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID` (a watchdog meant for
    /// another process is ignored, as `sd_watchdog_enabled(3)` does).
    pub fn from_env() -> Notifier {
        let enabled = std::env::var_os("NOTIFY_SOCKET").is_some_and(|s| !s.is_empty());
        let watchdog_every =
            enabled.then(sd_notify::watchdog_enabled).flatten().map(|d| d / 2).filter(|d| !d.is_zero());
        Notifier { enabled, watchdog_every, last_status: None, last_error: None, faults: 0 }
    }

    pub fn watchdog_every(&self) -> Option<Duration> {
        self.watchdog_every
    }

    /// `READY=1` with the current counts.
    pub fn ready(&mut self, counts: Counts) {
        let line = status_line(counts);
        self.send(&[NotifyState::Ready, NotifyState::Status(&line)]);
        self.last_status = Some(line);
    }

    /// `STATUS=` when the counts differ from the last ones sent.
    pub fn status(&mut self, counts: Counts) {
        let line = status_line(counts);
        if self.last_status.as_deref() != Some(line.as_str()) {
            self.send(&[NotifyState::Status(&line)]);
            self.last_status = Some(line);
        }
    }

    pub fn watchdog(&mut self) {
        self.send(&[NotifyState::Watchdog]);
    }

    /// `RELOADING=1` with `MONOTONIC_USEC`: systemd ≥ 253 (`Type=notify-reload`) only accepts
    /// the pair in one message; older versions and `Type=notify` ignore the timestamp.
    pub fn reloading(&mut self) {
        if !self.enabled {
            return;
        }
        match NotifyState::monotonic_usec_now() {
            Ok(t) => self.send(&[NotifyState::Reloading, t]),
            Err(_) => self.send(&[NotifyState::Reloading]),
        }
    }

    pub fn stopping(&mut self) {
        self.send(&[NotifyState::Stopping]);
    }

    fn send(&mut self, msg: &[NotifyState]) {
        if !self.enabled {
            return;
        }
        match sd_notify::notify(msg) {
            Ok(()) => self.last_error = None,
            Err(e) => {
                self.faults += 1;
                let text = e.to_string();
                if self.last_error.as_deref() != Some(&text) {
                    tracing::warn!(error = %text, "cannot notify the service manager");
                }
                self.last_error = Some(text);
            }
        }
    }
}

/// `12 workers: 9 alive, 2 quiet, 1 stalled, 0 orphaned`
pub fn status_line(c: Counts) -> String {
    let n = c.total();
    let noun = if n == 1 { "worker" } else { "workers" };
    format!("{n} {noun}: {} alive, {} quiet, {} stalled, {} orphaned", c.alive, c.quiet, c.stalled, c.orphaned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        let c = |alive, quiet, stalled, orphaned| Counts { alive, quiet, stalled, orphaned };
        let cases = [
            (c(9, 2, 1, 0), "12 workers: 9 alive, 2 quiet, 1 stalled, 0 orphaned"),
            (c(0, 0, 0, 0), "0 workers: 0 alive, 0 quiet, 0 stalled, 0 orphaned"),
            (c(0, 0, 0, 1), "1 worker: 0 alive, 0 quiet, 0 stalled, 1 orphaned"),
        ];
        for (counts, want) in cases {
            assert_eq!(status_line(counts), want);
        }
    }
}
