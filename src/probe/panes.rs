//! A sweep's view of tmux: each server is asked once (`list-panes -a`), on first need, and
//! discovery and every tmux worker's probe read that one answer.

use super::tmux::{Pane, list_panes, socket_path};
use crate::config::TmuxServer;
use std::collections::HashMap;
use std::path::PathBuf;

/// Keyed by socket path, so `default` and the same server named by its socket are one.
#[derive(Debug, Default)]
pub struct Panes {
    servers: HashMap<PathBuf, Result<Vec<Pane>, String>>,
}

impl Panes {
    /// A snapshot with known contents (tests, and callers that listed already).
    pub fn with(server: TmuxServer, panes: Vec<Pane>) -> Panes {
        Panes { servers: HashMap::from([(socket_path(&server), Ok(panes))]) }
    }

    /// The server's panes; the first call per server runs tmux, later ones reuse the answer.
    pub fn list(&mut self, server: &TmuxServer) -> Result<&[Pane], &str> {
        self.servers
            .entry(socket_path(server))
            .or_insert_with(|| list_panes(server).map_err(|e| e.to_string()))
            .as_deref()
            .map_err(String::as_str)
    }

    /// The pane `target` names. Supported forms: a pane id `%N`, `session`,
    /// `session:window` and `session:window.pane` (window by index or name, `=` allowed
    /// before the session); a session or window alone means its active pane, as in tmux.
    pub fn find(&mut self, server: &TmuxServer, target: &str) -> Result<Option<&Pane>, &str> {
        let panes = self.list(server)?;
        Ok(resolve(panes, target))
    }

    /// Whether `target` still names a live pane (absent or `pane_dead` is not).
    pub fn alive(&mut self, server: &TmuxServer, target: &str) -> bool {
        matches!(self.find(server, target), Ok(Some(p)) if p.alive())
    }
}

fn resolve<'a>(panes: &'a [Pane], target: &str) -> Option<&'a Pane> {
    if target.starts_with('%') {
        return panes.iter().find(|p| p.pane_id == target);
    }
    let target = target.strip_prefix('=').unwrap_or(target);
    let (session, rest) = target.split_once(':').unwrap_or((target, ""));
    let (window, pane) = rest.split_once('.').unwrap_or((rest, ""));
    let in_window = |p: &&Pane| match window {
        "" => p.window_active,
        w => p.window == w || p.window_name == w,
    };
    panes
        .iter()
        .filter(|p| p.session == session)
        .filter(in_window)
        .find(|p| if pane.is_empty() { p.active } else { p.pane == pane })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pane(session: &str, window: &str, name: &str, pane: &str, id: &str, active: bool, wactive: bool) -> Pane {
        Pane {
            session: session.into(),
            window: window.into(),
            window_name: name.into(),
            pane: pane.into(),
            pane_id: id.into(),
            pane_pid: 100,
            dead: false,
            piped: false,
            active,
            window_active: wactive,
            window_activity: None,
            window_panes: 1,
        }
    }

    #[test]
    fn targets() {
        let panes = vec![
            pane("work", "0", "shell", "0", "%0", true, false),
            pane("work", "1", "agent", "0", "%1", false, true),
            pane("work", "1", "agent", "1", "%2", true, true),
            pane("other", "0", "x", "0", "%3", true, true),
        ];
        let cases = [
            ("%2", Some("%2")),
            ("%9", None),
            ("work", Some("%2")),
            ("=work", Some("%2")),
            ("work:0", Some("%0")),
            ("work:agent", Some("%2")),
            ("work:1.0", Some("%1")),
            ("work:agent.1", Some("%2")),
            ("work:7", None),
            ("nope", None),
            ("other:", Some("%3")),
        ];
        for (target, want) in cases {
            assert_eq!(resolve(&panes, target).map(|p| p.pane_id.as_str()), want, "{target}");
        }
    }

    #[test]
    fn dead_panes_are_not_alive() {
        let mut dead = pane("s", "0", "w", "0", "%5", true, true);
        dead.dead = true;
        let mut p = Panes::with(TmuxServer::Default, vec![dead]);
        assert!(!p.alive(&TmuxServer::Default, "%5"));
        assert!(!p.alive(&TmuxServer::Default, "%6"));
        assert!(p.find(&TmuxServer::Default, "%5").unwrap().is_some());
    }
}
