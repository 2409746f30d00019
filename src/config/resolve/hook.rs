//! Validation of `[[hook]]` tables.

use super::*;

pub(super) fn hook(doc: &Doc, h: &Spanned<RawHook>) -> Result<HookSpec, ConfigError> {
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
