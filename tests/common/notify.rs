//! A stand-in for systemd's notify socket: a Unix datagram socket the test binds, recording
//! each message the daemon sends with the moment it arrived.

use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub struct NotifySocket {
    sock: UnixDatagram,
    pub path: PathBuf,
    /// Every message so far, in arrival order.
    pub msgs: Vec<(Instant, String)>,
    _dir: tempfile::TempDir,
}

impl NotifySocket {
    pub fn bind() -> NotifySocket {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("notify.sock");
        let sock = UnixDatagram::bind(&path).expect("bind the notify socket");
        NotifySocket { sock, path, msgs: Vec::new(), _dir: dir }
    }

    /// Receives one message, waiting at most `timeout`.
    pub fn recv(&mut self, timeout: Duration) -> Option<String> {
        self.sock.set_read_timeout(Some(timeout.max(Duration::from_millis(1)))).unwrap();
        let mut buf = [0u8; 4096];
        let n = self.sock.recv(&mut buf).ok()?;
        let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
        self.msgs.push((Instant::now(), msg.clone()));
        Some(msg)
    }

    /// Receives until a message satisfies `pred` and returns it; panics after `timeout`.
    pub fn wait_for(&mut self, what: &str, timeout: Duration, pred: impl Fn(&str) -> bool) -> String {
        let end = Instant::now() + timeout;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                panic!("timed out after {timeout:?} waiting for {what}; got {:?}", self.texts());
            }
            if let Some(m) = self.recv(left) {
                if pred(&m) {
                    return m;
                }
            }
        }
    }

    /// Receives until no message came for `quiet`; panics when that does not happen within
    /// `timeout`. Returns how many messages arrived meanwhile.
    pub fn wait_for_silence(&mut self, quiet: Duration, timeout: Duration) -> usize {
        let end = Instant::now() + timeout;
        let before = self.msgs.len();
        while self.recv(quiet).is_some() {
            if Instant::now() >= end {
                panic!("still receiving after {timeout:?}: {:?}", &self.texts()[before..]);
            }
        }
        self.msgs.len() - before
    }

    pub fn texts(&self) -> Vec<&str> {
        self.msgs.iter().map(|(_, m)| m.as_str()).collect()
    }

    /// Arrival times of the messages holding `line` as one of their lines.
    pub fn times_of(&self, line: &str) -> Vec<Instant> {
        self.msgs.iter().filter(|(_, m)| has_line(m, line)).map(|(t, _)| *t).collect()
    }
}

pub fn has_line(msg: &str, line: &str) -> bool {
    msg.lines().any(|l| l == line)
}
