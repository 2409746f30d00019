//! Atomic file replacement: readers see the old file or the new one, never a torn one.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Temp files are named `.pulsewatch-*.tmp`, so ones left by a kill can be found.
pub const TEMP_PREFIX: &str = ".pulsewatch-";
pub const TEMP_SUFFIX: &str = ".tmp";

/// Writes `bytes` to a temp file beside `path`, then renames it over `path`. `durable`
/// adds an fsync of the data before the rename and of the directory after it (for state
/// that must survive a crash or a power loss).
pub fn write(path: &Path, bytes: &[u8], mode: u32, durable: bool) -> std::io::Result<()> {
    write_with(path, mode, durable, |f| f.write_all(bytes))
}

/// `write`, with the content produced by `fill` into the temp file.
pub fn write_with(
    path: &Path,
    mode: u32,
    durable: bool,
    fill: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new().prefix(TEMP_PREFIX).suffix(TEMP_SUFFIX).tempfile_in(dir)?;
    fill(tmp.as_file_mut())?;
    tmp.as_file().set_permissions(std::fs::Permissions::from_mode(mode))?;
    if durable {
        tmp.as_file().sync_all()?;
    }
    tmp.persist(path).map_err(|e| e.error)?;
    if durable {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_and_sets_mode() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/s.json");
        write(&p, b"one", 0o644, false).unwrap();
        write(&p, b"two", 0o600, true).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read_dir(dir.path().join("sub")).unwrap().count(), 1, "no temp files left");
    }
}
