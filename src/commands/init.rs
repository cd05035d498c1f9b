//! `bootgate init`: the initContainer. Blocks until every required check passes.

use std::path::{Path, PathBuf};

use tokio::time::{Instant, sleep_until};

use super::{Execution, execute, exit_for, load};
use crate::cli::InitArgs;
use crate::config::Config;
use crate::config::units::human_duration;
use crate::engine::Mode;
use crate::exit::Exit;
use crate::graph::Graph;
use crate::redact::Redactor;
use crate::report::status::StatusWriter;
use crate::report::{safe_mode, termination};
use crate::signals::Stop;
use crate::state::Outcome;
use crate::statedir::{READY, STATUS, StateDir};
use crate::text::rfc3339;

const KUBELET_TERMINATION_LOG: &str = "/dev/termination-log";

pub async fn run(args: InitArgs, mut stop: Stop) -> Exit {
    let started = Instant::now();
    let termination_log = termination_log(args.termination_log);
    let (config, graph) = match load_or_report(&args.config.config, termination_log.as_deref()) {
        Ok(loaded) => loaded,
        Err(exit) => return exit,
    };
    let redactor = Redactor::new(config.sensitive.iter().cloned());
    gate(
        &config,
        &graph,
        termination_log.as_deref(),
        redactor.clone(),
        started,
        Marker::Gate,
        &mut stop,
    )
    .await
    .exit
}

/// What `state_dir/ready` says once the gate passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    /// `init`: the gate passed; the guard in the sidecar takes it from there.
    Gate,
    /// `run`: nothing yet; the guard in this process writes it once the server is ready, so
    /// no reader ever sees "ready" before then.
    Guard,
}

