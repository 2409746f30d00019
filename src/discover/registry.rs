//! Registry discovery: one `<id>.toml` file per worker in a directory any tool can write to.

use super::Discovery;
use crate::config::{RegistrySource, parse_worker_entry};
use std::path::Path;

pub(super) fn discover(r: &RegistrySource, state_dir: &Path, out: &mut Discovery) {
    let entries = match std::fs::read_dir(&r.dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
        Err(e) => {
            out.warnings.push(format!("{}: cannot list registry: {e}", r.dir.display()));
            return;
        }
    };
    let mut paths: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        // Writers use a temp name and rename; only finished `.toml` files count.
        .filter(|p| super::watch::is_entry(p))
        .collect();
    paths.sort();
    for path in paths {
        let text = match std::fs::read_to_string(&path) {
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
