//! Reading small files that other users write (pidfiles, registry entries): opened without
//! blocking, only when they are regular files, and only up to a limit, so a FIFO, a device
//! or a huge file put in their place can neither hang nor swamp a sweep.

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// At most `limit` bytes of the regular file at `path` (following symlinks). A FIFO,
/// directory or device is an `InvalidInput` error naming what it is; a file longer than
/// `limit` is an `InvalidData` error.
pub fn read_small(path: &Path, limit: usize) -> std::io::Result<Vec<u8>> {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer.
    let f = std::fs::File::options().read(true).custom_flags(libc::O_NONBLOCK).open(path)?;
    let ft = f.metadata()?.file_type();
    if !ft.is_file() {
        let kind = if ft.is_dir() { "a directory" } else { "not a regular file" };
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, kind));
    }
    let mut buf = Vec::new();
    f.take(limit as u64 + 1).read_to_end(&mut buf)?;
    if buf.len() > limit {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, format!("longer than {limit} bytes")));
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_small_regular_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, "1234").unwrap();
        assert_eq!(read_small(&p, 4).unwrap(), b"1234");
        assert_eq!(read_small(&p, 3).unwrap_err().kind(), std::io::ErrorKind::InvalidData);
        assert_eq!(read_small(dir.path(), 9).unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
        assert_eq!(read_small(Path::new("/dev/zero"), 9).unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
        let fifo = dir.path().join("fifo");
        rustix::fs::mknodat(rustix::fs::CWD, &fifo, rustix::fs::FileType::Fifo, 0o600.into(), 0).unwrap();
        // Returns at once instead of waiting for a writer.
        assert_eq!(read_small(&fifo, 9).unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
        assert_eq!(read_small(&dir.path().join("none"), 9).unwrap_err().kind(), std::io::ErrorKind::NotFound);
    }
}
