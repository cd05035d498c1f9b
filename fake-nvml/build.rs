//! Gives the library the soname of the real one, so a copy or symlink named
//! `libnvidia-ml.so.1` looks to the dynamic loader like the driver's library.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libnvidia-ml.so.1");
    }
}
