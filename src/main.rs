use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    bootgate::run(bootgate::cli::Cli::parse()).into()
}
