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
    /// Which snapshot this is: `state.journal` records apply only to the snapshot whose
    /// generation their header names (see `journal`).
    #[serde(default)]
    pub generation: u64,
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

impl Saved {
    pub fn empty() -> Saved {
        Saved { schema: SCHEMA, ..Saved::default() }
    }
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
    // Bytes, not a String: a file that is not UTF-8 is corrupt like any other and is moved
    // aside, not an I/O error that stops the daemon from starting.
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(LoadError::Io { path: path.to_path_buf(), source }),
    };
    let problem = match parse(&bytes) {
        Ok(s) => return Ok(Some(s)),
        Err(e) => e.to_string(),
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

/// Why the bytes of a `state.json` are not a state this pulsewatch can use.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("corrupt: {0}")]
    Corrupt(#[from] serde_json::Error),
    #[error("schema {0} is not {SCHEMA} (written by another pulsewatch version)")]
    Schema(u32),
}

/// Parses the contents of a `state.json`, pure; `serialize` is its inverse.
pub fn parse(bytes: &[u8]) -> Result<Saved, ParseError> {
    let saved: Saved = serde_json::from_slice(bytes)?;
    if saved.schema != SCHEMA {
        return Err(ParseError::Schema(saved.schema));
    }
    Ok(saved)
}

pub fn serialize(saved: &Saved) -> Vec<u8> {
    serde_json::to_vec(saved).expect("state serializes")
}

/// Reads `state.json` for a one-shot command: never moves or changes anything.
pub fn load_readonly(path: &Path) -> Option<Saved> {
    parse(&std::fs::read(path).ok()?).ok()
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
    // Streamed into the temp file: at 10,000 workers the encoding is megabytes.
    crate::sink::atomic::write_with(path, 0o600, true, |f| {
        let mut w = std::io::BufWriter::with_capacity(64 * 1024, f);
        serde_json::to_writer(&mut w, saved).map_err(std::io::Error::other)?;
        std::io::Write::flush(&mut w)
    })
}

/// `time_map` for an optional map (a journal record carries `forgotten` only when it changed).
pub(crate) mod opt_time_map {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::collections::BTreeMap;
    use std::time::SystemTime;

    pub fn serialize<S: Serializer>(m: &Option<BTreeMap<String, SystemTime>>, s: S) -> Result<S::Ok, S::Error> {
        match m {
            Some(m) => super::time_map::serialize(m, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<BTreeMap<String, SystemTime>>, D::Error> {
        #[derive(Deserialize)]
        struct Wrap(#[serde(with = "super::time_map")] BTreeMap<String, SystemTime>);
        Ok(Option::<Wrap>::deserialize(d)?.map(|w| w.0))
    }
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
        // Not UTF-8 is corrupt too: moved aside, not an error that stops the daemon.
        for bad in [&b"{not json"[..], br#"{"schema":99,"last_seq":1,"workers":{}}"#, b"{\"schema\":1,\xff}"] {
            std::fs::write(&p, bad).unwrap();
            assert_eq!(load(&p).unwrap(), None, "{}", String::from_utf8_lossy(bad));
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
