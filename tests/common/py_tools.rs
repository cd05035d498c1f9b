//! The pinned Python tools (`scripts/py-tools` installs them into target/py-tools): the real
//! model signer, safetensors writer and Hub layout, run with the venv's interpreter. The
//! integration tests reach this through `common`; the library's unit tests include this file
//! alone (`manifest::py_tools`).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The venv's interpreter; a test without it fails, saying how to get it.
pub fn python() -> PathBuf {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/py-tools/bin/python");
    assert!(
        python.is_file(),
        "{} is absent: run scripts/py-tools first",
        python.display()
    );
    python
}

/// Runs `python args…` in `dir` and returns its stdout; fails the test with its stderr when it
/// fails.
pub fn run_in<I, S>(dir: &Path, args: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let out = Command::new(python())
        .args(args)
        .current_dir(dir)
        .output()
        .expect("start the py-tools python");
    assert!(
        out.status.success(),
        "python failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("python's output is UTF-8")
}

/// [`run_in`] the current directory.
pub fn run<I, S>(args: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    run_in(Path::new("."), args)
}

/// Runs `tests/fixtures/{script}` with `args` in `dir`.
pub fn run_fixture(script: &str, args: &[&str], dir: &Path) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(script);
    let mut all = vec![script.as_os_str()];
    all.extend(args.iter().map(OsStr::new));
    run_in(dir, all);
}
