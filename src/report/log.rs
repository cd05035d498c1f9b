//! One log line per change of a check's state — never one per poll.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::config::OnFail;
use crate::state::{Change, CheckState};

pub fn log_change(check: &CheckState, change: &Change) {
    let name = &check.name;
    match change {
        // Starting is not news to a reader; the first wait or the pass is.
        Change::Started => {}
        Change::Waiting => {
            let reason = check.last_error.as_deref().unwrap_or("not passing yet");
            match &check.progress {
                Some(progress) => tracing::info!("waiting for {name}: {reason} ({progress})"),
                None => tracing::info!("waiting for {name}: {reason}"),
            }
        }
        Change::Stalled => tracing::warn!(
            "{name} STALLED: attempt {} made no progress; cancelled and started again",
            check.attempts
        ),
        Change::Polling => tracing::warn!("{name}: file events unavailable; polling instead"),
        Change::Passed if check.forced.is_some() => tracing::warn!(
            "{name} passed only because it is FORCED (force: true), past:\n{}",
            check.forced.as_deref().unwrap_or_default()
        ),
        Change::Passed => tracing::info!(
            "{name} passed ({}) after {} attempt{}",
            check.detail.as_deref().unwrap_or("ok"),
            check.attempts,
            if check.attempts == 1 { "" } else { "s" }
        ),
        Change::Failed => match check.on_fail {
            OnFail::Require => tracing::error!("{name} failed: {}", check.why()),
            OnFail::Degrade => tracing::warn!("{name} failed; degrading: {}", check.why()),
            OnFail::Warn => tracing::warn!("{name} failed (warn only): {}", check.why()),
        },
        Change::Skipped | Change::Cancelled => {
            tracing::info!("{name}: {}", check.reason.as_deref().unwrap_or("not run"))
        }
    }
}

static JSON: AtomicBool = AtomicBool::new(false);

/// Config errors read like a compiler's (`file:line:col: …`) on a terminal, and arrive as one
/// JSON record per line where logs are collected as JSON.
pub fn set_json(json: bool) {
    JSON.store(json, Ordering::Relaxed);
}

pub fn problems(text: &str) {
    if JSON.load(Ordering::Relaxed) {
        for line in text.lines() {
            tracing::error!("{line}");
        }
    } else {
        crate::stderr::line(text);
    }
}
