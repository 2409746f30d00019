//! Writes the status file on a thread of its own: at 10,000 workers a write is megabytes,
//! and the working loop must not wait for the filesystem while a death or a write waits
//! for it. Only the newest document matters, so a backlog collapses to the latest one.

use super::status::StatusParts;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

type Job = (u64, PathBuf, StatusParts);

/// The number of the last job written (or superseded), for `flush`.
type Done = Arc<(Mutex<u64>, Condvar)>;

pub struct StatusWriter {
    tx: Option<Sender<Job>>,
    sent: u64,
    done: Done,
    thread: Option<JoinHandle<()>>,
    /// Writes that failed (shown as `daemon.faults.status_file`).
    faults: Arc<AtomicU64>,
    /// The error of the last failed write, so a lasting problem is logged once.
    last_error: Arc<Mutex<Option<String>>>,
}

impl Default for StatusWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl StatusWriter {
    pub fn new() -> StatusWriter {
        let (tx, rx) = channel();
        let faults = Arc::new(AtomicU64::new(0));
        let last_error = Arc::new(Mutex::new(None));
        let done: Done = Arc::default();
        let (f, e, d) = (faults.clone(), last_error.clone(), done.clone());
        let thread = std::thread::Builder::new()
            .name("status-writer".into())
            .spawn(move || write_loop(&rx, &f, &e, &d))
            .map_err(|err| tracing::error!(error = %err, "cannot start the status writer; writing on the loop"))
            .ok();
        let tx = thread.as_ref().map(|_| tx);
        StatusWriter { tx, sent: 0, done, thread, faults, last_error }
    }

    /// Hands `doc` over to be written to `path`; returns at once.
    pub fn write(&mut self, path: PathBuf, doc: StatusParts) {
        self.sent += 1;
        match &self.tx {
            Some(tx) => {
                if let Err(std::sync::mpsc::SendError((_, path, doc))) = tx.send((self.sent, path, doc)) {
                    write_one(&path, &doc, &self.faults, &self.last_error);
                }
            }
            None => write_one(&path, &doc, &self.faults, &self.last_error),
        }
    }

    /// Waits until what was handed over is on disk (or failed): for READY=1, which
    /// promises a status file.
    pub fn flush(&self) {
        if self.tx.is_none() {
            return;
        }
        let (lock, cv) = &*self.done;
        let guard = lock.lock().unwrap_or_else(|p| p.into_inner());
        let _done = cv.wait_while(guard, |d| *d < self.sent).unwrap_or_else(|p| p.into_inner());
    }

    pub fn faults(&self) -> u64 {
        self.faults.load(Ordering::Relaxed)
    }

    /// Writes what is queued and stops the thread (at shutdown: the last document is on
    /// disk when this returns).
    pub fn finish(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for StatusWriter {
    fn drop(&mut self) {
        self.finish();
    }
}

fn write_loop(rx: &Receiver<Job>, faults: &AtomicU64, last_error: &Mutex<Option<String>>, done: &Done) {
    while let Ok(mut job) = rx.recv() {
        // Documents that queued up while the last one was written are superseded.
        while let Ok(newer) = rx.try_recv() {
            job = newer;
        }
        write_one(&job.1, &job.2, faults, last_error);
        let (lock, cv) = &**done;
        *lock.lock().unwrap_or_else(|p| p.into_inner()) = job.0;
        cv.notify_all();
    }
}

fn write_one(path: &std::path::Path, doc: &StatusParts, faults: &AtomicU64, last_error: &Mutex<Option<String>>) {
    let result = super::status::write_parts(path, doc);
    let mut last = last_error.lock().unwrap_or_else(|p| p.into_inner());
    match result {
        Ok(()) => *last = None,
        Err(e) => {
            faults.fetch_add(1, Ordering::Relaxed);
            let msg = format!("{}: {e}", path.display());
            if last.as_deref() != Some(&msg) {
                tracing::error!(error = %msg, "cannot write the status file");
            }
            *last = Some(msg);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    /// A "document" whose entries are `text`: what is written is easy to recognize.
    fn doc(text: &str) -> StatusParts {
        let d = crate::sink::status::DaemonInfo {
            pid: 1,
            version: String::new(),
            started_at: String::new(),
            updated_at: String::new(),
            config: String::new(),
            faults: Default::default(),
            listen: None,
        };
        StatusParts::new(&d, Default::default(), vec![Bytes::from(text.to_string())])
    }

    fn entries(path: &std::path::Path) -> String {
        let text = std::fs::read_to_string(path).unwrap();
        text.split("\"workers\":[").nth(1).unwrap().trim_end_matches("]}\n").to_string()
    }

    #[test]
    fn writes_the_latest_and_counts_failures() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("status.json");
        let mut w = StatusWriter::new();
        w.write(dir.path().join("no/such/dir/\0bad"), doc("x"));
        wait_for(|| w.faults() == 1);
        for i in 0..100 {
            w.write(path.clone(), doc(&i.to_string()));
        }
        w.flush();
        assert_eq!(entries(&path), "99", "flushed");
        w.write(path.clone(), doc("99"));
        w.finish();
        assert_eq!(entries(&path), "99", "the last document wins");
        assert_eq!(w.faults(), 1);
        // After `finish` writes happen on the caller's thread, still counted.
        w.write(path.clone(), doc("after"));
        assert_eq!(entries(&path), "after");
    }

    fn wait_for(cond: impl Fn() -> bool) {
        let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !cond() {
            assert!(std::time::Instant::now() < end, "timed out");
            std::thread::yield_now();
        }
    }
}
