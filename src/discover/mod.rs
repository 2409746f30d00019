//! Discovery: the set of workers the config describes right now, from static workers, log
//! globs, registry files and tmux panes, with one id per worker.

mod glob;
mod registry;
mod tmux;
pub mod watch;

use crate::config::{Config, DiscoverSpec, WorkerSpec};
use crate::probe::Panes;
use std::collections::HashMap;

#[derive(Debug, Default)]
pub struct Discovery {
    pub specs: Vec<WorkerSpec>,
    /// Bad input found on the way (a malformed registry file, an invalid id): logged, never fatal.
    pub warnings: Vec<String>,
}

/// `panes` is the sweep's tmux snapshot, shared with the probes of tmux workers.
pub fn discover(cfg: &Config, panes: &mut Panes) -> Discovery {
    let mut d = Discovery { specs: cfg.workers.clone(), warnings: Vec::new() };
    for source in &cfg.discover {
        match source {
            DiscoverSpec::Glob(g) => glob::discover(g, &cfg.daemon.state_dir, &mut d),
            DiscoverSpec::Registry(r) => registry::discover(r, &cfg.daemon.state_dir, &mut d),
            DiscoverSpec::Tmux(t) => tmux::discover(t, panes, &mut d),
        }
    }
    tmux::drop_claimed(&mut d, panes);
    dedupe(&mut d);
    d
}

/// Keeps one spec per id: the source earlier in `Source` order wins (config, registry,
/// tmux, glob), then the earlier definition. Two sources describing the same log are the
/// same worker seen twice and pass silently; different logs under one id earn a warning.
fn dedupe(d: &mut Discovery) {
    let mut best: HashMap<String, usize> = HashMap::new();
    for (i, s) in d.specs.iter().enumerate() {
        match best.get(s.id.as_str()) {
            None => {
                best.insert(s.id.to_string(), i);
            }
            Some(&j) => {
                let kept = &d.specs[j];
                let (win, lose) = if s.source < kept.source { (i, j) } else { (j, i) };
                let (w, l) = (&d.specs[win], &d.specs[lose]);
                if w.log != l.log {
                    d.warnings.push(format!(
                        "worker id {:?} comes from {} ({}) and from {} ({}); using the {} one",
                        w.id.as_str(),
                        w.source,
                        w.log.display(),
                        l.source,
                        l.log.display(),
                        w.source
                    ));
                }
                best.insert(s.id.to_string(), win);
            }
        }
    }
    let mut keep: Vec<usize> = best.into_values().collect();
    keep.sort_unstable();
    let mut specs = std::mem::take(&mut d.specs).into_iter().map(Some).collect::<Vec<_>>();
    d.specs = keep.into_iter().filter_map(|i| specs[i].take()).collect();
}

/// Fills `{name}` placeholders from `vars`; the config loader already rejected unknown ones.
pub fn fill(template: &str, vars: &[(&str, &str)]) -> String {
    let mut out = template.to_string();
    for (k, v) in vars {
        out = out.replace(&format!("{{{k}}}"), v);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ProcessSpec, WorkerSettings};
    use crate::model::{Source, WorkerId};

    fn spec(id: &str, log: &str, source: Source) -> WorkerSpec {
        WorkerSpec {
            id: WorkerId::new(id).unwrap(),
            log: log.into(),
            process: ProcessSpec::None,
            source,
            settings: WorkerSettings::default().into(),
            labels: Default::default(),
        }
    }

    #[test]
    fn precedence() {
        let mut d = Discovery {
            specs: vec![
                spec("a", "/g/a.log", Source::Glob),
                spec("b", "/b.log", Source::Config),
                spec("a", "/r/a.log", Source::Registry),
                spec("c", "/c.log", Source::Glob),
                spec("c", "/c.log", Source::Registry),
            ],
            warnings: vec![],
        };
        dedupe(&mut d);
        let got: Vec<(String, Source)> = d.specs.iter().map(|s| (s.id.to_string(), s.source)).collect();
        assert_eq!(
            got,
            vec![("b".into(), Source::Config), ("a".into(), Source::Registry), ("c".into(), Source::Registry)]
        );
        assert_eq!(d.warnings.len(), 1, "same log twice is silent: {:?}", d.warnings);
        assert!(d.warnings[0].contains("\"a\""));
    }

    #[test]
    fn templates() {
        assert_eq!(fill("{stem}-{name}", &[("stem", "a"), ("name", "a.log")]), "a-a.log");
    }
}
