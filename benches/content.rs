//! Throughput of content judging (stripper + rules), on the streams content mode meets:
//! a spinner redrawn with `\r`, a full-screen redraw, and a plain build log.
//! Run with `cargo bench --bench content`; it prints MB/s, it asserts nothing.

use pulsewatch::config::PresetLibrary;
use pulsewatch::content::{Rules, Tracker};
use std::hint::black_box;
use std::time::Instant;

fn spinner(frames: usize) -> Vec<u8> {
    let glyphs = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
    (0..frames)
        .map(|i| {
            format!(
                "\r\x1b[2K\x1b[36m{}\x1b[0m Thinking… \x1b[2m({}s · ↓ {} tokens · esc to interrupt)\x1b[0m",
                glyphs[i % 10],
                i / 10,
                i * 7
            )
        })
        .collect::<String>()
        .into_bytes()
}

fn redraw(screens: usize) -> Vec<u8> {
    let mut s = String::new();
    for i in 0..screens {
        s.push_str("\x1b[H\x1b[2J");
        for r in 1..=40 {
            s.push_str(&format!("\x1b[{r};1H\x1b[1mrow {r}\x1b[0m: the same text as every time before"));
        }
        s.push_str(&format!("\x1b[42;1H{} working", ['⠋', '⠙'][i % 2]));
    }
    s.into_bytes()
}

fn build_log(lines: usize) -> Vec<u8> {
    (0..lines).map(|i| format!("   Compiling crate-{i} v0.{i}.0 (/src/crate-{i})\r\n")).collect::<String>().into_bytes()
}

fn main() {
    let streams = [("spinner", spinner(20_000)), ("redraw", redraw(500)), ("build log", build_log(20_000))];
    for preset in ["spinners", "none"] {
        println!("preset {preset}:");
        let preset = PresetLibrary::embedded().get(preset).unwrap().clone();
        let rules = Rules::new(preset, vec!["^Finished ".into()], 1).unwrap();
        measure(&streams, &rules);
    }
}

fn measure(streams: &[(&str, Vec<u8>)], rules: &Rules) {
    for (name, stream) in streams {
        // Fed in 4 KiB reads, as a sweep would find them.
        let rounds = 5;
        let start = Instant::now();
        for _ in 0..rounds {
            let mut t = Tracker::default();
            for chunk in stream.chunks(4096) {
                black_box(t.feed(chunk, rules));
            }
        }
        let secs = start.elapsed().as_secs_f64();
        let mb = (stream.len() * rounds) as f64 / 1e6;
        println!("{name:>10}: {:>7.1} MB/s  ({:.1} MB in {:.3} s)", mb / secs, mb, secs);
    }
}
