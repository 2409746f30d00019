//! The working loop: one task that sweeps, reacts to wake-ups (pidfds, inotify, deadlines,
//! registry changes, hook outcomes) and signals, and is the only one that reports progress.

use super::{Daemon, DaemonError, VERSION};
use crate::config::Config;
use std::path::PathBuf;
use tokio::signal::unix::{SignalKind, signal};

/// `pulsewatch run`: runs until SIGTERM or SIGINT.
pub fn run(cfg: Config, explicit: Option<PathBuf>) -> Result<(), DaemonError> {
    tune_malloc();
    // The working loop runs on this thread (block_on); the runtime's worker threads serve
    // HTTP, so /healthz still answers — 503 — while a sweep is stuck in a blocking call.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(DaemonError::Runtime)?;
    rt.block_on(run_loop(cfg, explicit))
}

/// glibc's malloc defaults suit short programs, not a daemon whose big buffers (the status
/// document and its bytes, a state file encode: megabytes at 10,000 workers) live for
/// a moment once per sweep or change:
/// - the mmap threshold is fixed, so such a buffer is always mapped and unmapped on free
///   (and grown by mremap, without a second copy). By default glibc raises the threshold to
///   the size of the first such buffer freed, after which they come from the heap, whose
///   high-water mark is never given back: that alone held ~10 MiB at 10,000 workers;
/// - one arena: each thread that allocates would otherwise get its own (the runtime's
///   worker threads, notify's inotify thread), each with its own fragmentation. The loop
///   thread does nearly all allocating, so there is no contention to speak of.
///
/// Called before the runtime (or any other thread) starts.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_malloc() {
    // SAFETY: mallopt only changes allocator parameters; it is called before other threads
    // exist. A refusal (returns 0) leaves the defaults, which work, only bigger.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_malloc() {}

async fn run_loop(cfg: Config, explicit: Option<PathBuf>) -> Result<(), DaemonError> {
    let mut term = signal(SignalKind::terminate()).map_err(DaemonError::Signals)?;
    let mut int = signal(SignalKind::interrupt()).map_err(DaemonError::Signals)?;
    let mut hup = signal(SignalKind::hangup()).map_err(DaemonError::Signals)?;
    let mut d = Daemon::start(cfg, explicit)?;
    d.export.serve(&d.cfg.daemon)?;
    tracing::info!(config = %d.cfg.describe_source(), state_dir = %d.cfg.daemon.state_dir.display(), "pulsewatch {VERSION} starting");
    // Registry entries take effect when written, not at the next sweep.
    let mut registry = crate::discover::watch::RegistryWatch::new(&d.cfg);
    d.first_sweep();
    tracing::info!(workers = d.monitor.workers.len(), "first sweep complete");
    let wedge_after = crate::service::test_wedge_after();
    // The next sweep is due one interval after the last one ended, whatever else woke the loop.
    let mut next = tokio::time::Instant::now() + d.cfg.daemon.sweep_interval;
    let reason = loop {
        if wedge_after.is_some_and(|n| d.service.sweeps() >= n) {
            crate::service::wedge();
        }
        let sweeping = d.sweeping();
        // Biased: what happened (signals, deaths, writes, deadlines, hook outcomes) comes
        // before the next slice of a periodic sweep, which only runs when nothing else waits.
        tokio::select! {
            biased;
            _ = term.recv() => break "SIGTERM",
            _ = int.recv() => break "SIGINT",
            _ = hup.recv() => {
                d.reload();
                next = tokio::time::Instant::now() + d.cfg.daemon.sweep_interval;
                registry = crate::discover::watch::RegistryWatch::new(&d.cfg);
            }
            _ = tokio::time::sleep_until(d.service_due().into()) => d.service_tick(),
            wake = d.watch.wait() => { d.on_wake(wake); }
            wake = d.hooks.next() => d.on_hooks(wake),
            // Discovery at once (entries take effect when written), the checks in slices.
            _ = registry.changed() => { d.sweep_begin(); }
            _ = std::future::ready(()), if sweeping => {
                if d.sweep_step() {
                    next = tokio::time::Instant::now() + d.cfg.daemon.sweep_interval;
                }
            }
            _ = tokio::time::sleep_until(next), if !sweeping => { d.sweep_begin(); }
        }
    };
    tracing::info!(signal = reason, "stopping");
    d.stop(reason).await;
    Ok(())
}
