//! Fuzzes content judging of a terminal stream (the stripper, then the spinners preset): any
//! bytes are judged without a panic, lines stay bounded, and how the bytes are cut into
//! reads changes nothing, since a log is read in whatever pieces were appended.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pulsewatch::config::PresetLibrary;
use pulsewatch::content::screen::MAX_COLS;
use pulsewatch::content::{Rules, Screen, Tracker};
use std::sync::OnceLock;

fuzz_target!(|data: &[u8]| {
    static RULES: OnceLock<Rules> = OnceLock::new();
    let rules = RULES.get_or_init(|| {
        let preset = PresetLibrary::embedded().get("spinners").expect("embedded spinners preset").clone();
        Rules::new(preset, Vec::new(), 1).expect("no patterns to fail")
    });
    let Some((&cut, bytes)) = data.split_first() else { return };
    let cut = usize::from(cut) * bytes.len() / 255;

    let mut lines = Vec::new();
    let mut screen = Screen::default();
    screen.feed(bytes, &mut |l, _| lines.push(l.to_string()));
    screen.flush(&mut |l, _| lines.push(l.to_string()));
    assert!(lines.iter().all(|l| l.chars().count() <= MAX_COLS), "a line longer than {MAX_COLS} cells");

    let mut whole = Tracker::default();
    let new_whole = whole.feed(bytes, rules) + whole.settle(rules);
    let mut split = Tracker::default();
    let new_split = split.feed(&bytes[..cut], rules) + split.feed(&bytes[cut..], rules) + split.settle(rules);
    assert_eq!(new_whole, new_split, "cut at {cut}");
    assert_eq!(whole.counts, split.counts, "cut at {cut}");
    assert_eq!(whole.live_region(), split.live_region(), "cut at {cut}");
});
