//! Validation: turns the raw file into `Config`, checking every rule the contract sets.

use super::load::{ConfigError, Doc};
use super::raw::{Dur, Labels, RawDaemon, RawDiscover, RawFile, RawHook, RawOverrides, RawWorker};
use super::*;
use globset::{Glob, GlobSetBuilder};
use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;
use toml::Spanned;

fn dur(d: &Dur) -> Duration {
    **d.get_ref()
}

pub(super) fn resolve(doc: &Doc, raw: RawFile, path: Option<PathBuf>) -> Result<Config, ConfigError> {
    let daemon = daemon(doc, &raw.daemon)?;
    let presets = Arc::new(PresetLibrary::load(daemon.presets_dir.as_deref())?);
    let defaults = apply(doc, &raw.defaults.overrides(), &WorkerSettings::default(), &presets, "defaults")?;
    let state_dir = daemon.state_dir.clone();

    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut workers = Vec::with_capacity(raw.worker.len());
    for w in &raw.worker {
        let spec = worker(doc, w.get_ref(), w.span(), &defaults, &presets, &state_dir, Source::Config)?;
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

pub(super) fn worker(
    doc: &Doc,
    w: &RawWorker,
    table: Range<usize>,
    base: &WorkerSettings,
    presets: &PresetLibrary,
    state_dir: &Path,
    source: Source,
) -> Result<WorkerSpec, ConfigError> {
    let id_raw =
        w.id.as_ref().ok_or_else(|| doc.error(table.clone(), "worker.id", "missing (every worker needs an id)"))?;
    let id =
        WorkerId::new(id_raw.get_ref().as_str()).map_err(|e| doc.error(id_raw.span(), "worker.id", e.to_string()))?;
    let log = w
        .log
        .as_ref()
        .ok_or_else(|| doc.error(table.clone(), "worker.log", "missing (every worker needs a log path)"))?;
    let given: Vec<&str> = [("pid", w.pid.is_some()), ("pidfile", w.pidfile.is_some()), ("tmux", w.tmux.is_some())]
        .into_iter()
        .filter_map(|(k, set)| set.then_some(k))
        .collect();
    if given.len() > 1 {
        let span = w.pidfile.as_ref().map(|p| p.span()).or(w.tmux.as_ref().map(|t| t.span())).unwrap_or(table);
        return Err(doc.error(
            span,
            &format!("worker.{}", given[1]),
            format!("use only one of pid, pidfile, tmux (found {})", given.join(", ")),
        ));
    }
    if w.tmux.is_none() {
        let stray = [
            ("tmux_socket", w.tmux_socket.as_ref().map(|s| s.span())),
            ("tmux_pipe", w.tmux_pipe.as_ref().map(|s| s.span())),
            ("tmux_pane_pid", w.tmux_pane_pid.as_ref().map(|s| s.span())),
        ];
        if let Some((key, Some(span))) = stray.into_iter().find(|(_, s)| s.is_some()) {
            return Err(doc.error(span, &format!("worker.{key}"), "only meaningful together with tmux"));
        }
    }
    let process = if let Some(p) = &w.pid {
        ProcessSpec::Pid(pid(doc, p, "worker.pid")?)
    } else if let Some(pf) = text(&w.pidfile) {
        ProcessSpec::Pidfile(paths::expand(pf, state_dir))
    } else if let Some(t) = &w.tmux {
        if t.get_ref().trim().is_empty() {
            return Err(doc.error(
                t.span(),
                "worker.tmux",
                "must name a tmux target such as \"%3\" or \"session:1.0\"",
            ));
        }
        ProcessSpec::Tmux {
            target: t.get_ref().clone(),
            server: text(&w.tmux_socket).map_or(TmuxServer::Default, TmuxServer::parse),
            pipe: text(&w.tmux_pipe).map(str::to_string),
            pane_pid: w.tmux_pane_pid.as_ref().map(|p| pid(doc, p, "worker.tmux_pane_pid")).transpose()?,
        }
    } else {
        ProcessSpec::None
    };
    Ok(WorkerSpec {
        id,
        log: paths::expand(log.get_ref(), state_dir),
        process,
        source,
        settings: apply(doc, &w.overrides(), base, presets, "worker")?,
        labels: labels(doc, &w.labels)?,
    })
}

fn pid(doc: &Doc, p: &Spanned<i64>, key: &str) -> Result<i32, ConfigError> {
    let n = *p.get_ref();
    i32::try_from(n).ok().filter(|n| *n >= 1).ok_or_else(|| doc.error(p.span(), key, format!("{n} is not a valid PID")))
}

fn labels(doc: &Doc, l: &Labels) -> Result<BTreeMap<String, String>, ConfigError> {
    for k in l.keys() {
        let name = k.get_ref();
        let ok = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok {
            return Err(doc.error(
                k.span(),
                &format!("labels.{name}"),
                "label names must match [A-Za-z_][A-Za-z0-9_]* (they become metric labels and environment names)",
            ));
        }
    }
    Ok(l.iter().map(|(k, v)| (k.get_ref().clone(), v.clone())).collect())
}

fn discover(
    doc: &Doc,
    d: &Spanned<RawDiscover>,
    defaults: &WorkerSettings,
    presets: &Arc<PresetLibrary>,
    state_dir: &Path,
) -> Result<DiscoverSpec, ConfigError> {
    let span = d.span();
    let d = d.get_ref();
    let kinds: Vec<(&str, Range<usize>)> = [("logs", &d.logs), ("tmux", &d.tmux), ("registry", &d.registry)]
        .into_iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| (k, v.span())))
        .collect();
    if kinds.len() != 1 {
        // Blame the second kind: that is the line to delete (or move to a [[discover]] of its own).
        let (key, at) =
            kinds.get(1).map_or(("discover".to_string(), span), |(k, s)| (format!("discover.{k}"), s.clone()));
        let kinds: Vec<&str> = kinds.iter().map(|(k, _)| *k).collect();
        return Err(doc.error(
            at,
            &key,
            format!(
                "each [[discover]] needs exactly one of logs, tmux, registry (found {})",
                if kinds.is_empty() { "none".to_string() } else { kinds.join(", ") }
            ),
        ));
    }
    let settings = apply(doc, &d.overrides(), defaults, presets, "discover")?;
    let labels = labels(doc, &d.labels)?;
    let stray = |at: Option<Range<usize>>, key: &str, kind: &str| -> Result<(), ConfigError> {
        match at {
            Some(at) => Err(doc.error(at, &format!("discover.{key}"), format!("not used by a {kind} source"))),
            None => Ok(()),
        }
    };
    let at = |v: &Option<Spanned<String>>| v.as_ref().map(|v| v.span());
    let only_piped = d.only_piped.as_ref().map(|v| v.span());
    if let Some(logs) = &d.logs {
        stray(at(&d.log), "log", "logs glob")?;
        stray(only_piped, "only_piped", "logs glob")?;
        let pattern = paths::expand(logs.get_ref(), state_dir).to_string_lossy().into_owned();
        Glob::new(&pattern).map_err(|e| doc.error(logs.span(), "discover.logs", format!("bad glob: {e}")))?;
        let id = text(&d.id).unwrap_or("{stem}").to_string();
        check_template(doc, d.id.as_ref(), "discover.id", &id, &["stem", "name"])?;
        if let Some(p) = &d.pidfile {
            check_template(doc, Some(p), "discover.pidfile", p.get_ref(), &["stem", "name"])?;
        }
        let pidfile = text(&d.pidfile).map(|p| paths::expand(p, state_dir).to_string_lossy().into_owned());
        return Ok(DiscoverSpec::Glob(GlobSource { pattern, id, pidfile, settings, labels }));
    }
    if let Some(server) = &d.tmux {
        stray(at(&d.pidfile), "pidfile", "tmux")?;
        let pane_keys = ["session", "window", "pane", "pane_id"];
        let log = d.log.as_ref().ok_or_else(|| {
            doc.error(
                server.span(),
                "discover.log",
                "a tmux source needs a log template, e.g. \"~/logs/{session}.log\"",
            )
        })?;
        check_template(doc, Some(log), "discover.log", log.get_ref(), &pane_keys)?;
        let id = text(&d.id).unwrap_or("{session}").to_string();
        check_template(doc, d.id.as_ref(), "discover.id", &id, &pane_keys)?;
        return Ok(DiscoverSpec::Tmux(TmuxSource {
            server: TmuxServer::parse(server.get_ref()),
            log: paths::expand(log.get_ref(), state_dir).to_string_lossy().into_owned(),
            id,
            only_piped: d.only_piped.as_ref().is_none_or(|v| *v.get_ref()),
            settings,
            labels,
        }));
    }
    let reg = d.registry.as_ref().expect("one kind is set");
    for (set, key) in [(at(&d.id), "id"), (at(&d.log), "log"), (at(&d.pidfile), "pidfile"), (only_piped, "only_piped")]
    {
        stray(set, key, "registry")?;
    }
    Ok(DiscoverSpec::Registry(RegistrySource {
        dir: paths::expand(reg.get_ref(), state_dir),
        settings,
        labels,
        presets: presets.clone(),
    }))
}

