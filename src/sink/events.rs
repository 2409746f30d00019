//! The ndjson event log: gapless `seq` across restarts, appends that survive external
//! rotation, and a bounded queue so a full disk loses nothing that was already stamped.

use crate::event::{Event, Stamped};
use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Lines kept in memory while the log cannot be written; beyond this the oldest are dropped
/// (and counted), so a long outage cannot exhaust memory.
const MAX_PENDING: usize = 100_000;

/// How much of the log's end is read to find the last record.
const TAIL: u64 = 64 * 1024;

pub struct EventLog {
    path: PathBuf,
    file: Option<(File, u64, u64)>,
    next_seq: u64,
    pending: VecDeque<String>,
    /// Write failures and dropped lines since start.
    pub faults: u64,
    pub last_error: Option<String>,
}

impl EventLog {
    /// Opens (lazily) the log at `path`; `seq` continues after the larger of `saved_seq`
    /// and the last seq found in the file itself.
    pub fn open(path: &Path, saved_seq: u64) -> EventLog {
        EventLog::recover(path, saved_seq, Vec::new())
    }

    /// Like `open`, and finishes the log with `unlogged`: lines stamped before a crash (saved
    /// in state.json ahead of the append) that the file does not hold yet. They are written
    /// first, before anything new.
    pub fn recover(path: &Path, saved_seq: u64, unlogged: Vec<String>) -> EventLog {
        let in_file = last_seq_in(path).unwrap_or(0);
        let pending: VecDeque<String> = unlogged.into_iter().filter(|l| seq_of(l.as_bytes()) > Some(in_file)).collect();
        if !pending.is_empty() {
            tracing::info!(path = %path.display(), lines = pending.len(), "appending events stamped before a crash");
        }
        EventLog {
            path: path.to_path_buf(),
            file: None,
            next_seq: in_file.max(saved_seq) + 1,
            pending,
            faults: 0,
            last_error: None,
        }
    }

    /// Moves to another file (a reload changed `event_log`): queued lines and `seq` come
    /// along, so nothing stamped is lost and no number is used twice.
    pub fn move_to(&mut self, path: &Path) {
        let in_file = last_seq_in(path).unwrap_or(0);
        self.path = path.to_path_buf();
        self.file = None;
        self.next_seq = self.next_seq.max(in_file + 1);
        self.flush();
    }

    /// Lines stamped but not yet written (state.json keeps them as a write-ahead record).
    pub fn unlogged(&self) -> Vec<String> {
        self.pending.iter().cloned().collect()
    }

    pub fn is_flushed(&self) -> bool {
        self.pending.is_empty()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn last_seq(&self) -> u64 {
        self.next_seq - 1
    }

    /// Stamps `events` with consecutive seqs and appends them.
    pub fn record(&mut self, events: Vec<Event>, now: SystemTime) -> Vec<Stamped> {
        let stamped = self.stamp(events, now);
        self.flush();
        stamped
    }

    /// Stamps `events` and queues their lines; `flush` writes them.
    pub fn stamp(&mut self, events: Vec<Event>, now: SystemTime) -> Vec<Stamped> {
        let stamped: Vec<Stamped> = events
            .into_iter()
            .map(|e| {
                let s = Stamped::new(self.next_seq, now, e);
                self.next_seq += 1;
                s
            })
            .collect();
        for s in &stamped {
            if self.pending.len() == MAX_PENDING {
                self.pending.pop_front();
                self.faults += 1;
            }
            self.pending.push_back(s.line.clone());
        }
        stamped
    }

    /// Writes what is queued; on failure keeps it for the next call.
    pub fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        match self.try_flush() {
            Ok(()) => self.last_error = None,
            Err(e) => {
                self.faults += 1;
                self.file = None;
                let msg = format!("{}: {e}", self.path.display());
                if self.last_error.as_deref() != Some(&msg) {
                    tracing::error!(error = %msg, queued = self.pending.len(), "cannot write the event log; keeping events queued");
                }
                self.last_error = Some(msg);
            }
        }
    }

    fn try_flush(&mut self) -> std::io::Result<()> {
        self.reopen_if_rotated()?;
        let (file, _, _) = self.file.as_mut().expect("opened above");
        let start = file.metadata()?.len();
        let (whole, result) = append_whole_lines(file, &mut self.pending);
        if result.is_err() && file.metadata().is_ok_and(|m| m.len() > start + whole) {
            // A short write (a nearly full disk) left part of a line behind: cut it off now,
            // so no reader meets a torn line while the fault lasts; the line is still queued.
            // Where even that fails, the reopen's `end_torn_line` does it.
            let _ = file.set_len(start + whole);
        }
        result
    }

