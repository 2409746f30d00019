//! Which visible lines are progress, pure: the built-in rules (blank, spinner glyphs only,
//! recently seen), a preset's patterns, the `ignore` list and `min_new_chars`.

use regex::{Regex, RegexSet};
use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::sync::{Arc, OnceLock};

/// A preset: the `[redraw]` patterns of one preset file, and for an agent preset the
/// `[busy]`, `[awaiting_input]` and `[idle]` patterns the live region is matched against.
/// Compiled on first use: a daemon compiles only the presets its workers name.
pub struct Preset {
    pub name: String,
    pub version: u32,
    /// "embedded" or the file it was read from.
    pub origin: String,
    strip_src: Vec<String>,
    lines_src: Vec<String>,
    agent_src: [Vec<String>; 3],
    compiled: OnceLock<Compiled>,
}

pub(super) struct Compiled {
    strip: Option<Regex>,
    lines: Option<RegexSet>,
    pub(super) busy: Option<RegexSet>,
    pub(super) awaiting: Option<RegexSet>,
    pub(super) idle: Option<RegexSet>,
}

/// The agent patterns of a preset file: `[busy]`, `[awaiting_input]` and `[idle]` `lines`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentPatterns {
    pub busy: Vec<String>,
    pub awaiting_input: Vec<String>,
    pub idle: Vec<String>,
}

/// A pattern that does not compile: which list, its index there, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{list}[{index}]: invalid regex {pattern:?}: {message}")]
pub struct PatternError {
    pub list: &'static str,
    pub index: usize,
    pub pattern: String,
    pub message: String,
}

/// Compiles each pattern alone first, so an error names the one at fault.
fn check(list: &'static str, patterns: &[String]) -> Result<(), PatternError> {
    for (index, p) in patterns.iter().enumerate() {
        if let Err(e) = Regex::new(p) {
            return Err(PatternError { list, index, pattern: p.clone(), message: e.to_string() });
        }
    }
    Ok(())
}

fn set(list: &'static str, patterns: &[String]) -> Result<Option<RegexSet>, PatternError> {
    check(list, patterns)?;
    if patterns.is_empty() {
        return Ok(None);
    }
    let set = RegexSet::new(patterns).map_err(|e| PatternError {
        list,
        index: 0,
        pattern: String::new(),
        message: e.to_string(),
    })?;
    Ok(Some(set))
}

impl Preset {
    /// With `validate`, every pattern is compiled now and an error names the one at fault;
    /// without (the embedded presets, tested at build time), on first use.
    pub fn new(
        name: &str,
        version: u32,
        origin: &str,
        strip: Vec<String>,
        lines: Vec<String>,
        agent: AgentPatterns,
        validate: bool,
    ) -> Result<Preset, PatternError> {
        let p = Preset {
            name: name.to_string(),
            version,
            origin: origin.to_string(),
            strip_src: strip,
            lines_src: lines,
            agent_src: [agent.busy, agent.awaiting_input, agent.idle],
            compiled: OnceLock::new(),
        };
        if validate {
            let _ = p.compiled.set(p.compile()?);
        }
        Ok(p)
    }

    fn compile(&self) -> Result<Compiled, PatternError> {
        let strip = &self.strip_src;
        check("redraw.strip", strip)?;
        // One alternation, so a line is scanned once however many fragments the preset has.
        let strip_re = if strip.is_empty() {
            None
        } else {
            let joined = strip.iter().map(|p| format!("(?:{p})")).collect::<Vec<_>>().join("|");
            Some(Regex::new(&joined).map_err(|e| PatternError {
                list: "redraw.strip",
                index: 0,
                pattern: joined.clone(),
                message: e.to_string(),
            })?)
        };
        let [busy, awaiting, idle] = &self.agent_src;
        Ok(Compiled {
            strip: strip_re,
            lines: set("redraw.lines", &self.lines_src)?,
            busy: set("busy.lines", busy)?,
            awaiting: set("awaiting_input.lines", awaiting)?,
            idle: set("idle.lines", idle)?,
        })
    }

    /// Compiles every pattern now (the embedded presets' test).
    pub fn validate(&self) -> Result<(), PatternError> {
        self.compile().map(drop)
    }

