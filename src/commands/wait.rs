//! `bootgate wait`: block until an endpoint answers 200–399 or a marker file exists.
//!
//! One check built in code and run by the engine as `init` runs a gate: HTTP retried with its
//! backoff, a marker seen through inotify the moment it appears.

use tokio::time::Instant;

use super::exit_for;
use super::probe::{DEADLINE_MARGIN, check, http_get, one_check, run_one};
use crate::cli::WaitArgs;
use crate::config::{DEFAULT_ATTEMPT_TIMEOUT, FileSpec, Kind, Text};
use crate::engine::Mode;
use crate::exit::Exit;
use crate::signals::Stop;
use crate::userinfo::masked;

pub async fn run(args: WaitArgs, mut stop: Stop) -> Exit {
    let started = Instant::now();
    let attempt_timeout = args.timeout.min(DEFAULT_ATTEMPT_TIMEOUT);
    let built = match (&args.url, &args.marker) {
        (Some(url), _) => http_get("url", url, attempt_timeout)
            .map_err(|reason| format!("bootgate wait: --url {}: {reason}", masked(url))),
        (None, Some(path)) => match path.to_str() {
            Some("") => Err("bootgate wait: --marker: the path is empty".to_string()),
            Some(path) => Ok(check(
                "marker",
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
        },
        (None, None) => Err("bootgate wait: give --url URL or --marker PATH".to_string()),
    };
    let mut spec = match built {
        Ok(spec) => spec,
        Err(message) => {
            crate::stderr::line(&message);
            return Exit::BadInput;
        }
    };
    // The check's own timeout ends the wait, so the last line reads `timeout 2m00s passed`,
    // in the flag's words; the deadline behind it is only a backstop.
    spec.timeout = Some(args.timeout);
    let config = one_check(spec, args.timeout + DEADLINE_MARGIN);
    match run_one(&config, Mode::Gate, true, started, &mut stop).await {
        // The log already said how it ended: `url passed (status 200) after 3 attempts`,
        // `marker failed: timeout 30s passed; last error: …`, or the signal.
        Some(state) => exit_for(state.outcome),
        None => Exit::BadInput,
    }
}