    /// Rotation (rename away, copy and delete, …) leaves our descriptor on the old file;
    /// comparing inodes with the path tells, and appends then go to a fresh file.
    fn reopen_if_rotated(&mut self) -> std::io::Result<()> {
        let current = std::fs::metadata(&self.path).ok().map(|m| (m.dev(), m.ino()));
        if let (Some((_, dev, ino)), Some(cur)) = (&self.file, current) {
            if (*dev, *ino) == cur {
                return Ok(());
            }
        }
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut f = OpenOptions::new().create(true).append(true).read(true).open(&self.path)?;
        let m = f.metadata()?;
        end_torn_line(&mut f, m.len())?;
        self.file = Some((f, m.dev(), m.ino()));
        Ok(())
    }
}

/// Writes the queued lines to `out` as one buffer and drops from `pending` the lines that
/// were written whole; returns their length in bytes and how the writing ended. Counted by
/// hand, not `write_all`: after a short write (disk full) the lines that made it whole leave
/// the queue, so the retry does not append them twice.
fn append_whole_lines(out: &mut impl Write, pending: &mut VecDeque<String>) -> (u64, std::io::Result<()>) {
    let mut buf = String::with_capacity(pending.iter().map(|l| l.len() + 1).sum());
    for l in pending.iter() {
        buf.push_str(l);
        buf.push('\n');
    }
    let mut written = 0;
    let result = loop {
        if written == buf.len() {
            break Ok(());
        }
        match out.write(&buf.as_bytes()[written..]) {
            Ok(0) => break Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => written += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => break Err(e),
        }
    };
    let mut whole = 0;
    while pending.front().is_some_and(|l| whole + l.len() < written) {
        whole += pending.pop_front().expect("checked").len() + 1;
    }
    (whole as u64, result)
}

/// A kill or a failed write can leave half a line at the end. Its record is not lost (the
/// queue, or state.json after a crash, still holds it and writes it whole), so the fragment
/// is cut off; only a fragment longer than the tail we read is ended with a newline instead.
fn end_torn_line(f: &mut File, len: u64) -> std::io::Result<()> {
    if len == 0 {
        return Ok(());
    }
    let start = len.saturating_sub(TAIL);
    f.seek(SeekFrom::Start(start))?;
    let mut tail = Vec::with_capacity((len - start) as usize);
    f.read_to_end(&mut tail)?;
    if tail.last() == Some(&b'\n') {
        return Ok(());
    }
    match tail.iter().rposition(|&b| b == b'\n') {
        Some(i) => f.set_len(start + i as u64 + 1),
        None if start == 0 => f.set_len(0),
        None => f.write_all(b"\n"),
    }
}

/// The `seq` of the last complete record in the log, reading only its tail.
pub fn last_seq_in(path: &Path) -> Option<u64> {
    let mut f = File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    let start = len.saturating_sub(TAIL);
    f.seek(SeekFrom::Start(start)).ok()?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf).ok()?;
    last_seq_in_tail(&buf)
}

/// The `seq` of the last record in `tail` (the end of a log, which may start or end mid-line).
pub fn last_seq_in_tail(tail: &[u8]) -> Option<u64> {
    tail.split(|&b| b == b'\n').rev().find_map(seq_of)
}

