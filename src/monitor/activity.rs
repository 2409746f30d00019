//! A worker's two clocks: `last_write` (the log's mtime) and `last_output` (the last time
//! meaningful content appeared). In mtime mode they are the same; in content mode the bytes
//! appended since the last look are read and judged here.

use crate::config::{Activity as Mode, WorkerSettings};
use crate::content::{Counts, Hold, Prompt, Rules, Tracker, agent};
use crate::probe::LogFacts;
use crate::probe::tail::{self, Cursor, Start};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::SystemTime;

/// What survives a restart, so a stalled worker does not come back alive: the content clock
/// and where reading stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedContent {
    #[serde(with = "crate::timefmt::serde_time")]
    pub last_output: SystemTime,
    pub cursor: Cursor,
}

/// Per-worker reader state: nothing in mtime mode (most workers), the reader in content
/// mode. Boxed because the reader (terminal parser, recent-line memory, live region) is
/// ~0.8 KB inline and the worker table holds one `Activity` per worker.
#[derive(Debug, Default)]
pub struct Activity {
    content: Option<Box<Reader>>,
}

/// Content mode's reader.
#[derive(Debug, Default)]
struct Reader {
    cursor: Option<Cursor>,
    tracker: Tracker,
    /// The content clock; `None` until the log was first seen.
    last_output: Option<SystemTime>,
    /// Restored from saved state: the bytes before the cursor are read once, uncounted, to
    /// remember which lines were already on screen.
    prime: bool,
    /// Prompt hysteresis (content mode).
    hold: Hold,
}

/// One look's result.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Clocks {
    pub last_write: Option<SystemTime>,
    pub last_output: Option<SystemTime>,
    pub error: Option<String>,
}

impl Activity {
    pub fn restore(saved: Option<SavedContent>) -> Activity {
        let content = saved.map(|s| {
            Box::new(Reader {
                cursor: Some(s.cursor),
                last_output: Some(s.last_output),
                prime: true,
                ..Reader::default()
            })
        });
        Activity { content }
    }

    pub fn saved(&self) -> Option<SavedContent> {
        let r = self.content.as_deref()?;
        Some(SavedContent { last_output: r.last_output?, cursor: r.cursor? })
    }

    pub fn counts(&self) -> Option<Counts> {
        let r = self.content.as_deref()?;
        r.cursor.map(|_| r.tracker.counts)
    }

    /// The live region of the terminal (content mode), for prompt detection.
    pub fn live_region(&self) -> Vec<String> {
        self.content.as_deref().map(|r| r.tracker.live_region()).unwrap_or_default()
    }

    /// The prompt showing in the live region, once it held (content mode; else none).
    pub fn prompt(&mut self, settings: &WorkerSettings, now: SystemTime) -> Prompt {
        match self.content.as_deref_mut() {
            Some(r) if settings.activity == Mode::Content && r.cursor.is_some() => {
                let look = agent::scan(&r.tracker.live_region(), &settings.rules.preset);
                r.hold.observe(look, now)
            }
            _ => Prompt::None,
        }
    }

    /// When the prompt judgement may change with nothing written: the hold settling, or a
    /// question that has shown for `input_after` (`classify::refine` then says
    /// `awaiting_input`). `shown` is what `prompt` said at this look.
    pub fn prompt_deadline(
        &self,
        shown: Prompt,
        last_output: Option<SystemTime>,
        input_after: std::time::Duration,
        now: SystemTime,
    ) -> Option<SystemTime> {
        let asking = last_output.filter(|_| shown == Prompt::Input).map(|t| t + input_after).filter(|t| *t > now);
        let settles = self.content.as_deref().and_then(|r| r.hold.next_change(now));
        [settles, asking].into_iter().flatten().min()
    }

    /// Reads what the log says now. `facts` is this look's `stat` of the log.
    pub fn look(&mut self, path: &Path, facts: &LogFacts, settings: &WorkerSettings) -> Clocks {
        let last_write = facts.mtime();
        let mut problem = match facts {
            LogFacts::Unreadable(e) => Some(e.clone()),
            LogFacts::Present { odd_kind: Some(kind), .. } => Some(tail::TailError::NotRegular(kind).to_string()),
            _ => None,
        };
        let last_output = if settings.activity == Mode::Mtime {
            // Switching to content mode later starts over from that moment.
            self.content = None;
            last_write
        } else {
            let r = self.content.get_or_insert_with(Box::default);
            if *facts == LogFacts::Missing {
                // Gone: a log that comes back is a new stream, judged from its start.
                if r.cursor.take().is_some() {
                    r.tracker.restart();
                }
                r.last_output = None;
                r.prime = false;
                None
            } else {
                if problem.is_none() {
                    problem = r.read(path, facts, settings).err().map(|e| e.to_string());
                }
                if problem.is_some() {
                    // Nothing readable: the clock holds (it starts at the mtime, benefit of the doubt).
                    r.last_output = r.last_output.or(last_write);
                }
                r.last_output
            }
        };
        Clocks { last_write, last_output, error: problem.map(|e| format!("{}: {e}", path.display())) }
    }
}

