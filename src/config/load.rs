//! Finding, reading and parsing config files into `Config`, with errors that name the file,
//! line, column and key.

use super::raw::{RawFile, RawWorker};
use super::resolve;
use super::{Config, RegistrySource, WorkerSpec, paths};
use crate::model::Source;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// The embedded default config; `pulsewatch config default` prints it.
pub const DEFAULT_CONFIG: &str = include_str!("../../config/default.toml");

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: `{key}`: {message}")]
    Invalid { path: String, line: usize, column: usize, key: String, message: String },
    /// As root, a config file others may write is not trusted (see `strict`).
    #[error("{0}")]
    Insecure(String),
}

impl ConfigError {
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid { key, .. } => Some(key),
            ConfigError::Read { .. } | ConfigError::Insecure(_) => None,
        }
    }
}

/// The text being parsed, so any span can be turned into a line and column.
pub(super) struct Doc<'a> {
    pub path: &'a str,
    pub text: &'a str,
}

impl Doc<'_> {
    pub fn error(&self, span: Range<usize>, key: &str, message: impl Into<String>) -> ConfigError {
        let (line, column) = line_col(self.text, span.start);
        ConfigError::Invalid {
            path: self.path.to_string(),
            line,
            column,
            key: key.to_string(),
            message: message.into(),
        }
    }

    pub(super) fn toml_error(&self, mut e: toml::de::Error) -> ConfigError {
        let span = e.span().unwrap_or(0..0);
        let message = e.message().trim().to_string();
        // The error's key path is private; its Display shows it when no input is attached.
        e.set_input(None);
        let shown = e.to_string();
        let mut key = shown
            .lines()
            .find_map(|l| l.strip_prefix("in `").and_then(|k| k.strip_suffix('`')))
            .unwrap_or("")
            .to_string();
        if let Some(field) = backticked_after(&message, "unknown field `") {
            key = if key.is_empty() { field } else { format!("{key}.{field}") };
        }
        if key.is_empty() {
            key = key_on_line(self.text, span.start).unwrap_or_else(|| "(document)".into());
        }
        let message = if message.ends_with("expected a duration") {
            format!("{message} such as \"90s\" or \"15m\"")
        } else {
            message
        };
        self.error(span, &key, message)
    }
}

fn backticked_after(msg: &str, prefix: &str) -> Option<String> {
    let rest = &msg[msg.find(prefix)? + prefix.len()..];
    Some(rest[..rest.find('`')?].to_string())
}

/// The `table.key` of a `key = value` line, for parse errors that carry no key path.
fn key_on_line(text: &str, offset: usize) -> Option<String> {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line = text[start..].lines().next()?;
    let (k, _) = line.split_once('=')?;
    let k = k.trim();
    if k.is_empty() || k.starts_with('[') {
        return None;
    }
    let table = text[..start].lines().rev().map(str::trim).find(|l| l.starts_with('['));
    Some(match table {
        Some(t) => format!("{}.{k}", t.trim_start_matches('[').split(']').next().unwrap_or("").trim()),
        None => k.to_string(),
    })
}

/// 1-based line and column (in characters) of a byte offset.
pub(super) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// Loads the config the contract's lookup order selects: `explicit` (`-c`) first.
pub fn load(explicit: Option<&Path>) -> Result<Config, ConfigError> {
    match explicit.map(Path::to_path_buf).or_else(paths::find_config_file) {
        Some(p) => load_file(&p),
        None => Ok(load_embedded()),
    }
}

pub fn load_file(path: &Path) -> Result<Config, ConfigError> {
    if super::strict::as_root() {
        super::strict::check("config file", path).map_err(ConfigError::Insecure)?;
    }
    let text = std::fs::read_to_string(path)
        .map_err(|source| ConfigError::Read { path: path.display().to_string(), source })?;
    load_str(&text, Some(path.to_path_buf()))
}

pub fn load_embedded() -> Config {
    load_str(DEFAULT_CONFIG, None).expect("the embedded default config is valid")
}

pub fn load_str(text: &str, path: Option<PathBuf>) -> Result<Config, ConfigError> {
    let label = path.as_ref().map_or_else(|| "(embedded default)".to_string(), |p| p.display().to_string());
    let doc = Doc { path: &label, text };
    let raw: RawFile = toml::from_str(text).map_err(|e| doc.toml_error(e))?;
    resolve::resolve(&doc, raw, path)
}

/// Parses one registry entry file (the keys of a `[[worker]]`), over the source's settings.
pub fn parse_worker_entry(
    path: &Path,
    text: &str,
    registry: &RegistrySource,
    state_dir: &Path,
) -> Result<WorkerSpec, ConfigError> {
    let label = path.display().to_string();
    let doc = Doc { path: &label, text };
    let raw: RawWorker = toml::from_str(text).map_err(|e| doc.toml_error(e))?;
    let mut spec =
        resolve::worker(&doc, &raw, 0..0, &registry.settings, &registry.presets, state_dir, Source::Registry)?;
    for (k, v) in &registry.labels {
        spec.labels.entry(k.clone()).or_insert_with(|| v.clone());
    }
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions() {
        let t = "a = 1\nbé = 2\n";
        assert_eq!(line_col(t, 0), (1, 1));
        assert_eq!(line_col(t, 6), (2, 1));
        assert_eq!(line_col(t, 11), (2, 5));
        assert_eq!(key_on_line(t, 8).as_deref(), Some("bé"));
        let t = "[daemon]\nx = 1\n\n[[worker]]  # a comment\nid = 2\n";
        assert_eq!(key_on_line(t, t.find("id").unwrap()).as_deref(), Some("worker.id"));
    }

    #[test]
    fn registry_entries() {
        use crate::config::{ProcessSpec, TmuxServer};
        let cfg = load_embedded();
        let reg = cfg.registry();
        let parse = |text: &str| parse_worker_entry(Path::new("/r/w.toml"), text, &reg, Path::new("/s"));
        let attached = "id = \"w\"\nlog = \"logs/w.log\"\ntmux = \"%3\"\ntmux_socket = \"/t/default\"\n\
tmux_pipe = \"exec cat >> '/s/logs/w.log'\"\ntmux_pane_pid = 42\n";
        let spec = parse(attached).unwrap();
        assert_eq!(spec.log, PathBuf::from("/s/logs/w.log"));
        assert_eq!(
            spec.process,
            ProcessSpec::Tmux {
                target: "%3".into(),
                server: TmuxServer::Socket("/t/default".into()),
                pipe: Some("exec cat >> '/s/logs/w.log'".into()),
                pane_pid: Some(42),
            }
        );
        let cases = [
            ("id = \"w\"\nlog = \"x\"\ntmux_pipe = \"cat\"\n", "/r/w.toml:3:", "worker.tmux_pipe"),
            ("id = \"w\"\nlog = \"x\"\ntmux = \"%1\"\ntmux_pane_pid = 0\n", "/r/w.toml:4:", "worker.tmux_pane_pid"),
            ("id = \"w\"\nlog = \"x\"\npid = \"9\"\n", "/r/w.toml:3:", "pid"),
        ];
        for (text, at, key) in cases {
            let e = parse(text).unwrap_err();
            assert!(e.to_string().starts_with(at) && e.key() == Some(key), "{text:?}: {e} (key {:?})", e.key());
        }
        let tmux = cfg.discover.iter().any(|d| matches!(d, crate::config::DiscoverSpec::Tmux(t) if t.only_piped));
        assert!(tmux, "the embedded default discovers piped panes");
    }
}
