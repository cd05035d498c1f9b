//! `state_dir/env`: what the model server sources before it starts (`. /run/bootgate/env &&
//! exec server`). A check with `on_fail: degrade` that failed lets the gate pass and is named
//! here; a degraded gpu check hides every GPU from CUDA: CPU safe mode.
//!
//! The file is written on every gate, empty but for comments when nothing degraded, so
//! sourcing it never fails.

use std::time::SystemTime;

use crate::redact::Redactor;
use crate::state::{GateState, Phase};

pub const FILE: &str = "env";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Degraded {
    pub name: String,
    pub reason: String,
    pub gpu: bool,
}

pub fn degraded(state: &GateState) -> Vec<Degraded> {
    state
        .checks
        .iter()
        .filter(|c| c.state == Phase::Degraded)
        .map(|c| Degraded {
            name: c.name.clone(),
            reason: c.why(),
            gpu: c.kind == "gpu",
        })
        .collect()
}

/// The variables the server gets: also set directly on the child under `bootgate run`.
pub fn variables(degraded: &[Degraded]) -> Vec<(&'static str, String)> {
    let mut vars = Vec::new();
    if degraded.iter().any(|d| d.gpu) {
        // Empty, not unset: CUDA then sees no device at all.
        vars.push(("CUDA_VISIBLE_DEVICES", String::new()));
        vars.push(("BOOTGATE_SAFE_MODE", "cpu".to_string()));
    }
    if !degraded.is_empty() {
        let names: Vec<&str> = degraded.iter().map(|d| d.name.as_str()).collect();
        vars.push(("BOOTGATE_DEGRADED", names.join(",")));
    }
    vars
}

pub fn render(degraded: &[Degraded], at: SystemTime, redactor: &Redactor) -> String {
    let mut out = format!(
        "# Written by bootgate at {}. Source it before the server starts.\n",
        crate::text::rfc3339(at)
    );
    if degraded.is_empty() {
        out.push_str("# Nothing degraded: every check passed or only warned.\n");
        return out;
    }
    for d in degraded {
        let reason = redactor.clean(&d.reason).replace(['\n', '\r'], " ");
        out.push_str(&format!("# Degraded: {}: {reason}\n", d.name));
    }
    if degraded.iter().any(|d| d.gpu) {
        out.push_str("# CPU safe mode: CUDA sees no GPU.\n");
    }
    for (name, value) in variables(degraded) {
        // Check names are letters, digits, `-`, `_` and `.`: nothing to escape in quotes.
        out.push_str(&format!("export {name}='{value}'\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_degraded_gpu_hides_every_device() {
        let text = render(
            &[Degraded {
                name: "gpu".into(),
                reason: "need 2 GPUs, 1 visible\nsecond line".into(),
                gpu: true,
            }],
            SystemTime::UNIX_EPOCH,
            &Redactor::new(Vec::<String>::new()),
        );
        assert!(text.contains("# Degraded: gpu: need 2 GPUs, 1 visible second line\n"));
        assert!(text.ends_with(
            "export CUDA_VISIBLE_DEVICES=''\nexport BOOTGATE_SAFE_MODE='cpu'\nexport BOOTGATE_DEGRADED='gpu'\n"
        ));
    }

    #[test]
    fn nothing_degraded_is_only_comments() {
        let text = render(
            &[],
            SystemTime::UNIX_EPOCH,
            &Redactor::new(Vec::<String>::new()),
        );
        assert!(text.lines().all(|l| l.starts_with('#')));
    }
}
