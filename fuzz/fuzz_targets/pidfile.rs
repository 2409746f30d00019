//! Fuzzes the pidfile parser: any bytes give a valid PID, "missing" or a bounded message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pulsewatch::probe::{PidfileRead, parse_pidfile};

fuzz_target!(|data: &[u8]| {
    match parse_pidfile(data) {
        PidfileRead::Pid(pid) => {
            assert!(pid >= 1, "{pid}");
            // Round trip: the PID written back the way a daemon writes it reads the same.
            assert_eq!(parse_pidfile(format!("{pid}\n").as_bytes()), PidfileRead::Pid(pid));
        }
        PidfileRead::Missing => {}
        // Garbage is quoted into the message, but only its first 40 characters, each escaped
        // to at most 10 bytes (`\u{10ffff}`): the message stays bounded whatever the file holds.
        PidfileRead::Invalid(why) => assert!(why.len() <= 40 * 10 + 64, "{} bytes", why.len()),
    }
});
