//! sshd-style StrictModes for a daemon running as root: a file or directory that decides
//! what pulsewatch runs or watches (the config, a registry directory, a hook program) must
//! not be writable by anyone but its owner, or that anyone could steer root.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Whether the process runs as root, the case these checks are for.
pub fn as_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// `Some(mode)` when `path` (followed through symlinks) is writable by group or others;
/// `None` when it is not, or cannot be looked at (the caller's own read reports that).
pub fn writable_by_others(path: &Path) -> Option<u32> {
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o7777;
    (mode & 0o022 != 0).then_some(mode)
}

/// The message for a refused `what` (e.g. "config file") at `path`.
pub fn refusal(what: &str, path: &Path, mode: u32) -> String {
    format!(
        "refusing {what} {}: it is group- or world-writable (mode {mode:04o}) and pulsewatch runs as root; \
         `chmod go-w` it",
        path.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_or_other_write_bits() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, "").unwrap();
        for (mode, want) in
            [(0o600, false), (0o644, false), (0o755, false), (0o664, true), (0o646, true), (0o1777, true)]
        {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
            assert_eq!(writable_by_others(&p).is_some(), want, "{mode:o}");
        }
        assert_eq!(writable_by_others(&dir.path().join("none")), None);
        let msg = refusal("config file", &p, 0o666);
        assert!(msg.contains("config file") && msg.contains("0666") && msg.contains("chmod go-w"), "{msg}");
    }
}
