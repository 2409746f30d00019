//! The terminal-stream stripper, pure: turns the bytes a program wrote to its terminal into
//! the lines a person would have seen, without escape sequences, cursor movement or the text
//! that carriage returns overwrote.
//!
//! The model is one line of cells and a cursor. A line is handed out ("committed") when the
//! cursor leaves it (newline, vertical movement, a jump elsewhere on the screen) and when it
//! is about to be redrawn: the first write after a carriage return, or an erase. So every
//! frame of a spinner is committed once, whole, and never glued to its neighbours.

use vte::{Params, Parser, Perform};

/// Longer lines are committed in pieces, so a stream without newlines cannot grow memory.
pub const MAX_COLS: usize = 1024;

#[derive(Default)]
struct Line {
    cells: Vec<char>,
    col: usize,
    /// Changed since it was last committed.
    dirty: bool,
    /// The cursor went back to the line's start (CR, CHA 1, restore): the next write or
    /// erase begins a new frame, so the current one is committed first.
    redraw_next: bool,
    saved_col: usize,
    /// Which screen row this is: frames committed from one row (a spinner redrawn in place)
    /// share it, so the live region can keep only the last.
    row: u64,
}

impl Line {
    fn commit(&mut self, buf: &mut String, out: &mut dyn FnMut(&str, u64)) {
        if !self.dirty {
            return;
        }
        self.dirty = false;
        buf.clear();
        buf.extend(self.cells.iter());
        out(buf, self.row);
    }

    /// The cursor moves to another row: what it leaves is committed, the new row is unknown.
    fn leave(&mut self, col: usize, buf: &mut String, out: &mut dyn FnMut(&str, u64)) {
        self.commit(buf, out);
        self.cells.clear();
        self.row += 1;
        self.col = col.min(MAX_COLS - 1);
        self.redraw_next = false;
    }

    /// Called before anything that changes existing cells.
    fn begin_change(&mut self, buf: &mut String, out: &mut dyn FnMut(&str, u64)) {
        if self.redraw_next {
            self.redraw_next = false;
            self.commit(buf, out);
        }
    }

    fn put(&mut self, c: char, buf: &mut String, out: &mut dyn FnMut(&str, u64)) {
        // Most characters extend the line: keep that path short.
        if self.col == self.cells.len() && self.col < MAX_COLS && !self.redraw_next {
            self.cells.push(c);
            self.col += 1;
            self.dirty = true;
            return;
        }
        if self.col >= MAX_COLS {
            self.leave(0, buf, out);
        }
        self.begin_change(buf, out);
        if self.col < self.cells.len() {
            self.cells[self.col] = c;
        } else {
            self.cells.resize(self.col, ' ');
            self.cells.push(c);
        }
        self.col += 1;
        self.dirty = true;
    }

    /// CSI K: 0 = cursor to end, 1 = start to cursor, 2 = the whole line.
    fn erase(&mut self, mode: u16, buf: &mut String, out: &mut dyn FnMut(&str, u64)) {
        // An erase ends the frame on screen, whether or not a carriage return came first.
        self.redraw_next = false;
        self.commit(buf, out);
        match mode {
            0 => self.cells.truncate(self.col),
            1 => self.cells.iter_mut().take(self.col + 1).for_each(|c| *c = ' '),
            _ => self.cells.clear(),
        }
    }

    /// Restore cursor: saved positions are used to repaint a spinner in place.
    fn restore(&mut self) {
        self.move_to(self.saved_col);
        self.redraw_next = true;
    }

    fn move_to(&mut self, col: usize) {
        self.col = col.min(MAX_COLS - 1);
        if self.col == 0 {
            self.redraw_next = true;
        }
    }
}

/// The stripper's state between reads: the parser, a UTF-8 sequence split across two reads,
/// and the line under the cursor.
#[derive(Default)]
pub struct Screen {
    parser: Parser,
    line: Line,
    buf: String,
    /// The start of a UTF-8 sequence that the read ended in. vte can hold it itself, but
    /// loses the ASCII between it and a second unfinished sequence in the same window (found
    /// by fuzzing: `c2 | b7 20 e2 86 93` printed "·↓"), so the parser never sees one split.
    held: Vec<u8>,
}

struct Performer<'a> {
    line: &'a mut Line,
    buf: &'a mut String,
    out: &'a mut dyn FnMut(&str, u64),
}

fn arg(params: &Params, i: usize, default: u16) -> u16 {
    params.iter().nth(i).and_then(|p| p.first().copied()).filter(|v| *v != 0).unwrap_or(default)
}

