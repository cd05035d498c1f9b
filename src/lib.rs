//! bootgate: keeps GPU model-serving pods from taking traffic before they can really serve it.
//!
//! Two halves. The gate (`init`, `check`): config → graph → engine → state → views (log,
//! status.json, termination message, report). The guard (`sidecar`, `run`): sentinel rounds →
//! readiness state machine → a snapshot that the probe server answers from. See
//! `docs/architecture.md`.

pub mod checks;
pub mod cli;
pub mod commands;
pub mod config;
pub mod digest;
pub mod echo;
pub mod engine;
pub mod exit;
mod files;
pub mod graph;
pub mod guard;
pub mod heartbeat;
pub mod lint;
pub mod manifest;
pub mod redact;
pub mod report;
pub mod signals;
pub mod state;
pub mod statedir;
pub mod suggest;

use cli::{Cli, Command, LogFormat};
use exit::Exit;

/// Runs the parsed command line to an exit code.
pub fn run(cli: Cli) -> Exit {
    init_logging(cli.log_format);
    if let Command::Validate(args) = cli.command {
        return commands::validate::run(args);
    }
    if let Command::Manifest(args) = cli.command {
        return commands::manifest::run(args);
    }
    if let Command::Lint(args) = cli.command {
        return commands::lint::run(args);
    }
    // One thread is plenty for waiting on a handful of sockets and files, and keeps RSS small.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return Exit::Failed;
        }
    };
    let exit = runtime.block_on(async {
        match cli.command {
            Command::Init(args) => commands::init::run(args).await,
            Command::Check(args) => commands::check::run(args).await,
            Command::Sidecar(args) => commands::sidecar::run(args).await,
            Command::Probe(args) => commands::probe::run(args).await,
            Command::Wait(args) => commands::wait::run(args).await,
            Command::Run(args) => commands::run::run(args).await,
            Command::Validate(_) | Command::Lint(_) | Command::Manifest(_) => {
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
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}
