//! The workspace's binaries, for tests that run them as an operator would.
//!
//! The single integration test binary lives in `target/<profile>/deps/`; the
//! binaries sit one level up. `scripts/test.sh` builds them before the tests
//! (`cargo build --bins`); a plain `cargo test` needs that step too.

use std::path::PathBuf;

pub fn path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps");
    let binary = dir.join(name);
    assert!(
        binary.is_file(),
        "{} is missing: run `cargo build --bins` first (scripts/test.sh does)",
        binary.display()
    );
    binary
}
