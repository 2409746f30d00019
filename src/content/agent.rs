//! Agent-aware reading of the live region, pure: is a busy marker showing, is the agent asking
//! a person something, or is it back at its idle prompt; and the hysteresis that keeps a
//! prompt which flashes by from being reported.

use super::Preset;
use std::time::{Duration, SystemTime};

/// What the bottom of the terminal asks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Prompt {
    #[default]
    None,
    /// A question for a person: a permission dialog, `[y/n]`, "press enter to confirm".
    Input,
    /// Back at the idle prompt after finishing or being interrupted.
    Idle,
}

/// One reading of the live region.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Look {
    /// A `[busy]` pattern matched anywhere in the live region.
    pub busy: bool,
    pub prompt: Prompt,
}

/// A line of box-drawing or ASCII rule characters: where a TUI's input area begins.
fn is_rule(line: &str) -> bool {
    let t = line.trim();
    t.chars().count() >= 8 && t.chars().all(|c| matches!(c, '─' | '━' | '═' | '-' | '=' | '╌' | '┄' | '▔' | '▁'))
}

/// Reads `live` (the live region, oldest first). Busy markers count anywhere in it (a TUI
/// draws its spinner above the input box); prompts count only after the last horizontal rule
/// (rules at the very bottom skipped), or anywhere when there is none, so a question in the
/// scrollback above the input area is not taken for one that is showing.
pub fn scan(live: &[String], preset: &Preset) -> Look {
    let hit = |set: &Option<regex::RegexSet>, lines: &[String]| {
        set.as_ref().is_some_and(|s| lines.iter().any(|l| s.is_match(l.trim())))
    };
    let end = live.iter().rposition(|l| !is_rule(l)).map_or(0, |i| i + 1);
    let body = &live[..end];
    let start = body.iter().rposition(|l| is_rule(l)).map_or(0, |i| i + 1);
    let region = &body[start..];
    let c = preset.compiled();
    let prompt = if hit(&c.awaiting, region) {
        Prompt::Input
    } else if hit(&c.idle, region) {
        Prompt::Idle
    } else {
        Prompt::None
    };
    Look { busy: hit(&c.busy, live), prompt }
}

/// How long a prompt must keep showing before it is reported.
pub const SETTLE: Duration = Duration::from_millis(1500);
/// A busy marker seen this recently keeps a showing prompt from being reported.
pub const BUSY_GRACE: Duration = Duration::from_secs(6);

/// Hysteresis for one worker: `observe` each look, get the prompt to report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Hold {
    candidate: Prompt,
    since: Option<SystemTime>,
    last_busy: Option<SystemTime>,
    /// The last look showed a prompt that a recent busy marker kept from counting.
    suppressed: bool,
}

impl Hold {
    /// A prompt is reported once it has shown, with no busy marker within `BUSY_GRACE`, for
    /// `SETTLE`; a prompt that went away is dropped at once (output resuming is reported by
    /// the state rules without delay).
    pub fn observe(&mut self, look: Look, now: SystemTime) -> Prompt {
        if look.busy {
            self.last_busy = Some(now);
        }
        let recently_busy = self.last_busy.is_some_and(|b| now.duration_since(b).unwrap_or_default() < BUSY_GRACE);
        let signal = if recently_busy { Prompt::None } else { look.prompt };
        self.suppressed = recently_busy && look.prompt != Prompt::None;
        if signal != self.candidate || self.since.is_none() {
            self.candidate = signal;
            self.since = Some(now);
        }
        let held = self.since.is_some_and(|s| now.duration_since(s).unwrap_or_default() >= SETTLE);
        if self.candidate == Prompt::None || held { self.candidate } else { Prompt::None }
    }

