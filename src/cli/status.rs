//! `pulsewatch status`: the running daemon's view, from its status file.

use super::table;
use crate::config::Config;
use crate::sink::status::StatusDoc;
use crate::timefmt::{human, parse_rfc3339};
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

/// The document, or why it cannot be trusted: missing, unreadable, or older than three sweeps.
fn read_fresh(cfg: &Config) -> Result<StatusDoc, String> {
    let path = &cfg.daemon.status_file;
    let doc = StatusDoc::read(path).map_err(|e| format!("no daemon status: {e}"))?;
    let updated = parse_rfc3339(&doc.daemon.updated_at).ok_or_else(|| format!("{}: bad updated_at", path.display()))?;
    let age = SystemTime::now().duration_since(updated).unwrap_or_default();
    let limit = cfg.daemon.sweep_interval * 3;
    if age > limit {
        return Err(format!(
            "stale daemon status: {} was last updated {} ago (limit {}; is pulsewatch running?)",
            path.display(),
            human(age),
            human(limit)
        ));
    }
    Ok(doc)
}

pub fn status(cfg: &Config, json: bool, watch: bool) -> ExitCode {
    loop {
        let result = read_fresh(cfg);
        if watch {
            // Home the cursor and clear, so the table refreshes in place.
            print!("\x1b[H\x1b[2J");
        }
        let ok = match &result {
            Ok(doc) if json => {
                println!("{}", doc.to_json());
                true
            }
            Ok(doc) => {
                print!("{}", table::render(doc));
                true
            }
            Err(e) => {
                eprintln!("pulsewatch: {e}");
                false
            }
        };
        if !watch {
            return if ok { ExitCode::SUCCESS } else { ExitCode::from(1) };
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}
