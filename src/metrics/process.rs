//! The daemon's own `process_*` basics, read through `sysinfo` at each encode: what every
//! Prometheus client library exports, so standard dashboards and alerts work unchanged.

use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use sysinfo::{ProcessRefreshKind, ProcessesToUpdate};

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

/// Reads the daemon's own figures through `sysinfo`, refreshing only this process's CPU
/// and memory: a scrape costs a few small /proc reads, not a walk over every process.
pub fn read() -> Reading {
    let mut r = Reading::default();
    let (Ok(pid), Ok(mut sys)) = (sysinfo::get_current_pid(), sysinfo::System::new()) else {
        return r;
    };
    let kind = ProcessRefreshKind::nothing().with_cpu().with_memory();
    sys.refresh_processes_specifics(ProcessesToUpdate::Some(&[pid]), false, kind);
    let Some(p) = sys.process(pid) else {
        return r;
    };
    r.cpu_seconds = Some(p.accumulated_cpu_time() as f64 / 1000.0);
    r.resident_bytes = Some(p.memory() as f64);
    r.virtual_bytes = Some(p.virtual_memory() as f64);
    r.start_time_seconds = Some(p.start_time() as f64);
    r.open_fds = p.open_files().map(|n| n as f64);
    r.max_fds = p.open_files_limit().map(|n| n as f64);
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
    use std::time::SystemTime;

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
