//! Process deaths as events: a pidfd per watched process, readable once it exits.
//!
//! All pidfds sit in one epoll set of our own, and that set's fd is what is registered with
//! tokio (`AsyncFd`). One `AsyncFd` per pidfd would wake the loop without saying which of
//! 10,000 fired; the set hands back the tokens of exactly those that did, O(1) per death.
//! A pidfd also pins identity: it refers to the process it was opened for, so a PID reused
//! after the exit cannot be mistaken for the worker (the start time is checked once, right
//! after opening, to close the window between the probe and `pidfd_open`).

use crate::identity::PidFacts;
use crate::model::WorkerId;
use crate::probe::probe_pid;
use rustix::event::epoll;
use rustix::fd::OwnedFd;
use rustix::io::Errno;
use rustix::process::{Pid, PidfdFlags, pidfd_open};
use std::collections::HashMap;
use std::mem::MaybeUninit;
use tokio::io::unix::AsyncFd;

/// epoll_wait without blocking: the reactor already said the set is readable.
const ZERO: rustix::event::Timespec = rustix::event::Timespec { tv_sec: 0, tv_nsec: 0 };

struct Armed {
    token: u64,
    pid: i32,
    fd: OwnedFd,
}

pub struct Pidfds {
    epoll: AsyncFd<OwnedFd>,
    armed: HashMap<WorkerId, Armed>,
    by_token: HashMap<u64, WorkerId>,
    next_token: u64,
    /// The pid whose pidfd already fired for a worker, and how often it was looked at since:
    /// not armed again, so a process that /proc still shows as alive (hidepid, EPERM) cannot
    /// make a level-triggered fd spin; it is looked at again with a growing delay instead.
    spent: HashMap<WorkerId, (i32, u32)>,
}

/// Why a pidfd could not be armed.
#[derive(Debug, PartialEq, Eq)]
pub enum ArmError {
    /// The process is gone (or the PID already names another one): look again now.
    Gone,
    /// pidfds do not work here (old kernel, seccomp, EPERM): give up on them entirely.
    Unsupported(Errno),
    /// Out of descriptors or memory: this worker waits for the sweep.
    Resource(Errno),
}

impl Pidfds {
    /// The set, or why pidfds are unusable on this system (checked on our own process).
    pub fn new() -> Result<Pidfds, Errno> {
        if std::env::var_os("PULSEWATCH_TEST_NO_PIDFD").is_some() {
            return Err(Errno::NOSYS);
        }
        let me = Pid::from_raw(std::process::id() as i32).expect("own pid is positive");
        drop(pidfd_open(me, PidfdFlags::empty())?);
        raise_fd_limit();
        let set = epoll::create(epoll::CreateFlags::CLOEXEC)?;
        let epoll = super::register(set)?;
        Ok(Pidfds { epoll, armed: HashMap::new(), by_token: HashMap::new(), next_token: 0, spent: HashMap::new() })
    }

    /// The pid watched for `id`, if any.
    pub fn pid(&self, id: &WorkerId) -> Option<i32> {
        self.armed.get(id).map(|a| a.pid)
    }

    /// The pid whose exit was last reported for `id`.
    pub fn spent_pid(&self, id: &WorkerId) -> Option<i32> {
        self.spent.get(id).map(|(p, _)| *p)
    }

    /// Whether `pid`'s death was already reported for `id`.
    pub fn is_spent(&self, id: &WorkerId, pid: i32) -> bool {
        self.spent.get(id).is_some_and(|(p, _)| *p == pid)
    }

    /// For a worker still seen alive after its pidfd said the process exited: when to look
    /// again (20 ms, doubling up to a minute). The kernel is right; /proc can lag or hide.
    pub fn recheck_after(&mut self, id: &WorkerId, pid: i32) -> Option<std::time::Duration> {
        if self.spent.is_empty() {
            return None;
        }
        let (p, tries) = self.spent.get_mut(id)?;
        if *p != pid {
            return None;
        }
        *tries += 1;
        let ms = 20u64.saturating_mul(1 << (*tries).min(12));
        Some(std::time::Duration::from_millis(ms.min(60_000)))
    }

