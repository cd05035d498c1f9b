//! The `check` report: one ✔/✖ line per check, then a summary.

use std::fmt::Write;

use crate::config::OnFail;
use crate::state::{GateState, Phase};

pub fn render(state: &GateState) -> String {
    let width = state.checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
    let mut out = String::new();
    let (mut passed, mut failed, mut warned, mut not_run, mut degraded) = (0, 0, 0, 0, 0);
    let mut forced = 0;
    for c in &state.checks {
        let warn = c.on_fail == OnFail::Warn;
        let (mark, text) = match c.state {
            Phase::Passed if c.forced.is_some() => {
                forced += 1;
                (
                    "!",
                    format!("{} — {}", c.target, c.detail.as_deref().unwrap_or("FORCED")),
                )
            }
            Phase::Passed => {
                passed += 1;
                (
                    "✔",
                    format!("{} — {}", c.target, c.detail.as_deref().unwrap_or("ok")),
                )
            }
            Phase::Degraded => {
                degraded += 1;
                let how = if c.kind == "gpu" {
                    ", in CPU safe mode"
                } else {
                    ""
                };
                (
                    "!",
                    format!("{} (degraded: the gate passes without it{how})", c.why()),
                )
            }
            Phase::Skipped | Phase::Cancelled | Phase::Pending if c.last_error.is_none() => {
                not_run += 1;
                ("-", c.why())
            }
            _ if warn => {
                warned += 1;
                ("!", format!("{} (warn only)", c.why()))
            }
            _ => {
                failed += 1;
                ("✖", c.why())
            }
        };
        let elapsed = match (c.started_ms, c.finished_ms) {
            (Some(s), Some(f)) => format!("  ({:.2} ms)", f - s),
            _ => String::new(),
        };
        let _ = writeln!(out, "{mark} {:width$}  {text}{elapsed}", c.name);
        for line in c.forced.iter().flat_map(|f| f.lines()) {
            let _ = writeln!(out, "  {:width$}    {line}", "");
        }
        if let Some(gpu) = &c.gpu {
            for line in gpu.lines() {
                let _ = writeln!(out, "  {:width$}    {line}", "");
            }
        }
    }
    let _ = write!(out, "\n{passed} passed, {failed} failed");
    if warned > 0 {
        let _ = write!(
            out,
            ", {warned} warning{}",
            if warned == 1 { "" } else { "s" }
        );
    }
    if degraded > 0 {
        let _ = write!(out, ", {degraded} degraded");
    }
    if forced > 0 {
        let _ = write!(out, ", {forced} FORCED");
    }
    if not_run > 0 {
        let _ = write!(out, ", {not_run} not run");
    }
    let _ = writeln!(out, " in {:.1} ms", state.elapsed_ms);
    out
}
