//! The status document built from the engine's workers.

use super::Monitor;
use crate::classify::idle_since;
use crate::sink::status::{Counts, DaemonInfo, StatusDoc, WorkerStatus};
use crate::timefmt::{rfc3339, secs};

impl Monitor {
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for w in self.workers.values() {
            c.add(w.tracker.state);
        }
        c
    }

    pub fn status(&self, daemon: DaemonInfo) -> StatusDoc {
        let workers = self
            .workers
            .values()
            .map(|w| {
                let th = &w.spec.settings.thresholds;
                let v = &w.view;
                let since = |t: Option<std::time::SystemTime>| t.map(|t| secs(idle_since(t, v.looked_at).0));
                WorkerStatus {
                    id: w.spec.id.to_string(),
                    state: w.tracker.state,
                    reason: w.tracker.reason,
                    since: rfc3339(w.tracker.since),
                    idle_for_s: secs(w.view.verdict.idle_for),
                    // Same text as `display()`, without the formatter (a hot path at 10k).
                    log: w.spec.log.to_string_lossy().into_owned(),
                    log_mtime: w.view.log.mtime().map(rfc3339),
                    log_size: w.view.log.size(),
                    activity: w.spec.settings.activity,
                    last_write: v.last_write.map(rfc3339),
                    last_output: v.last_output.map(rfc3339),
                    since_last_write_s: since(v.last_write),
                    since_last_output_s: since(v.last_output),
                    content: w.activity.counts(),
                    pid: w.view.process.pid(),
                    pid_alive: w.view.process.alive(),
                    source: w.spec.source,
                    flapping: w.tracker.flap.flapping,
                    clock_skew: w.view.verdict.clock_skew,
                    labels: w.spec.labels.clone(),
                    quiet_after_s: secs(th.quiet_after),
                    stalled_after_s: secs(th.stalled_after),
                    error: w.view.error.clone(),
                }
            })
            .collect();
        StatusDoc { schema: crate::sink::status::SCHEMA, daemon, counts: self.counts(), workers }
    }
}