/// Rejects `{placeholders}` the source cannot fill, so a typo fails at load, not per sweep.
fn check_template(
    doc: &Doc,
    at: Option<&Spanned<String>>,
    key: &str,
    t: &str,
    allowed: &[&str],
) -> Result<(), ConfigError> {
    let mut rest = t;
    while let Some(open) = rest.find('{') {
        let close = rest[open..].find('}').map(|c| open + c);
        let name = close.map(|c| &rest[open + 1..c]);
        match name {
            Some(n) if allowed.contains(&n) => rest = &rest[close.unwrap() + 1..],
            _ => {
                let span = at.map_or(0..0, |s| s.span());
                let list: Vec<String> = allowed.iter().map(|a| format!("{{{a}}}")).collect();
                return Err(doc.error(
                    span,
                    key,
                    format!("unknown placeholder in {t:?} (allowed: {})", list.join(" ")),
                ));
            }
        }
    }
    Ok(())
}

fn hook(doc: &Doc, h: &Spanned<RawHook>) -> Result<HookSpec, ConfigError> {
    let span = h.span();
    let h = h.get_ref();
    let command = h.command.as_ref().ok_or_else(|| {
        doc.error(span.clone(), "hook.command", "missing (an argv list such as [\"/usr/local/bin/alert\", \"--now\"])")
    })?;
    if command.get_ref().first().is_none_or(|c| c.is_empty()) {
        return Err(doc.error(command.span(), "hook.command", "must not be empty"));
    }
    let program = &command.get_ref()[0];
    let name = match &h.name {
        Some(n) if n.get_ref().is_empty() => return Err(doc.error(n.span(), "hook.name", "must not be empty")),
        Some(n) => n.get_ref().clone(),
        None => Path::new(program).file_name().map_or_else(|| program.clone(), |f| f.to_string_lossy().into_owned()),
    };
    let on = match &h.on {
        None => vec![OnPattern::Any],
        Some(list) => {
            if list.get_ref().is_empty() {
                return Err(doc.error(list.span(), "hook.on", "must list at least one pattern"));
            }
            list.get_ref()
                .iter()
                .map(|p| {
                    let text = p.get_ref();
                    OnPattern::parse(text).map_err(|e| doc.error(p.span(), "hook.on", format!("{text:?}: {e}")))
                })
                .collect::<Result<Vec<_>, _>>()?
        }
    };
    let workers = match &h.workers {
        None => None,
        Some(globs) => {
            let mut b = GlobSetBuilder::new();
            for g in globs.get_ref() {
                b.add(
                    Glob::new(g)
                        .map_err(|e| doc.error(globs.span(), "hook.workers", format!("bad glob {g:?}: {e}")))?,
                );
            }
            let set = b.build().map_err(|e| doc.error(globs.span(), "hook.workers", e.to_string()))?;
            Some((globs.get_ref().clone(), set))
        }
    };
    let timeout = h.timeout.as_ref().map_or(Duration::from_secs(30), dur);
    if timeout.is_zero() {
        return Err(doc.error(h.timeout.as_ref().unwrap().span(), "hook.timeout", "must be greater than 0s"));
    }
    let repeat = h.repeat.as_ref().map(dur);
    if let (Some(r), Some(d)) = (repeat, &h.repeat) {
        if r.is_zero() {
            return Err(doc.error(
                d.span(),
                "hook.repeat",
                "must be greater than 0s (leave it out to turn reminders off)",
            ));
        }
    }
    Ok(HookSpec {
        name,
        command: command.get_ref().clone(),
        on,
        workers,
        timeout,
        retries: h.retries.unwrap_or(2),
        repeat,
    })
}
