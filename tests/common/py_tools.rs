//! The pinned Python tools (`scripts/py-tools` installs them into target/py-tools): a fixture
//! script under tests/fixtures run with the venv's interpreter. The integration tests reach it
//! through `common`; unit tests that need what the real tools write include this file alone.

use std::path::Path;
use std::process::Command;

/// Runs `tests/fixtures/{script}` with `args` in `dir`; fails the test, with the script's
/// stderr, when it fails, and names `scripts/py-tools` when the venv is not there.
pub fn run_fixture(script: &str, args: &[&str], dir: &Path) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = root.join("target/py-tools/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/py-tools",
        python.display()
    );
    let out = Command::new(python)
        .arg(root.join("tests/fixtures").join(script))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "{script} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
