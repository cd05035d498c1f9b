//! The termination message: what `kubectl describe pod` shows for a failed init container.
//!
//! The kubelet keeps only the last 4096 bytes, so the most important line goes last.

use std::path::Path;

use crate::config::OnFail;
use crate::config::units::human_duration;
use crate::redact::Redactor;
use crate::state::{CheckState, GateState, Outcome, Phase};

const KUBELET_LIMIT: usize = 4096;

pub fn message(state: &GateState, redactor: &Redactor) -> String {
    let took = elapsed(state);
    let headline = match state.outcome {
        Outcome::DeadlineExceeded => format!("bootgate: gate deadline passed after {took}"),
        Outcome::Interrupted => format!("bootgate: interrupted after {took}"),
        _ => format!("bootgate: gate failed after {took}"),
    };
    let mut lines = vec![headline];
    let passed: Vec<String> = state
        .checks
        .iter()
        .filter(|c| c.state == Phase::Passed)
        .map(|c| match c.forced {
            Some(_) => format!("{} (FORCED)", c.name),
            None => c.name.clone(),
        })
        .collect();
    if !passed.is_empty() {
        lines.push(format!("passed: {}", passed.join(", ")));
    }
    // Least important first: warnings, then checks that never ran, then the failures.
    let mut ranked: Vec<(u8, String)> = Vec::new();
    for c in &state.checks {
        let rank = match (c.state, c.on_fail) {
            (Phase::Passed, _) => continue,
            (_, OnFail::Warn) | (Phase::Degraded, _) => 0,
            (Phase::Pending | Phase::Skipped | Phase::Cancelled, _) if c.last_error.is_none() => 1,
            (Phase::Skipped | Phase::Cancelled, _) => 2,
            _ => 3,
        };
        let label = match (c.state, c.on_fail) {
            (_, OnFail::Warn) => " (warn)",
            (Phase::Degraded, _) => " (degraded)",
            _ => "",
        };
        ranked.push((rank, format!("{}{label}: {}", c.name, c.why())));
    }
    ranked.sort_by_key(|(rank, _)| *rank);
    lines.extend(ranked.into_iter().map(|(_, line)| line));
    keep_tail(&redactor.clean(&lines.join("\n")))
}

/// A gate that passed only because checks were forced says so where `kubectl describe pod`
/// shows it: a forced pass must never look like a clean one.
pub fn forced_message(state: &GateState, redactor: &Redactor) -> Option<String> {
    let forced: Vec<&CheckState> = state.checks.iter().filter(|c| c.forced.is_some()).collect();
    if forced.is_empty() {
        return None;
    }
    let mut lines: Vec<String> = forced
        .iter()
        .map(|c| {
            let mismatches = c.forced.as_deref().unwrap_or_default();
            format!("{} FORCED (force: true) past:\n{mismatches}", c.name)
        })
        .collect();
    // Last, so that the kubelet's 4096-byte tail keeps it however many lines come before.
    let names: Vec<&str> = forced.iter().map(|c| c.name.as_str()).collect();
    lines.push(format!(
        "bootgate: gate passed after {} only because {} {} forced",
        elapsed(state),
        names.join(", "),
        if names.len() == 1 { "was" } else { "were" }
    ));
    Some(keep_tail(&redactor.clean(&lines.join("\n"))))
}

/// `25ms`, `3.2s`, `2m05s`: as the log says it.
fn elapsed(state: &GateState) -> String {
    human_duration(std::time::Duration::from_secs_f64(
        state.elapsed_ms.max(0.0) / 1000.0,
    ))
}

/// The end of `text` that fits what the kubelet keeps, newline-terminated.
pub fn keep_tail(text: &str) -> String {
    keep_tail_within(text, KUBELET_LIMIT)
}

fn keep_tail_within(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return format!("{text}\n");
    }
    // Room for the leading `…` (3 bytes) and the final newline.
    let mut start = text.len() - (limit - 4);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("…{}\n", &text[start..])
}

/// Writes the message where the kubelet reads it; a failure here must not hide the real one.
pub fn write(path: &Path, message: &str) {
    if let Err(e) = std::fs::write(path, message) {
        tracing::warn!(
            "cannot write the termination message to {}: {e}",
            path.display()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_end_within_the_kubelet_limit() {
        let long = format!("{}\nthe important line", "x".repeat(10_000));
        let kept = keep_tail(&long);
        assert!(kept.len() <= KUBELET_LIMIT);
        assert!(kept.ends_with("the important line\n"));
    }
}
