//! The pipeline file (`config::load`): the input is written to a temporary `.toml` file and
//! loaded as `flowmart run --config` / `flowmart validate` would. Any bytes must give a
//! configuration or a list of problems, never a panic. (`scripts/fuzz.sh` clears the
//! environment variables `load` reads, so the file alone decides.)

#![no_main]

use std::path::PathBuf;
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;

/// One file per fuzzing process (`-fork`/`-jobs` run several).
static PATH: LazyLock<PathBuf> =
    LazyLock::new(|| std::env::temp_dir().join(format!("flowmart-fuzz-config-{}.toml", std::process::id())));

fuzz_target!(|data: &[u8]| {
    std::fs::write(&*PATH, data).expect("the temp dir is writable");
    match flowmart::config::load(Some(&PATH), &[]) {
        Ok(config) => {
            let _ = config.runtime();
        }
        Err(problems) => assert!(!problems.is_empty(), "an error names at least one problem"),
    }
});
