//! The command line: every flag a manifest sets can also come from the environment.

use std::path::PathBuf;
use std::time::Duration;

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
    /// The guard (a native sidecar): run the sentinel, serve /livez /readyz /metrics, drain on
    /// SIGTERM.
    Sidecar(SidecarArgs),
    /// One GET with the kubelet's semantics (200–399 is success): exit 0 or 1. For exec probes
    /// and image HEALTHCHECKs without a shell or curl.
    Probe(ProbeArgs),
    /// Block until every --url answers 200–399 and every --marker file exists: exit 0, or 1 at
    /// the timeout.
    Wait(WaitArgs),
    /// The gate, then the guard, in one process; with `-- CMD`, start the command once the gate
    /// passes, forward signals to it, and exit with its code.
    Run(RunArgs),
    /// Check prompt templates for undeclared variables: findings as `file:line:col: …`; exit
    /// 0 when clean, 1 with findings, 2 when an input cannot be read.
    Lint(LintArgs),
    /// Say in plain words why the pod is or is not ready, since when, and what to do, from the
    /// gate's status.json or a guard's URL: exit 0 ready, 1 not ready, 2 when it cannot be read.
    Explain(ExplainArgs),
    /// Write a manifest for a model directory, or verify a directory against one: exit 0 when
    /// it matches, 1 when it does not, 2 on bad input.
    #[command(subcommand)]
    Manifest(ManifestCommand),
}

#[derive(Debug, Subcommand)]
pub enum ManifestCommand {
    /// Hash every file under DIR and write the manifest (sorted, stable) to stdout or FILE.
    Generate(GenerateArgs),
    /// Check the files of a model directory against a manifest, a signature or a Hugging Face
    /// cache's blob names (sizes and structure first, then digests).
    Verify(VerifyArgs),
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// The model directory.
    pub dir: PathBuf,

    /// A pin to declare, `key=value` (repeatable): `--pin model_version=1.4.2`.
    #[arg(long, value_name = "KEY=VALUE")]
    pub pin: Vec<String>,

    /// Write here instead of stdout; a file inside DIR is left out of the manifest.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The manifest (YAML or JSON); or give --signature or --huggingface instead.
    #[arg(
        required_unless_present_any = ["signature", "huggingface"],
        conflicts_with_all = ["signature", "huggingface"]
    )]
    pub file: Option<PathBuf>,

    /// An OpenSSF Model Signing bundle to verify the directory against, with --public-key or
    /// --ca-roots.
    #[arg(
        long,
        value_name = "BUNDLE",
        requires = "trust",
        conflicts_with = "huggingface"
    )]
    pub signature: Option<PathBuf>,

    /// The signer's public key (PEM; ECDSA P-256, P-384 or P-521).
    #[arg(long, value_name = "PEM", group = "trust")]
    pub public_key: Option<PathBuf>,

    /// CA certificates (PEM) the signing certificate must chain to.
    #[arg(long, value_name = "PEM", group = "trust")]
    pub ca_roots: Option<PathBuf>,

    /// A Hugging Face cache repo folder (models--ORG--NAME) or a local_dir download, checked
    /// against its blob names.
    #[arg(long, value_name = "DIR")]
    pub huggingface: Option<PathBuf>,

    /// With --huggingface: a ref under refs/ or a commit hash (default main; a local_dir takes a
    /// commit hash).
    #[arg(long, value_name = "REV", requires = "huggingface")]
    pub revision: Option<String>,

    /// The model directory; the manifest's or the signature's own directory when not given.
    #[arg(long, value_name = "DIR", conflicts_with = "huggingface")]
    pub root: Option<PathBuf>,

    /// Files under the directory that the source does not list are a mismatch (always, for a
    /// signature, unless --ignore-unsigned-files).
    #[arg(long)]
    pub exact: bool,

    /// With --signature: files the signature does not list pass.
    #[arg(long, requires = "signature", conflicts_with = "exact")]
    pub ignore_unsigned_files: bool,
}

/// Durations on the command line read like those in the config: `1s`, `500ms`, `2m`.
fn duration(text: &str) -> Result<Duration, String> {
    crate::config::units::parse_duration(text)
}

#[derive(Debug, Args)]
pub struct SidecarArgs {
    #[command(flatten)]
    pub config: ConfigArg,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub config: ConfigArg,

    /// Where the gate's failure summary goes (as for `init`).
    #[arg(long, env = "BOOTGATE_TERMINATION_LOG")]
    pub termination_log: Option<PathBuf>,

    /// The server to start once the gate passes, e.g. `-- vllm serve …`.
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// The URL to GET, e.g. http://127.0.0.1:8081/readyz.
    pub url: String,

    /// The whole probe's budget, as the kubelet's `timeoutSeconds`.
    #[arg(long, default_value = "1s", value_parser = duration)]
    pub timeout: Duration,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("target").required(true).multiple(true).args(["url", "marker"])))]
pub struct WaitArgs {
    /// Wait until a GET of this URL answers 200–399 (repeatable: all of them).
    #[arg(long, value_name = "URL")]
    pub url: Vec<String>,

    /// Wait until this file exists, e.g. the ready marker in the state directory (repeatable:
    /// all of them).
    #[arg(long, value_name = "PATH")]
    pub marker: Vec<PathBuf>,

    /// Give up after this long.
    #[arg(long, default_value = "120s", value_parser = duration)]
    pub timeout: Duration,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// Where `state_dir` is read from (with BOOTGATE_STATE_DIR over it, as for `init`).
    #[command(flatten)]
    pub config: ConfigArg,

    /// Read DIR/status.json, without a config.
    #[arg(long, value_name = "DIR", conflicts_with = "url")]
    pub state_dir: Option<PathBuf>,

    /// Ask a guard instead: its base URL (http://127.0.0.1:8081) or its /readyz URL. Reasons
    /// come only to a client on the pod's loopback, unless `details: all`.
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,

    /// How long to wait for the guard's answer.
    #[arg(long, default_value = "2s", value_parser = duration)]
    pub timeout: Duration,
}

#[derive(Debug, Args)]
pub struct LintArgs {
    /// The vars file: a YAML mapping of each template variable to its default.
    #[arg(long, value_name = "FILE")]
    pub vars: Option<PathBuf>,

    /// Template files or globs (`prompts/**/*.j2`; quote them so the shell leaves them be).
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<String>,
}

/// Where the config is read from when neither `--config` nor `BOOTGATE_CONFIG` says.
pub const DEFAULT_CONFIG: &str = "/etc/bootgate/bootgate.yaml";

#[derive(Debug, Args)]
pub struct ConfigArg {
    /// The config file (YAML or JSON).
    #[arg(long, short, env = "BOOTGATE_CONFIG", default_value = DEFAULT_CONFIG)]
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

    /// Let manifest checks pass despite mismatches, each reported as FORCED (as `force: true`).
    #[arg(long)]
    pub force: bool,
}
