//! `bootgate explain`: why the pod is or is not ready, in plain words, from the gate's
//! status.json or a guard's `/readyz?format=json`; exit 0 ready, 1 not ready, 2 when neither can
//! be read. Both are read as text others control: bounded, no link followed, every value
//! escaped (see [`crate::report::explain`]).

use std::fmt::Write;
use std::time::{Duration, SystemTime};

use crate::checks::http::{Outgoing, fetch, target};
use crate::cli::ExplainArgs;
use crate::config::{ProcessEnv, http::validate_url, listen_of, state_dir_of};
use crate::echo::{PATH_LIMIT, capped};
use crate::exit::Exit;
use crate::heartbeat::Heartbeat;
use crate::report::explain;
use crate::state::StatusRecord;
use crate::statedir::{STATUS, read_status};
use crate::text::io_phrase;
use crate::userinfo::masked;

/// A guard's JSON for thousands of lines is far smaller; status.json has its own bound.
const MAX_ANSWER: u64 = 4 << 20;

pub fn run(args: ExplainArgs) -> Exit {
    let said = match &args.url {
        Some(url) => ask(url, args.timeout),
        None => read(&args),
    };
    match said {
        Ok((ready, text)) => {
            super::print(&text);
            if ready { Exit::Passed } else { Exit::Failed }
        }
        Err(why) => {
            crate::stderr::line(&format!("bootgate explain: {why}"));
            Exit::BadInput
        }
    }
}

fn read(args: &ExplainArgs) -> Result<(bool, String), String> {
    let config = &args.config.config;
    let dir = match &args.state_dir {
        Some(dir) => dir.clone(),
        None => state_dir_of(config, &ProcessEnv).ok_or_else(|| {
            format!(
                "cannot tell the state_dir from {} (unreadable, or not a plain path there); pass --state-dir DIR",
                shown(config)
            )
        })?,
    };
    let file = dir.join(STATUS);
    let bytes = read_status(&dir).map_err(|e| {
        let hint = match e.kind() {
            std::io::ErrorKind::NotFound => {
                "; the gate has not written it yet, or this is not its state_dir"
            }
            _ => "",
        };
        format!("cannot read {}: {}{hint}", shown(&file), io_phrase(&e))
    })?;
    let (passed, mut text) = StatusRecord::parse(&bytes)
        .and_then(|record| explain::gate(&record, SystemTime::now()))
        .ok_or_else(|| format!("{} is not the gate's status.json", shown(&file)))?;
    if !passed {
        return Ok((false, text));
    }
    // Past the gate, readiness is the guard's: from the config, ask it where it listens (the
    // guard's own container shares the state_dir); without one, say how to.
    let guard = match &args.state_dir {
        None => listen_of(config).and_then(|listen| guard_url(&listen)),
        Some(_) => None,
    };
    let mut unanswered = None;
    if let Some(url) = &guard {
        match ask(url, GUARD_PATIENCE) {
            Ok((ready, said)) => {
                text.push_str("The guard:\n");
                text.push_str(&said);
                return Ok((ready, text));
            }
            Err(why) => unanswered = Some(why),
        }
    }
    let url = guard
        .as_deref()
        .unwrap_or("http://127.0.0.1:PORT (its listen)");
    let _ = writeln!(
        text,
        "Readiness is now the guard's: bootgate explain --url {url} from the bootgate container."
    );
    if let Some(why) = unanswered {
        let _ = writeln!(text, "No guard answered here: {}", crate::echo::value(&why));
    }
    Ok((true, text))
}

/// How long a guard beside a passed gate may take to answer: on loopback it answers in
/// microseconds, so a silence this long means none is there.
const GUARD_PATIENCE: Duration = Duration::from_secs(1);

/// `listen` as a URL on this host: a wildcard address is asked on its loopback. `None` for
/// port 0, which names no port a guard could be found on.
fn guard_url(listen: &str) -> Option<String> {
    match listen.parse::<std::net::SocketAddr>() {
        Ok(at) if at.port() == 0 => None,
        Ok(at) => Some(format!("http://{}", crate::guard::loopback_if_wildcard(at))),
        Err(_) => Some(format!("http://{listen}")),
    }
}

fn shown(path: &std::path::Path) -> String {
    capped(&path.to_string_lossy(), PATH_LIMIT).to_string()
}

/// One GET of the guard's `/readyz`, asking for JSON, on a runtime of its own: only this mode
/// needs one.
fn ask(url: &str, timeout: Duration) -> Result<(bool, String), String> {
    let shown = masked(url);
    validate_url(url).map_err(|why| format!("--url {shown}: {why}"))?;
    // A base URL (`http://127.0.0.1:8081`) means its /readyz.
    let url = match target(url)?.path.as_str() {
        "/" => format!("{}/readyz", url.trim_end_matches('/')),
        _ => url.to_string(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    let (status, body) = runtime
        .block_on(async {
            let heartbeat = Heartbeat::default();
            let request = Outgoing {
                url: &url,
                method: "GET",
                headers: &[("accept", "application/json")],
                body: None,
            };
            let got = async {
                let answer = fetch(&request, &heartbeat).await?;
                let status = answer.status;
                Ok::<_, String>((status, answer.whole(MAX_ANSWER, &heartbeat).await?))
            };
            tokio::time::timeout(timeout, got)
                .await
                .unwrap_or_else(|_| {
                    Err(format!(
                        "no answer within {}",
                        crate::config::units::human_duration(timeout)
                    ))
                })
        })
        .map_err(|why| format!("GET {}: {why}", masked(&url)))?;
    let text = String::from_utf8_lossy(&body);
    serde_json::from_str(&text)
        .ok()
        .and_then(|doc| explain::guard(&doc))
        .or_else(|| explain::withheld(status, &text))
        .ok_or_else(|| {
            format!(
                "GET {}: status {status}, not a bootgate guard's answer",
                masked(&url)
            )
        })
}
