//! `manifest`: the runtime is what the model's manifest declares — each pin against its
//! effective value, each file's size and SHA-256.
//!
//! Cheap first: the manifest, the pins and every file's `stat` are judged before a byte is
//! hashed. A missing file or manifest is waited for (a download in progress). A wrong size, a
//! wrong checksum, an extra file or a pin mismatch fails at once: downloaders write under a
//! temporary name and rename when done, so a file at its final name with the wrong content
//! will not fix itself, and waiting would only hide the reason behind the deadline.
//!
//! Hashing runs on its own threads across attempts: while the gate waits, each attempt
//! returns within a second with the bytes done, the rate and the ETA as progress, so
//! status.json shows it and the stall watchdog sees a live check. A line is logged every
//! [`LOG_EVERY`]. Under `bootgate check` the one attempt hashes to the end.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::{Instant, interval};

use super::discovered::Discovered;
use super::{Attempt, Failure, Shared, blocking};
use crate::config::{EffectiveSource, ManifestSpec};
use crate::digest::{HashError, Progress, VerifyCache, sha256_file};
use crate::files;
use crate::heartbeat::Heartbeat;
use crate::manifest::file::PinEntry;
use crate::manifest::pin::{Pin, Verdict};
use crate::manifest::source::{self, LoadError};
use crate::manifest::verify::{self, HashJob, Hashes, Line, render, short};
use crate::text::{human_bytes, io_phrase};

/// A `file` or `json` source is a version string or a model's config, never this large.
const MAX_SOURCE_BYTES: u64 = 16 << 20;
/// How long one attempt waits on the hash before reporting progress.
const SLICE: Duration = Duration::from_secs(1);
/// How often a running hash beats the heartbeat and checks the slice.
const BEAT: Duration = Duration::from_millis(250);
/// How often a long hash is logged.
const LOG_EVERY: Duration = Duration::from_secs(10);

pub struct ManifestCheck {
    name: String,
    spec: ManifestSpec,
    state_dir: PathBuf,
    discovered: Discovered,
    once: bool,
    job: Option<Job>,
    /// The verification cache, loaded on the first attempt; with the hash while one runs.
    cache: Option<VerifyCache>,
    /// The mismatches the last pass was forced past, a line each.
    forced: Option<String>,
}

/// A hash under way, and what the cheap phase already knew.
struct Job {
    progress: Arc<Progress>,
    total: u64,
    /// How many files the hash reads (the cache and size-only entries spare the others).
    files: usize,
    started: Instant,
    logged: Option<Instant>,
    handle: JoinHandle<HashOutcome>,
    judged: Judged,
}

type HashOutcome = (Vec<HashJob>, Hashes, Option<VerifyCache>);

/// What the manifest, the pins and `stat` said.
#[derive(Default)]
struct Judged {
    /// Mismatches that waiting will not fix.
    wrong: Vec<Line>,
    /// Absent files and values: a download may still bring them.
    waiting: Vec<Line>,
    drifted: Vec<String>,
    /// Who vouches for the digests (a signer, a Hub commit), for the summary.
    vouched: Option<String>,
    pins: usize,
    files: usize,
    bytes: u64,
    cached: usize,
}

impl ManifestCheck {
    pub fn new(name: &str, spec: &ManifestSpec, shared: &Shared) -> Self {
        ManifestCheck {
            name: name.to_string(),
            spec: spec.clone(),
            state_dir: shared.state_dir.clone(),
            discovered: shared.discovered.clone(),
            once: shared.once,
            job: None,
            cache: None,
            forced: None,
        }
    }

    /// What the last pass was forced past: kept apart from the summary so status.json, the
    /// report and the guard can each say so loudly.
    pub fn forced(&self) -> Option<String> {
        self.forced.clone()
    }

    pub async fn attempt(&mut self, heartbeat: &Heartbeat) -> Attempt {
        // The hash lives in `self` between attempts: an attempt given up (a timeout, a stall)
        // leaves it running for the next one to pick up.
        let job = match &mut self.job {
            Some(job) => job,
            None => match self.start().await {
                Ok(job) => self.job.insert(job),
                Err(decided) => return decided,
            },
        };
        let until = Instant::now() + SLICE;
        // The verdict the moment the hash ends; beats and progress on a ticker meanwhile.
        let mut tick = interval(BEAT);
        let (hashed, mut judged) = loop {
            tokio::select! {
                finished = &mut job.handle => break (finished, std::mem::take(&mut job.judged)),
                _ = tick.tick() => {}
            }
            heartbeat.beat();
            let text = verify::progress_text(job.progress.done(), job.total, job.started.elapsed());
            if job.logged.is_none_or(|at| at.elapsed() >= LOG_EVERY) {
                job.logged = Some(Instant::now());
                tracing::info!("{}: hashing {text}", self.name);
            }
            if !self.once && Instant::now() >= until {
                let files = job.files;
                return Err(Failure::retry(format!(
                    "hashing {} in {files} file{}",
                    human_bytes(job.total),
                    if files == 1 { "" } else { "s" }
                ))
                .with_progress(text));
            }
        };
        self.job = None;
        let (jobs, results, mut cache) =
            hashed.map_err(|_| Failure::retry("the hashing thread failed; starting again"))?;
        judged
            .wrong
            .extend(verify::judge_hashes(&jobs, results, cache.as_mut()));
        self.verdict(judged, cache)
    }