impl Reader {
    fn read(&mut self, path: &Path, facts: &LogFacts, settings: &WorkerSettings) -> Result<(), tail::TailError> {
        let rules = &settings.rules;
        let LogFacts::Present { dev, ino, size, mtime, .. } = *facts else {
            return Ok(());
        };
        // Nothing appended (the common case): no open, no read; the still screen settles.
        let (new, mtime) = if !self.prime && self.cursor == Some(Cursor { dev, ino, offset: size }) {
            (self.tracker.settle(rules), mtime)
        } else {
            match self.read_delta(path, rules)? {
                Some(found) => found,
                None => return Ok(()),
            }
        };
        // New text appeared at some moment up to the last write; until any did, the clock
        // starts at the mtime the log had when first seen.
        if new >= u64::from(rules.min_new_chars) || self.last_output.is_none() {
            self.last_output = Some(self.last_output.map_or(mtime, |t| t.max(mtime)));
        }
        Ok(())
    }

    /// Reads and judges what was appended; the new characters and the file's mtime.
    fn read_delta(&mut self, path: &Path, rules: &Rules) -> Result<Option<(u64, SystemTime)>, tail::TailError> {
        let Some(f) = tail::open(path)? else {
            return Ok(None);
        };
        let plan = tail::plan(self.cursor, f.dev, f.ino, f.size);
        if std::mem::take(&mut self.prime) && plan.start == Start::Continued {
            let before = f.read(plan.from.saturating_sub(tail::MAX_DELTA), plan.from)?;
            self.tracker.prime(tail::align(&before), rules);
        }
        if plan.start != Start::Continued || plan.skipped > 0 {
            if self.cursor.is_some() {
                self.tracker.restart();
            }
            self.tracker.counts.bytes_skipped += plan.skipped;
        }
        let bytes = f.read(plan.from, plan.to)?;
        let window = if plan.skipped > 0 { tail::align(&bytes) } else { &bytes[..] };
        let new = if bytes.is_empty() { self.tracker.settle(rules) } else { self.tracker.feed(window, rules) };
        self.cursor = Some(Cursor { dev: f.dev, ino: f.ino, offset: plan.from + bytes.len() as u64 });
        Ok(Some((new, f.mtime)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::stat_log;
    use std::io::Write;
    use std::time::Duration;

    fn content() -> WorkerSettings {
        WorkerSettings { activity: Mode::Content, ..WorkerSettings::default() }
    }

    fn at(s: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + s)
    }

    /// Appends `bytes` (or replaces the file when `truncate`), stamps mtime `t`, then looks.
    struct Log {
        dir: tempfile::TempDir,
        a: Activity,
    }

    impl Log {
        fn new() -> Log {
            Log { dir: tempfile::tempdir().unwrap(), a: Activity::default() }
        }
        fn path(&self) -> std::path::PathBuf {
            self.dir.path().join("w.log")
        }
        fn append(&mut self, bytes: &[u8], t: u64) -> Clocks {
            let mut f = std::fs::OpenOptions::new().create(true).append(true).open(self.path()).unwrap();
            f.write_all(bytes).unwrap();
            f.set_modified(at(t)).unwrap();
            self.look()
        }
        fn truncate(&mut self, bytes: &[u8], t: u64) -> Clocks {
            std::fs::write(self.path(), bytes).unwrap();
            std::fs::File::options().write(true).open(self.path()).unwrap().set_modified(at(t)).unwrap();
            self.look()
        }
        fn replace(&mut self, bytes: &[u8], t: u64) -> Clocks {
            let tmp = self.dir.path().join("new.log");
            std::fs::write(&tmp, bytes).unwrap();
            std::fs::File::options().write(true).open(&tmp).unwrap().set_modified(at(t)).unwrap();
            std::fs::rename(&tmp, self.path()).unwrap();
            self.look()
        }
        fn look(&mut self) -> Clocks {
            let p = self.path();
            self.a.look(&p, &stat_log(&p), &content())
        }
    }

    #[test]
    fn two_clocks_through_a_stream() {
        let mut l = Log::new();
        let out = |c: Clocks| (c.last_write, c.last_output, c.error);
        assert_eq!(out(l.look()), (None, None, None), "no log yet");
        assert_eq!(out(l.append(b"first line\r\n", 1)), (Some(at(1)), Some(at(1)), None));
        // The first frame of a spinner line is text nobody saw before; its next frames are not.
        assert_eq!(out(l.append("\r⠋ Thinking 1s\r⠙ Thinking 2s".as_bytes(), 2)), (Some(at(2)), Some(at(2)), None));
        assert_eq!(out(l.append("\r⠹ Thinking 3s\r⠸ Thinking 4s".as_bytes(), 3)), (Some(at(3)), Some(at(2)), None));
        assert_eq!(out(l.look()).1, Some(at(2)), "a still screen settles into a line already seen");
        assert_eq!(out(l.append(b"\r\x1b[2Kdone\r\n", 4)).1, Some(at(4)));
        // Truncated: read from the start; spinner noise alone is not progress.
        assert_eq!(out(l.truncate("⠋ 1s\r⠙ 2s\r".as_bytes(), 5)).1, Some(at(4)));
        assert_eq!(l.a.counts().unwrap().restarts, 1);
        // Replaced (new inode): new text counts; the same text again does not.
        assert_eq!(out(l.replace(b"fresh\n", 6)).1, Some(at(6)));
        assert_eq!(out(l.replace(b"fresh\n", 7)).1, Some(at(6)));
        assert_eq!(l.a.counts().unwrap().restarts, 3);
        // A delta larger than the read limit: only its last 64 KiB are read.
        let big: String = (0..20_000).map(|i| format!("line {i}\n")).collect();
        assert_eq!(out(l.append(big.as_bytes(), 8)).1, Some(at(8)));
        let c = l.a.counts().unwrap();
        assert!(c.bytes_skipped > 0 && c.bytes_read <= tail::MAX_DELTA + 200, "{c:?}");
        // Deleted: both clocks say so.
        std::fs::remove_file(l.path()).unwrap();
        assert_eq!(out(l.look()), (None, None, None));
        assert_eq!(out(l.append("⠋".as_bytes(), 9)).1, Some(at(9)), "a new log starts its clock at its mtime");
    }

    #[test]
    fn utf8_split_across_reads() {
        let mut l = Log::new();
        let text = "progress: 日本\n".as_bytes();
        let cut = text.len() - 4; // inside 本
        l.append(&text[..cut], 1);
        assert_eq!(l.a.live_region(), ["progress: 日"]);
        assert_eq!(l.append(&text[cut..], 2).last_output, Some(at(2)));
        assert_eq!(l.a.live_region(), ["progress: 日本"]);
        // A spinner glyph split across reads is still only a glyph: no replacement
        // character turns up as new text.
        let frame = "\r⠙".as_bytes();
        l.append(&frame[..2], 3);
        assert_eq!(l.append(&frame[2..], 4).last_output, Some(at(2)));
        assert_eq!(l.append(b"\r", 5).last_output, Some(at(2)));
        assert_eq!(l.a.counts().unwrap().lines_new, 1);
    }

    #[test]
    fn restart_primes_from_the_saved_offset() {
        let mut l = Log::new();
        l.append("\r⠋ Thinking (1s)\r⠙ Thinking (2s)\r".as_bytes(), 1);
        let saved = l.a.saved().unwrap();
        assert_eq!(saved.last_output, at(1));
        // A new daemon: what it reads after the offset repeats what was on screen before.
        l.a = Activity::restore(Some(saved));
        let c = l.append("⠹ Thinking (3s)\r⠸ Thinking (4s)\r".as_bytes(), 2);
        assert_eq!(c.last_output, Some(at(1)));
        assert_eq!(l.append(b"new words\n", 3).last_output, Some(at(3)));
    }

    #[test]
    fn what_is_not_a_regular_file_is_an_error_not_a_hang() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("w.log");
        let mode = rustix::fs::Mode::from_raw_mode(0o600);
        rustix::fs::mknodat(rustix::fs::CWD, &fifo, rustix::fs::FileType::Fifo, mode, 0).unwrap();
        let mut a = Activity::default();
        let c = a.look(&fifo, &stat_log(&fifo), &content());
        assert!(c.error.unwrap().ends_with("w.log: is a fifo, not a regular file"));
        assert_eq!(c.last_output, c.last_write, "the clock starts at the mtime and holds");
        let c = a.look(dir.path(), &stat_log(dir.path()), &content());
        assert!(c.error.unwrap().contains("directory"));
    }

    #[test]
    fn mtime_mode_clocks_are_one() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("w.log");
        std::fs::write(&p, "⠋").unwrap();
        let mut a = Activity::default();
        let c = a.look(&p, &stat_log(&p), &WorkerSettings::default());
        assert!(c.last_write.is_some());
        assert_eq!(c.last_output, c.last_write);
        assert_eq!(a.counts(), None);
    }
}
