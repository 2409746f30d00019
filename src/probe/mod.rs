//! The edge that touches the system: /proc, pidfiles, log files and tmux, turned into the
//! plain facts that identity and classification judge.

pub mod file;
mod log;
mod panes;
mod process;
pub mod procstat;
pub mod tail;
pub mod tmux;

pub use log::{LogFacts, stat_log};
pub use panes::Panes;
pub use process::{PidfileRead, boot_id, parse_pidfile, probe_pid, read_pidfile, start_time};

use crate::config::ProcessSpec;
use crate::identity::ProcessInput;

/// Finds the process of a worker where its spec says to look. Returns the input for
/// `identity::judge` and a warning for bad input (a pidfile with garbage, say). tmux panes
/// are read from the sweep's snapshot `panes`.
pub fn process_input(spec: &ProcessSpec, panes: &mut Panes) -> (ProcessInput, Option<String>) {
    match spec {
        ProcessSpec::None => (ProcessInput::NotConfigured, None),
        ProcessSpec::Pid(pid) => (ProcessInput::Pid { pid: *pid, facts: probe_pid(*pid) }, None),
        ProcessSpec::Pidfile(path) => match read_pidfile(path) {
            PidfileRead::Pid(pid) => (ProcessInput::Pid { pid, facts: probe_pid(pid) }, None),
            PidfileRead::Missing => (ProcessInput::PidfileUnusable, None),
            PidfileRead::Invalid(why) => (ProcessInput::PidfileUnusable, Some(format!("{}:1: {why}", path.display()))),
        },
        ProcessSpec::Tmux { target, server, .. } => match panes.find(server, target) {
            Ok(Some(p)) if p.alive() => (ProcessInput::Pid { pid: p.pane_pid, facts: probe_pid(p.pane_pid) }, None),
            Ok(_) => (ProcessInput::PaneGone, None),
            Err(e) => (ProcessInput::PaneGone, Some(e.to_string())),
        },
    }
}
