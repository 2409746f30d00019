//! The Prometheus registry: the contract's metrics, rebuilt per worker after every sweep
//! (so a removed worker's series disappear) plus counters fed by stamped events.

mod export;
mod labels;
mod process;

pub use export::{ExportError, Exporter};

use crate::config::HookSpec;
use crate::event::{EventKind, Stamped};
use crate::model::State;
use crate::monitor::Worker;
use crate::timefmt::secs;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, SystemTime};

/// The `outcome` values of the contract's `hook` event; every configured hook starts with
/// all of them at 0, so `rate()` and `increase()` work from the first scrape.
pub const HOOK_OUTCOMES: [&str; 5] = ["ok", "failed", "timeout", "spawn_error", "skipped"];

/// Sweeps take milliseconds; the upper buckets catch a slow tmux server or a hung mount.
const SWEEP_BUCKETS: [f64; 13] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

type FloatGauge = Gauge<f64, AtomicU64>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WorkerLabel {
    worker: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WorkerStateLabels {
    worker: String,
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ToLabel {
    to: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabel {
    version: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HookLabels {
    hook: String,
    outcome: String,
}

/// What the metrics need to know about one worker, taken from the engine after a sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerSample<'a> {
    pub id: &'a str,
    pub state: State,
    pub idle: Duration,
    pub last_output: Option<SystemTime>,
    pub log_bytes: Option<u64>,
    pub flapping: bool,
    pub labels: &'a BTreeMap<String, String>,
}

impl<'a> WorkerSample<'a> {
    pub fn of(w: &'a Worker) -> WorkerSample<'a> {
        WorkerSample {
            id: w.spec.id.as_str(),
            state: w.tracker.state,
            idle: w.view.verdict.idle_for,
            last_output: w.view.last_output,
            log_bytes: w.view.log.size(),
            flapping: w.tracker.flap.flapping,
            labels: &w.spec.labels,
        }
    }
}

pub struct Metrics {
    registry: Registry,
    worker_state: Family<WorkerStateLabels, Gauge>,
    last_output: Family<WorkerLabel, FloatGauge>,
    idle: Family<WorkerLabel, FloatGauge>,
    log_bytes: Family<WorkerLabel, Gauge>,
    flapping: Family<WorkerLabel, Gauge>,
    info: Family<Vec<(String, String)>, Gauge>,
    workers: Family<StateLabel, Gauge>,
    transitions: Family<ToLabel, Counter>,
    hook_runs: Family<HookLabels, Counter>,
    sweep_duration: Histogram,
    last_sweep: FloatGauge,
    sweep_interval: FloatGauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut m = Metrics {
            registry: Registry::default(),
            worker_state: Family::default(),
            last_output: Family::default(),
            idle: Family::default(),
            log_bytes: Family::default(),
            flapping: Family::default(),
            info: Family::default(),
            workers: Family::default(),
            transitions: Family::default(),
            hook_runs: Family::default(),
            sweep_duration: Histogram::new(SWEEP_BUCKETS),
            last_sweep: FloatGauge::default(),
            sweep_interval: FloatGauge::default(),
        };
        let r = &mut m.registry;
        r.register(
            "pulsewatch_worker_state",
            "1 for the worker's current state, 0 for the other three",
            m.worker_state.clone(),
        );
        r.register(
            "pulsewatch_worker_last_output_timestamp_seconds",
            "Unix time of the worker's last output (its log's mtime); absent while there is no log",
            m.last_output.clone(),
        );
        r.register("pulsewatch_worker_idle_seconds", "Seconds since the worker's last output", m.idle.clone());
        r.register(
            "pulsewatch_worker_log_bytes",
            "Size of the worker's session log; absent while there is no log",
            m.log_bytes.clone(),
        );
        r.register("pulsewatch_worker_flapping", "1 while the worker is flapping", m.flapping.clone());
        r.register("pulsewatch_worker_info", "Config labels of each worker (value always 1)", m.info.clone());
        r.register("pulsewatch_workers", "Number of workers in each state", m.workers.clone());
        r.register("pulsewatch_transitions", "State transitions, by target state", m.transitions.clone());
        r.register("pulsewatch_hook_runs", "Hook runs, by hook and outcome", m.hook_runs.clone());
        r.register(
            "pulsewatch_sweep_duration_seconds",
            "Time one full sweep (discover, probe, classify) took",
            m.sweep_duration.clone(),
        );
        r.register(
            "pulsewatch_last_sweep_timestamp_seconds",
            "Unix time the working loop last completed a sweep",
            m.last_sweep.clone(),
        );
        r.register("pulsewatch_sweep_interval_seconds", "Configured sweep interval", m.sweep_interval.clone());
        let build: Family<VersionLabel, Gauge> = Family::default();
        build.get_or_create(&VersionLabel { version: crate::daemon::VERSION }).set(1);
        r.register("pulsewatch_build_info", "pulsewatch version (value always 1)", build);
        r.register_collector(Box::new(process::Collector));
        for s in State::ALL {
            let _ = m.transitions.get_or_create(&ToLabel { to: s.as_str() });
        }
        m
    }

    /// Counts `transition` and `hook` events.
    pub fn count(&self, stamped: &[Stamped]) {
        for s in stamped {
            match &s.event.kind {
                EventKind::Transition { to, .. } => {
                    self.transitions.get_or_create(&ToLabel { to: to.as_str() }).inc();
                }
                EventKind::Hook { hook, outcome, .. } => {
                    self.hook_runs.get_or_create(&HookLabels { hook: hook.clone(), outcome: outcome.clone() }).inc();
                }
                _ => {}
            }
        }
    }

    /// Records a completed sweep.
    pub fn sweep_done(&self, took: Duration, at: SystemTime, interval: Duration) {
        self.sweep_duration.observe(took.as_secs_f64());
        self.last_sweep.set(unix_secs(at));
        self.sweep_interval.set(interval.as_secs_f64());
    }

    /// Replaces every per-worker series with the given workers'.
    pub fn refresh<'a>(&self, workers: impl IntoIterator<Item = WorkerSample<'a>>, hooks: &[HookSpec]) {
        self.worker_state.clear();
        self.last_output.clear();
        self.idle.clear();
        self.log_bytes.clear();
        self.flapping.clear();
        self.info.clear();
        let mut counts = [0i64; 4];
        for w in workers {
            let id = WorkerLabel { worker: w.id.to_string() };
            for s in State::ALL {
                let labels = WorkerStateLabels { worker: id.worker.clone(), state: s.as_str() };
                self.worker_state.get_or_create(&labels).set(i64::from(s == w.state));
            }
            counts[w.state.index()] += 1;
            self.idle.get_or_create(&id).set(secs(w.idle));
            if let Some(t) = w.last_output {
                self.last_output.get_or_create(&id).set(unix_secs(t));
            }
            if let Some(b) = w.log_bytes {
                self.log_bytes.get_or_create(&id).set(i64::try_from(b).unwrap_or(i64::MAX));
            }
            self.flapping.get_or_create(&id).set(i64::from(w.flapping));
            self.info.get_or_create(&labels::info(w.id, w.labels)).set(1);
        }
        for s in State::ALL {
            self.workers.get_or_create(&StateLabel { state: s.as_str() }).set(counts[s.index()]);
        }
        for h in hooks {
            for outcome in HOOK_OUTCOMES {
                let _ =
                    self.hook_runs.get_or_create(&HookLabels { hook: h.name.clone(), outcome: outcome.to_string() });
            }
        }
    }

    /// Prometheus text format 0.0.4, for scrapes and for node_exporter's textfile collector
    /// (which rejects OpenMetrics and timestamps). Prometheus accepts it whatever it asks
    /// for first; one encoding per sweep keeps the cost at ~65 ms for 10,000 workers.
    pub fn text(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry).expect("writing to a String");
        out
    }
}

fn unix_secs(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH).map_or(0.0, secs)
}

#[cfg(test)]
mod tests;
