//! Plain-text tables of workers for people.

use crate::sink::status::StatusDoc;
use crate::timefmt::human;
use std::time::Duration;

pub fn render(doc: &StatusDoc) -> String {
    let mut rows: Vec<[String; 6]> = vec![["ID", "STATE", "REASON", "IDLE", "PID", "LOG"].map(String::from)];
    for w in &doc.workers {
        let mut state = w.state.to_string();
        if w.flapping {
            state.push('~');
        }
        let pid = match (w.pid, w.pid_alive) {
            (Some(p), Some(false)) => format!("{p}!"),
            (Some(p), _) => p.to_string(),
            (None, _) => "-".into(),
        };
        rows.push([
            w.id.clone(),
            state,
            w.reason.to_string(),
            human(Duration::from_secs_f64(w.idle_for_s.max(0.0))),
            pid,
            w.log.clone(),
        ]);
    }
    let widths: Vec<usize> = (0..6).map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for r in &rows {
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, c)| if i == 5 { c.clone() } else { format!("{c:<w$}", w = widths[i]) })
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    let c = &doc.counts;
    out.push_str(&format!(
        "{} workers: {} alive, {} quiet, {} stalled, {} orphaned\n",
        c.total(),
        c.alive,
        c.quiet,
        c.stalled,
        c.orphaned
    ));
    out
}
