//! Fuzzes preset files (`presets_dir/*.toml`) as the loader reads them: one file, as a new
//! preset and as a replacement for `spinners` (the base the agent presets extend), gives a
//! library or a `ConfigError` naming that file, never a panic; every preset it yields judges
//! lines without a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pulsewatch::config::PresetLibrary;
use pulsewatch::content::{Rules, Tracker};

/// Lines the agent presets' patterns are written for, to run a loaded preset once.
const SCREEN: &[u8] =
    b"\x1b[2K\r\xe2\xa0\x8b Working (3s \xc2\xb7 esc to interrupt)\n> \nDo you want to proceed?\n\xe2\x9d\xaf 1. Yes\n";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for name in ["fuzzed", "spinners"] {
        let label = format!("/fuzz/presets/{name}.toml");
        match PresetLibrary::with_files(vec![(name.to_string(), label.clone(), text.to_string())]) {
            Ok(lib) => {
                // Presets built from the file, or on it, were compiled when loaded; using them
                // must not panic. (The other embedded ones compile lazily, too slowly to do
                // each time; the unit tests cover them.)
                for preset in lib.presets().filter(|p| name == "spinners" || p.origin == label) {
                    let rules = Rules::new(preset.clone(), Vec::new(), 1).expect("no ignore patterns to fail");
                    let mut t = Tracker::default();
                    t.feed(SCREEN, &rules);
                    t.settle(&rules);
                }
            }
            Err(e) => assert!(e.to_string().starts_with(&label), "{e}"),
        }
    }
});
