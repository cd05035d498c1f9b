//! The user's declaration: what must hold before the pod may serve, read from `bootgate.yaml`.
//!
//! Loading is all-or-nothing: every problem in the file is collected and reported with its
//! file, line and column, and nothing runs unless the whole file is valid.

mod env;
mod expand;
mod fields;
pub mod gpu;
pub mod guard;
pub mod http;
pub mod manifest;
mod parse;
pub mod preset;
pub mod prompt;
#[cfg(test)]
mod reference;
mod state_dir;
pub mod units;
pub(crate) mod yaml;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use env::{Environment, ProcessEnv};
pub(crate) use expand::is_var_name;
pub use state_dir::{listen_of, state_dir_of};
pub use yaml::Pos;

use crate::echo;

pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(600);
pub const DEFAULT_STATE_DIR: &str = "/run/bootgate";
pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
/// The retry cap that lets a tcp/http dependency be noticed within ~50 ms for a few loopback
/// connects a second.
pub const DEFAULT_MAX_INTERVAL: Duration = Duration::from_millis(100);
pub const DEFAULT_STALL_AFTER: Duration = Duration::from_secs(30);
/// The most of an answer read to judge its body (`expect.max_body`), unless a check says more.
pub const DEFAULT_MAX_BODY: u64 = 1 << 20;
pub const DEFAULT_PLACEHOLDERS: [&str; 5] = ["changeme", "<...>", "${...}", "TODO", "REPLACE_ME"];

