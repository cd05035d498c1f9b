//! `bootgate wait`: block until every given endpoint answers 200–399 and every given marker
//! file exists.
//!
//! One independent check per target, built in code and run by the engine as `init` runs a
//! gate: HTTP retried with its backoff, a marker seen through inotify the moment it appears.

use tokio::time::Instant;

use super::exit_for;
use super::probe::{DEADLINE_MARGIN, check, checks, http_get, run_one};
use crate::cli::WaitArgs;
use crate::config::{DEFAULT_ATTEMPT_TIMEOUT, FileSpec, Kind, Text};
use crate::engine::Mode;
use crate::exit::Exit;
use crate::signals::Stop;
use crate::state::{Outcome, Phase};
use crate::userinfo::masked;

pub async fn run(args: WaitArgs, mut stop: Stop) -> Exit {
    let started = Instant::now();
    let attempt_timeout = args.timeout.min(DEFAULT_ATTEMPT_TIMEOUT);
    // One name per target, numbered only when there are several, so a single target's log
    // reads as it always has: `url passed`, `marker failed: …`.
    let name = |kind: &str, i: usize, of: usize| match of {
        1 => kind.to_string(),
        _ => format!("{kind}{}", i + 1),
    };
    let urls = args.url.iter().enumerate().map(|(i, url)| {
        http_get(&name("url", i, args.url.len()), url, attempt_timeout)
            .map_err(|reason| format!("bootgate wait: --url {}: {reason}", masked(url)))
    });
    let markers = args.marker.iter().enumerate().map(|(i, path)| {
        let name = name("marker", i, args.marker.len());
        match path.to_str() {
            Some("") => Err("bootgate wait: --marker: the path is empty".to_string()),
            Some(path) => Ok(check(
                &name,
                Kind::File(FileSpec {
                    path: Text {
                        written: path.to_string(),
                        value: path.to_string(),
                    },
                    min_size: None,
                    non_empty: false,
                }),
                attempt_timeout,
            )),
            None => Err(format!(
                "bootgate wait: --marker {}: the path is not UTF-8",
                path.display()
            )),
        }
    });
    let mut specs = match urls.chain(markers).collect::<Result<Vec<_>, _>>() {
        Ok(specs) => specs,
        Err(message) => {
            crate::stderr::line(&message);
            return Exit::BadInput;
        }
    };
    // Each check's own timeout ends the wait, so the last lines read `timeout 2m00s passed`,
    // in the flag's words; the deadline behind them is only a backstop.
    for spec in &mut specs {
        spec.timeout = Some(args.timeout);
    }
    let config = checks(specs, args.timeout + DEADLINE_MARGIN);
    // The log already said how each ended: `url passed (status 200) after 3 attempts`,
    // `marker failed: timeout 30s passed; last error: …`, or the signal.
    let Some(state) = run_one(&config, Mode::Gate, true, started, &mut stop).await else {
        return Exit::BadInput;
    };
    if !matches!(state.outcome, Outcome::Passed | Outcome::Interrupted) {
        // One line that names what is still missing, whatever the checks' lines above say.
        let missing: Vec<String> = state
            .checks
            .iter()
            .filter(|c| c.state != Phase::Passed)
            .map(|c| format!("{} ({})", c.name, c.target))
            .collect();
        crate::stderr::line(&format!(
            "bootgate wait: still missing: {}",
            missing.join(", ")
        ));
    }
    exit_for(state.outcome)
}