    /// Watches `pid` for `id` (replacing what was watched before), after checking that the
    /// PID still names the process with `start_ticks` (when known).
    pub fn arm(&mut self, id: &WorkerId, pid: i32, start_ticks: Option<u64>) -> Result<(), ArmError> {
        self.disarm(id);
        let p = Pid::from_raw(pid).ok_or(ArmError::Gone)?;
        let fd = pidfd_open(p, PidfdFlags::empty()).map_err(classify_errno)?;
        if let Some(want) = start_ticks {
            match probe_pid(pid) {
                PidFacts::Running { start_ticks, state } if start_ticks == want && state != b'Z' => {}
                PidFacts::Hidden => {}
                _ => return Err(ArmError::Gone),
            }
        }
        let token = self.next_token;
        self.next_token += 1;
        epoll::add(self.epoll.get_ref(), &fd, epoll::EventData::new_u64(token), epoll::EventFlags::IN)
            .map_err(classify_errno)?;
        self.by_token.insert(token, id.clone());
        self.armed.insert(id.clone(), Armed { token, pid, fd });
        self.spent.remove(id);
        Ok(())
    }

    /// Stops watching `id`'s process; closing the pidfd removes it from the set.
    pub fn disarm(&mut self, id: &WorkerId) {
        if let Some(a) = self.armed.remove(id) {
            self.by_token.remove(&a.token);
            let _ = epoll::delete(self.epoll.get_ref(), &a.fd);
        }
    }

    /// Forgets `id` entirely (the worker is gone).
    pub fn forget(&mut self, id: &WorkerId) {
        self.disarm(id);
        self.spent.remove(id);
    }

    pub fn len(&self) -> usize {
        self.armed.len()
    }

    /// Waits until some watched process exits and returns the workers concerned; their
    /// pidfds are closed (spent). Cancel-safe: nothing is consumed before it returns.
    pub async fn deaths(&mut self) -> Vec<WorkerId> {
        loop {
            let Ok(mut guard) = self.epoll.readable().await else {
                return std::future::pending().await;
            };
            let mut buf = [MaybeUninit::<epoll::Event>::uninit(); 64];
            let mut tokens = Vec::new();
            let res = guard.try_io(|fd| {
                loop {
                    let (got, _) = epoll::wait(fd.get_ref(), &mut buf[..], Some(&ZERO))?;
                    let n = got.len();
                    tokens.extend(got.iter().map(|e| e.data.u64()));
                    if n == 0 && tokens.is_empty() {
                        return Err(std::io::ErrorKind::WouldBlock.into());
                    }
                    if n < 64 {
                        return Ok(());
                    }
                }
            });
            if res.is_err() {
                continue;
            }
            let mut ids = Vec::with_capacity(tokens.len());
            for t in tokens {
                if let Some(id) = self.by_token.get(&t).cloned() {
                    let pid = self.pid(&id).expect("armed");
                    self.disarm(&id);
                    self.spent.insert(id.clone(), (pid, 0));
                    ids.push(id);
                }
            }
            if !ids.is_empty() {
                return ids;
            }
        }
    }
}

fn classify_errno(e: Errno) -> ArmError {
    match e {
        Errno::SRCH | Errno::INVAL => ArmError::Gone,
        Errno::MFILE | Errno::NFILE | Errno::NOMEM | Errno::NOSPC => ArmError::Resource(e),
        other => ArmError::Unsupported(other),
    }
}

/// One descriptor per watched process: the soft limit (often 1024) is raised to the hard
/// one, as systemd recommends for services that need many descriptors and never `select()`.
fn raise_fd_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let lim = getrlimit(Resource::Nofile);
    if lim.maximum.is_some() && lim.current != lim.maximum {
        let raised = rustix::process::Rlimit { current: lim.maximum, maximum: lim.maximum };
        if let Err(e) = setrlimit(Resource::Nofile, raised) {
            tracing::debug!(error = %e, "cannot raise the descriptor limit");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(flavor = "current_thread")]
    async fn death_is_an_event_and_identity_is_pinned() {
        let Ok(mut set) = Pidfds::new() else { return }; // no pidfds here: nothing to test
        let mut child = std::process::Command::new("sleep").arg("600").spawn().unwrap();
        let pid = child.id() as i32;
        let id = WorkerId::new("w").unwrap();
        let start = match probe_pid(pid) {
            PidFacts::Running { start_ticks, .. } => start_ticks,
            other => panic!("child not running: {other:?}"),
        };
        assert_eq!(set.arm(&id, pid, Some(start + 1)), Err(ArmError::Gone), "another start time is another process");
        set.arm(&id, pid, Some(start)).unwrap();
        assert_eq!(set.pid(&id), Some(pid));
        child.kill().unwrap();
        let ids = tokio::time::timeout(Duration::from_secs(10), set.deaths()).await.expect("death reported");
        assert_eq!(ids, vec![id.clone()]);
        assert!(set.is_spent(&id, pid) && set.len() == 0);
        child.wait().unwrap();
        assert_eq!(set.arm(&id, pid, Some(start)), Err(ArmError::Gone), "a reaped pid cannot be armed");
    }
}