#[derive(Debug)]
pub struct Config {
    pub source: PathBuf,
    /// The file as it was read: a reload compares against it, not against a second read.
    pub text: String,
    pub deadline: Duration,
    pub state_dir: PathBuf,
    /// Values that mean "nobody filled this in"; `...` inside one matches anything.
    pub placeholders: Vec<String>,
    pub checks: Vec<CheckSpec>,
    pub guard: GuardSpec,
    /// Every value that must never be shown: env secrets and `${VAR}` substitutions.
    pub sensitive: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct CheckSpec {
    pub name: String,
    pub pos: Pos,
    pub kind: Kind,
    pub after: Vec<(String, Pos)>,
    pub on_fail: OnFail,
    /// The check's whole budget from the moment its dependencies let it start.
    pub timeout: Option<Duration>,
    pub attempt_timeout: Duration,
    pub max_interval: Duration,
    pub stall_after: Duration,
    /// Set when a `${VAR}` the check uses is unset: the check fails at once with this reason.
    pub missing_input: Option<String>,
    /// The guard keeps evaluating it after the gate: a Secret rotated to an empty value or a
    /// deleted model file turns the pod unready.
    pub watch: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnFail {
    Require,
    /// The gate passes without it; the server is told to run in a safe mode (`state_dir/env`).
    Degrade,
    Warn,
}

/// A config string as written (shown to people) and as expanded (used).
#[derive(Debug, Clone, Default)]
pub struct Text {
    pub written: String,
    pub value: String,
}

#[derive(Debug, Clone)]
pub enum Kind {
    Secret(SecretSource),
    File(FileSpec),
    Tcp { address: Text },
    Http(HttpSpec),
    Exec { command: Vec<Text> },
    Gpu(GpuSpec),
    Prompt(PromptSpec),
    Manifest(ManifestSpec),
}

impl Kind {
    pub fn name(&self) -> &'static str {
        match self {
            Kind::Secret(_) => "secret",
            Kind::File(_) => "file",
            Kind::Tcp { .. } => "tcp",
            Kind::Http(_) => "http",
            Kind::Exec { .. } => "exec",
            Kind::Gpu(_) => "gpu",
            Kind::Prompt(_) => "prompt",
            Kind::Manifest(_) => "manifest",
        }
    }
}

#[derive(Debug, Clone)]
pub enum SecretSource {
    Env(String),
    File(Text),
}

#[derive(Debug, Clone)]
pub struct FileSpec {
    pub path: Text,
    pub min_size: Option<u64>,
    /// For a directory: it must contain at least one entry.
    pub non_empty: bool,
}

#[derive(Debug, Clone)]
pub struct HttpSpec {
    pub url: Text,
    pub method: String,
    pub headers: Vec<(String, Text)>,
    /// Accepted status codes; empty means any 2xx.
    pub status: Vec<u16>,
    pub body_contains: Option<Text>,
    /// The most of the answer read to find `body_contains`.
    pub max_body: u64,
}

#[derive(Debug, Clone)]
pub struct GpuSpec {
    /// At least this many usable GPUs; every visible GPU must be usable.
    pub count: u32,
    pub cuda: Option<crate::cuda::CudaVersion>,
    pub cuda_compat: crate::cuda::Compat,
    pub driver: Option<crate::cuda::DriverVersion>,
    /// Per GPU.
    pub free_memory: Option<u64>,
    pub mig: MigPolicy,
    /// `libnvidia-ml.so.1` through the loader's search when unset.
    pub library: Option<Text>,
    /// XIDs the guard lets pass: the application ones and any the user adds.
    pub ignore_xids: Vec<u64>,
    /// XIDs that are fatal even when listed as ignored.
    pub fatal_xids: Vec<u64>,
}

/// Prompt templates whose every variable must be declared.
#[derive(Debug, Clone)]
pub struct PromptSpec {
    /// Files or globs.
    pub paths: Vec<Text>,
    /// The vars file: each variable the templates may use, with its default.
    pub vars: Option<Text>,
}

/// A model directory against what its publisher declared: pinned versions and file checksums
/// from a manifest, a signature, or a Hugging Face cache's blob names.
#[derive(Debug, Clone)]
pub struct ManifestSpec {
    pub source: ModelSource,
    /// The model directory the file names are relative to (for a Hub source, the folder given).
    pub root: Text,
    /// Pin name → where the runtime's value comes from.
    pub effective: Vec<(String, EffectiveSource)>,
    pub drift: Drift,
    /// Files the source does not list are a mismatch. Unset: yes for a signature (the
    /// specification's default), no otherwise.
    pub exact: Option<bool>,
    /// Remember digests in `state_dir` keyed by `stat`.
    pub cache: bool,
    /// A mismatch passes, loudly.
    pub force: bool,
    /// The largest safetensors header read before hashing.
    pub max_safetensors_header: u64,
}

impl ManifestSpec {
    /// Whether files the source does not list fail the check.
    pub fn exact(&self) -> bool {
        self.exact
            .unwrap_or(matches!(self.source, ModelSource::Signature { .. }))
    }
}

/// Where the files' expected digests come from.
#[derive(Debug, Clone)]
pub enum ModelSource {
    /// A manifest `bootgate manifest generate` wrote (or anyone): pins and files.
    Manifest(Text),
    /// An OpenSSF Model Signing bundle, and what verifies it.
    Signature { bundle: Text, trust: TrustSpec },
    /// A Hub cache repo folder or a `local_dir` download; a ref or a commit.
    HuggingFace { dir: Text, revision: Option<String> },
}

impl ModelSource {
    /// The file or folder the source is read from, as written.
    pub fn written(&self) -> &str {
        match self {
            ModelSource::Manifest(path) => &path.written,
            ModelSource::Signature { bundle, .. } => &bundle.written,
            ModelSource::HuggingFace { dir, .. } => &dir.written,
        }
    }
}

/// What a signature must verify with.
#[derive(Debug, Clone)]
pub enum TrustSpec {
    /// `public_key:` a PEM public key.
    PublicKey(Text),
    /// `ca_roots:` PEM certificates the signer's must chain to.
    CaRoots(Text),
}

/// How far an exact pin may drift upwards and still pass. Never downwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Drift {
    None,
    Patch,
    Minor,
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Drift::None => "no",
            Drift::Patch => "patch",
            Drift::Minor => "minor",
        })
    }
}

/// Where the runtime value of a pin comes from.
#[derive(Debug, Clone)]
pub enum EffectiveSource {
    /// The SHA-256 of a file (relative paths are under `root`).
    Sha256Of(Text),
    Env(String),
    /// The value at a JSON pointer in a JSON file.
    Json {
        path: Text,
        pointer: String,
    },
    /// A file's content, trimmed.
    File(Text),
    /// A value another check discovered (a gpu check's CUDA version); it must run first.
    Check {
        check: String,
        fact: Discovery,
        pos: yaml::Pos,
    },
}

/// What a gpu check learns that a manifest may pin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discovery {
    /// The newest CUDA the driver supports, e.g. `12.4`.
    Cuda,
    /// The driver version, e.g. `550.54.15`.
    Driver,
    /// How many GPUs the container sees.
    Gpus,
    /// The GPUs' product name, e.g. `NVIDIA H100 80GB HBM3`.
    GpuName,
}

