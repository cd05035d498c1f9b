//! The termination message: what `kubectl describe pod` shows for a failed init container.
//!
//! The kubelet keeps only the last 4096 bytes, so the most important line goes last.

use std::cmp::Reverse;
use std::path::Path;

use crate::config::OnFail;
use crate::config::units::human_duration;
use crate::redact::{Redactor, truncate};
use crate::state::{CheckState, GateState, Outcome, Phase};

const KUBELET_LIMIT: usize = 4096;
/// What the kubelet keeps of a log it falls back to (`FallbackToLogsOnError`); within both
/// bounds, the message reads the same wherever it ends up.
const KUBELET_LINES: usize = 80;
/// However many checks failed, each keeps at least this much of its line.
const MIN_LINE_SHARE: usize = 160;

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
    // Least important first: warnings and degradations, then checks that never ran, then the
    // failures, the first of them (the one that stopped the gate) last of all.
    let mut ranked: Vec<(u8, Reverse<Option<usize>>, &CheckState)> = Vec::new();
    for c in &state.checks {
        let rank = match (c.state, c.on_fail) {
            (Phase::Passed, _) => continue,
            (_, OnFail::Warn) | (Phase::Degraded, _) => 0,
            (Phase::Pending | Phase::Skipped | Phase::Cancelled, _) if c.last_error.is_none() => 1,
            (Phase::Skipped | Phase::Cancelled, _) => 2,
            _ => 3,
        };
        ranked.push((rank, Reverse(c.finished_nth), c));
    }
    ranked.sort_by_key(|(rank, nth, _)| (*rank, *nth));
    // Every failure must fit in what the kubelet keeps: a long reason is cut, not its peers.
    let failures = ranked.iter().filter(|(rank, ..)| *rank == 3).count();
    let share = (KUBELET_LIMIT / (failures + 1)).max(MIN_LINE_SHARE);
    let line_share = (KUBELET_LINES / (failures + 1)).max(1);
    for (_, _, c) in ranked {
        let label = match (c.state, c.on_fail) {
            (_, OnFail::Warn) => " (warn)",
            (Phase::Degraded, _) => " (degraded)",
            _ => "",
        };
        let entry = format!("{}{label}: {}", c.name, redactor.clean(&c.why()));
        lines.push(head(&entry, share, line_share));
    }
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

/// The start of one check's entry, which names it, within `bytes` and `lines`; a cut is
/// marked with `…`.
fn head(entry: &str, bytes: usize, lines: usize) -> String {
    let end = entry
        .match_indices('\n')
        .nth(lines - 1)
        .map_or(entry.len(), |(at, _)| at);
    let kept = &entry[..end];
    if kept.len() > bytes || end == entry.len() {
        truncate(kept, bytes)
    } else {
        format!("{kept}…")
    }
}

/// The end of `text` that fits what the kubelet keeps, newline-terminated.
pub fn keep_tail(text: &str) -> String {
    keep_tail_within(text, KUBELET_LIMIT, KUBELET_LINES)
}

fn keep_tail_within(text: &str, limit: usize, max_lines: usize) -> String {
    let (mut kept, mut cut) = (text, false);
    if let Some((at, _)) = text.match_indices('\n').rev().nth(max_lines - 1) {
        kept = &text[at + 1..];
        cut = true;
    }
    if !cut && kept.len() < limit {
        return format!("{kept}\n");
    }
    // Room for the leading `…` (3 bytes), which marks the cut, and the final newline.
    if kept.len() + 4 > limit {
        let mut start = kept.len() - (limit - 4);
        while !kept.is_char_boundary(start) {
            start += 1;
        }
        kept = &kept[start..];
    }
    format!("…{kept}\n")
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

    #[test]
    fn keeps_the_last_lines_within_the_kubelet_line_limit() {
        let text: Vec<String> = (0..200).map(|i| format!("line {i}")).collect();
        let kept = keep_tail(&text.join("\n"));
        assert_eq!(kept.lines().count(), KUBELET_LINES);
        assert!(kept.starts_with("…line 120\n"), "{kept}");
        assert!(kept.ends_with("\nline 199\n"));
        let exact = "x".repeat(KUBELET_LIMIT - 1);
        assert_eq!(keep_tail(&exact).len(), KUBELET_LIMIT);
        assert!(keep_tail(&format!("{exact}x")).len() <= KUBELET_LIMIT);
    }

    #[test]
    fn every_failure_fits_and_the_first_one_is_last() {
        use crate::engine::{Event, EventKind};
        use std::time::Duration;
        use tokio::time::Instant;

        let mut yaml = String::from("checks:\n  w: {kind: secret, env: W, on_fail: warn}\n");
        for i in 0..12 {
            yaml.push_str(&format!("  c{i}: {{kind: secret, env: C{i}}}\n"));
        }
        let config = crate::config::load_with(&yaml, &[]).unwrap();
        let mut state = GateState::new(&config.checks, &[true; 13], Duration::from_secs(1));
        // The warning first, then the failures from c11 down to c0: c11 stopped the gate.
        for i in std::iter::once(0).chain((1..13).rev()) {
            state.apply(&Event {
                check: i,
                at: Instant::now(),
                kind: EventKind::Failed {
                    attempts: 1,
                    reason: format!("{} {i}", "x".repeat(1000)),
                    facts: None,
                },
            });
        }
        state.finish(Outcome::Failed);
        let text = message(&state, &Redactor::new(Vec::<String>::new()));
        assert!(text.len() <= KUBELET_LIMIT, "{}", text.len());
        assert!(text.lines().count() <= KUBELET_LINES);
        for i in 0..12 {
            assert!(
                text.contains(&format!("\nc{i}: xxx")),
                "c{i} missing:\n{text}"
            );
        }
        assert!(text.lines().last().unwrap().starts_with("c11: "), "{text}");
        assert!(text.contains("\nc10: "));
        assert!(text.find("\nc10: ") < text.find("\nc11: "));
    }

    /// A reason of many short lines (a manifest's mismatches) is cut to its share of lines
    /// too: the kubelet's 80 lines keep the name of every failure.
    #[test]
    fn a_reason_of_many_lines_keeps_its_name_and_its_peers() {
        use crate::engine::{Event, EventKind};
        use std::time::Duration;
        use tokio::time::Instant;

        let config = crate::config::load_with(
            "checks:\n  model: {kind: secret, env: M}\n  api-key: {kind: secret, env: A}\n",
            &[],
        )
        .unwrap();
        let mismatches: Vec<String> = (0..200).map(|i| format!("f{i}  missing")).collect();
        let mut state = GateState::new(&config.checks, &[true; 2], Duration::from_secs(1));
        for (check, reason) in [
            (1, "env A is not set".to_string()),
            (
                0,
                format!("waiting for /models:\n{}", mismatches.join("\n")),
            ),
        ] {
            state.apply(&Event {
                check,
                at: Instant::now(),
                kind: EventKind::Failed {
                    attempts: 1,
                    reason,
                    facts: None,
                },
            });
        }
        state.finish(Outcome::Failed);
        let text = message(&state, &Redactor::new(Vec::<String>::new()));
        assert!(text.len() <= KUBELET_LIMIT, "{}", text.len());
        assert!(text.lines().count() <= KUBELET_LINES, "{text}");
        assert!(
            text.contains("\nmodel: waiting for /models:\nf0  missing\n"),
            "{text}"
        );
        assert!(text.ends_with("\napi-key: env A is not set\n"), "{text}");
    }
}
