//! The deadline queue: each worker's next possible transition, ordered by instant.
//!
//! Pure: it stores instants it is given and hands back the workers whose instant has come.
//! A worker has at most one entry; setting a new instant removes the old one at once (the
//! side map says where it is), so the queue never holds stale entries and needs no lazy
//! invalidation when it is popped.

use crate::model::WorkerId;
use std::collections::{BTreeSet, HashMap};
use std::time::SystemTime;

#[derive(Debug, Default)]
pub struct Deadlines {
    queue: BTreeSet<(SystemTime, WorkerId)>,
    at: HashMap<WorkerId, SystemTime>,
}

impl Deadlines {
    /// Sets (or, with `None`, clears) the instant at which `id` must be looked at again.
    pub fn set(&mut self, id: &WorkerId, when: Option<SystemTime>) {
        let old = self.at.get(id).copied();
        if old == when {
            return;
        }
        if let Some(t) = old {
            self.queue.remove(&(t, id.clone()));
        }
        match when {
            Some(t) => {
                self.queue.insert((t, id.clone()));
                self.at.insert(id.clone(), t);
            }
            None => {
                self.at.remove(id);
            }
        }
    }

    /// The earliest instant in the queue.
    pub fn next(&self) -> Option<SystemTime> {
        self.queue.first().map(|(t, _)| *t)
    }

    /// Removes and appends to `out` every worker whose instant is at or before `now`.
    pub fn pop_due(&mut self, now: SystemTime, out: &mut Vec<WorkerId>) {
        while let Some((t, _)) = self.queue.first() {
            if *t > now {
                break;
            }
            let (_, id) = self.queue.pop_first().expect("first exists");
            self.at.remove(&id);
            out.push(id);
        }
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(s: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_000 + s)
    }
    fn id(s: &str) -> WorkerId {
        WorkerId::new(s).unwrap()
    }

    #[test]
    fn orders_replaces_and_pops() {
        let mut d = Deadlines::default();
        d.set(&id("a"), Some(at(30)));
        d.set(&id("b"), Some(at(10)));
        d.set(&id("c"), Some(at(20)));
        assert_eq!(d.next(), Some(at(10)));
        d.set(&id("b"), Some(at(40))); // rescheduled: the old entry goes
        d.set(&id("c"), None); // cleared
        assert_eq!((d.len(), d.next()), (2, Some(at(30))));
        let mut out = Vec::new();
        d.pop_due(at(29), &mut out);
        assert!(out.is_empty());
        d.pop_due(at(40), &mut out);
        assert_eq!(out, vec![id("a"), id("b")], "due ones in instant order, boundary included");
        assert!(d.is_empty());
        d.set(&id("a"), Some(at(50)));
        d.set(&id("b"), Some(at(50)));
        assert_eq!(d.len(), 2, "two workers may share an instant");
    }
}
