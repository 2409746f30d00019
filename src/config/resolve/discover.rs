//! Validation of `[[discover]]` sources and their `{placeholder}` templates.

use super::*;

pub(super) fn discover(
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
    let settings = Arc::new(apply(doc, &d.overrides(), defaults, presets, "discover")?);
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
