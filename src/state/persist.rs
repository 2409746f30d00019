//! `state.json`: what must survive a restart — each worker's state, since, identity and
//! flap history, the forgotten workers, the last event seq, unfinished hook runs, and the
//! event lines stamped but not yet in the event log (a write-ahead record, so a crash never
//! loses or repeats a seq).

use super::Tracker;
use crate::identity::Identity;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

pub const SCHEMA: u32 = 1;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Saved {
    pub schema: u32,
    pub last_seq: u64,
    pub workers: BTreeMap<String, SavedWorker>,
    /// Orphaned workers dropped after `forget_after`, and when; they stay dropped while
    /// their source still lists them.
    #[serde(default, with = "time_map")]
    pub forgotten: BTreeMap<String, SystemTime>,
    /// Event lines stamped but not yet appended to the event log when this was saved. The
    /// daemon saves the state before it appends, so a kill in between loses nothing: the
    /// next start appends the lines the log lacks (`EventLog::recover`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unlogged: Vec<String>,
    /// Hook runs not finished yet and reminders, so a restart delivers them.
    #[serde(default)]
    pub hooks: crate::hooks::SavedHooks,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedWorker {
    pub tracker: Tracker,
    pub identity: Option<Identity>,
    #[serde(with = "crate::timefmt::serde_time")]
    pub first_seen: SystemTime,
    /// Content mode: the content clock and where reading stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<crate::monitor::SavedContent>,
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

/// Loads `state.json`. A missing file is a fresh start; a corrupt one, or one written by a
/// newer pulsewatch, is moved aside with a warning (never deleted) and also a fresh start.
pub fn load(path: &Path) -> Result<Option<Saved>, LoadError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(LoadError::Io { path: path.to_path_buf(), source }),
    };
    let problem = match serde_json::from_str::<Saved>(&text) {
        Ok(s) if s.schema == SCHEMA => return Ok(Some(s)),
        Ok(s) => format!("schema {} is not {SCHEMA} (written by another pulsewatch version)", s.schema),
        Err(e) => format!("corrupt: {e}"),
    };
    let aside = path.with_extension(format!("json.bad-{}", crate::timefmt::unix_ms(SystemTime::now())));
    match std::fs::rename(path, &aside) {
        Ok(()) => {
            tracing::warn!(path = %path.display(), moved_to = %aside.display(), "state file {problem}; starting fresh")
        }
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "state file {problem} and cannot be moved aside; starting fresh")
        }
    }
    Ok(None)
}

/// Reads `state.json` for a one-shot command: never moves or changes anything.
pub fn load_readonly(path: &Path) -> Option<Saved> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str::<Saved>(&text).ok().filter(|s| s.schema == SCHEMA)
}

/// Removes temp files that an atomic write killed half-way left in `dir` (the daemon calls
/// this at start, before it writes anything there itself).
pub fn remove_stale_temp_files(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(crate::sink::atomic::TEMP_PREFIX) && name.ends_with(crate::sink::atomic::TEMP_SUFFIX) {
            if let Err(err) = std::fs::remove_file(e.path()) {
                tracing::debug!(path = %e.path().display(), error = %err, "cannot remove a stale temp file");
            }
        }
    }
}

pub fn save(path: &Path, saved: &Saved) -> std::io::Result<()> {
    let bytes = serde_json::to_vec(saved).expect("state serializes");
    super::super::sink::atomic::write(path, &bytes, 0o600, true)
}

mod time_map {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};
    use std::collections::BTreeMap;
    use std::time::SystemTime;

    pub fn serialize<S: Serializer>(m: &BTreeMap<String, SystemTime>, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(m.iter().map(|(k, t)| (k, crate::timefmt::rfc3339(*t))))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, SystemTime>, D::Error> {
        BTreeMap::<String, String>::deserialize(d)?
            .into_iter()
            .map(|(k, v)| {
                crate::timefmt::parse_rfc3339(&v)
                    .map(|t| (k, t))
                    .ok_or_else(|| D::Error::custom(format!("bad time {v:?}")))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corrupt_and_future_files_move_aside() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state.json");
        assert_eq!(load(&p).unwrap(), None);
        let s = Saved { schema: SCHEMA, last_seq: 41, ..Saved::default() };
        save(&p, &s).unwrap();
        assert_eq!(load(&p).unwrap(), Some(s));
        for bad in ["{not json", r#"{"schema":99,"last_seq":1,"workers":{}}"#] {
            std::fs::write(&p, bad).unwrap();
            assert_eq!(load(&p).unwrap(), None, "{bad}");
            assert!(!p.exists());
        }
        std::fs::write(dir.path().join(".pulsewatch-x.tmp"), "half").unwrap();
        remove_stale_temp_files(dir.path());
        assert!(!dir.path().join(".pulsewatch-x.tmp").exists());
        let aside = std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().contains(".bad-"))
            .count();
        assert!(aside >= 1);
    }
}
