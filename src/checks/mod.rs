//! The kinds of precondition bootgate can wait for. Each attempt answers pass or fail with a
//! reason a person can act on; the engine owns retries, deadlines and stalls.

pub mod discovered;
pub mod exec;
pub mod file;
pub mod gpu;
pub mod http;
pub mod manifest;
pub mod prompt;
pub mod secret;
pub mod tcp;
pub mod watch;

use std::io;
use std::time::Duration;

use crate::config::{CheckSpec, Kind};
use crate::heartbeat::Heartbeat;
use crate::redact::Redactor;

/// Why an attempt did not pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What is wrong; a change of reason is news worth a log line.
    pub reason: String,
    /// How far along it is (`512.0 KiB of 1.0 GiB`); changes often, so it is kept in
    /// status.json but never logged on its own.
    pub progress: Option<String>,
    /// False when waiting cannot help (a container's environment never changes).
    pub retry: bool,
}

impl Failure {
    pub fn retry(reason: impl Into<String>) -> Self {
        Failure {
            reason: reason.into(),
            progress: None,
            retry: true,
        }
    }

    pub fn fatal(reason: impl Into<String>) -> Self {
        Failure {
            retry: false,
            ..Failure::retry(reason)
        }
    }

    pub fn with_progress(self, progress: impl Into<String>) -> Self {
        Failure {
            progress: Some(progress.into()),
            ..self
        }
    }
}

/// A passed attempt's one-line summary, e.g. `1.2 GiB`.
pub type Attempt = Result<String, Failure>;

/// The structured part of what a check saw, kept beside the one-line summary.
pub type Facts = std::sync::Arc<gpu::inventory::Inventory>;

/// A file wait reacts through inotify; this re-check only covers filesystems whose remote
/// writes inotify never sees (NFS, some CSI volumes).
pub const SAFETY_RECHECK: Duration = Duration::from_secs(5);

/// What every check may need from the run around it.
#[derive(Clone)]
pub struct Shared {
    pub redactor: Redactor,
    pub placeholders: Vec<String>,
    pub watch_hub: watch::Hub,
    /// The gate's state directory: where the manifest check keeps its verification cache.
    pub state_dir: std::path::PathBuf,
    /// What checks learned that others compare (`effective: {check: gpu}`).
    pub discovered: discovered::Discovered,
    /// Each attempt must reach a verdict (`bootgate check`, the guard's rounds): work that
    /// would otherwise be reported as progress between attempts is finished within one.
    pub once: bool,
}

impl Shared {
    pub fn new(config: &crate::config::Config, redactor: Redactor, once: bool) -> Shared {
        Shared {
            redactor,
            placeholders: config.placeholders.clone(),
            watch_hub: Default::default(),
            state_dir: config.state_dir.clone(),
            discovered: Default::default(),
            once,
        }
    }
}

pub enum Check {
    Secret(secret::SecretCheck),
    File(file::FileCheck),
    Tcp(tcp::TcpCheck),
    Http(http::HttpCheck),
    Exec(exec::ExecCheck),
    Gpu(gpu::GpuCheck),
    Prompt(prompt::PromptCheck),
    /// Boxed: it carries its verification cache between attempts.
    Manifest(Box<manifest::ManifestCheck>),
    /// A `${VAR}` the check needs is unset: it fails at once, like a missing env secret.
    MissingInput(String),
}

impl Check {
    pub fn build(spec: &CheckSpec, shared: &Shared) -> Check {
        if let Some(missing) = &spec.missing_input {
            return Check::MissingInput(missing.clone());
        }
        match &spec.kind {
            Kind::Secret(source) => Check::Secret(secret::SecretCheck::new(source, shared)),
            Kind::File(f) => Check::File(file::FileCheck::new(f, shared)),
            Kind::Tcp { address } => Check::Tcp(tcp::TcpCheck::new(address)),
            Kind::Http(h) => Check::Http(http::HttpCheck::new(h, shared)),
            Kind::Exec { command } => Check::Exec(exec::ExecCheck::new(command, shared)),
            Kind::Gpu(gpu) => Check::Gpu(gpu::GpuCheck::new(&spec.name, gpu, shared)),
            Kind::Prompt(spec) => Check::Prompt(prompt::PromptCheck::new(spec, shared)),
            Kind::Manifest(m) => Check::Manifest(Box::new(manifest::ManifestCheck::new(
                &spec.name, m, shared,
            ))),
        }
    }