/// The `seq` of one complete record; `None` for a torn or foreign line.
fn seq_of(line: &[u8]) -> Option<u64> {
    serde_json::from_slice::<serde_json::Value>(line).ok()?.get("seq")?.as_u64()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventKind;

    fn ev() -> Event {
        Event::daemon(EventKind::ConfigReloaded {})
    }

    fn seqs(path: &Path) -> Vec<u64> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .map(|v| v["seq"].as_u64().unwrap())
            .collect()
    }

    #[test]
    fn seq_continues_across_reopen_and_torn_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("events.ndjson");
        let mut log = EventLog::open(&p, 0);
        log.record(vec![ev(), ev()], SystemTime::now());
        drop(log);
        // A crash mid-write leaves a partial line behind.
        std::fs::OpenOptions::new().append(true).open(&p).unwrap().write_all(b"{\"v\":1,\"se").unwrap();
        let mut log = EventLog::open(&p, 1);
        log.record(vec![ev()], SystemTime::now());
        assert_eq!(seqs(&p), vec![1, 2, 3]);
        assert_eq!(std::fs::read_to_string(&p).unwrap().lines().count(), 3, "the fragment is cut off");
        // The saved seq wins when the file was rotated away.
        std::fs::rename(&p, dir.path().join("old")).unwrap();
        let mut log = EventLog::open(&p, 3);
        log.record(vec![ev()], SystemTime::now());
        assert_eq!(seqs(&p), vec![4]);
    }

    #[test]
    fn recovery_appends_only_what_the_file_lacks() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("events.ndjson");
        let mut log = EventLog::open(&p, 0);
        let lines: Vec<String> =
            log.stamp(vec![ev(), ev(), ev()], SystemTime::now()).into_iter().map(|s| s.line).collect();
        // Killed after writing seq 1 and half of seq 2: state.json held all three lines.
        let torn = &lines[1][..10];
        std::fs::write(&p, format!("{}\n{torn}", lines[0])).unwrap();
        let mut log = EventLog::recover(&p, 3, lines.clone());
        assert!(!log.is_flushed());
        log.record(vec![ev()], SystemTime::now());
        assert_eq!(seqs(&p), vec![1, 2, 3, 4]);
        // Everything was written already: nothing is appended twice.
        let mut log = EventLog::recover(&p, 3, lines);
        assert!(log.is_flushed());
        log.record(vec![ev()], SystemTime::now());
        assert_eq!(seqs(&p), vec![1, 2, 3, 4, 5]);
    }

    #[test]
    fn moving_keeps_queue_and_seq() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("notadir");
        std::fs::write(&blocker, "").unwrap();
        let mut log = EventLog::open(&blocker.join("events.ndjson"), 6);
        log.record(vec![ev()], SystemTime::now());
        assert_eq!(log.unlogged().len(), 1);
        let p = dir.path().join("new.ndjson");
        log.move_to(&p);
        log.record(vec![ev()], SystemTime::now());
        assert_eq!(seqs(&p), vec![7, 8]);
    }

    #[test]
    fn follows_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("events.ndjson");
        let mut log = EventLog::open(&p, 0);
        log.record(vec![ev()], SystemTime::now());
        std::fs::rename(&p, dir.path().join("events.1")).unwrap();
        log.record(vec![ev()], SystemTime::now());
        assert_eq!(seqs(&p), vec![2]);
        assert_eq!(seqs(&dir.path().join("events.1")), vec![1]);
    }

    /// A disk with room for `room` more bytes: writes what fits, then ENOSPC.
    struct NearlyFull {
        got: Vec<u8>,
        room: usize,
    }

    impl Write for NearlyFull {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let n = buf.len().min(self.room - self.got.len());
            if n == 0 {
                return Err(std::io::Error::from_raw_os_error(libc::ENOSPC));
            }
            self.got.extend_from_slice(&buf[..n]);
            Ok(n)
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_short_write_keeps_the_torn_line_queued() {
        let lines = ["{\"seq\":1}", "{\"seq\":2}", "{\"seq\":3}"];
        // Every cut: inside a line, right after one, right after its newline.
        for room in 0..=30 {
            let mut pending: VecDeque<String> = lines.iter().map(|l| l.to_string()).collect();
            let mut out = NearlyFull { got: Vec::new(), room };
            let (whole, result) = append_whole_lines(&mut out, &mut pending);
            let complete = room / 10;
            assert_eq!(whole as usize, complete * 10, "room {room}");
            assert_eq!(pending.len(), 3 - complete, "room {room}: the torn line stays queued");
            assert_eq!(result.is_ok(), complete == 3, "room {room}");
            // What `try_flush` cuts back to holds whole lines only, and with the queue they
            // are every line once.
            let kept = String::from_utf8(out.got[..whole as usize].to_vec()).unwrap();
            let all: Vec<&str> = kept.lines().chain(pending.iter().map(String::as_str)).collect();
            assert_eq!(all, lines, "room {room}");
        }
    }

    #[test]
    fn queues_while_unwritable() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("notadir");
        std::fs::write(&blocker, "").unwrap();
        let p = blocker.join("events.ndjson");
        let mut log = EventLog::open(&p, 0);
        log.record(vec![ev(), ev()], SystemTime::now());
        assert!(log.faults > 0 && log.last_error.is_some());
        std::fs::remove_file(&blocker).unwrap();
        log.record(vec![ev()], SystemTime::now());
        assert_eq!(seqs(&p), vec![1, 2, 3], "nothing stamped is lost");
    }
}
