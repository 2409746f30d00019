//! Parsing `/proc/PID/stat`, pure and allocation-free.

/// The fields of `/proc/PID/stat` that identity needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    /// Field 3: R, S, D, Z, T, …
    pub state: u8,
    /// Field 4.
    pub ppid: i32,
    /// Field 22: start time in clock ticks after boot.
    pub start_ticks: u64,
}

/// Parses the line. The command name (field 2) is in parentheses and may itself contain
/// spaces and `)`, so the fields are counted from the *last* `)`.
pub fn parse_stat(buf: &[u8]) -> Option<ProcStat> {
    let close = buf.iter().rposition(|&b| b == b')')?;
    let mut fields = buf[close + 1..].split(|b| b.is_ascii_whitespace()).filter(|f| !f.is_empty());
    let state = *fields.next()?.first()?;
    let ppid = parse_num(fields.next()?)?;
    // Fields 5..=21 are not needed: skip 17 of them to reach field 22.
    let start = fields.nth(17)?;
    Some(ProcStat { state, ppid: i32::try_from(ppid).ok()?, start_ticks: parse_num(start)? })
}

fn parse_num(f: &[u8]) -> Option<u64> {
    if f.is_empty() || f.len() > 20 {
        return None;
    }
    f.iter().try_fold(0u64, |acc, &b| {
        b.is_ascii_digit().then_some(())?;
        acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(comm: &str, state: char, start: u64) -> String {
        format!(
            "4242 ({comm}) {state} 1 4242 4242 0 -1 4194560 104 0 0 0 30 12 0 0 20 0 1 0 {start} 2580480 198 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"
        )
    }

    #[test]
    fn table() {
        #[rustfmt::skip]
        let cases: Vec<(String, Option<(u8, i32, u64)>)> = vec![
            (line("sleep", 'S', 123456), Some((b'S', 1, 123456))),
            (line("my agent", 'R', 7), Some((b'R', 1, 7))),
            (line("a) b (c", 'Z', 99), Some((b'Z', 1, 99))),
            (line(") ) )", 'D', 1), Some((b'D', 1, 1))),
            (line("", 'S', 5), Some((b'S', 1, 5))),
            ("4242 (x) S 1 2".to_string(), None),
            ("garbage".to_string(), None),
            (String::new(), None),
            (line("x", 'S', 1).replace(" 1 0 1 ", " 1 0 -1 "), None),
        ];
        for (input, want) in cases {
            let got = parse_stat(input.as_bytes()).map(|p| (p.state, p.ppid, p.start_ticks));
            assert_eq!(got, want, "{input:?}");
        }
    }

    #[test]
    fn own_process() {
        let me = std::fs::read(format!("/proc/{}/stat", std::process::id())).unwrap();
        let st = parse_stat(&me).expect("parses the real file");
        assert!(b"RS".contains(&st.state));
        assert!(st.start_ticks > 0);
    }
}
