//! sshd-style StrictModes for a daemon running as root: a file or directory that decides
//! what pulsewatch runs or watches (the config, a registry directory, a hook program), and
//! every directory above it, must belong to root (or the daemon's own user) and be writable
//! by nobody else, or whoever can write any of them could steer root.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Whether the process runs as root, the case these checks are for.
pub fn as_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// `Err(message)` when `what` at `path` may not be trusted: the object (symlinks followed)
/// or a directory on its canonical path up to `/` is owned by another user than root or the
/// daemon's, or is writable by group or others. A directory with the sticky bit (like
/// `/tmp`) may be writable by others, since they cannot rename or remove what they do not
/// own there; the object itself may not. `Ok` when all is well, and also when `path` cannot
/// be looked at (the caller's own read or spawn reports that).
pub fn check(what: &str, path: &Path) -> Result<(), String> {
    let Ok(real) = std::fs::canonicalize(path) else { return Ok(()) };
    let me = rustix::process::geteuid().as_raw();
    let refuse = |why: String, fix: String| {
        let via = if real == path { String::new() } else { format!(" (that is {})", real.display()) };
        Err(format!("refusing {what} {}{via}: {why}, and pulsewatch runs as root; {fix}", path.display()))
    };
    let Ok(m) = std::fs::metadata(&real) else { return Ok(()) };
    if let Some(why) = bad_owner(m.uid(), me) {
        return refuse(format!("it is {why}"), "`chown root` it".into());
    }
    let mode = m.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return refuse(format!("it is group- or world-writable (mode {mode:04o})"), "`chmod go-w` it".into());
    }
    for dir in real.ancestors().skip(1) {
        let Ok(m) = std::fs::metadata(dir) else { return Ok(()) };
        let d = dir.display();
        if let Some(why) = bad_owner(m.uid(), me) {
            return refuse(format!("the directory {d} above it is {why}"), format!("`chown root {d}`"));
        }
        let mode = m.mode() & 0o7777;
        if mode & 0o022 != 0 && mode & 0o1000 == 0 {
            return refuse(
                format!(
                    "the directory {d} above it is group- or world-writable (mode {mode:04o}), so others could replace it"
                ),
                format!("`chmod go-w {d}` (or `chmod +t` it, like /tmp)"),
            );
        }
    }
    Ok(())
}

/// Why an owner `uid` is not one root may trust, if it is not.
fn bad_owner(uid: u32, me: u32) -> Option<String> {
    (uid != 0 && uid != me).then(|| format!("owned by uid {uid} (not root)"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn chmod(p: &Path, mode: u32) {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn the_object_itself() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, "").unwrap();
        for (mode, ok) in [(0o600, true), (0o644, true), (0o755, true), (0o664, false), (0o646, false), (0o1777, false)]
        {
            chmod(&p, mode);
            let r = check("config file", &p);
            assert_eq!(r.is_ok(), ok, "{mode:o}: {r:?}");
            if let Err(msg) = r {
                assert!(msg.contains(&format!("refusing config file {}: it is group- or world-writable", p.display())));
                assert!(msg.contains(&format!("{mode:04o}")) && msg.contains("chmod go-w"), "{msg}");
            }
        }
        assert_eq!(check("config file", &dir.path().join("none")), Ok(()), "left to the read to report");
    }

    /// Parent directories, sticky ones and owners need root to set up (chown); the tempdir
    /// lies under /tmp, which is sticky, and the rest of the path belongs to root or us.
    #[test]
    fn directories_above_and_owners() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        let p = sub.join("f");
        std::fs::write(&p, "").unwrap();
        assert_eq!(check("config file", &p), Ok(()));
        chmod(&sub, 0o775);
        let msg = check("config file", &p).unwrap_err();
        assert!(
            msg.contains(&format!("the directory {} above it is group- or world-writable (mode 0775)", sub.display()))
        );
        assert!(msg.contains(&format!("chmod go-w {}", sub.display())), "{msg}");
        chmod(&sub, 0o1777);
        assert_eq!(check("config file", &p), Ok(()), "sticky, like /tmp");
        chmod(&sub, 0o755);
        // Reached through a symlink: the target's path is what counts, and both are named.
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&p, &link).unwrap();
        assert_eq!(check("config file", &link), Ok(()));
        chmod(&sub, 0o777);
        let msg = check("config file", &link).unwrap_err();
        assert!(msg.contains(&format!("{} (that is {})", link.display(), p.display())), "{msg}");
        chmod(&sub, 0o755);
        if !as_root() {
            return;
        }
        for owned in [&p, &sub] {
            std::os::unix::fs::chown(owned, Some(65534), None).unwrap();
            let msg = check("config file", &p).unwrap_err();
            assert!(msg.contains("owned by uid 65534 (not root)") && msg.contains("chown root"), "{msg}");
            std::os::unix::fs::chown(owned, Some(0), None).unwrap();
        }
        assert_eq!(check("config file", &p), Ok(()));
    }
}
