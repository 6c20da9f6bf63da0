//! Fuzzes the config checker: an arbitrary config file is parsed, its settings resolved and its
//! declarations decoded, as `edgegate config check` does. Whatever the file, the checker reports
//! (settings, errors, warnings) without panicking.
//!
//! Files the config names are looked up under a directory that does not exist, so the run reads
//! nothing from the machine but absolute paths.

#![no_main]

use std::path::Path;

use edgegate::config::{FileConfig, ServeArgs, Settings, declare};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Absolute paths could name devices that never end (`/dev/zero`): left out.
    if text.contains("/dev") || text.contains("/proc") || text.contains("/sys") {
        return;
    }
    let Ok(file) = toml::from_str::<FileConfig>(text) else {
        return;
    };
    let base = Path::new("/nonexistent-edgegate-fuzz");
    let _ = Settings::resolve(&ServeArgs::default(), &file, base);
    let _ = declare::decode(&file, &base.join("edgegate.toml"), base);
});