    pub async fn attempt(&mut self, heartbeat: &Heartbeat) -> Attempt {
        heartbeat.beat();
        match self {
            Check::Secret(c) => c.attempt().await,
            Check::File(c) => c.attempt().await,
            Check::Tcp(c) => c.attempt().await,
            Check::Http(c) => c.attempt(heartbeat).await,
            Check::Exec(c) => c.attempt(heartbeat).await,
            Check::Gpu(c) => c.attempt().await,
            Check::Prompt(c) => c.attempt().await,
            Check::Manifest(c) => c.attempt(heartbeat).await,
            Check::MissingInput(reason) => Err(Failure::fatal(reason.clone())),
        }
    }

    /// What the last attempt saw beyond its summary.
    pub fn facts(&self) -> Option<Facts> {
        match self {
            Check::Gpu(c) => c.facts(),
            _ => None,
        }
    }

    /// The mismatches a pass was forced past (`force: true`), a line each.
    pub fn forced(&self) -> Option<String> {
        match self {
            Check::Manifest(c) => c.forced(),
            _ => None,
        }
    }

    /// Starts listening for events that fail the check between evaluations (a GPU's XIDs).
    pub fn listen(&mut self) {
        if let Check::Gpu(c) = self {
            c.watch_xids();
        }
    }

    /// Completes when a listened-for event has failed the check.
    pub async fn heard(&self) {
        match self {
            Check::Gpu(c) => c.xid_fired().await,
            _ => std::future::pending().await,
        }
    }

    /// Why the check failed for good, when it has: no later attempt can pass it.
    pub fn settled(&self) -> Option<String> {
        match self {
            Check::Gpu(c) => c.latched(),
            _ => None,
        }
    }

    /// Waits until what the check looks at may have changed: a file event (re-checked every
    /// [`SAFETY_RECHECK`] for filesystems whose remote writes inotify never sees), an event
    /// it listens for, or else `delay`.
    pub async fn changed(&mut self, heartbeat: &Heartbeat, delay: Duration) {
        match self.watch() {
            Some(watch) => {
                tokio::select! {
                    changed = watch.changed(heartbeat) => {
                        if changed.is_err() {
                            tokio::time::sleep(delay).await;
                        }
                    }
                    _ = tokio::time::sleep(SAFETY_RECHECK) => {}
                }
            }
            None => {
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = self.heard() => {}
                }
            }
        }
    }

    /// The inotify watch of a check that waits for a path, if it has one: between attempts
    /// the engine waits on it instead of a timer.
    pub fn watch(&mut self) -> Option<&mut watch::PathWatch> {
        match self {
            Check::Secret(c) => c.watch(),
            Check::File(c) => c.watch(),
            Check::Prompt(c) => c.watch(),
            _ => None,
        }
    }

    /// Starts watching what a waiting check waits for. An error means inotify is unavailable
    /// (e.g. the node's instance limit is reached); the engine then polls with its backoff.
    pub fn prepare(&mut self) -> io::Result<()> {
        match self {
            Check::Secret(c) => c.prepare(),
            Check::File(c) => c.prepare(),
            Check::Prompt(c) => c.prepare(),
            _ => Ok(()),
        }
    }
}

/// Runs filesystem calls on a blocking thread: a hung network mount must not freeze the one
/// runtime thread, and with it SIGTERM handling and every other check.
pub async fn blocking<T, F>(work: F) -> Result<T, Failure>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|_| Failure::retry("the filesystem call was cancelled"))
}