impl Perform for Performer<'_> {
    fn print(&mut self, c: char) {
        self.line.put(c, self.buf, self.out);
    }

    fn execute(&mut self, byte: u8) {
        let l = &mut *self.line;
        match byte {
            b'\r' => l.move_to(0),
            b'\n' | 0x0b | 0x0c => l.leave(0, self.buf, self.out),
            0x08 => l.col = l.col.saturating_sub(1),
            b'\t' => l.col = ((l.col / 8 + 1) * 8).min(MAX_COLS - 1),
            _ => {}
        }
    }

    fn csi_dispatch(&mut self, params: &Params, intermediates: &[u8], _ignore: bool, action: char) {
        let l = &mut *self.line;
        let private = intermediates.first() == Some(&b'?');
        match action {
            // Cursor up/down, next/previous line, row position, cursor position, erase display.
            'A' | 'B' | 'E' | 'F' | 'd' | 'e' | 'J' | 'S' | 'T' | 'L' | 'M' => l.leave(0, self.buf, self.out),
            'H' | 'f' => l.leave(usize::from(arg(params, 1, 1)) - 1, self.buf, self.out),
            // Column moves stay on the line.
            'G' | '`' => l.move_to(usize::from(arg(params, 0, 1)) - 1),
            'C' | 'a' => l.move_to(l.col + usize::from(arg(params, 0, 1))),
            'D' => l.move_to(l.col.saturating_sub(usize::from(arg(params, 0, 1)))),
            'K' if !private => {
                l.erase(params.iter().next().and_then(|p| p.first().copied()).unwrap_or(0), self.buf, self.out)
            }
            'X' => {
                l.begin_change(self.buf, self.out);
                let end = (l.col + usize::from(arg(params, 0, 1))).min(l.cells.len());
                l.cells.iter_mut().take(end).skip(l.col).for_each(|c| *c = ' ');
            }
            's' if !private => l.saved_col = l.col,
            'u' if !private => l.restore(),
            // Alternate screen on/off: a different screen, nothing of this line stays.
            'h' | 'l' if private => l.leave(0, self.buf, self.out),
            _ => {}
        }
    }

    fn esc_dispatch(&mut self, intermediates: &[u8], _ignore: bool, byte: u8) {
        if !intermediates.is_empty() {
            return;
        }
        let l = &mut *self.line;
        match byte {
            b'7' => l.saved_col = l.col,
            b'8' => l.restore(),
            // Index, next line, reverse index, full reset.
            b'D' | b'E' | b'M' | b'c' => l.leave(0, self.buf, self.out),
            _ => {}
        }
    }
}

impl Screen {
    /// Feeds bytes; `out` receives each committed line (cells as text, untrimmed).
    pub fn feed(&mut self, bytes: &[u8], out: &mut dyn FnMut(&str, u64)) {
        let joined;
        let input = if self.held.is_empty() {
            bytes
        } else {
            joined = [std::mem::take(&mut self.held).as_slice(), bytes].concat();
            &joined[..]
        };
        let (now, later) = input.split_at(input.len() - unfinished_utf8(input));
        let mut p = Performer { line: &mut self.line, buf: &mut self.buf, out };
        self.parser.advance(&mut p, now);
        self.held.extend_from_slice(later);
    }

    /// The line under the cursor when it changed since it was last committed.
    /// The row under the cursor (see `Line::row`).
    pub fn row(&self) -> u64 {
        self.line.row
    }

    pub fn pending(&self) -> Option<String> {
        self.line.dirty.then(|| self.line.cells.iter().collect())
    }

    /// Commits the line under the cursor if it changed (when the stream has gone still).
    pub fn flush(&mut self, out: &mut dyn FnMut(&str, u64)) {
        self.line.commit(&mut self.buf, out);
    }

    /// Forgets everything mid-stream (truncation, a new file, skipped bytes).
    pub fn reset(&mut self) {
        *self = Screen::default();
    }
}

