//! Watching the registry directories, so an entry added, changed or removed is picked up
//! at once instead of at the next sweep (which stays as the safety net).

use crate::config::{Config, DiscoverSpec};
use notify::event::{AccessKind, AccessMode, EventKind};
use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use std::path::Path;
use std::time::Duration;
use tokio::sync::mpsc;

/// How long a burst of changes (an editor's save, a writer's temp file + rename) may run on
/// before the daemon looks: one sweep for the whole burst.
const SETTLE: Duration = Duration::from_millis(100);

pub struct RegistryWatch {
    /// Kept alive for as long as events are wanted; `None` when nothing could be watched.
    _watcher: Option<RecommendedWatcher>,
    rx: mpsc::UnboundedReceiver<()>,
    /// Set once a change arrived: when the burst counts as settled. Kept here, not in the
    /// future, because the daemon's `select!` drops `changed()` whenever another branch
    /// wins (a heartbeat tick); a change seen by a dropped future must not be lost.
    settle_at: Option<tokio::time::Instant>,
}

impl RegistryWatch {
    /// Watches every registry directory of `cfg`, creating it when missing. A directory
    /// that cannot be watched is logged; the sweep still covers it.
    pub fn new(cfg: &Config) -> RegistryWatch {
        let (tx, rx) = mpsc::unbounded_channel();
        let handler = move |res: notify::Result<notify::Event>| match res {
            Ok(ev) if relevant(&ev) => {
                let _ = tx.send(());
            }
            Ok(_) => {}
            // Events may have been lost: look at everything, as if all entries changed.
            Err(e) => {
                tracing::warn!("registry watch: {e}; reading the registry again");
                let _ = tx.send(());
            }
        };
        let mut watcher = match notify::recommended_watcher(handler) {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!("cannot watch registry directories (the sweep still reads them): {e}");
                return RegistryWatch { _watcher: None, rx, settle_at: None };
            }
        };
        for source in &cfg.discover {
            if let DiscoverSpec::Registry(r) = source {
                let watched = std::fs::create_dir_all(&r.dir)
                    .map_err(notify::Error::io)
                    .and_then(|()| watcher.watch(&r.dir, RecursiveMode::NonRecursive));
                match watched {
                    Ok(()) => tracing::debug!(dir = %r.dir.display(), "watching registry"),
                    Err(e) => {
                        tracing::warn!("{}: cannot watch registry (the sweep still reads it): {e}", r.dir.display())
                    }
                }
            }
        }
        RegistryWatch { _watcher: Some(watcher), rx, settle_at: None }
    }

    /// Resolves once entries changed and the burst settled; pends forever without a watcher.
    /// Cancel-safe: dropped and called again, it goes on where it was.
    pub async fn changed(&mut self) {
        loop {
            let Some(at) = self.settle_at else {
                if self.rx.recv().await.is_none() {
                    return std::future::pending().await;
                }
                self.settle_at = Some(tokio::time::Instant::now() + SETTLE);
                continue;
            };
            tokio::select! {
                more = self.rx.recv() => match more {
                    Some(()) => self.settle_at = Some(tokio::time::Instant::now() + SETTLE),
                    None => break,
                },
                _ = tokio::time::sleep_until(at) => break,
            }
        }
        self.settle_at = None;
    }
}

/// Changes to entry files; not reads (our own sweep opens them), not writers' hidden temp files.
/// An overflowed inotify queue (events lost, `need_rescan`) counts as a change too.
fn relevant(ev: &notify::Event) -> bool {
    if ev.need_rescan() {
        return true;
    }
    let changes = match ev.kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    };
    changes && ev.paths.iter().any(|p| is_entry(p))
}

/// `<id>.toml`, not a dot file (writers use those as temp names).
pub fn is_entry(p: &Path) -> bool {
    p.extension().is_some_and(|x| x == "toml") && !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{CreateKind, ModifyKind, RemoveKind, RenameMode};

    /// A change whose settling was interrupted (the future dropped) is still reported.
    #[tokio::test]
    async fn a_dropped_wait_loses_no_change() {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut w = RegistryWatch { _watcher: None, rx, settle_at: None };
        tx.send(()).unwrap();
        let short = tokio::time::timeout(SETTLE / 2, w.changed()).await;
        assert!(short.is_err(), "still settling");
        tokio::time::timeout(SETTLE, w.changed()).await.expect("the change is not lost");
        assert!(w.settle_at.is_none());
    }

    #[test]
    fn which_events_count() {
        let ev = |kind, p: &str| notify::Event::new(kind).add_path(p.into());
        let cases = [
            (ev(EventKind::Create(CreateKind::File), "/r/a.toml"), true),
            (ev(EventKind::Modify(ModifyKind::Name(RenameMode::To)), "/r/a.toml"), true),
            (ev(EventKind::Remove(RemoveKind::File), "/r/a.toml"), true),
            (ev(EventKind::Access(AccessKind::Close(AccessMode::Write)), "/r/a.toml"), true),
            (ev(EventKind::Access(AccessKind::Open(AccessMode::Any)), "/r/a.toml"), false),
            (ev(EventKind::Create(CreateKind::File), "/r/.pulsewatch-x.tmp"), false),
            (ev(EventKind::Create(CreateKind::File), "/r/.a.toml"), false),
            (ev(EventKind::Create(CreateKind::File), "/r/notes.txt"), false),
            (notify::Event::new(EventKind::Other).set_flag(notify::event::Flag::Rescan), true),
        ];
        for (e, want) in cases {
            assert_eq!(relevant(&e), want, "{e:?}");
        }
    }
}