impl Discovery {
    pub const ALL: [(&'static str, Discovery); 4] = [
        ("cuda", Discovery::Cuda),
        ("driver", Discovery::Driver),
        ("gpus", Discovery::Gpus),
        ("gpu_name", Discovery::GpuName),
    ];

    pub fn word(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, d)| *d == self)
            .map_or("", |(w, _)| w)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MigPolicy {
    Disabled,
    Enabled,
    Any,
}

/// What the guard (`bootgate sidecar`) serves and how it decides readiness.
#[derive(Debug, Clone)]
pub struct GuardSpec {
    /// `[::]:8081` by default: the kubelet probes the pod IP, not localhost.
    pub listen: String,
    /// Shown in status and metrics: model version, prompt version, index hash.
    pub pins: Vec<(String, String)>,
    /// How long to keep answering probes (with 503) after SIGTERM.
    pub drain: Duration,
    /// Reasons and the JSON state for every client (`details: all`), not only loopback ones.
    pub details_for_all: bool,
    pub sentinel: Option<SentinelSpec>,
}

impl Default for GuardSpec {
    fn default() -> Self {
        GuardSpec {
            listen: guard::DEFAULT_LISTEN.to_string(),
            pins: Vec::new(),
            drain: guard::DEFAULT_DRAIN,
            details_for_all: false,
            sentinel: None,
        }
    }
}

/// The production-path query, run in rounds on its own schedule.
#[derive(Debug, Clone)]
pub struct SentinelSpec {
    pub interval: Duration,
    pub timeout: Duration,
    /// Consecutive passing rounds before ready.
    pub success_threshold: u32,
    /// Consecutive failing rounds before unready.
    pub failure_threshold: u32,
    /// Before the first ready, the passing streak must have begun at least this long ago.
    pub hold: Duration,
    /// Share of a round's queries that must pass.
    pub min_pass: f64,
    /// The cheap, frequent look at each query's server between rounds; `None` when off.
    pub pulse: Option<PulseSpec>,
    /// `/livez/model` fails once the model has failed this long (after it passed since its
    /// server started); `None` when off.
    pub dead_after: Option<Duration>,
    /// How long a round may wait while the model has not passed since its server started
    /// (a model loaded by its first request); `None`: `timeout`.
    pub load_timeout: Option<Duration>,
    pub queries: Vec<QuerySpec>,
    /// How to tell that the server sleeps (sent no production query then); `None` when it
    /// cannot.
    pub sleep: Option<SleepSpec>,
    /// The preset the queries, the pulse and the sleep probe came from.
    pub preset: Option<PresetUse>,
}

/// A preset as the config names it: what `validate` says the queries were made from.
#[derive(Debug, Clone)]
pub struct PresetUse {
    pub name: &'static str,
    pub url: Text,
    pub model: Text,
}

/// A server that can be put to sleep says so at `url`, as a JSON `true` at `pointer`. Any other
/// answer (a 404: sleep mode is off) counts as awake.
#[derive(Debug, Clone)]
pub struct SleepSpec {
    pub url: Text,
    /// The sentinel's own headers (auth: llama-server's `/props` is not public).
    pub headers: Vec<(String, HeaderSource)>,
    pub pointer: String,
    /// A sleeping server still serves (a request wakes it): ready, with a caveat.
    pub serves: bool,
}

/// How the guard keeps in touch with a model server between sentinel rounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PulseSpec {
    pub every: Duration,
    /// Asked with GET and must answer 2xx; without one, `HEAD /` and any answer will do.
    pub path: Option<String>,
    /// Statuses of `path` that mean the model is gone: unready at once.
    pub fatal_status: Vec<u16>,
    /// Statuses of `path` that are the server saying it is not ready: loading until it has
    /// passed, definitive after.
    pub loading_status: Vec<u16>,
}

impl Default for PulseSpec {
    fn default() -> Self {
        PulseSpec {
            every: Duration::from_secs(1),
            path: None,
            fatal_status: Vec::new(),
            loading_status: Vec::new(),
        }
    }
}