/// How many bytes at the end of `b` begin a UTF-8 sequence that needs more bytes.
fn unfinished_utf8(b: &[u8]) -> usize {
    let tail = &b[b.len().saturating_sub(3)..];
    let Some(lead) = tail.iter().rposition(|&x| x >= 0xc0) else { return 0 };
    let have = tail.len() - lead;
    let need = match tail[lead] {
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    };
    if have < need && tail[lead + 1..].iter().all(|&x| (0x80..0xc0).contains(&x)) { have } else { 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every line the screen commits for `input` fed in one piece, then what is pending.
    fn lines(chunks: &[&[u8]]) -> (Vec<String>, Option<String>) {
        let mut s = Screen::default();
        let mut out = Vec::new();
        for c in chunks {
            s.feed(c, &mut |l, _| out.push(l.trim_end().to_string()));
        }
        (out, s.pending().map(|p| p.trim_end().to_string()))
    }

    #[test]
    fn strips_like_a_terminal() {
        #[rustfmt::skip]
        let cases: Vec<(&str, &[u8], &[&str], Option<&str>)> = vec![
            ("plain lines", b"one\ntwo\n", &["one", "two"], None),
            ("CRLF is one line", b"one\r\ntwo\r\n", &["one", "two"], None),
            ("pending line", b"one\ntw", &["one"], Some("tw")),
            ("colours vanish", b"\x1b[1;31mred\x1b[0m and \x1b[38;5;200mpink\x1b[m\n", &["red and pink"], None),
            ("OSC title vanishes", b"\x1b]0;my title\x07text\n", &["text"], None),
            ("CR frames: each once, whole", b"\r- a 1s\r\\ a 2s\r| a 3s", &["- a 1s", "\\ a 2s"], Some("| a 3s")),
            ("CR overwrite keeps the tail", b"abcdef\rXY\n", &["abcdef", "XYcdef"], None),
            ("erase line ends a frame", b"frame 1\x1b[2K\rframe 2\x1b[2K\rframe 3", &["frame 1", "frame 2"], Some("frame 3")),
            ("erase to end", b"long text\r\x1b[Kshort\n", &["long text", "short"], None),
            ("CHA 1 is a carriage return", b"f1\x1b[1Gf2\x1b[Gf3", &["f1", "f2"], Some("f3")),
            ("save/restore repaints in place", b"\x1b7s1\x1b8s2\x1b8s3", &["s1", "s2"], Some("s3")),
            ("cursor up leaves the line", b"a\nb\x1b[1Ac\n", &["a", "b", "c"], None),
            ("cursor position starts a line", b"top\x1b[5;3Hxy\n", &["top", "  xy"], None),
            ("clear screen", b"before\x1b[2J\x1b[Hafter\n", &["before", "after"], None),
            ("backspace overwrites", b"abc\x08\x08XY\n", &["aXY"], None),
            ("tab pads", b"a\tb\n", &["a       b"], None),
            ("cursor forward pads", b"a\x1b[3Cb\n", &["a   b"], None),
            ("alternate screen", b"shell$ \x1b[?1049hfull\x1b[?1049l", &["shell$", "full"], None),
            ("bell and other controls vanish", b"ding\x07\x00\n", &["ding"], None),
            ("utf-8", "naïve ⠋ 日本\n".as_bytes(), &["naïve ⠋ 日本"], None),
            ("no newline, nothing committed", b"just typing", &[], Some("just typing")),
        ];
        for (name, input, want, pending) in cases {
            let (got, p) = lines(&[input]);
            assert_eq!(got, want, "{name}");
            assert_eq!(p.as_deref(), pending, "{name}: pending");
        }
    }

    #[test]
    fn split_reads() {
        // Every split point, including inside a UTF-8 sequence and inside an escape. The
        // second: a split sequence, ASCII, then another sequence within four bytes (fuzzing).
        let cases = [("sp ⠙ 日本語 \x1b[31mred\x1b[0m\n", "sp ⠙ 日本語 red"), ("(0s · ↓ 7 é😀 x\n", "(0s · ↓ 7 é😀 x")];
        for (whole, want) in cases {
            let whole = whole.as_bytes();
            for i in 0..whole.len() {
                let (got, p) = lines(&[&whole[..i], &whole[i..]]);
                assert_eq!(got, [want], "split at {i}");
                assert_eq!(p, None);
            }
        }
        let (_, p) = lines(&[b"\xc2", b"\xb7 \xe2\x86\x93"]);
        assert_eq!(p.as_deref(), Some("· ↓"));
    }

    #[test]
    fn bounded_lines() {
        let long = vec![b'x'; MAX_COLS * 2 + 5];
        let (got, p) = lines(&[&long]);
        assert_eq!(got.len(), 2);
        assert!(got.iter().all(|l| l.len() == MAX_COLS));
        assert_eq!(p.map(|p| p.len()), Some(5));
        let (got, _) = lines(&[b"\x1b[99999Cx\n"]);
        assert_eq!(got[0].len(), MAX_COLS);
    }

    #[test]
    fn flush_commits_the_still_line_once() {
        let mut s = Screen::default();
        let mut out = Vec::new();
        s.feed(b"prompt> ", &mut |l, _| out.push(l.to_string()));
        s.flush(&mut |l, _| out.push(l.to_string()));
        s.flush(&mut |l, _| out.push(l.to_string()));
        assert_eq!(out, ["prompt> "]);
        assert_eq!(s.pending(), None);
    }
}