    pub(super) fn compiled(&self) -> &Compiled {
        self.compiled.get_or_init(|| self.compile().expect("preset patterns are validated when loaded"))
    }
}

impl fmt::Debug for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Preset({} v{} from {})", self.name, self.version, self.origin)
    }
}

impl PartialEq for Preset {
    fn eq(&self, o: &Preset) -> bool {
        (&self.name, self.version, &self.strip_src, &self.lines_src, &self.agent_src)
            == (&o.name, o.version, &o.strip_src, &o.lines_src, &o.agent_src)
    }
}

/// What one worker's settings say about content: its preset, `ignore` and `min_new_chars`.
#[derive(Debug, PartialEq)]
pub struct Rules {
    pub preset: Arc<Preset>,
    pub ignore_src: Vec<String>,
    pub min_new_chars: u32,
    ignore: Option<IgnoreSet>,
}

struct IgnoreSet(RegexSet);

impl fmt::Debug for IgnoreSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0.patterns())
    }
}

impl PartialEq for IgnoreSet {
    fn eq(&self, o: &IgnoreSet) -> bool {
        self.0.patterns() == o.0.patterns()
    }
}

/// How one line was judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// No letter or digit (whitespace, spinner glyphs, punctuation), once the preset's
    /// fragments are gone.
    Noise,
    /// Matched an `ignore` pattern or a preset's `lines`.
    Ignored,
    /// The same text as a line seen recently (a redraw).
    Repeated,
    /// New text: this many letters and digits.
    New(u32),
}

impl Rules {
    pub fn new(preset: Arc<Preset>, ignore: Vec<String>, min_new_chars: u32) -> Result<Rules, PatternError> {
        let set = set("ignore", &ignore)?.map(IgnoreSet);
        Ok(Rules { preset, ignore_src: ignore, min_new_chars, ignore: set })
    }

    /// Judges one visible line; a new line is remembered in `seen`.
    pub fn judge(&self, line: &str, seen: &mut Seen) -> Kind {
        let line = line.trim();
        if noise(line) {
            return Kind::Noise;
        }
        if self.ignore.as_ref().is_some_and(|s| s.0.is_match(line))
            || self.preset.compiled().lines.as_ref().is_some_and(|s| s.is_match(line))
        {
            return Kind::Ignored;
        }
        let text = match &self.preset.compiled().strip {
            Some(re) => re.replace_all(line, ""),
            None => line.into(),
        };
        // Letters and digits, word by word: a spinner glyph, a counter that changed width or
        // a colour-only change does not make a line new. FNV-1a, inline: a per-character
        // SipHash call costs more than the rest of the judging.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut mix = |c: char| h = (h ^ u64::from(c)).wrapping_mul(0x0100_0000_01b3);
        let mut chars = 0u32;
        for w in text.split_whitespace() {
            let mut any = false;
            for c in w.chars().filter(|c| c.is_alphanumeric()) {
                mix(c);
                chars += 1;
                any = true;
            }
            if any {
                mix(' ');
            }
        }
        if chars == 0 {
            Kind::Noise
        } else if seen.insert(h) {
            Kind::New(chars)
        } else {
            Kind::Repeated
        }
    }
}

/// No letter or digit in any script: whitespace, spinner glyphs, rules, punctuation.
fn noise(s: &str) -> bool {
    !s.chars().any(char::is_alphanumeric)
}

/// The hashes of the last `SEEN_LINES` distinct lines: a full-screen redraw repeats what is
/// in here, and so is not progress.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    order: VecDeque<u64>,
    set: HashSet<u64>,
}

pub const SEEN_LINES: usize = 256;

