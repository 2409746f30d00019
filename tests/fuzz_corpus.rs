//! Replays the committed fuzz corpora (`fuzz/corpus/<target>/`) through the parsers they were
//! found for, so CI checks without cargo-fuzz that no input the fuzzers kept makes a parser
//! panic. The fuzz targets themselves (`fuzz/fuzz_targets/`) assert more and run for longer.

use pulsewatch::config::{PresetLibrary, load_embedded, load_str, parse_worker_entry};
use pulsewatch::content::{Rules, Tracker};
use pulsewatch::probe::{parse_pidfile, procstat::parse_stat, tmux::parse_panes};
use pulsewatch::sink::events::last_seq_in_tail;
use pulsewatch::state::persist;
use std::path::{Path, PathBuf};

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target);
    let mut files: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} holds no corpus", dir.display());
    files
}

fn text(bytes: &[u8]) -> Option<&str> {
    std::str::from_utf8(bytes).ok()
}

#[test]
fn config() {
    for (p, b) in corpus("config") {
        if let Some(t) = text(&b) {
            if let Err(e) = load_str(t, Some("/c.toml".into())) {
                assert!(e.to_string().starts_with("/c.toml:"), "{}: {e}", p.display());
            }
        }
    }
}

#[test]
fn preset() {
    for (p, b) in corpus("preset") {
        let Some(t) = text(&b) else { continue };
        for name in ["fuzzed", "spinners"] {
            let label = format!("/p/{name}.toml");
            if let Err(e) = PresetLibrary::with_files(vec![(name.into(), label.clone(), t.into())]) {
                assert!(e.to_string().starts_with(&label), "{} as {name}: {e}", p.display());
            }
        }
    }
}

#[test]
fn registry_entry() {
    let registry = load_embedded().registry();
    for (p, b) in corpus("registry_entry") {
        if let Some(t) = text(&b) {
            if let Ok(spec) = parse_worker_entry(Path::new("/r/w.toml"), t, &registry, Path::new("/s")) {
                assert!(spec.log.is_absolute(), "{}", p.display());
            }
        }
    }
}

#[test]
fn small_parsers() {
    for (_, b) in corpus("pidfile") {
        parse_pidfile(&b);
    }
    for (_, b) in corpus("procstat") {
        parse_stat(&b);
    }
    for (_, b) in corpus("tmux_panes") {
        parse_panes(&String::from_utf8_lossy(&b));
    }
    for (_, b) in corpus("event_tail") {
        last_seq_in_tail(&b);
    }
}

#[test]
fn state_json_round_trips() {
    for (p, b) in corpus("state_json") {
        if let Ok(saved) = persist::parse(&b) {
            let again = persist::parse(&persist::serialize(&saved)).expect("what we write parses back");
            assert_eq!(persist::parse(&persist::serialize(&again)).unwrap(), again, "{}", p.display());
        }
    }
}

#[test]
fn terminal_stream_cut_anywhere() {
    let preset = PresetLibrary::embedded().get("spinners").expect("embedded spinners preset").clone();
    let rules = Rules::new(preset, Vec::new(), 1).unwrap();
    for (p, b) in corpus("terminal_stream") {
        let Some((&cut, bytes)) = b.split_first() else { continue };
        let cut = usize::from(cut) * bytes.len() / 255;
        let mut whole = Tracker::default();
        let n = whole.feed(bytes, &rules) + whole.settle(&rules);
        let mut split = Tracker::default();
        let m = split.feed(&bytes[..cut], &rules) + split.feed(&bytes[cut..], &rules) + split.settle(&rules);
        assert_eq!((n, whole.counts), (m, split.counts), "{}", p.display());
    }
}
