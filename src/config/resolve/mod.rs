//! Validation: turns the raw file into `Config`, checking every rule the contract sets.

use super::load::{ConfigError, Doc};
use super::raw::{Dur, Labels, RawDaemon, RawDiscover, RawFile, RawHook, RawOverrides, RawWorker};
use super::*;
use globset::{Glob, GlobSetBuilder};
use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;
use toml::Spanned;

mod discover;
mod hook;
mod workers;

use discover::discover;
use hook::hook;
use workers::labels;
pub(super) use workers::worker;

fn dur(d: &Dur) -> Duration {
    **d.get_ref()
}

pub(super) fn resolve(doc: &Doc, raw: RawFile, path: Option<PathBuf>) -> Result<Config, ConfigError> {
    let daemon = daemon(doc, &raw.daemon)?;
    let presets = Arc::new(PresetLibrary::load(daemon.presets_dir.as_deref())?);
    let defaults = apply(doc, &raw.defaults.overrides(), &WorkerSettings::default(), &presets, "defaults")?;
    let state_dir = daemon.state_dir.clone();

    let shared = Arc::new(defaults.clone());
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut workers = Vec::with_capacity(raw.worker.len());
    for w in &raw.worker {
        let spec = worker(doc, w.get_ref(), w.span(), &shared, &presets, &state_dir, Source::Config)?;
        let at = w.get_ref().id.as_ref().map_or(w.span(), |i| i.span());
        if let Some(first) = seen.insert(spec.id.to_string(), at.start) {
            let (line, _) = super::load::line_col(doc.text, first);
            return Err(doc.error(
                at,
                "worker.id",
                format!("duplicate worker id {:?} (first defined on line {line})", spec.id.as_str()),
            ));
        }
        workers.push(spec);
    }

    let discover = raw
        .discover
        .iter()
        .map(|d| discover(doc, d, &defaults, &presets, &state_dir))
        .collect::<Result<Vec<_>, _>>()?;
    let hooks = raw.hook.iter().map(|h| hook(doc, h)).collect::<Result<Vec<_>, _>>()?;
    Ok(Config { path, daemon, defaults, workers, discover, hooks, presets })
}

fn daemon(doc: &Doc, d: &RawDaemon) -> Result<DaemonSettings, ConfigError> {
    let state_dir =
        d.state_dir.as_deref().map(|s| paths::expand(s, Path::new("/"))).unwrap_or_else(paths::default_state_dir);
    let runtime = paths::default_runtime_dir(&state_dir);
    let path_or = |v: &Option<String>, default: PathBuf| v.as_deref().map_or(default, |s| paths::expand(s, &state_dir));
    let positive = |v: &Option<Dur>, key: &str, default: u64| -> Result<Duration, ConfigError> {
        match v {
            None => Ok(Duration::from_secs(default)),
            Some(d) if dur(d).is_zero() => Err(doc.error(d.span(), key, "must be greater than 0s")),
            Some(d) => Ok(dur(d)),
        }
    };
    let hook_concurrency = match &d.hook_concurrency {
        None => 8,
        Some(n) if *n.get_ref() == 0 => {
            return Err(doc.error(n.span(), "daemon.hook_concurrency", "must be at least 1"));
        }
        Some(n) => *n.get_ref(),
    };
    let listen = match &d.listen {
        None => None,
        Some(l) => Some(l.get_ref().parse().map_err(|_| {
            doc.error(
                l.span(),
                "daemon.listen",
                format!("{:?} is not an ADDRESS:PORT such as \"127.0.0.1:9464\"", l.get_ref()),
            )
        })?),
    };
    Ok(DaemonSettings {
        sweep_interval: positive(&d.sweep_interval, "daemon.sweep_interval", 5)?,
        status_file: path_or(&d.status_file, runtime.join("status.json")),
        event_log: path_or(&d.event_log, state_dir.join("events.ndjson")),
        heartbeat_file: path_or(&d.heartbeat_file, runtime.join("heartbeat.json")),
        heartbeat_interval: positive(&d.heartbeat_interval, "daemon.heartbeat_interval", 10)?,
        liveness_every: Some(d.liveness_every.as_ref().map_or(Duration::from_secs(60), dur)).filter(|d| !d.is_zero()),
        forget_after: positive(&d.forget_after, "daemon.forget_after", 24 * 3600)?,
        hook_concurrency,
        listen,
        auth_token_file: d.auth_token_file.as_deref().map(|s| paths::expand(s, &state_dir)),
        textfile: d.textfile.as_deref().map(|s| paths::expand(s, &state_dir)),
        presets_dir: d.presets_dir.as_deref().map(|s| paths::expand(s, &state_dir)),
        state_dir,
    })
}