    /// When `observe` may answer differently with the screen as it is: a prompt settling,
    /// or a prompt coming out from behind the busy grace. A deadline to look again then,
    /// so a prompt is reported on time without any write to wake the daemon.
    pub fn next_change(&self, now: SystemTime) -> Option<SystemTime> {
        let settling = self.since.filter(|_| self.candidate != Prompt::None).map(|s| s + SETTLE);
        let unmasked = self.last_busy.filter(|_| self.suppressed).map(|b| b + BUSY_GRACE);
        [settling, unmasked].into_iter().flatten().filter(|t| *t > now).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PresetLibrary;
    use Prompt::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_string).collect()
    }

    #[test]
    fn scans_each_agent() {
        let lib = PresetLibrary::embedded();
        // (preset, screen, busy, prompt)
        #[rustfmt::skip]
        let cases: &[(&str, &str, bool, Prompt)] = &[
            ("claude", "● Bash(rm -rf build)\n────────────────\n Bash command\n   rm -rf build\n Do you want to proceed?\n ❯ 1. Yes\n   2. No, and tell Claude what to do differently (esc)", false, Input),
            ("claude", "✻ Pondering… (12s · ↓ 1.2k tokens · esc to interrupt)\n────────────────\n>\n────────────────\n  ? for shortcuts", true, Idle),
            ("claude", "Do you want to proceed?\n❯ 1. Yes\n● Done.\n────────────────\n>\n────────────────\n  ? for shortcuts", false, Idle),
            ("claude", "  ⎿  Interrupted · What should Claude do instead?\n────────────────\n>\n────────────────", false, Idle),
            ("claude", "Do you want to proceed?\nlots of output\n✶ Cooking… (3s · esc to interrupt)", true, Input),
            ("codex", "• Working (5s • esc to interrupt)\n▌ ", true, Idle),
            ("codex", "Would you like to run the following command?\n$ cargo test\n› 1. Yes, proceed (y)\nPress enter to confirm or esc to cancel", false, Input),
            ("codex", "▌ Ask Codex to do anything\n⏎ send   ⌃J newline   ⌃T transcript   ⌃C quit", false, Idle),
            ("gemini", "⠧ Reading the codebase (esc to cancel, 4s)", true, None),
            ("gemini", "│ Allow execution of: 'ls'?\n│ ● 1. Yes, allow once\n│   2. No\n⠏ Waiting for user confirmation...", false, Input),
            ("gemini", "│ Apply this change?\n│ ● 1. Yes, allow once", false, Input),
            ("codex", "Working [.. ] press Esc twice to interrupt", true, None),
            ("gemini", "╭──────\n│ >   Type your message or @path/to/file\n╰──────", false, Idle),
            ("aider", "Create new file? (Y)es/(N)o [Yes]:", false, Input),
            ("aider", "Run shell command? (Y)es/(N)o/(D)on't ask again [Yes]:", false, Input),
            ("aider", "Tokens: 13k sent, 830 received.\n> ", false, Idle),
            ("spinners", "Overwrite? [y/n]", false, Input),
            ("spinners", "compiling", false, None),
            ("none", "Overwrite? [y/n]", false, None),
        ];
        for (preset, screen, busy, prompt) in cases {
            let got = scan(&lines(screen), lib.get(preset).unwrap());
            assert_eq!((got.busy, got.prompt), (*busy, *prompt), "{preset}: {screen:?}");
        }
    }

    #[test]
    fn overwritten_frames_leave_the_live_region() {
        let preset = PresetLibrary::embedded().get("claude").unwrap().clone();
        let rules = crate::content::Rules::new(preset.clone(), vec![], 1).unwrap();
        let mut t = crate::content::Tracker::default();
        let spin = "\r\x1b[2K✻ Pondering… (1s · esc to interrupt)\r\x1b[2K✻ Pondering… (2s · esc to interrupt)";
        t.feed(format!("done\r\n{spin}").as_bytes(), &rules);
        assert_eq!(t.live_region(), ["done", "✻ Pondering… (2s · esc to interrupt)"]);
        assert!(scan(&t.live_region(), &preset).busy);
        t.feed("\r\x1b[2KDo you want to proceed?\r\n❯ 1. Yes\r\n".as_bytes(), &rules);
        assert_eq!(t.live_region(), ["done", "Do you want to proceed?", "❯ 1. Yes"]);
        assert_eq!(scan(&t.live_region(), &preset), Look { busy: false, prompt: Input });
    }

    #[test]
    fn hysteresis() {
        let at = |ms: u64| SystemTime::UNIX_EPOCH + Duration::from_millis(1_000_000 + ms);
        let look = |busy, prompt| Look { busy, prompt };
        // (ms, busy, prompt showing, reported, next_change in ms)
        #[rustfmt::skip]
        let steps: &[(u64, bool, Prompt, Prompt, Option<u64>)] = &[
            (0, true, None, None, Option::None),
            (1_000, false, Input, None, Some(6_000)),    // busy 1 s ago: look when the grace ends
            (6_000, false, Input, None, Some(7_500)),    // grace over now: the prompt's clock starts
            (7_000, false, Input, None, Some(7_500)),
            (7_499, false, Input, None, Some(7_500)),
            (7_500, false, Input, Input, Option::None),  // held for SETTLE
            (8_000, false, None, None, Option::None),    // gone: at once
            (8_100, false, Input, None, Some(9_600)),    // back: settles again
            (9_000, false, Idle, None, Some(10_500)),    // changed kind: settles again
            (10_500, false, Idle, Idle, Option::None),
            (11_000, true, Input, None, Some(17_000)),   // busy marker beside a prompt
            (16_999, false, Input, None, Some(17_000)),
            (17_000, false, Input, None, Some(18_500)),
            (18_500, false, Input, Input, Option::None),
        ];
        let mut h = Hold::default();
        for (ms, busy, prompt, want, next) in steps {
            assert_eq!(h.observe(look(*busy, *prompt), at(*ms)), *want, "at {ms} ms");
            assert_eq!(h.next_change(at(*ms)), next.map(at), "next change, at {ms} ms");
        }
    }
}
