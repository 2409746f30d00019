//! Fuzzes registry entry files: any text gives a `WorkerSpec` or a `ConfigError`, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;
use std::sync::OnceLock;

fuzz_target!(|data: &[u8]| {
    static REGISTRY: OnceLock<pulsewatch::config::RegistrySource> = OnceLock::new();
    let registry = REGISTRY.get_or_init(|| pulsewatch::config::load_embedded().registry());
    let Ok(text) = std::str::from_utf8(data) else { return };
    let path = Path::new("/fuzz/workers/w.toml");
    match pulsewatch::config::parse_worker_entry(path, text, registry, Path::new("/fuzz/state")) {
        // Paths in an accepted entry are absolute (relative ones resolve against the state dir).
        Ok(spec) => assert!(spec.log.is_absolute(), "{:?}", spec.log),
        Err(e) => assert!(e.to_string().starts_with("/fuzz/workers/w.toml"), "{e}"),
    }
});
