//! The command line: every flag a manifest sets can also come from the environment.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "bootgate",
    version,
    about = "Keeps model-serving pods from taking traffic before they can serve it",
    propagate_version = true
)]
pub struct Cli {
    /// Log line format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "BOOTGATE_LOG_FORMAT")]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Block until every required check passes (an initContainer); exit 0, or 1 with a reason.
    Init(InitArgs),
    /// Run the checks once each and print a ✔/✖ report.
    Check(CheckArgs),
    /// Validate the config and the dependency graph; print the order checks run in.
    Validate(ConfigArg),
}

#[derive(Debug, Args)]
pub struct ConfigArg {
    /// The config file (YAML or JSON).
    #[arg(
        long,
        short,
        env = "BOOTGATE_CONFIG",
        default_value = "/etc/bootgate/bootgate.yaml"
    )]
    pub config: PathBuf,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    #[command(flatten)]
    pub config: ConfigArg,

    /// Where the failure summary goes. Without this flag, /dev/termination-log is written only
    /// when it already exists (the kubelet creates it).
    #[arg(long, env = "BOOTGATE_TERMINATION_LOG")]
    pub termination_log: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub config: ConfigArg,

    /// Retry until each check passes or the deadline passes, as `init` does.
    #[arg(long)]
    pub wait: bool,

    /// Run only this check (repeatable); checks it runs after are not run.
    #[arg(long, value_name = "NAME")]
    pub only: Vec<String>,
}