impl Default for SentinelSpec {
    fn default() -> Self {
        SentinelSpec {
            interval: Duration::from_secs(10),
            timeout: Duration::from_secs(5),
            success_threshold: 2,
            failure_threshold: 3,
            hold: Duration::from_secs(30),
            min_pass: 1.0,
            pulse: Some(PulseSpec::default()),
            dead_after: Some(Duration::from_secs(300)),
            load_timeout: None,
            queries: Vec::new(),
            sleep: None,
            preset: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct QuerySpec {
    pub name: String,
    pub method: String,
    pub url: Text,
    pub headers: Vec<(String, HeaderSource)>,
    pub body: Option<Text>,
    /// Accepted status codes; empty means any 2xx.
    pub status: Vec<u16>,
    pub body_contains: Option<Text>,
    /// JSON pointer → expectation on the value there.
    pub json: Vec<(String, JsonExpect)>,
    /// The most of the answer read to judge `body_contains` and `json`.
    pub max_body: u64,
    pub max_latency: Option<Duration>,
    /// Statuses that mean the model is gone for good (vLLM's 503 on a dead engine): unready at
    /// once, not after `failure_threshold`.
    pub fatal_status: Vec<u16>,
    /// Statuses that are the server saying it is not ready (llama.cpp's 503 "Loading model"):
    /// loading until the sentinel has passed, definitive after.
    pub loading_status: Vec<u16>,
    /// The body is built each round from the model's KServe v2 metadata (the URL without its
    /// `/infer`): one input of each declared name, type and shape.
    pub body_from_v2_metadata: bool,
    /// Set when a `${VAR}` the query uses is unset: every round fails it with this reason.
    pub missing_input: Option<String>,
}

impl QuerySpec {
    /// A query that sends nothing but its request line and expects any 2xx.
    pub fn new(name: &str, method: &str, url: Text) -> QuerySpec {
        QuerySpec {
            name: name.into(),
            method: method.into(),
            url,
            headers: Vec::new(),
            body: None,
            status: Vec::new(),
            body_contains: None,
            json: Vec::new(),
            max_body: DEFAULT_MAX_BODY,
            max_latency: None,
            fatal_status: Vec::new(),
            loading_status: Vec::new(),
            body_from_v2_metadata: false,
            missing_input: None,
        }
    }
}

/// A sentinel header's value: written in the config, or read from a file each round (a token
/// mounted from a Secret, rotated in place).
#[derive(Debug, Clone)]
pub enum HeaderSource {
    Text(Text),
    File { path: Text, prefix: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonExpect {
    Equals(String),
    Contains(String),
    Exists(bool),
    /// One of the values at a pointer with a `*` (every element of a list) equals this: a
    /// model among those a server lists.
    Includes(String),
}

/// One problem found in the config, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub pos: Option<Pos>,
    /// The dotted path of the field, e.g. `checks.weights.after`.
    pub field: String,
    pub message: String,
}

/// Problems shown, the first in the file: past a hundred, the rest are the same mistake again
/// or its consequences.
const SHOWN_PROBLEMS: usize = 100;

/// How much of a message is shown. Each value a message quotes is capped on its own, far
/// below this; this bounds whatever else the text may hold.
const MESSAGE_LIMIT: usize = 1_000;

/// `field: message`, or the message alone when it concerns the whole file. Both may hold text
/// from the file (a key, a check name), so both are escaped and capped.
impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let message = echo::capped(&self.message, MESSAGE_LIMIT);
        if self.field.is_empty() {
            write!(f, "{message}")
        } else {
            write!(f, "{}: {message}", echo::value(&self.field))
        }
    }
}

#[derive(Debug)]
pub enum LoadError {
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    Invalid {
        path: PathBuf,
        problems: Vec<Diagnostic>,
    },
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Read { path, error } => {
                write!(f, "cannot read config {}: {error}", shown(path))
            }
            LoadError::Invalid { path, problems } => {
                let path = shown(path);
                for (i, p) in problems.iter().take(SHOWN_PROBLEMS).enumerate() {
                    if i > 0 {
                        writeln!(f)?;
                    }
                    write!(f, "{path}")?;
                    if let Some(pos) = p.pos {
                        write!(f, ":{pos}")?;
                    }
                    write!(f, ": {p}")?;
                }
                if let Some(more) = problems
                    .len()
                    .checked_sub(SHOWN_PROBLEMS)
                    .filter(|&n| n > 0)
                {
                    write!(f, "\n{path}: {more} more problems after these")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for LoadError {}

/// Sorts problems by where they are, those without a place last; at one place, the order
/// they were found in is kept (what is wrong before what it leaves missing).
pub fn in_file_order(problems: &mut [Diagnostic]) {
    problems.sort_by_key(|p| (p.pos.is_none(), p.pos));
}

/// A path as a message may show it: escaped, and capped only where no path can reach.
pub fn shown(path: &Path) -> String {
    echo::capped(&path.to_string_lossy(), echo::PATH_LIMIT).to_string()
}

/// Reads and validates the config at `path`, with `BOOTGATE_*` overrides from `env`.
/// Far beyond any config; a ConfigMap holds at most 1 MiB.
const MAX_CONFIG_BYTES: u64 = 16 << 20;

pub fn load(path: &Path, env: &dyn Environment) -> Result<Config, LoadError> {
    // A ConfigMap file, or a FIFO someone put there: read bounded and without blocking.
    let text =
        crate::files::read_text(path, MAX_CONFIG_BYTES).map_err(|error| LoadError::Read {
            path: path.to_path_buf(),
            error,
        })?;
    from_str(&text, path, env)
}

/// Reads and validates the config in `text` as if read from `path`. Pure (the environment is
/// handed in), never panics, and takes time and memory linear in the length of `text`.
pub fn from_str(text: &str, path: &Path, env: &dyn Environment) -> Result<Config, LoadError> {
    let invalid = |problems| LoadError::Invalid {
        path: path.to_path_buf(),
        problems,
    };
    let root = yaml::parse(text).map_err(|e| {
        invalid(vec![Diagnostic {
            pos: Some(e.pos),
            field: String::new(),
            message: format!("YAML syntax: {}", e.message),
        }])
    })?;
    let mut config = parse::config(&root, path, env).map_err(invalid)?;
    config.text = text.to_string();
    Ok(config)
}

/// Loads `text` with only `vars` in the environment; problems come back as a list.
#[cfg(test)]
pub(crate) fn load_with(text: &str, vars: &[(&str, &str)]) -> Result<Config, Vec<Diagnostic>> {
    let env: std::collections::BTreeMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    match from_str(text, Path::new("bootgate.yaml"), &env) {
        Ok(c) => Ok(c),
        Err(LoadError::Invalid { problems, .. }) => Err(problems),
        Err(e) => panic!("{e}"),
    }
}

impl CheckSpec {
    /// What the check looks at, as written: never with `${VAR}` values filled in.
    pub fn target(&self) -> String {
        match &self.kind {
            Kind::Secret(SecretSource::Env(var)) => format!("env {var}"),
            Kind::Secret(SecretSource::File(path)) => format!("file {}", path.written),
            Kind::File(f) => f.path.written.clone(),
            Kind::Tcp { address } => address.written.clone(),
            Kind::Http(h) => format!("{} {}", h.method, h.url.written),
            Kind::Exec { command } => command
                .iter()
                .map(|arg| arg.written.as_str())
                .collect::<Vec<_>>()
                .join(" "),
            Kind::Gpu(g) => match &g.library {
                Some(library) => format!("NVML at {}", library.written),
                None => "NVML".to_string(),
            },
            Kind::Prompt(p) => p
                .paths
                .iter()
                .map(|path| path.written.as_str())
                .collect::<Vec<_>>()
                .join(" "),
            Kind::Manifest(m) => m.source.written().to_string(),
        }
    }
}

impl Config {
    /// `check --force`: every manifest check passes past its mismatches, loudly.
    pub fn force_manifests(&mut self) {
        for check in &mut self.checks {
            if let Kind::Manifest(m) = &mut check.kind {
                m.force = true;
            }
        }
    }

    /// Settings that are valid but probably not what was meant.
    pub fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        let deadline = units::human_duration(self.deadline);
        let index: HashMap<&str, usize> = self
            .checks
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name.as_str(), i))
            .collect();
        for check in &self.checks {
            if let Some(timeout) = check.timeout
                && timeout > self.deadline
            {
                notes.push(format!(
                    "checks.{}.timeout {} is longer than the deadline {deadline}; the deadline comes first",
                    check.name,
                    units::human_duration(timeout)
                ));
            }
            if check.on_fail == OnFail::Degrade && check.timeout.is_none_or(|t| t >= self.deadline)
            {
                notes.push(format!(
                    "checks.{}: on_fail: degrade needs a timeout shorter than the deadline {deadline}, or a check that keeps failing fails the gate at the deadline instead of degrading",
                    check.name
                ));
            }
            for (after, _) in &check.after {
                let degrades = index
                    .get(after.as_str())
                    .is_some_and(|&j| self.checks[j].on_fail == OnFail::Degrade);
                if degrades && check.on_fail == OnFail::Require {
                    notes.push(format!(
                        "checks.{} runs after {after} (on_fail: degrade): if {after} degrades, {} is skipped and the gate fails; make {} degrade too, or drop the `after`",
                        check.name, check.name, check.name
                    ));
                }
            }
            // A kind's own floor (a whole hash, a many-GPU nvmlInit) is by design; only a
            // longer one was chosen, and may not be what was meant.
            if check.attempt_timeout > self.deadline
                && check.attempt_timeout > parse::floors(check.kind.name()).attempt_timeout
            {
                notes.push(format!(
                    "checks.{}.attempt_timeout {} is longer than the deadline {deadline}; the deadline comes first",
                    check.name,
                    units::human_duration(check.attempt_timeout)
                ));
            }
        }
        if !cfg!(feature = "nvml") && self.checks.iter().any(|c| matches!(c.kind, Kind::Gpu(_))) {
            notes.push(gpu::NO_NVML.to_string());
        }
        notes
    }
}
