//! Filesystem locations: `~/` expansion and the default state and runtime directories.

use std::path::{Path, PathBuf};

pub fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME").filter(|h| !h.is_empty()).map(PathBuf::from)
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Expands a leading `~/` and resolves a relative path against `base` (the state dir), so an
/// embedded config can name places without knowing who runs it.
pub fn expand(raw: &str, base: &Path) -> PathBuf {
    let p = if raw == "~" {
        home_dir().unwrap_or_else(|| PathBuf::from("/"))
    } else if let Some(rest) = raw.strip_prefix("~/") {
        home_dir().unwrap_or_else(|| PathBuf::from("/")).join(rest)
    } else {
        PathBuf::from(raw)
    };
    if p.is_absolute() { p } else { base.join(p) }
}

/// systemd's `StateDirectory=` wins, then root's `/var/lib/pulsewatch`, then XDG for users.
pub fn default_state_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("STATE_DIRECTORY").filter(|d| !d.is_empty()) {
        // systemd may pass several, colon separated; the first is ours.
        let s = d.to_string_lossy();
        return PathBuf::from(s.split(':').next().unwrap_or(&s));
    }
    if is_root() {
        return PathBuf::from("/var/lib/pulsewatch");
    }
    if let Some(x) = std::env::var_os("XDG_STATE_HOME").filter(|x| !x.is_empty()) {
        return PathBuf::from(x).join("pulsewatch");
    }
    home_dir().map(|h| h.join(".local/state/pulsewatch")).unwrap_or_else(|| PathBuf::from("/tmp/pulsewatch-state"))
}

/// Where the status and heartbeat files live: `RuntimeDirectory=`, `/run/pulsewatch` for
/// root, `$XDG_RUNTIME_DIR/pulsewatch`, else `<state_dir>/run`.
pub fn default_runtime_dir(state_dir: &Path) -> PathBuf {
    if let Some(d) = std::env::var_os("RUNTIME_DIRECTORY").filter(|d| !d.is_empty()) {
        let s = d.to_string_lossy();
        return PathBuf::from(s.split(':').next().unwrap_or(&s));
    }
    if is_root() {
        return PathBuf::from("/run/pulsewatch");
    }
    if let Some(x) = std::env::var_os("XDG_RUNTIME_DIR").filter(|x| !x.is_empty()) {
        return PathBuf::from(x).join("pulsewatch");
    }
    state_dir.join("run")
}

/// The config lookup order of the contract, after `-c`: `$PULSEWATCH_CONFIG`, the XDG user
/// file, the system file. `None` means the embedded default.
pub fn find_config_file() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("PULSEWATCH_CONFIG").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let xdg = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|x| !x.is_empty())
        .map(PathBuf::from)
        .or_else(|| home_dir().map(|h| h.join(".config")));
    if let Some(p) = xdg.map(|x| x.join("pulsewatch/pulsewatch.toml")) {
        if p.exists() {
            return Some(p);
        }
    }
    let sys = PathBuf::from("/etc/pulsewatch/pulsewatch.toml");
    sys.exists().then_some(sys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expansion() {
        let base = Path::new("/state");
        assert_eq!(expand("/abs/x.log", base), PathBuf::from("/abs/x.log"));
        assert_eq!(expand("logs/*.log", base), PathBuf::from("/state/logs/*.log"));
        if let Some(h) = home_dir() {
            assert_eq!(expand("~/a", base), h.join("a"));
        }
    }
}
