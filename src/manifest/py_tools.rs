//! The pinned Python tools the tests drive (`scripts/py-tools` installs them into
//! `target/py-tools`): the real `safetensors` writer and the real `huggingface_hub` layout.

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

/// Runs `python args…` and returns its stdout; panics with its stderr if it fails.
pub fn run<I, S>(args: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let out = Command::new(python())
        .args(args)
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
