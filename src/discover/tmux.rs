//! tmux discovery: one worker per pane of a server, from the sweep's pane snapshot.

use super::{Discovery, fill};
use crate::config::{ProcessSpec, TmuxSource, WorkerSpec};
use crate::model::{Source, WorkerId};
use crate::probe::Panes;
use crate::probe::tmux::{Pane, socket_path};
use std::collections::HashSet;
use std::path::PathBuf;

pub(super) fn discover(t: &TmuxSource, panes: &mut Panes, out: &mut Discovery) {
    let list = match panes.list(&t.server) {
        Ok(l) => l,
        Err(e) => {
            out.warnings.push(format!("tmux server {}: cannot list panes: {e}", t.server));
            return;
        }
    };
    for p in list.iter().filter(|p| p.piped || !t.only_piped) {
        match spec(t, p) {
            Ok(s) => out.specs.push(s),
            Err(e) => out.warnings.push(format!("tmux server {} pane {}: skipped: {e}", t.server, p.pane_id)),
        }
    }
}

/// A pane that a `[[worker]]` or registry entry already names (an `attach` with its own
/// `--id` or `--log`, say) is that worker: the template's guess for it is dropped silently.
pub(super) fn drop_claimed(d: &mut Discovery, panes: &mut Panes) {
    let mut claimed = HashSet::new();
    for s in d.specs.iter().filter(|s| s.source != Source::Tmux) {
        if let ProcessSpec::Tmux { target, server, .. } = &s.process {
            if let Ok(Some(p)) = panes.find(server, target) {
                claimed.insert((socket_path(server), p.pane_id.clone()));
            }
        }
    }
    if claimed.is_empty() {
        return;
    }
    d.specs.retain(|s| match &s.process {
        ProcessSpec::Tmux { target, server, .. } if s.source == Source::Tmux => {
            !claimed.contains(&(socket_path(server), target.clone()))
        }
        _ => true,
    });
}

/// Pane names are free text: every value is mapped onto the id alphabet before it fills a
/// template, so `{session}` can neither break an id nor climb out of a directory, and the
/// id and log agree with what `pulsewatch attach` picks for the same session.
fn spec(t: &TmuxSource, p: &Pane) -> Result<WorkerSpec, crate::model::InvalidId> {
    let clean = |s: &str| WorkerId::sanitize(s).map(String::from).unwrap_or_default();
    let (session, window, pane, pane_id) = (clean(&p.session), clean(&p.window), clean(&p.pane), clean(&p.pane_id));
    let vars = [("session", session.as_str()), ("window", &window), ("pane", &pane), ("pane_id", &pane_id)];
    Ok(WorkerSpec {
        id: WorkerId::new(fill(&t.id, &vars))?,
        log: PathBuf::from(fill(&t.log, &vars)),
        process: ProcessSpec::Tmux { target: p.pane_id.clone(), server: t.server.clone(), pipe: None, pane_pid: None },
        source: Source::Tmux,
        settings: t.settings.clone(),
        labels: t.labels.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{TmuxServer, WorkerSettings};

    fn pane(session: &str, id: &str, piped: bool) -> Pane {
        Pane {
            session: session.into(),
            window: "1".into(),
            window_name: "w".into(),
            pane: "0".into(),
            pane_id: id.into(),
            pane_pid: 42,
            dead: false,
            piped,
            active: true,
            window_active: true,
            window_activity: None,
            window_panes: 1,
        }
    }

    #[test]
    fn panes_become_workers() {
        let server = TmuxServer::Name("t".into());
        let mut source = TmuxSource {
            server: server.clone(),
            log: "/logs/{session}-{window}.{pane}-{pane_id}.log".into(),
            id: "{session}".into(),
            only_piped: true,
            settings: WorkerSettings::default().into(),
            labels: Default::default(),
        };
        let panes = vec![pane("agent", "%1", true), pane("idle", "%2", false), pane("../my sess", "%3", true)];
        let mut snapshot = Panes::with(server.clone(), panes);
        let mut d = Discovery::default();
        discover(&source, &mut snapshot, &mut d);
        let got: Vec<(&str, PathBuf)> = d.specs.iter().map(|s| (s.id.as_str(), s.log.clone())).collect();
        assert_eq!(
            got,
            vec![("agent", "/logs/agent-1.0-_1.log".into()), (".._my_sess", "/logs/.._my_sess-1.0-_3.log".into())]
        );
        let target = ProcessSpec::Tmux { target: "%1".into(), server: server.clone(), pipe: None, pane_pid: None };
        assert_eq!(d.specs[0].process, target);
        assert!(d.warnings.is_empty());

        source.only_piped = false;
        let mut d = Discovery::default();
        discover(&source, &mut snapshot, &mut d);
        assert_eq!(d.specs.len(), 3);
    }

    #[test]
    fn panes_named_elsewhere_are_not_guessed_again() {
        let server = TmuxServer::Name("t".into());
        let source = TmuxSource {
            server: server.clone(),
            log: "/logs/{session}.log".into(),
            id: "{session}".into(),
            only_piped: true,
            settings: WorkerSettings::default().into(),
            labels: Default::default(),
        };
        let mut snapshot = Panes::with(server.clone(), vec![pane("work", "%1", true), pane("other", "%2", true)]);
        let mut d = Discovery::default();
        discover(&source, &mut snapshot, &mut d);
        // Registered by its socket path under another id: the same pane, the same worker.
        let mut custom = d.specs[0].clone();
        custom.id = WorkerId::new("custom").unwrap();
        custom.source = Source::Registry;
        custom.process = ProcessSpec::Tmux {
            target: "work".into(),
            server: TmuxServer::Socket(socket_path(&server)),
            pipe: None,
            pane_pid: None,
        };
        d.specs.push(custom);
        drop_claimed(&mut d, &mut snapshot);
        let ids: Vec<&str> = d.specs.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, vec!["other", "custom"]);
    }
}
