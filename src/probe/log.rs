//! Session logs: one `stat` per look, never a read.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::time::SystemTime;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogFacts {
    Missing,
    Present {
        mtime: SystemTime,
        size: u64,
        dev: u64,
        ino: u64,
        /// `None` for a regular file, else what is there instead ("fifo", "directory", …).
        odd_kind: Option<&'static str>,
    },
    /// stat failed for another reason than absence (permission, I/O): shown in status.
    Unreadable(String),
}

impl LogFacts {
    pub fn mtime(&self) -> Option<SystemTime> {
        match self {
            LogFacts::Present { mtime, .. } => Some(*mtime),
            _ => None,
        }
    }

    pub fn size(&self) -> Option<u64> {
        match self {
            LogFacts::Present { size, .. } => Some(*size),
            _ => None,
        }
    }
}

pub fn stat_log(path: &Path) -> LogFacts {
    match std::fs::metadata(path) {
        Ok(m) => {
            let ft = m.file_type();
            let odd_kind = if ft.is_file() {
                None
            } else if ft.is_dir() {
                Some("directory")
            } else if ft.is_fifo() {
                Some("fifo")
            } else if ft.is_char_device() || ft.is_block_device() {
                Some("device")
            } else if ft.is_socket() {
                Some("socket")
            } else {
                Some("special file")
            };
            LogFacts::Present {
                mtime: m.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                size: if odd_kind.is_none() { m.len() } else { 0 },
                dev: m.dev(),
                ino: m.ino(),
                odd_kind,
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => LogFacts::Missing,
        // A path component that is a file, not a directory, means the log cannot exist.
        Err(e) if e.raw_os_error() == Some(20) => LogFacts::Missing,
        Err(e) => LogFacts::Unreadable(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a.log");
        assert_eq!(stat_log(&f), LogFacts::Missing);
        std::fs::write(&f, "hello").unwrap();
        assert!(matches!(stat_log(&f), LogFacts::Present { size: 5, odd_kind: None, .. }));
        assert!(matches!(stat_log(dir.path()), LogFacts::Present { odd_kind: Some("directory"), .. }));
        assert_eq!(stat_log(&f.join("x")), LogFacts::Missing);
    }
}
