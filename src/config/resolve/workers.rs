//! Validation of one worker: a `[[worker]]` table or a registry entry.

use super::*;

pub(in crate::config) fn worker(
    doc: &Doc,
    w: &RawWorker,
    table: Range<usize>,
    base: &Arc<WorkerSettings>,
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
        settings: shared(apply(doc, &w.overrides(), base, presets, "worker")?, base),
        labels: labels(doc, &w.labels)?,
    })
}

/// A worker without overrides shares its base's settings (a registry of 10,000 entries
/// holds one copy).
fn shared(s: WorkerSettings, base: &Arc<WorkerSettings>) -> Arc<WorkerSettings> {
    if s == **base { base.clone() } else { Arc::new(s) }
}

pub(super) fn pid(doc: &Doc, p: &Spanned<i64>, key: &str) -> Result<i32, ConfigError> {
    let n = *p.get_ref();
    i32::try_from(n).ok().filter(|n| *n >= 1).ok_or_else(|| doc.error(p.span(), key, format!("{n} is not a valid PID")))
}

pub(super) fn labels(doc: &Doc, l: &Labels) -> Result<BTreeMap<String, String>, ConfigError> {
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
