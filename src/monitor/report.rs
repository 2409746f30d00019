//! The status document built from the engine's workers: each worker's entry is encoded
//! after every look (`Worker::encode_status`), and a document is those entries joined.

use super::{Monitor, Worker};
use crate::classify::idle_since;
use crate::sink::status::{Counts, DaemonInfo, StatusDoc, StatusParts, WorkerStatus};
use crate::timefmt::{rfc3339, secs};

impl Monitor {
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for w in self.workers.values() {
            c.add(w.tracker.state);
        }
        c
    }

    /// The document as a value (`once --json`, tests).
    pub fn status(&self, daemon: DaemonInfo) -> StatusDoc {
        let workers = self.workers.values().map(Worker::status_entry).collect();
        StatusDoc { schema: crate::sink::status::SCHEMA, daemon, counts: self.counts(), workers }
    }

    /// The document in parts (`StatusParts`): each worker's encoded entry, shared, not
    /// copied or encoded again (only the stale ones are encoded).
    pub fn status_parts(&mut self, daemon: &DaemonInfo) -> StatusParts {
        for w in self.workers.values_mut().filter(|w| w.status_stale) {
            w.encode_status();
        }
        let entries = self.workers.values().map(|w| w.status_json.clone()).collect();
        StatusParts::new(daemon, self.counts(), entries)
    }
}

impl Worker {
    pub fn status_entry(&self) -> WorkerStatus {
        let th = &self.spec.settings.thresholds;
        let v = &self.view;
        let since = |t: Option<std::time::SystemTime>| t.map(|t| secs(idle_since(t, v.looked_at).0));
        WorkerStatus {
            id: self.spec.id.to_string(),
            state: self.tracker.state,
            reason: self.tracker.reason,
            since: rfc3339(self.tracker.since),
            idle_for_s: secs(v.verdict.idle_for),
            // Same text as `display()`, without the formatter (a hot path at 10k).
            log: self.spec.log.to_string_lossy().into_owned(),
            log_mtime: v.log.mtime().map(rfc3339),
            log_size: v.log.size(),
            activity: self.spec.settings.activity,
            last_write: v.last_write.map(rfc3339),
            last_output: v.last_output.map(rfc3339),
            since_last_write_s: since(v.last_write),
            since_last_output_s: since(v.last_output),
            content: self.activity.counts(),
            pid: v.process.pid(),
            pid_alive: v.process.alive(),
            source: self.spec.source,
            flapping: self.tracker.flap.flapping,
            clock_skew: v.verdict.clock_skew,
            labels: self.spec.labels.clone(),
            quiet_after_s: secs(th.quiet_after),
            stalled_after_s: secs(th.stalled_after),
            error: v.error.clone(),
        }
    }

    pub(super) fn encode_status(&mut self) {
        self.status_stale = false;
        let entry = self.status_entry();
        let mut json = Vec::with_capacity(self.status_json.len() + 16);
        serde_json::to_writer(&mut json, &entry).expect("status serializes");
        // A new buffer, not the old one reused: a status write may still hold the old one.
        // Exactly sized: `Bytes` from a Vec with spare capacity costs a second allocation.
        self.status_json = bytes::Bytes::from(json.into_boxed_slice());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The joined entries must be byte for byte what encoding the whole document gives:
    /// readers of the file and of `GET /status` cannot tell how it was made.
    #[test]
    fn joined_entries_are_the_document() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("a.log");
        std::fs::write(&log, "x").unwrap();
        let text = format!(
            "[[worker]]\nid = \"a\"\nlog = {log:?}\nlabels = {{ team = \"x\\\"y\" }}\n\
             [[worker]]\nid = \"b\"\nlog = {:?}\npidfile = {:?}\n",
            dir.path().join("missing.log"),
            dir.path().join("pid"),
        );
        let cfg = crate::config::load_str(&text, None).unwrap();
        let mut m = Monitor::new("boot".into(), None);
        m.sweep(&cfg, std::time::SystemTime::now());
        let daemon = DaemonInfo {
            pid: 1,
            version: "v".into(),
            started_at: "s".into(),
            updated_at: "u".into(),
            config: "c".into(),
            faults: [("hooks".to_string(), 2)].into(),
            listen: Some("127.0.0.1:1".into()),
        };
        assert_eq!(
            String::from_utf8(m.status_parts(&daemon).to_bytes()).unwrap(),
            String::from_utf8(m.status(daemon.clone()).to_bytes()).unwrap()
        );
        let mut empty = Monitor::new("boot".into(), None);
        let d = DaemonInfo { listen: None, faults: Default::default(), ..daemon.clone() };
        assert_eq!(empty.status_parts(&d).to_bytes(), empty.status(d).to_bytes());
        // Streamed into the file: the same bytes.
        let path = dir.path().join("status.json");
        crate::sink::status::write_parts(&path, &m.status_parts(&daemon)).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), m.status(daemon).to_bytes());
    }
}
