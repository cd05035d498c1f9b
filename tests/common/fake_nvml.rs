//! The project's fake `libnvidia-ml.so.1` (the `fake-nvml` workspace member), built on first
//! use and loaded by the real binary through the real nvml-wrapper.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    /// Every symbol bootgate asks for.
    Current,
    /// A pre-R510 driver: no `_v2` memory call, no MIG or row-remap queries.
    R470,
}

/// The library's path. Built once per test process; cargo makes concurrent builds wait for
/// each other and a built library costs a no-op build.
pub fn library(driver: Driver) -> &'static Path {
    static CURRENT: OnceLock<PathBuf> = OnceLock::new();
    static R470: OnceLock<PathBuf> = OnceLock::new();
    let cell = match driver {
        Driver::Current => &CURRENT,
        Driver::R470 => &R470,
    };
    cell.get_or_init(|| build(driver))
}

fn build(driver: Driver) -> PathBuf {
    // target/<profile>/bootgate → target
    let target = Path::new(super::BIN)
        .parent()
        .and_then(Path::parent)
        .expect("the binary lives in a target directory")
        .to_path_buf();
    let target = match driver {
        Driver::Current => target,
        // Its own target directory: the feature changes the exported symbols.
        Driver::R470 => target.join("fake-nvml-r470"),
    };
    let mut cargo = Command::new(env!("CARGO"));
    cargo
        .args([
            "build",
            "--quiet",
            "--offline",
            "-p",
            "fake-nvml",
            "--target-dir",
        ])
        .arg(&target);
    if driver == Driver::R470 {
        cargo.args(["--features", "r470"]);
    }
    let status = cargo.status().expect("run cargo");
    assert!(status.success(), "building fake-nvml failed");
    let built = target.join("debug").join("libfake_nvml.so");
    assert!(built.exists(), "{} missing", built.display());
    built
}

/// `dir/libnvidia-ml.so.1`, the name the NVIDIA container toolkit injects, pointing at the
/// fake; returns that path.
pub fn install(dir: &Path, driver: Driver) -> PathBuf {
    std::fs::create_dir_all(dir).expect("create the driver dir");
    let link = dir.join("libnvidia-ml.so.1");
    std::os::unix::fs::symlink(library(driver), &link).expect("symlink the fake");
    link
}
