//! The self-heartbeat file of the contract: how other tools (a reaper cron, an orchestrator)
//! judge pulsewatch itself, by its mtime or `updated_at_ms`.

use crate::timefmt::{rfc3339, unix_ms};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::SystemTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Running,
    Stopping,
}

/// Field order as in the contract.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Heartbeat {
    pub pid: u32,
    pub status: Phase,
    pub started_at_ms: u64,
    pub updated_at: String,
    pub updated_at_ms: u64,
    pub version: String,
    pub workers: usize,
    /// When the last complete sweep ended (Unix ms; 0 before the first).
    pub last_sweep_ms: u64,
}

impl Heartbeat {
    pub fn new(
        status: Phase,
        started_at: SystemTime,
        now: SystemTime,
        workers: usize,
        last_sweep: Option<SystemTime>,
    ) -> Heartbeat {
        Heartbeat {
            pid: std::process::id(),
            status,
            started_at_ms: unix_ms(started_at),
            updated_at: rfc3339(now),
            updated_at_ms: unix_ms(now),
            version: crate::daemon::VERSION.to_string(),
            workers,
            last_sweep_ms: last_sweep.map_or(0, unix_ms),
        }
    }

    /// Atomic, world-readable; not fsynced: it lives in the runtime directory and only
    /// describes this boot.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let mut bytes = serde_json::to_vec(self).expect("heartbeat serializes");
        bytes.push(b'\n');
        crate::sink::atomic::write(path, &bytes, 0o644, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn shape() {
        let t = |ms| SystemTime::UNIX_EPOCH + Duration::from_millis(ms);
        let h = Heartbeat::new(Phase::Stopping, t(1_000), t(5_500), 3, Some(t(5_000)));
        let text = serde_json::to_string(&h).unwrap();
        let keys =
            ["pid", "status", "started_at_ms", "updated_at", "updated_at_ms", "version", "workers", "last_sweep_ms"];
        let at: Vec<usize> = keys.iter().map(|k| text.find(&format!("\"{k}\":")).unwrap()).collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "contract order: {text}");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["status"], "stopping");
        assert_eq!(v["started_at_ms"], 1_000);
        assert_eq!(v["updated_at"], "1970-01-01T00:00:05.500Z");
        assert_eq!(v["updated_at_ms"], 5_500);
        assert_eq!(v["last_sweep_ms"], 5_000);
        assert_eq!(Heartbeat::new(Phase::Running, t(0), t(0), 0, None).last_sweep_ms, 0);
    }
}