impl Seen {
    /// True when `h` was not there (and now is).
    pub fn insert(&mut self, h: u64) -> bool {
        if !self.set.insert(h) {
            return false;
        }
        if self.order.len() == SEEN_LINES {
            let old = self.order.pop_front().expect("full");
            self.set.remove(&old);
        }
        self.order.push_back(h);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PresetLibrary;

    fn rules(preset: &str, ignore: &[&str]) -> Rules {
        let p = PresetLibrary::embedded().get(preset).unwrap().clone();
        Rules::new(p, ignore.iter().map(|s| s.to_string()).collect(), 1).unwrap()
    }

    #[test]
    fn spinners_preset() {
        let r = rules("spinners", &["^Compiling "]);
        // Each case judged with a fresh memory: (line, kind).
        #[rustfmt::skip]
        let cases: &[(&str, Kind)] = &[
            ("", Kind::Noise),
            ("   \t ", Kind::Noise),
            ("⠋", Kind::Noise),
            ("⣾⣽⣻", Kind::Noise),
            ("✻", Kind::Noise),
            (" | ", Kind::Noise),
            ("────────────", Kind::Noise),
            ("...", Kind::Noise),
            ("◐", Kind::Noise),
            ("12s", Kind::Noise),
            ("1m 3s", Kind::Noise),
            ("(2m 18s · ↓ 4.8k tokens · esc to interrupt)", Kind::Noise),
            ("⠙ 00:12", Kind::Noise),
            ("✶ (esc to cancel, 850ms)", Kind::Noise),
            ("Press Ctrl+C to stop", Kind::Noise),
            ("esc to cancel", Kind::Noise),
            ("1h 2m 3s", Kind::Noise),
            ("2m18s · 3.4s · 1:02:03", Kind::Noise),
            ("────────", Kind::Noise),
            ("↑ 1,234 tokens", Kind::Noise),
            ("Compiling serde v1.0", Kind::Ignored),
            ("⠙ Thinking… (12s · esc to interrupt)", Kind::New(8)),
            ("error: build failed", Kind::New(16)),
            ("}", Kind::Noise),
            ("test result: ok. 4 passed", Kind::New(19)),
            ("Finished in 12s", Kind::New(10)),
        ];
        for (line, want) in cases {
            assert_eq!(r.judge(line, &mut Seen::default()), *want, "{line:?}");
        }
    }

    #[test]
    fn frames_of_one_spinner_are_one_line() {
        let r = rules("spinners", &[]);
        let mut seen = Seen::default();
        let frames = [
            "⠋ Thinking… (1s · esc to interrupt)",
            "⠙ Thinking… (2s · esc to interrupt)",
            "⠹ Thinking…  (10s · esc to interrupt)",
            "✻ Thinking… (1m 3s · ↑ 2.1k tokens · esc to interrupt)",
        ];
        assert_eq!(r.judge(frames[0], &mut seen), Kind::New(8));
        for f in &frames[1..] {
            assert_eq!(r.judge(f, &mut seen), Kind::Repeated, "{f}");
        }
        assert_eq!(r.judge("Thinking harder", &mut seen), Kind::New(14));
        assert_eq!(r.judge("✶ Working (1m 3s · ↑ 1,234 tokens)", &mut seen), Kind::New(7));
        assert_eq!(r.judge("✳ Working (1m 4s · ↑ 1,240 tokens)", &mut seen), Kind::Repeated);
        assert_eq!(r.judge("Finished in 12s", &mut seen), Kind::New(10));
        assert_eq!(r.judge("Finished in 13s", &mut seen), Kind::Repeated);
    }

    #[test]
    fn without_a_preset_counters_are_text() {
        let r = rules("none", &[]);
        let mut seen = Seen::default();
        assert_eq!(r.judge("⠋", &mut seen), Kind::Noise);
        assert_eq!(r.judge("⠋ working", &mut seen), Kind::New(7));
        // Glyphs and punctuation never make a line new, even without a preset.
        assert_eq!(r.judge("✻ working…", &mut seen), Kind::Repeated);
        assert_eq!(r.judge("⠋ 1s", &mut seen), Kind::New(2));
        assert_eq!(r.judge("⠙ 2s", &mut seen), Kind::New(2));
    }

    #[test]
    fn memory_is_bounded() {
        let mut seen = Seen::default();
        for h in 0..SEEN_LINES as u64 {
            assert!(seen.insert(h));
        }
        assert!(!seen.insert(0));
        assert!(seen.insert(SEEN_LINES as u64));
        // The oldest went out to make room, and counts as new again.
        assert!(seen.insert(0));
        assert_eq!(seen.order.len(), SEEN_LINES);
    }

    #[test]
    fn bad_patterns_are_named() {
        let p = PresetLibrary::embedded().get("none").unwrap().clone();
        let e = Rules::new(p, vec!["ok".into(), "(".into()], 1).unwrap_err();
        assert_eq!((e.list, e.index), ("ignore", 1));
    }
}
