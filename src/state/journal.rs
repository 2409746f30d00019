//! `state.journal`: the changes made since `state.json` was last written, one JSON line per
//! batch, so saving a transition costs its own few hundred bytes and one `fdatasync`, not a
//! rewrite of every worker. `Store` owns both files: load (snapshot + replay), append, and
//! compaction (a new snapshot, then an empty journal).

use super::persist::{self, Saved, SavedWorker};
use crate::hooks::SavedHooks;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// A journal longer than this is folded into a new `state.json` at the next save.
pub const COMPACT_AFTER: u64 = 4 << 20;

/// The journal's first line: which snapshot its records apply to. Records written against
/// an older snapshot (a kill between the two steps of a compaction) are ignored: the newer
/// snapshot already holds them.
#[derive(Debug, Serialize, Deserialize)]
struct Header {
    journal: u32,
    generation: u64,
}

/// One batch of changes, applied in order on top of the snapshot.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Delta<'a> {
    pub last_seq: u64,
    /// Workers whose saved state changed (or appeared), in full.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub workers: BTreeMap<String, SavedWorker>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<String>,
    /// The whole forgotten map, when it changed.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "persist::opt_time_map")]
    pub forgotten: Option<BTreeMap<String, SystemTime>>,
    /// Event lines stamped in this batch, written here before the event log gets them
    /// (borrowed when saving: the first sweep stamps 10,000 of them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unlogged: Vec<Cow<'a, str>>,
    /// All hook runs and reminders, when they changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hooks: Option<SavedHooks>,
}

impl Delta<'_> {
    /// Folds this batch into `saved`. Unlogged lines accumulate: `EventLog::recover` keeps
    /// only those past the log's last seq.
    pub fn apply(self, saved: &mut Saved) {
        saved.last_seq = saved.last_seq.max(self.last_seq);
        saved.workers.extend(self.workers);
        for id in &self.removed {
            saved.workers.remove(id);
        }
        if let Some(f) = self.forgotten {
            saved.forgotten = f;
        }
        saved.unlogged.extend(self.unlogged.into_iter().map(Cow::into_owned));
        if let Some(h) = self.hooks {
            saved.hooks = h;
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

/// The state directory's two files.
pub struct Store {
    snapshot: PathBuf,
    journal: PathBuf,
    generation: u64,
    /// Bytes in the journal; `None` once an append failed part-way (the next save compacts).
    len: Option<u64>,
}

impl Store {
    /// Loads what was saved: `state.json` (a corrupt or future one is moved aside, see
    /// `persist::load`) with the journal's records applied.
    pub fn open(dir: &Path) -> Result<(Store, Option<Saved>), StoreError> {
        let snapshot = dir.join("state.json");
        let journal = dir.join("state.journal");
        let saved = persist::load(&snapshot)
            .map_err(|persist::LoadError::Io { path, source }| StoreError::Io { path, source })?;
        let generation = saved.as_ref().map_or(0, |s| s.generation);
        let saved = replay(&journal, saved);
        Ok((Store { snapshot, journal, generation, len: None }, saved))
    }

    /// Whether the next save should be a compaction.
    pub fn wants_compaction(&self) -> bool {
        self.len.is_none_or(|n| n >= COMPACT_AFTER)
    }

    /// Appends one batch and makes it durable before returning: the caller writes the event
    /// log only after this, so a kill or a power loss never leaves a line the state lacks.
    pub fn append(&mut self, delta: &Delta) -> std::io::Result<()> {
        let Some(len) = self.len else {
            return Err(std::io::Error::other("the journal needs a compaction first"));
        };
        // A failed append leaves the journal's tail undefined: nothing more is appended
        // after it, the next save writes a whole snapshot instead.
        self.len = None;
        // Opened for each append, not kept: one more syscall next to the fdatasync, and the
        // state dir's permissions and mounts apply to every save, as they do to a snapshot.
        let file = std::fs::OpenOptions::new().append(true).open(&self.journal)?;
        // Streamed, not encoded into a buffer first: the first sweep's record holds every
        // worker (megabytes at 10,000), and only a whole line is ever read back.
        let mut w = std::io::BufWriter::with_capacity(64 * 1024, file);
        serde_json::to_writer(&mut w, delta).map_err(std::io::Error::other)?;
        w.write_all(b"\n")?;
        let file = w.into_inner().map_err(|e| e.into_error())?;
        file.sync_data()?;
        self.len = Some(file.metadata()?.len().max(len));
        Ok(())
    }

    /// Writes `saved` as the new snapshot, then starts an empty journal for it.
    pub fn compact(&mut self, saved: &mut Saved) -> std::io::Result<()> {
        self.len = None;
        saved.generation = self.generation + 1;
        persist::save(&self.snapshot, saved)?;
        self.generation = saved.generation;
        let mut header = serde_json::to_vec(&Header { journal: 1, generation: self.generation }).expect("serializes");
        header.push(b'\n');
        crate::sink::atomic::write(&self.journal, &header, 0o600, true)?;
        self.len = Some(header.len() as u64);
        Ok(())
    }
}

/// Applies the journal at `path` to `saved` when it belongs to that snapshot. A torn last
/// line (a kill mid-append) is dropped; a bad line elsewhere ends the replay with a warning,
/// keeping what came before it.
fn replay(path: &Path, saved: Option<Saved>) -> Option<Saved> {
    let Ok(bytes) = std::fs::read(path) else { return saved };
    let generation = saved.as_ref().map_or(0, |s| s.generation);
    let mut lines = bytes.split_inclusive(|&b| b == b'\n');
    let header: Option<Header> = lines.next().and_then(|l| serde_json::from_slice(l).ok());
    if header.is_none_or(|h| h.generation != generation) {
        return saved;
    }
    let mut saved = saved.unwrap_or_else(Saved::empty);
    let mut applied = 0usize;
    for line in lines {
        let whole = line.ends_with(b"\n");
        match serde_json::from_slice::<Delta<'_>>(line) {
            Ok(d) if whole => {
                d.apply(&mut saved);
                applied += 1;
            }
            _ if !whole => break,
            Ok(_) | Err(_) => {
                tracing::warn!(path = %path.display(), after = applied, "state journal has a bad record; ignoring the rest");
                break;
            }
        }
    }
    Some(saved)
}

/// Reads the saved state for a one-shot command: never moves or changes anything.
pub fn load_readonly(dir: &Path) -> Option<Saved> {
    let saved = persist::load_readonly(&dir.join("state.json"));
    replay(&dir.join("state.journal"), saved)
}

#[cfg(test)]
#[path = "journal_tests.rs"]
mod tests;
