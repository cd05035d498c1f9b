//! One log line per change of a check's state — never one per poll.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::config::OnFail;
use crate::redact::Redactor;
use crate::state::{Change, CheckState};

/// Held text (reasons, details) is cleaned again as it is written: a secret learned since the
/// reason was made is hidden too.
pub fn log_change(check: &CheckState, change: &Change, redactor: &Redactor) {
    let name = &check.name;
    let clean = |text: Option<&str>, otherwise: &str| redactor.clean(text.unwrap_or(otherwise));
    match change {
        // Starting is not news to a reader; the first wait or the pass is.
        Change::Started => {}
        Change::Waiting => {
            let reason = clean(check.last_error.as_deref(), "not passing yet");
            match &check.progress {
                Some(progress) => {
                    let progress = redactor.clean(progress);
                    tracing::info!("waiting for {name}: {reason} ({progress})")
                }
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
            clean(check.forced.as_deref(), "")
        ),
        Change::Passed => tracing::info!(
            "{name} passed ({}) after {} attempt{}",
            clean(check.detail.as_deref(), "ok"),
            check.attempts,
            if check.attempts == 1 { "" } else { "s" }
        ),
        Change::Failed => {
            let why = redactor.clean(&check.why());
            match check.on_fail {
                OnFail::Require => tracing::error!("{name} failed: {why}"),
                OnFail::Degrade => tracing::warn!("{name} failed; degrading: {why}"),
                OnFail::Warn => tracing::warn!("{name} failed (warn only): {why}"),
            }
        }
        Change::Skipped | Change::Cancelled => {
            tracing::info!("{name}: {}", clean(check.reason.as_deref(), "not run"))
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
