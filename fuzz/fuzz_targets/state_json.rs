//! Fuzzes `state.json` parsing: any bytes give a state or an error; a parsed state
//! serializes to a file that parses back, and from then on serialize → parse is identity.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pulsewatch::state::persist::{parse, serialize};

fuzz_target!(|data: &[u8]| {
    let Ok(saved) = parse(data) else { return };
    // The file keeps milliseconds, so the first write may round finer times once.
    let first = serialize(&saved);
    let again = parse(&first).expect("what we write parses back");
    let second = serialize(&again);
    assert_eq!(first, second, "serialization is stable");
    assert_eq!(parse(&second).expect("parses"), again, "serialize → parse is identity");
    assert_eq!((again.last_seq, again.workers.len()), (saved.last_seq, saved.workers.len()));
});
