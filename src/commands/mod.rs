//! The subcommands, each a thin layer over config, graph, engine and reports.

pub mod check;
pub mod explain;
pub mod init;
pub mod lint;
pub mod manifest;
pub mod probe;
pub mod run;
pub mod sidecar;
pub mod validate;
pub mod wait;

use std::path::Path;

use tokio::sync::mpsc::unbounded_channel;
use tokio::time::{Instant, sleep_until};

use crate::checks::{Check, Shared};
use crate::cli::DEFAULT_CONFIG;
use crate::config::{self, Config, LoadError, ProcessEnv};
use crate::engine::{self, Mode, Plan, Verdict};
use crate::exit::Exit;
use crate::graph::Graph;
use crate::redact::Redactor;
use crate::report::{log::log_change, status::StatusWriter};
use crate::signals::Stop;
use crate::state::{GateState, Outcome};

/// Loads the config and its graph. On failure, every problem has been reported and the text
/// is returned (for the termination log); the exit code is 2.
pub fn load(path: &Path) -> Result<(Config, Graph), String> {
    let loaded = config::load(path, &ProcessEnv)
        .map_err(|e| match &e {
            // Nobody chose this path: say how to choose one.
            LoadError::Read { error, .. }
                if error.kind() == std::io::ErrorKind::NotFound
                    && path == Path::new(DEFAULT_CONFIG) =>
            {
                format!("{e}; pass --config PATH or set BOOTGATE_CONFIG")
            }
            _ => e.to_string(),
        })
        .and_then(|config| crate::graph::checked(config, path));
    if let Err(problems) = &loaded {
        crate::report::log::problems(problems);
    }
    loaded
}

/// The config in `text`, read from `path`, and its graph; or every problem, one a line, as
/// [`load`] says them. Nothing is logged: a reload reports its own way.
pub fn parse(text: &str, path: &Path) -> Result<(Config, Graph), String> {
    config::from_str(text, path, &ProcessEnv)
        .map_err(|e| e.to_string())
        .and_then(|config| crate::graph::checked(config, path))
}

/// Writes a report to stdout. A closed pipe (`| head`) or a full disk is not worth a panic.
pub fn print(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

pub struct Execution<'a> {
    pub config: &'a Config,
    pub graph: &'a Graph,
    pub selected: Vec<bool>,
    pub mode: Mode,
    pub started: Instant,
    pub redactor: Redactor,
    pub log: bool,
}

/// Runs the engine and keeps the state model, the log and status.json in step with it, until
/// the engine decides or a stop signal arrives.
pub async fn execute(
    run: Execution<'_>,
    mut status: Option<&mut StatusWriter<'_>>,
    stop: &mut Stop,
) -> GateState {
    let config = run.config;
    let mut state = GateState::new(&config.checks, &run.selected, config.deadline);
    state.started = run.started;
    let shared = Shared::new(config, run.redactor.clone(), run.mode == Mode::Once);
    crate::checks::secret::remember_files(&config.checks, &shared).await;
    let checks = config
        .checks
        .iter()
        .map(|s| Check::build(s, &shared))
        .collect();
    let (tx, mut rx) = unbounded_channel();
    let plan = Plan {
        specs: &config.checks,
        graph: run.graph,
        selected: run.selected,
        deadline: run.started + config.deadline,
        deadline_len: config.deadline,
        mode: run.mode,
        redactor: run.redactor.clone(),
    };
    let engine = engine::run(plan, checks, tx);
    tokio::pin!(engine);

    // Returns whether the event was news (a new reason, a phase change), not just a retry.
    let apply = |state: &mut GateState, event: engine::Event| -> bool {
        match state.apply(&event) {
            Some((check, change)) => {
                if run.log {
                    log_change(check, &change, &run.redactor);
                }
                true
            }
            None => false,
        }
    };
    let outcome = loop {
        let due = status.as_ref().and_then(|s| s.due());
        tokio::select! {
            biased;
            Some(event) = rx.recv() => {
                // Take everything already queued in one go: a 1,000-check graph sends a lot.
                let mut news = apply(&mut state, event);
                while let Ok(event) = rx.try_recv() {
                    news |= apply(&mut state, event);
                }
                if let Some(s) = status.as_mut() {
                    s.changed(news);
                }
            }
            verdict = &mut engine => {
                while let Ok(event) = rx.try_recv() {
                    apply(&mut state, event);
                }
                break match verdict {
                    Verdict::Passed => Outcome::Passed,
                    Verdict::Failed => Outcome::Failed,
                    Verdict::DeadlineExceeded => Outcome::DeadlineExceeded,
                };
            }
            signal = stop.requested() => {
                tracing::warn!("{signal} received; stopping");
                break Outcome::Interrupted;
            }
            _ = sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => {
                if let Some(s) = status.as_mut() {
                    s.write(&state);
                }
            }
        }
    };
    state.finish(outcome);
    if let Some(s) = status {
        s.write(&state);
    }
    state
}

pub fn exit_for(outcome: Outcome) -> Exit {
    match outcome {
        Outcome::Passed => Exit::Passed,
        Outcome::Interrupted => Exit::Interrupted,
        _ => Exit::Failed,
    }
}
