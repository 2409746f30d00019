//! The status document: the contract's JSON, written atomically after every sweep and
//! printed by `once --json`.

use crate::config::Activity;
use crate::content::Counts as ContentCounts;
use crate::model::{Reason, Source, State};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

pub const SCHEMA: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusDoc {
    pub schema: u32,
    pub daemon: DaemonInfo,
    pub counts: Counts,
    pub workers: Vec<WorkerStatus>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DaemonInfo {
    pub pid: u32,
    pub version: String,
    pub started_at: String,
    pub updated_at: String,
    pub config: String,
    /// Runtime faults counted since start (event log, status, state, logs, hooks): the
    /// daemon keeps going, and this is where it says so.
    #[serde(default)]
    pub faults: BTreeMap<String, u64>,
    /// The address the HTTP endpoint is bound to, when `listen` is set (the real port when
    /// the config asked for port 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub alive: usize,
    pub quiet: usize,
    pub stalled: usize,
    pub orphaned: usize,
}

impl Counts {
    pub fn add(&mut self, s: State) {
        *match s {
            State::Alive => &mut self.alive,
            State::Quiet => &mut self.quiet,
            State::Stalled => &mut self.stalled,
            State::Orphaned => &mut self.orphaned,
        } += 1;
    }

    pub fn total(&self) -> usize {
        self.alive + self.quiet + self.stalled + self.orphaned
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerStatus {
    pub id: String,
    pub state: State,
    pub reason: Reason,
    pub since: String,
    pub idle_for_s: f64,
    pub log: String,
    pub log_mtime: Option<String>,
    pub log_size: Option<u64>,
    /// `mtime` or `content`: which clock classification uses.
    #[serde(default)]
    pub activity: Activity,
    /// The log's last write (its mtime) and the last meaningful output: the same in mtime
    /// mode; in content mode a worker that writes without progressing shows a fresh
    /// `last_write` and an old `last_output`. `idle_for_s` is measured from `last_output`.
    #[serde(default)]
    pub last_write: Option<String>,
    #[serde(default)]
    pub last_output: Option<String>,
    #[serde(default)]
    pub since_last_write_s: Option<f64>,
    #[serde(default)]
    pub since_last_output_s: Option<f64>,
    /// Content mode: what the reader judged since the daemon started (counts only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<ContentCounts>,
    pub pid: Option<i32>,
    pub pid_alive: Option<bool>,
    pub source: Source,
    pub flapping: bool,
    pub clock_skew: bool,
    pub labels: BTreeMap<String, String>,
    pub quiet_after_s: f64,
    pub stalled_after_s: f64,
    /// Why the log or process could not be looked at, when that is the case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl StatusDoc {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("status serializes")
    }

    /// The status file's exact content (also what `GET /status` serves).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec(self).expect("status serializes");
        bytes.push(b'\n');
        bytes
    }

    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        write_bytes(path, &self.to_bytes())
    }

    pub fn read(path: &Path) -> Result<StatusDoc, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{}: not a status document: {e}", path.display()))
    }
}

/// A status document in pieces: the head (schema, daemon, counts) and each worker's entry,
/// already encoded and shared, not copied. Written out (`write_to`) it is byte for byte
/// `StatusDoc::to_bytes`; the status writer streams it into the file, so no joined copy of
/// a 10,000-worker document is ever held.
#[derive(Debug, Clone)]
pub struct StatusParts {
    head: Vec<u8>,
    entries: Vec<Bytes>,
}

impl StatusParts {
    pub fn new(daemon: &DaemonInfo, counts: Counts, entries: Vec<Bytes>) -> StatusParts {
        let mut head = format!("{{\"schema\":{SCHEMA},\"daemon\":").into_bytes();
        serde_json::to_writer(&mut head, daemon).expect("status serializes");
        head.extend_from_slice(b",\"counts\":");
        serde_json::to_writer(&mut head, &counts).expect("status serializes");
        head.extend_from_slice(b",\"workers\":[");
        StatusParts { head, entries }
    }

    pub fn write_to(&self, w: &mut impl std::io::Write) -> std::io::Result<()> {
        w.write_all(&self.head)?;
        for (i, e) in self.entries.iter().enumerate() {
            if i > 0 {
                w.write_all(b",")?;
            }
            w.write_all(e)?;
        }
        w.write_all(b"]}\n")
    }

    /// The document as one buffer (for `GET /status`).
    pub fn to_bytes(&self) -> Vec<u8> {
        let len = self.head.len() + self.entries.iter().map(|e| e.len() + 1).sum::<usize>() + 3;
        let mut out = Vec::with_capacity(len);
        self.write_to(&mut out).expect("writing to memory");
        out
    }
}

/// Writes a serialized status document. Readable by other users: `pulsewatch status` and
/// monitoring agents read it.
pub fn write_bytes(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    super::atomic::write(path, bytes, 0o644, false)
}

/// Writes a status document from its parts (see `StatusParts`), as `write_bytes` does.
pub fn write_parts(path: &Path, parts: &StatusParts) -> std::io::Result<()> {
    super::atomic::write_with(path, 0o644, false, |f| {
        let mut w = std::io::BufWriter::with_capacity(64 * 1024, f);
        parts.write_to(&mut w)?;
        w.flush()
    })
}
