//! Config labels as Prometheus label names: only on `pulsewatch_worker_info`, so a label
//! never multiplies the series of every other metric.

use std::collections::BTreeMap;

/// The label set of one worker's `pulsewatch_worker_info` series: `worker` first, then the
/// config labels by name. Values are escaped by the encoder; names were validated by the
/// config (`[A-Za-z_][A-Za-z0-9_]*`), which leaves only clashes to settle.
pub fn info(worker: &str, labels: &BTreeMap<String, String>) -> Vec<(String, String)> {
    let mut out = vec![("worker".to_string(), worker.to_string())];
    out.extend(labels.iter().map(|(k, v)| (name(k), v.clone())));
    out
}

/// A config label named `worker` would clash with the worker id, and `__`-prefixed names are
/// reserved by Prometheus: those get a `label_` prefix.
pub fn name(key: &str) -> String {
    if key == "worker" || key.starts_with("__") { format!("label_{key}") } else { key.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_set() {
        let labels: BTreeMap<String, String> =
            [("team", "infra"), ("Zone_2", "b"), ("worker", "x"), ("__name__", "y"), ("_x", "z")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        let got = info("w1", &labels);
        let want: Vec<(String, String)> = [
            ("worker", "w1"),
            ("Zone_2", "b"),
            ("label___name__", "y"),
            ("_x", "z"),
            ("team", "infra"),
            ("label_worker", "x"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(got, want);
    }
}