/// Applies a table's overrides to `base` and checks the threshold rules on the result.
fn apply(
    doc: &Doc,
    o: &RawOverrides,
    base: &WorkerSettings,
    presets: &PresetLibrary,
    table: &str,
) -> Result<WorkerSettings, ConfigError> {
    let mut s = base.clone();
    let t = &mut s.thresholds;
    if let Some(d) = o.quiet_after {
        t.quiet_after = dur(d);
    }
    if let Some(d) = o.stalled_after {
        t.stalled_after = dur(d);
    }
    if let Some(d) = o.start_grace {
        t.start_grace = dur(d);
    }
    if let Some(d) = o.flap_window {
        if dur(d).is_zero() {
            return Err(doc.error(d.span(), &format!("{table}.flap_window"), "must be greater than 0s"));
        }
        t.flap_window = dur(d);
    }
    if let Some(n) = o.flap_threshold {
        if *n.get_ref() < 2 {
            return Err(doc.error(n.span(), &format!("{table}.flap_threshold"), "must be at least 2"));
        }
        t.flap_threshold = *n.get_ref();
    }
    // Point at whichever threshold this table set, so the message lands on the line to fix.
    let blame = o.quiet_after.or(o.stalled_after).map(|d| d.span());
    if t.quiet_after.is_zero() {
        return Err(doc.error(blame.unwrap_or(0..0), &format!("{table}.quiet_after"), "must be greater than 0s"));
    }
    if t.quiet_after >= t.stalled_after {
        let span = o.stalled_after.or(o.quiet_after).map(|d| d.span()).unwrap_or(0..0);
        let key = if o.stalled_after.is_some() { "stalled_after" } else { "quiet_after" };
        return Err(doc.error(
            span,
            &format!("{table}.{key}"),
            format!(
                "quiet_after ({}) must be shorter than stalled_after ({})",
                humantime::format_duration(t.quiet_after),
                humantime::format_duration(t.stalled_after)
            ),
        ));
    }
    if let Some(a) = o.activity {
        s.activity = match a.get_ref().as_str() {
            "mtime" => Activity::Mtime,
            "content" => Activity::Content,
            other => {
                return Err(doc.error(
                    a.span(),
                    &format!("{table}.activity"),
                    format!("unknown activity {other:?} (expected \"mtime\" or \"content\")"),
                ));
            }
        };
    }
    content_rules(doc, o, &mut s, presets, table)?;
    if let Some(d) = o.input_after {
        s.input_after = dur(d);
    }
    if let Some(r) = o.repipe {
        s.repipe = r;
    }
    Ok(s)
}

/// `ignore_preset`, `ignore` and `min_new_chars`: checked, then compiled into `rules` when
/// one of them is set here (else the base's compiled rules are shared).
fn content_rules(
    doc: &Doc,
    o: &RawOverrides,
    s: &mut WorkerSettings,
    presets: &PresetLibrary,
    table: &str,
) -> Result<(), ConfigError> {
    // The base's rules may come from another library (the embedded one, for the defaults).
    let current = presets.get(&s.ignore_preset).is_some_and(|p| Arc::ptr_eq(p, &s.rules.preset));
    if current && o.ignore_preset.is_none() && o.ignore.is_none() && o.min_new_chars.is_none() {
        return Ok(());
    }
    if let Some(p) = o.ignore_preset {
        if presets.get(p.get_ref()).is_none() {
            return Err(doc.error(
                p.span(),
                &format!("{table}.ignore_preset"),
                format!("unknown preset {:?} (available: {})", p.get_ref(), presets.names()),
            ));
        }
        s.ignore_preset = p.get_ref().clone();
    }
    if let Some(i) = o.ignore {
        s.ignore = i.get_ref().iter().map(|p| p.get_ref().clone()).collect();
    }
    if let Some(n) = o.min_new_chars {
        if *n.get_ref() == 0 {
            return Err(doc.error(n.span(), &format!("{table}.min_new_chars"), "must be at least 1"));
        }
        s.min_new_chars = *n.get_ref();
    }
    // Named presets were checked where they were named, against this same library.
    let preset = presets.get(&s.ignore_preset).cloned().ok_or_else(|| {
        doc.error(
            0..0,
            &format!("{table}.ignore_preset"),
            format!("unknown preset {:?} (available: {})", s.ignore_preset, presets.names()),
        )
    })?;
    let rules = Rules::new(preset, s.ignore.clone(), s.min_new_chars).map_err(|e| {
        let span = o.ignore.and_then(|i| i.get_ref().get(e.index)).map_or(0..0, |p| p.span());
        doc.error(span, &format!("{table}.ignore"), format!("invalid regex {:?}: {}", e.pattern, e.message))
    })?;
    s.rules = Arc::new(rules);
    Ok(())
}

fn text(v: &Option<Spanned<String>>) -> Option<&str> {
    v.as_ref().map(|s| s.get_ref().as_str())
}
