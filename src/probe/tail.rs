//! Reading what was appended to a log since the last read: opened non-blocking, regular
//! files only, at most the last `MAX_DELTA` bytes of a larger delta.

use rustix::fs::{Mode, OFlags};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::os::unix::fs::{FileExt, FileTypeExt, MetadataExt};
use std::path::Path;
use std::time::SystemTime;

/// The most bytes one read looks at; older bytes of a larger delta are skipped.
pub const MAX_DELTA: u64 = 64 * 1024;

/// Where the last read stopped, in which file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    pub dev: u64,
    pub ino: u64,
    pub offset: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Same file, grown (or not) since the cursor.
    Continued,
    /// Same file, now smaller than the cursor: read from the start again.
    Truncated,
    /// Another file at the path (or the first read): read from the start.
    NewFile,
}

/// What to read: bytes `from..to` of the file; `skipped` bytes before `from` are left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub start: Start,
    pub from: u64,
    pub to: u64,
    pub skipped: u64,
}

/// Decides what to read, pure: from the cursor to the end, from 0 after a truncation or for
/// a new file, never more than `MAX_DELTA` bytes.
pub fn plan(prev: Option<Cursor>, dev: u64, ino: u64, size: u64) -> Plan {
    let (start, begin) = match prev {
        Some(c) if (c.dev, c.ino) != (dev, ino) => (Start::NewFile, 0),
        None => (Start::NewFile, 0),
        Some(c) if size < c.offset => (Start::Truncated, 0),
        Some(c) => (Start::Continued, c.offset),
    };
    let from = begin.max(size.saturating_sub(MAX_DELTA));
    Plan { start, from, to: size, skipped: from - begin }
}

#[derive(Debug, thiserror::Error)]
pub enum TailError {
    #[error("is a {0}, not a regular file")]
    NotRegular(&'static str),
    #[error("cannot read: {0}")]
    Io(#[from] std::io::Error),
}

/// An open log, and what `fstat` said about it at open time.
pub struct Opened {
    file: File,
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime: SystemTime,
}

/// Opens a log for reading without ever blocking: a FIFO or device at the path is refused
/// after a non-blocking open, before any read. `Ok(None)`: there is no file.
pub fn open(path: &Path) -> Result<Option<Opened>, TailError> {
    let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    let fd = match rustix::fs::open(path, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(e) if e == rustix::io::Errno::NOENT || e == rustix::io::Errno::NOTDIR => return Ok(None),
        Err(e) => return Err(TailError::Io(e.into())),
    };
    let file = File::from(fd);
    let m = file.metadata()?;
    let ft = m.file_type();
    if !ft.is_file() {
        let kind = if ft.is_dir() {
            "directory"
        } else if ft.is_fifo() {
            "fifo"
        } else if ft.is_char_device() || ft.is_block_device() {
            "device"
        } else {
            "special file"
        };
        return Err(TailError::NotRegular(kind));
    }
    Ok(Some(Opened {
        dev: m.dev(),
        ino: m.ino(),
        size: m.len(),
        mtime: m.modified().unwrap_or(SystemTime::UNIX_EPOCH),
        file,
    }))
}

impl Opened {
    /// Bytes `from..to`; fewer when the file shrank meanwhile.
    pub fn read(&self, from: u64, to: u64) -> Result<Vec<u8>, TailError> {
        let mut buf = vec![0u8; to.saturating_sub(from) as usize];
        let mut got = 0;
        while got < buf.len() {
            match self.file.read_at(&mut buf[got..], from + got as u64) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        buf.truncate(got);
        Ok(buf)
    }
}

/// After skipped bytes the window may start inside a line, a UTF-8 sequence or an escape
/// sequence: start after the first newline in it when there is one.
pub fn align(bytes: &[u8]) -> &[u8] {
    match bytes.iter().position(|b| *b == b'\n') {
        Some(i) => &bytes[i + 1..],
        None => {
            let skip = bytes.iter().take(3).take_while(|b| (**b & 0xC0) == 0x80).count();
            &bytes[skip..]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K: u64 = MAX_DELTA;

    #[test]
    fn plans() {
        let c = |offset| Some(Cursor { dev: 1, ino: 7, offset });
        #[rustfmt::skip]
        let cases: Vec<(&str, Option<Cursor>, u64, u64, Start, u64, u64)> = vec![
            // (name, prev, ino, size, start, from, skipped)
            ("first read, small file", None, 7, 100, Start::NewFile, 0, 0),
            ("first read, large file: last 64 KiB", None, 7, 3 * K, Start::NewFile, 2 * K, 2 * K),
            ("appended", c(100), 7, 150, Start::Continued, 100, 0),
            ("nothing new", c(100), 7, 100, Start::Continued, 100, 0),
            ("large delta: last 64 KiB", c(100), 7, 100 + 2 * K, Start::Continued, 100 + K, K),
            ("truncated", c(100), 7, 40, Start::Truncated, 0, 0),
            ("truncated to empty", c(100), 7, 0, Start::Truncated, 0, 0),
            ("new inode", c(100), 8, 500, Start::NewFile, 0, 0),
            ("new inode, same size", c(100), 8, 100, Start::NewFile, 0, 0),
        ];
        for (name, prev, ino, size, start, from, skipped) in cases {
            let p = plan(prev, 1, ino, size);
            assert_eq!(p, Plan { start, from, to: size, skipped }, "{name}");
        }
    }

    #[test]
    fn alignment() {
        assert_eq!(align(b"[31mtail\nnext"), b"next");
        assert_eq!(align(&[0x82, 0xAC, b'x']), b"x");
        assert_eq!(align(b"plain"), b"plain");
    }

    #[test]
    fn refuses_what_is_not_a_regular_file() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        rustix::fs::mknodat(rustix::fs::CWD, &fifo, rustix::fs::FileType::Fifo, Mode::from_raw_mode(0o600), 0).unwrap();
        // A blocking open of a FIFO without a writer would hang here.
        assert!(matches!(open(&fifo), Err(TailError::NotRegular("fifo"))));
        assert!(matches!(open(dir.path()), Err(TailError::NotRegular("directory"))));
        assert!(matches!(open(Path::new("/dev/null")), Err(TailError::NotRegular("device"))));
        assert!(open(&dir.path().join("missing")).unwrap().is_none());
        let f = dir.path().join("log");
        std::fs::write(&f, "hello world").unwrap();
        let o = open(&f).unwrap().unwrap();
        assert_eq!(o.size, 11);
        assert_eq!(o.read(6, 11).unwrap(), b"world");
        assert_eq!(o.read(6, 50).unwrap(), b"world");
    }
}
