//! bootgate: keeps GPU model-serving pods from taking traffic before they can really serve it.
//!
//! Two halves. The gate (`init`, `check`): config → graph → engine → state → views (log,
//! status.json, termination message, report). The guard (`sidecar`, `run`): sentinel rounds →
//! readiness state machine → a snapshot that the probe server answers from. See
//! `docs/architecture.md`.

// A write to stderr that panics would abort the process: output goes through `stderr::line`
// and `commands::print`, which drop what cannot be written.
#![deny(clippy::print_stderr, clippy::print_stdout)]

pub mod checks;
pub mod cli;
pub mod commands;
pub mod config;
pub mod cuda;
pub mod digest;
pub mod echo;
pub mod encoding;
pub mod engine;
pub mod exit;
mod files;
#[doc(hidden)]
pub mod fuzzing;
pub mod glob;
pub mod graph;
pub mod guard;
pub mod heartbeat;
pub mod lint;
pub mod manifest;
mod processes;
pub mod redact;
pub mod report;
pub mod signals;
pub mod state;
pub mod statedir;
mod stderr;
pub mod suggest;
pub mod text;
pub mod userinfo;

use cli::{Cli, Command, LogFormat};
use exit::Exit;

/// Runs the parsed command line to an exit code.
pub fn run(cli: Cli) -> Exit {
    init_logging(cli.log_format);
    let command = match cli.command {
        // Nothing to clean up: SIGTERM and SIGINT end these at once, as they end any tool.
        Command::Validate(args) => {
            signals::release();
            return commands::validate::run(args);
        }
        Command::Manifest(args) => {
            signals::release();
            return commands::manifest::run(args);
        }
        Command::Lint(args) => {
            signals::release();
            return commands::lint::run(args);
        }
        Command::Explain(args) => {
            signals::release();
            return commands::explain::run(args);
        }
        command => command,
    };
    // One thread is plenty for waiting on a handful of sockets and files, and keeps RSS small.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            signals::release();
            stderr::line(&format!("cannot start the async runtime: {e}"));
            return Exit::Failed;
        }
    };
    // The handlers first, then the signals held since before `main`: one that came early is
    // a stop request like any other.
    let stop = {
        let _inside = runtime.enter();
        signals::Stop::install()
    };
    signals::release();
    let exit = runtime.block_on(async {
        match command {
            Command::Init(args) => commands::init::run(args, stop).await,
            Command::Check(args) => commands::check::run(args, stop).await,
            Command::Sidecar(args) => commands::sidecar::run(args, stop).await,
            Command::Probe(args) => commands::probe::run(args, stop).await,
            Command::Wait(args) => commands::wait::run(args, stop).await,
            Command::Run(args) => commands::run::run(args, stop).await,
            Command::Validate(_)
            | Command::Lint(_)
            | Command::Manifest(_)
            | Command::Explain(_) => {
                unreachable!("handled above")
            }
        }
    });
    // A DNS lookup stuck in a blocking thread must not hold up the exit.
    runtime.shutdown_background();
    exit
}

fn init_logging(format: LogFormat) {
    report::log::set_json(format == LogFormat::Json);
    let builder = tracing_subscriber::fmt()
        .with_writer(|| stderr::Lossy)
        .with_target(false)
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}
