use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    bootgate::run(bootgate::cli::Cli::parse()).into()
}

/// Runs before `main` and before the Rust runtime, right after the dynamic loader, on the only
/// thread, whose mask every later thread inherits: from here on a SIGTERM waits for bootgate's
/// handler instead of ending the process.
#[allow(unsafe_code)]
#[used]
// SAFETY: the C library calls each `.init_array` entry once, before `main`, with at most
// `argc`, `argv` and `envp`, which a C function that takes no arguments may ignore. `hold` needs
// nothing of the Rust runtime, which is not set up yet: it calls the C library only, and
// cannot panic.
#[unsafe(link_section = ".init_array")]
static HOLD_STOP_SIGNALS: extern "C" fn() = bootgate::signals::hold;
