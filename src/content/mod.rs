//! Content-aware activity, pure: the bytes appended to a worker's log go in, the number of
//! characters of meaningful new text comes out. Spinners, counters and redraws are not
//! progress. The text itself stays in memory (the live region); only counts leave.

pub mod agent;
pub mod rules;
pub mod screen;

pub use agent::{Hold, Look, Prompt};
pub use rules::{AgentPatterns, Kind, PatternError, Preset, Rules, Seen};
pub use screen::Screen;

use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::fmt;

/// Lines kept for the live region: the bottom of the terminal as a person would see it.
pub const LIVE_LINES: usize = 12;

/// What the judging has seen, for status: counts only, never text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub bytes_read: u64,
    /// Bytes never looked at because a delta was larger than the read limit.
    pub bytes_skipped: u64,
    pub lines_new: u64,
    pub lines_noise: u64,
    pub lines_ignored: u64,
    pub lines_repeated: u64,
    /// Truncations, replaced files and skips: the stream started over.
    pub restarts: u64,
}

/// One worker's judging state between reads.
#[derive(Default)]
pub struct Tracker {
    screen: Screen,
    seen: Seen,
    /// The last non-blank rows, with the screen row each was on.
    live: VecDeque<(u64, String)>,
    pub counts: Counts,
}

impl fmt::Debug for Tracker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tracker").field("counts", &self.counts).finish_non_exhaustive()
    }
}

impl Tracker {
    /// Judges appended bytes; returns the characters of new text in them. Every line
    /// completed by these bytes is judged; the line still being written waits for the next
    /// read (or `settle`).
    pub fn feed(&mut self, bytes: &[u8], rules: &Rules) -> u64 {
        self.counts.bytes_read += bytes.len() as u64;
        self.run(rules, true, |screen, out| screen.feed(bytes, out))
    }

    /// The stream went still: the line under the cursor is what stays on screen; judge it.
    pub fn settle(&mut self, rules: &Rules) -> u64 {
        self.run(rules, true, |screen, out| screen.flush(out))
    }

    /// Judges bytes that were already judged before a restart: they fill the memory of
    /// recent lines and the live region, and count for nothing.
    pub fn prime(&mut self, bytes: &[u8], rules: &Rules) {
        self.run(rules, false, |screen, out| screen.feed(bytes, out));
    }

    /// The stream starts over (truncation, a new file, skipped bytes): a half-parsed escape
    /// sequence or line must not run into what follows. Recent lines are kept, so a file
    /// replaced by a copy of itself is not progress.
    pub fn restart(&mut self) {
        self.screen.reset();
        self.counts.restarts += 1;
    }

    fn run(&mut self, rules: &Rules, count: bool, f: impl FnOnce(&mut Screen, &mut dyn FnMut(&str, u64))) -> u64 {
        let (seen, live, counts) = (&mut self.seen, &mut self.live, &mut self.counts);
        let mut new = 0u64;
        let mut judge = |line: &str, row: u64| {
            let kind = rules.judge(line, seen);
            if count {
                match kind {
                    Kind::Noise => counts.lines_noise += 1,
                    Kind::Ignored => counts.lines_ignored += 1,
                    Kind::Repeated => counts.lines_repeated += 1,
                    Kind::New(n) => {
                        counts.lines_new += 1;
                        new += u64::from(n);
                    }
                }
            }
            remember(live, line, row);
        };
        f(&mut self.screen, &mut judge);
        new
    }

    /// The live region: the last non-blank lines, oldest first, then the line under the
    /// cursor. What an agent-aware check looks at for prompts and busy markers.
    pub fn live_region(&self) -> Vec<String> {
        let row = self.screen.row();
        let pending = self.screen.pending();
        // The line under the cursor replaces earlier frames of its row.
        let replaced = pending.is_some() && self.live.back().is_some_and(|(r, _)| *r == row);
        let kept = self.live.len() - usize::from(replaced);
        let mut v: Vec<String> = self.live.iter().take(kept).map(|(_, l)| l.clone()).collect();
        if let Some(p) = pending.filter(|p| !p.trim().is_empty()) {
            v.push(p.trim_end().to_string());
        }
        v
    }
}

/// Keeps `line` as what row `row` shows now: a frame redrawn in place replaces the row's
/// earlier frame (an overwritten spinner is no longer on screen), a blank one removes it.
fn remember(live: &mut VecDeque<(u64, String)>, line: &str, row: u64) {
    let line = line.trim_end();
    let same_row = live.back().is_some_and(|(r, _)| *r == row);
    if line.trim_start().is_empty() {
        if same_row {
            live.pop_back();
        }
        return;
    }
    // Reuse a buffer: no allocation per line once the region is full.
    let (_, mut s) = if same_row {
        live.pop_back().expect("same row")
    } else if live.len() == LIVE_LINES {
        live.pop_front().expect("full")
    } else {
        (row, String::new())
    };
    s.clear();
    s.push_str(line);
    live.push_back((row, s));
}
