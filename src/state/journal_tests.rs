//! The journal on real files: replay, torn and stale records, compaction.

use super::*;
use crate::state::Tracker;

fn worker(since_s: u64) -> SavedWorker {
    let since = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(since_s);
    SavedWorker {
        tracker: Tracker {
            state: crate::model::State::Quiet,
            reason: crate::model::Reason::NoOutput,
            since,
            flap: Default::default(),
        },
        identity: None,
        first_seen: since,
        content: None,
    }
}

fn delta(seq: u64, id: &str, since_s: u64) -> Delta<'static> {
    Delta { last_seq: seq, workers: [(id.to_string(), worker(since_s))].into(), ..Delta::default() }
}

fn fresh() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, saved) = Store::open(dir.path()).unwrap();
    assert_eq!(saved, None);
    store.compact(&mut Saved::empty()).unwrap();
    (dir, store)
}

#[test]
fn records_replay_on_top_of_the_snapshot() {
    let (dir, mut store) = fresh();
    store.append(&delta(1, "a", 10)).unwrap();
    store.append(&delta(2, "b", 20)).unwrap();
    let mut third = delta(3, "a", 30);
    third.removed.push("b".into());
    third.unlogged.push(r#"{"seq":3}"#.into());
    third.forgotten = Some([("old".to_string(), SystemTime::UNIX_EPOCH)].into());
    store.append(&third).unwrap();
    let (_, saved) = Store::open(dir.path()).unwrap();
    let saved = saved.unwrap();
    assert_eq!(saved.last_seq, 3);
    assert_eq!(saved.workers.keys().collect::<Vec<_>>(), ["a"]);
    assert_eq!(saved.workers["a"], worker(30));
    assert_eq!(saved.unlogged, [r#"{"seq":3}"#]);
    assert_eq!(saved.forgotten.len(), 1);
    assert_eq!(load_readonly(dir.path()), Some(saved));
}

#[test]
fn a_snapshot_without_a_journal_is_whole() {
    let (dir, mut store) = fresh();
    store.append(&delta(1, "a", 10)).unwrap();
    let saved = Store::open(dir.path()).unwrap().1.unwrap();
    std::fs::remove_file(dir.path().join("state.journal")).unwrap();
    store.compact(&mut saved.clone()).unwrap();
    std::fs::remove_file(dir.path().join("state.journal")).unwrap();
    assert_eq!(load_readonly(dir.path()).unwrap().workers, saved.workers);
    assert_eq!(Store::open(dir.path()).unwrap().1.unwrap().workers, saved.workers);
}

#[test]
fn a_torn_last_record_is_dropped() {
    let (dir, mut store) = fresh();
    store.append(&delta(1, "a", 10)).unwrap();
    let mut f = std::fs::OpenOptions::new().append(true).open(dir.path().join("state.journal")).unwrap();
    f.write_all(br#"{"last_seq":2,"workers":{"b""#).unwrap();
    let saved = Store::open(dir.path()).unwrap().1.unwrap();
    assert_eq!((saved.last_seq, saved.workers.len()), (1, 1));
}

#[test]
fn a_bad_record_ends_the_replay() {
    let (dir, mut store) = fresh();
    store.append(&delta(1, "a", 10)).unwrap();
    let mut f = std::fs::OpenOptions::new().append(true).open(dir.path().join("state.journal")).unwrap();
    f.write_all(b"garbage\n").unwrap();
    drop(f);
    store.append(&delta(2, "b", 20)).unwrap();
    let saved = Store::open(dir.path()).unwrap().1.unwrap();
    assert_eq!((saved.last_seq, saved.workers.len()), (1, 1), "what preceded the bad line is kept");
}

#[test]
fn compaction_folds_the_journal_and_stale_records_are_ignored() {
    let (dir, mut store) = fresh();
    store.append(&delta(1, "a", 10)).unwrap();
    let old_journal = std::fs::read(dir.path().join("state.journal")).unwrap();
    let mut saved = Store::open(dir.path()).unwrap().1.unwrap();
    store.compact(&mut saved).unwrap();
    assert_eq!(std::fs::read_to_string(dir.path().join("state.journal")).unwrap().lines().count(), 1);
    let again = Store::open(dir.path()).unwrap().1.unwrap();
    assert_eq!(again, saved);
    // A kill after the snapshot was replaced but before the journal was: the old journal's
    // records are in the snapshot already and must not be applied twice.
    std::fs::write(dir.path().join("state.journal"), old_journal).unwrap();
    assert_eq!(Store::open(dir.path()).unwrap().1.unwrap(), saved);
}

#[test]
fn a_failed_append_asks_for_a_compaction() {
    let (dir, mut store) = fresh();
    assert!(!store.wants_compaction());
    // The journal replaced by a directory: appends fail, and nothing is appended after.
    std::fs::remove_file(dir.path().join("state.journal")).unwrap();
    std::fs::create_dir(dir.path().join("state.journal")).unwrap();
    assert!(store.append(&delta(1, "a", 10)).is_err());
    assert!(store.wants_compaction());
    assert!(store.append(&delta(2, "a", 10)).is_err());
    std::fs::remove_dir(dir.path().join("state.journal")).unwrap();
    let mut saved = Saved::empty();
    delta(2, "a", 10).apply(&mut saved);
    store.compact(&mut saved).unwrap();
    assert!(!store.wants_compaction());
    store.append(&delta(3, "b", 10)).unwrap();
    assert_eq!(Store::open(dir.path()).unwrap().1.unwrap().workers.len(), 2);
}
