//! Any text is either a valid config or a clear error; never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(raw) = portcullis::config::parse(text) {
        let _ = portcullis::config::compile(&raw, std::path::Path::new("/nonexistent"));
    }
});
