//! Fuzzes the parser of `tmux list-panes -a -F PANE_FORMAT` output: never a panic, and a
//! pane printed back in the format parses to the same pane.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pulsewatch::probe::tmux::{Pane, parse_pane, parse_panes};

fn print(p: &Pane) -> String {
    let b = |x: bool| if x { "1" } else { "0" };
    format!(
        "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
        p.pane_id,
        p.pane_pid,
        b(p.dead),
        b(p.piped),
        p.window,
        p.pane,
        b(p.active),
        b(p.window_active),
        p.window_name,
        p.session
    )
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let panes = parse_panes(&text);
    assert!(panes.len() <= text.lines().count());
    for p in &panes {
        assert!(p.pane_id.starts_with('%'));
        assert_eq!(parse_pane(&print(p)).as_ref(), Some(p), "{p:?}");
    }
});
