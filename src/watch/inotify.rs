//! Recoveries as events: inotify watches on the logs whose recovery matters.
//!
//! Built on rustix's inotify rather than the `notify` crate: notify's recommended watcher
//! puts one fixed mask on every watch (MODIFY and OPEN included) and runs its own thread with
//! an allocation per event. A directory watch is needed to see a log created or renamed into
//! place, and with MODIFY in its mask it would report every write of every busy log sharing
//! that directory — the wake-up per write this design exists to avoid. Here a directory gets
//! only CREATE | MOVED_TO, a watched log gets its own MODIFY | ATTRIB | *_SELF, and events are
//! read into one reused buffer on the daemon's own thread.
//!
//! ATTRIB covers a log unlinked or renamed over (its link count changes), MODIFY covers
//! writes and truncation, the directory watch covers creation and replacement.

use crate::model::WorkerId;
use rustix::fd::OwnedFd;
use rustix::fs::inotify::{self, CreateFlags, ReadFlags, WatchFlags};
use rustix::io::Errno;
use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::mem::MaybeUninit;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use tokio::io::unix::AsyncFd;

const DIR_MASK: WatchFlags = WatchFlags::CREATE.union(WatchFlags::MOVED_TO).union(WatchFlags::ONLYDIR);
const FILE_MASK: WatchFlags =
    WatchFlags::MODIFY.union(WatchFlags::ATTRIB).union(WatchFlags::DELETE_SELF).union(WatchFlags::MOVE_SELF);

/// One inotify watch and the workers that asked for it (a directory is shared by all the
/// logs in it; for those the file name tells which worker an event concerns).
struct Watched {
    dir: bool,
    workers: Vec<(WorkerId, OsString)>,
}

#[derive(Default)]
struct Held {
    /// The log's watch and the inode it was taken on.
    file: Option<(i32, u64)>,
    dir: Option<i32>,
}

/// What the watches reported.
#[derive(Debug, PartialEq, Eq)]
pub enum Changed {
    Workers(Vec<WorkerId>),
    /// The kernel's queue overflowed: events were lost, everything must be looked at.
    Overflow,
}

/// What a worker needs watched: its log (and the log's directory), or nothing.
pub struct Want<'a> {
    pub log: &'a Path,
    /// The inode of the log as last seen; `None` when it does not exist.
    pub ino: Option<u64>,
}

pub struct Files {
    fd: AsyncFd<OwnedFd>,
    watches: HashMap<i32, Watched>,
    held: HashMap<WorkerId, Held>,
    /// Workers whose log could not be watched: they recover at the sweep.
    pub degraded: HashSet<WorkerId>,
    limit_warned: bool,
    /// Test-only: pretend `fs.inotify.max_user_watches` is this low.
    fake_limit: Option<usize>,
    buf: Vec<MaybeUninit<u8>>,
}

impl Files {
    pub fn new() -> Result<Files, Errno> {
        let fake_limit = std::env::var("PULSEWATCH_TEST_MAX_WATCHES").ok().and_then(|s| s.parse().ok());
        let fd = inotify::init(CreateFlags::CLOEXEC | CreateFlags::NONBLOCK)?;
        let fd = super::register(fd)?;
        Ok(Files {
            fd,
            watches: HashMap::new(),
            held: HashMap::new(),
            degraded: HashSet::new(),
            limit_warned: false,
            fake_limit,
            buf: vec![MaybeUninit::uninit(); 64 * 1024],
        })
    }

    pub fn watch_count(&self) -> usize {
        self.watches.len()
    }

    /// Brings `id`'s watches in line with `want`. Returns whether a watch was newly taken:
    /// the caller then looks at the log once more, since it may have changed just before.
    pub fn sync(&mut self, id: &WorkerId, want: Option<Want<'_>>, sweep_interval: std::time::Duration) -> bool {
        let Some(want) = want else {
            self.forget(id);
            return false;
        };
        let name = want.log.file_name().map(OsString::from).unwrap_or_default();
        let held = self.held.remove(id).unwrap_or_default();
        let mut now = Held { file: held.file, dir: held.dir };
        let mut added = false;
        let mut failed = None;
        if now.dir.is_none() {
            let parent = want.log.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            match self.add(parent, DIR_MASK, true, id, &name) {
                Ok(wd) => (now.dir, added) = (Some(wd), true),
                Err(e) => failed = Some(e),
            }
        }
        if now.file.map(|(_, ino)| ino) != want.ino {
            if let Some((wd, _)) = now.file.take() {
                self.release(wd, id);
            }
            if let Some(ino) = want.ino {
                match self.add(want.log, FILE_MASK, false, id, &name) {
                    Ok(wd) => (now.file, added) = (Some((wd, ino)), true),
                    Err(e) => failed = failed.or(Some(e)),
                }
            }
        }
        self.held.insert(id.clone(), now);
        match failed {
            None => {
                if self.degraded.remove(id) && self.degraded.is_empty() && self.limit_warned {
                    tracing::info!("every log that needs a watch has one again");
                    self.limit_warned = false;
                }
            }
            Some(e) => self.degrade(id, want.log, e, sweep_interval),
        }
        added
    }

