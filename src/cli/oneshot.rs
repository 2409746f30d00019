//! Commands that probe by themselves, without the daemon: `once`, `check`, `config check`.

use super::table;
use crate::config::{Config, DiscoverSpec, ProcessSpec};
use crate::daemon::VERSION;
use crate::discover::discover;
use crate::model::State;
use crate::monitor::Monitor;
use crate::sink::status::{DaemonInfo, StatusDoc};
use crate::timefmt::{human, rfc3339};
use std::process::ExitCode;
use std::time::SystemTime;

/// One sweep with the daemon's saved identities (read-only), so a PID reused since the
/// daemon first saw a worker is still caught.
fn probe_once(cfg: &Config) -> StatusDoc {
    let saved = crate::state::journal::load_readonly(&cfg.daemon.state_dir);
    let mut m = Monitor::new(crate::probe::boot_id(), saved);
    let now = SystemTime::now();
    m.sweep(cfg, now);
    let t = rfc3339(now);
    m.status(DaemonInfo {
        pid: std::process::id(),
        version: VERSION.into(),
        started_at: t.clone(),
        updated_at: t,
        config: cfg.describe_source(),
        faults: Default::default(),
        listen: None,
    })
}

pub fn once(cfg: Config, json: bool) -> ExitCode {
    let doc = probe_once(&cfg);
    if json {
        println!("{}", doc.to_json());
    } else {
        print!("{}", table::render(&doc));
    }
    ExitCode::SUCCESS
}

pub fn check(cfg: Config, warn_quiet: bool, only: &[String]) -> ExitCode {
    let doc = probe_once(&cfg);
    let unknown: Vec<&String> = only.iter().filter(|id| !doc.workers.iter().any(|w| &w.id == *id)).collect();
    if !unknown.is_empty() {
        let names: Vec<&str> = unknown.iter().map(|s| s.as_str()).collect();
        println!("PULSEWATCH UNKNOWN - unknown worker: {}", names.join(", "));
        return ExitCode::from(3);
    }
    let selected: Vec<_> = doc.workers.iter().filter(|w| only.is_empty() || only.contains(&w.id)).collect();
    let mut c = crate::sink::status::Counts::default();
    for w in &selected {
        c.add(w.state);
    }
    let bad: Vec<String> = selected
        .iter()
        .filter(|w| w.state >= State::Stalled || (warn_quiet && w.state == State::Quiet))
        .map(|w| {
            format!(
                "{} {} ({}, idle {})",
                w.id,
                w.state,
                w.reason,
                human(std::time::Duration::from_secs_f64(w.idle_for_s.max(0.0)))
            )
        })
        .collect();
    let (code, word) = if c.stalled + c.orphaned > 0 {
        (2, "CRITICAL")
    } else if warn_quiet && c.quiet > 0 {
        (1, "WARNING")
    } else {
        (0, "OK")
    };
    let summary = format!(
        "{} workers: {} alive, {} quiet, {} stalled, {} orphaned",
        c.total(),
        c.alive,
        c.quiet,
        c.stalled,
        c.orphaned
    );
    let detail = if bad.is_empty() { String::new() } else { format!("; {}", bad.join(", ")) };
    println!(
        "PULSEWATCH {word} - {summary}{detail} | alive={} quiet={} stalled={} orphaned={}",
        c.alive, c.quiet, c.stalled, c.orphaned
    );
    ExitCode::from(code)
}

pub fn config_check(cfg: Config) -> ExitCode {
    let d = &cfg.daemon;
    let t = &cfg.defaults.thresholds;
    println!("config: {} (valid)", cfg.describe_source());
    println!("[daemon]");
    println!("  sweep_interval     {}", human(d.sweep_interval));
    println!("  state_dir          {}", d.state_dir.display());
    println!("  status_file        {}", d.status_file.display());
    println!("  event_log          {}", d.event_log.display());
    println!("  heartbeat_file     {}", d.heartbeat_file.display());
    println!("  heartbeat_interval {}", human(d.heartbeat_interval));
    println!("  liveness_every     {}", d.liveness_every.map_or("off".into(), human));
    println!("  forget_after       {}", human(d.forget_after));
    println!("  hook_concurrency   {}", d.hook_concurrency);
    println!("  listen             {}", d.listen.map_or("off".into(), |a| a.to_string()));
    println!("  auth_token_file    {}", d.auth_token_file.as_ref().map_or("none".into(), |p| p.display().to_string()));
    println!("  textfile           {}", d.textfile.as_ref().map_or("off".into(), |p| p.display().to_string()));
    println!("[defaults]");
    println!(
        "  quiet_after {}  stalled_after {}  start_grace {}",
        human(t.quiet_after),
        human(t.stalled_after),
        human(t.start_grace)
    );
    println!("  flap_window {}  flap_threshold {}", human(t.flap_window), t.flap_threshold);
    let c = &cfg.defaults;
    println!(
        "  activity {}  ignore_preset {:?}  ignore {:?}  min_new_chars {}",
        c.activity.as_str(),
        c.ignore_preset,
        c.ignore,
        c.min_new_chars
    );
    println!("presets:");
    for p in cfg.presets.presets() {
        println!("  {} (version {}, {})", p.name, p.version, p.origin);
    }
    println!("sources:");
    println!("  {} [[worker]] entries", cfg.workers.len());
    for s in &cfg.discover {
        match s {
            DiscoverSpec::Glob(g) => println!("  logs glob {} (id {})", g.pattern, g.id),
            DiscoverSpec::Tmux(t) => {
                println!("  tmux server {} (log {}, id {}, only_piped {})", t.server, t.log, t.id, t.only_piped)
            }
            DiscoverSpec::Registry(r) => println!("  registry {}", r.dir.display()),
        }
    }
    for h in &cfg.hooks {
        println!("  hook {} -> {:?}", h.name, h.command);
    }
    let found = discover(&cfg, &mut crate::probe::Panes::default());
    for w in &found.warnings {
        println!("warning: {w}");
    }
    println!("workers discovered now: {}", found.specs.len());
    for s in &found.specs {
        let process = match &s.process {
            ProcessSpec::None => "-".to_string(),
            ProcessSpec::Pid(p) => format!("pid {p}"),
            ProcessSpec::Pidfile(p) => format!("pidfile {}", p.display()),
            ProcessSpec::Tmux { target, .. } => format!("tmux {target}"),
        };
        let th = &s.settings.thresholds;
        println!(
            "  {}  [{}]  log {}  {}  quiet {} / stalled {}  activity {}",
            s.id,
            s.source,
            s.log.display(),
            process,
            human(th.quiet_after),
            human(th.stalled_after),
            s.settings.activity.as_str(),
        );
    }
    ExitCode::SUCCESS
}