    /// The cheap phase, then the hash on its own thread; or the verdict, when the cheap phase
    /// already decided it.
    async fn start(&mut self) -> Result<Job, Attempt> {
        let spec = self.spec.clone();
        let state_dir = self.state_dir.clone();
        let discovered = self.discovered.clone();
        // Loaded once, then kept between attempts: a download can take many.
        let cache = self.cache.take();
        let (cache, prepared) = blocking(move || {
            let cache = cache.or_else(|| spec.cache.then(|| load_cache(&state_dir)));
            let prepared = prepare(&spec, cache.as_ref(), &discovered);
            (cache, prepared)
        })
        .await
        .map_err(Err)?;
        let (judged, jobs) = match prepared {
            Ok(prepared) => prepared,
            Err(failure) => {
                self.cache = cache;
                return Err(Err(failure));
            }
        };
        // A forced check still hashes: what it is forced past must be the whole list.
        let decided = !judged.wrong.is_empty() && !self.spec.force;
        if decided || !judged.waiting.is_empty() || jobs.is_empty() {
            return Err(self.verdict(judged, cache));
        }
        let progress = Arc::new(Progress::new());
        let hashing = progress.clone();
        Ok(Job {
            total: verify::total_bytes(&jobs),
            files: jobs.len(),
            progress,
            started: Instant::now(),
            logged: None,
            judged,
            handle: tokio::task::spawn_blocking(move || {
                let results = verify::hash(&jobs, &hashing);
                (jobs, results, cache)
            }),
        })
    }

    fn verdict(&mut self, judged: Judged, mut cache: Option<VerifyCache>) -> Attempt {
        // `check` may run before any gate made the state directory.
        if let Some(cache) = cache.as_mut()
            && let Err(e) = cache
                .path()
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .and_then(|()| cache.save())
        {
            tracing::warn!(
                "{}: cannot save the verification cache {}: {}",
                self.name,
                cache.path().display(),
                io_phrase(&e)
            );
        }
        self.cache = cache;
        self.forced = None;
        if !judged.wrong.is_empty() && !self.spec.force {
            let mut lines = judged.wrong;
            lines.extend(judged.waiting);
            return Err(Failure::fatal(format!(
                "{} does not match the runtime:\n{}",
                self.spec.source.written(),
                render(&lines)
            )));
        }
        // Absent files are waited for, forced or not: `force` passes mismatches, not a
        // download that has not finished.
        if !judged.waiting.is_empty() {
            let mut lines = judged.wrong;
            lines.extend(judged.waiting);
            return Err(Failure::retry(format!(
                "waiting for {}:\n{}",
                self.spec.root.written,
                render(&lines)
            )));
        }
        if !judged.wrong.is_empty() {
            let count = judged.wrong.len();
            self.forced = Some(render(&judged.wrong));
            return Ok(format!(
                "FORCED past {count} mismatch{} (force: true)",
                if count == 1 { "" } else { "es" }
            ));
        }
        let files = format!(
            "{} file{} ({}) match",
            judged.files,
            if judged.files == 1 { "" } else { "s" },
            human_bytes(judged.bytes)
        );
        let mut summary = match &judged.vouched {
            Some(vouched) => format!("{vouched}: {files}"),
            None => format!(
                "{} pin{}, {files}",
                judged.pins,
                if judged.pins == 1 { "" } else { "s" },
            ),
        };
        if self.spec.cache {
            summary.push_str(&format!(
                "; {} of {} from cache",
                judged.cached, judged.files
            ));
        }
        if !judged.drifted.is_empty() {
            summary.push_str(&format!("; {}", judged.drifted.join("; ")));
        }
        Ok(summary)
    }
}

/// A timed-out or abandoned check must not leave threads reading a 100 GB model behind it.
impl Drop for ManifestCheck {
    fn drop(&mut self) {
        if let Some(job) = &self.job {
            job.progress.cancel();
        }
    }
}

type Prepared = (Judged, Vec<HashJob>);

fn load_cache(state_dir: &Path) -> VerifyCache {
    let cache = VerifyCache::load(state_dir);
    if let Some(why) = cache.ignored() {
        tracing::warn!("verification cache set aside: {why}");
    }
    cache
}

