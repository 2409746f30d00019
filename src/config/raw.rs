//! The config file exactly as written: serde structs that reject unknown keys.

use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

pub type Dur = Spanned<humantime_serde::Serde<std::time::Duration>>;
/// Label names keep their place in the file, so a bad one is reported on its own line.
pub type Labels = BTreeMap<Spanned<String>, String>;

/// Declares a table that carries the per-worker override keys next to its own keys.
/// serde cannot combine `flatten` with `deny_unknown_fields`, so the override keys are
/// spelled out in every table that takes them.
macro_rules! with_overrides {
    ($(#[$m:meta])* pub struct $name:ident { $($(#[$fm:meta])* pub $f:ident : $t:ty,)* }) => {
        $(#[$m])*
        #[derive(Debug, Default, Deserialize)]
        #[serde(deny_unknown_fields, default)]
        pub struct $name {
            $($(#[$fm])* pub $f: $t,)*
            pub quiet_after: Option<Dur>,
            pub stalled_after: Option<Dur>,
            pub start_grace: Option<Dur>,
            pub flap_window: Option<Dur>,
            pub flap_threshold: Option<Spanned<u32>>,
            pub activity: Option<Spanned<String>>,
            pub ignore_preset: Option<Spanned<String>>,
            pub ignore: Option<Spanned<Vec<Spanned<String>>>>,
            pub min_new_chars: Option<Spanned<u32>>,
            pub input_after: Option<Dur>,
            pub repipe: Option<bool>,
        }

        impl $name {
            pub fn overrides(&self) -> RawOverrides<'_> {
                RawOverrides {
                    quiet_after: self.quiet_after.as_ref(),
                    stalled_after: self.stalled_after.as_ref(),
                    start_grace: self.start_grace.as_ref(),
                    flap_window: self.flap_window.as_ref(),
                    flap_threshold: self.flap_threshold.as_ref(),
                    activity: self.activity.as_ref(),
                    ignore_preset: self.ignore_preset.as_ref(),
                    ignore: self.ignore.as_ref(),
                    min_new_chars: self.min_new_chars.as_ref(),
                    input_after: self.input_after.as_ref(),
                    repipe: self.repipe,
                }
            }
        }
    };
}

/// A borrowed view of the override keys of any table.
pub struct RawOverrides<'a> {
    pub quiet_after: Option<&'a Dur>,
    pub stalled_after: Option<&'a Dur>,
    pub start_grace: Option<&'a Dur>,
    pub flap_window: Option<&'a Dur>,
    pub flap_threshold: Option<&'a Spanned<u32>>,
    pub activity: Option<&'a Spanned<String>>,
    pub ignore_preset: Option<&'a Spanned<String>>,
    pub ignore: Option<&'a Spanned<Vec<Spanned<String>>>>,
    pub min_new_chars: Option<&'a Spanned<u32>>,
    pub input_after: Option<&'a Dur>,
    pub repipe: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawFile {
    pub daemon: RawDaemon,
    pub defaults: RawDefaults,
    pub worker: Vec<Spanned<RawWorker>>,
    pub discover: Vec<Spanned<RawDiscover>>,
    pub hook: Vec<Spanned<RawHook>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawDaemon {
    pub sweep_interval: Option<Dur>,
    pub state_dir: Option<String>,
    pub status_file: Option<String>,
    pub event_log: Option<String>,
    pub heartbeat_file: Option<String>,
    pub heartbeat_interval: Option<Dur>,
    pub liveness_every: Option<Dur>,
    pub forget_after: Option<Dur>,
    pub hook_concurrency: Option<Spanned<usize>>,
    pub listen: Option<Spanned<String>>,
    pub auth_token_file: Option<String>,
    pub textfile: Option<String>,
    pub presets_dir: Option<String>,
}

with_overrides! {
    pub struct RawDefaults {}
}

with_overrides! {
    /// A `[[worker]]` table; a registry entry file has exactly these keys too.
    pub struct RawWorker {
        pub id: Option<Spanned<String>>,
        pub log: Option<Spanned<String>>,
        pub pid: Option<Spanned<i64>>,
        pub pidfile: Option<Spanned<String>>,
        pub tmux: Option<Spanned<String>>,
        pub tmux_socket: Option<Spanned<String>>,
        pub tmux_pipe: Option<Spanned<String>>,
        pub tmux_pane_pid: Option<Spanned<i64>>,
        pub labels: Labels,
    }
}

with_overrides! {
    pub struct RawDiscover {
        pub logs: Option<Spanned<String>>,
        pub id: Option<Spanned<String>>,
        pub pidfile: Option<Spanned<String>>,
        pub tmux: Option<Spanned<String>>,
        pub log: Option<Spanned<String>>,
        pub only_piped: Option<Spanned<bool>>,
        pub registry: Option<Spanned<String>>,
        pub labels: Labels,
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawHook {
    pub name: Option<Spanned<String>>,
    pub command: Option<Spanned<Vec<String>>>,
    pub on: Option<Spanned<Vec<Spanned<String>>>>,
    pub workers: Option<Spanned<Vec<String>>>,
    pub timeout: Option<Dur>,
    pub retries: Option<u32>,
    pub repeat: Option<Dur>,
}
