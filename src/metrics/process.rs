//! The daemon's own `process_*` basics, read from /proc/self at each encode: what every
//! Prometheus client library exports, so standard dashboards and alerts work unchanged.

use crate::probe::procstat::parse_stat;
use crate::probe::start_time;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use std::time::SystemTime;

#[derive(Debug)]
pub struct Collector;

/// One reading of /proc/self; `None` where the kernel did not tell.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Reading {
    pub cpu_seconds: Option<f64>,
    pub resident_bytes: Option<f64>,
    pub virtual_bytes: Option<f64>,
    pub start_time_seconds: Option<f64>,
    pub open_fds: Option<f64>,
    pub max_fds: Option<f64>,
}

pub fn read() -> Reading {
    let mut r = Reading::default();
    if let Some(st) = std::fs::read("/proc/self/stat").ok().and_then(|b| parse_stat(&b)) {
        let hz = rustix::param::clock_ticks_per_second().max(1) as f64;
        r.cpu_seconds = Some(st.cpu_ticks as f64 / hz);
        r.resident_bytes = Some(st.rss_pages as f64 * rustix::param::page_size() as f64);
        r.virtual_bytes = Some(st.vsize as f64);
        r.start_time_seconds =
            start_time(st.start_ticks).duration_since(SystemTime::UNIX_EPOCH).ok().map(|d| d.as_secs_f64());
    }
    r.open_fds = std::fs::read_dir("/proc/self/fd").ok().map(|d| d.count() as f64);
    r.max_fds = rustix::process::getrlimit(rustix::process::Resource::Nofile).current.map(|n| n as f64);
    r
}

impl prometheus_client::collector::Collector for Collector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let r = read();
        if let Some(v) = r.cpu_seconds {
            let m = ConstCounter::new(v);
            m.encode(encoder.encode_descriptor(
                "process_cpu_seconds",
                "Total user and system CPU time spent in seconds",
                None,
                m.metric_type(),
            )?)?;
        }
        let gauges = [
            ("process_resident_memory_bytes", "Resident memory size in bytes", r.resident_bytes),
            ("process_virtual_memory_bytes", "Virtual memory size in bytes", r.virtual_bytes),
            (
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds",
                r.start_time_seconds,
            ),
            ("process_open_fds", "Number of open file descriptors", r.open_fds),
            ("process_max_fds", "Maximum number of open file descriptors", r.max_fds),
        ];
        for (name, help, value) in gauges {
            if let Some(v) = value {
                let m = ConstGauge::new(v);
                m.encode(encoder.encode_descriptor(name, help, None, m.metric_type())?)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_process() {
        let r = read();
        assert!(r.resident_bytes.unwrap() > 0.0);
        assert!(r.virtual_bytes.unwrap() >= r.resident_bytes.unwrap());
        assert!(r.open_fds.unwrap() >= 3.0, "stdin, stdout, stderr at least");
        assert!(r.max_fds.unwrap() >= r.open_fds.unwrap());
        let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs_f64();
        let start = r.start_time_seconds.unwrap();
        assert!(start <= now + 1.0 && start > now - 86_400.0 * 365.0, "{start} vs {now}");
        assert!(r.cpu_seconds.unwrap() >= 0.0);
    }
}
