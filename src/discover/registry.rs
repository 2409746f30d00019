//! Registry discovery: one `<id>.toml` file per worker in a directory any tool can write to.

use super::Discovery;
use crate::config::{RegistrySource, parse_worker_entry};
use std::path::Path;

/// An entry is a handful of keys; anything much larger is not one.
const ENTRY_LIMIT: usize = 64 * 1024;

pub(super) fn discover(r: &RegistrySource, state_dir: &Path, out: &mut Discovery) {
    let entries = match std::fs::read_dir(&r.dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
        Err(e) => {
            out.warnings.push(format!("{}: cannot list registry: {e}", r.dir.display()));
            return;
        }
    };
    // As root, entries in a directory another user may write or replace (itself or a
    // directory above it) would let them name the logs and pidfiles root looks at (and the
    // workers hooks are run for).
    if crate::config::strict::as_root() {
        if let Err(msg) = crate::config::strict::check("registry directory", &r.dir) {
            out.warnings.push(msg);
            return;
        }
    }
    let mut paths: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        // Writers use a temp name and rename; only finished `.toml` files count.
        .filter(|p| super::watch::is_entry(p))
        .collect();
    paths.sort();
    for path in paths {
        // Anyone who may write the directory may put a FIFO or a huge file there.
        let read = crate::probe::file::read_small(&path, ENTRY_LIMIT)
            .and_then(|b| String::from_utf8(b).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e)));
        let text = match read {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                out.warnings.push(format!("{}: skipped: {e}", path.display()));
                continue;
            }
        };
        match parse_worker_entry(&path, &text, r, state_dir) {
            Ok(spec) => out.specs.push(spec),
            Err(e) => out.warnings.push(format!("skipped registry entry: {e}")),
        }
    }
}
