//! Fuzzes the event-log tail reader: any tail gives a seq or `None`, never a panic; the seq
//! found belongs to a line of the tail, and a record appended after the tail is found.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pulsewatch::sink::events::last_seq_in_tail;

fuzz_target!(|data: &[u8]| {
    if let Some(seq) = last_seq_in_tail(data) {
        let needle = seq.to_string();
        assert!(data.windows(needle.len()).any(|w| w == needle.as_bytes()), "seq {seq}");
    }
    let mut more = data.to_vec();
    more.extend_from_slice(b"\n{\"v\":1,\"seq\":18446744073709551615,\"event\":\"x\"}\n");
    assert_eq!(last_seq_in_tail(&more), Some(u64::MAX));
});