/// Everything short of the hashes: the source (verified, for a signature), the pins, every
/// file's `stat` (and what the cache already vouches for).
fn prepare(
    spec: &ManifestSpec,
    cache: Option<&VerifyCache>,
    discovered: &Discovered,
) -> Result<Prepared, Failure> {
    let mut loaded = source::load(spec).map_err(|e| match e {
        LoadError::Waiting(why) => Failure::retry(why),
        LoadError::Wrong(why) => Failure::fatal(why),
    })?;
    let mut judged = Judged {
        wrong: std::mem::take(&mut loaded.wrong),
        waiting: std::mem::take(&mut loaded.missing),
        drifted: Vec::new(),
        vouched: loaded.vouched.take(),
        pins: loaded.pins.len(),
        files: loaded.files.len(),
        bytes: 0,
        cached: 0,
    };
    judge_pins(spec, &loaded.pins, &loaded.root, discovered, &mut judged);
    let survey = verify::survey(&loaded.files, &loaded.root, &loaded.rules(spec), cache);
    judged.wrong.extend(survey.wrong);
    judged.waiting.extend(survey.missing);
    judged.bytes = survey.bytes;
    judged.cached = survey.cached;
    Ok((judged, survey.hash))
}

fn judge_pins(
    spec: &ManifestSpec,
    pins: &[PinEntry],
    root: &Path,
    discovered: &Discovered,
    judged: &mut Judged,
) {
    for (name, _) in &spec.effective {
        if !pins.iter().any(|p| p.name == *name) {
            judged.wrong.push(Line::new(
                name,
                "has an effective source, but the manifest does not pin it",
            ));
        }
    }
    for pin in pins {
        let Some((_, source)) = spec.effective.iter().find(|(n, _)| *n == pin.name) else {
            judged.wrong.push(Line::new(
                &pin.name,
                format!(
                    "declared {}  runtime unknown: add effective.{} to the check",
                    short(&pin.declared),
                    pin.name
                ),
            ));
            continue;
        };
        let runtime = match effective(source, root, discovered) {
            Ok(value) => value,
            Err(Missing::Waiting(why)) => {
                judged.waiting.push(Line::new(&pin.name, why));
                continue;
            }
            Err(Missing::Wrong(why)) => {
                judged.wrong.push(Line::new(&pin.name, why));
                continue;
            }
        };
        // A digest written in capitals is the same digest.
        let declared_pin = match (&pin.pin, source) {
            (Pin::Exact(d), EffectiveSource::Sha256Of(_)) => Pin::Exact(d.to_ascii_lowercase()),
            (p, _) => p.clone(),
        };
        match declared_pin.judge(&runtime, spec.drift) {
            Verdict::Match => {}
            Verdict::Drifted(size) => judged.drifted.push(format!(
                "{}: declared {}, runtime {}: {size} drift tolerated",
                pin.name,
                pin.declared,
                runtime.trim()
            )),
            Verdict::Mismatch(why) => {
                let mut text = format!(
                    "declared {}  runtime {}",
                    short(&pin.declared),
                    short(runtime.trim())
                );
                if let Some(why) = why {
                    text.push_str(&format!("  ({why})"));
                }
                judged.wrong.push(Line::new(&pin.name, text));
            }
        }
    }
}

enum Missing {
    Waiting(String),
    Wrong(String),
}

/// The runtime's value for a pin.
fn effective(
    source: &EffectiveSource,
    root: &Path,
    discovered: &Discovered,
) -> Result<String, Missing> {
    let not_found = |shown: &str, e: &std::io::Error| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Missing::Waiting(format!("runtime unknown: {shown} does not exist"))
        } else {
            Missing::Waiting(format!(
                "runtime unknown: cannot read {shown}: {}",
                io_phrase(e)
            ))
        }
    };
    match source {
        EffectiveSource::Env(var) => match std::env::var(var) {
            Ok(v) if !v.trim().is_empty() => Ok(v),
            // The environment is fixed for a container's life: waiting cannot help.
            _ => Err(Missing::Wrong(format!(
                "runtime unknown: env {var} is not set"
            ))),
        },
        EffectiveSource::File(path) => files::read_text(&root.join(&path.value), MAX_SOURCE_BYTES)
            .map(|text| text.trim().to_string())
            .map_err(|e| not_found(&path.written, &e)),
        EffectiveSource::Sha256Of(path) => sha256_file(&root.join(&path.value), &Progress::new())
            .map(|d| d.to_hex())
            .map_err(|e| match e {
                HashError::Io(io) => not_found(&path.written, &io),
                other => Missing::Waiting(format!(
                    "runtime unknown: cannot hash {}: {other}",
                    path.written
                )),
            }),
        // The check it names ran first (`after:`), or, in the guard, the gate's last word on
        // it was posted: a value absent now will stay absent.
        EffectiveSource::Check { check, fact, .. } => discovered
            .value(check, *fact)
            .map_err(|why| Missing::Wrong(format!("runtime unknown: {why}"))),
        EffectiveSource::Json { path, pointer } => {
            let text = files::read_text(&root.join(&path.value), MAX_SOURCE_BYTES)
                .map_err(|e| not_found(&path.written, &e))?;
            let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
                Missing::Wrong(format!(
                    "runtime unknown: {} is not JSON: {e}",
                    path.written
                ))
            })?;
            match json.pointer(pointer) {
                Some(serde_json::Value::String(s)) => Ok(s.clone()),
                Some(serde_json::Value::Null) | None => Err(Missing::Wrong(format!(
                    "runtime unknown: {} has no {pointer}",
                    path.written
                ))),
                Some(other) => Ok(other.to_string()),
            }
        }
    }
}