/// How the gate ended, and the environment a degraded gate asks of the server.
pub struct Gated {
    pub exit: Exit,
    pub safe_mode: Vec<(&'static str, String)>,
    /// A passed gate's state_dir, locked for as long as this lives: under `run`, the guard
    /// that writes the marker next owns the directory as the gate did.
    _state_dir: Option<StateDir>,
}

impl From<Exit> for Gated {
    fn from(exit: Exit) -> Gated {
        Gated {
            exit,
            safe_mode: Vec::new(),
            _state_dir: None,
        }
    }
}

/// Given explicitly, the path is written; the kubelet's default only when it exists.
pub fn termination_log(flag: Option<PathBuf>) -> Option<PathBuf> {
    flag.or_else(|| {
        let default = PathBuf::from(KUBELET_TERMINATION_LOG);
        default.exists().then_some(default)
    })
}

/// Loads the config; a typo in a ConfigMap must show in `kubectl describe pod`, not only in
/// the log, so config errors go to the termination log too.
pub fn load_or_report(
    config: &Path,
    termination_log: Option<&Path>,
) -> Result<(Config, Graph), Exit> {
    load(config).map_err(|problems| {
        if let Some(path) = termination_log {
            termination::write(path, &termination::keep_tail(&problems));
        }
        // No gate runs: nothing an earlier one left may speak for this one.
        if let Some(dir) = crate::config::state_dir_of(config, &crate::config::ProcessEnv) {
            crate::statedir::clear_after_invalid_config(&dir, &crate::statedir::GATE_FILES);
        }
        Exit::BadInput
    })
}

/// The gate: every required check passes, or the reason is reported and the exit says why.
/// `redactor` is shared with whatever runs after the gate (the guard under `run`): the secret
/// files the gate learns must stay hidden there too.
pub async fn gate(
    config: &Config,
    graph: &Graph,
    termination_log: Option<&Path>,
    redactor: Redactor,
    started: Instant,
    marker: Marker,
    stop: &mut Stop,
) -> Gated {
    let notes = config.notes().into_iter();
    for note in notes.chain(graph.warn_waits_past(&config.checks, config.deadline)) {
        tracing::warn!("{note}");
    }
    tracing::info!(
        "bootgate {}: {} check{}, deadline {}, config {}",
        env!("CARGO_PKG_VERSION"),
        config.checks.len(),
        if config.checks.len() == 1 { "" } else { "s" },
        human_duration(config.deadline),
        config.source.display()
    );

    let fail_early = |reason: String| {
        tracing::error!("{reason}");
        if let Some(path) = termination_log {
            termination::write(path, &format!("bootgate: {}\n", redactor.clean(&reason)));
        }
    };
    let state_dir = tokio::select! {
        // A free lock first: a signal that is already pending still finds a state_dir to
        // write "interrupted" to.
        biased;
        dir = StateDir::acquire(&config.state_dir) => dir,
        signal = stop.requested() => {
            fail_early(format!("{signal} received while waiting for the state_dir lock"));
            return Exit::Interrupted.into();
        }
        _ = sleep_until(started + config.deadline) => {
            fail_early(format!(
                "deadline {} passed while waiting for the lock on {}",
                human_duration(config.deadline),
                config.state_dir.display()
            ));
            return Exit::Failed.into();
        }
    };
    let state_dir = match state_dir {
        Ok(dir) => dir,
        Err(e) => {
            fail_early(e.to_string());
            return Exit::Failed.into();
        }
    };

    let mut status = StatusWriter::new(&state_dir, redactor.clone());
    let mut state = execute(
        Execution {
            config,
            graph,
            selected: vec![true; config.checks.len()],
            mode: Mode::Gate,
            started,
            redactor: redactor.clone(),
            log: true,
        },
        Some(&mut status),
        stop,
    )
    .await;

    let elapsed = human_duration(started.elapsed());
    let decided = state.outcome;
    let degraded = safe_mode::degraded(&state);
    let env_file = safe_mode::render(&degraded, std::time::SystemTime::now(), &redactor);
    // What the gate leaves must agree with its exit code: a file it cannot write fails the
    // gate, and status.json says why. The marker comes last, once everything behind it is
    // written: it never stands, even for a moment, for a gate that then fails.
    let mut trouble = state_dir.write(safe_mode::FILE, env_file.as_bytes()).err();
    if trouble.is_none()
        && status.failure().is_none()
        && decided == Outcome::Passed
        && marker == Marker::Gate
    {
        trouble = state_dir
            .mark_ready(&format!("{}\n", rfc3339(std::time::SystemTime::now())))
            .err();
    }
    if let Some(e) = trouble {
        state.fail_with(e.to_string());
        status.write(&state);
    }
    if let Some(failure) = status.failure().map(str::to_string) {
        // No status.json rather than one that says "running", or "passed" of a failed gate;
        // and no marker without the status behind it.
        for name in [READY, STATUS] {
            if let Err(e) = state_dir.remove(name) {
                tracing::warn!("{e}");
            }
        }
        state.fail_with(failure);
    }
    if state.outcome == Outcome::Passed {
        for d in &degraded {
            tracing::warn!(
                "degraded: {}: {}{}",
                d.name,
                redactor.clean(&d.reason),
                if d.gpu {
                    "; the server runs in CPU safe mode"
                } else {
                    ""
                }
            );
        }
        if let Some(message) = termination::forced_message(&state, &redactor)
            && let Some(path) = termination_log
        {
            termination::write(path, &message);
        }
        tracing::info!("gate passed in {elapsed}");
        return Gated {
            exit: Exit::Passed,
            safe_mode: safe_mode::variables(&degraded),
            _state_dir: Some(state_dir),
        };
    }
    if let Some(error) = &state.error {
        if decided == Outcome::Passed {
            // Every check passed: what could not be written is the whole story.
            fail_early(error.clone());
            return Exit::Failed.into();
        }
        tracing::error!("{error}");
    }
    let message = termination::message(&state, &redactor);
    if let Some(path) = termination_log {
        termination::write(path, &message);
    }
    let last = message.trim_end().lines().last().unwrap_or_default();
    tracing::error!("gate did not pass after {elapsed}: {last}");
    exit_for(state.outcome).into()
}
