use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    bootgate::run(bootgate::cli::Cli::parse()).into()
}

/// Runs before `main` and before the Rust runtime, right after the dynamic loader: from here
/// on a SIGTERM waits for bootgate's handler instead of ending the process.
#[allow(unsafe_code)]
#[used]
// SAFETY: the C library calls each `.init_array` entry once, on the only thread, before
// `main`; `hold` only changes the signal mask.
#[unsafe(link_section = ".init_array")]
static HOLD_STOP_SIGNALS: extern "C" fn() = bootgate::signals::hold;
