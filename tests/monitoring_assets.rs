//! The alert rules and the Grafana dashboard: valid, tested with promtool, and naming only
//! metrics that pulsewatch really exports.

mod common;
use common::promtool;
use pulsewatch::event::{Event, EventKind, Stamped};
use pulsewatch::metrics::{Metrics, WorkerSample};
use pulsewatch::model::{State, WorkerId};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, SystemTime};

fn asset(rel: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Every sample name pulsewatch exports, with a worker and a hook run to show them all.
fn exported() -> BTreeSet<String> {
    let m = Metrics::new();
    let labels = BTreeMap::new();
    let w = WorkerSample {
        id: "w",
        state: State::Alive,
        idle: Duration::ZERO,
        last_output: Some(SystemTime::now()),
        log_bytes: Some(1),
        flapping: false,
        labels: &labels,
    };
    m.refresh([w], &[]);
    let id = WorkerId::new("w").unwrap();
    let hook = EventKind::Hook {
        hook: "h".into(),
        transition_seq: 1,
        outcome: "ok".into(),
        reason: None,
        exit_code: Some(0),
        duration_ms: 1,
        attempt: 1,
    };
    m.count(&[Stamped::new(1, SystemTime::now(), Event::worker(&id, hook))]);
    m.sweep_done(Duration::from_millis(1), SystemTime::now(), Duration::from_secs(5));
    m.text().lines().filter(|l| !l.starts_with('#')).map(|l| l[..l.find(['{', ' ']).unwrap()].to_string()).collect()
}

/// The `pulsewatch_*` identifiers a text mentions.
fn mentioned(text: &str) -> BTreeSet<String> {
    text.match_indices("pulsewatch_")
        .map(|(i, _)| text[i..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect())
        .collect()
}

#[test]
fn rules_and_dashboard_name_only_exported_metrics() {
    let exported = exported();
    for contract in [
        "pulsewatch_worker_state",
        "pulsewatch_worker_last_output_timestamp_seconds",
        "pulsewatch_worker_idle_seconds",
        "pulsewatch_worker_log_bytes",
        "pulsewatch_workers",
        "pulsewatch_transitions_total",
        "pulsewatch_hook_runs_total",
        "pulsewatch_sweep_duration_seconds_bucket",
        "pulsewatch_build_info",
    ] {
        assert!(exported.contains(contract), "{contract} not exported: {exported:?}");
    }
    for file in ["config/prometheus/pulsewatch.rules.yml", "config/grafana/pulsewatch.json"] {
        let names = mentioned(&asset(file));
        assert!(names.len() >= 4, "{file}: {names:?}");
        let unknown: Vec<String> = names.difference(&exported).cloned().collect();
        assert!(unknown.is_empty(), "{file} names metrics pulsewatch does not export: {unknown:?}");
    }
}

#[test]
fn dashboard_is_valid_json_with_the_promised_panels() {
    let d: serde_json::Value = serde_json::from_str(&asset("config/grafana/pulsewatch.json")).unwrap();
    assert_eq!(d["uid"], "pulsewatch");
    let panels = d["panels"].as_array().unwrap();
    let exprs = |p: &serde_json::Value| -> String {
        p["targets"].as_array().unwrap().iter().map(|t| t["expr"].as_str().unwrap().to_string()).collect()
    };
    for (kind, metric) in [
        ("state-timeline", "pulsewatch_worker_state"),
        ("timeseries", "pulsewatch_worker_idle_seconds"),
        ("timeseries", "pulsewatch_transitions_total"),
        ("timeseries", "pulsewatch_hook_runs_total"),
        ("timeseries", "pulsewatch_sweep_duration_seconds_bucket"),
    ] {
        assert!(panels.iter().any(|p| p["type"] == kind && exprs(p).contains(metric)), "no {kind} panel on {metric}");
    }
    let ids: BTreeSet<u64> = panels.iter().map(|p| p["id"].as_u64().unwrap()).collect();
    assert_eq!(ids.len(), panels.len(), "panel ids are unique");
}

#[test]
fn promtool_checks_and_unit_tests_the_rules() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/prometheus");
    for args in [["check", "rules", "pulsewatch.rules.yml"], ["test", "rules", "pulsewatch.rules.test.yml"]] {
        let Some(mut cmd) = promtool(&format!("promtool {}", args.join(" "))) else {
            return;
        };
        let out = cmd.args(args).current_dir(&dir).output().unwrap();
        let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "promtool {}: {said}", args.join(" "));
        assert!(said.contains("SUCCESS"), "{said}");
    }
}