    fn degrade(&mut self, id: &WorkerId, log: &Path, e: Errno, sweep_interval: std::time::Duration) {
        self.degraded.insert(id.clone());
        if matches!(e, Errno::NOSPC | Errno::NOMEM) {
            if !self.limit_warned {
                self.limit_warned = true;
                tracing::warn!(
                    "inotify watch limit reached (fs.inotify.max_user_watches): logs without a watch \
                     recover only at the sweep, every {}",
                    humantime::format_duration(sweep_interval)
                );
            }
        } else {
            tracing::debug!(worker = id.as_str(), log = %log.display(), error = %e, "cannot watch; sweep only");
        }
    }

    fn add(&mut self, path: &Path, mask: WatchFlags, dir: bool, id: &WorkerId, name: &OsString) -> Result<i32, Errno> {
        if self.fake_limit.is_some_and(|n| self.watches.len() >= n) {
            return Err(Errno::NOSPC);
        }
        let wd = inotify::add_watch(self.fd.get_ref(), path, mask)?;
        let w = self.watches.entry(wd).or_insert_with(|| Watched { dir, workers: Vec::new() });
        if !w.workers.iter().any(|(i, _)| i == id) {
            w.workers.push((id.clone(), name.clone()));
        }
        Ok(wd)
    }

    fn release(&mut self, wd: i32, id: &WorkerId) {
        let Some(w) = self.watches.get_mut(&wd) else { return };
        w.workers.retain(|(i, _)| i != id);
        if w.workers.is_empty() {
            self.watches.remove(&wd);
            let _ = inotify::remove_watch(self.fd.get_ref(), wd);
        }
    }

    /// Drops every watch `id` holds.
    pub fn forget(&mut self, id: &WorkerId) {
        self.degraded.remove(id);
        if let Some(h) = self.held.remove(id) {
            if let Some((wd, _)) = h.file {
                self.release(wd, id);
            }
            if let Some(wd) = h.dir {
                self.release(wd, id);
            }
        }
    }

    /// Waits for watched logs to change and returns the workers concerned, each once.
    /// Cancel-safe: events are read and resolved within the poll that returns them.
    pub async fn changes(&mut self) -> Changed {
        loop {
            let Files { fd, watches, buf, .. } = self;
            let Ok(mut guard) = fd.readable().await else {
                return std::future::pending().await;
            };
            let mut hits: Vec<WorkerId> = Vec::new();
            let mut gone: Vec<i32> = Vec::new();
            let mut overflow = false;
            let res = guard.try_io(|fd| {
                let mut reader = inotify::Reader::new(fd.get_ref(), &mut buf[..]);
                let mut any = false;
                loop {
                    let ev = match reader.next() {
                        Ok(ev) => ev,
                        Err(Errno::AGAIN) if any => return Ok(()),
                        Err(e) => return Err(e.into()),
                    };
                    any = true;
                    let mask = ev.events();
                    if mask.contains(ReadFlags::QUEUE_OVERFLOW) {
                        overflow = true;
                        continue;
                    }
                    let Some(w) = watches.get(&ev.wd()) else { continue };
                    if mask.contains(ReadFlags::IGNORED) {
                        gone.push(ev.wd());
                        hits.extend(w.workers.iter().map(|(id, _)| id.clone()));
                    } else if w.dir {
                        let Some(name) = ev.file_name() else { continue };
                        let name = name.to_bytes();
                        hits.extend(w.workers.iter().filter(|(_, n)| n.as_bytes() == name).map(|(id, _)| id.clone()));
                    } else {
                        hits.extend(w.workers.iter().map(|(id, _)| id.clone()));
                    }
                }
            });
            if res.is_err() {
                continue;
            }
            // The kernel dropped these watches (the inode is gone): their workers re-register.
            for wd in gone {
                if let Some(w) = self.watches.remove(&wd) {
                    for (id, _) in w.workers {
                        if let Some(h) = self.held.get_mut(&id) {
                            if h.file.is_some_and(|(f, _)| f == wd) {
                                h.file = None;
                            }
                            if h.dir == Some(wd) {
                                h.dir = None;
                            }
                        }
                    }
                }
            }
            if overflow {
                return Changed::Overflow;
            }
            if !hits.is_empty() {
                hits.sort_unstable();
                hits.dedup();
                return Changed::Workers(hits);
            }
        }
    }
}
