//! Fuzzes the config parser: any text gives a `Config` or a `ConfigError`, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match pulsewatch::config::load_str(text, Some(PathBuf::from("/fuzz/pulsewatch.toml"))) {
        Ok(cfg) => {
            // What the daemon derives from a loaded config must not panic either.
            let _ = cfg.registry();
            let _ = cfg.describe_source();
        }
        // Errors are values that name the file.
        Err(e) => assert!(e.to_string().starts_with("/fuzz/pulsewatch.toml"), "{e}"),
    }
});
