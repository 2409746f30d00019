//! Fuzzes the `/proc/PID/stat` parser: any bytes give the fields or `None`, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pulsewatch::probe::procstat::parse_stat;

fuzz_target!(|data: &[u8]| {
    let Some(st) = parse_stat(data) else { return };
    // Round trip: the fields written back as a stat line parse to the same fields.
    let line =
        format!("1 (x) {} {} 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 {} 0 0\n", st.state as char, st.ppid, st.start_ticks);
    if st.state.is_ascii_graphic() && st.state != b')' {
        assert_eq!(parse_stat(line.as_bytes()), Some(st), "{line:?}");
    }
    // The command name may hold anything: what follows the last `)` decides alone.
    let close = data.iter().rposition(|&b| b == b')').expect("parsed lines have a `)`");
    let mut renamed = b"7 (a) b) (".to_vec();
    renamed.extend_from_slice(&data[close..]);
    assert_eq!(parse_stat(&renamed), Some(st));
});
