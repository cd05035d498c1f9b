//! `bootgate probe`: one GET with the kubelet's semantics (200–399 is success), for exec probes
//! and image HEALTHCHECKs in images without a shell or curl.
//!
//! It runs the engine on a one-check config built in code, so the HTTP client, its limits and
//! its reasons are the ones `init` uses. Probes run every few seconds: nothing is logged on
//! success and nothing is written to disk.

use std::path::PathBuf;
use std::time::Duration;

use tokio::time::Instant;

use super::{Execution, execute, exit_for};
use crate::cli::ProbeArgs;
use crate::config::http::{url_secrets, validate_url};
use crate::config::{
    CheckSpec, Config, DEFAULT_MAX_BODY, DEFAULT_MAX_INTERVAL, DEFAULT_PLACEHOLDERS,
    DEFAULT_STALL_AFTER, DEFAULT_STATE_DIR, HttpSpec, Kind, OnFail, Pos, Text,
};
use crate::engine::Mode;
use crate::exit::Exit;
use crate::graph::Graph;
use crate::redact::Redactor;
use crate::signals::Stop;
use crate::state::{GateState, Outcome};
use crate::userinfo::masked;

/// Room between a check's own time limit and the engine's deadline, so that the check's
/// reason (`attempt timed out after 1.0s`, `timeout 2m00s passed`) is the one reported.
pub(super) const DEADLINE_MARGIN: Duration = Duration::from_millis(100);

pub async fn run(args: ProbeArgs, mut stop: Stop) -> Exit {
    let started = Instant::now();
    let shown = masked(&args.url);
    let check = match http_get("probe", &args.url, args.timeout) {
        Ok(check) => check,
        Err(reason) => {
            crate::stderr::line(&format!("bootgate probe: {shown}: {reason}"));
            return Exit::BadInput;
        }
    };
    let config = one_check(check, args.timeout + DEADLINE_MARGIN);
    let Some(state) = run_one(&config, Mode::Once, false, started, &mut stop).await else {
        return Exit::BadInput;
    };
    if state.outcome == Outcome::Passed {
        return Exit::Passed;
    }
    if state.outcome != Outcome::Interrupted {
        let why = state.checks.first().map(|c| c.why()).unwrap_or_default();
        // The check's reasons start with `GET URL: `; the line already names the URL.
        let prefix = format!("GET {shown}: ");
        let why = why.strip_prefix(&prefix).unwrap_or(&why);
        crate::stderr::line(&format!("probe {shown}: {why}"));
    }
    exit_for(state.outcome)
}

/// A GET of `url` that passes on any status the kubelet counts as success (200–399).
/// The error is why the URL is unusable, without the URL itself.
pub(super) fn http_get(
    name: &str,
    url: &str,
    attempt_timeout: Duration,
) -> Result<CheckSpec, String> {
    validate_url(url)?;
    Ok(check(
        name,
        Kind::Http(HttpSpec {
            url: Text {
                written: masked(url),
                value: url.to_string(),
            },
            method: "GET".into(),
            headers: vec![],
            status: (200..400).collect(),
            body_contains: None,
            max_body: DEFAULT_MAX_BODY,
        }),
        attempt_timeout,
    ))
}

/// A required check with no dependencies and the config defaults for everything not given.
pub(super) fn check(name: &str, kind: Kind, attempt_timeout: Duration) -> CheckSpec {
    CheckSpec {
        name: name.into(),
        pos: Pos::default(),
        kind,
        after: vec![],
        on_fail: OnFail::Require,
        timeout: None,
        attempt_timeout,
        max_interval: DEFAULT_MAX_INTERVAL,
        stall_after: DEFAULT_STALL_AFTER,
        missing_input: None,
        watch: false,
    }
}

/// A config of one check, as if written on the command line.
pub(super) fn one_check(check: CheckSpec, deadline: Duration) -> Config {
    checks(vec![check], deadline)
}

/// A config of independent checks, as if written on the command line.
pub(super) fn checks(checks: Vec<CheckSpec>, deadline: Duration) -> Config {
    Config {
        source: PathBuf::from("<command line>"),
        text: String::new(),
        deadline,
        state_dir: PathBuf::from(DEFAULT_STATE_DIR),
        placeholders: DEFAULT_PLACEHOLDERS.iter().map(|s| s.to_string()).collect(),
        sensitive: checks
            .iter()
            .flat_map(|check| match &check.kind {
                Kind::Http(http) => url_secrets(&http.url.value),
                _ => vec![],
            })
            .collect(),
        checks,
        guard: Default::default(),
    }
}

/// Runs a config built in code to its outcome, with no status file. `None` (after saying why)
/// if its graph is unsound, which a config of independent checks never is.
pub(super) async fn run_one(
    config: &Config,
    mode: Mode,
    log: bool,
    started: Instant,
    stop: &mut Stop,
) -> Option<GateState> {
    let graph = match Graph::build(&config.checks) {
        Ok(graph) => graph,
        Err(e) => {
            crate::stderr::line(&format!("bootgate: {e}"));
            return None;
        }
    };
    let state = execute(
        Execution {
            config,
            graph: &graph,
            selected: vec![true; config.checks.len()],
            mode,
            started,
            redactor: Redactor::new(config.sensitive.iter().cloned()),
            log,
        },
        None,
        stop,
    )
    .await;
    Some(state)
}
